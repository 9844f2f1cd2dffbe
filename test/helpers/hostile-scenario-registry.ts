// Scenario: a registry that answers with hostile things (scripted on the proxy in front of the real registry,
// which keeps Basic credentials): dangerous token realms, redirects and upload Locations to another origin,
// huge manifest/token/error/tag-list bodies, invalid or mismatching digests, pagination links to another origin.
// Each is driven through a pipeline step (upload or promote); each must be refused (or, for redirects, followed
// without credentials) with a clear one-line error, nothing may be published, and no credential may reach
// another origin.
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promote, upload, validate } from '@oci-channel/pipeline';
import { writeHtpasswd } from '../harness/htpasswd.ts';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { buildValidPackages, type BuiltPackage } from './hostile-packages.ts';
import { startHostileProxy, type HostileProxy, type Rule, type RuleAnswer } from './hostile-proxy.ts';
import { crashSigns, directStore, storedPackageSha256 } from './hostile-world.ts';

export const REGISTRY_USER = { username: 'h7user', password: 'h7-HostileRegistryPass-51d0' };
const basic = `Basic ${Buffer.from(`${REGISTRY_USER.username}:${REGISTRY_USER.password}`).toString('base64')}`;

/** Another origin that records what reaches it (and forwards to the real registry, so redirects can succeed). */
export interface ForeignOrigin {
  url: string;
  requests: Array<{ method: string; url: string; authorization?: string }>;
  stop(): Promise<void>;
}

