// mirror against a real registry, from a real channel served on loopback (test/fixtures packages and generated
// ones, both formats; repodata.json with patched records, repodata.json.zst, and a variant with CEP 16 shards):
// the reindexed repodata equals upstream's for the mirrored files (exactly, once the returned patch is applied as
// conda-index applies it), rattler solves the same environment from both, a package corrupted upstream is
// refused with nothing pushed, a second run transfers nothing, a killed run resumes and ends exact, the filters
// select exactly what they say, and another oci-channel location works as upstream.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openStore, type Store } from '@oci-channel/oci';
import { encodeTag, packageRepository, parsePackageFilename, rattler, zstdCompress } from '@oci-channel/conda';
import { fetchPackageManifest, fileKey, listPromotionTags, mirror, reindex, type MirrorResult } from '@oci-channel/pipeline';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { serveChannel, type ChannelServer } from '../harness/channel-server.ts';
import { buildPackage } from '../helpers/conda-builder.ts';
import { applyPatchInstructions } from '../helpers/patch-oracle.ts';
import { buildUpstreamChannel, writeSubdirIndex, type BuiltChannel, type UpstreamRepodata } from '../helpers/upstream-channel.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures');
const HOTFIX = path.join(FIXTURES, 'conda-index/tests/index_hotfix_pkgs/osx-64');
const NOARCH_FIXTURES = [
  path.join(FIXTURES, 'rattler/test-data/test-server/repo/noarch/test-package-0.1-0.tar.bz2'),
  path.join(FIXTURES, 'conda-index/tests/archives/conda-forge-repodata-patches-20180828-0.tar.bz2'),
];
const PATCHED_BZ2 = 'hotfix_depends_test-1.0-dummy_0.tar.bz2';

let dir: string;
let registry: RunningRegistry;
let plain: BuiltChannel;
let sharded: BuiltChannel;
let upstream: ChannelServer;
let shardServer: ChannelServer;
let broken: string;
let mtool: string;
const stores: Store[] = [];

function store(location: string): Store {
  const s = openStore(location);
  stores.push(s);
  return s;
}

/** Upstream edits two records after the fact: a dependency tightened on one format only, a license and constrains. */
function patchRecord(subdir: string, filename: string, record: Record<string, unknown>): Record<string, unknown> {
  if (subdir === 'osx-64' && filename === PATCHED_BZ2) return { ...record, depends: ['zlib >=1.2.11,<1.3'] };
  if (subdir === 'linux-64' && filename === mtool) return { ...record, constrains: ['mlib <3'], license: 'BSD-3-Clause' };
  return record;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'mirror-'));
  registry = await startRegistry();
  const gen = path.join(dir, 'gen');
  const b = (spec: Parameters<typeof buildPackage>[1], format: 'conda' | 'tar.bz2' = 'conda') => buildPackage(gen, spec, format);
  const linux = [
    await b({ name: 'mlib', version: '1.0', subdir: 'linux-64', timestamp: 1600000000000 }),
    await b({ name: 'mlib', version: '1.0', subdir: 'linux-64', timestamp: 1600000000000 }, 'tar.bz2'),
    await b({ name: 'mlib', version: '2.0', subdir: 'linux-64', timestamp: 1700000000000 }),
    await b({ name: 'mtool', version: '2.0', subdir: 'linux-64', depends: ['mlib >=1', 'mdata'], timestamp: 1700000000000 }),
    await b({ name: 'mtool', version: '1.0', subdir: 'linux-64', depends: ['mlib 1.*'], timestamp: 1500000000000 }, 'tar.bz2'),
    await b({ name: 'mbroken', version: '1.0', subdir: 'linux-64', timestamp: 1700000000000 }),
  ];
  mtool = path.basename(linux[3]!);
  broken = path.basename(linux[5]!);
  const noarch = [...NOARCH_FIXTURES, await b({ name: 'mdata', version: '1', noarch: 'generic', timestamp: 1700000000000 })];
  const osx = readdirSync(HOTFIX).filter((f) => /\.(conda|tar\.bz2)$/.test(f)).map((f) => path.join(HOTFIX, f));
  const files = { 'linux-64': linux, noarch, 'osx-64': osx };
  plain = await buildUpstreamChannel(path.join(dir, 'upstream'), files, { patch: patchRecord });
  sharded = await buildUpstreamChannel(path.join(dir, 'upstream-shards'), files, { patch: patchRecord, shards: true });
  upstream = await serveChannel(plain.dir);
  shardServer = await serveChannel(sharded.dir);
});

afterAll(async () => {
  for (const s of stores) await s.close();
  await upstream?.stop();
  await shardServer?.stop();
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});

