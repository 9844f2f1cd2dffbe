// Channel administration against a real registry: a promotion to label rc, marking a build broken and back
// (recorded in the label log with who and why), the label indexes in the registry and in the --out tree that
// rattler solves from; repodata patches from a patches package promoted into the channel (a loosened pin changes
// the solution, a new patches build re-patches only the subdirs it touches, a bad one is refused and the index
// stays), the channel's own instructions in the registry; warm and cold-cache runs stay incremental.
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { openStore, type Descriptor, type Repository, type Store } from '@oci-channel/oci';
import { decodeShard, decodeShardIndex, rattler, zstdDecompress } from '@oci-channel/conda';
import { label, listLabelTags, listPromotionTags, promote, readLabelChange, readPromotions, reindex, upload, type ReindexOptions } from '@oci-channel/pipeline';
import { countingStore } from '../../packages/pipeline/src/index/counting.ts';
import { IndexMediaType, LABEL_MARK, PATCH_SOURCE, PATCHES } from '../../packages/pipeline/src/index/names.ts';
import { writeChannelPatchInstructions } from '../../packages/pipeline/src/index/patches.ts';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { buildPackage, truncatedCopy, type PackageSpec } from '../helpers/conda-builder.ts';
import { publishPackage } from '../helpers/channel.ts';

let registry: RunningRegistry;
let work: string;
beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-admin-'));
});
afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function readBlob(repo: Repository, d: Descriptor): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await repo.fetchBlob(d.digest, d.size)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The `latest` manifest of a repodata repository, and its layers by media type (decoded). */
async function latest(store: Store, repository: string) {
  const repo = store.repository(repository);
  const fetched = await repo.fetchManifest('latest');
  const manifest = JSON.parse(Buffer.from(fetched.bytes).toString()) as { layers: Descriptor[]; annotations: Record<string, string> };
  const layer = (type: string) => manifest.layers.find((l) => l.mediaType === type);
  const json = async (type: string) => {
    const l = layer(type);
    if (!l) return undefined;
    const bytes = await readBlob(repo, l);
    return JSON.parse((type.endsWith('+zst') ? zstdDecompress(bytes) : bytes).toString());
  };
  return { digest: fetched.descriptor.digest, manifest, repodata: await json(IndexMediaType.Repodata), fromPackages: await json(IndexMediaType.RepodataFromPackagesZst), labels: await json(IndexMediaType.Labels) };
}

const files = (repodata: { packages: object; 'packages.conda': object }) => [...Object.keys(repodata.packages), ...Object.keys(repodata['packages.conda'])].sort();

