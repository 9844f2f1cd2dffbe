// validate against a real registry: every check reported; refusals recorded as a failed verdict referrer on
// the staging manifest, nothing published.
import { copyFile, mkdtemp, rm, truncate } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openStore, type Store } from '@oci-channel/oci';
import { newestVerdict, upload, validate, VERDICT_ARTIFACT_TYPE } from '@oci-channel/pipeline';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { manifestAt, stageCorrupt, stageTampered, writeOwners, makePackage as buildPackage, sha256File } from './pipeline-helpers.ts';

let dir: string;
let registry: RunningRegistry;
let staging: Store;
let production: Store;
let owners: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'validate-'));
  registry = await startRegistry();
  staging = openStore(registry.location('staging'));
  production = openStore(registry.location('production'));
  owners = await writeOwners(path.join(dir, 'owners'), { good: ['good'], other: ['someone'], clash: ['good'], broken: ['good'] });
});
afterAll(async () => {
  await staging.close();
  await production.close();
  await registry.stop();
  await rm(dir, { recursive: true, force: true });
});

test('a good package passes every check and the verdict is recorded on the staging manifest', async () => {
  const file = await buildPackage(path.join(dir, 'good'), { name: 'good', version: '1.0', build: 'h0_0', subdir: 'linux-64', format: 'conda', depends: ['other'] });
  const sha256 = await sha256File(file);
  expect((await upload({ to: staging, files: [file] })).ok).toBe(true);
  const result = await validate({ staging, production, owners, uploader: 'good', artifacts: [{ subdir: 'linux-64', filename: path.basename(file), sha256 }] });
  expect(result.ok).toBe(true);
  const [verdict] = result.artifacts;
  expect(verdict?.verdict).toBe('passed');
  expect(verdict?.checks.map((c) => c.name)).toEqual(
    expect.arrayContaining(['filename', 'manifest-shape', 'manifest-consistency', 'sha256', 'download', 'package', 'info-layers', 'owner', 'production-conflict']),
  );
  expect(verdict?.checks.every((c) => c.ok)).toBe(true);
  const staged = await manifestAt(staging, 'linux-64/good', '1.0-h0_0');
  expect(verdict?.manifestDigest).toBe(staged?.digest);
  const recorded = await newestVerdict(staging.repository('linux-64/good'), staged!.digest as `sha256:${string}`, path.basename(file));
  expect(recorded?.digest).toBe(verdict?.verdictDigest);
  expect(recorded?.doc).toMatchObject({ verdict: 'passed', uploader: 'good', sha256, subdir: 'linux-64', filename: path.basename(file) });
  const referrers = await staging.repository('linux-64/good').referrers(staged!.digest as `sha256:${string}`, VERDICT_ARTIFACT_TYPE);
  expect(referrers.map((r) => r.digest)).toContain(verdict?.verdictDigest);
});

test('refusals: wrong declared sha256, non-owner, unknown artifact, bad name; each says why', async () => {
  const mine = await buildPackage(path.join(dir, 'r'), { name: 'good', version: '2.0', build: 'h0_0', subdir: 'noarch', format: 'conda' });
  const theirs = await buildPackage(path.join(dir, 'r'), { name: 'other', version: '1.0', build: 'h0_0', subdir: 'noarch', format: 'conda' });
  expect((await upload({ to: staging, files: [mine, theirs] })).ok).toBe(true);
  const result = await validate({
    staging,
    production,
    owners,
    uploader: 'good',
    artifacts: [
      { subdir: 'noarch', filename: path.basename(mine), sha256: 'f'.repeat(64) },
      { subdir: 'noarch', filename: path.basename(theirs) },
      { subdir: 'noarch', filename: 'absent-1.0-0.conda' },
      { subdir: 'linux_64', filename: 'x-1-0.conda' },
    ],
  });
  expect(result.ok).toBe(false);
  const [sha, owner, absent, badName] = result.artifacts;
  expect(sha?.verdict).toBe('failed');
  expect(sha?.reason).toMatch(/declared sha256 f{64} but staging holds [0-9a-f]{64}/);
  expect(sha?.verdictDigest).toBeDefined();
  expect(owner?.reason).toMatch(/uploader good does not own package name other \(owners: someone\)/);
  expect(owner?.checks.find((c) => c.name === 'owner')?.ok).toBe(false);
  expect(absent?.reason).toMatch(/not found in staging .*upload it first/);
  expect(badName?.reason).toMatch(/not a conda subdir/);
  for (const a of result.artifacts) expect(a.reason).not.toMatch(/\n/);
  // The failed verdict is what promote will find.
  const staged = await manifestAt(staging, 'noarch/good', '2.0-h0_0');
  const recorded = await newestVerdict(staging.repository('noarch/good'), staged!.digest as `sha256:${string}`, path.basename(mine));
  expect(recorded?.doc.verdict).toBe('failed');
});

test('a corrupt package layer and a production conflict are refused', async () => {
  const good = await buildPackage(path.join(dir, 'c'), { name: 'broken', version: '1.0', build: '0', subdir: 'noarch', format: 'conda' });
  const corrupt = path.join(dir, 'c', 'corrupt.bin');
  await copyFile(good, corrupt);
  await truncate(corrupt, 200);
  const staged = await stageCorrupt(staging, good, corrupt);
  const ref = { subdir: 'noarch', filename: 'broken-1.0-0.conda', sha256: staged.sha256 };
  const result = await validate({ staging, production, artifacts: [ref] });
  expect(result.artifacts[0]?.verdict).toBe('failed');
  expect(result.artifacts[0]?.checks.find((c) => c.name === 'package')?.ok).toBe(false);

  // The index.json layer says something the package does not (a lying record for reindex).
  const honest = await buildPackage(path.join(dir, 'l'), { name: 'liar', version: '1.0', build: '0', subdir: 'noarch', format: 'conda' });
  const lie = new TextEncoder().encode(JSON.stringify({ name: 'liar', version: '1.0', build: '0', build_number: 0, subdir: 'noarch', depends: ['malware'] }));
  await stageTampered(staging, honest, { indexJson: lie });
  const lying = await validate({ staging, production, artifacts: [{ subdir: 'noarch', filename: 'liar-1.0-0.conda' }] });
  expect(lying.artifacts[0]?.verdict).toBe('failed');
  expect(lying.artifacts[0]?.checks.find((c) => c.name === 'info-layers')).toMatchObject({ ok: false, detail: expect.stringMatching(/index\.json layer .* differs from the package's index\.json/) });
  expect(lying.artifacts[0]?.checks.find((c) => c.name === 'package')?.ok).toBe(true);

  // Production already has a different clash-1.0-0.conda.
  const published = await buildPackage(path.join(dir, 'p'), { name: 'clash', version: '1.0', build: '0', subdir: 'noarch', format: 'conda', files: { a: 'published' } });
  const incoming = await buildPackage(path.join(dir, 's'), { name: 'clash', version: '1.0', build: '0', subdir: 'noarch', format: 'conda', files: { a: 'new' } });
  expect((await upload({ to: production, files: [published] })).ok).toBe(true);
  expect((await upload({ to: staging, files: [incoming] })).ok).toBe(true);
  const conflict = await validate({ staging, production, artifacts: [{ subdir: 'noarch', filename: 'clash-1.0-0.conda' }] });
  expect(conflict.artifacts[0]?.verdict).toBe('failed');
  expect(conflict.artifacts[0]?.reason).toMatch(/production already has a different clash-1\.0-0\.conda .*bump the build number/);
});