const allFiles = (channel: BuiltChannel) =>
  Object.entries(channel.repodata).flatMap(([subdir, data]) => [...Object.keys(data.packages), ...Object.keys(data['packages.conda'])].map((filename) => `${subdir}/${filename}`)).sort();
const packageRequests = (server: ChannelServer) => server.requests.filter((p) => /\.(conda|tar\.bz2)$/.test(p)).sort();
const statusOf = (result: MirrorResult, status: string) => result.artifacts.filter((a) => a.status === status).map((a) => `${a.subdir}/${a.filename}`);

/** Upstream's records of the files `repodata` lists, without what a reindex adds (indexed_timestamp). */
function comparable(data: { packages: Record<string, Record<string, unknown>>; 'packages.conda': Record<string, Record<string, unknown>> }) {
  const strip = (map: Record<string, Record<string, unknown>>) =>
    Object.fromEntries(Object.entries(map).map(([k, { indexed_timestamp: _t, ...rest }]) => [k, rest]));
  return { packages: strip(data.packages), 'packages.conda': strip(data['packages.conda']), removed: [] as string[] };
}

function only(data: UpstreamRepodata, keep: (filename: string) => boolean) {
  const pick = (map: Record<string, Record<string, unknown>>) => Object.fromEntries(Object.entries(map).filter(([k]) => keep(k)));
  return { packages: pick(data.packages), 'packages.conda': pick(data['packages.conda']), removed: [] as string[] };
}

async function solve(url: string, specs: string[], subdirs: Parameters<ReturnType<typeof rattler>["simpleSolve"]>[2]) {
  const solution = await rattler().simpleSolve(specs, [url], subdirs, []);
  return solution.map((p) => `${p.packageName}=${p.version}=${p.build} ${p.sha256}`).sort();
}

