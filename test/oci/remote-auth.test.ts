// Authentication against real registries: anonymous, htpasswd Basic, and bearer tokens from a loopback issuer
// (per-user grants by repository glob), plus credential lookup and realm checks.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createRemoteStore, type RemoteStoreOptions } from '../../packages/oci/src/remote/index.ts';
import {
  DeniedError,
  InsecureError,
  MediaType,
  UnauthorizedError,
  bytesSource,
  credentialKeys,
  parseChallenges,
  parseLocation,
  resolveCredentials,
  sha256Digest,
  type Store,
} from '../../packages/oci/src/index.ts';
import { writeHtpasswd } from '../harness/htpasswd.ts';
import { startProxy, type RunningProxy } from '../harness/proxy.ts';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { startTokenIssuer, type Grant, type RunningTokenIssuer } from '../harness/token-issuer.ts';

let dir: string;
const stores: Store[] = [];

function open(location: string, options: RemoteStoreOptions = {}): Store {
  const parsed = parseLocation(location);
  if (parsed.kind !== 'registry') throw new Error('registry location expected');
  const store = createRemoteStore(parsed, options);
  stores.push(store);
  return store;
}

/** Pushes a tiny manifest (config + one layer) under `tag`; returns its digest. */
async function publish(store: Store, name: string, tag: string): Promise<string> {
  const repo = store.repository(name);
  await repo.pushBlob(bytesSource(Buffer.from('{}')), { digest: sha256Digest('{}'), size: 2 });
  const layer = await repo.pushBlob(bytesSource(Buffer.from(`layer of ${name}`)));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ImageManifest,
      config: { mediaType: MediaType.EmptyJson, digest: sha256Digest('{}'), size: 2 },
      layers: [{ mediaType: MediaType.OctetStream, digest: layer.digest, size: layer.size }],
    }),
  );
  return (await repo.pushManifest(manifest, MediaType.ImageManifest, tag)).digest;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-auth-test-'));
});
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('credentials lookup', () => {
  const location = parseLocation('oci://ghcr.io/conda-forge/staging');
  if (location.kind !== 'registry') throw new Error('unreachable');

  test('env keys go from the longest path to the bare host', () => {
    expect(credentialKeys(location)).toEqual(['GHCR_IO_CONDA_FORGE_STAGING', 'GHCR_IO_CONDA_FORGE', 'GHCR_IO']);
    const withPort = parseLocation('oci+http://127.0.0.1:5000/a-b');
    if (withPort.kind !== 'registry') throw new Error('unreachable');
    expect(credentialKeys(withPort)).toEqual(['127_0_0_1_5000_A_B', '127_0_0_1_5000']);
  });

  test('explicit credentials win, then the most specific env pair, then docker config.json, then none', async () => {
    const explicit = { username: 'x', password: 'y' };
    expect(resolveCredentials(location, { credentials: explicit, env: {} })).toBe(explicit);
    const env = {
      OCI_CHANNEL_GHCR_IO_USERNAME: 'host-user',
      OCI_CHANNEL_GHCR_IO_PASSWORD: 'host-pass',
      OCI_CHANNEL_GHCR_IO_CONDA_FORGE_USERNAME: 'org-user',
      OCI_CHANNEL_GHCR_IO_CONDA_FORGE_PASSWORD: 'org-pass',
      DOCKER_CONFIG: path.join(dir, 'none'),
    };
    expect(resolveCredentials(location, { env })).toEqual({ username: 'org-user', password: 'org-pass' });
    const dockerDir = path.join(dir, 'docker');
    await import('node:fs/promises').then((fs) => fs.mkdir(dockerDir, { recursive: true }));
    await writeFile(
      path.join(dockerDir, 'config.json'),
      JSON.stringify({ auths: { 'ghcr.io': { auth: Buffer.from('docker-user:docker:pass').toString('base64') } } }),
    );
    expect(resolveCredentials(location, { env: { DOCKER_CONFIG: dockerDir } })).toEqual({ username: 'docker-user', password: 'docker:pass' });
    expect(resolveCredentials(location, { env: { DOCKER_CONFIG: path.join(dir, 'none'), HOME: path.join(dir, 'none') } })).toBeUndefined();
  });

  test('WWW-Authenticate challenges parse with quoted commas and several schemes', () => {
    expect(
      parseChallenges('Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push", Basic realm="x"'),
    ).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'reg', scope: 'repository:a/b:pull,push' } },
      { scheme: 'basic', params: { realm: 'x' } },
    ]);
  });
});

