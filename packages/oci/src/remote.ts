// The registry store: the Store contract over the OCI distribution API (https, or http when the location says so).
import { createHash, type Hash } from 'node:crypto';
import { Readable, Transform, pipeline, type TransformCallback } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Authenticator } from './auth.ts';
import { resolveCredentials } from './credentials.ts';
import { VerifyingStream, sha256Digest, verifyBytes } from './digest.ts';
import {
  DeniedError,
  DigestMismatchError,
  InsecureError,
  NotFoundError,
  OciError,
  ProtocolError,
  TooLargeError,
  UnauthorizedError,
  UnsupportedError,
  where,
  type OciErrorContext,
} from './errors.ts';
import {
  HttpTransport,
  abandon,
  isRetryableStatus,
  checkLocation,
  discard,
  header,
  readCapped,
  readRegistryError,
  responseError,
  type HttpResponse,
  type SendOptions,
} from './http.ts';
import type { StoreOptions } from './options.ts';
import { formatLocation, parseDigest, parseManifestReference, parseTag, repositoryName, type Digest, type Location } from './reference.ts';
import { referrersTag, updateReferrersIndex } from './referrers.ts';
import {
  MediaType,
  type BlobSource,
  type Descriptor,
  type FetchedManifest,
  type ListTagsOptions,
  type ImageIndex,
  type Repository,
  type Store,
  type TransferOptions,
} from './store.ts';

type RegistryLocation = Extract<Location, { kind: 'registry' }>;

export interface RemoteStoreOptions extends StoreOptions {
  /** Blobs larger than this, or of unknown size, go up in PATCH chunks (default 64 MiB). */
  chunkThresholdBytes?: number;
  /**
   * Size of one PATCH chunk, raised to the registry's OCI-Chunk-Min-Length. Default: the whole blob in one
   * PATCH (as go-containerregistry and containers/image send it). Measured on distribution 2.8 with 1 GiB: the
   * closing PUT?digest does not re-read the upload (its hash state is kept per PATCH), but each PATCH costs the
   * registry extra work: 16 PATCHes of 64 MiB took 5.0-5.3 s (registry CPU 4.1-4.5 s), one PATCH 4.3-4.6 s
   * (3.7-4.1 s), curl's monolithic PUT 4.2-4.3 s. An interrupted PATCH still resumes where the registry stands.
   * Set it for registries or proxies that cap the size of a request body.
   */
  chunkSizeBytes?: number;
}

/** Registries must accept manifests up to 4 MiB: refuse larger before sending. */
export const MAX_MANIFEST_PUSH = 4 * 1024 * 1024;
/** Manifests read are capped here. */
export const MAX_MANIFEST_FETCH = 8 * 1024 * 1024;
/** One page of a tag or catalog list. */
export const MAX_LIST_PAGE = 4 * 1024 * 1024;
const MAX_PAGES = 10_000;

