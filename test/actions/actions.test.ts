// The bundled actions, run as the runner runs them, against a real docker-registry (htpasswd auth) and a
// loopback GitHub API: upload -> dispatch -> validate -> promote -> reindex -> gc, each run's outputs and
// summary checked, wrong inputs failing with their one-line reason, and the password never shown.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openStore, type Store } from '@oci-channel/oci';
import { startGithubApi, type FakeGithubApi } from '../harness/github-api.ts';
import { writeHtpasswd } from '../harness/htpasswd.ts';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { buildPackage, sha256File } from '../helpers/hostile-packages.ts';
import { writeOwners } from '../pipeline/pipeline-helpers.ts';
import { startCacheService } from './cache-server.ts';
import { createActionRunner, secretLeaks, WORKFLOW_TOKEN, type ActionRun, type ActionRunner } from './run-action.ts';

const USER = 'ci-bot';
const PASSWORD = 'Pw-7f3a9c1e-DISTINCT-b8d2-never-print';
const DISPATCH_TOKEN = 'ghp_DispatchTokenDISTINCT0a1b2c3d4e5f';
const VERDICT_KEY = 'vk-5d1c0e2a9b7f4e3d8c6b1a0f9e8d7c6b-DISTINCT';
const SECRETS = [PASSWORD, DISPATCH_TOKEN, WORKFLOW_TOKEN, VERDICT_KEY, Buffer.from(`${USER}:${PASSWORD}`).toString('base64')];
const COMMIT = 'c0ffee'.padEnd(40, '0');

let dir: string;
let registry: RunningRegistry;
let api: FakeGithubApi;
let runner: ActionRunner;
let workspace: string;
let owners: string;
let staging: string;
let production: string;
let productionStore: Store;
const runs: Array<{ name: string; inputs: Record<string, string>; run: ActionRun }> = [];

async function run(name: string, inputs: Record<string, string>, cwd = workspace, env: Record<string, string> = {}): Promise<ActionRun> {
  const result = await runner.run(name, inputs, { cwd, env });
  runs.push({ name, inputs, run: result });
  return result;
}

function expectOneLineFailure(result: ActionRun, name: string, reason: RegExp): void {
  expect(result.code).toBe(1);
  expect(result.error).toMatch(new RegExp(`^${name}: `));
  expect(result.error).toMatch(reason);
  expect(result.error).not.toMatch(/internal error/);
  // The summary says it failed too.
  expect(result.summary).toContain(`${name} failed`);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'actions-e2e-'));
  const htpasswd = path.join(dir, 'htpasswd');
  await writeHtpasswd(htpasswd, { [USER]: PASSWORD });
  registry = await startRegistry({ auth: { kind: 'htpasswd', file: htpasswd } });
  api = await startGithubApi({ token: DISPATCH_TOKEN });
  staging = registry.location('staging');
  production = registry.location('channel');
  productionStore = openStore(production, { credentials: { username: USER, password: PASSWORD } });
  workspace = path.join(dir, 'workspace');
  await mkdir(path.join(workspace, 'build'), { recursive: true });
  await buildPackage(path.join(workspace, 'build'), { name: 'good', version: '1.0', build: 'h0_0', subdir: 'linux-64', format: 'conda' });
  await buildPackage(path.join(workspace, 'build'), { name: 'good', version: '1.0', build: 'h0_0', subdir: 'linux-64', format: 'tar.bz2' });
  owners = await writeOwners(path.join(dir, 'owners'), { good: ['good'], stray: ['stray'] });
  runner = await createActionRunner({
    GITHUB_ACTOR: USER,
    GITHUB_REPOSITORY: 'conda-forge/good-feedstock',
    GITHUB_SHA: COMMIT,
    GITHUB_RUN_ID: '4242',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_API_URL: api.url,
  });
});

