// Small conda-like artifacts for the store contract, copy and skopeo tests.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { EMPTY_SHA256, MediaType, bytesSource, openStore, sha256Digest, type Descriptor, type Digest, type Repository } from '@oci-channel/oci';

export const CONDA_CONFIG = 'application/vnd.unknown.config.v1+json';
export const CONDA_PACKAGE = 'application/vnd.conda.package.v2';

export interface PushedArtifact {
  digest: Digest;
  bytes: Uint8Array;
  layers: Descriptor[];
}

/** Manifest bytes for a config + layers, with optional subject/artifactType/annotations. */
export function manifestBytes(
  layers: Descriptor[],
  extra: { subject?: Descriptor; artifactType?: string; annotations?: Record<string, string> } = {},
): Uint8Array {
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ImageManifest,
    ...(extra.artifactType ? { artifactType: extra.artifactType } : {}),
    config: { mediaType: CONDA_CONFIG, digest: EMPTY_SHA256, size: 0 },
    layers,
    ...(extra.subject ? { subject: extra.subject } : {}),
    ...(extra.annotations ? { annotations: extra.annotations } : {}),
  };
  return new TextEncoder().encode(JSON.stringify(manifest));
}

/** Pushes the empty config, `layerCount` random layers and a manifest (under `tag`, else by digest). */
export async function pushArtifact(
  repository: Repository,
  options: { tag?: string; layerCount?: number; layerSize?: number; subject?: Descriptor; artifactType?: string; title?: string } = {},
): Promise<PushedArtifact> {
  await repository.pushBlob(bytesSource(new Uint8Array(0)), { digest: EMPTY_SHA256, size: 0 });
  const layers: Descriptor[] = [];
  for (let i = 0; i < (options.layerCount ?? 1); i++) {
    const data = randomBytes(options.layerSize ?? 1000 + i);
    const pushed = await repository.pushBlob(bytesSource(data));
    layers.push({
      mediaType: CONDA_PACKAGE,
      digest: pushed.digest,
      size: pushed.size,
      annotations: { 'org.opencontainers.image.title': `${options.title ?? 'pkg'}-${i}.conda` },
    });
  }
  const bytes = manifestBytes(layers, { subject: options.subject, artifactType: options.artifactType });
  const descriptor = await repository.pushManifest(bytes, MediaType.ImageManifest, options.tag);
  if (descriptor.digest !== sha256Digest(bytes)) throw new Error('store changed the manifest digest');
  return { digest: descriptor.digest, bytes, layers };
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

let counter = 0;
/** A repository name nobody else in this process uses. */
export function uniqueName(prefix: string): string {
  counter++;
  return `${prefix}${process.pid}x${counter}`;
}

/**
 * The remote store is written in parallel: suites run their registry half as soon as it exists.
 * Returns why it is missing (the placeholder's "not implemented"), else undefined.
 */
export function remoteStoreMissing(): string | undefined {
  try {
    openStore('oci+http://127.0.0.1:9/probe');
    return undefined;
  } catch (error) {
    return /not implemented/i.test(String(error)) ? String(error) : undefined;
  }
}
