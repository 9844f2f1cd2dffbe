// The whole pipeline through the oci-channel command, on the ghcr.io stand-in with the recommended identities
// (test/helpers/ghcr-world.ts): a 70 MiB .conda and a two-format build go up (the large one in one unranged PATCH,
// sent once, through 429s), are validated, refused to a staging-only credential, promoted (streamed: ghcr.io does not
// mount), indexed by the channel repository's workflow token, downloaded anonymously through the storage redirect,
// a new private package is reported with its fix, and gc (whose credential cannot delete production) empties staging
// through the REST API. Every step ends exact.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openStore } from '@oci-channel/oci';
import { createGithubPackagesClient } from '@oci-channel/pipeline';
import { GHCR_RANGED_PATCH_LIMIT } from '../harness/ghcr.ts';
import { buildPackage } from '../helpers/conda-builder.ts';
import { credentialEnv, packageNames, startGhcrWorld, TOKENS, type GhcrWorld } from '../helpers/ghcr-world.ts';
import { sha256File } from '../pipeline/pipeline-helpers.ts';

const BIN = path.resolve('packages/cli/bin/oci-channel.js');
const NODE = path.resolve('node_modules/.bin/node');
const VERDICT_KEY = 'vk-ghcr-e2e-0123456789abcdef0123456789abcdef';
const BIG = 70 * 1024 * 1024;

let world: GhcrWorld;
let dir: string;
let base: NodeJS.ProcessEnv;
const files: Record<string, string> = {};

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const child = spawn(NODE, ['--disable-warning=ExperimentalWarning', BIN, ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

function noSecrets(run: Run): void {
  for (const token of Object.values(TOKENS)) {
    expect(run.stdout).not.toContain(token);
    expect(run.stderr).not.toContain(token);
  }
}

const stage = () => credentialEnv(world.staging, TOKENS.stage);
const release = () => credentialEnv(world.production, TOKENS.release);

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'cli-ghcr-'));
  world = await startGhcrWorld();
  base = {
    PATH: process.env.PATH,
    HOME: dir,
    DOCKER_CONFIG: path.join(dir, 'no-docker-config'),
    XDG_CACHE_HOME: path.join(dir, 'cache'),
    GITHUB_API_URL: world.api.url,
  };
  const out = path.join(dir, 'build');
  files.big = await buildPackage(out, { name: 'cudatoolkit', version: '12.4', build: 'h0_0', subdir: 'linux-64', payloadBytes: BIG }, 'conda');
  files.zlibConda = await buildPackage(out, { name: 'zlib', version: '1.3.1', build: 'h0_0', subdir: 'linux-64' }, 'conda');
  files.zlibBz2 = await buildPackage(out, { name: 'zlib', version: '1.3.1', build: 'h0_0', subdir: 'linux-64' }, 'tar.bz2');
  files.orphan = await buildPackage(out, { name: 'orphan', version: '0.1', build: '0', subdir: 'noarch' }, 'conda');
  files.fresh = await buildPackage(out, { name: 'freshpkg', version: '1.0', build: '0', subdir: 'noarch' }, 'conda');
}, 120_000);
afterAll(async () => {
  await world?.stop();
  await rm(dir, { recursive: true, force: true });
});

const artifact = (file: string, subdir = 'linux-64') => `${subdir}/${path.basename(file)}`;
const pinned = async (file: string, subdir = 'linux-64') => `${artifact(file, subdir)}@sha256:${await sha256File(file)}`;

