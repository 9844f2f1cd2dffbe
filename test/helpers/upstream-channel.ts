// A real conda channel on disk for mirror tests: package files per subdir, repodata.json (records as conda-index
// writes them, then edited by a test's `patch` the way upstream repodata patches edit them), repodata.json.zst,
// optionally CEP 16 shards, and channeldata.json listing the subdirs.
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildSubdirIndex, readPackage, recordFromPackage, zstdCompress, type ChannelRecord } from '@oci-channel/conda';

export interface UpstreamRepodata {
  info: { subdir: string };
  packages: Record<string, Record<string, unknown>>;
  'packages.conda': Record<string, Record<string, unknown>>;
  removed: string[];
  repodata_version: 1;
}

export interface BuiltChannel {
  dir: string;
  /** What repodata.json says, per subdir. */
  repodata: Record<string, UpstreamRepodata>;
  /** The record each package itself gives (before patches), per subdir and filename. */
  packageRecords: Record<string, Record<string, Record<string, unknown>>>;
}

export async function buildUpstreamChannel(
  dir: string,
  files: Record<string, string[]>,
  options: {
    /** Edit a record as upstream's repodata patches would (return it changed). */
    patch?: (subdir: string, filename: string, record: Record<string, unknown>) => Record<string, unknown>;
    shards?: boolean;
  } = {},
): Promise<BuiltChannel> {
  const repodata: Record<string, UpstreamRepodata> = {};
  const packageRecords: BuiltChannel['packageRecords'] = {};
  for (const [subdir, list] of Object.entries(files)) {
    await mkdir(path.join(dir, subdir), { recursive: true });
    const data: UpstreamRepodata = { info: { subdir }, packages: {}, 'packages.conda': {}, removed: [], repodata_version: 1 };
    packageRecords[subdir] = {};
    for (const file of list) {
      const pkg = await readPackage(file);
      await copyFile(file, path.join(dir, subdir, pkg.filename));
      const record = recordFromPackage(pkg);
      packageRecords[subdir]![pkg.filename] = record;
      const served = options.patch ? options.patch(subdir, pkg.filename, structuredClone(record)) : record;
      data[pkg.format === 'conda' ? 'packages.conda' : 'packages'][pkg.filename] = served;
    }
    repodata[subdir] = data;
    await writeSubdirIndex(dir, data, options.shards === true);
  }
  await writeFile(path.join(dir, 'channeldata.json'), JSON.stringify({ channeldata_version: 1, packages: {}, subdirs: Object.keys(files).sort() }));
  return { dir, repodata, packageRecords };
}

/** (Re)writes repodata.json, .zst and, with `shards`, the shard index and shards of one subdir. */
export async function writeSubdirIndex(dir: string, data: UpstreamRepodata, shards: boolean): Promise<void> {
  const subdir = data.info.subdir;
  const text = JSON.stringify(data, null, 1);
  await writeFile(path.join(dir, subdir, 'repodata.json'), text);
  await writeFile(path.join(dir, subdir, 'repodata.json.zst'), zstdCompress(text));
  if (!shards) return;
  const packages = [...Object.entries(data.packages), ...Object.entries(data['packages.conda'])].map(([filename, record]) => ({ filename, record: record as ChannelRecord }));
  const built = buildSubdirIndex(subdir, packages, { createdAt: '2026-01-01T00:00:00Z' });
  await mkdir(path.join(dir, subdir, 'shards'), { recursive: true });
  await writeFile(path.join(dir, subdir, 'repodata_shards.msgpack.zst'), built.shardIndex);
  for (const shard of built.shards.values()) await writeFile(path.join(dir, subdir, 'shards', `${shard.hex}.msgpack.zst`), shard.bytes);
}
