// Pushing index files to the registry in the v0 shape: blobs first, then manifests, `latest` last.
import pLimit from 'p-limit';
import { bytesSource, EMPTY_SHA256, MediaType, sha256Digest, type Descriptor, type ImageManifest, type Repository } from '@oci-channel/oci';
import { SHARD_INDEX_FILENAME, type SubdirIndexFiles } from '@oci-channel/conda';
import { withConcurrentPushRetry } from '../core/retry.ts';
import { CREATED, IndexMediaType, LABEL_MARK, PATCH_SOURCE, PATCHES, PROMOTION_MARK, SHARDS_ARTIFACT_TYPE, TITLE } from './names.ts';

/** v0 config: the empty blob under the "unknown" config type. */
const CONFIG: Descriptor = { mediaType: IndexMediaType.UnknownConfig, digest: EMPTY_SHA256, size: 0 };
/** Stay well under the 4 MiB most registries accept for a manifest. */
const MAX_SHARDS_PER_MANIFEST = 12_000;

/**
 * Manifest pushes of reindex: the pipeline's one bounded retry for distribution's concurrent-push quirk (two
 * reindexes pushing the same shards at once). Other errors are not retried here (the store retries transient ones).
 */
export function settle<T>(push: () => Promise<T>, attempts?: number): Promise<T> {
  return withConcurrentPushRetry(push, attempts);
}

export async function pushBytes(repository: Repository, bytes: Uint8Array, mediaType: string, title: string, likelyMissing = false): Promise<Descriptor> {
  const digest = sha256Digest(bytes);
  await repository.pushBlob(bytesSource(bytes), { digest, size: bytes.byteLength }, { likelyMissing });
  return { mediaType, digest, size: bytes.byteLength, annotations: { [TITLE]: title } };
}

async function pushConfig(repository: Repository): Promise<void> {
  await repository.pushBlob(bytesSource(new Uint8Array(0)), { digest: EMPTY_SHA256, size: 0 });
}

export function manifestBytes(layers: Descriptor[], annotations: Record<string, string>, artifactType?: string): Uint8Array {
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ImageManifest,
    ...(artifactType ? { artifactType } : {}),
    config: CONFIG,
    layers,
    annotations,
  };
  return new TextEncoder().encode(JSON.stringify(manifest));
}

/**
 * Pushes the shards not yet known to be there, then one or more manifests referencing them (tagged
 * `shards-<stamp>-<n>`) so garbage collection keeps them. Returns the hexes now pushed. `firstIndex`: the
 * subdir has no index yet, so no shard is there and none is asked about first (one request less each).
 */
export async function pushShards(
  repository: Repository,
  files: SubdirIndexFiles,
  known: Set<string>,
  stamp: string,
  concurrency: number,
  firstIndex = false,
): Promise<string[]> {
  const fresh = [...files.shards.values()].filter((s) => !known.has(s.hex));
  if (fresh.length === 0) return [];
  const limit = pLimit(concurrency);
  const descriptors = await Promise.all(
    fresh.map((shard) =>
      limit(async () => {
        const d = await pushBytes(repository, shard.bytes, IndexMediaType.Shard, `shards/${shard.hex}.msgpack.zst`, firstIndex);
        return d;
      }),
    ),
  );
  await pushConfig(repository);
  for (let i = 0; i * MAX_SHARDS_PER_MANIFEST < descriptors.length; i++) {
    const chunk = descriptors.slice(i * MAX_SHARDS_PER_MANIFEST, (i + 1) * MAX_SHARDS_PER_MANIFEST);
    const bytes = manifestBytes(chunk, { [CREATED]: new Date().toISOString() }, SHARDS_ARTIFACT_TYPE);
    await settle(() => repository.pushManifest(bytes, MediaType.ImageManifest, `shards-${stamp}-${i}`));
  }
  return fresh.map((s) => s.hex);
}

/** Layers only the main index of a subdir has: what reindex needs to start over from it with a cold cache. */
export interface StateLayers {
  /** repodata_from_packages.json, zstd, when it differs from repodata.json (patches or labels). */
  fromPackagesZst?: Buffer;
  /** labels.json (index/labels.ts), when some file is not simply `main` or the channel has labels. */
  labels?: Buffer;
}

export interface RepodataAnnotations {
  created: string;
  /** Newest promotion log tag included. */
  mark?: string;
  /** Newest label log tag included. */
  labelMark?: string;
  /** Key and source of the patch instructions applied. */
  patches?: string;
  patchSource?: string;
}

/** Pushes the repodata blobs and returns the manifest bytes (not yet tagged). */
export async function prepareRepodataManifest(
  repository: Repository,
  files: SubdirIndexFiles,
  annotations: RepodataAnnotations,
  state: StateLayers = {},
): Promise<{ bytes: Uint8Array; repodataDigest: string }> {
  await pushConfig(repository);
  const plain = await pushBytes(repository, files.repodataJson, IndexMediaType.Repodata, 'repodata.json');
  const zst = await pushBytes(repository, files.repodataZst, IndexMediaType.RepodataZst, 'repodata.json');
  const shardIndex = await pushBytes(repository, files.shardIndex, IndexMediaType.ShardIndex, SHARD_INDEX_FILENAME);
  const runExports = await pushBytes(repository, files.runExportsJson, IndexMediaType.RunExports, 'run_exports.json');
  const layers = [plain, zst, shardIndex, runExports];
  if (state.fromPackagesZst) layers.push(await pushBytes(repository, state.fromPackagesZst, IndexMediaType.RepodataFromPackagesZst, 'repodata_from_packages.json.zst'));
  if (state.labels) layers.push(await pushBytes(repository, state.labels, IndexMediaType.Labels, 'labels.json'));
  const bytes = manifestBytes(layers, {
    [CREATED]: annotations.created,
    ...(annotations.mark ? { [PROMOTION_MARK]: annotations.mark } : {}),
    ...(annotations.labelMark ? { [LABEL_MARK]: annotations.labelMark } : {}),
    ...(annotations.patches ? { [PATCHES]: annotations.patches } : {}),
    ...(annotations.patchSource ? { [PATCH_SOURCE]: annotations.patchSource } : {}),
  });
  return { bytes, repodataDigest: plain.digest };
}

/** channeldata.json at the channel root under `latest` and the timestamp tag; returns the layer digest. */
export async function pushChannelData(repository: Repository, text: Buffer, stamp: string, created: string): Promise<string> {
  await pushConfig(repository);
  const layer = await pushBytes(repository, text, IndexMediaType.ChannelData, 'channeldata.json');
  const bytes = manifestBytes([layer], { [CREATED]: created });
  await settle(() => repository.pushManifest(bytes, MediaType.ImageManifest, stamp));
  await settle(() => repository.pushManifest(bytes, MediaType.ImageManifest, 'latest'));
  return layer.digest;
}