test('upload: a feedstock workflow token cannot write the staging organisation; the staging identity uploads, the 70 MiB .conda in one unranged PATCH', async () => {
  const refused = await cli(['upload', '--to', world.staging, files.zlibConda!], credentialEnv(world.staging, TOKENS.feedstock));
  expect(refused.code).toBe(1);
  expect(refused.stdout + refused.stderr).toMatch(/DENIED: permission_denied: create_package; the credentials lack access/);
  expect(packageNames(world, 'stage-org')).toEqual([]);

  expect((await stat(files.big!)).size).toBeGreaterThan(64 * 1024 * 1024);
  world.ghcr.options.tooManyRequestsEvery = 9;
  const from = world.ghcr.log.length;
  const up = await cli(['upload', '--to', world.staging, '--json', files.big!, files.zlibConda!, files.zlibBz2!, files.orphan!], stage());
  world.ghcr.options.tooManyRequestsEvery = 0;
  noSecrets(up);
  expect(up.code).toBe(0);
  expect(JSON.parse(up.stdout).artifacts.map((a: { filename: string; status: string }) => [a.filename, a.status]).sort()).toEqual([
    ['cudatoolkit-12.4-h0_0.conda', 'uploaded'],
    ['orphan-0.1-0.conda', 'uploaded'],
    ['zlib-1.3.1-h0_0.conda', 'uploaded'],
    ['zlib-1.3.1-h0_0.tar.bz2', 'uploaded'],
  ]);
  const log = world.ghcr.log.slice(from);
  expect(log.filter((e) => e.status === 429).length).toBeGreaterThan(0);
  expect(log.filter((e) => e.status === 416)).toEqual([]);
  const bigSize = (await stat(files.big!)).size;
  // Sent exactly once, in one request without Content-Range (ghcr.io refuses ranged bodies over 4 MiB).
  expect(log.filter((e) => e.method === 'PATCH').map((e) => e.requestBytes)).toEqual([bigSize]);
  expect(bigSize).toBeGreaterThan(GHCR_RANGED_PATCH_LIMIT);
  expect(packageNames(world, 'stage-org')).toEqual(['staging/linux-64/cudatoolkit', 'staging/linux-64/zlib', 'staging/noarch/orphan']);
  expect(world.model.package('stage-org', 'staging/linux-64/zlib')!.createdBy).toBe('stage-bot');
}, 120_000);

test('validate records signed verdicts in staging (the referrers fallback: ghcr.io has no referrers API)', async () => {
  const args = ['validate', '--staging', world.staging, '--production', world.production, '--json'];
  // A credential that reads staging but may not write the staged packages (here the release identity) cannot record
  // verdicts: validate says so, with where verdicts are written, and leaves staging as it was.
  const versions = () => world.model.packagesOf('stage-org').map((p) => p.versions.length);
  const before = versions();
  const denied = await cli([...args, await pinned(files.zlibConda!)], { ...credentialEnv(world.staging, TOKENS.release), OCI_CHANNEL_VERDICT_KEY: VERDICT_KEY });
  expect(denied.code).toBe(1);
  expect(JSON.parse(denied.stdout).artifacts[0].checks.find((c: { name: string }) => c.name === 'verdict-recorded').detail).toMatch(
    /permission_denied: write_package.*verdicts are written with the staging credential: give validate one that may push to the staged package/,
  );
  expect(versions()).toEqual(before);
  const run = await cli([...args, await pinned(files.big!), await pinned(files.zlibConda!), await pinned(files.zlibBz2!)], { ...stage(), OCI_CHANNEL_VERDICT_KEY: VERDICT_KEY });
  noSecrets(run);
  expect(run.code).toBe(0);
  expect(JSON.parse(run.stdout).artifacts.map((a: { verdict: string }) => a.verdict)).toEqual(['passed', 'passed', 'passed']);
  const staging = openStore(world.staging, { credentials: { username: 'x', password: TOKENS.stage } });
  expect((await staging.repository('linux-64/zlib').listTags()).filter((t) => t.startsWith('sha256-'))).toHaveLength(1);
  await staging.close();
}, 120_000);

test('promote: a staging credential gets "no push access to production" and writes nothing; the release identity promotes, streaming what ghcr.io cannot mount', async () => {
  const refs = [await pinned(files.big!), await pinned(files.zlibConda!), await pinned(files.zlibBz2!)];
  const args = ['promote', '--staging', world.staging, '--production', world.production, '--json'];
  const wrong = await cli([...args, ...refs], { ...stage(), ...credentialEnv(world.production, TOKENS.stage), OCI_CHANNEL_VERDICT_KEY: VERDICT_KEY });
  expect(wrong.code).toBe(1);
  expect(JSON.parse(wrong.stdout).artifacts[0].reason).toMatch(/no push access to production\b.*permission_denied: create_package/);
  expect(packageNames(world, 'prod-org')).toEqual([]);

  const run = await cli([...args, '--github-owner', 'prod-org', '--visibility-check', 'fail', ...refs], {
    ...stage(),
    ...release(),
    OCI_CHANNEL_VERDICT_KEY: VERDICT_KEY,
    GITHUB_TOKEN: TOKENS.channel,
  });
  noSecrets(run);
  expect(run.code).toBe(0);
  const result = JSON.parse(run.stdout);
  expect(result.artifacts.map((a: { status: string; stagingRemoved: boolean }) => [a.status, a.stagingRemoved])).toEqual([
    ['promoted', false],
    ['promoted', false],
    ['promoted', false],
  ]);
  // Every package byte was streamed registry to registry (no mount on ghcr.io), the large one included.
  expect(result.streamedBytes).toBeGreaterThanOrEqual((await stat(files.big!)).size + (await stat(files.zlibConda!)).size + (await stat(files.zlibBz2!)).size);
  expect(result.privatePackages).toBeUndefined();
  expect(packageNames(world, 'prod-org')).toEqual(['channel/linux-64/cudatoolkit', 'channel/linux-64/zlib', 'channel/oci_channel/promotions']);
  expect(world.model.packagesOf('prod-org').every((p) => p.createdBy === 'release-bot' && p.repository === undefined)).toBe(true);
}, 120_000);

