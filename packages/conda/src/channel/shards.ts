// Sharded repodata (CEP 16 + CEP 21): one zstd(msgpack) shard per package name, content addressed, and the
// shard index that maps each name to its shard's sha256.
import { createHash } from 'node:crypto';
import { decode, Encoder } from '@msgpack/msgpack';
import { parsePackageFilename } from '../names.ts';
import { isCondaV2, type IndexedPackage } from './records.ts';
import { zstdCompress, zstdDecompress } from './repodata.ts';

export const SHARD_INDEX_FILENAME = 'repodata_shards.msgpack.zst';

export interface Shard {
  name: string;
  bytes: Buffer;
  /** sha256 of the compressed bytes: the shard's file name is `<hex>.msgpack.zst`. */
  sha256: Buffer;
  hex: string;
}

export interface ShardIndexInfo {
  base_url: string;
  shards_base_url: string;
  /** RFC 3339. */
  created_at: string;
  subdir: string;
}

export interface ShardIndex {
  version: number;
  info: ShardIndexInfo;
  shards: Record<string, Uint8Array>;
}

// Sorted keys make shards content addressable; one encoder reuses its buffer across shards.
const encoder = new Encoder({ sortKeys: true, ignoreUndefined: true });
const encode = (value: unknown) => encoder.encode(value);

const HEX = /^[0-9a-fA-F]*$/;
/** md5/sha256 as raw bytes; anything that is not clean hex stays a string (readers accept both). */
function hexBytes(hex: unknown): unknown {
  if (typeof hex !== 'string' || hex.length % 2 !== 0 || !HEX.test(hex)) return hex;
  return Buffer.from(hex, 'hex');
}

/** A shard record: the repodata record with run_exports (CEP 21) and md5/sha256 as raw bytes. */
function shardRecord(pkg: IndexedPackage): Record<string, unknown> {
  return { ...pkg.record, md5: hexBytes(pkg.record.md5), sha256: hexBytes(pkg.record.sha256), run_exports: pkg.runExports ?? {} };
}

/** Encodes the shard of one package name (and its files that left the index); the same input gives the same bytes. */
export function encodeShard(packages: Iterable<IndexedPackage>, removed: readonly string[] = []): Buffer {
  const tarBz2: Record<string, unknown> = {};
  const conda: Record<string, unknown> = {};
  for (const pkg of packages) (isCondaV2(pkg.filename) ? conda : tarBz2)[pkg.filename] = shardRecord(pkg);
  const payload = encode({ packages: tarBz2, 'packages.conda': conda, removed: [...removed].sort() });
  return zstdCompress(payload);
}

/** A shard known from an earlier build: its content key and sha256 (hex). */
export interface KnownShard {
  key: string;
  hex: string;
}

/**
 * What a shard's content depends on: each file's name, sha256, indexed_timestamp, run_exports and repodata patch,
 * and the files of the name that left the index. Files never change once published, so an equal key means an
 * equal shard and the shard need not be encoded again.
 */
export function shardKey(packages: IndexedPackage[], removed: readonly string[] = []): string {
  const hash = createHash('sha256');
  for (const p of packages) {
    hash.update(`${p.filename}\0${p.record.sha256}\0${String(p.record.indexed_timestamp ?? '')}\0${JSON.stringify(p.runExports ?? {})}`);
    hash.update(p.patch ? `\0${p.patch}\n` : '\n');
  }
  if (removed.length > 0) hash.update(`removed\0${[...removed].sort().join('\0')}`);
  return hash.digest('hex').slice(0, 32);
}

export interface BuiltShards {
  /** Shards encoded in this build, by package name. */
  shards: Map<string, Shard>;
  /** Every package name's shard (encoded now or reused), in name order. */
  all: Map<string, KnownShard>;
}

function inFilenameOrder(list: IndexedPackage[]): boolean {
  for (let i = 1; i < list.length; i++) if (list[i - 1]!.filename > list[i]!.filename) return false;
  return true;
}

/**
 * Every shard of a subdir, keyed by package name. Names whose key equals the one in `previous` are not encoded
 * again (incremental reindex): they appear in `all` only.
 */