test('into production from repodata.json.zst: corrupt upstream refused, index equals upstream once patched, rattler agrees, a second run sends nothing', async () => {
  const to = registry.location('m/production');
  const production = store(to);
  const brokenPath = `/linux-64/${broken}`;
  const good = await readFile(path.join(plain.dir, 'linux-64', broken));
  const bad = Buffer.from(good);
  bad[bad.length >> 1]! ^= 0xff;
  upstream.replaced.set(brokenPath, bad);
  upstream.requests.length = 0;

  const first = await mirror({ from: upstream.url, to, production: true });
  // The index a conda client would read: shards probed, then the zst; never the plain repodata.json.
  expect(first.subdirs.map((s) => [s.subdir, s.format])).toEqual([['linux-64', 'repodata.json.zst'], ['noarch', 'repodata.json.zst'], ['osx-64', 'repodata.json.zst']]);
  expect(upstream.requests).toContain('/linux-64/repodata_shards.msgpack.zst');
  expect(upstream.requests.filter((p) => p.endsWith('/repodata.json'))).toEqual([]);
  // The corrupt package is refused, named, with nothing pushed or logged for it.
  expect(first.ok).toBe(false);
  expect(first.errors).toEqual([]);
  expect(statusOf(first, 'refused')).toEqual([`linux-64/${broken}`]);
  expect(first.artifacts.find((a) => a.status === 'refused')?.reason).toMatch(/^upstream sent linux-64\/mbroken-1\.0-\S+\.conda as \d+ bytes with sha256 [0-9a-f]{64}.*but its record says.*refused, nothing pushed for it$/);
  const { name, version, build } = parsePackageFilename(broken);
  expect(await fetchPackageManifest(production, packageRepository('linux-64', name), encodeTag(version, build))).toBeUndefined();
  const logTags = await listPromotionTags(production);
  expect(logTags.some((t) => t.endsWith(fileKey('linux-64', broken)))).toBe(false);
  const expected = allFiles(plain).filter((f) => f !== `linux-64/${broken}`);
  expect(statusOf(first, 'mirrored')).toEqual(expected);
  expect(new Set(logTags.map((t) => t.slice(-16)))).toEqual(new Set(expected.map((f) => fileKey(f.split('/')[0]!, f.split('/')[1]!))));
  expect(first.summary).toMatchObject({ selected: expected.length + 1, mirrored: expected.length, alreadyThere: 0, refused: 1, failed: 0 });
  expect(packageRequests(upstream)).toEqual(allFiles(plain).map((f) => `/${f}`));

  // The patch upstream's records need, per subdir: the .tar.bz2 patch also reaches its .conda, which is set back.
  expect(first.patches.map((p) => p.subdir)).toEqual(['linux-64', 'osx-64']);
  expect(first.patches.find((p) => p.subdir === 'osx-64')?.instructions).toEqual({
    patch_instructions_version: 1,
    packages: { [PATCHED_BZ2]: { depends: ['zlib >=1.2.11,<1.3'] } },
    'packages.conda': { 'hotfix_depends_test-1.0-dummy_0.conda': { depends: ['zlib'] } },
    remove: [],
    revoke: [],
  });
  expect(first.patches.find((p) => p.subdir === 'linux-64')?.instructions['packages.conda']).toEqual({ [mtool]: { constrains: ['mlib <3'], license: 'BSD-3-Clause' } });
  expect(first.patches.every((p) => p.unrepresentable.length === 0)).toBe(true);

  // reindex sees the mirrored files like promotions; with the patch applied its repodata IS upstream's.
  const out = path.join(dir, 'out');
  const indexed = await reindex({ channel: to, out, cacheDir: path.join(dir, 'cache') });
  expect(indexed.ok).toBe(true);
  for (const [subdir, data] of Object.entries(plain.repodata)) {
    const ours = comparable(JSON.parse(await readFile(path.join(out, subdir, 'repodata.json'), 'utf8')));
    const theirs = only(data, (f) => f !== broken);
    const patch = first.patches.find((p) => p.subdir === subdir);
    expect(patch ? applyPatchInstructions(ours, patch.instructions) : ours).toEqual(theirs);
    // Without the patch only the patched records differ, and only by what upstream changed.
    for (const key of ['packages', 'packages.conda'] as const) {
      for (const [filename, record] of Object.entries(ours[key])) {
        if (![PATCHED_BZ2, mtool].includes(filename)) expect({ filename, record }).toEqual({ filename, record: theirs[key][filename] });
      }
    }
  }

  // rattler solves the same environment from upstream and from the mirror's static tree.
  const tree = await serveChannel(out);
  try {
    expect(await solve(tree.url, ['mtool'], ['linux-64', 'noarch'])).toEqual(await solve(upstream.url, ['mtool'], ['linux-64', 'noarch']));
    expect(await solve(tree.url, ['mtool'], ['linux-64', 'noarch'])).toHaveLength(3);
  } finally {
    await tree.stop();
  }

  // Second run: nothing new upstream, nothing sent (only the corrupt package is fetched again, and refused again).
  upstream.requests.length = 0;
  const second = await mirror({ from: upstream.url, to, production: true });
  expect(second.summary).toMatchObject({ mirrored: 0, alreadyThere: expected.length, refused: 1, failed: 0 });
  expect(packageRequests(upstream)).toEqual([brokenPath]);
  expect(second.patches).toEqual(first.patches);
  expect((await listPromotionTags(production)).length).toBe(logTags.length);

  // Upstream fixed the package and dropped a file: only the fixed one is sent; the dropped one is reported, and
  // goes into the patch's remove list only when asked.
  upstream.replaced.delete(brokenPath);
  const noarch = structuredClone(plain.repodata.noarch!);
  delete noarch.packages['test-package-0.1-0.tar.bz2'];
  await writeSubdirIndex(plain.dir, noarch, false);
  upstream.requests.length = 0;
  const third = await mirror({ from: upstream.url, to, production: true, applyRemovals: true });
  expect(third.ok).toBe(true);
  expect(statusOf(third, 'mirrored')).toEqual([`linux-64/${broken}`]);
  expect(packageRequests(upstream)).toEqual([brokenPath]);
  expect(third.removedUpstream).toEqual([{ subdir: 'noarch', filename: 'test-package-0.1-0.tar.bz2' }]);
  expect(third.patches.find((p) => p.subdir === 'noarch')?.instructions.remove).toEqual(['test-package-0.1-0.tar.bz2']);
  const reported = await mirror({ from: upstream.url, to, production: true, dryRun: true });
  expect(reported.removedUpstream).toEqual(third.removedUpstream);
  expect(reported.patches.find((p) => p.subdir === 'noarch')).toBeUndefined();
  await writeSubdirIndex(plain.dir, plain.repodata.noarch!, false);
});