test('reindex with the channel repository\'s workflow token: index repositories linked to it, repodata exact', async () => {
  const env = { ...credentialEnv(world.production, TOKENS.channel), GITHUB_TOKEN: TOKENS.channel };
  const run = await cli(['reindex', '--channel', world.production, '--github-owner', 'prod-org', '--visibility-check', 'fail', '--json'], env);
  noSecrets(run);
  expect(run.code).toBe(0);
  const linked = world.model.packagesOf('prod-org').filter((p) => p.repository === 'prod-org/channel').map((p) => p.name).sort();
  expect(linked).toEqual(['channel/channeldata.json', 'channel/linux-64/repodata.json', 'channel/noarch/repodata.json']);
  // The workflow token cannot write a package it did not create: production packages stay the release identity's.
  const store = openStore(world.production, { credentials: { username: 'x', password: TOKENS.channel } });
  await expect(store.repository('linux-64/zlib').checkPushAccess()).rejects.toThrow(/permission_denied: write_package/);
  const manifest = JSON.parse(Buffer.from((await store.repository('linux-64/repodata.json').fetchManifest('latest')).bytes).toString());
  const layer = manifest.layers.find((l: { mediaType: string }) => l.mediaType === 'application/vnd.conda.repodata.v1+json');
  let text = '';
  for await (const chunk of await store.repository('linux-64/repodata.json').fetchBlob(layer.digest, layer.size)) text += chunk.toString();
  await store.close();
  const repodata = JSON.parse(text);
  expect(Object.keys(repodata.packages)).toEqual(['zlib-1.3.1-h0_0.tar.bz2']);
  expect(Object.keys(repodata['packages.conda']).sort()).toEqual(['cudatoolkit-12.4-h0_0.conda', 'zlib-1.3.1-h0_0.conda']);
  expect(repodata['packages.conda']['cudatoolkit-12.4-h0_0.conda'].sha256).toBe(await sha256File(files.big!));
  const again = await cli(['reindex', '--channel', world.production, '--json'], env);
  expect(JSON.parse(again.stdout).subdirs.every((s: { tags: string[] }) => s.tags.length === 0)).toBe(true);
}, 120_000);

test('download without credentials through the storage redirect, verified', async () => {
  const from = world.ghcr.log.length;
  for (const file of [files.big!, files.zlibBz2!]) {
    const out = path.join(dir, 'dl', path.basename(file));
    const run = await cli(['download', '--channel', world.production, artifact(file), '-o', out]);
    expect(run.code).toBe(0);
    expect(await sha256File(out)).toBe(await sha256File(file));
  }
  const storage = world.ghcr.log.slice(from).filter((e) => e.origin === 'storage');
  expect(storage.length).toBeGreaterThanOrEqual(2);
  expect(storage.every((e) => !e.authorization && e.status === 200)).toBe(true);
  expect(world.ghcr.log.slice(from).filter((e) => e.origin === 'registry' && e.method !== 'GET' && e.method !== 'HEAD' && !e.url.startsWith('/token'))).toEqual([]);
}, 120_000);

test('a new production package that is private: promote fails with the fix, anonymous clients are refused until it is public', async () => {
  world.model.accounts.get('prod-org')!.defaultVisibility = 'private';
  const up = await cli(['upload', '--to', world.staging, files.fresh!], stage());
  expect(up.code).toBe(0);
  const run = await cli(
    ['promote', '--staging', world.staging, '--production', world.production, '--github-owner', 'prod-org', '--visibility-check', 'fail', await pinned(files.fresh!, 'noarch')],
    { ...stage(), ...release(), OCI_CHANNEL_VERDICT_KEY: VERDICT_KEY, GITHUB_TOKEN: TOKENS.channel },
  );
  noSecrets(run);
  expect(run.code).toBe(1);
  // The channel's token cannot see a private package it does not own: reported as such, with the fix.
  expect(run.stdout).toContain(
    'not public: production package prod-org/channel/noarch/freshpkg cannot be seen with the GitHub token given (private, or the token lacks read:packages); ' +
      'make it public at https://github.com/orgs/prod-org/packages/container/channel%2Fnoarch%2Ffreshpkg/settings (Danger Zone: Change visibility); ' +
      'so that new packages can be public, allow public packages in https://github.com/organizations/prod-org/settings/packages',
  );
  const out = path.join(dir, 'dl', 'fresh.conda');
  const anonymous = await cli(['download', '--channel', world.production, artifact(files.fresh!, 'noarch'), '-o', out]);
  expect(anonymous.code).toBe(1);
  expect(anonymous.stderr).toMatch(/needs credentials: anonymous access does not grant/);
  world.model.package('prod-org', 'channel/noarch/freshpkg')!.visibility = 'public';
  world.model.accounts.get('prod-org')!.defaultVisibility = 'public';
  expect((await cli(['download', '--channel', world.production, artifact(files.fresh!, 'noarch'), '-o', out])).code).toBe(0);
}, 120_000);

