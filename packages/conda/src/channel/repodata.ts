// repodata.json (CEP 36, repodata_version 1) exactly as conda-index serializes it, and its zstd form.
import zlib from 'node:zlib';
import { estimateJsonMapBytes, JsonBytes, writeJsonMapAtDepth1 } from './json-bytes.ts';
import { nestedStableJson } from './json.ts';
import { isCondaV2, sortedByFilename, type IndexedPackage, type ChannelRecord } from './records.ts';

export interface Repodata {
  info: { subdir: string; [field: string]: unknown };
  packages: Record<string, ChannelRecord>;
  'packages.conda': Record<string, ChannelRecord>;
  removed: string[];
  repodata_version: number;
}

/** `[filename, value]` of the packages of one format, made as they are written (none are kept). */
function* entriesOf(list: IndexedPackage[], conda: boolean, value: (pkg: IndexedPackage) => unknown): Generator<[string, unknown]> {
  for (const pkg of list) if (isCondaV2(pkg.filename) === conda) yield [pkg.filename, value(pkg)];
}

/**
 * Writes an index file shaped like repodata.json (`info`, `packages`, `packages.conda`, then `tail`: the
 * members after them, already serialized) with one value per package file.
 */
export function packageMapFile(
  subdir: string,
  list: IndexedPackage[],
  value: (pkg: IndexedPackage) => unknown,
  tail: string,
  info: Record<string, unknown> = { subdir },
): Buffer {
  const out = new JsonBytes();
  // One Buffer for the whole file when the estimate holds (10% of room for what the sample missed).
  const estimate = estimateJsonMapBytes(list.length, (i) => [list[i]!.filename, value(list[i]!)]);
  out.reserve(1.1 * estimate + tail.length + 4096);
  out.text(`{\n  "info": ${nestedStableJson(info, 1)},\n  "packages": `);
  writeJsonMapAtDepth1(out, entriesOf(list, false, value));
  out.text(',\n  "packages.conda": ');
  writeJsonMapAtDepth1(out, entriesOf(list, true, value));
  out.text(`${tail}\n}\n`);
  return out.toBuffer();
}

/**
 * repodata.json bytes for `subdir`, byte-identical to conda-index's for the same records. Pass `sorted` when
 * the packages are already in filename order (buildSubdirIndex sorts once for every file it writes).
 */
/** What repodata.json can say beyond its records. */
export interface RepodataOptions {
  removed?: string[];
  sorted?: boolean;
  /** CEP 15: where the packages are (absolute, or relative to this subdir); makes it repodata_version 2. */
  baseUrl?: string;
}

export function repodataJsonBytes(subdir: string, packages: Iterable<IndexedPackage>, options: RepodataOptions = {}): Buffer {
  const list = options.sorted ? Array.from(packages) : sortedByFilename(packages);
  const removed = [...(options.removed ?? [])].sort();
  const info = options.baseUrl === undefined ? { subdir } : { base_url: options.baseUrl, subdir };
  // Top-level keys in sorted order: info, packages, packages.conda, removed, repodata_version.
  const version = options.baseUrl === undefined ? 1 : 2;
  return packageMapFile(subdir, list, (pkg) => pkg.record, `,\n  "removed": ${nestedStableJson(removed, 1)},\n  "repodata_version": ${version}`, info);
}

/** repodata.json text for `subdir` (repodataJsonBytes as a string). */
export function repodataJson(subdir: string, packages: Iterable<IndexedPackage>, options: RepodataOptions = {}): string {
  return repodataJsonBytes(subdir, packages, options).toString('latin1');
}

/** Parses repodata.json and checks the parts an index relies on; `what` names the input in errors. */
export function parseRepodata(text: string, what: string): Repodata {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new Error(`${what} is not valid JSON (${(error as Error).message}); rebuild it with a full reindex`);
  }
  const d = data as Partial<Repodata> | null;
  if (!d || typeof d !== 'object' || typeof d.info?.subdir !== 'string') {
    throw new Error(`${what} has no info.subdir; it is not a repodata.json, rebuild it with a full reindex`);
  }
  if (d.repodata_version !== undefined && d.repodata_version > 2) {
    throw new Error(`${what} has repodata_version ${d.repodata_version}, newer than 2 which this tool reads`);
  }
  return {
    info: d.info,
    packages: d.packages ?? {},
    'packages.conda': d['packages.conda'] ?? {},
    removed: d.removed ?? [],
    repodata_version: d.repodata_version ?? 1,
  };
}

/** The packages of a parsed repodata.json as index entries (run_exports/about are not in repodata). */
export function packagesOfRepodata(repodata: Repodata): IndexedPackage[] {
  const out: IndexedPackage[] = [];
  for (const key of ['packages', 'packages.conda'] as const) {
    for (const [filename, record] of Object.entries(repodata[key])) out.push({ filename, record });
  }
  return out;
}

/** zstd level for index files: the default level keeps a 100k-record repodata fast to build. */
export const INDEX_ZSTD_LEVEL = 3;

export function zstdCompress(data: Uint8Array | string, level = INDEX_ZSTD_LEVEL): Buffer {
  const input = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const out = zlib.zstdCompressSync(input, {
    // zlib gives every call a new 64 KiB output buffer: tens of thousands of small shards made that gigabytes
    // of short-lived buffers, and garbage collections that grew with the channel. Small chunks come from
    // Buffer's pool instead.
    ...(input.byteLength < SMALL_INPUT ? { chunkSize: 4096 } : {}),
    params: { [zlib.constants.ZSTD_c_compressionLevel]: level, [zlib.constants.ZSTD_c_checksumFlag]: 1 },
  });
  // A small result is a view of a larger buffer: kept as it is (a shard), it would keep all of it.
  return out.buffer.byteLength > 2 * out.byteLength ? Buffer.from(out) : out;
}

const SMALL_INPUT = 1 << 20;

/** Decompresses index files, refusing output larger than `maxBytes` (a zstd bomb). */
export function zstdDecompress(data: Uint8Array, maxBytes = 1 << 30): Buffer {
  return zlib.zstdDecompressSync(data, { maxOutputLength: maxBytes });
}
