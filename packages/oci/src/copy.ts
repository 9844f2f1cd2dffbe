// The one copy routine: any store to any store (registry <-> registry, disk <-> registry, disk <-> disk).
// It copies BY DIGEST (the reference is resolved once, first), moves blobs before the manifests that
// need them, and writes the top manifest LAST with the exact same bytes, so a reader that sees the tag
// always finds everything it points to.
//
// Referrers (signatures, attestations whose `subject` is the copied manifest) are NOT copied: callers copy
// them explicitly (repository.referrers(digest) then copy each), so what gets published stays their choice.
import type { Readable } from 'node:stream';
import pLimit from 'p-limit';
import { DigestMismatchError, InvalidReferenceError, NotFoundError, OciError, UnauthorizedError, DeniedError, UnsupportedError, ProtocolError } from './errors.ts';
import { parseDigest, parseManifestReference, parseTag, type Digest } from './reference.ts';
import { MediaType, streamSource, type Descriptor, type Repository } from './store.ts';
import { sha256Digest } from './digest.ts';

const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
/** Attempts per blob: a one-shot stream cannot be replayed, so a failed transfer reopens the fetch. */
const BLOB_ATTEMPTS = 3;

export interface CopyOptions {
  /** Tag to give the manifest at the destination; without it, the manifest is pushed by digest. */
  tag?: string;
  /** Blobs moved at once (default 4). */
  concurrency?: number;
  /** Called with the number of blob bytes streamed so far (mounted and skipped blobs move none). */
  onProgress?: (bytesCopied: number) => void;
  signal?: AbortSignal;
  /**
   * The source manifest's bytes when the caller has just read them: saves the resolve and the fetch. They must hash
   * to `reference` (a digest), which is checked.
   */
  manifest?: { bytes: Uint8Array; mediaType: string };
  /**
   * Runs after every blob is in place and right before the top manifest is pushed; throwing stops the copy with
   * nothing tagged (promote checks here that the tag is still free, as late as it can).
   */
  beforeManifest?: () => Promise<void>;
  /** Re-read the destination after the push to confirm it serves the copy (default true). */
  verify?: boolean;
}

export interface CopyResult {
  /** The manifest at the destination: same digest as at the source. */
  descriptor: Descriptor;
  blobsCopied: number;
  blobsMounted: number;
  blobsSkipped: number;
  bytesCopied: number;
}

export async function copy(source: Repository, reference: string, destination: Repository, options: CopyOptions = {}): Promise<CopyResult> {
  parseManifestReference(reference);
  const tag = options.tag === undefined ? undefined : parseTag(options.tag);
  const concurrency = options.concurrency ?? 4;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new InvalidReferenceError(`invalid copy concurrency ${concurrency}: use a whole number of at least 1`);
  }
  let resolved: { digest: Digest } | undefined;
  if (options.manifest) {
    const given = sha256Digest(options.manifest.bytes);
    if (given !== parseDigest(reference, 'copy reference')) {
      throw new DigestMismatchError(`cannot copy ${source.display}@${reference}: the manifest bytes given hash to ${given}`, { repository: source.name, reference });
    }
    resolved = { digest: given };
  } else {
    resolved = await source.resolve(reference);
  }
  if (!resolved) {
    throw new NotFoundError(`cannot copy ${source.display}${reference.includes(':') ? '@' : ':'}${reference}: not found; check the tag or digest`, {
      repository: source.name,
      reference,
    });
  }
  // The first failure stops the transfers still running in parallel (the caller's signal does too).
  const failed = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, failed.signal]) : failed.signal;
  const state = new CopyRun(source, destination, concurrency, { ...options, signal });
  let descriptor: Descriptor;
  try {
    let top = options.manifest;
    if (!top) {
      const fetched = await source.fetchManifest(resolved.digest);
      top = { bytes: fetched.bytes, mediaType: fetched.descriptor.mediaType };
    }
    descriptor = await state.manifest(resolved.digest, top.bytes, top.mediaType, tag, true);
  } catch (error) {
    failed.abort(error);
    throw error;
  }
  return {
    descriptor,
    blobsCopied: state.blobsCopied,
    blobsMounted: state.blobsMounted,
    blobsSkipped: state.blobsSkipped,
    bytesCopied: state.bytesCopied,
  };
}

class CopyRun {
  blobsCopied = 0;
  blobsMounted = 0;
  blobsSkipped = 0;
  bytesCopied = 0;
  readonly #source: Repository;
  readonly #destination: Repository;
  readonly #options: CopyOptions;
  readonly #limit: ReturnType<typeof pLimit>;
  /** One transfer per blob digest, even when several manifests share the blob. */
  readonly #blobs = new Map<Digest, Promise<void>>();
  readonly #sameStore: boolean;

  constructor(source: Repository, destination: Repository, concurrency: number, options: CopyOptions) {
    this.#source = source;
    this.#destination = destination;
    this.#options = options;
    this.#limit = pLimit(concurrency);
    this.#sameStore = source.store.key === destination.store.key;
  }

