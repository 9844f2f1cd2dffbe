// Index formats against the files conda-index and rattler's test server wrote from the same packages.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  buildShards,
  buildSubdirIndex,
  channelDataJson,
  decodeShard,
  decodeShardIndex,
  newestVersion,
  packagesOfRepodata,
  parseRepodata,
  repodataJson,
  repodataRecord,
  runExportsJson,
  stableJson,
  subdirHtml,
  zstdDecompress,
  type IndexedPackage,
} from '../../packages/conda/src/channel/index.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures');
const HOTFIX = path.join(FIXTURES, 'conda-index/tests/index_hotfix_pkgs');
const RATTLER_REPO = path.join(FIXTURES, 'rattler/test-data/test-server/repo');

const read = (file: string) => readFileSync(file, 'utf8');

function fixturePackages(file: string): IndexedPackage[] {
  return packagesOfRepodata(parseRepodata(read(file), file));
}

describe('deterministic JSON like conda-index', () => {
  it.each([
    'conda-index/tests/index_hotfix_pkgs/osx-64/repodata.json',
    'conda-index/tests/index_hotfix_pkgs/noarch/repodata.json',
    'conda-index/tests/index_hotfix_pkgs/channeldata.json',
    'rattler/test-data/test-server/repo/channeldata.json',
  ])('re-serializes %s byte for byte', (file) => {
    const text = read(path.join(FIXTURES, file));
    expect(stableJson(JSON.parse(text))).toBe(text);
  });

  it('orders integer-like keys as Python does (code points, not numbers)', () => {
    expect(stableJson({ b: 1, '9': { z: 1, a: [] }, '10': {}, a: null })).toBe(
      '{\n  "10": {},\n  "9": {\n    "a": [],\n    "z": 1\n  },\n  "a": null,\n  "b": 1\n}\n',
    );
  });

  it('escapes non-ASCII as Python ensure_ascii does', () => {
    expect(stableJson({ summary: 'café \u{1F600}\u007f' })).toBe('{\n  "summary": "caf\\u00e9 \\ud83d\\ude00\\u007f"\n}\n');
  });
});

describe('repodata.json', () => {
  it.each([
    path.join(HOTFIX, 'osx-64/repodata_from_packages.json'),
    path.join(HOTFIX, 'noarch/repodata.json'),
    path.join(RATTLER_REPO, 'noarch/repodata.json'),
  ])('rebuilds %s byte for byte from its records, whatever their order', (file) => {
    const text = read(file);
    const repodata = parseRepodata(text, file);
    const packages = packagesOfRepodata(repodata).reverse();
    expect(repodataJson(repodata.info.subdir, packages)).toBe(text);
  });

  it('makes records from the packages themselves the way conda-index did', () => {
    const expected = parseRepodata(read(path.join(HOTFIX, 'osx-64/repodata_from_packages.json')), 'fixture');
    for (const [filename, want] of Object.entries(expected.packages)) {
      const file = path.join(HOTFIX, 'osx-64', filename);
      const bytes = readFileSync(file);
      const indexJson = JSON.parse(execFileSync('tar', ['-xjOf', file, 'info/index.json'], { encoding: 'utf8' }));
      const record = repodataRecord(indexJson, {
        md5: createHash('md5').update(bytes).digest('hex'),
        sha256: createHash('sha256').update(bytes).digest('hex'),
        size: bytes.byteLength,
      });
      expect(record).toEqual(want);
    }
  });

  it('writes records of any key order, nesting and text exactly as the canonical serializer, across batches', () => {
    // Enough records for many JSON.stringify batches, with every shape a batch must hand to the slow path.
    const packages: IndexedPackage[] = [];
    for (let i = 0; i < 1000; i++) {
      const record: Record<string, unknown> = { version: `${i}.0`, name: `p${i % 37}`, build: `h${i}_0`, build_number: 0, md5: 'm'.repeat(32), sha256: 's'.repeat(64), size: i };
      if (i % 5 === 0) record.depends = ['b >=1', 'a'];
      if (i % 7 === 0) record.extra = { z: [1, { y: 2, b: null }], a: 'x' }; // nested, unsorted
      if (i % 11 === 0) record.summary = `caf\u00e9 \u{1F600} ${i}\u007f`; // non-ASCII
      if (i === 500) record.odd = { '10': 1, '9': 2, a: 3 }; // integer-like keys: Python's order, not V8's
      if (i === 501) Object.defineProperty(record, '__proto__', { value: { k: 1 }, enumerable: true, configurable: true, writable: true });
      const filename = `p${i % 37}-${i}.0-h${i}_0.${i % 3 === 0 ? 'tar.bz2' : 'conda'}`;
      packages.push({ filename, record: record as IndexedPackage['record'], ...(i % 4 === 0 ? { runExports: { weak: [`p${i} >=1`], strong: [] } } : {}) });
    }
    const byFormat = (conda: boolean, value: (p: IndexedPackage) => unknown) =>
      Object.fromEntries(packages.filter((p) => p.filename.endsWith('.conda') === conda).map((p) => [p.filename, value(p)]));
    const text = repodataJson('linux-64', [...packages].reverse(), { removed: ['z.conda', 'a.conda'] });
    expect(text).toBe(
      stableJson({ info: { subdir: 'linux-64' }, packages: byFormat(false, (p) => p.record), 'packages.conda': byFormat(true, (p) => p.record), removed: ['a.conda', 'z.conda'], repodata_version: 1 }),
    );
    expect(text).toContain('"odd": {\n        "10": 1,\n        "9": 2,');
    expect(text).toContain('"__proto__": {');
    const runExports = (p: IndexedPackage) => ({ run_exports: p.runExports ?? {} });
    expect(runExportsJson('linux-64', packages)).toBe(stableJson({ info: { subdir: 'linux-64' }, packages: byFormat(false, runExports), 'packages.conda': byFormat(true, runExports) }));
    // The bytes buildSubdirIndex publishes are that same text.
    expect(buildSubdirIndex('linux-64', packages, { createdAt: '2026-01-01T00:00:00Z', removed: ['z.conda', 'a.conda'] }).repodataJson.toString('latin1')).toBe(text);
  });

  it('puts .conda records under packages.conda and keeps indexed_timestamp', () => {
    const record = { name: 'a', version: '1', build: '0', build_number: 0, md5: 'm', sha256: 's', size: 1, indexed_timestamp: 1700000000123 };
    const parsed = JSON.parse(repodataJson('linux-64', [{ filename: 'a-1-0.conda', record }]));
    expect(parsed.packages).toEqual({});
    expect(parsed['packages.conda']['a-1-0.conda'].indexed_timestamp).toBe(1700000000123);
    expect(parsed.info).toEqual({ subdir: 'linux-64' });
  });

  it('refuses a file that is not repodata, naming it', () => {
    expect(() => parseRepodata('{"packages": {}}', 'oci://r/c/noarch/repodata.json:latest')).toThrow(
      /oci:\/\/r\/c\/noarch\/repodata.json:latest has no info.subdir/,
    );
    expect(() => parseRepodata('nope', 'X')).toThrow(/X is not valid JSON/);
  });
});

