// upload against a real registry: v0 layout, both formats merged under one tag, idempotent re-upload,
// a different package under an existing tag refused, corrupt files refused with nothing pushed.
import { mkdtemp, rm, truncate, copyFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openStore, type Store } from '@oci-channel/oci';
import { countingStore } from '../../packages/pipeline/src/index/counting.ts';
import { holdIntent, intentTag, writeIntent } from '../../packages/pipeline/src/records/write-intent.ts';
import { ConfigBlobs } from '../../packages/pipeline/src/steps/upload.ts';
import { describePackageManifest } from '@oci-channel/conda';
import { upload, validate } from '@oci-channel/pipeline';
import { minimalInfo, rawConda } from '../helpers/conda-builder.ts';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { latePuts, makePackage as buildPackage, sha256File } from './pipeline-helpers.ts';

let dir: string;
let registry: RunningRegistry;
let store: Store;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'upload-'));
  registry = await startRegistry();
  store = openStore(registry.location('staging'));
});
afterAll(async () => {
  await store.close();
  await registry.stop();
  await rm(dir, { recursive: true, force: true });
});

async function manifestAt(repository: string, tag: string) {
  const fetched = await store.repository(repository).fetchManifest(tag);
  return { digest: fetched.descriptor.digest, view: describePackageManifest(JSON.parse(Buffer.from(fetched.bytes).toString())) };
}

test('both formats of one build end up as two package layers under one tag; a re-upload is a no-op', async () => {
  const spec = { name: 'libdemo', version: '1.0+local', build: 'h0_0', subdir: 'linux-64', files: { 'lib/x': 'x' } };
  const conda = await buildPackage(path.join(dir, 'a'), { ...spec, format: 'conda' });
  const bz2 = await buildPackage(path.join(dir, 'a'), { ...spec, format: 'tar.bz2' });
  // Uploaded at the same time: the merge must not lose either.
  const [first, second] = await Promise.all([upload({ to: store, files: [conda] }), upload({ to: store, files: [bz2] })]);
  expect(first.ok && second.ok).toBe(true);
  expect(first.artifacts[0]).toMatchObject({ subdir: 'linux-64', filename: 'libdemo-1.0+local-h0_0.conda', repository: 'linux-64/libdemo', tag: '1.0__p__local-h0_0', status: 'uploaded', sha256: await sha256File(conda) });
  const { view, digest } = await manifestAt('linux-64/libdemo', '1.0__p__local-h0_0');
  expect(view.packages.map((p) => p.filename).sort()).toEqual(['libdemo-1.0+local-h0_0.conda', 'libdemo-1.0+local-h0_0.tar.bz2']);
  expect(view.packages.find((p) => p.format === 'conda')?.sha256).toBe(await sha256File(conda));

  const again = await upload({ to: store, files: [conda, bz2] });
  expect(again.ok).toBe(true);
  expect(again.artifacts.map((a) => a.status)).toEqual(['unchanged', 'unchanged']);
  expect((await manifestAt('linux-64/libdemo', '1.0__p__local-h0_0')).digest).toBe(digest);
});

test('an upload of the other format that read the tag before our PUT and writes it after our read-back loses neither', async () => {
  // The lost update registries allow (no conditional PUT): the .tar.bz2 run reads the empty tag, then its PUT
  // is held back until long after the .conda run has written and read back its own manifest.
  const spec = { name: 'racer', version: '3.0', build: 'h2_0', subdir: 'linux-64', files: { 'lib/r': 'r' } };
  const conda = await buildPackage(path.join(dir, 'race'), { ...spec, format: 'conda' });
  const bz2 = await buildPackage(path.join(dir, 'race'), { ...spec, format: 'tar.bz2' });
  const [first, second] = await Promise.all([upload({ to: store, files: [conda] }), upload({ to: latePuts(store, '3.0-h2_0', 1500), files: [bz2] })]);
  expect(first.errors).toEqual([]);
  expect(second.errors).toEqual([]);
  const { view, digest } = await manifestAt('linux-64/racer', '3.0-h2_0');
  expect(view.packages.map((p) => p.filename).sort()).toEqual(['racer-3.0-h2_0.conda', 'racer-3.0-h2_0.tar.bz2']);
  // Each run reports the manifest that holds both.
  expect(first.artifacts[0]?.manifestDigest).toBe(digest);
  expect(second.artifacts[0]?.manifestDigest).toBe(digest);
  // The intents stay in staging, never under a package tag; validate reads only the package tag.
  const tags = await store.repository('linux-64/racer').listTags();
  expect(tags.filter((t) => t.includes('-'))).toEqual(['3.0-h2_0']);
  expect(tags.filter((t) => t.startsWith('_uploading.'))).toHaveLength(2);
});

