// The one store interface. A remote registry (remote/) and an OCI image layout on disk (layout.ts)
// both implement it, so copy, upload, promote and reindex never care which side they talk to.
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { Digest, Location } from './reference.ts';

export const MediaType = {
  ImageManifest: 'application/vnd.oci.image.manifest.v1+json',
  ImageIndex: 'application/vnd.oci.image.index.v1+json',
  EmptyJson: 'application/vnd.oci.empty.v1+json',
  OctetStream: 'application/octet-stream',
} as const;

/** sha256 of zero bytes: the digest of the empty config blob conda packages use. */
export const EMPTY_SHA256: Digest = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  annotations?: Record<string, string>;
  /** OCI 1.1: the blob's content itself, base64, for a tiny blob (a reader checks it against `digest` and `size`). */
  data?: string;
  artifactType?: string;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType: typeof MediaType.ImageManifest;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType: typeof MediaType.ImageIndex;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** Bytes to push. `open(offset)` is called again to replay after a failure when `replayable`. */
export interface BlobSource {
  open(offset: number): Readable;
  /** Known size in bytes, when known before reading. */
  readonly size?: number;
  /** False for one-shot streams: a request sending them is never retried once the body started. */
  readonly replayable: boolean;
}

/** Pieces handed to the HTTP client: small enough that a few in flight stay cheap, big enough for throughput. */
const SOURCE_CHUNK = 256 * 1024;

/** Views of `data` (no copy), one piece at a time. */
function* pieces(data: Uint8Array, offset: number): Generator<Buffer> {
  for (let at = offset; at < data.byteLength; at += SOURCE_CHUNK) {
    yield Buffer.from(data.buffer, data.byteOffset + at, Math.min(SOURCE_CHUNK, data.byteLength - at));
  }
}

export function bytesSource(data: Uint8Array): BlobSource {
  return { size: data.byteLength, replayable: true, open: (offset) => Readable.from(pieces(data, offset), { objectMode: false }) };
}

export function fileSource(file: string, size?: number): BlobSource {
  return { size, replayable: true, open: (offset) => createReadStream(file, { start: offset, highWaterMark: SOURCE_CHUNK }) };
}

/** A one-shot stream: can be sent once, never replayed. */
export function streamSource(stream: Readable, size?: number): BlobSource {
  let used = false;
  return {
    size,
    replayable: false,
    open(offset) {
      if (used || offset !== 0) throw new Error('a one-shot stream cannot be reopened');
      used = true;
      return stream;
    },
  };
}

export interface TransferOptions {
  /** Called with the number of bytes moved so far. */
  onProgress?: (bytes: number) => void;
  signal?: AbortSignal;
  /**
   * pushBlob only: the caller knows the blob is almost surely not there yet (a new package's own layers), so
   * the existence check (a HEAD) is skipped; pushing a blob that is there after all is harmless.
   */
  likelyMissing?: boolean;
}

export interface ListTagsOptions {
  /** Only tags after this one: what a reader that remembers its place (the promotion log) asks for. */
  after?: string;
}

export interface FetchedManifest {
  descriptor: Descriptor;
  bytes: Uint8Array;
}

export interface Repository {
  readonly store: Store;
  /** Full repository name (the store location's path included). */
  readonly name: string;
  /** For messages: `oci://host/name` or `oci-layout:DIR/name`. */
  readonly display: string;

  /** HEAD a blob: its size, or undefined when the repository does not have it. */
  statBlob(digest: Digest): Promise<Descriptor | undefined>;
  /**
   * Streams a blob. The stream errors with DigestMismatchError when the bytes do not hash to `digest`
   * or (when given) do not have `size` bytes, before it ends.
   */
  fetchBlob(digest: Digest, size?: number, options?: TransferOptions): Promise<Readable>;
  /**
   * Pushes a blob while hashing it. When `expected.digest` is given and the blob exists, nothing is sent;
   * when the bytes do not match `expected`, the upload is not committed and DigestMismatchError is thrown.
   */
  pushBlob(
    source: BlobSource,
    expected?: { digest?: Digest; size?: number },
    options?: TransferOptions,
  ): Promise<{ digest: Digest; size: number; pushed: boolean }>;
  /**
   * Makes a blob of `from` available here without moving its bytes, when both are in one registry.
   * Returns false when it could not (different registries, refused, any failure): the caller uploads.
   */
  mountBlob(digest: Digest, from: Repository): Promise<boolean>;

  /** HEAD a manifest by tag or digest. */
  resolve(reference: string): Promise<Descriptor | undefined>;
  /** GET a manifest by tag or digest; verified against the digest, capped in size. Throws NotFoundError. */
  fetchManifest(reference: string): Promise<FetchedManifest>;
  /**
   * PUTs manifest bytes exactly as given, under `tag` or by digest. When the manifest has a `subject`,
   * the referrers tag fallback is kept up to date where the store has no referrers API.
   */
  pushManifest(bytes: Uint8Array, mediaType: string, tag?: string): Promise<Descriptor>;
  /** DELETE by digest. Throws UnsupportedError where the store cannot delete. */
  deleteManifest(digest: Digest): Promise<void>;
  /**
   * Every tag, following pagination. An absent repository has no tags. With `after`, only the tags that sort
   * after it (code unit order): sent as the registry's `last=` so one that honours it (ghcr.io, distribution 3)
   * returns just those; filtered here too, for one that ignores it (distribution 2.8 returns every tag).
   */
  listTags(options?: ListTagsOptions): Promise<string[]>;
  /** Manifests whose subject is `subject`, optionally of one artifactType. */
  referrers(subject: Digest, artifactType?: string): Promise<Descriptor[]>;
  /**
   * Fails with DeniedError/UnauthorizedError, before anything is written, when the credentials cannot push
   * here (opens and cancels an upload session on a registry; checks the directory on disk).
   */
  checkPushAccess(): Promise<void>;
}

export interface Store {
  readonly location: Location;
  /** For messages: the location as written (never with credentials). */
  readonly display: string;
  /**
   * Same key for stores on the same registry (host and scheme) or the same layout directory:
   * copy mounts instead of moving bytes when the keys are equal.
   */
  readonly key: string;
  /** A repository by name relative to the location's path. */
  repository(relativeName: string): Repository;
  /**
   * Repository names (relative to the location's path) under `prefix`, through the catalog.
   * Throws UnsupportedError where the registry has none (ghcr.io, Docker Hub).
   */
  listRepositories(prefix?: string): Promise<string[]>;
  close(): Promise<void>;
}