  /** Copies what a manifest needs, then the manifest itself (bytes unchanged), and checks the result. */
  async manifest(digest: Digest, bytes: Uint8Array, mediaType: string, tag: string | undefined, top: boolean): Promise<Descriptor> {
    this.#options.signal?.throwIfAborted();
    const parsed = parseJson(bytes, `${this.#source.display}@${digest}`);
    const type = mediaType || (typeof parsed.mediaType === 'string' ? parsed.mediaType : '');
    if (type === MediaType.ImageIndex || type === DOCKER_MANIFEST_LIST) {
      const children = descriptors(parsed.manifests, `${this.#source.display}@${digest}`);
      // Children are pushed by digest before the index; they are few, their blobs share the one limiter.
      await Promise.all(children.map((child) => this.#child(child)));
    } else if (type === MediaType.ImageManifest || type === DOCKER_MANIFEST) {
      const blobs = descriptors([parsed.config, ...(Array.isArray(parsed.layers) ? parsed.layers : [])], `${this.#source.display}@${digest}`);
      await Promise.all(blobs.map((blob) => this.#blob(blob)));
    } else {
      throw new UnsupportedError(`cannot copy ${this.#source.display}@${digest}: unknown manifest media type ${JSON.stringify(type)}`, {
        repository: this.#source.name,
        reference: digest,
      });
    }
    if (top) await this.#options.beforeManifest?.();
    // The `subject` of a referrer is not copied: registries accept a manifest whose subject is missing.
    const pushed = await this.#destination.pushManifest(bytes, type, tag);
    if (pushed.digest !== digest) {
      throw new DigestMismatchError(`${this.#destination.display} stored the manifest ${digest} as ${pushed.digest}; the copy is not faithful`, {
        repository: this.#destination.name,
        reference: digest,
      });
    }
    if (top && this.#options.verify !== false) {
      const check = await this.#destination.resolve(tag ?? digest);
      if (!check || check.digest !== digest) {
        throw new ProtocolError(
          `after the copy, ${this.#destination.display}${tag ? `:${tag}` : `@${digest}`} resolves to ${check?.digest ?? 'nothing'} instead of ${digest}; copy again`,
          { repository: this.#destination.name, reference: tag ?? digest },
        );
      }
    }
    return { mediaType: type, digest, size: bytes.byteLength };
  }

  async #child(child: Descriptor): Promise<void> {
    // A child manifest the destination already has comes with its blobs (registries refuse it otherwise).
    const present = await this.#destination.resolve(child.digest);
    if (present?.digest === child.digest) return;
    const fetched = await this.#source.fetchManifest(child.digest);
    await this.manifest(child.digest, fetched.bytes, fetched.descriptor.mediaType || child.mediaType, undefined, false);
  }

  #blob(blob: Descriptor): Promise<void> {
    let transfer = this.#blobs.get(blob.digest);
    if (!transfer) {
      transfer = this.#limit(() => this.#moveBlob(blob));
      this.#blobs.set(blob.digest, transfer);
    }
    return transfer;
  }

  async #moveBlob(blob: Descriptor): Promise<void> {
    const { digest, size } = blob;
    this.#options.signal?.throwIfAborted();
    // On one registry a mount is one request and succeeds whether or not the destination has the blob already,
    // so it goes first; elsewhere a stat saves the transfer of a blob that is there.
    if (this.#sameStore && (await this.#destination.mountBlob(digest, this.#source))) {
      this.blobsMounted++;
      return;
    }
    const present = await this.#destination.statBlob(digest);
    if (present && present.size === size) {
      this.blobsSkipped++;
      return;
    }
    for (let attempt = 1; ; attempt++) {
      let moved = 0;
      let stream: Readable | undefined;
      try {
        stream = await this.#source.fetchBlob(digest, size, { signal: this.#options.signal });
        const pushed = await this.#destination.pushBlob(
          streamSource(stream, size),
          { digest, size },
          {
            signal: this.#options.signal,
            onProgress: (bytes) => {
              this.bytesCopied += bytes - moved;
              moved = bytes;
              this.#options.onProgress?.(this.bytesCopied);
            },
          },
        );
        if (!pushed.pushed) {
          // Another writer stored it meanwhile: nothing of ours landed.
          stream.destroy();
          this.bytesCopied -= moved;
          this.blobsSkipped++;
          return;
        }
        // Count the whole blob even where the store reported progress coarsely (or not at all).
        this.bytesCopied += size - moved;
        this.blobsCopied++;
        return;
      } catch (error) {
        stream?.destroy();
        // Progress of a failed attempt did not land: take it back.
        this.bytesCopied -= moved;
        if (attempt >= BLOB_ATTEMPTS || !retryable(error) || this.#options.signal?.aborted) throw error;
      }
    }
  }
}

function retryable(error: unknown): boolean {
  if (error instanceof InvalidReferenceError || error instanceof UnauthorizedError || error instanceof DeniedError) return false;
  if (error instanceof UnsupportedError || error instanceof NotFoundError) return false;
  if (error instanceof Error && error.name === 'AbortError') return false;
  // Network errors, a corrupt or cut stream, a registry hiccup the store could not retry (one-shot body), a body
  // refused as too large (413/416: the store learned the size and chunks the next attempt).
  const again = [408, 413, 416, 429];
  return error instanceof OciError ? !(error.status !== undefined && error.status >= 400 && error.status < 500 && !again.includes(error.status)) : true;
}

function parseJson(bytes: Uint8Array, what: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new ProtocolError(`cannot copy ${what}: the manifest is not a JSON object`);
}

function descriptors(values: unknown, what: string): Descriptor[] {
  if (!Array.isArray(values)) throw new ProtocolError(`cannot copy ${what}: the manifest lists no descriptors where it must`);
  return values.map((value) => {
    const d = value as Partial<Descriptor> | null;
    if (!d || typeof d.digest !== 'string' || typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
      throw new ProtocolError(`cannot copy ${what}: a descriptor lacks a valid digest or size`);
    }
    parseDigest(d.digest, `digest in ${what}`);
    return { mediaType: typeof d.mediaType === 'string' ? d.mediaType : MediaType.OctetStream, digest: d.digest, size: d.size };
  });
}
