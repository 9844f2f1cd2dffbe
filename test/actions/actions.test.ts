// The bundled actions, run as the runner runs them, against a real docker-registry (htpasswd auth), a
// loopback GitHub API and a loopback OIDC issuer standing in for GitHub's (ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN):
// upload -> dispatch (with an identity token) -> validate -> promote -> reindex -> gc, each run's outputs and
// summary checked, wrong inputs failing with their one-line reason, and the password never shown.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { openStore, type Store } from '@oci-channel/oci';
import { listLabelTags, promotionAudience, readLabelChange, type ArtifactRef } from '@oci-channel/pipeline';
import { startGithubApi, type FakeGithubApi } from '../harness/github-api.ts';
import { startOidcIssuer, type RunningOidcIssuer } from '../harness/oidc-issuer.ts';
import { writeHtpasswd } from '../harness/htpasswd.ts';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { serveChannel } from '../harness/channel-server.ts';
import { buildPackage, sha256File } from '../helpers/hostile-packages.ts';
import { writeOwners } from '../pipeline/pipeline-helpers.ts';
import { startCacheService } from './cache-server.ts';
import { createActionRunner, ROOT, secretLeaks, WORKFLOW_TOKEN, type ActionRun, type ActionRunner } from './run-action.ts';

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
let issuer: RunningOidcIssuer;
/** Identity tokens handed to the actions: secrets like any other. */
const tokens: string[] = [];
const runs: Array<{ name: string; inputs: Record<string, string>; run: ActionRun }> = [];

/** The inputs every validate and promote run of the channel gets: owners and who may publish. */
function channelInputs(): Record<string, string> {
  return { owners, 'oidc-issuer': issuer.url, 'allowed-owners': 'conda-forge' };
}