describe('channeldata.json and run_exports.json', () => {
  it('matches conda-index for the hotfix channel', () => {
    const osx = fixturePackages(path.join(HOTFIX, 'osx-64/repodata_from_packages.json'));
    const text = channelDataJson([
      { subdir: 'osx-64', packages: osx },
      { subdir: 'noarch', packages: [] },
    ]);
    expect(text).toBe(read(path.join(HOTFIX, 'channeldata.json')));
  });

  it('matches rattler test server channeldata with about fields', () => {
    const pkgs = fixturePackages(path.join(RATTLER_REPO, 'noarch/repodata.json')).map((p) => ({
      ...p,
      about: { home: 'https://github.com/mamba-org/mamba', license: 'BSD', summary: 'I am just a test package!' },
    }));
    expect(channelDataJson([{ subdir: 'noarch', packages: pkgs }])).toBe(read(path.join(RATTLER_REPO, 'channeldata.json')));
  });

  it('picks the newest version by conda order and keeps run_exports by version', () => {
    const rec = (version: string, timestamp: number) => ({ name: 'lib', version, build: '0', build_number: 0, md5: '', sha256: '', size: 1, timestamp });
    const data = JSON.parse(
      channelDataJson([
        {
          subdir: 'linux-64',
          packages: [
            { filename: 'lib-1.10-0.conda', record: rec('1.10', 1652966521286), runExports: { weak: ['lib >=1.10'] }, about: { summary: 'ten' } },
            { filename: 'lib-1.9-0.conda', record: rec('1.9', 1652966529999), about: { summary: 'nine' } },
          ],
        },
        { subdir: 'noarch', packages: [] },
      ]),
    );
    expect(data.packages.lib.version).toBe('1.10');
    expect(data.packages.lib.summary).toBe('ten');
    expect(data.packages.lib.timestamp).toBe(1652966529);
    expect(data.packages.lib.run_exports).toEqual({ '1.10': { weak: ['lib >=1.10'] } });
    expect(data.subdirs).toEqual(['linux-64', 'noarch']);
  });

  it('orders versions like conda', () => {
    expect(newestVersion(['1.9', '1.10', '1.10rc1'])).toBe('1.10');
    expect(newestVersion(['2.0.dev1', '1.99'])).toBe('2.0.dev1');
    expect(newestVersion(['1!0.1', '9.9'])).toBe('1!0.1');
  });

  it('writes run_exports.json with {} for packages without run_exports', () => {
    const record = { name: 'a', version: '1', build: '0', build_number: 0, md5: 'm', sha256: 's', size: 1 };
    const text = runExportsJson('noarch', [
      { filename: 'b-1-0.tar.bz2', record: { ...record, name: 'b' } },
      { filename: 'a-1-0.conda', record, runExports: { strong: ['x'] } },
    ]);
    expect(JSON.parse(text)).toEqual({
      info: { subdir: 'noarch' },
      packages: { 'b-1-0.tar.bz2': { run_exports: {} } },
      'packages.conda': { 'a-1-0.conda': { run_exports: { strong: ['x'] } } },
    });
  });
});