afterAll(async () => {
  await productionStore?.close();
  await api?.stop();
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('upload-to-staging reads a .tar.bz2 with the bundled JavaScript decoder on a runner without bzip2', async () => {
  // OCI_CHANNEL_BZIP2=js is what a runner without the bzip2 program gets: the decoder must be inside the bundle.
  const result = await run('upload-to-staging', { files: 'build/*.tar.bz2', staging: registry.location('staging-js-bzip2'), password: PASSWORD }, workspace, {
    OCI_CHANNEL_BZIP2: 'js',
  });
  expect(result.error).toBeUndefined();
  expect(result.code).toBe(0);
  expect(JSON.parse(result.outputs.artifacts!)).toEqual({
    'linux-64/good-1.0-h0_0.tar.bz2': await sha256File(path.join(workspace, 'build', 'good-1.0-h0_0.tar.bz2')),
  });
});

describe('the pipeline through the bundled actions', () => {
  let payload: Record<string, unknown>;

  test('upload-to-staging uploads the globbed packages and dispatches one promotion request', async () => {
    const result = await run('upload-to-staging', {
      files: 'build/*.conda\nbuild/*.tar.bz2',
      staging,
      password: PASSWORD,
      'target-repository': 'my-org/channel',
      'dispatch-token': DISPATCH_TOKEN,
    });
    expect(result.error).toBeUndefined();
    expect(result.code).toBe(0);
    const conda = 'linux-64/good-1.0-h0_0.conda';
    const bz2 = 'linux-64/good-1.0-h0_0.tar.bz2';
    const expected = {
      [conda]: await sha256File(path.join(workspace, 'build', 'good-1.0-h0_0.conda')),
      [bz2]: await sha256File(path.join(workspace, 'build', 'good-1.0-h0_0.tar.bz2')),
    };
    expect(JSON.parse(result.outputs.artifacts!)).toEqual(expected);
    expect(result.outputs.dispatches).toBe('1');
    expect(JSON.parse(result.outputs.result!).ok).toBe(true);
    // Exactly one request, to the target repository, with the dispatch token and the documented payload.
    const posts = api.requests.filter((r) => r.method === 'POST');
    expect(posts).toHaveLength(1);
    expect(posts[0]!.path).toBe('/repos/my-org/channel/dispatches');
    expect(posts[0]!.authorization).toBe(`token ${DISPATCH_TOKEN}`);
    expect(posts[0]!.body).toEqual({
      event_type: 'oci-channel-promote',
      client_payload: {
        uploader: 'good',
        artifacts: expected,
        repository: 'conda-forge/good-feedstock',
        commit: COMMIT,
        run_url: 'https://github.com/conda-forge/good-feedstock/actions/runs/4242',
      },
    });
    payload = api.dispatches[0]!.clientPayload;
    // Summary: one row per artifact with its status and digest.
    expect(result.summary).toContain('Uploaded to staging');
    expect(result.summary).toMatch(/<td>linux-64\/good-1\.0-h0_0\.conda<\/td><td>uploaded<\/td><td> <\/td><td><code>sha256:[0-9a-f]{64}<\/code><\/td>/);
    expect(result.summary).toContain('Requested promotion from my-org/channel in 1 dispatch(es).');
    // Masking comes before anything else the step prints.
    expect(result.stdout.split('\n')[0]).toBe(`::add-mask::${PASSWORD}`);
  });

  test('validate checks the dispatched payload and records passed verdicts', async () => {
    const result = await run('validate', {
      payload: JSON.stringify(payload),
      staging,
      production,
      'staging-password': PASSWORD,
      'production-password': PASSWORD,
      'verdict-key': VERDICT_KEY,
      owners,
    });
    expect(result.error).toBeUndefined();
    expect(result.outputs.ok).toBe('true');
    const parsed = JSON.parse(result.outputs.result!);
    expect(parsed.artifacts.map((a: { filename: string; verdict: string }) => [a.filename, a.verdict])).toEqual([
      ['good-1.0-h0_0.conda', 'passed'],
      ['good-1.0-h0_0.tar.bz2', 'passed'],
    ]);
    expect(result.summary).toContain('Validation');
    expect(result.summary).toMatch(/<td>linux-64\/good-1\.0-h0_0\.tar\.bz2<\/td><td>passed<\/td>/);
  });

  test('promote copies them to production and reports each, trusting the verdicts signed with the key', async () => {
    const result = await run('promote', {
      payload: JSON.stringify(payload),
      staging,
      production,
      'staging-password': PASSWORD,
      'production-password': PASSWORD,
      'verdict-key': VERDICT_KEY,
      owners,
    });
    expect(result.error).toBeUndefined();
    expect(result.outputs.ok).toBe('true');
    // The key reached promote: it trusted validate's signed verdicts instead of validating again.
    expect(result.stdout).not.toContain(': validating');
    expect(JSON.parse(result.outputs.promoted!)).toEqual(['linux-64/good-1.0-h0_0.conda', 'linux-64/good-1.0-h0_0.tar.bz2']);
    expect(result.summary).toMatch(/<td>linux-64\/good-1\.0-h0_0\.conda<\/td><td>promoted \(passed\)<\/td>/);
    // Production really holds the package now.
    expect(await productionStore.repository('linux-64/good').listTags()).toContain('1.0-h0_0');
  });

  test('reindex indexes the subdir (without an Actions cache service) and reports it', async () => {
    const out = path.join(dir, 'pages');
    const result = await run('reindex', { channel: production, password: PASSWORD, subdirs: 'linux-64', out });
    expect(result.error).toBeUndefined();
    expect(result.stdout).toContain('the Actions cache service is not available here');
    const parsed = JSON.parse(result.outputs.result!);
    expect(parsed.ok).toBe(true);
    expect(parsed.subdirs).toEqual([expect.objectContaining({ subdir: 'linux-64', packages: 2 })]);
    expect(result.outputs.changed).toBe('true');
    expect(result.summary).toMatch(/<td>linux-64<\/td><td>2<\/td>/);
    // The static tree for Pages holds the subdir's repodata with both packages.
    const repodata = JSON.parse(await readFile(path.join(out, 'linux-64', 'repodata.json'), 'utf8'));
    expect(Object.keys(repodata['packages.conda'] ?? {})).toEqual(['good-1.0-h0_0.conda']);
    expect(Object.keys(repodata.packages ?? {})).toEqual(['good-1.0-h0_0.tar.bz2']);
  });

  test('reindex keeps its record cache between runs with the Actions cache (new key per run, restored by prefix)', async () => {
    const cacheService = await startCacheService();
    try {
      // RUNNER_TEMP is the same directory in every job of a runner image, and the cache version hashes the path.
      const runnerTemp = path.join(dir, 'runner-temp');
      const cacheDir = path.join(runnerTemp, 'oci-channel-reindex-cache');
      await mkdir(runnerTemp, { recursive: true });
      const env = (runId: string) => ({ ACTIONS_CACHE_URL: cacheService.url, ACTIONS_RUNTIME_TOKEN: 'runtime-token', GITHUB_RUN_ID: runId, RUNNER_TEMP: runnerTemp });
      const first = await run('reindex', { channel: production, password: PASSWORD, subdirs: 'linux-64' }, workspace, env('5001'));
      expect(first.error).toBeUndefined();
      expect(first.stdout).toContain('no cache yet');
      const cached = await readdir(cacheDir, { recursive: true });
      expect(cached.length).toBeGreaterThan(0);
      // A new runner: nothing on disk until the cache is restored.
      await rm(cacheDir, { recursive: true, force: true });
      const second = await run('reindex', { channel: production, password: PASSWORD, subdirs: 'linux-64' }, workspace, env('5002'));
      expect(second.error).toBeUndefined();
      const [key1, key2] = cacheService.entries.filter((e) => e.committed).map((e) => e.key);
      expect(key1).toMatch(/^oci-channel-reindex-v1-[0-9a-f]{16}-5001-1$/);
      expect(key2).toBe(key1!.replace('-5001-1', '-5002-1'));
      const prefix = key1!.replace('5001-1', '');
      expect(cacheService.lookups).toEqual([
        [`${prefix}5001-1`, prefix],
        [`${prefix}5002-1`, prefix],
      ]);
      expect(second.stdout).toContain(`restored ${key1}`);
      expect((await readdir(cacheDir, { recursive: true })).sort()).toEqual(expect.arrayContaining(cached.sort()));
      expect(JSON.parse(second.outputs.result!).subdirs).toEqual([expect.objectContaining({ subdir: 'linux-64', packages: 2 })]);
    } finally {
      await cacheService.stop();
    }
  });

  test('gc-staging reports in a dry run, then deletes an old unpromoted artifact', async () => {
    const stray = path.join(dir, 'stray');
    await buildPackage(stray, { name: 'stray', version: '0.1', build: '0', subdir: 'noarch', format: 'conda' });
    const uploaded = await run('upload-to-staging', { files: '*.conda', staging, password: PASSWORD }, stray);
    expect(uploaded.code).toBe(0);
    expect(uploaded.outputs.dispatches).toBe('0');

    const dry = await run('gc-staging', { channel: staging, password: PASSWORD, 'older-than': '0s', 'dry-run': 'true' });
    expect(dry.error).toBeUndefined();
    const dryResult = JSON.parse(dry.outputs.result!);
    expect(dryResult.deleted.map((d: { repository: string; dryRun: boolean }) => [d.repository, d.dryRun])).toContainEqual(['staging/noarch/stray', true]);
    expect(dry.summary).toContain('dry run: nothing deleted');

    const real = await run('gc-staging', { channel: staging, password: PASSWORD, 'older-than': '0s' });
    expect(real.error).toBeUndefined();
    expect(JSON.parse(real.outputs.result!).deleted.map((d: { repository: string }) => d.repository)).toContain('staging/noarch/stray');
    expect(Number(real.outputs.deleted)).toBeGreaterThan(0);
  });
});

describe('gc-staging on a registry that cannot delete (as ghcr.io)', () => {
  test('deletes the package version through the GitHub Packages API', async () => {
    const noDelete = await startRegistry({ deleteEnabled: false });
    try {
      const channel = noDelete.location('my-org/staging');
      const pkgDir = path.join(dir, 'nodelete');
      await buildPackage(pkgDir, { name: 'leftover', version: '2.0', build: '0', subdir: 'noarch', format: 'conda' });
      expect((await run('upload-to-staging', { files: '*.conda', staging: channel }, pkgDir)).code).toBe(0);
      const store = openStore(channel);
      const digest = (await store.repository('noarch/leftover').fetchManifest('2.0-0')).descriptor.digest;
      await store.close();
      api.addPackage('my-org', 'staging/noarch/leftover', [
        { id: 901, name: digest, tags: ['2.0-0'], createdAt: '2026-01-01T00:00:00Z' },
        // Another build, still tagged: the package stays, so only the old version is deleted.
        { id: 902, name: `sha256:${'e'.repeat(64)}`, tags: ['2.1-0'], createdAt: '2026-01-01T00:00:00Z' },
      ]);
      api.requests.length = 0;
      const result = await runner.run(
        'gc-staging',
        { channel, 'older-than': '0s', 'github-packages-api': 'true', 'github-token': DISPATCH_TOKEN },
        { cwd: workspace },
      );
      runs.push({ name: 'gc-staging', inputs: { 'github-token': DISPATCH_TOKEN }, run: result });
      expect(result.error).toBeUndefined();
      expect(JSON.parse(result.outputs.result!).deleted).toEqual([
        expect.objectContaining({ repository: 'my-org/staging/noarch/leftover', tag: '2.0-0', digest, dryRun: false }),
      ]);
      // The owner comes from the channel path; the package name is the rest, '/' encoded; only that version goes.
      expect(api.requests.map((r) => `${r.method} ${r.url} ${r.authorization}`)).toEqual([
        `GET /orgs/my-org/packages/container/staging%2Fnoarch%2Fleftover/versions?per_page=100&state=active token ${DISPATCH_TOKEN}`,
        `DELETE /orgs/my-org/packages/container/staging%2Fnoarch%2Fleftover/versions/901 token ${DISPATCH_TOKEN}`,
      ]);
      expect(api.packages.get('my-org')!.get('staging/noarch/leftover')!.map((v) => v.id)).toEqual([902]);
    } finally {
      await noDelete.stop();
    }
  });
});

describe('wrong inputs fail with a one-line reason and publish nothing', () => {
  test('upload-to-staging: a location that is not a channel', async () => {
    const result = await run('upload-to-staging', { files: 'build/*.conda', staging: 'https://example.com/x', password: PASSWORD });
    expectOneLineFailure(result, 'upload-to-staging', /^upload-to-staging: input staging: /);
  });

  test('upload-to-staging: a wrong password is refused and nothing is dispatched', async () => {
    const before = api.requests.length;
    const result = await run('upload-to-staging', {
      files: 'build/*.conda',
      staging: registry.location('other-staging'),
      password: `${PASSWORD}-wrong`,
      'target-repository': 'my-org/channel',
      'dispatch-token': DISPATCH_TOKEN,
    });
    expect(result.code).toBe(1);
    expect(result.error).toMatch(/^upload-to-staging: /);
    expect(result.error).toMatch(/nothing was dispatched|unauthori[sz]ed|credentials/i);
    expect(api.requests.length).toBe(before);
    expect(secretLeaks(result, `${PASSWORD}-wrong`)).toEqual([]);
  });

  test('validate: a payload with an extra key or a path escape', async () => {
    const extra = await run('validate', {
      payload: JSON.stringify({ uploader: 'good', artifacts: { 'linux-64/good-1.0-h0_0.conda': 'a'.repeat(64) }, extra: 1 }),
      staging,
      production,
      'staging-password': PASSWORD,
      'production-password': PASSWORD,
    });
    expectOneLineFailure(extra, 'validate', /input payload: invalid promotion payload: payload has unexpected key "extra"/);
    const escape = await run('validate', {
      payload: JSON.stringify({ uploader: 'good', artifacts: { 'linux-64/../x-1-0.conda': 'a'.repeat(64) } }),
      staging,
      production,
      'staging-password': PASSWORD,
      'production-password': PASSWORD,
    });
    expectOneLineFailure(escape, 'validate', /artifact key "linux-64\/..\/x-1-0.conda"/);
  });

  test('promote: a payload that is not JSON, and a failed verdict is not promoted', async () => {
    const notJson = await run('promote', { payload: '{nope', staging, production, 'staging-password': PASSWORD, 'production-password': PASSWORD });
    expectOneLineFailure(notJson, 'promote', /input payload: promotion payload is not JSON/);
    const stranger = await run('promote', {
      payload: JSON.stringify({ uploader: 'good', artifacts: { 'noarch/absent-1.0-0.conda': 'b'.repeat(64) } }),
      staging,
      production,
      'staging-password': PASSWORD,
      'production-password': PASSWORD,
    });
    expectOneLineFailure(stranger, 'promote', /1 of 1 artifact\(s\) were not promoted, first noarch\/absent-1\.0-0\.conda: /);
    expect(stranger.outputs.ok).toBe('false');
    expect(await productionStore.listRepositories()).not.toContain('noarch/absent');
  });

  test('validate: a verdict key too short to be a key', async () => {
    const result = await run('validate', {
      payload: JSON.stringify({ uploader: 'good', artifacts: { 'noarch/a-1-0.conda': 'c'.repeat(64) } }),
      staging,
      production,
      'staging-password': PASSWORD,
      'production-password': PASSWORD,
      'verdict-key': 'short-key',
    });
    expectOneLineFailure(result, 'validate', /32/);
    expect(secretLeaks(result, 'short-key')).toEqual([]);
  });

  test('reindex: a subdir that is not one', async () => {
    const result = await run('reindex', { channel: production, password: PASSWORD, subdirs: 'linux-64, Linux_64' });
    expectOneLineFailure(result, 'reindex', /input subdirs has "Linux_64": expected conda subdirs/);
  });

  test('gc-staging: an age without a unit', async () => {
    const result = await run('gc-staging', { channel: staging, password: PASSWORD, 'older-than': '7 days' });
    expectOneLineFailure(result, 'gc-staging', /input older-than is "7 days": expected a number and a unit/);
  });
});

describe('secrets', () => {
  test('no password or token appears in any run\'s stdout, stderr, outputs or summary, on success or failure', () => {
    expect(runs.length).toBeGreaterThanOrEqual(14);
    expect(runs.some(({ run }) => run.code === 0)).toBe(true);
    expect(runs.some(({ run }) => run.code !== 0)).toBe(true);
    const leaks = runs.flatMap(({ name, run }, index) =>
      SECRETS.flatMap((secret) => secretLeaks(run, secret).map((where) => `${index}:${name}:${where}:${secret.slice(0, 6)}`)),
    );
    expect(leaks).toEqual([]);
  });

  test('every run masks the secrets it was given before printing anything else', () => {
    for (const { inputs, run } of runs) {
      const lines = run.stdout.split('\n');
      const firstOther = lines.findIndex((l) => !l.startsWith('::add-mask::'));
      const masks = lines.slice(0, firstOther).map((l) => l.slice('::add-mask::'.length));
      // (Libraries may mask more later, e.g. @actions/cache its signed download URL; ours come first.)
      const given = Object.entries(inputs).filter(([key]) => /password|token|key/.test(key)).map(([, value]) => value);
      for (const secret of given) expect(masks).toContain(secret);
      // The Basic-auth form the registry client sends is masked too.
      if (Object.values(inputs).includes(PASSWORD)) expect(masks).toContain(Buffer.from(`${USER}:${PASSWORD}`).toString('base64'));
    }
  });
});