/** A promotion payload with an identity token for exactly these artifacts, from `repository`. */
async function signedPayload(artifacts: Record<string, string>, repository = 'conda-forge/good-feedstock', uploader = 'good'): Promise<string> {
  const refs: ArtifactRef[] = Object.entries(artifacts).map(([key, sha256]) => ({ subdir: key.split('/')[0]!, filename: key.split('/')[1]!, sha256 }));
  const token = await issuer.mint(promotionAudience(refs), { claims: { repository, sub: `repo:${repository}:ref:refs/heads/main` } });
  tokens.push(token);
  return JSON.stringify({ uploader, artifacts, identity_token: token });
}

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
  issuer = await startOidcIssuer();
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
  await issuer?.stop();
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

  test('upload-to-staging uploads the globbed packages and dispatches one promotion request with its identity token', async () => {
    const result = await run(
      'upload-to-staging',
      {
        files: 'build/*.conda\nbuild/*.tar.bz2',
        staging,
        password: PASSWORD,
        'target-repository': 'my-org/channel',
        'dispatch-token': DISPATCH_TOKEN,
      },
      workspace,
      issuer.actionsEnv,
    );
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
        request_id: expect.stringMatching(/^4242-1-[0-9a-f]{8}$/),
        identity_token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
      },
    });
    const requestId = (posts[0]!.body as { client_payload: { request_id: string } }).client_payload.request_id;
    expect(JSON.parse(result.outputs['request-ids']!)).toEqual([requestId]);
    payload = api.dispatches[0]!.clientPayload;
    tokens.push(payload.identity_token as string);
    // The token was minted through the Actions endpoint for exactly this dispatch's artifacts and hashes.
    const refs = Object.entries(expected).map(([key, sha256]) => ({ subdir: 'linux-64', filename: key.slice('linux-64/'.length), sha256 }));
    expect(issuer.minted).toEqual([promotionAudience(refs)]);
    expect(result.stdout).toContain(`::add-mask::${payload.identity_token as string}`);
    // Summary: one row per artifact with its status and digest.
    expect(result.summary).toContain('Uploaded to staging');
    expect(result.summary).toMatch(/<td>linux-64\/good-1\.0-h0_0\.conda<\/td><td>uploaded<\/td><td> <\/td><td><code>sha256:[0-9a-f]{64}<\/code><\/td>/);
    // Where the promotion runs, and the id its run carries.
    expect(result.summary).toContain(`Sent 1 promotion request(s) (${requestId}) to my-org/channel.`);
    expect(result.summary).toContain('<a href="https://github.com/my-org/channel/actions?query=event%3Arepository_dispatch">');
    // Masking comes before anything else the step prints.
    expect(result.stdout.split('\n')[0]).toBe(`::add-mask::${PASSWORD}`);
  });

  test('validate verifies the identity token, checks the dispatched payload (reading the packages in the bundled child) and records passed verdicts', async () => {
    const result = await run('validate', {
      payload: JSON.stringify(payload),
      staging,
      production,
      'staging-password': PASSWORD,
      'production-password': PASSWORD,
      'verdict-key': VERDICT_KEY,
      ...channelInputs(),
    });
    expect(result.error).toBeUndefined();
    expect(result.outputs.ok).toBe('true');
    const parsed = JSON.parse(result.outputs.result!);
    expect(parsed.uploader).toEqual({
      name: 'good',
      verified: true,
      repository: 'conda-forge/good-feedstock',
      workflow: 'conda-forge/oci-channel/.github/workflows/upload.yml@refs/tags/v1.2.0',
    });
    expect(parsed.artifacts[0].checks).toEqual(
      expect.arrayContaining([
        { name: 'package', ok: true, detail: 'good 1.0 h0_0 (linux-64)' },
        { name: 'canonical-manifest', ok: true, detail: 'the staged manifest is the one the package yields' },
        { name: 'owner', ok: true, detail: 'good owns good (verified: conda-forge/good-feedstock)' },
      ]),
    );
    expect(result.summary).toContain('<th>Uploader</th><td>verified: conda-forge/good-feedstock (workflow conda-forge/oci-channel/.github/workflows/upload.yml@refs/tags/v1.2.0)</td>');
    expect(parsed.artifacts.map((a: { filename: string; verdict: string }) => [a.filename, a.verdict])).toEqual([
      ['good-1.0-h0_0.conda', 'passed'],
      ['good-1.0-h0_0.tar.bz2', 'passed'],
    ]);
    expect(result.summary).toContain('Validation');
    expect(result.summary).toMatch(/<td>linux-64\/good-1\.0-h0_0\.tar\.bz2<\/td><td>passed<\/td>/);
  });

  test('promote copies them to production and reports each, trusting the verdicts signed with the key', async () => {
    const result = await run(
      'promote',
      {
        payload: JSON.stringify(payload),
        staging,
        production,
        'staging-password': PASSWORD,
        'production-password': PASSWORD,
        'verdict-key': VERDICT_KEY,
        ...channelInputs(),
      },
      workspace,
      { GITHUB_REPOSITORY: 'my-org/channel' },
    );
    expect(result.error).toBeUndefined();
    expect(result.outputs.ok).toBe('true');
    // The key reached promote: it trusted validate's signed verdicts instead of validating again.
    expect(result.stdout).not.toContain(': validating');
    expect(JSON.parse(result.outputs.promoted!)).toEqual(['linux-64/good-1.0-h0_0.conda', 'linux-64/good-1.0-h0_0.tar.bz2']);
    expect(result.summary).toMatch(/<td>linux-64\/good-1\.0-h0_0\.conda<\/td><td>promoted \(passed\)<\/td>/);
    // The request: its id, who sent it (verified by its identity token), from which run.
    expect(result.summary).toContain(`<th>Request id</th><td><code>${payload.request_id}</code></td>`);
    expect(result.summary).toMatch(/<th>Uploader<\/th><td>verified: conda-forge\/good-feedstock/);
    expect(result.summary).toContain('<th>Source run</th><td><a href="https://github.com/conda-forge/good-feedstock/actions/runs/4242">');
    // Production really holds the package now, under the channel's own source (staging said the feedstock's).
    expect(await productionStore.repository('linux-64/good').listTags()).toContain('1.0-h0_0');
    const published = JSON.parse(Buffer.from((await productionStore.repository('linux-64/good').fetchManifest('1.0-h0_0')).bytes).toString('utf8'));
    expect(published.annotations['org.opencontainers.image.source']).toBe('https://github.com/my-org/channel');
    expect(result.summary).toContain('<th>Uploader</th><td>verified: conda-forge/good-feedstock');
  });

  test('one artifact failing validation does not hold back the other: validate fails, promote promotes the good one and fails listing the bad', async () => {
    const pkgDir = path.join(dir, 'mixed');
    await buildPackage(pkgDir, { name: 'good', version: '2.0', build: 'h0_0', subdir: 'linux-64', format: 'conda' });
    await buildPackage(pkgDir, { name: 'good', version: '3.0', build: 'h0_0', subdir: 'noarch', format: 'conda' });
    const up = await run('upload-to-staging', { files: '*.conda', staging, password: PASSWORD }, pkgDir);
    expect(up.code).toBe(0);
    const uploaded = JSON.parse(up.outputs.artifacts!) as Record<string, string>;
    // The second one is declared with a hash it does not have.
    const mixed = { ...JSON.parse(await signedPayload({ ...uploaded, 'noarch/good-3.0-h0_0.conda': 'f'.repeat(64) })), request_id: 'mixed-1' };
    const mixedProduction = registry.location('channel-mixed');
    const inputs = { payload: JSON.stringify(mixed), staging, production: mixedProduction, 'staging-password': PASSWORD, 'production-password': PASSWORD, 'verdict-key': VERDICT_KEY, ...channelInputs() };
    const validated = await run('validate', inputs);
    expectOneLineFailure(validated, 'validate', /1 of 2 artifact\(s\) failed validation, first noarch\/good-3\.0-h0_0\.conda: declared sha256 f{64} but staging holds/);
    const promoted = await run('promote', inputs);
    expectOneLineFailure(promoted, 'promote', /1 of 2 artifact\(s\) were not promoted, first noarch\/good-3\.0-h0_0\.conda: declared sha256 f{64}/);
    expect(JSON.parse(promoted.outputs.promoted!)).toEqual(['linux-64/good-2.0-h0_0.conda']);
    const store = openStore(mixedProduction, { credentials: { username: USER, password: PASSWORD } });
    try {
      expect(await store.repository('linux-64/good').listTags()).toEqual(['2.0-h0_0']);
      expect(await store.repository('noarch/good').listTags()).toEqual([]);
    } finally {
      await store.close();
    }
    expect(promoted.summary).toContain('<th>Request id</th><td><code>mixed-1</code></td>');
    expect(promoted.summary).toMatch(/1 artifact\(s\) were not promoted<\/h4>\s*<ul><li><code>noarch\/good-3\.0-h0_0\.conda<\/code>: declared sha256 f{64} but staging holds [0-9a-f]{64}/);
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

  test('mirror copies the static tree reindex wrote into another channel, then finds nothing new', async () => {
    const tree = await serveChannel(path.join(dir, 'pages'));
    try {
      const inputs = { from: tree.url, to: registry.location('mirrored'), password: PASSWORD, subdirs: 'linux-64', production: 'true' };
      const result = await run('mirror', inputs);
      expect(result.error).toBeUndefined();
      expect(result.code).toBe(0);
      expect(result.outputs).toMatchObject({ ok: 'true', mirrored: '2' });
      expect(JSON.parse(result.outputs.summary!)).toMatchObject({ selected: 2, mirrored: 2, alreadyThere: 0, refused: 0, failed: 0 });
      const full = JSON.parse(await readFile(result.outputs['result-file']!, 'utf8'));
      expect(full.artifacts.map((a: { filename: string; status: string }) => `${a.status} ${a.filename}`)).toEqual(['mirrored good-1.0-h0_0.conda', 'mirrored good-1.0-h0_0.tar.bz2']);
      // reindex --out writes CEP 16 shards: they are what the mirror reads.
      expect(result.summary).toMatch(/<td>linux-64<\/td><td>shards<\/td><td>2<\/td>/);
      expect(result.summary).toContain('2 mirrored, 0 already there, 0 refused, 0 failed, 0 removed upstream');
      const again = await run('mirror', inputs);
      expect(again.outputs).toMatchObject({ ok: 'true', mirrored: '0' });
    } finally {
      await tree.stop();
    }
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

  test('label marks a build broken from its inputs, a committed request file unmarks it, reindex publishes each', async () => {
    const marked = await run('label', { channel: production, password: PASSWORD, artifacts: 'linux-64/good-1.0-h0_0.conda', add: 'broken', reason: 'https://example.invalid/issues/7' });
    expect(marked.error).toBeUndefined();
    expect(marked.outputs.changed).toBe('true');
    expect(JSON.parse(marked.outputs.result!)[0].artifacts[0]).toMatchObject({ status: 'changed', labels: ['broken', 'main'], recorded: ['add broken'] });
    expect(marked.summary).toContain('<td>linux-64/good-1.0-h0_0.conda</td><td>changed: add broken (now broken, main)</td>');
    // Who (the workflow's actor) and why are in the label log.
    const [tag] = await listLabelTags(productionStore);
    expect(await readLabelChange(productionStore, tag!)).toMatchObject({ actor: USER, reason: 'https://example.invalid/issues/7', label: 'broken', action: 'add' });
    const indexed = await run('reindex', { channel: production, password: PASSWORD, subdirs: 'linux-64' });
    expect(JSON.parse(indexed.outputs.result!).subdirs[0]).toMatchObject({ removed: 1, labels: [{ label: 'broken', packages: 1, pushed: true }] });

    await mkdir(path.join(workspace, 'label-requests'), { recursive: true });
    await writeFile(path.join(workspace, 'label-requests', 'unbreak-good.yml'), 'artifacts:\n  - linux-64/good-1.0-h0_0.conda\nremove: broken\nreason: fixed upstream\n');
    const unmarked = await run('label', { channel: production, password: PASSWORD, requests: 'label-requests/*.yml' });
    expect(unmarked.error).toBeUndefined();
    expect(JSON.parse(unmarked.outputs.result!)).toEqual([
      expect.objectContaining({ source: expect.stringMatching(/label-requests\/unbreak-good\.yml$/), artifacts: [expect.objectContaining({ status: 'changed', labels: ['main'] })] }),
    ]);
    const again = await run('reindex', { channel: production, password: PASSWORD, subdirs: 'linux-64' });
    expect(JSON.parse(again.outputs.result!).subdirs[0]).toMatchObject({ packages: 2, labels: [{ label: 'broken', packages: 0, pushed: true }] });
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
      // The package and the upload intent left beside it (records/write-intent.ts; this API stand-in does not
      // list the intent as a version, so only the package's version is deleted through it).
      expect(JSON.parse(result.outputs.result!).deleted).toEqual([
        expect.objectContaining({ repository: 'my-org/staging/noarch/leftover', tag: '2.0-0', digest, dryRun: false }),
        expect.objectContaining({ repository: 'my-org/staging/noarch/leftover', tag: expect.stringMatching(/^_uploading\./), reason: expect.stringMatching(/^upload intent/), dryRun: false }),
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

  test('upload-to-staging: dispatching from a job without id-token: write says what to grant and sends nothing', async () => {
    const before = api.requests.length;
    const result = await run('upload-to-staging', {
      files: 'build/*.conda',
      staging,
      password: PASSWORD,
      'target-repository': 'my-org/channel',
      'dispatch-token': DISPATCH_TOKEN,
    });
    expectOneLineFailure(result, 'upload-to-staging', /cannot mint the OIDC identity token the promotion request needs: give it permissions id-token: write/);
    expect(api.requests.length).toBe(before);
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
    const notJson = await run('promote', { payload: '{nope', staging, production, 'staging-password': PASSWORD, 'production-password': PASSWORD, ...channelInputs() });
    expectOneLineFailure(notJson, 'promote', /input payload: promotion payload is not JSON/);
    const stranger = await run('promote', {
      payload: await signedPayload({ 'noarch/absent-1.0-0.conda': 'b'.repeat(64) }),
      staging,
      production,
      'staging-password': PASSWORD,
      'production-password': PASSWORD,
      ...channelInputs(),
    });
    expectOneLineFailure(stranger, 'promote', /1 of 1 artifact\(s\) were not promoted, first noarch\/absent-1\.0-0\.conda: /);
    expect(stranger.outputs.ok).toBe('false');
    expect(await productionStore.listRepositories()).not.toContain('noarch/absent');
  });

  test('validate: a verdict key too short to be a key', async () => {
    const result = await run('validate', {
      payload: await signedPayload({ 'noarch/a-1-0.conda': 'c'.repeat(64) }),
      staging,
      production,
      'staging-password': PASSWORD,
      'production-password': PASSWORD,
      'verdict-key': 'short-key',
      ...channelInputs(),
    });
    expectOneLineFailure(result, 'validate', /32/);
    expect(secretLeaks(result, 'short-key')).toEqual([]);
  });

  test('validate and promote fail closed: no owners configured, no identity token, a token from elsewhere', async () => {
    const artifacts = { 'noarch/stray-0.2-0.conda': 'd'.repeat(64) };
    const base = { staging, production, 'staging-password': PASSWORD, 'production-password': PASSWORD };
    const noOwners = await run('promote', { ...base, payload: await signedPayload(artifacts), 'oidc-issuer': issuer.url, 'allowed-owners': 'conda-forge' });
    expectOneLineFailure(noOwners, 'promote', /input owners is required: the path of a feedstock-outputs checkout .*, or none for a channel with a single uploader/);
    const unsigned = await run('validate', { ...base, payload: JSON.stringify({ uploader: 'stray', artifacts }), ...channelInputs() });
    expectOneLineFailure(unsigned, 'validate', /the promotion request carries no identity_token: the uploader is not proved/);
    const httpIssuer = await run('validate', { ...base, payload: await signedPayload(artifacts), ...channelInputs(), 'oidc-issuer': 'http://issuer.example.com' });
    expectOneLineFailure(httpIssuer, 'validate', /input oidc-issuer: .*plain http/);
    // A pull_request run's token is refused before anything is read.
    const refs = [{ subdir: 'noarch', filename: 'stray-0.2-0.conda', sha256: 'd'.repeat(64) }];
    const prToken = await issuer.mint(promotionAudience(refs), { claims: { event_name: 'pull_request' } });
    tokens.push(prToken);
    const pr = await run('validate', { ...base, payload: JSON.stringify({ uploader: 'good', artifacts, identity_token: prToken }), ...channelInputs() });
    expectOneLineFailure(pr, 'validate', /pull_request run of conda-forge\/good-feedstock: pull request workflows never publish/);
    expect(pr.summary).toContain('<th>Uploader</th><td>not verified (the identity token was refused)</td>');
  });

  test('the payload\'s uploader does not decide: the token\'s repository does (and does not own the name)', async () => {
    const strayDir = path.join(dir, 'claimed');
    await buildPackage(strayDir, { name: 'stray', version: '0.2', build: '0', subdir: 'noarch', format: 'conda' });
    const sha = await sha256File(path.join(strayDir, 'stray-0.2-0.conda'));
    expect((await run('upload-to-staging', { files: '*.conda', staging, password: PASSWORD }, strayDir)).code).toBe(0);
    // The request claims uploader "stray" (the owner); the token is good-feedstock's.
    const payloadText = await signedPayload({ 'noarch/stray-0.2-0.conda': sha }, 'conda-forge/good-feedstock', 'stray');
    const result = await run('promote', { payload: payloadText, staging, production, 'staging-password': PASSWORD, 'production-password': PASSWORD, ...channelInputs() });
    expectOneLineFailure(result, 'promote', /uploader good does not own package name stray \(owners: stray\) \(verified: conda-forge\/good-feedstock\)/);
    expect(result.stdout).toContain('the payload says uploader stray, the identity token decides');
    expect(await productionStore.listRepositories()).not.toContain('noarch/stray');
  });

  test('reindex: a subdir that is not one', async () => {
    const result = await run('reindex', { channel: production, password: PASSWORD, subdirs: 'linux-64, Linux_64' });
    expectOneLineFailure(result, 'reindex', /input subdirs has "Linux_64": expected conda subdirs/);
  });

  test('mirror: a source that is no channel URL', async () => {
    const result = await run('mirror', { from: 'ftp://example.org/conda-forge', to: production, password: PASSWORD });
    expectOneLineFailure(result, 'mirror', /input from is "ftp:\/\/example\.org\/conda-forge": an http\(s\) conda channel URL or an oci-channel location/);
  });

  test('label: a label that is none, a request file with a stray key; upload-to-staging: a bad label; reindex: two patches packages', async () => {
    const before = (await listLabelTags(productionStore)).length;
    const bad = await run('label', { channel: production, password: PASSWORD, artifacts: 'linux-64/good-1.0-h0_0.conda', add: 'Broken' });
    expectOneLineFailure(bad, 'label', /^label: inputs: label "Broken" may only hold lowercase letters/);
    await mkdir(path.join(dir, 'requests'), { recursive: true });
    await writeFile(path.join(dir, 'requests', 'r.yml'), 'artifacts: [linux-64/good-1.0-h0_0.conda]\nadd: broken\nlabel: rc\n');
    const stray = await run('label', { channel: production, password: PASSWORD, requests: 'r.yml' }, path.join(dir, 'requests'));
    expectOneLineFailure(stray, 'label', /r\.yml: unknown key "label" \(allowed: artifacts, add, remove, reason\)/);
    expect(await listLabelTags(productionStore)).toHaveLength(before);
    const upload = await run('upload-to-staging', { files: 'build/*.conda', staging, password: PASSWORD, label: 'rc/main' });
    expectOneLineFailure(upload, 'upload-to-staging', /input label is "rc\/main": a channel label/);
    const both = await run('reindex', { channel: production, password: PASSWORD, 'patch-generator': 'x.conda', 'patch-package': 'conda-forge-repodata-patches' });
    expectOneLineFailure(both, 'reindex', /inputs patch-generator and patch-package name two patches packages/);
  });

  test('gc-staging: an age without a unit', async () => {
    const result = await run('gc-staging', { channel: staging, password: PASSWORD, 'older-than': '7 days' });
    expectOneLineFailure(result, 'gc-staging', /input older-than is "7 days": expected a number and a unit/);
  });

  test('gc-staging refuses the production channel and deletes nothing; allow-production-channel lets a dry run through', async () => {
    const before = await productionStore.repository('linux-64/good').listTags();
    expect(before).toContain('1.0-h0_0');
    const refused = await run('gc-staging', { channel: production, password: PASSWORD, 'older-than': '0s' });
    expectOneLineFailure(refused, 'gc-staging', /holds a promotion log .*it is a production channel.*--allow-production-channel.*Nothing was deleted/);
    expect(refused.outputs.deleted).toBeUndefined();
    expect(await productionStore.repository('linux-64/good').listTags()).toEqual(before);
    // Admitted, the same channel is collected like staging: in a dry run every package is listed, none deleted.
    const admitted = await run('gc-staging', { channel: production, password: PASSWORD, 'older-than': '0s', 'dry-run': 'true', 'allow-production-channel': 'true' });
    expect(admitted.error).toBeUndefined();
    const deleted = JSON.parse(admitted.outputs.result!).deleted as Array<{ repository: string; tag?: string; dryRun: boolean }>;
    expect(deleted).toContainEqual(expect.objectContaining({ repository: 'channel/linux-64/good', tag: '1.0-h0_0', dryRun: true }));
    expect(await productionStore.repository('linux-64/good').listTags()).toEqual(before);
  });

  test('reindex refuses a subdir conda does not know and writes nothing; allow-subdirs admits the new platform', async () => {
    const refused = await run('reindex', { channel: production, password: PASSWORD, subdirs: 'linux-sparc64' });
    expectOneLineFailure(refused, 'reindex', /unknown subdir "linux-sparc64": .*admit a new platform .*allow-subdirs.*nothing was written/);
    expect(await productionStore.listRepositories()).not.toContain('linux-sparc64/repodata.json');
    const admitted = await run('reindex', { channel: production, password: PASSWORD, subdirs: 'linux-sparc64', 'allow-subdirs': 'linux-sparc64' });
    expect(admitted.error).toBeUndefined();
    expect(JSON.parse(admitted.outputs.result!).subdirs).toEqual([expect.objectContaining({ subdir: 'linux-sparc64', packages: 0 })]);
    expect(await productionStore.repository('linux-sparc64/repodata.json').listTags()).toContain('latest');
    const badShape = await run('reindex', { channel: production, password: PASSWORD, 'allow-subdirs': 'Sparc 64' });
    expectOneLineFailure(badShape, 'reindex', /input allow-subdirs has "Sparc 64": expected conda subdirs/);
  });
});

test('across these runs each action read exactly the inputs its action.yml declares', async () => {
  const read = new Map<string, Set<string>>();
  for (const { name, run } of runs) for (const input of run.inputsRead) (read.get(name) ?? read.set(name, new Set()).get(name)!).add(input);
  expect([...read.keys()].sort()).toEqual(['gc-staging', 'label', 'mirror', 'promote', 'reindex', 'upload-to-staging', 'validate']);
  for (const [name, inputs] of read) {
    const declared = Object.keys((YAML.parse(await readFile(path.join(ROOT, 'actions', name, 'action.yml'), 'utf8')) as { inputs: object }).inputs);
    expect({ name, read: [...inputs].sort() }).toEqual({ name, read: declared.sort() });
  }
});

describe('secrets', () => {
  test('no password or token appears in any run\'s stdout, stderr, outputs or summary, on success or failure', () => {
    expect(runs.length).toBeGreaterThanOrEqual(14);
    expect(runs.some(({ run }) => run.code === 0)).toBe(true);
    expect(runs.some(({ run }) => run.code !== 0)).toBe(true);
    expect(tokens.length).toBeGreaterThan(3);
    const leaks = runs.flatMap(({ name, run }, index) =>
      [...SECRETS, ...tokens].flatMap((secret) => secretLeaks(run, secret).map((where) => `${index}:${name}:${where}:${secret.slice(0, 6)}`)),
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