const MANIFEST_ACCEPT = [
  MediaType.ImageManifest,
  MediaType.ImageIndex,
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

interface ClientRequest extends SendOptions {
  /** Token scopes this request needs, e.g. `repository:NAME:pull,push`. */
  scopes: string[];
}

/** Transport plus authentication for one registry. */
class RegistryClient {
  readonly transport: HttpTransport;
  readonly auth: Authenticator;
  readonly base: URL;

  constructor(location: RegistryLocation, options: StoreOptions) {
    this.base = new URL(`${location.scheme}://${location.host}/`);
    this.transport = new HttpTransport({
      registry: location.host,
      concurrency: options.concurrency,
      timeoutMs: options.timeoutMs,
      retry: options.retry,
      userAgent: options.userAgent,
    });
    this.auth = new Authenticator(this.transport, this.base, resolveCredentials(location, options));
  }

  url(path: string): URL {
    return new URL(path, this.base);
  }

  /** request() and read the body whole (capped), again when the body is cut mid-way. */
  async requestBytes(request: ClientRequest, context: OciErrorContext, cap: number, what: string): Promise<{ res: HttpResponse; bytes?: Buffer }> {
    return this.transport.sendAndRead(() => this.request(request, context), cap, what, context);
  }

  /** Sends with the credentials the registry wants; one new attempt after a 401 challenge. */
  async request(request: ClientRequest, context: OciErrorContext): Promise<HttpResponse> {
    const authOrigin = this.base.origin;
    let authorization = await this.auth.authorization(request.scopes);
    let res = await this.transport.send({ ...request, authorization, authOrigin }, context);
    if (res.status !== 401) return res;
    const canResend = !request.body || request.replayable === true;
    if (canResend && (await this.auth.challenge(header(res, 'www-authenticate'), request.scopes, authorization, context))) {
      await discard(res);
      authorization = await this.auth.authorization(request.scopes);
      res = await this.transport.send({ ...request, authorization, authOrigin }, context);
      if (res.status !== 401) return res;
    }
    const challenge = header(res, 'www-authenticate') ?? '';
    await discard(res);
    const scope = request.scopes.join(' ');
    if (/insufficient_scope/.test(challenge) && this.auth.hasCredentials) {
      throw new DeniedError(
        `access to ${where(context)} denied: the credentials do not grant ${scope}; use credentials allowed to do this`,
        { ...context, status: 401, code: 'DENIED' },
      );
    }
    throw new UnauthorizedError(
      `${where(context)}: the registry refused ${this.auth.hasCredentials ? 'the credentials' : 'anonymous access'} (HTTP 401); ${
        this.auth.hasCredentials ? 'check the username and password' : 'provide credentials (OCI_CHANNEL_<HOST>_USERNAME/_PASSWORD or docker login)'
      }`,
      { ...context, status: 401 },
    );
  }
}

/** Counts bytes and reports progress as they pass. */
class ProgressStream extends Transform {
  #bytes = 0;
  readonly #onProgress: (bytes: number) => void;
  constructor(onProgress: (bytes: number) => void) {
    super();
    this.#onProgress = onProgress;
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#bytes += chunk.length;
    this.#onProgress(this.#bytes);
    callback(null, chunk);
  }
}

/** Passes exactly `size` bytes, reporting progress; fails the body (so nothing is committed) on more or fewer. */
class SizeGuard extends Transform {
  #bytes = 0;
  readonly #size: number;
  readonly #error: (why: string) => Error;
  readonly #onProgress: ((bytes: number) => void) | undefined;
  constructor(size: number, error: (why: string) => Error, onProgress?: (bytes: number) => void) {
    super();
    this.#size = size;
    this.#error = error;
    this.#onProgress = onProgress;
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#bytes += chunk.length;
    if (this.#bytes > this.#size) {
      callback(this.#error(`the source has more than ${this.#size} bytes`));
      return;
    }
    this.#onProgress?.(this.#bytes);
    callback(null, chunk);
  }
  override _flush(callback: TransformCallback): void {
    callback(this.#bytes === this.#size ? null : this.#error(`the source has ${this.#bytes} bytes, not ${this.#size}`));
  }
}

/** Bytes read from a source between two young-generation collections while a large blob streams. */
const COLLECT_EVERY = 4 * 1024 * 1024;
let collectYoung: (() => void) | undefined;

/**
 * A large blob streams through a new Buffer per read, and V8 frees them only once its external-memory limit
 * (~64 MB over the last full collection) is reached: 1 GiB sent raised the peak RSS by ~70 MB of garbage.
 * A young-generation collection every few MiB frees them at once; it visits only young objects (under 1 ms).
 * `gc` is exposed to a new context only, never to the program's own global scope.
 */
function collectYoungGarbage(): void {
  if (!collectYoung) {
    try {
      setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc') as (options: { type: 'minor' | 'major'; execution?: 'sync' }) => void;
      collectYoung = () => gc({ type: 'minor', execution: 'sync' });
    } catch {
      collectYoung = () => {};
    }
  }
  collectYoung();
}

/** Reads a source in pieces; hashes every byte it hands out. */
class SourceReader {
  readonly #stream: Readable;
  readonly #iterator: AsyncIterator<Buffer>;
  #pending: Buffer | undefined;
  #done = false;
  hash: Hash;
  /** Source offset of the next byte. */
  position: number;
  #sinceCollect = 0;

  constructor(source: BlobSource, offset: number, hash: Hash) {
    this.#stream = source.open(offset);
    this.#iterator = this.#stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    this.position = offset;
    this.hash = hash;
  }

  async #next(): Promise<Buffer | undefined> {
    if (this.#pending?.length) {
      const buf = this.#pending;
      this.#pending = undefined;
      return buf;
    }
    while (!this.#done) {
      const r = await this.#iterator.next();
      if (r.done) {
        this.#done = true;
        return undefined;
      }
      const buf = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
      if (buf.length) return buf;
    }
    return undefined;
  }

  async atEnd(): Promise<boolean> {
    const buf = await this.#next();
    if (!buf) return true;
    this.#pending = buf;
    return false;
  }

  /** Up to `n` bytes, hashed as they are handed out. */
  async *take(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      const buf = await this.#next();
      if (!buf) return;
      const piece = buf.length > left ? buf.subarray(0, left) : buf;
      if (buf.length > left) this.#pending = buf.subarray(left);
      left -= piece.length;
      this.hash.update(piece);
      this.position += piece.length;
      this.#sinceCollect += piece.length;
      if (this.#sinceCollect >= COLLECT_EVERY) {
        this.#sinceCollect = 0;
        collectYoungGarbage();
      }
      yield piece;
    }
  }

  /** Hashes `n` bytes without sending them (the registry already has them). */
  async skip(n: number): Promise<void> {
    for await (const _ of this.take(n)) {
      // hashed by take()
    }
  }

  destroy(): void {
    this.#stream.destroy();
  }
}

function withDigest(location: URL, digest: Digest): URL {
  // Keep the Location's own query string byte for byte (distribution signs its _state).
  const url = new URL(location);
  url.search = `${url.search ? `${url.search}&` : '?'}digest=${encodeURIComponent(digest)}`;
  return url;
}

/** `0-<end>` of a Range header -> bytes held (end + 1); 0 when absent. */
function rangeEnd(value: string | undefined): number {
  const m = /(\d+)-(-?\d+)/.exec(value ?? '');
  if (!m) return 0;
  return Number(m[2]) + 1;
}

function nextLink(res: HttpResponse, current: URL, context: OciErrorContext): URL | undefined {
  const link = header(res, 'link');
  if (!link) return undefined;
  const m = /<([^>]*)>\s*;[^,]*rel="?next"?/.exec(link);
  if (!m) return undefined;
  const next = checkLocation(current, m[1]!, 'pagination link', context);
  if (next.origin !== current.origin) {
    throw new InsecureError(
      `${where(context)} sent a pagination link to another origin (${next.host}); refused to follow it`,
      context,
    );
  }
  return next;
}

class RemoteRepository implements Repository {
  readonly store: RemoteStore;
  readonly name: string;
  readonly display: string;
  readonly #client: RegistryClient;
  readonly #pull: string[];
  readonly #push: string[];

  constructor(store: RemoteStore, client: RegistryClient, name: string) {
    this.store = store;
    this.#client = client;
    this.name = name;
    this.display = `${store.location.scheme === 'https' ? 'oci' : 'oci+http'}://${store.location.host}/${name}`;
    this.#pull = [`repository:${name}:pull`];
    this.#push = [`repository:${name}:pull,push`];
  }

  #context(reference?: string): OciErrorContext {
    return { registry: this.store.location.host, repository: this.name, reference };
  }

  #url(path: string): URL {
    return this.#client.url(`/v2/${this.name}/${path}`);
  }

  async statBlob(digest: Digest): Promise<Descriptor | undefined> {
    parseDigest(digest);
    const context = this.#context(digest);
    const url = this.#url(`blobs/${digest}`);
    const res = await this.#client.request({ method: 'HEAD', url, scopes: this.#pull, followRedirects: false }, context);
    await discard(res);
    if (res.status === 404) return undefined;
    const location = header(res, 'location');
    if ([301, 302, 303, 307, 308].includes(res.status) && location) {
      // ghcr.io and Docker Hub redirect blobs to storage URLs that refuse HEAD: ask for one byte instead.
      return { mediaType: MediaType.OctetStream, digest, size: await this.#sizeAt(checkLocation(url, location, 'redirect', context), context) };
    }
    if (res.status !== 200) throw await responseError(res, 'HEAD blob', context);
    const size = Number(header(res, 'content-length'));
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new ProtocolError(`HEAD blob ${where(context)} answered without a valid Content-Length`, context);
    }
    return { mediaType: MediaType.OctetStream, digest, size };
  }

  /** Size of a blob behind a redirect, from a one-byte ranged GET (Content-Range total, or Content-Length). */
  async #sizeAt(url: URL, context: OciErrorContext): Promise<number> {
    const res = await this.#client.request({ method: 'GET', url, headers: { range: 'bytes=0-0' }, scopes: this.#pull }, context);
    if (res.status !== 206 && res.status !== 200) throw await responseError(res, 'sizing blob', context);
    abandon(res);
    const total = res.status === 206 ? /\/(\d+)\s*$/.exec(header(res, 'content-range') ?? '')?.[1] : header(res, 'content-length');
    const size = Number(total);
    if (total === undefined || !Number.isSafeInteger(size) || size < 0) {
      throw new ProtocolError(`blob ${where(context)} behind a redirect has no readable size`, context);
    }
    return size;
  }

  async fetchBlob(digest: Digest, size?: number, options: TransferOptions = {}): Promise<Readable> {
    parseDigest(digest);
    const context = this.#context(digest);
    const res = await this.#client.request(
      { method: 'GET', url: this.#url(`blobs/${digest}`), scopes: this.#pull, signal: options.signal },
      context,
    );
    if (res.status !== 200) throw await responseError(res, 'GET blob', context);
    const declared = Number(header(res, 'content-length'));
    if (size !== undefined && Number.isFinite(declared) && declared !== size) {
      abandon(res);
      throw new DigestMismatchError(
        `blob ${where(context)} is ${declared} bytes, not the expected ${size}; refused`,
        context,
      );
    }
    const verifying = new VerifyingStream(digest, size, context);
    const stages: NodeJS.ReadWriteStream[] = options.onProgress ? [new ProgressStream(options.onProgress)] : [];
    const body = Readable.from(this.#resumingBody(res, digest, options), { objectMode: false });
    // pipeline() passes a failure of the response body on to the stream the caller reads.
    pipeline([body, ...stages, verifying], () => {});
    return verifying;
  }

  /** The blob's bytes; a connection lost mid-body is picked up again with a Range request where it stopped. */
  async *#resumingBody(first: HttpResponse, digest: Digest, options: TransferOptions): AsyncGenerator<Buffer> {
    const context = this.#context(digest);
    const transport = this.#client.transport;
    let res = first;
    let received = 0;
    let skip = 0;
    // Received buffers are garbage as soon as the consumer has them: collected young, as on the upload side.
    let sinceCollect = 0;
    for (let failures = 0; ; ) {
      try {
        for await (const chunk of res.body) {
          let piece = chunk as Buffer;
          if (skip) {
            // The registry ignored the Range and sent from the start: drop what we already passed on.
            const dropped = Math.min(skip, piece.length);
            skip -= dropped;
            piece = piece.subarray(dropped);
            if (!piece.length) continue;
          }
          received += piece.length;
          sinceCollect += piece.length;
          if (sinceCollect >= COLLECT_EVERY) {
            sinceCollect = 0;
            collectYoungGarbage();
          }
          yield piece;
        }
        return;
      } catch (error) {
        if (options.signal?.aborted || error instanceof OciError || ++failures >= transport.attempts) throw error;
      }
      await sleep(transport.backoff(failures));
      res = await this.#client.request(
        { method: 'GET', url: this.#url(`blobs/${digest}`), headers: { range: `bytes=${received}-` }, scopes: this.#pull, signal: options.signal },
        context,
      );
      if (res.status === 206) {
        const start = Number(/bytes\s+(\d+)-/.exec(header(res, 'content-range') ?? '')?.[1]);
        if (start !== received) {
          abandon(res);
          throw new ProtocolError(`resuming blob ${where(context)} at ${received}: the registry answered from ${start}`, context);
        }
      } else if (res.status === 200) {
        skip = received;
      } else {
        throw await responseError(res, 'resuming GET blob', context);
      }
    }
  }

  async #openSession(query = ''): Promise<{ res: HttpResponse; location?: URL }> {
    const context = this.#context();
    const url = this.#url(`blobs/uploads/${query}`);
    const res = await this.#client.request({ method: 'POST', url, scopes: this.#push, headers: { 'content-length': '0' } }, context);
    const location = header(res, 'location');
    return { res, location: location ? checkLocation(url, location, 'upload location', context) : undefined };
  }

  async #upload(): Promise<{ location: URL; minChunk: number }> {
    const context = this.#context();
    const { res, location } = await this.#openSession();
    if (res.status !== 202) throw await responseError(res, 'starting an upload to', context);
    await discard(res);
    if (!location) throw new ProtocolError(`starting an upload to ${where(context)}: no Location in the answer`, context);
    return { location, minChunk: Number(header(res, 'oci-chunk-min-length')) || 0 };
  }

  async #cancel(location: URL): Promise<void> {
    try {
      const res = await this.#client.request({ method: 'DELETE', url: location, scopes: this.#push, retry: false }, this.#context());
      await discard(res);
    } catch {
      // best effort: an abandoned session is purged by the registry
    }
  }

  async pushBlob(
    source: BlobSource,
    expected: { digest?: Digest; size?: number } = {},
    options: TransferOptions = {},
  ): Promise<{ digest: Digest; size: number; pushed: boolean }> {
    if (expected.digest) {
      parseDigest(expected.digest);
    }
    if (expected.digest && !options.likelyMissing) {
      const have = await this.statBlob(expected.digest);
      if (have) return { digest: expected.digest, size: have.size, pushed: false };
    }
    if (expected.size !== undefined && source.size !== undefined && expected.size !== source.size) {
      throw this.#mismatch(expected.digest, `the source has ${source.size} bytes, not ${expected.size}`);
    }
    const size = expected.size ?? source.size;
    const algorithm = expected.digest?.startsWith('sha512:') ? 'sha512' : 'sha256';
    if (size !== undefined && size <= this.store.chunkThreshold && (expected.digest || source.replayable)) {
      const digest = expected.digest ?? (await hashSource(source, algorithm));
      return this.#pushMonolithic(source, size, digest, expected, options);
    }
    return this.#pushChunked(source, algorithm, expected, options);
  }

  #mismatch(digest: Digest | undefined, why: string): DigestMismatchError {
    const context = this.#context(digest);
    return new DigestMismatchError(
      `blob pushed to ${where(context)} does not match what was expected: ${why}; nothing was committed, check the source`,
      context,
    );
  }

  async #pushMonolithic(
    source: BlobSource,
    size: number,
    digest: Digest,
    expected: { digest?: Digest; size?: number },
    options: TransferOptions,
  ): Promise<{ digest: Digest; size: number; pushed: boolean }> {
    const context = this.#context(digest);
    const attempts = source.replayable ? this.#client.transport.attempts : 1;
    for (let attempt = 1; ; attempt++) {
      const { location } = await this.#upload();
      let res: HttpResponse;
      try {
        res = await this.#client.request(
          {
            method: 'PUT',
            url: withDigest(location, digest),
            headers: { 'content-type': MediaType.OctetStream, 'content-length': String(size) },
            scopes: this.#push,
            retry: false,
            signal: options.signal,
            body: () => pipeline(source.open(0), new SizeGuard(size, (why) => this.#mismatch(digest, why), options.onProgress), () => {}),
          },
          context,
        );
      } catch (error) {
        await this.#cancel(location);
        // Network failures carry their cause; typed answers (denied, mismatch) are final.
        const transient = !(error instanceof OciError) || error.cause !== undefined;
        if (transient && attempt < attempts && !options.signal?.aborted) {
          await sleep(this.#client.transport.backoff(attempt));
          continue;
        }
        throw error;
      }
      if (res.status === 201) {
        await discard(res);
        return { digest, size, pushed: true };
      }
      const body = res.status === 400 ? await readRegistryError(res) : undefined;
      if (body?.code === 'DIGEST_INVALID' || body?.code === 'SIZE_INVALID') {
        await this.#cancel(location);
        throw this.#mismatch(digest, `the registry found the bytes do not hash to it (${body.code})`);
      }
      if (body) {
        await this.#cancel(location);
        throw new ProtocolError(`PUT blob ${where(context)} failed: HTTP 400 ${body.code ?? ''}`.trim(), { ...context, status: 400, code: body.code });
      }
      if (isRetryableStatus(res.status) && attempt < attempts) {
        await discard(res);
        await this.#cancel(location);
        await sleep(this.#client.transport.backoff(attempt));
        continue;
      }
      await this.#cancel(location);
      throw await responseError(res, 'PUT blob', context);
    }
  }

  async #pushChunked(
    source: BlobSource,
    algorithm: 'sha256' | 'sha512',
    expected: { digest?: Digest; size?: number },
    options: TransferOptions,
  ): Promise<{ digest: Digest; size: number; pushed: boolean }> {
    const context = this.#context(expected.digest);
    const knownSize = source.size ?? expected.size;
    let { location, minChunk } = await this.#upload();
    const chunkSize = Math.max(this.store.chunkSize, minChunk);
    let offset = 0; // bytes the registry holds
    let saved = { offset: 0, hash: createHash(algorithm) }; // hash state at an offset the registry acknowledged
    let reader = new SourceReader(source, 0, createHash(algorithm));
    let failures = 0;
    const maxFailures = source.replayable ? this.#client.transport.attempts : 0;

    // After a failure: ask the registry what it has and reopen the source there; a lost session starts over.
    const recover = async (cause: unknown): Promise<void> => {
      reader.destroy();
      failures++;
      if (failures > maxFailures) throw cause;
      await sleep(this.#client.transport.backoff(failures));
      let held: number | undefined;
      try {
        const res = await this.#client.request({ method: 'GET', url: location, scopes: this.#push }, context);
        await discard(res);
        if (res.status === 204 || res.status === 200) {
          const range = header(res, 'range');
          held = rangeEnd(range);
          // distribution answers `0-0` for an empty upload as well as for one byte; we only ever had whole
          // chunks acknowledged, so with nothing acknowledged it means empty.
          if (held === 1 && saved.offset === 0 && /^\s*(bytes=)?0-0\s*$/.test(range ?? '')) held = 0;
          const next = header(res, 'location');
          if (next) location = checkLocation(location, next, 'upload location', context);
        }
      } catch {
        held = undefined;
      }
      if (held === undefined) {
        await this.#cancel(location);
        ({ location } = await this.#upload());
        held = 0;
      }
      const from = held >= saved.offset ? saved : { offset: 0, hash: createHash(algorithm) };
      reader = new SourceReader(source, from.offset, from.hash.copy());
      await reader.skip(held - from.offset);
      offset = held;
    };

    try {
      for (;;) {
        if (knownSize !== undefined ? offset >= knownSize : await reader.atEnd()) break;
        const length = knownSize !== undefined ? Math.min(chunkSize, knownSize - offset) : undefined;
        const start = offset;
        const headers: Record<string, string> = { 'content-type': MediaType.OctetStream };
        if (length !== undefined) {
          headers['content-range'] = `${start}-${start + length - 1}`;
          headers['content-length'] = String(length);
        }
        let res: HttpResponse;
        try {
          const chunk = Readable.from(reader.take(length ?? chunkSize), { objectMode: false });
          const body = options.onProgress
            ? pipeline(chunk, new ProgressStream((bytes) => options.onProgress?.(start + bytes)), () => {})
            : chunk;
          res = await this.#client.request(
            { method: 'PATCH', url: location, headers, scopes: this.#push, retry: false, signal: options.signal, body: () => body },
            context,
          );
        } catch (error) {
          if (options.signal?.aborted || (error instanceof OciError && !(error.cause))) throw error;
          await recover(error);
          continue;
        }
        if (res.status === 202 || res.status === 201 || res.status === 204) {
          await discard(res);
          const next = header(res, 'location');
          if (next) location = checkLocation(location, next, 'upload location', context);
          const held = header(res, 'range') ? rangeEnd(header(res, 'range')) : reader.position;
          if (held !== reader.position) {
            await recover(new ProtocolError(`upload to ${where(context)} is at ${held} bytes, expected ${reader.position}`, context));
            continue;
          }
          offset = held;
          saved = { offset, hash: reader.hash.copy() };
          continue;
        }
        if (res.status === 416 || isRetryableStatus(res.status)) {
          const error = await responseError(res, 'PATCH blob', context);
          await recover(error);
          continue;
        }
        throw await responseError(res, 'PATCH blob', context);
      }
    } catch (error) {
      reader.destroy();
      await this.#cancel(location);
      throw error;
    }
    reader.destroy();
    const digest = `${algorithm}:${reader.hash.digest('hex')}` as Digest;
    if (expected.size !== undefined && offset !== expected.size) {
      await this.#cancel(location);
      throw this.#mismatch(expected.digest ?? digest, `${offset} bytes instead of ${expected.size}`);
    }
    if (expected.digest && digest !== expected.digest) {
      await this.#cancel(location);
      throw this.#mismatch(expected.digest, `the bytes hash to ${digest}`);
    }
    const res = await this.#client.request(
      { method: 'PUT', url: withDigest(location, digest), headers: { 'content-length': '0' }, scopes: this.#push },
      this.#context(digest),
    );
    if (res.status !== 201) {
      const error = await responseError(res, 'finishing the upload of', this.#context(digest));
      await this.#cancel(location);
      throw error;
    }
    await discard(res);
    return { digest, size: offset, pushed: true };
  }

  async mountBlob(digest: Digest, from: Repository): Promise<boolean> {
    parseDigest(digest);
    if (from.store.key !== this.store.key || from === this) return false;
    try {
      const query = `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from.name)}`;
      const url = this.#url(`blobs/uploads/${query}`);
      const res = await this.#client.request(
        { method: 'POST', url, headers: { 'content-length': '0' }, scopes: [...this.#push, `repository:${from.name}:pull`] },
        this.#context(digest),
      );
      await discard(res);
      if (res.status === 201) return true;
      // 202: the registry opened an upload session instead; close it, the caller uploads.
      const location = header(res, 'location');
      if (res.status === 202 && location) await this.#cancel(checkLocation(url, location, 'upload location', this.#context()));
      return false;
    } catch {
      return false;
    }
  }

  async resolve(reference: string): Promise<Descriptor | undefined> {
    parseManifestReference(reference);
    const context = this.#context(reference);
    const res = await this.#client.request(
      { method: 'HEAD', url: this.#url(`manifests/${reference}`), headers: { accept: MANIFEST_ACCEPT }, scopes: this.#pull },
      context,
    );
    await discard(res);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw await responseError(res, 'HEAD manifest', context);
    const sent = header(res, 'docker-content-digest');
    const size = Number(header(res, 'content-length'));
    const mediaType = (header(res, 'content-type') ?? '').split(';')[0]!.trim();
    if (reference.includes(':') && sent && sent !== reference) {
      throw new DigestMismatchError(`HEAD manifest ${where(context)} answered digest ${sent}; refused`, context);
    }
    const digest = reference.includes(':') ? (reference as Digest) : sent && /^sha(256|512):[a-f0-9]+$/.test(sent) ? (sent as Digest) : undefined;
    if (!digest || !Number.isSafeInteger(size) || !mediaType) {
      // Some registries answer HEAD without the headers: fall back to reading it.
      const fetched = await this.fetchManifest(reference);
      return fetched.descriptor;
    }
    return { mediaType, digest, size };
  }

  async fetchManifest(reference: string): Promise<FetchedManifest> {
    parseManifestReference(reference);
    const context = this.#context(reference);
    const { res, bytes } = await this.#client.requestBytes(
      { method: 'GET', url: this.#url(`manifests/${reference}`), headers: { accept: MANIFEST_ACCEPT }, scopes: this.#pull },
      context,
      MAX_MANIFEST_FETCH,
      'manifest',
    );
    if (!bytes) throw await responseError(res, 'GET manifest', context);
    const sent = header(res, 'docker-content-digest');
    let digest: Digest;
    if (reference.includes(':')) {
      digest = reference as Digest;
      verifyBytes(bytes, digest, context);
    } else if (sent && /^sha(256|512):[a-f0-9]+$/.test(sent)) {
      digest = parseDigest(sent, 'Docker-Content-Digest');
      verifyBytes(bytes, digest, context);
    } else {
      digest = sha256Digest(bytes);
    }
    let mediaType = (header(res, 'content-type') ?? '').split(';')[0]!.trim();
    let artifactType: string | undefined;
    try {
      const parsed = JSON.parse(Buffer.from(bytes).toString('utf8')) as { mediaType?: unknown; artifactType?: unknown };
      if (typeof parsed.mediaType === 'string') mediaType = parsed.mediaType;
      if (typeof parsed.artifactType === 'string') artifactType = parsed.artifactType;
    } catch {
      throw new ProtocolError(`manifest ${where(context)} is not JSON`, context);
    }
    const descriptor: Descriptor = { mediaType, digest, size: bytes.length };
    if (artifactType) descriptor.artifactType = artifactType;
    return { descriptor, bytes };
  }

  async pushManifest(bytes: Uint8Array, mediaType: string, tag?: string): Promise<Descriptor> {
    const digest = sha256Digest(bytes);
    const reference = tag === undefined ? digest : parseTag(tag);
    const context = this.#context(reference);
    if (bytes.byteLength > MAX_MANIFEST_PUSH) {
      throw new TooLargeError(
        `manifest for ${where(context)} is ${bytes.byteLength} bytes, over the ${MAX_MANIFEST_PUSH}-byte limit registries accept; not sent`,
        context,
      );
    }
    let parsed: { subject?: Descriptor; artifactType?: string; config?: Descriptor; annotations?: Record<string, string> };
    try {
      parsed = JSON.parse(Buffer.from(bytes).toString('utf8')) as typeof parsed;
    } catch {
      throw new ProtocolError(`manifest for ${where(context)} is not JSON; not sent`, context);
    }
    const res = await this.#client.request(
      {
        method: 'PUT',
        url: this.#url(`manifests/${reference}`),
        headers: { 'content-type': mediaType },
        body: () => Buffer.from(bytes),
        replayable: true,
        scopes: this.#push,
      },
      context,
    );
    if (res.status !== 201) throw await responseError(res, 'PUT manifest', context);
    await discard(res);
    const sent = header(res, 'docker-content-digest');
    if (sent && sent !== digest) {
      throw new DigestMismatchError(`registry stored manifest ${where(context)} as ${sent}, not ${digest}`, context);
    }
    const descriptor: Descriptor = { mediaType, digest, size: bytes.byteLength };
    const artifactType = parsed.artifactType ?? (mediaType === MediaType.ImageManifest ? parsed.config?.mediaType : undefined);
    if (parsed.artifactType) descriptor.artifactType = parsed.artifactType;
    if (parsed.subject && typeof parsed.subject.digest === 'string' && !header(res, 'oci-subject')) {
      const subject = parseDigest(parsed.subject.digest, 'subject digest');
      const entry: Descriptor = { mediaType, digest, size: bytes.byteLength };
      if (artifactType) entry.artifactType = artifactType;
      if (parsed.annotations) entry.annotations = parsed.annotations;
      await updateReferrersIndex(this, subject, entry);
    }
    return descriptor;
  }

  async deleteManifest(digest: Digest): Promise<void> {
    parseDigest(digest);
    const context = this.#context(digest);
    const res = await this.#client.request({ method: 'DELETE', url: this.#url(`manifests/${digest}`), scopes: this.#push.map((s) => `${s},delete`) }, context);
    if (res.status === 202 || res.status === 200 || res.status === 204) {
      await discard(res);
      return;
    }
    const error = await responseError(res, 'DELETE manifest', context);
    if (res.status === 400 && error.code === 'UNSUPPORTED') {
      throw new UnsupportedError(`DELETE manifest ${where(context)}: the registry does not allow deleting (UNSUPPORTED)`, error);
    }
    throw error;
  }

  async listTags(options: ListTagsOptions = {}): Promise<string[]> {
    const context = this.#context();
    const tags: string[] = [];
    const { after } = options;
    let url: URL | undefined = this.#url('tags/list?n=1000');
    if (after !== undefined) url.searchParams.set('last', after);
    const seen = new Set<string>();
    while (url) {
      if (seen.has(url.href) || seen.size >= MAX_PAGES) {
        throw new ProtocolError(`tag list of ${where(context)} paginates in a loop; giving up`, context);
      }
      seen.add(url.href);
      const { res, bytes: page } = await this.#client.requestBytes({ method: 'GET', url, scopes: this.#pull }, context, MAX_LIST_PAGE, 'tag list page');
      if (res.status === 404) {
        await discard(res);
        return tags;
      }
      if (!page) throw await responseError(res, 'listing tags of', context);
      const next = nextLink(res, url, context);
      let parsed: { tags?: unknown };
      try {
        parsed = JSON.parse(page.toString('utf8')) as typeof parsed;
      } catch {
        throw new ProtocolError(`tag list of ${where(context)} is not JSON`, context);
      }
      if (parsed.tags != null && !Array.isArray(parsed.tags)) throw new ProtocolError(`tag list of ${where(context)} has no tags array`, context);
      for (const tag of (parsed.tags as unknown[] | null | undefined) ?? []) if (typeof tag === 'string' && (after === undefined || tag > after)) tags.push(tag);
      url = next;
    }
    return tags;
  }

  async referrers(subject: Digest, artifactType?: string): Promise<Descriptor[]> {
    parseDigest(subject);
    const context = this.#context(subject);
    const url = this.#url(`referrers/${subject}`);
    if (artifactType) url.searchParams.set('artifactType', artifactType);
    const res = this.store.referrersApiMissing
      ? undefined
      : await this.#client.request({ method: 'GET', url, headers: { accept: MediaType.ImageIndex }, scopes: this.#pull }, context);
    let manifests: Descriptor[];
    if (res && res.status === 200 && (header(res, 'content-type') ?? '').startsWith(MediaType.ImageIndex)) {
      const index = JSON.parse((await readCapped(res, MAX_MANIFEST_FETCH, 'referrers index', context)).toString('utf8')) as ImageIndex;
      manifests = Array.isArray(index.manifests) ? index.manifests : [];
    } else if (!res || res.status === 404 || res.status === 200) {
      // No referrers API (distribution 2.8, ghcr.io): the tag schema fallback.
      if (res?.status === 404) {
        // A registry with the API answers 200 for any subject; a 404 that is not an OCI error (NAME_UNKNOWN ...)
        // means the route is not there, so later lookups go straight to the fallback tag.
        if ((await readRegistryError(res)).code === undefined) this.store.referrersApiMissing = true;
      } else if (res) {
        await discard(res);
      }
      try {
        const { bytes } = await this.fetchManifest(referrersTag(subject));
        const index = JSON.parse(Buffer.from(bytes).toString('utf8')) as ImageIndex;
        manifests = Array.isArray(index.manifests) ? index.manifests : [];
      } catch (error) {
        if (error instanceof NotFoundError) return [];
        throw error;
      }
    } else {
      throw await responseError(res, 'listing referrers of', context);
    }
    // Registries may ignore the filter (no OCI-Filters-Applied): filter here too.
    return artifactType ? manifests.filter((m) => m.artifactType === artifactType) : manifests;
  }

  async checkPushAccess(): Promise<void> {
    const context = this.#context();
    const { res, location } = await this.#openSession();
    if (res.status === 202 && location) {
      await discard(res);
      await this.#cancel(location);
      return;
    }
    if (res.status === 401 || res.status === 403) {
      const error = await responseError(res, 'push access check on', context);
      throw error;
    }
    throw await responseError(res, 'push access check on', context);
  }
}

/** Hashes a replayable source once, to know the digest for a monolithic upload. */
async function hashSource(source: BlobSource, algorithm: 'sha256' | 'sha512'): Promise<Digest> {
  const hash = createHash(algorithm);
  let sinceCollect = 0;
  for await (const chunk of source.open(0)) {
    hash.update(chunk as Buffer);
    sinceCollect += (chunk as Buffer).length;
    if (sinceCollect >= COLLECT_EVERY) {
      sinceCollect = 0;
      collectYoungGarbage();
    }
  }
  return `${algorithm}:${hash.digest('hex')}` as Digest;
}

export class RemoteStore implements Store {
  readonly location: RegistryLocation;
  readonly display: string;
  readonly key: string;
  readonly chunkThreshold: number;
  readonly chunkSize: number;
  /** Set once the registry showed it has no referrers API (a plain 404): saves a request per referrers lookup. */
  referrersApiMissing = false;
  readonly #client: RegistryClient;

  constructor(location: RegistryLocation, options: RemoteStoreOptions = {}) {
    this.location = location;
    this.display = formatLocation(location);
    this.key = `registry:${location.scheme}://${location.host}`;
    this.chunkThreshold = options.chunkThresholdBytes ?? 64 * 1024 * 1024;
    this.chunkSize = Math.max(1, options.chunkSizeBytes ?? Number.POSITIVE_INFINITY);
    this.#client = new RegistryClient(location, options);
  }

  repository(relativeName: string): Repository {
    return new RemoteRepository(this, this.#client, repositoryName(this.location, relativeName));
  }

  async listRepositories(prefix = ''): Promise<string[]> {
    const context: OciErrorContext = { registry: this.location.host, repository: '_catalog' };
    const base = this.location.path ? `${this.location.path}/` : '';
    // The prefix is matched by whole path components: `chan` lists `chan/...`, never `chan-staging/...`.
    const trimmed = prefix.replace(/^\/+|\/+$/g, '');
    const wanted = trimmed ? `${base}${trimmed}` : base;
    const isUnder = (name: string) =>
      name.length > base.length && (trimmed ? name === wanted || name.startsWith(`${wanted}/`) : name.startsWith(base));
    const names: string[] = [];
    let url: URL | undefined = this.#client.url('/v2/_catalog?n=1000');
    const seen = new Set<string>();
    while (url) {
      if (seen.has(url.href) || seen.size >= MAX_PAGES) throw new ProtocolError(`catalog of ${this.location.host} paginates in a loop`, context);
      seen.add(url.href);
      let res: HttpResponse;
      let page: Buffer | undefined;
      try {
        ({ res, bytes: page } = await this.#client.requestBytes({ method: 'GET', url, scopes: ['registry:catalog:*'] }, context, MAX_LIST_PAGE, 'catalog page'));
      } catch (error) {
        if (error instanceof UnauthorizedError || error instanceof DeniedError) throw this.#noCatalog(error);
        throw error;
      }
      if ([401, 403, 404, 405].includes(res.status)) {
        throw this.#noCatalog(await responseError(res, 'listing', context));
      }
      if (!page) throw await responseError(res, 'listing', context);
      const next = nextLink(res, url, context);
      let parsed: { repositories?: unknown };
      try {
        parsed = JSON.parse(page.toString('utf8')) as typeof parsed;
      } catch {
        throw new ProtocolError(`catalog of ${this.location.host} is not JSON`, context);
      }
      for (const name of Array.isArray(parsed.repositories) ? parsed.repositories : []) {
        if (typeof name === 'string' && isUnder(name)) names.push(name.slice(base.length));
      }
      url = next;
    }
    return names;
  }

  #noCatalog(cause: OciError): UnsupportedError {
    return new UnsupportedError(
      `${this.location.host} offers no repository catalog (${cause.status ?? cause.name}); list repositories another way (e.g. the GitHub packages API)`,
      { registry: this.location.host, status: cause.status, code: cause.code },
    );
  }

  async close(): Promise<void> {
    await this.#client.transport.close();
  }
}

export function createRemoteStore(location: RegistryLocation, options: RemoteStoreOptions = {}): Store {
  return new RemoteStore(location, options);
}

