// Tiny OCI artifacts the pipeline records about packages (verdicts, promotion log entries):
// empty config, one layer, annotations; pushed through the store like any manifest.
import { bytesSource, MediaType, sha256Digest, type Descriptor, type ImageManifest, type Repository } from '@oci-channel/oci';

const EMPTY_JSON = new TextEncoder().encode('{}');
export const EMPTY_JSON_DESCRIPTOR: Descriptor = {
  mediaType: MediaType.EmptyJson,
  digest: sha256Digest(EMPTY_JSON),
  size: EMPTY_JSON.byteLength,
};

/** Per store, the repositories whose `{}` blob this process has pushed or found: checked once, not per artifact. */
const emptyJsonPlaced = new WeakMap<Repository['store'], Map<string, Promise<void>>>();

export function pushEmptyJson(repository: Repository): Promise<void> {
  let placed = emptyJsonPlaced.get(repository.store);
  if (!placed) emptyJsonPlaced.set(repository.store, (placed = new Map()));
  let push = placed.get(repository.name);
  if (!push) {
    push = repository.pushBlob(bytesSource(EMPTY_JSON), { digest: EMPTY_JSON_DESCRIPTOR.digest, size: EMPTY_JSON_DESCRIPTOR.size }).then(() => undefined);
    placed.set(repository.name, push);
    // A failed push is tried again by the next caller.
    push.catch(() => placed.delete(repository.name));
  }
  return push;
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
