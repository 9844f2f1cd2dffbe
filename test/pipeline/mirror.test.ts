// mirror against a real registry, from a real channel served on loopback (test/fixtures packages and generated
// ones, both formats; repodata.json with patched records (changed, dropped and revoked fields), repodata.json.zst,
// and a variant with CEP 16 shards): the repodata reindex writes equals upstream's for the mirrored files, field by
// field (mirror stores upstream's patched records as the channel's patch instructions), rattler solves the same
// environment from both, a package corrupted upstream is refused with nothing pushed, a second run transfers and
// writes nothing, runs killed half-way (mid-push, and between storing patch instructions and logging) resume and
// end exact, the filters select exactly what they say, and another oci-channel location works as upstream.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openStore, sha256Digest, type Store } from '@oci-channel/oci';
import { encodeTag, packageRepository, parsePackageFilename, rattler, zstdCompress } from '@oci-channel/conda';
import { fetchPackageManifest, fileKey, listPromotionTags, mirror, readPromotions, reindex, type MirrorResult } from '@oci-channel/pipeline';
import { patchInstructionsRepository, readChannelInstructionsAt } from '../../packages/pipeline/src/index/channel-patches.ts';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { serveChannel, type ChannelServer } from '../harness/channel-server.ts';
import { buildPackage } from '../helpers/conda-builder.ts';
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

/**
 * Upstream edits records after the fact: a dependency tightened on one format only, a field dropped from the
 * other format, a field dropped from both, a build revoked (both formats), constrains and a license added.
 */
