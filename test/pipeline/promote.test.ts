// promote against a real registry: copy by digest, merge of the second format, verification, the promotion
// log, staging removal; refusals leave production untouched; a staging-only credential fails before anything
// is touched; concurrent overlapping promotions and a promote killed midway converge.
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, rm, truncate } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openStore, type Store } from '@oci-channel/oci';
import { promote, readPromotions, recordVerdict, upload, validate, newestVerdict } from '@oci-channel/pipeline';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { writeHtpasswd } from '../harness/htpasswd.ts';
import { latePuts, manifestAt, stageCorrupt, writeOwners, makePackage as buildPackage, sha256File } from './pipeline-helpers.ts';

/** The admins' verdict key (validate signs with it; promote trusts only verdicts it verifies). */
const verdictKey = 'promote-test-verdict-key-0123456789abcdef';

let dir: string;
let registry: RunningRegistry;
let locked: RunningRegistry;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'promote-'));
  registry = await startRegistry();
  const htpasswd = path.join(dir, 'htpasswd');
  await writeHtpasswd(htpasswd, { publisher: 'correct-horse-battery' });
  locked = await startRegistry({ auth: { kind: 'htpasswd', file: htpasswd } });
});
afterAll(async () => {
  await Promise.all([registry.stop(), locked.stop()]);
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
function channels(): { staging: Store; production: Store; prefix: string } {
  const prefix = `t${++counter}`;
  return { staging: openStore(registry.location(`${prefix}/staging`)), production: openStore(registry.location(`${prefix}/production`)), prefix };
}

async function build(name: string, version: string, format: 'conda' | 'tar.bz2' = 'conda', subdir = 'linux-64', files: Record<string, string> = { [`share/${name}`]: name }) {
  const file = await buildPackage(path.join(dir, `${name}-${version}-${subdir}`), { name, version, build: 'h0_0', subdir, format, files });
  return { file, subdir, filename: path.basename(file), sha256: await sha256File(file) };
}

test('promote copies by digest, logs, removes staging; a re-run says already-promoted', async () => {
  const { staging, production } = channels();
  const a = await build('alpha', '1.0');
  expect((await upload({ to: staging, files: [a.file] })).ok).toBe(true);
  const staged = await manifestAt(staging, 'linux-64/alpha', '1.0-h0_0');
  const events: string[] = [];
  const result = await promote({ staging, production, verdictKey, artifacts: [{ subdir: a.subdir, filename: a.filename, sha256: a.sha256 }], progress: (e) => events.push(e.message) });
  expect(result.ok).toBe(true);
  expect(result.artifacts[0]).toMatchObject({ status: 'promoted', verdict: 'passed', productionDigest: staged?.digest, stagingRemoved: true });
  expect(events).toContain('validating (no signed verdict yet)');
  // Production holds the same bytes (same manifest digest); the package layer is the file.
  const inProduction = await manifestAt(production, 'linux-64/alpha', '1.0-h0_0');
  expect(inProduction?.digest).toBe(staged?.digest);
  expect(inProduction?.view.packages[0]?.sha256).toBe(a.sha256);
  expect(await staging.repository('linux-64/alpha').listTags()).not.toContain('1.0-h0_0');
  const log = await readPromotions(production);
  expect(log).toHaveLength(1);
  expect(log[0]).toMatchObject({ subdir: 'linux-64', filename: a.filename, repository: 'linux-64/alpha', tag: '1.0-h0_0', manifestDigest: staged?.digest });

  const again = await promote({ staging, production, artifacts: [{ subdir: a.subdir, filename: a.filename }] });
  expect(again.ok).toBe(true);
  expect(again.artifacts[0]?.status).toBe('already-promoted');
  expect(await readPromotions(production)).toHaveLength(1);
});

test('the second format merges into production; staging is kept until production holds all it carries', async () => {
  const { staging, production } = channels();
  const conda = await build('beta', '2.0+x', 'conda');
  const bz2 = await build('beta', '2.0+x', 'tar.bz2');
  expect((await upload({ to: staging, files: [conda.file, bz2.file] })).ok).toBe(true);
  const first = await promote({ staging, production, artifacts: [{ subdir: 'linux-64', filename: conda.filename }] });
  expect(first.artifacts[0]).toMatchObject({ status: 'promoted', stagingRemoved: false });
  let prod = await manifestAt(production, 'linux-64/beta', '2.0__p__x-h0_0');
  expect(prod?.view.packages.map((p) => p.filename)).toEqual([conda.filename]);
  expect(await staging.repository('linux-64/beta').listTags()).toContain('2.0__p__x-h0_0');

  const second = await promote({ staging, production, artifacts: [{ subdir: 'linux-64', filename: bz2.filename, sha256: bz2.sha256 }] });
  expect(second.artifacts[0]).toMatchObject({ status: 'promoted', stagingRemoved: true });
  prod = await manifestAt(production, 'linux-64/beta', '2.0__p__x-h0_0');
  expect(prod?.view.packages.map((p) => [p.filename, p.sha256])).toEqual([
    [conda.filename, conda.sha256],
    [bz2.filename, bz2.sha256],
  ]);
  // Every blob the merged manifest names is in the production repository.
  for (const p of prod!.view.packages) expect(await production.repository('linux-64/beta').statBlob(p.descriptor.digest)).toBeDefined();
  expect((await readPromotions(production)).map((e) => e.filename).sort()).toEqual([conda.filename, bz2.filename].sort());
});

test('refusals leave production untouched and keep the staging copy with its failed verdict', async () => {
  const { staging, production } = channels();
  const owners = await writeOwners(path.join(dir, 'owners'), { gamma: ['gamma'], delta: ['someone-else'], clash: ['gamma'], rotten: ['gamma'] });
  const rotten = await build('rotten', '1.0');
  const corrupt = path.join(dir, 'rotten.bin');
  await copyFile(rotten.file, corrupt);
  await truncate(corrupt, 300);
  await stageCorrupt(staging, rotten.file, corrupt);
  const g = await build('gamma', '1.0');
  const d = await build('delta', '1.0');
  const published = await build('clash', '1.0', 'conda', 'noarch', { a: 'published' });
  const incoming = await buildPackage(path.join(dir, 'clash-new'), { name: 'clash', version: '1.0', build: 'h0_0', subdir: 'noarch', format: 'conda', files: { a: 'incoming' } });
  expect((await upload({ to: staging, files: [g.file, d.file, incoming] })).ok).toBe(true);
  expect((await upload({ to: production, files: [published.file] })).ok).toBe(true);
  const before = await manifestAt(production, 'noarch/clash', '1.0-h0_0');
  const result = await promote({
    staging,
    production,
    owners,
    uploader: 'gamma',
    artifacts: [
      { subdir: 'linux-64', filename: g.filename, sha256: '0'.repeat(64) },
      { subdir: 'linux-64', filename: d.filename, sha256: d.sha256 },
      { subdir: 'noarch', filename: 'clash-1.0-h0_0.conda' },
      { subdir: 'linux-64', filename: rotten.filename },
    ],
  });
  expect(result.ok).toBe(false);
  expect(result.artifacts.map((a) => a.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
  expect(result.artifacts[3]?.checks.find((c) => c.name === 'package')?.ok).toBe(false);
  expect(await production.repository('linux-64/rotten').listTags()).toEqual([]);
  expect(result.artifacts[0]?.reason).toMatch(/declared sha256 0{64} but staging holds/);
  expect(result.artifacts[1]?.reason).toMatch(/uploader gamma does not own package name delta/);
  expect(result.artifacts[2]?.reason).toMatch(/production already has a different clash-1\.0-h0_0\.conda/);
  expect(await production.repository('linux-64/gamma').listTags()).toEqual([]);
  expect(await production.repository('linux-64/delta').listTags()).toEqual([]);
  expect((await manifestAt(production, 'noarch/clash', '1.0-h0_0'))?.digest).toBe(before?.digest);
  expect(await readPromotions(production)).toEqual([]);
  for (const [repo, filename] of [['linux-64/gamma', g.filename], ['linux-64/delta', d.filename], ['noarch/clash', 'clash-1.0-h0_0.conda'], ['linux-64/rotten', rotten.filename]] as const) {
    const staged = await manifestAt(staging, repo, '1.0-h0_0');
    expect(staged).toBeDefined();
    expect((await newestVerdict(staging.repository(repo), staged!.digest as `sha256:${string}`, filename))?.doc.verdict).toBe('failed');
  }
});

test('a failed verdict is not overridden by a forged passing one that does not cover the request', async () => {
  const { staging, production } = channels();
  const owners = await writeOwners(path.join(dir, 'owners2'), { eps: ['someone-else'] });
  const e = await build('eps', '1.0');
  expect((await upload({ to: staging, files: [e.file] })).ok).toBe(true);
  // A (signed) validation without owners passes (and is recorded) ...
  expect((await validate({ staging, production, verdictKey, artifacts: [{ subdir: 'linux-64', filename: e.filename }] })).ok).toBe(true);
  // ... but a promote that checks ownership does not trust it.
  const result = await promote({ staging, production, verdictKey, owners, uploader: 'intruder', artifacts: [{ subdir: 'linux-64', filename: e.filename }] });
  expect(result.artifacts[0]?.status).toBe('rejected');
  expect(result.artifacts[0]?.reason).toMatch(/does not own/);
  expect(await production.repository('linux-64/eps').listTags()).toEqual([]);
});

test('--revalidate ignores a forged passing verdict on a corrupt staged package', async () => {
  const { staging, production } = channels();
  const good = await build('forged', '1.0');
  const corrupt = path.join(dir, 'forged.bin');
  await copyFile(good.file, corrupt);
  await truncate(corrupt, 300);
  const staged = await stageCorrupt(staging, good.file, corrupt);
  const manifest = await staging.repository(staged.repository).resolve(staged.tag);
  await recordVerdict(staging.repository(staged.repository), manifest!, {
    verdict: 'passed',
    checks: [{ name: 'package', ok: true }],
    validatedAt: new Date(Date.now() + 60_000).toISOString(),
    subdir: 'linux-64',
    filename: good.filename,
    sha256: staged.sha256,
    manifestDigest: manifest!.digest,
  });
  const result = await promote({ staging, production, revalidate: true, artifacts: [{ subdir: 'linux-64', filename: good.filename }] });
  expect(result.artifacts[0]?.status).toBe('rejected');
  expect(result.artifacts[0]?.checks.find((c) => c.name === 'package')?.ok).toBe(false);
  expect(await production.repository('linux-64/forged').listTags()).toEqual([]);
});

test('a file staging never held is refused as not in staging, even when its intent is refused before the staged read answers', async () => {
  // The intent's manifest needs the empty blob, which a repository staging never wrote lacks: its PUT fails. With
  // the staged read held back, that failure comes first; it must be handled (an unhandled rejection ended the
  // promote action with no error line, in CI) and the file refused for what it is. A plain Node process, as the
  // actions run: there an unhandled rejection ends the process.
  const { prefix } = channels();
  const node = path.resolve('node_modules/.bin/node');
  const args = [registry.location(`${prefix}/staging`), registry.location(`${prefix}/production`), '1.0-h0_0', '400', 'linux-64/ghost-1.0-h0_0.conda'];
  const child = spawn(node, ['--disable-warning=ExperimentalWarning', path.resolve('test/pipeline/promote-late-read-child.ts'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  expect({ code, stderr: stderr.split('\n').slice(0, 3) }).toEqual({ code: 0, stderr: [''] });
  const result = JSON.parse(stdout) as { ok: boolean; artifacts: Array<Record<string, unknown>> };
  expect(result.ok).toBe(false);
  expect(result.artifacts).toEqual([expect.objectContaining({ filename: 'ghost-1.0-h0_0.conda', status: 'rejected', reason: expect.stringMatching(/not found in staging/) })]);
  const { staging, production } = { staging: openStore(registry.location(`${prefix}/staging`)), production: openStore(registry.location(`${prefix}/production`)) };
  expect(await production.listRepositories()).toEqual([]);
  expect(await staging.listRepositories()).toEqual([]);
  await staging.close();
  await production.close();
});

test('without push access to production nothing is touched and the error says so', async () => {
  const staging = openStore(registry.location('t-denied/staging'));
  const production = openStore(locked.location('production'), { credentials: { username: 'publisher', password: 'staging-only-token-x9' }, retry: { attempts: 1 } });
  const a = await build('zeta', '1.0');
  expect((await upload({ to: staging, files: [a.file] })).ok).toBe(true);
  const staged = await manifestAt(staging, 'linux-64/zeta', '1.0-h0_0');
  const result = await promote({ staging, production, artifacts: [{ subdir: 'linux-64', filename: a.filename }] });
  expect(result.ok).toBe(false);
  expect(result.artifacts[0]?.status).toBe('failed');
  expect(result.artifacts[0]?.reason).toMatch(/no push access to production/);
  expect(JSON.stringify(result)).not.toContain('staging-only-token-x9');
  // Nothing touched: staging still has the manifest and no verdict was needed to find that out.
  expect((await manifestAt(staging, 'linux-64/zeta', '1.0-h0_0'))?.digest).toBe(staged?.digest);
  await staging.close();
  await production.close();
});

test('where staging cannot delete, the staging copy is left for gc', async () => {
  const noDelete = await startRegistry({ deleteEnabled: false });
  try {
    const staging = openStore(noDelete.location('staging'));
    const production = openStore(registry.location('t-nodelete/production'));
    const a = await build('eta', '1.0');
    expect((await upload({ to: staging, files: [a.file] })).ok).toBe(true);
    const result = await promote({ staging, production, artifacts: [{ subdir: 'linux-64', filename: a.filename }] });
    expect(result.artifacts[0]).toMatchObject({ status: 'promoted', stagingRemoved: false });
    expect((await manifestAt(production, 'linux-64/eta', '1.0-h0_0'))?.view.packages[0]?.sha256).toBe(a.sha256);
    expect(await staging.repository('linux-64/eta').listTags()).toContain('1.0-h0_0');
    await staging.close();
    await production.close();
  } finally {
    await noDelete.stop();
  }
});

test("two promotions of a build's two formats, the second's PUT landing after the first read its own back: both stay", async () => {
  // The lost update registries allow (no conditional PUT): the .tar.bz2 promotion read the empty production tag,
  // and its PUT is held back until long after the .conda promotion wrote and read back its own.
  const { staging, production } = channels();
  const conda = await build('racing', '2.0', 'conda');
  const bz2 = await build('racing', '2.0', 'tar.bz2');
  expect((await upload({ to: staging, files: [conda.file, bz2.file] })).ok).toBe(true);
  const ref = (a: typeof conda) => [{ subdir: a.subdir, filename: a.filename, sha256: a.sha256 }];
  const [first, second] = await Promise.all([
    promote({ staging, production, verdictKey, artifacts: ref(conda) }),
    promote({ staging, production: latePuts(production, '2.0-h0_0', 1500), verdictKey, artifacts: ref(bz2) }),
  ]);
  expect(first.artifacts[0]).toMatchObject({ status: 'promoted' });
  expect(second.artifacts[0]).toMatchObject({ status: 'promoted' });
  const held = await manifestAt(production, 'linux-64/racing', '2.0-h0_0');
  expect(held?.view.packages.map((p) => p.filename).sort()).toEqual(['racing-2.0-h0_0.conda', 'racing-2.0-h0_0.tar.bz2']);
  // The intents stay in staging (gc-staging takes them), never in production.
  expect(await production.repository('linux-64/racing').listTags()).toEqual(['2.0-h0_0']);
  expect((await staging.repository('linux-64/racing').listTags()).filter((t) => t.startsWith('_promoting.'))).toHaveLength(2);
});

test('two promotions of overlapping sets at once: every artifact once, one production manifest per tag', async () => {
  const { staging, production } = channels();
  const pkgs = await Promise.all([build('p1', '1.0'), build('p2', '1.0'), build('p2', '1.0', 'tar.bz2'), build('p3', '1.0', 'conda', 'noarch'), build('p4', '1.0')]);
  expect((await upload({ to: staging, files: pkgs.map((p) => p.file) })).ok).toBe(true);
  const refs = pkgs.map((p) => ({ subdir: p.subdir, filename: p.filename }));
  const [left, right] = await Promise.all([
    promote({ staging, production, artifacts: refs.slice(0, 4) }),
    promote({ staging, production, artifacts: refs.slice(1) }),
  ]);
  for (const r of [...left.artifacts, ...right.artifacts]) expect(['promoted', 'already-promoted']).toContain(r.status);
  for (const p of pkgs) {
    const name = p.filename.split('-')[0]!;
    const prod = await manifestAt(production, `${p.subdir}/${name}`, '1.0-h0_0');
    expect(prod?.view.packages.find((q) => q.filename === p.filename)?.sha256).toBe(p.sha256);
  }
  const logged = new Set((await readPromotions(production)).map((e) => `${e.subdir}/${e.filename}`));
  expect([...logged].sort()).toEqual(refs.map((r) => `${r.subdir}/${r.filename}`).sort());
  // A re-run of both cleans up whatever staging copies the race left.
  await promote({ staging, production, artifacts: refs });
  // (verdict referrers and their fallback tag stay for gc)
  for (const p of pkgs) expect(await staging.repository(`${p.subdir}/${p.filename.split('-')[0]}`).listTags()).not.toContain('1.0-h0_0');
});

function runChild(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const node = path.resolve('node_modules/.bin/node');
  const child = spawn(node, ['--disable-warning=ExperimentalWarning', path.resolve('test/pipeline/promote-kill-child.ts'), ...args], { stdio: 'ignore' });
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
}

test.each(['copying to production', 'copied to production', 'logged', 'staging copy removed'])('a promote killed at "%s" converges on re-run', async (point) => {
  const { staging, production, prefix } = channels();
  const conda = await build('kappa', '1.0');
  const bz2 = await build('kappa', '1.0', 'tar.bz2');
  const other = await build('lambda', '1.0', 'conda', 'noarch');
  expect((await upload({ to: staging, files: [conda.file, bz2.file, other.file] })).ok).toBe(true);
  const refs = [conda, bz2, other].map((p) => `${p.subdir}/${p.filename}`);
  const crashed = await runChild([registry.location(`${prefix}/staging`), registry.location(`${prefix}/production`), point, ...refs]);
  expect(crashed.signal).toBe('SIGKILL');
  const result = await promote({ staging, production, artifacts: [conda, bz2, other].map((p) => ({ subdir: p.subdir, filename: p.filename })) });
  expect(result.artifacts.filter((a) => a.status !== 'promoted' && a.status !== 'already-promoted')).toEqual([]);
  for (const p of [conda, bz2, other]) {
    const name = p.filename.split('-')[0]!;
    const prod = await manifestAt(production, `${p.subdir}/${name}`, '1.0-h0_0');
    expect(prod?.view.packages.find((q) => q.filename === p.filename)?.sha256).toBe(p.sha256);
    expect(await staging.repository(`${p.subdir}/${name}`).listTags()).not.toContain('1.0-h0_0');
  }
  const logged = (await readPromotions(production)).map((e) => e.filename);
  expect(new Set(logged)).toEqual(new Set([conda.filename, bz2.filename, other.filename]));
  expect(logged).toHaveLength(3);
});
