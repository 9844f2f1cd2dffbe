// Every index file of one subdir, built from its records in one pass (one sort, one canonicalization each).
import { createHash } from 'node:crypto';
import { runExportsJsonBytes } from './channeldata.ts';
import { subdirIndexHtml } from './html.ts';
import { sortedByFilename, type IndexedPackage } from './records.ts';
import { repodataJsonBytes, zstdCompress } from './repodata.ts';
import { buildShardSet, encodeShardIndex, type KnownShard, type Shard } from './shards.ts';

export interface SubdirIndexFiles {
  subdir: string;
  /** Packages in filename order. */
  packages: IndexedPackage[];
  repodataJson: Buffer;
  repodataZst: Buffer;
  runExportsJson: Buffer;
  /** repodata_shards.msgpack.zst */
  shardIndex: Buffer;
  /** Shards encoded by this build (all of them unless `previousShards` let some be reused). */
  shards: Map<string, Shard>;
  /** Every name's shard key and sha256, to pass as `previousShards` next time. */
  shardKeys: Map<string, KnownShard>;
  /** With `fromPackages`: repodata_from_packages.json (every file of the subdir, unpatched) and those files. */
  repodataFromPackagesJson?: Buffer;
  fromPackages?: IndexedPackage[];
}

export interface BuildSubdirOptions {
  /** RFC 3339 creation time of the shard index. */
  createdAt: string;
  /** Files that left the index (repodata `removed`, and each in its name's shard). */
  removed?: string[];
  /**
   * Where the packages are, relative to the subdir (default `./`): the shard index's `base_url`, and when given
   * also repodata.json's CEP 15 `info.base_url` (a label index points at the packages of the channel).
   */
  baseUrl?: string;
  shardsBaseUrl?: string;
  /** Shards of an earlier build: names whose content is unchanged are not encoded again. */
  previousShards?: ReadonlyMap<string, KnownShard>;
  /**
   * Every file of the subdir before patches and labels (the main index passes them): written as
   * repodata_from_packages.json, as conda-index does, and run_exports.json covers them all.
   */
  fromPackages?: Iterable<IndexedPackage>;
}

export function buildSubdirIndex(subdir: string, packages: Iterable<IndexedPackage>, options: BuildSubdirOptions): SubdirIndexFiles {
  const sorted = sortedByFilename(packages);
  const repodata = repodataJsonBytes(subdir, sorted, { sorted: true, removed: options.removed, ...(options.baseUrl !== undefined ? { baseUrl: options.baseUrl } : {}) });
  const fromPackages = options.fromPackages ? sortedByFilename(options.fromPackages) : undefined;
  const { shards, all } = buildShardSet(sorted, options.previousShards, options.removed);
  const info = {
    base_url: options.baseUrl ?? './',
    shards_base_url: options.shardsBaseUrl ?? './shards/',
    created_at: options.createdAt,
    subdir,
  };
  return {
    subdir,
    packages: sorted,
    repodataJson: repodata,
    repodataZst: zstdCompress(repodata),
    runExportsJson: runExportsJsonBytes(subdir, fromPackages ?? sorted, { sorted: true }),
    shardIndex: encodeShardIndex(
      info,
      [...all].map(([name, known]) => ({ name, sha256: Buffer.from(known.hex, 'hex') })),
    ),
    shards,
    shardKeys: all,
    ...(fromPackages ? { fromPackages, repodataFromPackagesJson: repodataJsonBytes(subdir, fromPackages, { sorted: true }) } : {}),
  };
}

function fileFacts(name: string, bytes: Buffer, modified: number) {
  return {
    name,
    size: bytes.byteLength,
    modified,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    md5: createHash('md5').update(bytes).digest('hex'),
  };
}

/** index.html for a built subdir, titled `<channel>/<subdir>` (`<channel>/label/<L>/<subdir>` for a label index). */
export function subdirHtml(channelName: string, files: SubdirIndexFiles, modified: number, label?: { name: string; packageBase: string }): string {
  return subdirIndexHtml(
    `${channelName}${label ? `/label/${label.name}` : ''}/${files.subdir}`,
    [
      fileFacts('repodata.json', files.repodataJson, modified),
      fileFacts('repodata.json.zst', files.repodataZst, modified),
      fileFacts('repodata_shards.msgpack.zst', files.shardIndex, modified),
      fileFacts('run_exports.json', files.runExportsJson, modified),
    ],
    files.packages,
    label?.packageBase,
  );
}