function patchRecord(subdir: string, filename: string, record: Record<string, unknown>): Record<string, unknown> {
  if (subdir === 'osx-64' && filename === PATCHED_BZ2) return { ...record, depends: ['zlib >=1.2.11,<1.3'] };
  if (subdir === 'osx-64' && filename === 'hotfix_depends_test-1.0-dummy_0.conda') {
    const { features: _dropped, ...rest } = record;
    return rest;
  }
  if (subdir === 'osx-64' && filename.startsWith('track_features_test-1.0-0.')) {
    const { track_features: _dropped, ...rest } = record;
    return rest;
  }
  if (subdir === 'osx-64' && filename.startsWith('revoke_test-1.0-0.')) return { ...record, revoked: true, depends: [...(record.depends as string[]), 'package_has_been_revoked'] };
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

type Records = Record<string, Record<string, unknown>>;

/** The records of a repodata.json, without what each channel stamps itself (indexed_timestamp). */
function records(data: { packages: Records; 'packages.conda': Records }) {
  const strip = (map: Records) => Object.fromEntries(Object.entries(map).map(([k, { indexed_timestamp: _t, ...rest }]) => [k, rest]));
  return { packages: strip(data.packages), 'packages.conda': strip(data['packages.conda']) };
}

function only(data: UpstreamRepodata, keep: (filename: string) => boolean) {
  const pick = (map: Records) => Object.fromEntries(Object.entries(map).filter(([k]) => keep(k)));
  return records({ packages: pick(data.packages), 'packages.conda': pick(data['packages.conda']) });
}

/** The repodata reindex wrote for each subdir equals upstream's (its files `keep` selects), record by record. */
async function expectUpstreamRecords(out: string, upstreamData: Record<string, UpstreamRepodata>, keep: (subdir: string, filename: string) => boolean = () => true) {
  for (const [subdir, data] of Object.entries(upstreamData)) {
    const ours = records(JSON.parse(await readFile(path.join(out, subdir, 'repodata.json'), 'utf8')));
    expect({ subdir, ...ours }).toEqual({ subdir, ...only(data, (f) => keep(subdir, f)) });
  }
}

/** The channel's own patch instructions of a subdir, and the tags of its repository (one per version written). */
async function storedPatches(store: Store, subdir: string) {
  const repository = store.repository(patchInstructionsRepository(subdir));
  const head = await repository.resolve('latest');
  return { digest: head?.digest, instructions: head ? (await readChannelInstructionsAt(repository, head.digest)).instructions : undefined, tags: (await repository.listTags()).sort() };
}

async function solve(url: string, specs: string[], subdirs: Parameters<ReturnType<typeof rattler>["simpleSolve"]>[2]) {
  const solution = await rattler().simpleSolve(specs, [url], subdirs, []);
  return solution.map((p) => `${p.packageName}=${p.version}=${p.build} ${p.sha256}`).sort();
}

test('into production from repodata.json.zst: corrupt upstream refused, upstream patches stored, the index equals upstream field by field, rattler agrees, a second run sends and writes nothing', async () => {
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
  // Each entry carries the manifest it names: a first index reads each file from its entry alone.
  const logged = await readPromotions(production);
  expect(logged.filter((e) => e.manifest === undefined || sha256Digest(e.manifest) !== e.manifestDigest)).toEqual([]);
  expect(first.summary).toMatchObject({ selected: expected.length + 1, mirrored: expected.length, alreadyThere: 0, refused: 1, failed: 0 });
  expect(packageRequests(upstream)).toEqual(allFiles(plain).map((f) => `/${f}`));

  // Upstream's patched records are stored as the channel's patch instructions, per subdir: a .tar.bz2 patch also
  // reaches its .conda, which is set back; dropped fields are nulls; one entry covers both formats where it can.
  expect(first.patches.map((p) => [p.subdir, p.status, p.patched, p.records, p.unrepresentable])).toEqual([
    ['linux-64', 'written', 1, 1, []],
    ['osx-64', 'written', 4, 4, []],
  ]);
  const osx = await storedPatches(production, 'osx-64');
  expect(osx.instructions).toEqual({
    patch_instructions_version: 1,
    packages: {
      [PATCHED_BZ2]: { depends: ['zlib >=1.2.11,<1.3'] },
      'revoke_test-1.0-0.tar.bz2': { depends: ['zlib', 'package_has_been_revoked'], revoked: true },
      'track_features_test-1.0-0.tar.bz2': { track_features: null },
    },
    'packages.conda': { 'hotfix_depends_test-1.0-dummy_0.conda': { depends: ['zlib'], features: null } },
    remove: [],
    revoke: [],
  });
  expect(first.patches.find((p) => p.subdir === 'osx-64')?.digest).toBe(osx.digest);
  expect((await storedPatches(production, 'linux-64')).instructions?.['packages.conda']).toEqual({ [mtool]: { constrains: ['mlib <3'], license: 'BSD-3-Clause' } });
  expect((await storedPatches(production, 'noarch')).digest).toBeUndefined();

  // reindex applies them: its repodata IS upstream's for every mirrored file, field by field.
  const out = path.join(dir, 'out');
  const indexed = await reindex({ channel: to, out, cacheDir: path.join(dir, 'cache') });
  expect(indexed.ok).toBe(true);
  await expectUpstreamRecords(out, plain.repodata, (_subdir, filename) => filename !== broken);

  // rattler solves the same environment from upstream and from the mirror's static tree.
  const tree = await serveChannel(out);
  try {
    expect(await solve(tree.url, ['mtool'], ['linux-64', 'noarch'])).toEqual(await solve(upstream.url, ['mtool'], ['linux-64', 'noarch']));
    expect(await solve(tree.url, ['mtool'], ['linux-64', 'noarch'])).toHaveLength(3);
  } finally {
    await tree.stop();
  }

  // Second run: nothing new upstream, nothing sent (only the corrupt package is fetched again, and refused again),
  // nothing compared (the index serves upstream's records) and no patch instructions written.
  const before = await Promise.all(['linux-64', 'osx-64'].map((subdir) => storedPatches(production, subdir)));
  upstream.requests.length = 0;
  const second = await mirror({ from: upstream.url, to, production: true });
  expect(second.summary).toMatchObject({ mirrored: 0, alreadyThere: expected.length, refused: 1, failed: 0 });
  expect(packageRequests(upstream)).toEqual([brokenPath]);
  expect(second.patches).toEqual([]);
  expect((await listPromotionTags(production)).length).toBe(logTags.length);
  expect(await Promise.all(['linux-64', 'osx-64'].map((subdir) => storedPatches(production, subdir)))).toEqual(before);

  // Upstream fixed the package, dropped a file and took back the mtool patch: only the fixed one is sent; the
  // dropped one is reported, and with applyRemovals goes into the remove list; mtool's entry goes away.
  upstream.replaced.delete(brokenPath);
  const noarch = structuredClone(plain.repodata.noarch!);
  delete noarch.packages['test-package-0.1-0.tar.bz2'];
  await writeSubdirIndex(plain.dir, noarch, false);
  const linux = structuredClone(plain.repodata['linux-64']!);
  linux['packages.conda'][mtool] = plain.packageRecords['linux-64']![mtool]!;
  await writeSubdirIndex(plain.dir, linux, false);
  upstream.requests.length = 0;
  try {
    const third = await mirror({ from: upstream.url, to, production: true, applyRemovals: true });
    expect(third.ok).toBe(true);
    expect(statusOf(third, 'mirrored')).toEqual([`linux-64/${broken}`]);
    expect(packageRequests(upstream)).toEqual([brokenPath]);
    expect(third.removedUpstream).toEqual([{ subdir: 'noarch', filename: 'test-package-0.1-0.tar.bz2' }]);
    expect(third.patches.map((p) => [p.subdir, p.status, p.patched, p.changed, p.records])).toEqual([
      ['linux-64', 'written', 0, 1, 0],
      ['noarch', 'written', 0, 1, 0],
    ]);
    expect((await storedPatches(production, 'noarch')).instructions?.remove).toEqual(['test-package-0.1-0.tar.bz2']);
    expect((await storedPatches(production, 'linux-64')).instructions).toEqual({ patch_instructions_version: 1, packages: {}, 'packages.conda': {}, remove: [], revoke: [] });
    const again = await reindex({ channel: to, out, cacheDir: path.join(dir, 'cache') });
    expect(again.ok).toBe(true);
    await expectUpstreamRecords(out, { ...plain.repodata, noarch, 'linux-64': linux });
    const reported = await mirror({ from: upstream.url, to, production: true, dryRun: true });
    expect(reported.removedUpstream).toEqual([]);
    expect(reported.patches).toEqual([]);
  } finally {
    await writeSubdirIndex(plain.dir, plain.repodata.noarch!, false);
    await writeSubdirIndex(plain.dir, plain.repodata['linux-64']!, false);
  }
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
  // The same upstream patches, read from shards (md5/sha256 as bytes there): reported, not stored (staging is not
  // indexed; the channel's instructions live in production).
  const osx = result.patches.find((p) => p.subdir === 'osx-64');
  expect(osx).toMatchObject({ status: 'not-written', patched: 2, changed: 0 });
  expect(osx?.instructions?.packages).toEqual({ [PATCHED_BZ2]: { depends: ['zlib >=1.2.11,<1.3'] } });
  expect(osx?.instructions?.['packages.conda']).toEqual({ 'hotfix_depends_test-1.0-dummy_0.conda': { depends: ['zlib'], features: null } });
  expect((await storedPatches(staging, 'osx-64')).tags).toEqual([]);
});

test('filters select exactly: --subdir, --package, --since (a dry run from plain repodata.json writes nothing)', async () => {
  upstream.hidden.add('/linux-64/repodata.json.zst');
  // Two records without sha256: one older than the cut (left out, not reported), one newer (refused).
  const linux = structuredClone(plain.repodata['linux-64']!);
  const nosha = (version: string, timestamp: number) => ({ name: 'mtool', version, build: 'nosha_0', build_number: 0, size: 1, timestamp });
  linux['packages.conda']['mtool-0.5-nosha_0.conda'] = nosha('0.5', 1500000000000);
  linux['packages.conda']['mtool-3.0-nosha_0.conda'] = nosha('3.0', 1800000000000);
  await writeSubdirIndex(plain.dir, linux, false);
  try {
    const to = registry.location('m/dry');
    const result = await mirror({ from: upstream.url, to, subdirs: ['linux-64'], packages: ['m[lt]*'], since: new Date('2023-01-01'), dryRun: true });
    expect(result.subdirs).toEqual([{ subdir: 'linux-64', format: 'repodata.json', selected: 3 }]);
    // mlib 2.0 and mtool 2.0 are from 2023; mlib 1.0 (2020) and mtool 1.0 (2017) are older, mbroken and mdata other names.
    expect(result.artifacts.map((a) => [a.status, a.filename.replace(/-h[0-9a-f]{8}_0/, '')])).toEqual([
      ['would-mirror', 'mlib-2.0.conda'],
      ['would-mirror', 'mtool-2.0.conda'],
      ['refused', 'mtool-3.0-nosha_0.conda'],
    ]);
    expect(await store(to).repository('linux-64/mlib').listTags()).toEqual([]);
    expect(await store(to).listRepositories()).toEqual([]);
  } finally {
    upstream.hidden.delete('/linux-64/repodata.json.zst');
    await writeSubdirIndex(plain.dir, plain.repodata['linux-64']!, false);
  }
});

function runChild(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const node = path.resolve('node_modules/.bin/node');
  const child = spawn(node, ['--disable-warning=ExperimentalWarning', path.resolve('test/pipeline/mirror-kill-child.ts'), ...args], { stdio: 'ignore' });
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
}

test('mirrors killed half-way (mid-push; between storing patch instructions and logging) resume without sending again what is there, and end exact', async () => {
  const to = registry.location('k/production');
  const production = store(to);
  upstream.requests.length = 0;
  const crashed = await runChild([upstream.url, to, 'push', '2']);
  expect(crashed.signal).toBe('SIGKILL');
  const before = packageRequests(upstream);
  expect(before.length).toBeGreaterThanOrEqual(3);
  expect(before.length).toBeLessThan(allFiles(plain).length);

  // The second run dies right after it stored its first patch instructions, before it logged what they cover.
  upstream.requests.length = 0;
  const cut = await runChild([upstream.url, to, 'patch', '1']);
  expect(cut.signal).toBe('SIGKILL');
  const middle = packageRequests(upstream);
  expect(middle.filter((p) => before.includes(p)).length).toBeLessThanOrEqual(1);
  const stored = await storedPatches(production, 'linux-64');
  expect(stored.instructions?.['packages.conda']).toEqual({ [mtool]: { constrains: ['mlib <3'], license: 'BSD-3-Clause' } });
  expect((await listPromotionTags(production)).some((t) => t.endsWith(fileKey('linux-64', mtool)))).toBe(false);

  upstream.requests.length = 0;
  const resumed = await mirror({ from: upstream.url, to, production: true });
  expect(resumed.ok).toBe(true);
  expect(resumed.summary.alreadyThere).toBeGreaterThanOrEqual(3);
  expect(resumed.summary.mirrored + resumed.summary.alreadyThere).toBe(allFiles(plain).length);
  // What was pushed before a kill is not fetched again (the one killed mid-push may be).
  const again = packageRequests(upstream);
  expect(again.length).toBe(resumed.summary.mirrored);
  expect(again.filter((p) => [...before, ...middle].includes(p)).length).toBeLessThanOrEqual(1);
  // The stored linux-64 instructions already said what mtool needs: compared again, nothing written.
  expect(await storedPatches(production, 'linux-64')).toEqual(stored);
  expect(resumed.patches.find((p) => p.subdir === 'linux-64')).toMatchObject({ status: 'unchanged', patched: 1, changed: 0, records: 1 });
  expect(resumed.patches.find((p) => p.subdir === 'osx-64')).toMatchObject({ status: 'written', records: 4 });

  // Exact: every upstream file at its tag with its sha256, logged once, and indexed with upstream's records.
  const logged = await listPromotionTags(production);
  expect(logged).toHaveLength(allFiles(plain).length);
  expect(new Set(logged.map((t) => t.slice(-16)))).toEqual(new Set(allFiles(plain).map((f) => fileKey(f.split('/')[0]!, f.split('/')[1]!))));
  const out = path.join(dir, 'out-k');
  expect((await reindex({ channel: to, out, cacheDir: path.join(dir, 'cache-k') })).ok).toBe(true);
  await expectUpstreamRecords(out, plain.repodata);
  const last = await mirror({ from: upstream.url, to, production: true });
  expect(last.summary).toMatchObject({ mirrored: 0, refused: 0, failed: 0 });
  expect(last.patches).toEqual([]);
});

test('a matrix of mirrors, one per subdir, at once into one production: each keeps its own patch instructions, both logged', async () => {
  const to = registry.location('x/production');
  const production = store(to);
  const [linux, osx] = await Promise.all(['linux-64', 'osx-64'].map((subdir) => mirror({ from: upstream.url, to, production: true, subdirs: [subdir] })));
  expect([linux!.ok, osx!.ok]).toEqual([true, true]);
  expect(linux!.patches.map((p) => [p.subdir, p.status, p.records])).toEqual([['linux-64', 'written', 1]]);
  expect(osx!.patches.map((p) => [p.subdir, p.status, p.records])).toEqual([['osx-64', 'written', 4]]);
  const files = allFiles(plain).filter((f) => !f.startsWith('noarch/'));
  expect(new Set((await listPromotionTags(production)).map((t) => t.slice(-16)))).toEqual(new Set(files.map((f) => fileKey(f.split('/')[0]!, f.split('/')[1]!))));
  const out = path.join(dir, 'out-x');
  expect((await reindex({ channel: to, out, cacheDir: path.join(dir, 'cache-x'), subdirs: ['linux-64', 'osx-64'] })).ok).toBe(true);
  await expectUpstreamRecords(out, { 'linux-64': plain.repodata['linux-64']!, 'osx-64': plain.repodata['osx-64']! });
});

test('another oci-channel location as upstream: its published index, its blobs by digest', async () => {
  const from = registry.location('k/production');
  const to = registry.location('copy/staging');
  const result = await mirror({ from, to, packages: ['mtool', 'mdata'] });
  expect(result.ok).toBe(true);
  expect(result.subdirs.map((s) => [s.subdir, s.format, s.selected])).toEqual([['linux-64', 'oci', 2], ['noarch', 'oci', 1], ['osx-64', 'oci', 0]]);
  expect(statusOf(result, 'mirrored')).toEqual(allFiles(plain).filter((f) => /\/(mtool|mdata)-/.test(f)));
  // Its records are what its reindex serves: the package records, but mtool's as upstream patched it (and
  // indexed_timestamp is each channel's own). Reported for this staging destination.
  expect(result.patches.map((p) => [p.subdir, p.status, p.instructions?.['packages.conda']])).toEqual([['linux-64', 'not-written', { [mtool]: { constrains: ['mlib <3'], license: 'BSD-3-Clause' } }]]);
  expect((await mirror({ from, to, packages: ['mtool', 'mdata'] })).summary).toMatchObject({ mirrored: 0, alreadyThere: 3 });
});

test('hostile upstream answers: one line naming upstream, and nothing pushed', async () => {
  const root = path.join(dir, 'hostile');
  const pkg = await buildPackage(path.join(dir, 'gen-hostile'), { name: 'hx', version: '1.0', subdir: 'linux-64' }, 'conda');
  const other = await buildPackage(path.join(dir, 'gen-hostile'), { name: 'hy', version: '1.0', subdir: 'osx-64' }, 'conda');
  const nomd5 = await buildPackage(path.join(dir, 'gen-hostile'), { name: 'hz', version: '1.0', subdir: 'linux-64' }, 'conda');
  const built = await buildUpstreamChannel(root, { 'linux-64': [pkg, nomd5], 'osx-64': [other], noarch: [], 'win-64': [] }, { shards: true });
  const hx = path.basename(pkg);
  const hz = path.basename(nomd5);
  // linux-64 (repodata.json): a record without sha256, a package served longer than its record says, and one
  // whose record has no md5 served with other bytes of the same size (its sha256 alone tells).
  const linux = structuredClone(built.repodata['linux-64']!);
  linux['packages.conda']['nosha-1.0-0.conda'] = { name: 'nosha', version: '1.0', build: '0', build_number: 0, size: 1 };
  delete linux['packages.conda'][hz]!.md5;
  await writeSubdirIndex(root, linux, false);
  const hostile = await serveChannel(root);
  try {
    hostile.hidden.add('/linux-64/repodata_shards.msgpack.zst');
    hostile.replaced.set(`/linux-64/${hx}`, Buffer.concat([await readFile(pkg), Buffer.alloc(4096, 1)]));
    const other64 = await readFile(nomd5);
    other64[other64.length >> 1]! ^= 0xff;
    hostile.replaced.set(`/linux-64/${hz}`, other64);
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
      ['refused', hz, expect.stringMatching(/^upstream sent linux-64\/hz-1\.0-\S+\.conda as \d+ bytes with sha256 [0-9a-f]{64}, but its record says \d+ bytes, sha256 [0-9a-f]{64}; refused, nothing pushed for it$/)],
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