export async function startForeign(registry: RunningRegistry, host = '127.0.0.1'): Promise<ForeignOrigin> {
  const requests: ForeignOrigin['requests'] = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
    // Serve by forwarding to the registry with the registry's own credentials (a storage backend would hold
    // presigned access); never with whatever the client sent.
    const out = http.request(
      { host: '127.0.0.1', port: registry.port, method: req.method, path: req.url, headers: { ...req.headers, authorization: basic, host: registry.host } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    requests,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Streams `size` bytes of `byte` (a huge body, never built in memory). */
function huge(size: number, prefix = ''): () => AsyncIterable<Buffer> {
  return async function* () {
    const block = Buffer.alloc(1 << 20, 0x20);
    if (prefix) yield Buffer.from(prefix);
    for (let sent = prefix.length; sent < size; sent += block.length) yield block;
  };
}

export interface HostileRegistryCase {
  id: string;
  why: string;
  step: 'upload' | 'promote';
  /** Rules the proxy applies while the step runs. */
  rules: (ctx: { proxy: HostileProxy; foreign: ForeignOrigin; channel: string }) => Rule[];
  /** The error must match this (when the case must fail). */
  expect?: RegExp;
  /** Following is allowed (redirects to a storage origin): then only the credential and publication checks apply. */
  mayFollow?: boolean;
  /** Publishing before the refusal is tolerated when the staging copy is kept (a re-run converges). */
  publishedIfStagingKept?: boolean;
}

export interface HostileRegistryOutcome {
  id: string;
  why: string;
  ok: boolean;
  error?: string;
  published: boolean;
  credentialsToForeign: number;
  foreignRequests: number;
  problems: string[];
  /** Tolerated deviations worth reporting. */
  notes: string[];
}

const challenge = (realm: string): Rule => ({
  name: 'hostile-realm',
  match: () => true,
  async answer({ forward }) {
    const answer = await forward();
    if (answer.status !== 401) return { status: answer.status, headers: answer.headers as Record<string, string>, body: answer.body };
    return { status: 401, headers: { 'content-type': 'application/json', 'www-authenticate': `Bearer realm="${realm}",service="h7"` }, body: answer.body };
  },
});

export function hostileRegistryCases(): HostileRegistryCase[] {
  const BIG = 96 * 1024 * 1024;
  const manifestPath = (channel: string) => new RegExp(`^/v2/${channel}/.+/manifests/[^/]+$`);
  return [
    { id: 'realm-ftp', why: 'token realm on ftp://', step: 'upload', rules: () => [challenge('ftp://127.0.0.1/token')], expect: /realm/i },
    { id: 'realm-file', why: 'token realm on file:///etc/passwd', step: 'upload', rules: () => [challenge('file:///etc/passwd')], expect: /realm/i },
    // Refused before connecting: the message names the realm, not an HTTP answer from it.
    { id: 'realm-link-local', why: 'token realm on 169.254.169.254 (cloud metadata)', step: 'upload', rules: () => [challenge('http://169.254.169.254/latest/meta-data/token')], expect: /realm on a link-local address/i },
    { id: 'realm-link-local-mapped', why: 'token realm on [::ffff:169.254.169.254]', step: 'upload', rules: () => [challenge('http://[::ffff:169.254.169.254]/token')], expect: /realm on a link-local address/i },
    { id: 'realm-private', why: 'token realm on a private address (10.255.255.1) of a registry on loopback', step: 'upload', rules: () => [challenge('http://10.255.255.1/token')], expect: /realm on a private address/i },
    {
      id: 'realm-huge-token',
      why: 'token response of 96 MiB',
      step: 'upload',
      rules: ({ proxy }) => [
        { name: 'huge-token', match: (r) => r.path === '/token', answer: async (): Promise<RuleAnswer> => ({ status: 200, headers: { 'content-type': 'application/json', 'content-length': String(BIG) }, body: huge(BIG, '{"token":"') }) },
        challenge(`${proxy.url}/token`),
      ],
      expect: /larger than|too large|token/i,
    },
    {
      id: 'redirect-other-origin',
      why: 'manifest and blob GETs redirected to another origin',
      step: 'upload',
      mayFollow: true,
      rules: ({ foreign, channel }) => [
        {
          name: 'redirect',
          match: (r) => r.method === 'GET' && new RegExp(`^/v2/${channel}/.+/(manifests|blobs)/`).test(r.path),
          answer: async ({ request }) => ({ status: 307, headers: { location: `${foreign.url}${request.url}` } }),
        },
      ],
    },
    {
      id: 'upload-location-other-origin',
      why: 'upload session Location on another origin',
      step: 'upload',
      mayFollow: true,
      rules: ({ foreign, channel }) => [
        {
          name: 'foreign-location',
          match: (r) => r.method === 'POST' && new RegExp(`^/v2/${channel}/.+/blobs/uploads/$`).test(r.path),
          async answer({ forward }) {
            const answer = await forward();
            const location = String(answer.headers.location ?? '');
            if (answer.status !== 202 || !location) return { status: answer.status, headers: answer.headers as Record<string, string>, body: answer.body };
            const url = new URL(location, 'http://x');
            return { status: 202, headers: { ...(answer.headers as Record<string, string>), location: `${foreign.url}${url.pathname}${url.search}` }, body: answer.body };
          },
        },
      ],
    },
    {
      id: 'huge-manifest',
      why: 'a 96 MiB manifest where the tag already exists',
      step: 'upload',
      rules: ({ channel }) => [
        {
          name: 'huge-manifest',
          match: (r) => (r.method === 'GET' || r.method === 'HEAD') && manifestPath(channel).test(r.path),
          answer: async () => ({
            status: 200,
            headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': String(BIG), 'docker-content-digest': `sha256:${'1'.repeat(64)}` },
            body: huge(BIG, '{"schemaVersion":2,'),
          }),
        },
      ],
      expect: /larger than|too large|manifest/i,
    },
    {
      id: 'huge-error',
      why: 'a manifest PUT refused with a 96 MiB error body',
      step: 'upload',
      rules: ({ channel }) => [
        {
          name: 'huge-error',
          match: (r) => r.method === 'PUT' && manifestPath(channel).test(r.path),
          answer: async () => ({ status: 400, headers: { 'content-type': 'application/json', 'content-length': String(BIG) }, body: huge(BIG, '{"errors":[{"code":"MANIFEST_INVALID","message":"') }),
        },
      ],
      expect: /HTTP 400|manifest|invalid|refused|failed/i,
    },
    {
      id: 'manifest-digest-mismatch',
      why: 'a manifest whose bytes do not hash to its Docker-Content-Digest',
      step: 'promote',
      rules: ({ channel }) => [
        {
          name: 'flip-manifest',
          match: (r) => r.method === 'GET' && new RegExp(`^/v2/${channel}/staging/.+/manifests/[^/]+$`).test(r.path),
          async answer({ forward }) {
            const answer = await forward();
            if (answer.status !== 200) return { status: answer.status, headers: answer.headers as Record<string, string>, body: answer.body };
            const text = answer.body.toString('utf8').replace('"schemaVersion":2', '"schemaVersion": 2');
            return { status: 200, headers: { ...(answer.headers as Record<string, string>), 'content-length': String(Buffer.byteLength(text)) }, body: text };
          },
        },
      ],
      expect: /digest|hash|mismatch|refused|corrupt/i,
    },
    {
      id: 'manifest-invalid-digest',
      why: 'a staging manifest naming a layer digest that is not sha256:<hex> (with a matching Docker-Content-Digest)',
      step: 'promote',
      rules: ({ channel }) => [
        {
          name: 'invalid-digest',
          match: (r) => r.method === 'GET' && new RegExp(`^/v2/${channel}/staging/.+/manifests/[^/]+$`).test(r.path) && !/sha256:/.test(r.path),
          async answer({ forward }) {
            const answer = await forward();
            if (answer.status !== 200) return { status: answer.status, headers: answer.headers as Record<string, string>, body: answer.body };
            const manifest = JSON.parse(answer.body.toString('utf8')) as { layers: Array<{ digest: string }> };
            for (const layer of manifest.layers) layer.digest = 'sha256:../../../../etc/passwd';
            const bytes = Buffer.from(JSON.stringify(manifest));
            const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
            return { status: 200, headers: { 'content-type': String(answer.headers['content-type']), 'content-length': String(bytes.length), 'docker-content-digest': digest }, body: bytes };
          },
        },
        {
          name: 'head-matches',
          match: (r) => r.method === 'HEAD' && new RegExp(`^/v2/${channel}/staging/.+/manifests/[^/]+$`).test(r.path) && !/sha256:/.test(r.path),
          answer: async () => undefined,
        },
      ],
      expect: /digest|invalid|sha256|manifest|refused/i,
    },
    {
      id: 'huge-tag-list',
      why: 'a 96 MiB tag list',
      step: 'promote',
      rules: ({ channel }) => [
        {
          name: 'huge-tags',
          match: (r) => r.method === 'GET' && new RegExp(`^/v2/${channel}/.+/tags/list$`).test(r.path),
          answer: async ({ request }) => ({ status: 200, headers: { 'content-type': 'application/json', 'content-length': String(BIG) }, body: huge(BIG, `{"name":"${request.path.slice(4, -10)}","tags":[`) }),
        },
      ],
      expect: /larger than|too large|tag/i,
      // The log is read after the production copy (by design the copy comes first): production may hold the
      // artifact, but the staging copy must stay and the error must say to re-run.
      publishedIfStagingKept: true,
    },
    {
      id: 'link-other-origin',
      why: 'a tag list page whose Link: rel="next" points at another origin',
      step: 'promote',
      mayFollow: true,
      rules: ({ foreign, channel }) => [
        {
          name: 'foreign-link',
          match: (r) => r.method === 'GET' && new RegExp(`^/v2/${channel}/.+/tags/list$`).test(r.path),
          async answer({ forward, request }) {
            const answer = await forward();
            return {
              status: answer.status,
              headers: { ...(answer.headers as Record<string, string>), link: `<${foreign.url}${request.path}?last=zzz&n=100>; rel="next"` },
              body: answer.body,
            };
          },
        },
      ],
      expect: /link|origin|pagination|refused/i,
    },
  ];
}

export interface HostileRegistrySetup {
  registry: RunningRegistry;
  proxy: HostileProxy;
  foreign: ForeignOrigin;
  dir: string;
  stop(): Promise<void>;
}

export async function setUpHostileRegistry(): Promise<HostileRegistrySetup> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-hostile-registry-'));
  const htpasswd = path.join(dir, 'htpasswd');
  await writeHtpasswd(htpasswd, { [REGISTRY_USER.username]: REGISTRY_USER.password });
  const registry = await startRegistry({ auth: { kind: 'htpasswd', file: htpasswd } });
  const proxy = await startHostileProxy(registry.url);
  const foreign = await startForeign(registry);
  return {
    registry,
    proxy,
    foreign,
    dir,
    async stop() {
      await foreign.stop();
      await proxy.stop();
      await registry.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const storeOptions = { credentials: REGISTRY_USER, timeoutMs: 3_000, retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 50 } };

/** Runs one case on its own channel path and checks the outcome. */
export async function runHostileRegistryCase(setup: HostileRegistrySetup, c: HostileRegistryCase): Promise<HostileRegistryOutcome> {
  const channel = `hreg/${c.id}`;
  const staging = setup.proxy.location(`${channel}/staging`);
  const production = setup.proxy.location(`${channel}/production`);
  const packages: BuiltPackage[] = await buildValidPackages(path.join(setup.dir, c.id), 1, c.id.replace(/[^a-z0-9]/g, ''));
  const pkg = packages[0]!;
  const refs = [{ subdir: pkg.subdir, filename: pkg.filename, sha256: pkg.sha256 }];
  const problems: string[] = [];
  const notes: string[] = [];
  const foreignBefore = setup.foreign.requests.length;
  let error: string | undefined;
  let succeeded = false;

  if (c.step === 'promote') {
    // Stage and validate honestly first, then turn hostile for the promote.
    setup.proxy.setRules([]);
    const up = await upload({ to: staging, files: [pkg.file], storeOptions });
    if (!up.ok) throw new Error(`${c.id}: honest upload failed: ${JSON.stringify(up.errors)}`);
    const checked = await validate({ staging, production, artifacts: refs, storeOptions });
    if (!checked.ok) throw new Error(`${c.id}: honest validate failed: ${checked.artifacts[0]?.reason}`);
  }
  setup.proxy.setRules(c.rules({ proxy: setup.proxy, foreign: setup.foreign, channel }));
  const memoryBefore = process.memoryUsage().rss;
  try {
    if (c.step === 'upload') {
      const result = await upload({ to: staging, files: [pkg.file], storeOptions });
      succeeded = result.ok;
      error = result.errors[0]?.error;
    } else {
      const result = await promote({ staging, production, artifacts: refs, storeOptions });
      succeeded = result.ok;
      error = result.artifacts.find((a) => a.status !== 'promoted' && a.status !== 'already-promoted')?.reason;
    }
  } catch (thrown) {
    error = (thrown as Error).message;
  } finally {
    setup.proxy.setRules([]);
  }
  // A huge body must not have been read into memory.
  const grown = process.memoryUsage().rss - memoryBefore;
  if (grown > 64 * 1024 * 1024) problems.push(`memory grew by ${Math.round(grown / 2 ** 20)} MiB`);

  const foreign = setup.foreign.requests.slice(foreignBefore);
  const credentialsToForeign = foreign.filter((r) => r.authorization !== undefined).length;
  if (credentialsToForeign) problems.push(`${credentialsToForeign} request(s) to another origin carried Authorization`);

  // What got published, read directly (the target the step wrote to: staging for upload, production for promote).
  const target = directStore(setup.registry.location(`${channel}/${c.step === 'upload' ? 'staging' : 'production'}`), { credentials: REGISTRY_USER });
  let published = false;
  try {
    published = (await storedPackageSha256(target, pkg.subdir, pkg.filename).catch(() => 'unreadable')) !== undefined;
  } finally {
    await target.close();
  }

  if (c.mayFollow) {
    // Following without credentials is right; refusing is too. Either way: clear, and correct if published.
    if (!succeeded && (!error || error.includes('\n') || crashSigns(error).length)) problems.push(`unclear failure: ${error}`);
  } else {
    if (succeeded) problems.push('the step succeeded');
    if (published && c.publishedIfStagingKept) {
      const stagingStore = directStore(setup.registry.location(`${channel}/staging`), { credentials: REGISTRY_USER });
      try {
        if ((await storedPackageSha256(stagingStore, pkg.subdir, pkg.filename)) !== pkg.sha256) problems.push('published, and the staging copy is gone');
        else notes.push('production copy made before the refusal; staging kept; a re-run converges');
      } finally {
        await stagingStore.close();
      }
    } else if (published) problems.push('something was published');
    if (!error) problems.push('no error');
    else {
      if (c.expect && !c.expect.test(error)) problems.push(`error does not say what went wrong: ${error}`);
      if (error.includes('\n') || error.length > 600 || crashSigns(error).length) problems.push(`unclear error: ${error.slice(0, 200)}`);
    }
  }
  return { id: c.id, why: c.why, ok: problems.length === 0, error, published, credentialsToForeign, foreignRequests: foreign.length, problems, notes };
}
