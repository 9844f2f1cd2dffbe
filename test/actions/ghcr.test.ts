// The bundled actions, run as the runner runs them, on the ghcr.io stand-in with the recommended identities
// (test/helpers/ghcr-world.ts): upload-to-staging with the staging identity, validate, promote with the release
// identity (the summary says what it streamed because ghcr.io does not mount; new packages' visibility read with
// the workflow token), reindex with the channel repository's workflow token (warning that the schedules of an
// inactive public repository are about to stop), gc-staging through the REST API, stopping at the budget reserve
// and finishing on the next run. No token appears in any output.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promotionAudience } from '@oci-channel/pipeline';
import { startOidcIssuer, type RunningOidcIssuer } from '../harness/oidc-issuer.ts';
import { buildPackage, sha256File } from '../helpers/hostile-packages.ts';
import { packageNames, startGhcrWorld, TOKENS, type GhcrWorld } from '../helpers/ghcr-world.ts';
import { createActionRunner, secretLeaks, type ActionRun, type ActionRunner } from './run-action.ts';

const VERDICT_KEY = 'vk-actions-ghcr-9f8e7d6c5b4a39281706f5e4d3c2b1a0';
const BUDGET_TOKEN = 'ghp_StageBotSmallBudgetDISTINCT00000000000';
const LATER_TOKEN = 'ghp_StageBotNextHourDISTINCT0000000000000';
const SECRETS = [...Object.values(TOKENS), VERDICT_KEY, BUDGET_TOKEN, LATER_TOKEN];

let world: GhcrWorld;
let dir: string;
let workspace: string;
let runner: ActionRunner;
const runs: ActionRun[] = [];
let payload: string;
let issuer: RunningOidcIssuer;
/** Identity tokens handed to the actions: secrets like any other. */
const identityTokens: string[] = [];