test('gc: the staging delete credential cannot delete production; on staging it deletes every package through REST, exactly', async () => {
  const before = world.model.packagesOf('prod-org').map((p) => [p.name, p.versions.length]);
  // The delete token of the staging identity, used on every production package (and version): all refused.
  const rest = createGithubPackagesClient({ token: TOKENS.stageGc, apiUrl: world.api.url, owner: 'prod-org' });
  for (const pkg of world.model.packagesOf('prod-org')) {
    await expect(rest.deletePackage(pkg.name)).rejects.toThrow(/HTTP 403 .*You need admin access to the package to delete it/);
    await expect(rest.deleteVersion(pkg.name, pkg.versions[0]!.id)).rejects.toThrow(/HTTP 403/);
  }
  expect(world.model.packagesOf('prod-org').map((p) => [p.name, p.versions.length])).toEqual(before);

  const run = await cli(['gc', '--channel', world.staging, '--older-than', '0s', '--github-owner', 'stage-org', '--json'], {
    ...credentialEnv(world.staging, TOKENS.stageGc),
    GITHUB_TOKEN: TOKENS.stageGc,
  });
  noSecrets(run);
  expect(run.code).toBe(0);
  const result = JSON.parse(run.stdout);
  expect(result.errors).toEqual([]);
  // Upload and promotion intents (records/write-intent.ts) go with the packages they were left beside.
  const isIntent = (tag: string | undefined) => /^_(uploading|promoting)\./.test(tag ?? '');
  const intents = result.deleted.filter((d: { tag?: string }) => isIntent(d.tag)).map((d: { repository: string }) => d.repository);
  expect(intents.length).toBeGreaterThan(0);
  for (const repository of intents) expect(result.deleted.some((d: { repository: string; tag?: string }) => d.repository === repository && d.tag?.includes('-'))).toBe(true);
  expect(result.deleted.filter((d: { tag?: string }) => d.tag && !d.tag.startsWith('sha256-') && !isIntent(d.tag)).map((d: { repository: string; tag: string }) => `${d.repository}:${d.tag}`).sort()).toEqual([
    'stage-org/staging/linux-64/cudatoolkit:12.4-h0_0',
    'stage-org/staging/linux-64/zlib:1.3.1-h0_0',
    'stage-org/staging/noarch/freshpkg:1.0-0',
    'stage-org/staging/noarch/orphan:0.1-0',
  ]);
  // Each package went in one DELETE of the package (its last version cannot be deleted on its own).
  const deletes = world.api.requests.filter((r) => r.method === 'DELETE' && r.path.startsWith('/orgs/stage-org/'));
  expect(deletes.map((r) => r.path).sort()).toEqual([
    '/orgs/stage-org/packages/container/staging%2Flinux-64%2Fcudatoolkit',
    '/orgs/stage-org/packages/container/staging%2Flinux-64%2Fzlib',
    '/orgs/stage-org/packages/container/staging%2Fnoarch%2Ffreshpkg',
    '/orgs/stage-org/packages/container/staging%2Fnoarch%2Forphan',
  ]);
  expect(packageNames(world, 'stage-org')).toEqual([]);
  expect(world.model.packagesOf('prod-org').map((p) => [p.name, p.versions.length])).toEqual(before);
  const again = await cli(['gc', '--channel', world.staging, '--older-than', '0s', '--github-owner', 'stage-org', '--json'], {
    ...credentialEnv(world.staging, TOKENS.stageGc),
    GITHUB_TOKEN: TOKENS.stageGc,
  });
  expect(JSON.parse(again.stdout).deleted).toEqual([]);
  expect(await readFile(path.join(dir, 'dl', 'zlib-1.3.1-h0_0.tar.bz2')).then((b) => b.length)).toBe((await stat(files.zlibBz2!)).size);
}, 120_000);
