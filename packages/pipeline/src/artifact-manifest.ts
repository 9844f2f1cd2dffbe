// Tiny OCI artifacts the pipeline records about packages (verdicts, promotion log entries):
// empty config, one layer, annotations; pushed through the store like any manifest.
import { bytesSource, MediaType, sha256Digest, type Descriptor, type ImageManifest, type Repository } from '@oci-channel/oci';

const EMPTY_JSON = new TextEncoder().encode('{}');
export const EMPTY_JSON_DESCRIPTOR: Descriptor = {
  mediaType: MediaType.EmptyJson,
  digest: sha256Digest(EMPTY_JSON),
  size: EMPTY_JSON.byteLength,
};

export async function pushEmptyJson(repository: Repository): Promise<void> {
  await repository.pushBlob(bytesSource(EMPTY_JSON), { digest: EMPTY_JSON_DESCRIPTOR.digest, size: EMPTY_JSON_DESCRIPTOR.size });
}

export function artifactManifest(options: {
  artifactType: string;
  layer?: Descriptor;
  subject?: Descriptor;
  annotations: Record<string, string>;
}): { manifest: ImageManifest; bytes: Uint8Array } {
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ImageManifest,
    artifactType: options.artifactType,
    config: EMPTY_JSON_DESCRIPTOR,
    // The image spec asks for at least one layer; the empty descriptor is its documented stand-in.
    layers: [options.layer ?? EMPTY_JSON_DESCRIPTOR],
    ...(options.subject ? { subject: options.subject } : {}),
    annotations: options.annotations,
  };
  return { manifest, bytes: new TextEncoder().encode(JSON.stringify(manifest)) };
}

export function parseJsonObject(bytes: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new Error(`${what} is not valid UTF-8 JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

/**
 * Retries a manifest push the registry refused because blobs it names were being written at that moment
 * by a concurrent push of the same blob (distribution's filesystem driver rewrites the blob link in place, so
 * a concurrent manifest PUT reads a half-written link: DIGEST_INVALID or MANIFEST_BLOB_UNKNOWN). Pushing the
 * same manifest again is harmless.
 */
export async function withConcurrentPushRetry<T>(push: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await push();
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (attempt >= attempts || (code !== 'DIGEST_INVALID' && code !== 'MANIFEST_BLOB_UNKNOWN' && code !== 'BLOB_UNKNOWN')) throw error;
      await new Promise((resolve) => setTimeout(resolve, 40 * 2 ** attempt + Math.floor(Math.random() * 40)));
    }
  }
}