async function run(name: string, inputs: Record<string, string>, env: Record<string, string> = {}): Promise<ActionRun> {
  const result = await runner.run(name, inputs, { cwd: workspace, env });
  runs.push(result);
  return result;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'actions-ghcr-'));
  world = await startGhcrWorld();
  issuer = await startOidcIssuer();
  // The channel repository has been quiet for 50 days: its scheduled workflows stop at 60.
  world.model.repositories.get('prod-org/channel')!.pushedAt = new Date(Date.now() - 50 * 86_400_000).toISOString();
  world.model.addIdentity({ token: BUDGET_TOKEN, kind: 'classic-pat', login: 'stage-bot', scopes: ['read:packages', 'delete:packages'], restLimit: 30 });
  world.model.addIdentity({ token: LATER_TOKEN, kind: 'classic-pat', login: 'stage-bot', scopes: ['read:packages', 'delete:packages'] });
  workspace = path.join(dir, 'workspace');
  await mkdir(path.join(workspace, 'build'), { recursive: true });
  for (const format of ['conda', 'tar.bz2'] as const) {
    await buildPackage(path.join(workspace, 'build'), { name: 'libfoo', version: '2.0', build: 'h0_0', subdir: 'linux-64', format });
  }
  for (const name of ['left1', 'left2', 'left3']) await buildPackage(path.join(workspace, 'left'), { name, version: '1.0', build: '0', subdir: 'noarch', format: 'conda' });
  runner = await createActionRunner({
    GITHUB_ACTOR: 'stage-bot',
    GITHUB_REPOSITORY: 'prod-org/channel',
    GITHUB_SHA: 'c0ffee'.padEnd(40, '0'),
    GITHUB_RUN_ID: '77',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_API_URL: world.api.url,
  });
}, 60_000);
afterAll(async () => {
  await world?.stop();
  await issuer?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('upload-to-staging with the staging identity', async () => {
  const result = await run('upload-to-staging', { files: 'build/*.conda\nbuild/*.tar.bz2\nleft/*.conda', staging: world.staging, username: 'stage-bot', password: TOKENS.stage });
  expect(result.error).toBeUndefined();
  const artifacts = JSON.parse(result.outputs.artifacts!) as Record<string, string>;
  expect(Object.keys(artifacts).sort()).toEqual([
    'linux-64/libfoo-2.0-h0_0.conda',
    'linux-64/libfoo-2.0-h0_0.tar.bz2',
    'noarch/left1-1.0-0.conda',
    'noarch/left2-1.0-0.conda',
    'noarch/left3-1.0-0.conda',
  ]);
  const requested = {
    'linux-64/libfoo-2.0-h0_0.conda': await sha256File(path.join(workspace, 'build', 'libfoo-2.0-h0_0.conda')),
    'linux-64/libfoo-2.0-h0_0.tar.bz2': await sha256File(path.join(workspace, 'build', 'libfoo-2.0-h0_0.tar.bz2')),
  };
  // The feedstock's upload job mints the identity token for exactly these artifacts (as upload-to-staging does).
  const refs = Object.entries(requested).map(([key, sha256]) => ({ subdir: key.split('/')[0]!, filename: key.split('/')[1]!, sha256 }));
  const token = await issuer.mint(promotionAudience(refs), { claims: { repository: 'prod-org/libfoo-feedstock', repository_owner: 'prod-org' } });
  identityTokens.push(token);
  payload = JSON.stringify({ uploader: 'libfoo', artifacts: requested, identity_token: token });
});

test('validate and promote: verdicts in staging, production written only by the release identity, streamed, public', async () => {
  const common = { payload, staging: world.staging, production: world.production, 'staging-username': 'stage-bot', 'staging-password': TOKENS.stage, 'verdict-key': VERDICT_KEY,
    // A single-uploader channel here: who may publish is the allowed owner's verified repositories.
    owners: 'none', 'oidc-issuer': issuer.url, 'allowed-owners': 'prod-org' };
  const validate = await run('validate', common);
  expect(validate.error).toBeUndefined();
  expect(validate.outputs.ok).toBe('true');

  const promote = await run('promote', {
    ...common,
    'production-username': 'release-bot',
    'production-password': TOKENS.release,
    token: TOKENS.channel,
    'github-owner': 'prod-org',
    'visibility-check': 'fail',
  });
  expect(promote.error).toBeUndefined();
  expect(JSON.parse(promote.outputs.promoted!)).toEqual(['linux-64/libfoo-2.0-h0_0.conda', 'linux-64/libfoo-2.0-h0_0.tar.bz2']);
  // Trusted validate's signed verdicts (no second validation) and streamed every blob: ghcr.io does not mount.
  expect(promote.stdout).not.toContain(': validating');
  expect(JSON.parse(promote.outputs.result!).streamedBytes).toBeGreaterThan(0);
  expect(promote.summary).toMatch(/[\d.]+ KiB of package blobs were copied registry to registry because the registry did not mount them/);
  expect(promote.summary).not.toContain('not public');
  expect(packageNames(world, 'prod-org')).toEqual(['channel/linux-64/libfoo', 'channel/oci_channel/promotions']);
  // The visibility was read through the REST API with the workflow token, once per new package.
  expect(world.api.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/orgs/prod-org/packages/container/')).map((r) => decodeURIComponent(r.path))).toEqual([
    '/orgs/prod-org/packages/container/channel/linux-64/libfoo',
    '/orgs/prod-org/packages/container/channel/oci_channel/promotions',
  ]);
});

test('reindex with the channel repository\'s workflow token, warning on a schedule of an inactive public repository', async () => {
  const result = await run('reindex', { channel: world.production, password: TOKENS.channel, token: TOKENS.channel, 'github-owner': 'prod-org', cache: 'false' }, { GITHUB_EVENT_NAME: 'schedule' });
  expect(result.error).toBeUndefined();
  expect(JSON.parse(result.outputs.result!).subdirs).toEqual(
    expect.arrayContaining([expect.objectContaining({ subdir: 'linux-64', packages: 2 })]),
  );
  expect(result.stdout).toMatch(/::warning::the scheduled workflows of prod-org\/channel \(reindex, gc\) stop in about 10 days: GitHub disables the schedules of a public repository after 60 days without activity/);
  expect(result.summary).toContain('Scheduled runs are about to stop');
  expect(world.model.package('prod-org', 'channel/linux-64/repodata.json')!.repository).toBe('prod-org/channel');
});

test('gc-staging deletes through the REST API, stops at the budget reserve, and the next run finishes', async () => {
  const first = await run('gc-staging', {
    channel: world.staging,
    username: 'stage-bot',
    password: TOKENS.stage,
    'older-than': '0s',
    'github-packages-api': 'true',
    'github-token': BUDGET_TOKEN,
    'github-owner': 'stage-org',
  });
  expect(first.error).toBeUndefined();
  expect(first.stdout).toMatch(/::warning::stopped early: the GitHub API budget of this token is down to \d+ request\(s\) until \d\d:\d\d UTC; the next run continues/);
  const left = packageNames(world, 'stage-org');
  expect(left.length).toBeGreaterThan(0);
  expect(left.length).toBeLessThan(4);

  const second = await run('gc-staging', {
    channel: world.staging,
    username: 'stage-bot',
    password: TOKENS.stage,
    'older-than': '0s',
    'github-packages-api': 'true',
    'github-token': LATER_TOKEN,
    'github-owner': 'stage-org',
  });
  expect(second.error).toBeUndefined();
  expect(second.stdout).not.toContain('stopped early');
  expect(packageNames(world, 'stage-org')).toEqual([]);
  expect(packageNames(world, 'prod-org')).toEqual(['channel/channeldata.json', 'channel/linux-64/libfoo', 'channel/linux-64/repodata.json', 'channel/noarch/repodata.json', 'channel/oci_channel/promotions']);
});

test('no token or key appears in any output, summary or log', () => {
  for (const result of runs) for (const secret of [...SECRETS, ...identityTokens]) expect(secretLeaks(result, secret)).toEqual([]);
});
