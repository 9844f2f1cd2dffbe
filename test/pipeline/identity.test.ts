// Trusted publishing: validate and promote verify the upload's GitHub OIDC token (a loopback issuer with its own
// RSA keys stands in for GitHub's) before anything else, against a real registry. The accepted case publishes as
// the token's repository; every refused token leaves production, the promotion log and staging untouched.
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openStore, type Store } from '@oci-channel/oci';
import { promote, promotionAudience, upload, validate, VERDICT_ARTIFACT_TYPE, type ArtifactRef, type IdentityOptions } from '@oci-channel/pipeline';
import { startOidcIssuer, type MintOptions, type RunningOidcIssuer } from '../harness/oidc-issuer.ts';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { makePackage, manifestAt, sha256File, writeOwners } from './pipeline-helpers.ts';

let dir: string;
let registry: RunningRegistry;
let issuer: RunningOidcIssuer;
let staging: Store;
let production: Store;
let owners: string;
let good: ArtifactRef;
let numpy: ArtifactRef;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'identity-'));
  [registry, issuer] = await Promise.all([startRegistry(), startOidcIssuer()]);
  staging = openStore(registry.location('staging'));
  production = openStore(registry.location('production'));
  owners = await writeOwners(path.join(dir, 'owners'), { good: ['good'], numpy: ['numpy'] });
  const files = await Promise.all([
    makePackage(path.join(dir, 'pkgs'), { name: 'good', version: '1.0', build: 'h0_0', subdir: 'noarch', format: 'conda' }),
    makePackage(path.join(dir, 'pkgs'), { name: 'numpy', version: '2.0', build: 'h0_0', subdir: 'noarch', format: 'conda' }),
  ]);
  expect((await upload({ to: staging, files })).ok).toBe(true);
  [good, numpy] = (await Promise.all(files.map(async (f) => ({ subdir: 'noarch', filename: path.basename(f), sha256: await sha256File(f) })))) as [ArtifactRef, ArtifactRef];
});
afterAll(async () => {
  await staging?.close();
  await production?.close();
  await issuer?.stop();
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});

function identity(token: string, extra: Partial<IdentityOptions> = {}): IdentityOptions {
  return { token, issuer: issuer.url, allowedOwners: ['conda-forge'], ...extra };
}

const token = (refs: ArtifactRef[], options?: MintOptions) => issuer.mint(promotionAudience(refs), options);

describe('the audience binds a token to the exact artifacts of one dispatch', () => {
  test('sha256 of the sorted SUBDIR/FILENAME@sha256:HEX lines, then label:LABEL for a label other than main', () => {
    const a = { subdir: 'noarch', filename: 'a-1-0.conda', sha256: 'a'.repeat(64) };
    const b = { subdir: 'linux-64', filename: 'b-1-0.tar.bz2', sha256: `sha256:${'B'.repeat(64)}` };
    const lines = `linux-64/b-1-0.tar.bz2@sha256:${'b'.repeat(64)}\nnoarch/a-1-0.conda@sha256:${'a'.repeat(64)}\n`;
    const hex = (text: string) => createHash('sha256').update(text).digest('hex');
    expect(promotionAudience([a, b])).toBe(`oci-channel:sha256:${hex(lines)}`);
    expect(promotionAudience([b, a])).toBe(promotionAudience([a, b]));
    expect(promotionAudience([a, b], 'main')).toBe(promotionAudience([a, b]));
    expect(promotionAudience([a, b], 'rc')).toBe(`oci-channel:sha256:${hex(`${lines}label:rc\n`)}`);
    expect(promotionAudience([{ ...a, sha256: 'c'.repeat(64) }, b])).not.toBe(promotionAudience([a, b]));
    expect(() => promotionAudience([{ subdir: 'noarch', filename: 'a-1-0.conda' }])).toThrow(/no sha256: an identity token is bound to exact bytes/);
  });
});