test('from CEP 16 shards into staging: only the shards of the names asked for are read; nothing logged', async () => {
  const to = registry.location('m/staging');
  shardServer.requests.length = 0;
  const result = await mirror({ from: shardServer.url, to, packages: ['mlib', 'hotfix_*'], subdirs: ['linux-64', 'osx-64', 'noarch'] });
  expect(result.ok).toBe(true);
  expect(result.subdirs.map((s) => [s.subdir, s.format, s.selected])).toEqual([['linux-64', 'shards', 3], ['osx-64', 'shards', 2], ['noarch', 'shards', 0]]);
  expect(statusOf(result, 'mirrored')).toEqual([
    ...allFiles(sharded).filter((f) => f.startsWith('linux-64/mlib-')),
    'osx-64/hotfix_depends_test-1.0-dummy_0.conda',
    `osx-64/${PATCHED_BZ2}`,
  ]);
  // One shard per wanted name, no repodata.json of any kind.
  expect(shardServer.requests.filter((p) => p.includes('/shards/'))).toHaveLength(2);
  expect(shardServer.requests.filter((p) => p.includes('repodata.json'))).toEqual([]);
  const staging = store(to);
  expect(await listPromotionTags(staging)).toEqual([]);
  expect((await fetchPackageManifest(staging, 'linux-64/mlib', encodeTag('1.0', parsePackageFilename(path.basename(statusOf(result, 'mirrored')[0]!)).build)))?.view.packages).toHaveLength(2);
  // The same upstream patch, read from shards (md5/sha256 as bytes there).
  expect(result.patches.find((p) => p.subdir === 'osx-64')?.instructions.packages).toEqual({ [PATCHED_BZ2]: { depends: ['zlib >=1.2.11,<1.3'] } });
});

test('filters select exactly: --subdir, --package, --since (a dry run from plain repodata.json writes nothing)', async () => {
  upstream.hidden.add('/linux-64/repodata.json.zst');
  try {
    const to = registry.location('m/dry');
    const result = await mirror({ from: upstream.url, to, subdirs: ['linux-64'], packages: ['m[lt]*'], since: new Date('2023-01-01'), dryRun: true });
    expect(result.subdirs).toEqual([{ subdir: 'linux-64', format: 'repodata.json', selected: 2 }]);
    // mlib 2.0 and mtool 2.0 are from 2023; mlib 1.0 (2020) and mtool 1.0 (2017) are older, mbroken and mdata other names.
    expect(result.artifacts.map((a) => [a.status, a.filename.replace(/-h[0-9a-f]{8}_0/, '')])).toEqual([
      ['would-mirror', 'mlib-2.0.conda'],
      ['would-mirror', 'mtool-2.0.conda'],
    ]);
    expect(await store(to).repository('linux-64/mlib').listTags()).toEqual([]);
  } finally {
    upstream.hidden.delete('/linux-64/repodata.json.zst');
  }
});

function runChild(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const node = path.resolve('node_modules/.bin/node');
  const child = spawn(node, ['--disable-warning=ExperimentalWarning', path.resolve('test/pipeline/mirror-kill-child.ts'), ...args], { stdio: 'ignore' });
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
}

test('a mirror killed half-way resumes without sending again what is there, and ends exact', async () => {
  const to = registry.location('k/production');
  upstream.requests.length = 0;
  const crashed = await runChild([upstream.url, to, '2']);
  expect(crashed.signal).toBe('SIGKILL');
  const before = packageRequests(upstream);
  expect(before.length).toBeGreaterThanOrEqual(3);
  expect(before.length).toBeLessThan(allFiles(plain).length);

  upstream.requests.length = 0;
  const resumed = await mirror({ from: upstream.url, to, production: true });
  expect(resumed.ok).toBe(true);
  expect(resumed.summary.alreadyThere).toBeGreaterThanOrEqual(2);
  expect(resumed.summary.mirrored + resumed.summary.alreadyThere).toBe(allFiles(plain).length);
  // What was pushed before the kill is not fetched again (the one killed mid-push may be).
  const again = packageRequests(upstream);
  expect(again.length).toBe(resumed.summary.mirrored);
  expect(again.filter((p) => before.includes(p)).length).toBeLessThanOrEqual(1);

  // Exact: every upstream file at its tag with its sha256, logged once, and indexed.
  const production = store(to);
  const logged = await listPromotionTags(production);
  expect(logged).toHaveLength(allFiles(plain).length);
  expect(new Set(logged.map((t) => t.slice(-16)))).toEqual(new Set(allFiles(plain).map((f) => fileKey(f.split('/')[0]!, f.split('/')[1]!))));
  const out = path.join(dir, 'out-k');
  expect((await reindex({ channel: to, out, cacheDir: path.join(dir, 'cache-k') })).ok).toBe(true);
  for (const [subdir, data] of Object.entries(plain.repodata)) {
    const ours = comparable(JSON.parse(await readFile(path.join(out, subdir, 'repodata.json'), 'utf8')));
    const patch = resumed.patches.find((p) => p.subdir === subdir);
    expect(patch ? applyPatchInstructions(ours, patch.instructions) : ours).toEqual(only(data, () => true));
  }
  expect((await mirror({ from: upstream.url, to, production: true })).summary).toMatchObject({ mirrored: 0, refused: 0, failed: 0 });
});