describe('sharded repodata', () => {
  const osx = fixturePackages(path.join(HOTFIX, 'osx-64/repodata_from_packages.json'));
  osx[0]!.runExports = { weak: ['zlib >=1'] };

  it('builds one content-addressed shard per name that round-trips the records', () => {
    const shards = buildShards(osx);
    expect([...shards.keys()]).toEqual(['hotfix_depends_test', 'remove_test', 'revoke_test', 'track_features_test']);
    for (const shard of shards.values()) {
      expect(createHash('sha256').update(shard.bytes).digest('hex')).toBe(shard.hex);
      const decoded = decodeShard(shard.bytes);
      const pkgs = osx.filter((p) => p.record.name === shard.name);
      expect(Object.keys(decoded.packages)).toEqual(pkgs.map((p) => p.filename));
      for (const p of pkgs) {
        const got = decoded.packages[p.filename]!;
        expect(Buffer.from(got.sha256 as Uint8Array).toString('hex')).toBe(p.record.sha256);
        expect(Buffer.from(got.md5 as Uint8Array).toString('hex')).toBe(p.record.md5);
        expect(got.run_exports).toEqual(p.runExports ?? {});
        const { md5: _m, sha256: _s, run_exports: _r, ...rest } = got;
        const { md5: _m2, sha256: _s2, ...want } = p.record;
        expect(rest).toEqual(want);
      }
      expect(decoded.removed).toEqual([]);
    }
  });

  it('gives the same bytes for the same records in any order', () => {
    const a = buildShards(osx);
    const b = buildShards([...osx].reverse().map((p) => ({ ...p, record: Object.fromEntries(Object.entries(p.record).reverse()) as typeof p.record })));
    for (const [name, shard] of a) expect(b.get(name)!.bytes.equals(shard.bytes)).toBe(true);
  });

  it('writes a shard index naming every shard by the sha256 of its compressed bytes', () => {
    const built = buildSubdirIndex('osx-64', osx, { createdAt: '2026-01-02T03:04:05Z' });
    const index = decodeShardIndex(built.shardIndex);
    expect(index.info).toEqual({ base_url: './', shards_base_url: './shards/', created_at: '2026-01-02T03:04:05Z', subdir: 'osx-64' });
    expect(Object.keys(index.shards).sort()).toEqual([...built.shards.keys()]);
    for (const [name, digest] of Object.entries(index.shards)) {
      expect(Buffer.from(digest).toString('hex')).toBe(built.shards.get(name)!.hex);
    }
    expect(zstdDecompress(built.repodataZst).equals(built.repodataJson)).toBe(true);
    expect(built.repodataJson.toString()).toBe(read(path.join(HOTFIX, 'osx-64/repodata_from_packages.json')));
  });
});

describe('incremental shards', () => {
  it('re-encodes only the names whose files changed and gives the same shard index as a full build', () => {
    const base = fixturePackages(path.join(HOTFIX, 'osx-64/repodata_from_packages.json'));
    const first = buildSubdirIndex('osx-64', base, { createdAt: '2026-01-01T00:00:00Z' });
    expect(first.shards.size).toBe(4);
    const extra = { ...base[1]!, filename: 'remove_test-1.1-0.tar.bz2', record: { ...base[1]!.record, version: '1.1', sha256: 'ab'.repeat(32) } };
    const next = buildSubdirIndex('osx-64', [...base, extra], { createdAt: '2026-01-01T00:00:00Z', previousShards: first.shardKeys });
    expect([...next.shards.keys()]).toEqual(['remove_test']);
    const full = buildSubdirIndex('osx-64', [...base, extra], { createdAt: '2026-01-01T00:00:00Z' });
    expect(next.shardIndex.equals(full.shardIndex)).toBe(true);
    expect(next.shards.get('remove_test')!.bytes.equals(full.shards.get('remove_test')!.bytes)).toBe(true);
  });
});

describe('index.html', () => {
  it('lists the index files and every package, escaping names', () => {
    const record = { name: 'a', version: '1', build: '0', build_number: 0, md5: 'm'.repeat(32), sha256: 'f'.repeat(64), size: 2048, timestamp: 1652966521286 };
    const built = buildSubdirIndex('noarch', [{ filename: 'a-1-0.conda', record }], { createdAt: '2026-01-01T00:00:00Z' });
    const html = subdirHtml('my<channel>', built, 0);
    expect(html).toContain('<title>my&lt;channel&gt;/noarch</title>');
    expect(html).toContain('<a href="repodata.json">');
    expect(html).toContain('<a href="repodata_shards.msgpack.zst">');
    expect(html).toContain('<a href="a-1-0.conda">a-1-0.conda</a></td><td class="s">2.0 KB</td><td>2022-05-19 13:22:01 +0000</td>');
  });
});