test('an intent of the other format left long ago (a writer that stopped) is read once and not waited for', async () => {
  const spec = { name: 'stale', version: '1.0', build: 'h0_0', subdir: 'linux-64', files: { 'lib/s': 's' } };
  const conda = await buildPackage(path.join(dir, 'stale'), { ...spec, format: 'conda' });
  const repository = store.repository('linux-64/stale');
  await writeIntent(repository, 'stale-1.0-h0_0.tar.bz2', { kind: 'uploading', configs: new ConfigBlobs(), at: new Date(Date.now() - 10 * 60_000) });
  expect(await repository.listTags()).toEqual([intentTag('stale-1.0-h0_0.tar.bz2', 'uploading')]);
  const counted = countingStore(store);
  const result = await upload({ to: counted.store, files: [conda] });
  expect(result.errors).toEqual([]);
  // The tag after the intent, then the tag and the other format's intent read back once each: no waiting rounds.
  expect(counted.calls.get('fetchManifest')).toBe(3);
  expect((await manifestAt('linux-64/stale', '1.0-h0_0')).view.packages.map((p) => p.filename)).toEqual(['stale-1.0-h0_0.conda']);
});

test('an intent held by a writer still at work is written again while it works, and no more once released', async () => {
  // A large file or a merge that downloads can outlast INTENT_FRESH_MS: the other format's writer must not take
  // the intent for one of a writer that stopped while its PUT is still to come.
  const repository = store.repository('linux-64/held');
  const created = async () => {
    const bytes = (await repository.fetchManifest(intentTag('held-1.0-h0_0.conda', 'uploading'))).bytes;
    return Date.parse((JSON.parse(Buffer.from(bytes).toString()) as { annotations: Record<string, string> }).annotations['org.opencontainers.image.created']!);
  };
  const held = await holdIntent(repository, 'held-1.0-h0_0.conda', { kind: 'uploading', configs: new ConfigBlobs(), refreshMs: 40 });
  const first = await created();
  let refreshed = first;
  for (let i = 0; i < 50 && refreshed === first; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    refreshed = await created();
  }
  expect(refreshed).toBeGreaterThan(first);
  held.release();
  await new Promise((resolve) => setTimeout(resolve, 100)); // a refresh already sent lands
  const last = await created();
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(await created()).toBe(last);
});

test('one upload of both formats merges them one after the other', async () => {
  const spec = { name: 'twofold', version: '2.0', build: 'h1_0', subdir: 'osx-arm64' };
  const files = [await buildPackage(path.join(dir, 'two'), { ...spec, format: 'tar.bz2' }), await buildPackage(path.join(dir, 'two'), { ...spec, format: 'conda' })];
  const result = await upload({ to: store, files });
  expect(result.ok).toBe(true);
  expect(result.artifacts.map((a) => a.filename)).toEqual(['twofold-2.0-h1_0.tar.bz2', 'twofold-2.0-h1_0.conda']);
  const { view } = await manifestAt('osx-arm64/twofold', '2.0-h1_0');
  expect(view.packages.map((p) => p.format)).toEqual(['conda', 'tar.bz2']);
});

