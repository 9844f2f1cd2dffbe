// download: one package from production to a file, found the way rattler and libmamba find it: the sha256
// from the `latest` repodata (through the shard of its name when the index has shards), then the blob by
// digest in `<subdir>/<name>`; falls back to the v0 tag when the file is not indexed yet.
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { NotFoundError, parseDigest, type Descriptor, type Repository } from '@oci-channel/oci';
import { decodeShard, decodeShardIndex, encodeTag, isValidSubdir, packageRepository, parsePackageFilename } from '@oci-channel/conda';
import { normalizeSha256 } from '../core/artifact-ref.ts';
import { parseJsonObject } from '../core/json.ts';
import { downloadBlob, readSmallBlob } from '../core/blobs.ts';
import { IndexMediaType, repodataRepository, TITLE } from '../index/names.ts';
import { readPublishedRepodata } from '../index/read.ts';
import { openChannel, productionOptions } from '../core/open.ts';
import { reporter } from '../core/progress.ts';
import type { DownloadOptions, DownloadResult } from '../types.ts';
import { PipelineError } from '../errors.ts';

interface Located {
  sha256: string;
  size: number;
  via: string;
}

const hexOf = (value: unknown): string | undefined =>
  value instanceof Uint8Array ? Buffer.from(value).toString('hex') : typeof value === 'string' ? value : undefined;

/** The record of `filename` from `latest`: shard index + one shard when present, else the whole repodata. */
async function fromRepodata(repository: Repository, subdir: string, name: string, filename: string): Promise<Located | undefined> {
  let manifest: Record<string, unknown>;
  try {
    const fetched = await repository.fetchManifest('latest');
    manifest = parseJsonObject(fetched.bytes, `${repository.display}:latest`);
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
  const layers = (Array.isArray(manifest.layers) ? manifest.layers : []) as Descriptor[];
  const shardIndexLayer = layers.find((l) => l.mediaType === IndexMediaType.ShardIndex);
  if (shardIndexLayer) {
    const index = decodeShardIndex(await readSmallBlob(repository, parseDigest(shardIndexLayer.digest), shardIndexLayer.size, 256 << 20));
    const digest = index.shards[name];
    if (!digest) return undefined;
    const hex = Buffer.from(digest).toString('hex');
    const shard = decodeShard(await readSmallBlob(repository, parseDigest(`sha256:${hex}`), (await repository.statBlob(parseDigest(`sha256:${hex}`)))?.size ?? 0, 256 << 20));
    const record = shard.packages[filename] ?? shard['packages.conda'][filename];
    if (!record) return undefined;
    const sha256 = hexOf(record.sha256);
    if (!sha256 || typeof record.size !== 'number') return undefined;
    return { sha256, size: record.size, via: `the shard of ${name} in ${repository.display}:latest` };
  }
  const pub = await readPublishedRepodata(repository, 'latest', subdir);
  const entry = pub.entries.find((e) => e.filename === filename);
  return entry ? { sha256: entry.record.sha256, size: entry.record.size, via: `${repository.display}:latest` } : undefined;
}

async function fromTag(repository: Repository, filename: string, version: string, build: string): Promise<Located | undefined> {
  try {
    const fetched = await repository.fetchManifest(encodeTag(version, build));
    const manifest = parseJsonObject(fetched.bytes, `${repository.display}:${encodeTag(version, build)}`);
    const layer = ((manifest.layers ?? []) as Descriptor[]).find((l) => l.annotations?.[TITLE] === filename);
    if (!layer) return undefined;
    return { sha256: layer.digest.slice('sha256:'.length), size: layer.size, via: `${repository.display}:${encodeTag(version, build)}` };
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
}

export async function download(o: DownloadOptions): Promise<DownloadResult> {
  const report = reporter(o.progress, 'download');
  const { subdir, filename } = o.artifact;
  const artifact = `${subdir}/${filename}`;
  if (!isValidSubdir(subdir)) throw new PipelineError(`cannot download ${artifact}: ${JSON.stringify(subdir)} is not a subdir (noarch or OS-ARCH)`);
  const parsed = parsePackageFilename(filename);
  const declared = o.artifact.sha256 === undefined ? undefined : normalizeSha256(o.artifact.sha256);
  if (o.artifact.sha256 !== undefined && !declared) throw new PipelineError(`cannot download ${artifact}: the sha256 ${JSON.stringify(o.artifact.sha256)} is not 64 hex digits`);

  let output = path.resolve(o.output);
  try {
    if ((await stat(output)).isDirectory()) output = path.join(output, filename);
  } catch {
    // a file path to create
  }
  const opened = openChannel(o.channel, productionOptions(o));
  try {
    const store = opened.store;
    const packageRepo = store.repository(packageRepository(subdir, parsed.name));
    const located =
      (await fromRepodata(store.repository(repodataRepository(subdir)), subdir, parsed.name, filename)) ??
      (await fromTag(packageRepo, filename, parsed.version, parsed.build));
    if (!located) throw new PipelineError(`${artifact} is not in ${store.display}: neither the latest repodata nor the tag has it; check the name or run reindex`);
    if (declared && declared !== located.sha256) {
      throw new PipelineError(`${artifact} in ${store.display} has sha256 ${located.sha256}, not the ${declared} asked for; nothing was written`);
    }
    report(`fetching ${artifact} (${located.size} bytes) found through ${located.via}`, { artifact, totalBytes: located.size });
    await mkdir(path.dirname(output), { recursive: true });
    const tmp = `${output}.${process.pid}.${Date.now()}.part`;
    try {
      const got = await downloadBlob(packageRepo, parseDigest(`sha256:${located.sha256}`), located.size, tmp, {
        onProgress: (bytes) => report(`fetching ${artifact}`, { artifact, bytes, totalBytes: located.size }),
        ...(o.signal ? { signal: o.signal } : {}),
      });
      if (got.sha256 !== located.sha256 || got.size !== located.size) {
        throw new PipelineError(`${artifact} from ${packageRepo.display} hashes to ${got.sha256} (${got.size} bytes), not ${located.sha256}; nothing was written`);
      }
      await rename(tmp, output);
      return { path: output, sha256: got.sha256, size: got.size };
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
  } finally {
    await opened.release();
  }
}