export function buildShardSet(packages: Iterable<IndexedPackage>, previous?: ReadonlyMap<string, KnownShard>, removed: Iterable<string> = []): BuiltShards {
  const byName = new Map<string, IndexedPackage[]>();
  for (const pkg of packages) {
    const list = byName.get(pkg.record.name);
    if (list) list.push(pkg);
    else byName.set(pkg.record.name, [pkg]);
  }
  // Files that left the index go to their name's shard (as conda-index patches shard by shard).
  const removedByName = new Map<string, string[]>();
  for (const filename of removed) {
    const name = nameOfFile(filename);
    if (name === undefined) continue;
    if (!byName.has(name)) byName.set(name, []);
    const list = removedByName.get(name);
    if (list) list.push(filename);
    else removedByName.set(name, [filename]);
  }
  const shards = new Map<string, Shard>();
  const all = new Map<string, KnownShard>();
  for (const name of [...byName.keys()].sort()) {
    const list = byName.get(name)!;
    // Already in filename order when the packages were (buildSubdirIndex sorts them once).
    if (!inFilenameOrder(list)) list.sort((a, b) => (a.filename < b.filename ? -1 : a.filename > b.filename ? 1 : 0));
    const gone = removedByName.get(name) ?? [];
    const key = shardKey(list, gone);
    const known = previous?.get(name);
    if (known && known.key === key) {
      all.set(name, known);
      continue;
    }
    const bytes = encodeShard(list, gone);
    const sha256 = createHash('sha256').update(bytes).digest();
    const shard = { name, bytes, sha256, hex: sha256.toString('hex') };
    shards.set(name, shard);
    all.set(name, { key, hex: shard.hex });
  }
  return { shards, all };
}

/** The package name of `name-version-build.ext`, or undefined for a name that is not a package file's. */
function nameOfFile(filename: string): string | undefined {
  try {
    return parsePackageFilename(filename).name;
  } catch {
    return undefined;
  }
}

/** Every shard of a subdir, keyed by package name. */
export function buildShards(packages: Iterable<IndexedPackage>): Map<string, Shard> {
  return buildShardSet(packages).shards;
}

/** The shard index bytes: zstd(msgpack({version: 1, info, shards: {name: sha256 bytes}})). */
export function encodeShardIndex(info: ShardIndexInfo, shards: Iterable<{ name: string; sha256: Uint8Array }>): Buffer {
  const map: Record<string, Uint8Array> = {};
  for (const shard of shards) map[shard.name] = shard.sha256;
  return zstdCompress(encode({ version: 1, info, shards: map }));
}

function asObject(value: unknown, what: string): Record<string, unknown> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${what} is not a msgpack map`);
  return value as Record<string, unknown>;
}

/** Decodes a shard index, checking its shape; `what` names the input in errors. */
export function decodeShardIndex(bytes: Uint8Array, what = 'shard index'): ShardIndex {
  const data = asObject(decode(zstdDecompress(bytes, 256 << 20)), what);
  if (data.version !== 1) throw new Error(`${what} has version ${String(data.version)}, expected 1`);
  const info = asObject(data.info, `${what} info`) as unknown as ShardIndexInfo;
  const shards = asObject(data.shards, `${what} shards`) as Record<string, Uint8Array>;
  for (const [name, digest] of Object.entries(shards)) {
    if (!(digest instanceof Uint8Array) || digest.byteLength !== 32) throw new Error(`${what}: shard ${name} has no 32-byte sha256`);
  }
  return { version: 1, info, shards };
}

/** Decodes a shard (md5/sha256 stay raw bytes, as stored). */
export function decodeShard(bytes: Uint8Array, what = 'shard'): {
  packages: Record<string, Record<string, unknown>>;
  'packages.conda': Record<string, Record<string, unknown>>;
  removed: string[];
} {
  const data = asObject(decode(zstdDecompress(bytes, 256 << 20)), what);
  return {
    packages: asObject(data.packages ?? {}, `${what} packages`) as Record<string, Record<string, unknown>>,
    'packages.conda': asObject(data['packages.conda'] ?? {}, `${what} packages.conda`) as Record<string, Record<string, unknown>>,
    removed: (data.removed as string[] | undefined) ?? [],
  };
}