test('a name starting with _ goes to the zzz repository', async () => {
  const file = await buildPackage(path.join(dir, 'b'), { name: '_demo_mutex', version: '1.0', build: 'main', subdir: 'linux-64', format: 'conda' });
  const result = await upload({ to: store, files: [file] });
  expect(result.artifacts[0]).toMatchObject({ repository: 'linux-64/zzz_demo_mutex', tag: '1.0-main' });
  expect((await store.repository('linux-64/zzz_demo_mutex').listTags()).filter((t) => !t.startsWith('_uploading.'))).toEqual(['1.0-main']);
});

test('a different package under an existing tag and format is refused and nothing is overwritten', async () => {
  const spec = { name: 'clash', version: '1.0', build: 'h0_0', subdir: 'noarch', format: 'conda' as const };
  const original = await buildPackage(path.join(dir, 'c1'), { ...spec, files: { a: 'one' } });
  const impostor = await buildPackage(path.join(dir, 'c2'), { ...spec, files: { a: 'two' } });
  expect((await upload({ to: store, files: [original] })).ok).toBe(true);
  const before = await manifestAt('noarch/clash', '1.0-h0_0');
  const result = await upload({ to: store, files: [impostor] });
  expect(result.ok).toBe(false);
  expect(result.artifacts).toEqual([]);
  expect(result.errors).toHaveLength(1);
  expect(result.errors[0]?.error).toMatch(/already holds a different clash-1\.0-h0_0\.conda.*bump the build number/);
  expect(result.errors[0]?.error).not.toMatch(/\n/);
  expect((await manifestAt('noarch/clash', '1.0-h0_0')).digest).toBe(before.digest);
});

test('corrupt files are refused with a one-line reason and nothing is pushed', async () => {
  const good = await buildPackage(path.join(dir, 'd'), { name: 'broken', version: '1.0', build: '0', subdir: 'noarch', format: 'conda' });
  const bad = path.join(dir, 'd', 'broken-1.0-0.tar.bz2');
  await copyFile(good, bad);
  await truncate(bad, 16);
  const result = await upload({ to: store, files: [bad, path.join(dir, 'missing-1.0-0.conda')] });
  expect(result.ok).toBe(false);
  expect(result.errors.map((e) => path.basename(e.file))).toEqual(expect.arrayContaining(['broken-1.0-0.tar.bz2', 'missing-1.0-0.conda']));
  for (const e of result.errors) expect(e.error).not.toMatch(/\n/);
  expect(await store.repository('noarch/broken').listTags()).toEqual([]);
});

test('many small packages upload at once and each is verified at its tag', async () => {
  const files = await Promise.all(
    Array.from({ length: 12 }, (_, i) => buildPackage(path.join(dir, 'many'), { name: `small${i}`, version: '1.0', build: '0', subdir: 'noarch', format: i % 2 ? 'conda' : 'tar.bz2' })),
  );
  const result = await upload({ to: store, files, concurrency: 6 });
  expect(result.ok).toBe(true);
  expect(result.artifacts.map((a) => a.filename)).toEqual(files.map((f) => path.basename(f)));
  for (const a of result.artifacts) {
    const { view, digest } = await manifestAt(a.repository, a.tag);
    expect(a.manifestDigest).toBe(digest);
    expect(view.packages.map((p) => p.sha256)).toEqual([a.sha256]);
  }
});

test('upload reads only the metadata of a .conda: a bad payload reaches staging and validate refuses it', async () => {
  const filename = 'payload-1.0-0.conda';
  const file = await rawConda(path.join(dir, 'p'), filename, { info: minimalInfo(filename, 'noarch'), pkg: [{ name: '../escape', data: 'x' }] });
  const result = await upload({ to: store, files: [file] });
  expect(result.ok).toBe(true);
  const production = openStore(registry.location('production'));
  try {
    const checked = await validate({ staging: store, production, artifacts: [{ subdir: 'noarch', filename, sha256: await sha256File(file) }] });
    expect(checked.artifacts[0]?.verdict).toBe('failed');
    expect(checked.artifacts[0]?.checks.find((c) => c.name === 'package')?.ok).toBe(false);
  } finally {
    await production.close();
  }
});
