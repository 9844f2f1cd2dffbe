// The records a channel index is made of: one per package file, as they appear in repodata.json.

/** A repodata record: info/index.json (stripped) + md5, sha256, size (+ CEP 47 indexed_timestamp). */
export interface ChannelRecord {
  name: string;
  version: string;
  build: string;
  build_number: number;
  depends?: string[];
  constrains?: string[];
  subdir?: string;
  noarch?: string;
  timestamp?: number;
  /** CEP 47: ms since the epoch when the channel first indexed this file; kept across reindexes. */
  indexed_timestamp?: number;
  md5: string;
  sha256: string;
  size: number;
  [field: string]: unknown;
}

/** Everything the index needs about one package file. */
export interface IndexedPackage {
  /** `name-version-build.conda` or `.tar.bz2`. */
  filename: string;
  record: ChannelRecord;
  /** info/run_exports.json (CEP 12), when the package has one. */
  runExports?: Record<string, unknown>;
  /** info/about.json fields (summary, home, license, description, dev_url, doc_url, ...), for channeldata. */
  about?: Record<string, unknown>;
  /** Set by applyPatches on a record it changed: a fingerprint of the patched record (shards are keyed by it). */
  patch?: string;
}

/** index.json fields conda-index drops from records. */
export const STRIPPED_INDEX_FIELDS = [
  'arch',
  'has_prefix',
  'mtime',
  'platform',
  'ucs',
  'requires_features',
  'binstar',
  'target-triplet',
  'machine',
  'operatingsystem',
] as const;

/**
 * A repodata record from a package's info/index.json and its file facts, as conda-index makes it. Keys are
 * inserted in sorted order (the order repodata.json writes them), so serializing needs no sorted copy.
 */
export function repodataRecord(
  indexJson: Record<string, unknown>,
  file: { md5: string; sha256: string; size: number },
): ChannelRecord {
  const fields: Record<string, unknown> = { ...indexJson, md5: file.md5, sha256: file.sha256, size: file.size };
  for (const field of STRIPPED_INDEX_FIELDS) delete fields[field];
  return inKeyOrder(fields) as ChannelRecord;
}

/** `record` with `field` set, keys kept in sorted order (a new object: records are never changed once made). */
export function recordWith(record: ChannelRecord, field: string, value: unknown): ChannelRecord {
  return inKeyOrder({ ...record, [field]: value }) as ChannelRecord;
}

function inKeyOrder(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(fields).sort()) out[key] = fields[key];
  return out;
}

export function isCondaV2(filename: string): boolean {
  return filename.endsWith('.conda');
}

/** Filenames in conda-index's order (code point order), computed once per build. */
export function sortedByFilename(packages: Iterable<IndexedPackage>): IndexedPackage[] {
  const list = Array.from(packages);
  list.sort((a, b) => (a.filename < b.filename ? -1 : a.filename > b.filename ? 1 : 0));
  return list;
}
