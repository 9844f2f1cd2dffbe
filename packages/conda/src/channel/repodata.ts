// repodata.json (CEP 36, repodata_version 1) exactly as conda-index serializes it, and its zstd form.
import zlib from 'node:zlib';
import { nestedStableJson, pythonString } from './json.ts';
import { recordJsonText, isCondaV2, sortedByFilename, type IndexedPackage, type ChannelRecord } from './records.ts';

export interface Repodata {
  info: { subdir: string; [field: string]: unknown };
  packages: Record<string, ChannelRecord>;
  'packages.conda': Record<string, ChannelRecord>;
  removed: string[];
  repodata_version: number;
}

/** `{}` or the members at depth 1 (`"key": value` lines), as json.dumps(indent=2) writes a map. */
export function jsonMapAtDepth1(entries: Array<[string, string]>): string {
  if (entries.length === 0) return '{}';
  let out = '{';
  for (let i = 0; i < entries.length; i++) {
    const [key, text] = entries[i]!;
    out += `${i === 0 ? '' : ','}\n    ${pythonString(key)}: ${text}`;
  }
  return `${out}\n  }`;
}

/**
 * repodata.json text for `subdir`, byte-identical to conda-index's for the same records. Pass `sorted` when
 * the packages are already in filename order (buildSubdirIndex sorts once for every file it writes).
 */
export function repodataJson(
  subdir: string,
  packages: Iterable<IndexedPackage>,
  options: {
    removed?: string[];
    sorted?: boolean;
    /** CEP 15: where the packages are (absolute, or relative to this subdir); makes it repodata_version 2. */
    baseUrl?: string;
  } = {},
): string {
  const list = options.sorted ? Array.from(packages) : sortedByFilename(packages);
  const tarBz2: Array<[string, string]> = [];
  const conda: Array<[string, string]> = [];
  for (const pkg of list) (isCondaV2(pkg.filename) ? conda : tarBz2).push([pkg.filename, recordJsonText(pkg.record)]);
  const removed = [...(options.removed ?? [])].sort();
  const info = options.baseUrl === undefined ? { subdir } : { base_url: options.baseUrl, subdir };
  // Top-level keys in sorted order: info, packages, packages.conda, removed, repodata_version.
  return (
    `{\n  "info": ${nestedStableJson(info, 1)},\n  "packages": ${jsonMapAtDepth1(tarBz2)},\n` +
    `  "packages.conda": ${jsonMapAtDepth1(conda)},\n  "removed": ${nestedStableJson(removed, 1)},\n  "repodata_version": ${options.baseUrl === undefined ? 1 : 2}\n}\n`
  );
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
  return zlib.zstdCompressSync(typeof data === 'string' ? Buffer.from(data, 'utf8') : data, {
    params: { [zlib.constants.ZSTD_c_compressionLevel]: level, [zlib.constants.ZSTD_c_checksumFlag]: 1 },
  });
}

/** Decompresses index files, refusing output larger than `maxBytes` (a zstd bomb). */
export function zstdDecompress(data: Uint8Array, maxBytes = 1 << 30): Buffer {
  return zlib.zstdDecompressSync(data, { maxOutputLength: maxBytes });
}
