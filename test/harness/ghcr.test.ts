// The ghcr.io stand-in itself, spoken to in raw HTTP (and by skopeo as an independent client): each behaviour the
// rest of the suite relies on is checked here once, so a test that passes on the stand-in passes for these reasons.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startGhcr, type RunningGhcr } from './ghcr.ts';
import { startGithubApi, type FakeGithubApi } from './github-api.ts';
import { GithubModel } from './github-model.ts';
import { skopeo } from './skopeo.ts';

const PAT = 'ghp_StagingBotClassicToken000000000000';
const OTHER = 'ghp_SomeoneElseClassicToken00000000000';
const WORKFLOW_A = 'ghs_FeedstockAWorkflowToken0000000000';
const WORKFLOW_B = 'ghs_FeedstockBWorkflowToken0000000000';
const APP = 'ghs_AppInstallationToken00000000000000';

let ghcr: RunningGhcr;
let api: FakeGithubApi;
let dir: string;

beforeAll(async () => {
  const model = new GithubModel();
  model.addAccount({ login: 'stage', type: 'org', members: ['stage-bot'], owners: [], defaultVisibility: 'public' });
  model.addAccount({ login: 'feedstocks', type: 'org', members: [], owners: [], defaultVisibility: 'private' });
  model.addIdentity({ token: PAT, kind: 'classic-pat', login: 'stage-bot', scopes: ['write:packages', 'delete:packages'] });
  model.addIdentity({ token: OTHER, kind: 'classic-pat', login: 'someone', scopes: ['write:packages'] });
  model.addIdentity({ token: WORKFLOW_A, kind: 'workflow', login: 'feedstocks/a-feedstock', packages: 'write', restLimit: 3 });
  model.addIdentity({ token: WORKFLOW_B, kind: 'workflow', login: 'feedstocks/b-feedstock', packages: 'write' });
  model.addIdentity({ token: APP, kind: 'app', login: 'some-app' });
  ghcr = await startGhcr({ model, tooManyRequestsEvery: 0 });
  api = await startGithubApi({ model, onDeleteVersion: (pkg, v) => ghcr.removeVersion(pkg, v) });
  dir = await mkdtemp(path.join(os.tmpdir(), 'ghcr-stand-in-'));
});
afterAll(async () => {
  await api?.stop();
  await ghcr?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function token(repository: string, actions: string, password?: string): Promise<string> {
  const headers: Record<string, string> = password ? { authorization: `Basic ${Buffer.from(`x:${password}`).toString('base64')}` } : {};
  const res = await fetch(`${ghcr.url}/token?service=ghcr.io&scope=repository:${repository}:${actions}`, { headers });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

async function call(method: string, urlPath: string, bearer: string | undefined, init: { body?: Buffer | string; headers?: Record<string, string> } = {}) {
  const res = await fetch(urlPath.startsWith('http') ? urlPath : `${ghcr.url}${urlPath}`, {
    method,
    redirect: 'manual',
    headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...init.headers },
    body: init.body,
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Pushes a one-layer image with the given token; returns the manifest status. */
async function pushImage(repository: string, password: string, tag: string, layer = Buffer.from(`layer of ${repository}:${tag}`)) {
  const t = await token(repository, 'pull,push', password);
  for (const blob of [Buffer.from('{}'), layer]) {
    const start = await call('POST', `/v2/${repository}/blobs/uploads/`, t);
    if (start.status !== 202) return start;
    const put = await call('PUT', `${new URL(start.headers.get('location')!, ghcr.url)}&digest=${encodeURIComponent(sha256(blob))}`, t, { body: blob });
    expect(put.status).toBe(201);
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256('{}'), size: 2 },
    layers: [{ mediaType: 'application/octet-stream', digest: sha256(layer), size: layer.length }],
  });
  return call('PUT', `/v2/${repository}/manifests/${tag}`, t, { body: manifest, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
}

test('push where the identity may create or write, 403 DENIED elsewhere; workflow tokens link packages to their repository', async () => {
  expect((await pushImage('stage/ch/noarch/a', PAT, 'v1')).status).toBe(201);
  expect(ghcr.model.package('stage', 'ch/noarch/a')).toMatchObject({ createdBy: 'stage-bot', visibility: 'public' });
  // Not a member of the organisation: cannot create there; not the creator: cannot write the package.
  const denied = await pushImage('stage/ch/noarch/b', OTHER, 'v1');
  expect([denied.status, JSON.parse(denied.text).errors[0]]).toEqual([403, expect.objectContaining({ code: 'DENIED', message: 'permission_denied: create_package' })]);
  expect((await pushImage('stage/ch/noarch/a', OTHER, 'v2')).status).toBe(403);
  // A workflow token creates a package in its own organisation, linked to its repository ...
  expect((await pushImage('feedstocks/staging/noarch/x', WORKFLOW_A, 'v1')).status).toBe(201);
  expect(ghcr.model.package('feedstocks', 'staging/noarch/x')).toMatchObject({ repository: 'feedstocks/a-feedstock', visibility: 'private' });
  // ... which another repository's workflow token cannot write, nor create packages in another organisation.
  expect(JSON.parse((await pushImage('feedstocks/staging/noarch/x', WORKFLOW_B, 'v2')).text).errors[0].message).toBe('permission_denied: write_package');
  expect((await pushImage('stage/ch/noarch/c', WORKFLOW_A, 'v1')).status).toBe(403);
  expect(JSON.parse((await pushImage('stage/ch/noarch/d', APP, 'v1')).text).errors[0].message).toBe('installation not allowed to Write organization package');
  // Anonymous pull tokens read public packages only; the private one asks for credentials.
  const anonymousPublic = await call('GET', '/v2/stage/ch/noarch/a/manifests/v1', await token('stage/ch/noarch/a', 'pull'), { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  expect(anonymousPublic.status).toBe(200);
  const anonymousPrivate = await call('GET', '/v2/feedstocks/staging/noarch/x/manifests/v1', await token('feedstocks/staging/noarch/x', 'pull'));
  expect([anonymousPrivate.status, anonymousPrivate.headers.get('www-authenticate')]).toEqual([401, expect.stringContaining('error="insufficient_scope"')]);
  // A token never asked for push does not push, whoever holds it.
  const pullOnly = await token('stage/ch/noarch/a', 'pull', PAT);
  expect((await call('POST', '/v2/stage/ch/noarch/a/blobs/uploads/', pullOnly)).status).toBe(401);
});

test('a ranged PATCH over 4 MiB is refused with 416 after its body; 4 MiB chunks, an unranged PATCH and a monolithic PUT go through', async () => {
  const t = await token('stage/ch/linux-64/big', 'pull,push', PAT);
  const blob = randomBytes(5 * 1024 * 1024);
  const open = async () => new URL((await call('POST', '/v2/stage/ch/linux-64/big/blobs/uploads/', t)).headers.get('location')!, ghcr.url).toString();
  const refused = await call('PATCH', await open(), t, { body: blob, headers: { 'content-range': `0-${blob.length - 1}`, 'content-type': 'application/octet-stream' } });
  expect(refused.status).toBe(416);
  expect(JSON.parse(refused.text).errors[0]).toEqual({
    code: 'REQUESTED_RANGE_NOT_SATISFIABLE',
    message: 'the request body is too large and exceeds the maximum permissible limit of 4.00MiB',
    detail: null,
  });
  expect(ghcr.log.at(-1)).toMatchObject({ method: 'PATCH', status: 416, requestBytes: blob.length });

  let at = await open();
  for (let offset = 0; offset < blob.length; offset += 4 * 1024 * 1024) {
    const piece = blob.subarray(offset, offset + 4 * 1024 * 1024);
    const res = await call('PATCH', at, t, { body: piece, headers: { 'content-range': `${offset}-${offset + piece.length - 1}`, 'content-type': 'application/octet-stream' } });
    expect(res.status).toBe(202);
    at = new URL(res.headers.get('location')!, ghcr.url).toString();
  }
  expect((await call('PUT', `${at}&digest=${encodeURIComponent(sha256(blob))}`, t)).status).toBe(201);

  const other = randomBytes(5 * 1024 * 1024);
  const patched = await call('PATCH', await open(), t, { body: other, headers: { 'content-type': 'application/octet-stream' } });
  expect(patched.status).toBe(202);
  expect((await call('PUT', `${new URL(patched.headers.get('location')!, ghcr.url)}&digest=${encodeURIComponent(sha256(other))}`, t)).status).toBe(201);
  const third = randomBytes(5 * 1024 * 1024);
  expect((await call('PUT', `${await open()}&digest=${encodeURIComponent(sha256(third))}`, t, { body: third })).status).toBe(201);
});

test('no referrers API, no catalog, no manifest DELETE; a mount is a plain upload start; tags come 100 a page', async () => {
  const t = await token('stage/ch/noarch/a', 'pull,push', PAT);
  const referrers = await call('GET', `/v2/stage/ch/noarch/a/referrers/${sha256('x')}`, t);
  expect([referrers.status, referrers.text]).toEqual([404, '404 page not found\n']);
  expect((await call('GET', '/v2/_catalog', t)).status).toBe(404);
  const del = await call('DELETE', `/v2/stage/ch/noarch/a/manifests/${sha256('x')}`, t);
  expect([del.status, JSON.parse(del.text).errors[0].code]).toEqual([405, 'UNSUPPORTED']);
  const mount = await call('POST', `/v2/stage/ch/noarch/a/blobs/uploads/?mount=${encodeURIComponent(sha256('{}'))}&from=stage/ch/noarch/a`, t);
  expect([mount.status, mount.headers.get('location')]).toEqual([202, expect.stringContaining('/v2/stage/ch/noarch/a/blobs/uploads/')]);

  const manifest = (await call('GET', '/v2/stage/ch/noarch/a/manifests/v1', t, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).text;
  for (let i = 0; i < 105; i++) {
    const res = await call('PUT', `/v2/stage/ch/noarch/a/manifests/t${String(i).padStart(3, '0')}`, t, { body: manifest, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
    expect(res.status).toBe(201);
  }
  const first = await call('GET', '/v2/stage/ch/noarch/a/tags/list?n=1000', t);
  expect(JSON.parse(first.text).tags).toHaveLength(100);
  const next = /<([^>]+)>; rel="next"/.exec(first.headers.get('link') ?? '')![1]!;
  const second = await call('GET', next, t);
  expect(JSON.parse(second.text).tags).toHaveLength(6);
  expect(second.headers.get('link')).toBeNull();
  // The version list of that package: one version with all 106 tags.
  expect(ghcr.model.package('stage', 'ch/noarch/a')!.versions.map((v) => v.tags.length)).toEqual([106]);
});

test('blob GETs go to a storage origin that refuses Authorization and HEAD', async () => {
  const t = await token('stage/ch/noarch/a', 'pull', PAT);
  const layer = Buffer.from('layer of stage/ch/noarch/a:v1');
  const redirect = await call('GET', `/v2/stage/ch/noarch/a/blobs/${sha256(layer)}`, t);
  expect(redirect.status).toBe(307);
  const target = redirect.headers.get('location')!;
  expect(target.startsWith(ghcr.storageUrl)).toBe(true);
  expect((await call('GET', target, t)).status).toBe(400);
  expect((await call('HEAD', target, undefined)).status).toBe(403);
  const ok = await call('GET', target, undefined);
  expect([ok.status, ok.text]).toEqual([200, layer.toString()]);
});

test('rate limits: 429 with the wait in the message, and the secondary-rate-limit 403 with retry-after', async () => {
  ghcr.options.tooManyRequestsEvery = 2;
  try {
    const t = await token('stage/ch/noarch/a', 'pull', PAT);
    const statuses = [];
    for (let i = 0; i < 2; i++) statuses.push(await call('HEAD', '/v2/stage/ch/noarch/a/manifests/v1', t));
    const limited = statuses.find((s) => s.status === 429)!;
    expect(limited).toBeDefined();
    const get = await call('GET', '/v2/stage/ch/noarch/a/manifests/v1', t);
    const again = get.status === 429 ? get : await call('GET', '/v2/stage/ch/noarch/a/manifests/v1', t);
    expect(JSON.parse(again.text).errors[0]).toMatchObject({ code: 'TOOMANYREQUESTS', message: expect.stringMatching(/^retry-after: [\d.]+ms, allowed: 2000\/minute$/) });
  } finally {
    ghcr.options.tooManyRequestsEvery = 0;
  }
  ghcr.options.secondaryRateLimitEvery = 1;
  try {
    const res = await call('HEAD', '/v2/stage/ch/noarch/a/manifests/v1', await token('stage/ch/noarch/a', 'pull', PAT));
    expect([res.status, res.headers.get('retry-after')]).toEqual([403, '1']);
  } finally {
    ghcr.options.secondaryRateLimitEvery = 0;
  }
});

test('REST: %2F names, visibility, the last version cannot be deleted but the package can, admin needed, rate-limit headers', async () => {
  expect((await pushImage('stage/ch/noarch/del', PAT, 'one')).status).toBe(201);
  expect((await pushImage('stage/ch/noarch/del', PAT, 'two', Buffer.from('other layer'))).status).toBe(201);
  const rest = async (method: string, urlPath: string, tokenValue = PAT) => {
    const res = await fetch(`${api.url}${urlPath}`, { method, headers: { authorization: `Bearer ${tokenValue}` } });
    return { status: res.status, headers: res.headers, body: res.status === 204 ? undefined : await res.json() };
  };
  expect((await rest('GET', '/orgs/stage/packages/container/ch/noarch/del')).status).toBe(404);
  const pkg = await rest('GET', '/orgs/stage/packages/container/ch%2Fnoarch%2Fdel');
  expect(pkg.body).toMatchObject({ name: 'ch/noarch/del', visibility: 'public', version_count: 2 });
  expect(pkg.headers.get('x-ratelimit-limit')).toBe('5000');
  const versions = (await rest('GET', '/orgs/stage/packages/container/ch%2Fnoarch%2Fdel/versions')).body as Array<{ id: number; name: string }>;
  expect((await rest('DELETE', `/orgs/stage/packages/container/ch%2Fnoarch%2Fdel/versions/${versions[0]!.id}`, OTHER)).status).toBe(403);
  expect((await rest('DELETE', `/orgs/stage/packages/container/ch%2Fnoarch%2Fdel/versions/${versions[0]!.id}`)).status).toBe(204);
  const last = await rest('DELETE', `/orgs/stage/packages/container/ch%2Fnoarch%2Fdel/versions/${versions[1]!.id}`);
  expect([last.status, (last.body as { message: string }).message]).toEqual([400, 'You cannot delete the last version of a package. You must delete the package instead.']);
  // The deleted version's manifest is gone from the registry too.
  const t = await token('stage/ch/noarch/del', 'pull', PAT);
  expect((await call('HEAD', `/v2/stage/ch/noarch/del/manifests/${versions[0]!.name}`, t)).status).toBe(404);
  expect((await rest('DELETE', '/orgs/stage/packages/container/ch%2Fnoarch%2Fdel')).status).toBe(204);
  expect((await call('HEAD', '/v2/stage/ch/noarch/del/manifests/two', t)).status).toBe(404);
  // Private packages are invisible to whoever cannot read them; a workflow token's budget is small here (3).
  expect((await rest('GET', '/orgs/feedstocks/packages/container/staging%2Fnoarch%2Fx', WORKFLOW_B)).status).toBe(404);
  const own = await rest('GET', '/orgs/feedstocks/packages/container/staging%2Fnoarch%2Fx', WORKFLOW_A);
  expect([own.status, (own.body as { visibility: string }).visibility, own.headers.get('x-ratelimit-remaining')]).toEqual([200, 'private', '2']);
  await rest('GET', '/orgs/feedstocks/packages?package_type=container', WORKFLOW_A);
  await rest('GET', '/orgs/feedstocks/packages?package_type=container', WORKFLOW_A);
  const spent = await rest('GET', '/orgs/feedstocks/packages?package_type=container', WORKFLOW_A);
  expect([spent.status, spent.headers.get('x-ratelimit-remaining'), (spent.body as { message: string }).message]).toEqual([403, '0', 'API rate limit exceeded for installation ID 1.']);
});

test('skopeo pushes to and reads from the stand-in as from ghcr.io', async () => {
  const layout = path.join(dir, 'layout');
  const before = ghcr.log.length;
  await skopeo(['copy', `--dest-creds=stage-bot:${PAT}`, '--dest-tls-verify=false', `docker://${ghcr.host}/stage/ch/noarch/a:v1`, `oci:${layout}:v1`, '--src-tls-verify=false']);
  await skopeo(['copy', `--dest-creds=stage-bot:${PAT}`, '--src-tls-verify=false', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${ghcr.host}/stage/ch/noarch/skopeo:v1`]);
  const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${ghcr.host}/stage/ch/noarch/skopeo:v1`]);
  expect(JSON.parse(raw.stdout.toString()).layers).toHaveLength(1);
  const storage = ghcr.log.slice(before).filter((e) => e.origin === 'storage');
  expect(storage.length).toBeGreaterThan(0);
  expect(storage.every((e) => !e.authorization && e.status === 200)).toBe(true);
});
