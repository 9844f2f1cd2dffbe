// Streams of the registry client: progress counting, exact-size guards, a hashing source reader for uploads, and the
// young-generation collection that keeps the memory of a large transfer flat.
import { createHash, type Hash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Digest } from '../reference.ts';
import type { BlobSource } from '../store.ts';

/** Counts bytes and reports progress as they pass. */
export class ProgressStream extends Transform {
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
export class SizeGuard extends Transform {
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
export const COLLECT_EVERY = 4 * 1024 * 1024;
let collectYoung: (() => void) | undefined;

/**
 * A large blob streams through a new Buffer per read, and V8 frees them only once its external-memory limit
 * (~64 MB over the last full collection) is reached: 1 GiB sent raised the peak RSS by ~70 MB of garbage.
 * A young-generation collection every few MiB frees them at once; it visits only young objects (under 1 ms).
 * `gc` is exposed to a new context only, never to the program's own global scope.
 */
export function collectYoungGarbage(): void {
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
export class SourceReader {
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

/** Hashes a replayable source once, to know the digest for a monolithic upload. */
export async function hashSource(source: BlobSource, algorithm: 'sha256' | 'sha512'): Promise<Digest> {
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
