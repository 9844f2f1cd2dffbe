// Child process for the index-building scenario: builds every index file of one subdir from N synthetic
// records, either with oci-channel (`build`) or with only the serialize-and-compress calls (`floor`), and
// prints the time of that part alone. Run: node bench/workers/index-build.ts <build|floor> <records>
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import zlib from 'node:zlib';
import { encode } from '@msgpack/msgpack';
import { buildSubdirIndex, INDEX_ZSTD_LEVEL, type IndexedPackage } from '../../packages/conda/src/channel/index.ts';
import { syntheticRecords } from '../lib/records.ts';
import { peakRssBytes } from '../lib/peak-rss.ts';

const [mode, countText] = process.argv.slice(2);
const count = Number(countText);
if ((mode !== 'build' && mode !== 'floor') || !Number.isInteger(count) || count <= 0) {
  console.error('usage: node bench/workers/index-build.ts <build|floor> <records>');
  process.exit(2);
}

function zstd(data: Uint8Array, level: number): Buffer {
  return zlib.zstdCompressSync(data, {
    params: { [zlib.constants.ZSTD_c_compressionLevel]: level, [zlib.constants.ZSTD_c_checksumFlag]: 1 },
  });
}

/** The floor: the same JSON.stringify, msgpack encode, zstd (same levels) and sha256 calls on the same data, nothing else. */
function floor(subdir: string, packages: IndexedPackage[]): number {
  let bytes = 0;
  const tarBz2: Record<string, unknown> = {};
  const conda: Record<string, unknown> = {};
  const runExports: Record<string, unknown> = {};
  const byName = new Map<string, IndexedPackage[]>();
  for (const p of packages) {
    (p.filename.endsWith('.conda') ? conda : tarBz2)[p.filename] = p.record;
    runExports[p.filename] = p.runExports ?? {};
    const list = byName.get(p.record.name);
    if (list) list.push(p);
    else byName.set(p.record.name, [p]);
  }
  const json = Buffer.from(JSON.stringify({ info: { subdir }, packages: tarBz2, 'packages.conda': conda, removed: [], repodata_version: 1 }, null, 2), 'utf8');
  bytes += json.byteLength + zstd(json, INDEX_ZSTD_LEVEL).byteLength;
  bytes += Buffer.byteLength(JSON.stringify({ info: { subdir }, packages: runExports }, null, 2));
  const shardDigests: Record<string, Uint8Array> = {};
  for (const [name, list] of byName) {
    const shard = { packages: {} as Record<string, unknown>, 'packages.conda': {} as Record<string, unknown>, removed: [] };
    for (const p of list) {
      const r = p.record;
      (p.filename.endsWith('.conda') ? shard['packages.conda'] : shard.packages)[p.filename] = {
        ...r,
        md5: Buffer.from(r.md5, 'hex'),
        sha256: Buffer.from(r.sha256, 'hex'),
        run_exports: p.runExports ?? {},
      };
    }
    const compressed = zstd(encode(shard, { sortKeys: true, ignoreUndefined: true }), INDEX_ZSTD_LEVEL);
    shardDigests[name] = createHash('sha256').update(compressed).digest();
    bytes += compressed.byteLength;
  }
  bytes += zstd(encode({ version: 1, info: { subdir }, shards: shardDigests }, { sortKeys: true }), INDEX_ZSTD_LEVEL).byteLength;
  return bytes;
}

const packages = syntheticRecords(count);
// Collect the garbage of generation so it is not billed to the timed part.
(globalThis as { gc?: () => void }).gc?.();
const rssBefore = process.memoryUsage().rss;
const started = performance.now();
const cpuStart = process.cpuUsage();
let outputBytes = 0;
if (mode === 'build') {
  const files = buildSubdirIndex('linux-64', packages, { createdAt: '2026-01-01T00:00:00Z' });
  outputBytes = files.repodataJson.byteLength + files.repodataZst.byteLength + files.runExportsJson.byteLength + files.shardIndex.byteLength;
  for (const shard of files.shards.values()) outputBytes += shard.bytes.byteLength;
} else {
  outputBytes = floor('linux-64', packages);
}
const buildMs = performance.now() - started;
const cpu = process.cpuUsage(cpuStart);
const buildCpuMs = (cpu.user + cpu.system) / 1000;
const maxRssBytes = peakRssBytes();
process.stdout.write(`${JSON.stringify({ buildMs, buildCpuMs, maxRssBytes, rssBeforeBytes: rssBefore, outputBytes })}\n`);