describe('refused tokens: a one-line reason, nothing read, published, recorded or deleted', () => {
  const cases: Array<[string, () => Promise<{ token: string; extra?: Partial<IdentityOptions> }>, RegExp]> = [
    ['signed by another key', async () => ({ token: await token([good], { foreignKey: true }) }), /signature does not verify/],
    ['alg none', async () => ({ token: await token([good], { alg: 'none' }) }), /alg "none" \(unsigned\); only RS256/],
    ['HS256 keyed with the public key', async () => ({ token: await token([good], { alg: 'HS256' }) }), /alg "HS256"; only RS256/],
    ['a key id the issuer does not publish', async () => ({ token: await token([good], { foreignKey: true, kid: 'not-published' }) }), /does not publish \(fetched its keys again\)/],
    ['a wrong typ', async () => ({ token: await token([good], { typ: 'at+jwt' }) }), /typ "at\+jwt", not "JWT"/],
    ['a wrong iss', async () => ({ token: await token([good], { claims: { iss: 'https://token.actions.githubusercontent.com' } }) }), /issued by "https:\/\/token\.actions\.githubusercontent\.com", not http/],
    ['an audience for other bytes (replay)', async () => ({ token: await token([{ ...good, sha256: 'f'.repeat(64) }]) }), /minted for other artifacts/],
    ['an audience for another artifact list', async () => ({ token: await token([good, numpy]) }), /minted for other artifacts/],
    ['too old', async () => ({ token: await token([good], { iatOffsetS: -25 * 3600 }) }), /issued 25 h ago, more than the 24 h accepted/],
    ['older than a configured age', async () => ({ token: await token([good], { iatOffsetS: -3 * 3600 }), extra: { maxTokenAgeMs: 2 * 3_600_000 } }), /issued 3 h ago, more than the 2 h accepted/],
    ['a pull_request run', async () => ({ token: await token([good], { claims: { event_name: 'pull_request' } }) }), /pull_request run of conda-forge\/good-feedstock: pull request workflows never publish/],
    ['a pull_request_target run', async () => ({ token: await token([good], { claims: { event_name: 'pull_request_target' } }) }), /pull_request_target run/],
    [
      'an owner not allowed',
      async () => ({ token: await token([good], { claims: { repository: 'conda-forge-fake/good-feedstock', repository_owner: 'conda-forge-fake' } }) }),
      /belongs to conda-forge-fake, which is not an allowed owner \(conda-forge\)/,
    ],
    ['a repository_owner that is not the repository\'s', async () => ({ token: await token([good], { claims: { repository_owner: 'other' } }) }), /repository_owner claim is not the owner of/],
    [
      'a workflow outside the allowed pattern',
      async () => ({
        token: await token([good], { claims: { job_workflow_ref: 'conda-forge/good-feedstock/.github/workflows/build.yml@refs/heads/main' } }),
        extra: { allowedWorkflow: 'conda-forge/oci-channel/.github/workflows/upload.yml@refs/tags/v*' },
      }),
      /ran in workflow conda-forge\/good-feedstock\/.github\/workflows\/build.yml@refs\/heads\/main, not one matching/,
    ],
    ['a claim of the wrong type', async () => ({ token: await token([good], { claims: { iat: '1700000000' } }) }), /iat claim is not a time in whole seconds/],
    ['not a JWT at all', async () => ({ token: 'not-a-token' }), /not a compact JWT/],
  ];

  test.each(cases)('%s', async (_name, make, reason) => {
    const { token: jwt, extra } = await make();
    for (const step of [validate, promote]) {
      const result = await step({ staging, production, owners, artifacts: [good], identity: identity(jwt, extra) });
      expect(result.ok).toBe(false);
      expect(result.uploader).toBeUndefined();
      expect(result.artifacts).toHaveLength(1);
      const [refused] = result.artifacts;
      expect(refused!.checks).toEqual([{ name: 'identity', ok: false, detail: expect.stringMatching(reason) }]);
      if ('status' in refused!) expect(refused.status).toBe('rejected');
      expect(refused!.reason).not.toContain('\n');
      expect(JSON.stringify(result)).not.toContain(jwt);
    }
  });

  afterAll(async () => {
    // Nothing reached production, no verdict was recorded and the staged packages are still there.
    expect(await production.listRepositories()).toEqual([]);
    const staged = await manifestAt(staging, 'noarch/good', '1.0-h0_0');
    expect(staged).toBeDefined();
    expect(await staging.repository('noarch/good').referrers(staged!.digest as `sha256:${string}`, VERDICT_ARTIFACT_TYPE)).toEqual([]);
  });
});