/** Serves `dir` on loopback for one callback, recording the paths asked for. */
async function serving<T>(dir: string, run: (url: string, requested: string[]) => Promise<T>): Promise<T> {
  const requested: string[] = [];
  const server = http.createServer((req, res) => {
    const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requested.push(pathname);
    readFile(path.join(dir, pathname)).then(
      (data) => res.end(data),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, requested);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

async function solve(channelUrl: string, specs: string[]) {
  const solved = await rattler().simpleSolve(specs, [channelUrl], ['linux-64', 'noarch'], []);
  return Object.fromEntries(solved.map((p) => [p.packageName, { version: p.version, path: new URL(p.url).pathname }]));
}

let counter = 0;
function channel(): { store: Store; cache: string; dir: string } {
  counter++;
  return { store: openStore(registry.location(`admin${counter}`)), cache: path.join(work, `cache${counter}`), dir: path.join(work, `pkgs${counter}`) };
}

describe('labels', () => {
  it('keeps rc and broken builds out of the main index, in their label indexes, and rattler sees exactly each', async () => {
    const { store, cache, dir } = channel();
    const make = (spec: PackageSpec, format: 'conda' | 'tar.bz2' = 'tar.bz2') => buildPackage(dir, { build: '0', ...spec }, format);
    await publishPackage(store, await make({ name: 'libz', version: '1.2', subdir: 'linux-64' }));
    await publishPackage(store, await make({ name: 'libz', version: '1.3', subdir: 'linux-64' }));
    await publishPackage(store, await make({ name: 'libz', version: '1.3', subdir: 'linux-64' }, 'conda'));
    await publishPackage(store, await make({ name: 'app', version: '1.0', noarch: 'generic', depends: ['libz >=1.2'] }));
    await publishPackage(store, await make({ name: 'libz', version: '1.4', subdir: 'linux-64' }), { label: 'rc' });
    const index = (extra: Partial<ReindexOptions> = {}) => reindex({ channel: store, cacheDir: cache, ...extra });

    const tree = path.join(work, `tree${counter}`);
    const first = await index({ out: tree });
    expect(first.errors ?? []).toEqual([]);
    expect(first.subdirs.find((s) => s.subdir === 'linux-64')).toMatchObject({ packages: 4, labels: [{ label: 'rc', packages: 1, pushed: true }] });
    const main = await latest(store, 'linux-64/repodata.json');
    expect(files(main.repodata)).toEqual(['libz-1.2-0.tar.bz2', 'libz-1.3-0.conda', 'libz-1.3-0.tar.bz2']);
    expect(main.repodata.removed).toEqual([]);
    // What a cold cache starts from: every file unpatched, and which label each is in.
    expect(files(main.fromPackages)).toEqual(['libz-1.2-0.tar.bz2', 'libz-1.3-0.conda', 'libz-1.3-0.tar.bz2', 'libz-1.4-0.tar.bz2']);
    expect(main.labels).toEqual({ labels_version: 1, names: ['rc'], files: { 'libz-1.4-0.tar.bz2': { promoted: 'rc' } } });
    const rc = await latest(store, 'label/rc/linux-64/repodata.json');
    expect(files(rc.repodata)).toEqual(['libz-1.4-0.tar.bz2']);
    expect(rc.repodata).toMatchObject({ info: { base_url: '../../../linux-64/', subdir: 'linux-64' }, repodata_version: 2 });
    expect(files((await latest(store, 'label/rc/noarch/repodata.json')).repodata)).toEqual([]);

    // The static tree: label indexes under label/<label>/, every package file in its subdir.
    expect(JSON.parse(await readFile(path.join(tree, 'label/rc/linux-64/repodata.json'), 'utf8')).info.base_url).toBe('../../../linux-64/');
    await expect(readFile(path.join(tree, 'linux-64/libz-1.4-0.tar.bz2'))).resolves.toBeInstanceOf(Buffer);
    expect(files(JSON.parse(await readFile(path.join(tree, 'linux-64/repodata_from_packages.json'), 'utf8')))).toHaveLength(4);
    await serving(tree, async (url, requested) => {
      expect(await solve(url, ['app'])).toMatchObject({ app: { version: '1.0' }, libz: { version: '1.3' } });
      expect(await solve(`${url}label/rc/`, ['libz'])).toEqual({ libz: { version: '1.4', path: '/linux-64/libz-1.4-0.tar.bz2' } });
      // Each index sees exactly its packages: app is not in rc, libz 1.4 is not in main.
      await expect(solve(`${url}label/rc/`, ['app'])).rejects.toMatch(/No candidates were found for app/);
      await expect(solve(url, ['libz >=1.4'])).rejects.toMatch(/libz >=1\.4/);
      expect(requested).toContain('/label/rc/linux-64/repodata_shards.msgpack.zst');
    });

    // Mark 1.3 broken (both formats), as a core member would, with a reason.
    const broken = await label({
      channel: store,
      artifacts: [
        { subdir: 'linux-64', filename: 'libz-1.3-0.tar.bz2' },
        { subdir: 'linux-64', filename: 'libz-1.3-0.conda' },
      ],
      add: ['broken'],
      actor: 'core-member',
      reason: 'https://example.invalid/admin-requests/1',
    });
    expect(broken.artifacts.map((a) => [a.status, a.labels, a.recorded])).toEqual([
      ['changed', ['broken', 'main'], ['add broken']],
      ['changed', ['broken', 'main'], ['add broken']],
    ]);
    const logged = await listLabelTags(store);
    expect(logged).toHaveLength(2);
    expect(await readLabelChange(store, logged[0]!)).toMatchObject({ label: 'broken', action: 'add', actor: 'core-member', reason: 'https://example.invalid/admin-requests/1' });
    // Asked again: nothing recorded. Refused: an artifact the channel does not hold, a wrong sha256.
    const again = await label({ channel: store, artifacts: [{ subdir: 'linux-64', filename: 'libz-1.3-0.tar.bz2' }], add: ['broken'], actor: 'core-member' });
    expect(again.artifacts[0]).toMatchObject({ status: 'unchanged', labels: ['broken', 'main'] });
    const refused = await label({
      channel: store,
      artifacts: [
        { subdir: 'linux-64', filename: 'libz-9.9-0.tar.bz2' },
        { subdir: 'linux-64', filename: 'libz-1.2-0.tar.bz2', sha256: '0'.repeat(64) },
      ],
      add: ['broken'],
      actor: 'core-member',
    });
    expect(refused.ok).toBe(false);
    expect(refused.artifacts.map((a) => a.status)).toEqual(['refused', 'refused']);
    expect(refused.artifacts[0]!.reason).toMatch(/^linux-64\/libz-9\.9-0\.tar\.bz2: not in .*; only promoted artifacts can be labelled$/);
    expect(refused.artifacts[1]!.reason).toMatch(/declared sha256 0{64} but the channel holds [0-9a-f]{64}; nothing recorded/);
    await expect(label({ channel: store, artifacts: [{ subdir: 'linux-64', filename: 'libz-1.2-0.tar.bz2' }], add: ['Broken!'], actor: 'x' })).rejects.toThrow(/label "Broken!" may only hold/);
    expect(await listLabelTags(store)).toHaveLength(2);

    const second = await index({ out: tree });
    expect(second.errors ?? []).toEqual([]);
    expect(second.subdirs.find((s) => s.subdir === 'linux-64')).toMatchObject({ removed: 2, labels: [{ label: 'broken', packages: 2, pushed: true }, { label: 'rc', packages: 1, pushed: false }] });
    const mainBroken = await latest(store, 'linux-64/repodata.json');
    expect(files(mainBroken.repodata)).toEqual(['libz-1.2-0.tar.bz2']);
    expect(mainBroken.repodata.removed).toEqual(['libz-1.3-0.conda', 'libz-1.3-0.tar.bz2']);
    expect(mainBroken.manifest.annotations[LABEL_MARK]).toBe(logged[1]);
    expect(files((await latest(store, 'label/broken/linux-64/repodata.json')).repodata)).toEqual(['libz-1.3-0.conda', 'libz-1.3-0.tar.bz2']);
    expect(files((await latest(store, 'label/broken/noarch/repodata.json')).repodata)).toEqual([]);
    await serving(tree, async (url) => {
      expect(await solve(url, ['app'])).toMatchObject({ libz: { version: '1.2' } });
      expect(await solve(`${url}label/broken/`, ['libz'])).toMatchObject({ libz: { version: '1.3', path: expect.stringMatching(/^\/linux-64\/libz-1\.3-0\.(conda|tar\.bz2)$/) } });
    });

    // Unmark: back in main, gone from label/broken.
    await label({ channel: store, artifacts: [{ subdir: 'linux-64', filename: 'libz-1.3-0.tar.bz2' }, { subdir: 'linux-64', filename: 'libz-1.3-0.conda' }], remove: ['broken'], actor: 'core-member' });
    await index();
    expect(files((await latest(store, 'linux-64/repodata.json')).repodata)).toEqual(['libz-1.2-0.tar.bz2', 'libz-1.3-0.conda', 'libz-1.3-0.tar.bz2']);
    expect(files((await latest(store, 'label/broken/linux-64/repodata.json')).repodata)).toEqual([]);

    // Warm with nothing new: no blob read, nothing pushed. A cold cache resumes from latest and pushes nothing either.
    const before = (await latest(store, 'linux-64/repodata.json')).digest;
    for (const cacheDir of [cache, path.join(work, `cold${counter}`)]) {
      const counted = countingStore(store);
      const run = await reindex({ channel: counted.store, cacheDir });
      expect(run.errors ?? []).toEqual([]);
      expect(counted.calls.get('pushManifest') ?? 0).toBe(0);
      expect(counted.calls.get('pushBlob') ?? 0).toBe(0);
      if (cacheDir === cache) expect(counted.calls.get('fetchBlob') ?? 0).toBe(0);
    }
    expect((await latest(store, 'linux-64/repodata.json')).digest).toBe(before);
  });
});

describe('label changes and restricted runs', () => {
  it('a change learnt by a run of another subdir is still published when its subdir is indexed with the same cache', async () => {
    const { store, cache, dir } = channel();
    await publishPackage(store, await buildPackage(dir, { name: 'a', version: '1', build: '0', subdir: 'linux-64' }, 'tar.bz2'));
    await publishPackage(store, await buildPackage(dir, { name: 'b', version: '1', build: '0', noarch: 'generic' }, 'tar.bz2'));
    await reindex({ channel: store, cacheDir: cache });
    await label({ channel: store, artifacts: [{ subdir: 'linux-64', filename: 'a-1-0.tar.bz2' }], add: ['broken'], actor: 'core-member' });
    const noarch = await reindex({ channel: store, cacheDir: cache, subdirs: ['noarch'] });
    expect(noarch.subdirs.map((s) => [s.subdir, s.labels])).toEqual([['noarch', [{ label: 'broken', packages: 0, pushed: true }]]]);
    expect(files((await latest(store, 'linux-64/repodata.json')).repodata)).toEqual(['a-1-0.tar.bz2']);
    await reindex({ channel: store, cacheDir: cache, subdirs: ['linux-64'] });
    const linux = await latest(store, 'linux-64/repodata.json');
    expect(files(linux.repodata)).toEqual([]);
    expect(linux.repodata.removed).toEqual(['a-1-0.tar.bz2']);
  });
});

describe('a promotion to a label', () => {
  it('records the label in the promotion log and reindex lists the build under that label only; a bad label is refused first', async () => {
    const { store, cache, dir } = channel();
    const staging = openStore(registry.location(`staging${counter}`));
    const file = await buildPackage(dir, { name: 'tool', version: '2.0rc1', build: '0', noarch: 'generic' }, 'conda');
    expect((await upload({ to: staging, files: [file] })).ok).toBe(true);
    const ref = { subdir: 'noarch', filename: 'tool-2.0rc1-0.conda' };
    await expect(promote({ staging, production: store, artifacts: [ref], label: 'RC' })).rejects.toThrow(/label "RC" may only hold/);
    expect(await listPromotionTags(store)).toEqual([]);
    const promoted = await promote({ staging, production: store, artifacts: [ref], label: 'rc' });
    expect(promoted.artifacts.map((a) => a.status)).toEqual(['promoted']);
    expect((await readPromotions(store)).map((e) => [e.filename, e.label])).toEqual([['tool-2.0rc1-0.conda', 'rc']]);
    const indexed = await reindex({ channel: store, cacheDir: cache });
    expect(indexed.errors ?? []).toEqual([]);
    expect(files((await latest(store, 'noarch/repodata.json')).repodata)).toEqual([]);
    expect(files((await latest(store, 'label/rc/noarch/repodata.json')).repodata)).toEqual(['tool-2.0rc1-0.conda']);
    await staging.close();
  });
});

describe('repodata patches', () => {
  const PATCH_PACKAGE = 'test-repodata-patches';
  const patchesPackage = (dir: string, version: string, subdirs: Record<string, unknown>) =>
    buildPackage(dir, { name: PATCH_PACKAGE, version, build: '0', noarch: 'generic', files: Object.fromEntries(Object.entries(subdirs).map(([s, i]) => [`${s}/patch_instructions.json`, JSON.stringify(i)])) }, 'conda');
  const linuxFix = { patch_instructions_version: 1, packages: { 'pinned-1.0-0.tar.bz2': { depends: ['dep'] } }, remove: ['junk-1.0-0.tar.bz2'], revoke: [] };

  it('applies the real conda-forge-repodata-patches-20180828-0, promoted into the channel, record by record as conda-index', async () => {
    const { store, cache, dir } = channel();
    const real = path.resolve(import.meta.dirname, '../fixtures/conda-index/tests/archives/conda-forge-repodata-patches-20180828-0.tar.bz2');
    await publishPackage(store, real);
    // Builds with file names the osx-64 instructions patch and remove.
    const specs: PackageSpec[] = [
      { name: 'blas', version: '1.0', build: 'openblas', index: { track_features: 'blas_openblas' } },
      { name: 'airflow-with-async', version: '1.9.0', build: '1', depends: ['airflow', 'eventlet'] },
      { name: 'petsc', version: '3.9.2', build: 'blas_openblash1308f21_3', depends: ['blas'], index: { features: 'blas_openblas' } },
      { name: 'cookiecutter', version: '1.4.0', build: '0' },
      { name: 'untouched', version: '1.0', build: '0' },
    ];
    for (const spec of specs) await publishPackage(store, await buildPackage(dir, { subdir: 'osx-64', ...spec }, 'tar.bz2'));
    const result = await reindex({ channel: store, cacheDir: cache, patchGenerator: 'noarch/conda-forge-repodata-patches-20180828-0.tar.bz2', subdirs: ['osx-64', 'noarch'] });
    expect(result.errors ?? []).toEqual([]);
    const osx = await latest(store, 'osx-64/repodata.json');
    const instructions = JSON.parse(
      execFileSync('tar', ['-xjOf', real, 'osx-64/patch_instructions.json'], { maxBuffer: 64 << 20 }).toString(),
    ) as { packages: Record<string, Record<string, unknown>>; remove: string[] };
    for (const [filename, unpatched] of Object.entries(osx.fromPackages.packages) as Array<[string, Record<string, unknown>]>) {
      if (instructions.remove.includes(filename)) {
        expect(osx.repodata.packages[filename]).toBeUndefined();
        continue;
      }
      const fix = instructions.packages[filename] ?? {};
      const expected = { ...unpatched };
      for (const [key, value] of Object.entries(fix)) {
        if (value === null && key in expected) delete expected[key];
        else expected[key] = value;
      }
      expect({ filename, record: osx.repodata.packages[filename] }).toEqual({ filename, record: expected });
    }
    expect(osx.repodata.removed).toEqual(['cookiecutter-1.4.0-0.tar.bz2']);
    expect(osx.repodata.packages['blas-1.0-openblas.tar.bz2']).not.toHaveProperty('track_features');
    expect(osx.repodata.packages['petsc-3.9.2-blas_openblash1308f21_3.tar.bz2']).not.toHaveProperty('features');
    expect(osx.repodata.packages['airflow-with-async-1.9.0-1.tar.bz2'].depends).toEqual(instructions.packages['airflow-with-async-1.9.0-1.tar.bz2']!.depends);
    expect(osx.manifest.annotations[PATCH_SOURCE]).toMatch(/^noarch\/conda-forge-repodata-patches-20180828-0\.tar\.bz2@sha256:/);
  });

  it('applies the newest patches build in noarch, re-patches only what a new build touches, and refuses a bad one', async () => {
    const { store, cache, dir } = channel();
    const make = (spec: PackageSpec) => buildPackage(dir, { build: '0', subdir: 'linux-64', ...spec }, 'tar.bz2');
    for (const spec of [{ name: 'dep', version: '1.0' }, { name: 'dep', version: '2.0' }, { name: 'pinned', version: '1.0', depends: ['dep <2'] }, { name: 'junk', version: '1.0' }]) {
      await publishPackage(store, await make(spec));
    }
    await publishPackage(store, await make({ name: 'tool', version: '1.0', subdir: 'osx-64', license: 'BSD-3-Clause' }));
    const plainTree = path.join(work, `plain${counter}`);
    await reindex({ channel: store, cacheDir: cache, out: plainTree });
    await serving(plainTree, async (url) => expect(await solve(url, ['pinned'])).toMatchObject({ dep: { version: '1.0' } }));

    await publishPackage(store, await patchesPackage(dir, '2026.1', { 'linux-64': linuxFix }));
    const tree = path.join(work, `patched${counter}`);
    const patched = await reindex({ channel: store, cacheDir: cache, patchPackage: PATCH_PACKAGE, out: tree });
    expect(patched.errors ?? []).toEqual([]);
    expect(patched.subdirs.find((s) => s.subdir === 'osx-64')?.tags).toEqual([]);
    const linux = await latest(store, 'linux-64/repodata.json');
    expect(linux.repodata.packages['pinned-1.0-0.tar.bz2'].depends).toEqual(['dep']);
    expect(linux.repodata.packages['junk-1.0-0.tar.bz2']).toBeUndefined();
    expect(linux.repodata.removed).toEqual(['junk-1.0-0.tar.bz2']);
    expect(linux.fromPackages.packages['pinned-1.0-0.tar.bz2'].depends).toEqual(['dep <2']);
    expect(linux.manifest.annotations[PATCHES]).toMatch(/^[0-9a-f]{32}$/);
    expect(linux.manifest.annotations[PATCH_SOURCE]).toMatch(/^noarch\/test-repodata-patches-2026\.1-0\.conda@sha256:[0-9a-f]{64}$/);
    // The shards rattler reads first carry the patch too; with it the loosened pin changes the solution.
    const shardIndex = decodeShardIndex(await readFile(path.join(tree, 'linux-64/repodata_shards.msgpack.zst')));
    const shard = decodeShard(await readFile(path.join(tree, 'linux-64/shards', `${Buffer.from(shardIndex.shards.pinned!).toString('hex')}.msgpack.zst`)));
    expect(shard.packages['pinned-1.0-0.tar.bz2']!.depends).toEqual(['dep']);
    await serving(tree, async (url) => expect(await solve(url, ['pinned'])).toMatchObject({ dep: { version: '2.0' } }));

    // Warm, same patches: nothing downloaded, nothing pushed.
    const warm = countingStore(store);
    await reindex({ channel: warm.store, cacheDir: cache, patchPackage: PATCH_PACKAGE });
    expect(warm.calls.get('fetchBlob') ?? 0).toBe(0);
    expect(warm.calls.get('pushManifest') ?? 0).toBe(0);

    // A new build that changes osx-64 only: osx-64 is re-patched, linux-64 (same instructions) is not pushed.
    await publishPackage(store, await patchesPackage(dir, '2026.2', { 'linux-64': linuxFix, 'osx-64': { packages: { 'tool-1.0-0.tar.bz2': { license: 'MIT' } } } }));
    const next = countingStore(store);
    const nextRun = await reindex({ channel: next.store, cacheDir: cache, patchPackage: PATCH_PACKAGE });
    expect(nextRun.subdirs.find((s) => s.subdir === 'linux-64')?.tags).toEqual([]);
    expect(nextRun.subdirs.find((s) => s.subdir === 'osx-64')?.tags).toHaveLength(2);
    expect(next.calls.get('fetchBlob')).toBe(1); // the new patches package itself (its index.json rides in its manifest)
    expect((await latest(store, 'osx-64/repodata.json')).repodata.packages['tool-1.0-0.tar.bz2'].license).toBe('MIT');
    // The same build named as SUBDIR/FILENAME is the same patches: nothing to do.
    const named = countingStore(store);
    await reindex({ channel: named.store, cacheDir: cache, patchGenerator: 'noarch/test-repodata-patches-2026.2-0.conda' });
    expect(named.calls.get('pushManifest') ?? 0).toBe(0);

    // The channel's own instructions (what mirror writes) apply after the package's.
    await writeChannelPatchInstructions(store, 'osx-64', { packages: {}, 'packages.conda': {}, remove: [], revoke: ['tool-1.0-0.tar.bz2'] });
    await reindex({ channel: store, cacheDir: cache, patchPackage: PATCH_PACKAGE });
    expect((await latest(store, 'osx-64/repodata.json')).repodata.packages['tool-1.0-0.tar.bz2']).toMatchObject({ license: 'MIT', revoked: true, depends: ['package_has_been_revoked'] });

    // A bad build (unknown instructions version) and a corrupt file: refused in one line, nothing pushed.
    const digests = async () => Promise.all(['linux-64', 'osx-64', 'noarch'].map(async (s) => (await latest(store, `${s}/repodata.json`)).digest));
    const kept = await digests();
    await publishPackage(store, await patchesPackage(dir, '2026.3', { 'linux-64': { ...linuxFix, patch_instructions_version: 2 } }));
    for (const options of [{ patchPackage: PATCH_PACKAGE }, { patchGenerator: await truncatedCopy(await patchesPackage(path.join(dir, 'bad'), '2026.4', { 'linux-64': linuxFix }), path.join(dir, 'cut'), 300) }]) {
      const counted = countingStore(store);
      const error = await reindex({ channel: counted.store, cacheDir: cache, ...options }).catch((e: Error) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).not.toContain('\n');
      expect((error as Error).message).toMatch(options.patchPackage ? /linux-64\/patch_instructions\.json of test-repodata-patches-2026\.3-0\.conda has patch_instructions_version 2/ : /^patches package test-repodata-patches-2026\.4-0\.conda: /);
      expect(counted.calls.get('pushManifest') ?? 0).toBe(0);
    }
    expect(await digests()).toEqual(kept);
  });
});