describe('htpasswd (Basic)', () => {
  let registry: RunningRegistry;
  beforeAll(async () => {
    const file = path.join(dir, 'htpasswd');
    await writeHtpasswd(file, { alice: 'wonderland' });
    registry = await startRegistry({ auth: { kind: 'htpasswd', file } });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  test('the right user pushes and reads; credentials may come from the environment', async () => {
    const store = open(registry.location('team'), { credentials: { username: 'alice', password: 'wonderland' } });
    const digest = await publish(store, 'pkg', 'v1');
    const key = `127_0_0_1_${registry.port}`;
    const viaEnv = open(registry.location('team'), {
      env: { [`OCI_CHANNEL_${key}_USERNAME`]: 'alice', [`OCI_CHANNEL_${key}_PASSWORD`]: 'wonderland', DOCKER_CONFIG: dir },
    });
    expect((await viaEnv.repository('pkg').resolve('v1'))?.digest).toBe(digest);
    await viaEnv.repository('pkg').checkPushAccess();
  });

  test('anonymous and wrong passwords get UnauthorizedError without the password in the message', async () => {
    const anonymous = open(registry.location('team'), { env: { DOCKER_CONFIG: dir } });
    await expect(anonymous.repository('pkg').listTags()).rejects.toThrow(UnauthorizedError);
    const wrong = open(registry.location('team'), { credentials: { username: 'alice', password: 'not-the-secret-1234' } });
    const error = await wrong.repository('pkg').checkPushAccess().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect(String((error as Error).message)).not.toContain('not-the-secret-1234');
    expect((error as Error).message).toContain('team/pkg');
  });
});

describe('bearer tokens', () => {
  let issuer: RunningTokenIssuer;
  let registry: RunningRegistry;
  const stager = { username: 'stager', password: 'stage-secret' };
  const admin = { username: 'admin', password: 'admin-secret' };
  /** Per-test override of the grants of one token request (see the re-login tests). */
  let grantsFor: ((request: { n: number; user?: string; scopes: string[] }) => Grant[] | undefined) | undefined;

  beforeAll(async () => {
    issuer = await startTokenIssuer({
      grantsFor: (request) => grantsFor?.(request),
      users: {
        stager: {
          password: stager.password,
          grants: [
            { repository: 'staging/**', actions: ['pull', 'push'] },
            { repository: 'prod/**', actions: ['pull'] },
          ],
        },
        admin: { password: admin.password, grants: [{ repository: '**', actions: ['pull', 'push', 'delete', '*'] }] },
      },
    });
    registry = await startRegistry({ auth: issuer.registryAuth });
  });
  afterAll(async () => {
    await registry?.stop();
    await issuer?.stop();
  });
  afterEach(() => {
    grantsFor = undefined;
  });

  test('a stager pushes to staging/*, and tokens are cached per scope', async () => {
    const store = open(registry.location('staging'), { credentials: stager });
    const before = issuer.requests.length;
    const digest = await publish(store, 'zlib', '1.3');
    const repo = store.repository('zlib');
    expect(await repo.listTags()).toEqual(['1.3']);
    expect((await repo.fetchManifest('1.3')).descriptor.digest).toBe(digest);
    const used = issuer.requests.slice(before);
    // One token for pull,push on staging/zlib serves every request of the publish; pull reads get one more.
    expect(used.length).toBeLessThanOrEqual(3);
    expect(used.every((r) => r.user === 'stager')).toBe(true);
    expect(used.some((r) => r.granted.some((g) => g.name === 'staging/zlib' && g.actions.includes('push')))).toBe(true);
  });

  test('a token scoped to push staging/* cannot push prod/*: DeniedError naming the repository, nothing published', async () => {
    const store = open(registry.location('prod'), { credentials: stager });
    const error = await publish(store, 'zlib', '1.3').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeniedError);
    expect((error as Error).message).toContain('prod/zlib');
    expect((error as Error).message).not.toContain(stager.password);
    await expect(store.repository('zlib').checkPushAccess()).rejects.toThrow(DeniedError);
    const adminStore = open(registry.location('prod'), { credentials: admin });
    expect(await adminStore.repository('zlib').listTags()).toEqual([]);
  });

  test('the stager may read prod/* and mount from it into staging/*', async () => {
    const adminStore = open(registry.location(''), { credentials: admin });
    await publish(adminStore, 'prod/libcurl', '8.0');
    const layer = sha256Digest('layer of prod/libcurl');
    const store = open(registry.location(''), { credentials: stager });
    const to = store.repository('staging/libcurl');
    expect(await to.mountBlob(layer, store.repository('prod/libcurl'))).toBe(true);
    expect(await to.statBlob(layer)).toMatchObject({ size: 'layer of prod/libcurl'.length });
  });

  test('a token granted narrower than asked gets insufficient_scope; one re-login with the wider scope succeeds', async () => {
    const store = open(registry.location('staging'), { credentials: stager });
    const repo = store.repository('relogin');
    // A pull token first, so the push request below is sent with a token (not anonymously).
    expect(await repo.listTags()).toEqual([]);
    const first = issuer.requests.length + 1;
    // The next token request gets pull only, as an issuer lagging behind a new permission would answer.
    grantsFor = ({ n }) => (n === first ? [{ repository: 'staging/**', actions: ['pull'] }] : undefined);
    const digest = await publish(store, 'relogin', 'v1');
    const used = issuer.requests.slice(first - 1);
    const pushScope = 'repository:staging/relogin:pull,push';
    expect(used.map((r) => r.scopes)).toEqual([[pushScope], [pushScope]]);
    expect(used[0]!.granted).toEqual([{ type: 'repository', name: 'staging/relogin', actions: ['pull'] }]);
    expect(used[1]!.granted).toEqual([{ type: 'repository', name: 'staging/relogin', actions: ['pull', 'push'] }]);
    const adminStore = open(registry.location('staging'), { credentials: admin });
    expect((await adminStore.repository('relogin').resolve('v1'))?.digest).toBe(digest);
  });

  test('a wider scope still refused after the one re-login is a DeniedError, nothing published', async () => {
    const store = open(registry.location('staging'), { credentials: stager });
    const repo = store.repository('refused');
    expect(await repo.listTags()).toEqual([]);
    const first = issuer.requests.length + 1;
    // Every token from now on grants pull only.
    grantsFor = ({ n }) => (n >= first ? [{ repository: 'staging/**', actions: ['pull'] }] : undefined);
    const error = await publish(store, 'refused', 'v1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeniedError);
    expect((error as Error).message).toContain('staging/refused');
    expect((error as Error).message).toContain('pull,push');
    expect((error as Error).message).not.toContain(stager.password);
    // One login for the push scope and exactly one re-login, then the error: no loop.
    const used = issuer.requests.slice(first - 1);
    expect(used.map((r) => r.scopes)).toEqual([['repository:staging/refused:pull,push'], ['repository:staging/refused:pull,push']]);
    grantsFor = undefined;
    const adminStore = open(registry.location('staging'), { credentials: admin });
    expect(await adminStore.repository('refused').listTags()).toEqual([]);
    expect(await adminStore.repository('refused').statBlob(sha256Digest('layer of refused'))).toBeUndefined();
  });

  test('an issuer answering only access_token works; wrong passwords and anonymous pulls are Unauthorized', async () => {
    const variant = await startTokenIssuer({
      field: 'access_token',
      users: { stager: { password: stager.password, grants: [{ repository: '**', actions: ['pull', 'push'] }] } },
    });
    const reg = await startRegistry({ auth: variant.registryAuth });
    try {
      const store = open(reg.location('staging'), { credentials: stager });
      await publish(store, 'pkg', 'one');
      expect(await store.repository('pkg').listTags()).toEqual(['one']);
      const wrong = open(reg.location('staging'), { credentials: { username: 'stager', password: 'nope' } });
      await expect(wrong.repository('pkg').listTags()).rejects.toThrow(UnauthorizedError);
      expect(variant.refused).toBeGreaterThan(0);
      const anonymous = open(reg.location('staging'), { env: { DOCKER_CONFIG: dir } });
      await expect(anonymous.repository('pkg').listTags()).rejects.toThrow(UnauthorizedError);
    } finally {
      await reg.stop();
      await variant.stop();
    }
  });

  test('a token past its expires_in is renewed', async () => {
    const shortLived = await startTokenIssuer({
      expiresIn: 11, // cached for 1 s (renewed 10 s early)
      users: { stager: { password: stager.password, grants: [{ repository: '**', actions: ['pull', 'push'] }] } },
    });
    const reg = await startRegistry({ auth: shortLived.registryAuth });
    try {
      const store = open(reg.location('staging'), { credentials: stager });
      const repo = store.repository('pkg');
      expect(await repo.listTags()).toEqual([]);
      expect(await repo.listTags()).toEqual([]);
      const cached = shortLived.requests.length;
      expect(cached).toBe(1);
      await new Promise((r) => setTimeout(r, 1200));
      expect(await repo.listTags()).toEqual([]);
      expect(shortLived.requests.length).toBe(2);
    } finally {
      await reg.stop();
      await shortLived.stop();
    }
  });

  describe('realms the client refuses', () => {
    let proxy: RunningProxy;
    beforeAll(async () => {
      proxy = await startProxy({ host: '127.0.0.1', port: registry.port });
    });
    afterAll(async () => {
      await proxy?.stop();
    });

    for (const [label, realm] of [
      ['on another scheme than the registry', 'https://127.0.0.1:1/token'],
      ['that is not a URL', 'not a url'],
      ['on ftp', 'ftp://127.0.0.1/token'],
    ] as const) {
      test(`a realm ${label} is refused before any credential is sent`, async () => {
        proxy.handler = () => ({
          rewriteResponse: (head) => {
            if (head.status === 401) head.headers['www-authenticate'] = `Bearer realm="${realm}",service="${issuer.service}"`;
            return head;
          },
        });
        const before = issuer.requests.length;
        const store = open(proxy.location('staging'), { credentials: stager });
        await expect(store.repository('pkg').listTags()).rejects.toThrow(InsecureError);
        expect(issuer.requests.length).toBe(before);
        expect(proxy.log.every((e) => !e.authorization)).toBe(true);
      });
    }
  });
});