describe('verified uploads', () => {
  test('another repository\'s valid token for a name it does not own is rejected, even when the payload names the owner', async () => {
    const jwt = await token([numpy], { claims: { repository: 'conda-forge/sample-feedstock', sub: 'repo:conda-forge/sample-feedstock:ref:refs/heads/main' } });
    // `uploader: numpy` is what a hostile request would claim; the token says sample-feedstock, and the token wins.
    const result = await promote({ staging, production, owners, uploader: 'numpy', artifacts: [numpy], identity: identity(jwt) });
    expect(result.ok).toBe(false);
    expect(result.uploader).toEqual({ name: 'sample', verified: true, repository: 'conda-forge/sample-feedstock', workflow: 'conda-forge/oci-channel/.github/workflows/upload.yml@refs/tags/v1.2.0' });
    expect(result.artifacts[0]).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/uploader sample does not own package name numpy \(owners: numpy\) \(verified: conda-forge\/sample-feedstock\)/) });
    expect(await manifestAt(production, 'noarch/numpy', '2.0-h0_0')).toBeUndefined();
    expect(await manifestAt(staging, 'noarch/numpy', '2.0-h0_0')).toBeDefined();
  });

  test('the owning feedstock\'s token is accepted: validated, promoted, recorded as the verified repository', async () => {
    const jwt = await token([good]);
    const allowedWorkflow = 'conda-forge/oci-channel/.github/workflows/upload.yml@refs/tags/v*';
    const validated = await validate({ staging, production, owners, artifacts: [good], identity: identity(jwt, { allowedWorkflow }) });
    expect(validated.ok).toBe(true);
    expect(validated.uploader).toMatchObject({ name: 'good', verified: true, repository: 'conda-forge/good-feedstock' });
    expect(validated.artifacts[0]!.checks.find((c) => c.name === 'owner')?.detail).toBe('good owns good (verified: conda-forge/good-feedstock)');
    // The same token again (the promote job of the same request) within its age: accepted, the signed-verdict-free run validates.
    const promoted = await promote({ staging, production, owners, artifacts: [good], identity: identity(jwt, { allowedWorkflow }) });
    expect(promoted.ok).toBe(true);
    expect(promoted.artifacts[0]!.status).toBe('promoted');
    expect(await manifestAt(production, 'noarch/good', '1.0-h0_0')).toBeDefined();
  });

  test('an expired token (exp passed) is accepted within the age limit: it is bound to the exact bytes', async () => {
    const jwt = await token([numpy], { iatOffsetS: -3600, claims: { repository: 'conda-forge/numpy-feedstock' } });
    const result = await validate({ staging, production, owners, artifacts: [numpy], identity: identity(jwt) });
    expect(result.ok).toBe(true);
    expect(result.uploader?.repository).toBe('conda-forge/numpy-feedstock');
  });

  test('keys are cached and fetched once more for an unknown key id (the issuer rotated its key)', async () => {
    const jwksFetches = () => issuer.requests.filter((p) => p === '/.well-known/jwks').length;
    const before = jwksFetches();
    const jwt = await token([numpy], { claims: { repository: 'conda-forge/numpy-feedstock' } });
    expect((await validate({ staging, production, artifacts: [numpy], identity: identity(jwt) })).uploader?.verified).toBe(true);
    expect(jwksFetches()).toBe(before);
    await issuer.rotate();
    const rotated = await token([numpy], { claims: { repository: 'conda-forge/numpy-feedstock' } });
    expect((await validate({ staging, production, artifacts: [numpy], identity: identity(rotated) })).uploader?.verified).toBe(true);
    expect(jwksFetches()).toBe(before + 1);
  });

  test('an http issuer is accepted only on loopback; no allowed owner is refused up front', async () => {
    const jwt = await token([good]);
    const remote = await validate({ staging, production, artifacts: [good], identity: identity(jwt, { issuer: 'http://issuer.example.com' }) });
    expect(remote.artifacts[0]!.reason).toMatch(/plain http: only https is accepted \(http only on a loopback address/);
    const none = await validate({ staging, production, artifacts: [good], identity: identity(jwt, { allowedOwners: [] }) });
    expect(none.artifacts[0]!.reason).toMatch(/no allowed owner configured/);
  });

  test('a hostile or broken issuer endpoint refuses the token with a one-line reason', async () => {
    const jwt = await token([good]);
    let mode = '';
    const server = http.createServer((req, res) => {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      if (req.url === '/.well-known/openid-configuration') {
        if (mode === 'status') return void res.writeHead(503).end();
        const issuerName = mode === 'other-issuer' ? 'https://token.actions.githubusercontent.com' : base;
        const jwksUri = mode === 'http-jwks' ? 'http://keys.example.com/jwks' : `${base}/jwks`;
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: issuerName, jwks_uri: jwksUri }));
      }
      if (mode === 'huge') return void res.writeHead(200).end(JSON.stringify({ keys: [], pad: 'x'.repeat(300 * 1024) }));
      res.writeHead(200).end(mode === 'not-json' ? '<html>' : JSON.stringify({ keys: 'none' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const cases: Array<[string, RegExp]> = [
        ['status', /OIDC discovery document at .* answered HTTP 503/],
        ['other-issuer', /discovery document of http:\/\/127\.0\.0\.1:\d+ names issuer "https:\/\/token\.actions\.githubusercontent\.com"; refused/],
        ['http-jwks', /jwks_uri of .* is plain http/],
        ['huge', /key set \(JWKS\) at .* is larger than 262144 bytes; refused/],
        ['not-json', /key set \(JWKS\) at .* is not JSON/],
        ['no-keys', /has no "keys" list/],
      ];
      for (const [name, reason] of cases) {
        mode = name;
        const result = await validate({ staging, production, artifacts: [good], identity: identity(jwt, { issuer: url }) });
        expect({ name, reason: result.artifacts[0]!.reason }).toEqual({ name, reason: expect.stringMatching(reason) });
      }
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('--uploader alone stays for local use and is reported unverified', async () => {
    const result = await validate({ staging, production, owners, uploader: 'numpy', artifacts: [numpy] });
    expect(result.ok).toBe(true);
    expect(result.uploader).toEqual({ name: 'numpy', verified: false });
    expect(result.artifacts[0]!.checks.find((c) => c.name === 'owner')?.detail).toBe('numpy owns numpy (unverified: numpy)');
  });
});
