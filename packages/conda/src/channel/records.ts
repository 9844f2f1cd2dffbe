// The records a channel index is made of: one per package file, as they appear in repodata.json.
import { nestedStableJson } from './json.ts';

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

/** A repodata record from a package's info/index.json and its file facts, as conda-index makes it. */
export function repodataRecord(
  indexJson: Record<string, unknown>,
  file: { md5: string; sha256: string; size: number },
): ChannelRecord {
  const record: Record<string, unknown> = { ...indexJson };
  for (const field of STRIPPED_INDEX_FIELDS) delete record[field];
  record.md5 = file.md5;
  record.sha256 = file.sha256;
  record.size = file.size;
  return record as ChannelRecord;
}

export function isCondaV2(filename: string): boolean {
  return filename.endsWith('.conda');
}

// Each record is serialized once, however many times the subdir is rebuilt: records are never mutated
// once indexed (a changed record is a new object).
const recordTextCache = new WeakMap<object, string>();

/** A record's JSON as it sits in repodata.json (two levels deep), cached per record object. */
export function recordJsonText(record: object): string {
  let text = recordTextCache.get(record);
  if (text === undefined) {
    text = nestedStableJson(record, 2);
    recordTextCache.set(record, text);
  }
  return text;
}

/** Filenames in conda-index's order (code point order), computed once per build. */
export function sortedByFilename(packages: Iterable<IndexedPackage>): IndexedPackage[] {
  const list = Array.from(packages);
  list.sort((a, b) => (a.filename < b.filename ? -1 : a.filename > b.filename ? 1 : 0));
  return list;
}