test('another oci-channel location as upstream: its published index, its blobs by digest', async () => {
  const from = registry.location('k/production');
  const to = registry.location('copy/staging');
  const result = await mirror({ from, to, packages: ['mtool', 'mdata'] });
  expect(result.ok).toBe(true);
  expect(result.subdirs.map((s) => [s.subdir, s.format, s.selected])).toEqual([['linux-64', 'oci', 2], ['noarch', 'oci', 1], ['osx-64', 'oci', 0]]);
  expect(statusOf(result, 'mirrored')).toEqual(allFiles(plain).filter((f) => /\/(mtool|mdata)-/.test(f)));
  // Its records are the package records its reindex wrote: nothing to patch (indexed_timestamp is the channel's own).
  expect(result.patches).toEqual([]);
  expect((await mirror({ from, to, packages: ['mtool', 'mdata'] })).summary).toMatchObject({ mirrored: 0, alreadyThere: 3 });
});

test('hostile upstream answers: one line naming upstream, and nothing pushed', async () => {
  const root = path.join(dir, 'hostile');
  const pkg = await buildPackage(path.join(dir, 'gen-hostile'), { name: 'hx', version: '1.0', subdir: 'linux-64' }, 'conda');
  const other = await buildPackage(path.join(dir, 'gen-hostile'), { name: 'hy', version: '1.0', subdir: 'osx-64' }, 'conda');
  const built = await buildUpstreamChannel(root, { 'linux-64': [pkg], 'osx-64': [other], noarch: [], 'win-64': [] }, { shards: true });
  const hx = path.basename(pkg);
  // linux-64 (repodata.json): a record without sha256, and a package served longer than its record says.
  const linux = structuredClone(built.repodata['linux-64']!);
  linux['packages.conda']['nosha-1.0-0.conda'] = { name: 'nosha', version: '1.0', build: '0', build_number: 0, size: 1 };
  await writeSubdirIndex(root, linux, false);
  const hostile = await serveChannel(root);
  try {
    hostile.hidden.add('/linux-64/repodata_shards.msgpack.zst');
    hostile.replaced.set(`/linux-64/${hx}`, Buffer.concat([await readFile(pkg), Buffer.alloc(4096, 1)]));
    // osx-64: its shard is not the bytes its index names; noarch: a .zst that is no zstd; win-64: packages on file:.
    hostile.replaced.set(`/osx-64/shards/${readdirSync(path.join(root, 'osx-64', 'shards'))[0]}`, Buffer.from('not the shard'));
    hostile.hidden.add('/noarch/repodata_shards.msgpack.zst');
    hostile.replaced.set('/noarch/repodata.json.zst', Buffer.from('garbage'));
    hostile.hidden.add('/win-64/repodata_shards.msgpack.zst');
    hostile.replaced.set('/win-64/repodata.json.zst', zstdCompress(JSON.stringify({ info: { subdir: 'win-64', base_url: 'file:///etc/' }, packages: {}, 'packages.conda': {} })));
    const to = registry.location('h/staging');
    const result = await mirror({ from: hostile.url, to, subdirs: ['linux-64', 'noarch', 'osx-64', 'win-64'] });
    expect(result.ok).toBe(false);
    expect(result.artifacts.map((a) => [a.status, a.filename, a.reason])).toEqual([
      ['refused', hx, expect.stringMatching(/^upstream sent more than the \d+ bytes its record gives for linux-64\/hx-1\.0-\S+\.conda; refused, nothing pushed for it$/)],
      ['refused', 'nosha-1.0-0.conda', "upstream's record of linux-64/nosha-1.0-0.conda has no sha256, so its bytes cannot be verified; not mirrored"],
    ]);
    expect(result.errors).toEqual([
      expect.stringMatching(/^upstream http:\/\/127\.0\.0\.1:\d+\/noarch\/repodata\.json\.zst does not decompress/),
      expect.stringMatching(/^upstream http:\/\/127\.0\.0\.1:\d+\/osx-64\/shards\/[0-9a-f]{64}\.msgpack\.zst does not hash to the sha256 its shard index gives; refused$/),
      expect.stringMatching(/^upstream index http:\/\/127\.0\.0\.1:\d+\/win-64\/repodata\.json\.zst gives packages a file: base URL; refused$/),
    ]);
    for (const e of result.errors) expect(e.split('\n')).toHaveLength(1);
    expect(await store(to).listRepositories()).toEqual([]);
  } finally {
    await hostile.stop();
  }
});
