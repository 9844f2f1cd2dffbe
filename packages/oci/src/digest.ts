// Hashing and verification of byte streams: every blob is hashed while it moves, never buffered whole.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { DigestMismatchError, type OciErrorContext } from './errors.ts';
import type { Digest } from './reference.ts';

export function sha256Digest(data: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Hex part of a digest. */
export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}

function hashFor(digest: Digest | undefined): Hash {
  return createHash(digest?.startsWith('sha512:') ? 'sha512' : 'sha256');
}

/** A pass-through that hashes and counts what flows through it. */
export class DigestingStream extends Transform {
  #hash: Hash;
  #algorithm: string;
  bytes = 0;

  constructor(algorithm: 'sha256' | 'sha512' = 'sha256') {
    super();
    this.#algorithm = algorithm;
    this.#hash = createHash(algorithm);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  /** Valid once the stream has ended. */
  digest(): Digest {
    return `${this.#algorithm}:${this.#hash.digest('hex')}` as Digest;
  }
}

/**
 * A pass-through that fails before its end when the bytes do not hash to `digest`, or when there are more
 * or fewer than `size` bytes (more is caught as soon as it happens, so a hostile server cannot stream forever).
 */
export class VerifyingStream extends Transform {
  #hash: Hash;
  #bytes = 0;
  readonly #digest: Digest;
  readonly #size: number | undefined;
  readonly #context: OciErrorContext;

  constructor(digest: Digest, size: number | undefined, context: OciErrorContext = {}) {
    super();
    this.#digest = digest;
    this.#size = size;
    this.#context = { ...context, reference: digest };
    this.#hash = hashFor(digest);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#bytes += chunk.length;
    if (this.#size !== undefined && this.#bytes > this.#size) {
      callback(this.#error(`more than the expected ${this.#size} bytes`));
      return;
    }
    this.#hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.#size !== undefined && this.#bytes !== this.#size) {
      callback(this.#error(`${this.#bytes} bytes instead of ${this.#size}`));
      return;
    }
    const actual = `${this.#digest.slice(0, this.#digest.indexOf(':'))}:${this.#hash.digest('hex')}`;
    if (actual !== this.#digest) {
      callback(this.#error(`content hashes to ${actual}`));
      return;
    }
    callback();
  }

  #error(why: string): DigestMismatchError {
    const where = [this.#context.registry, this.#context.repository].filter(Boolean).join('/');
    return new DigestMismatchError(
      `blob ${this.#digest} from ${where || 'the store'} is corrupt: ${why}; the data was refused, retry or re-upload it`,
      this.#context,
    );
  }
}

/** Verifies bytes already in memory (manifests). */
export function verifyBytes(bytes: Uint8Array, digest: Digest, context: OciErrorContext = {}): void {
  const actual = `${digest.slice(0, digest.indexOf(':'))}:${hashFor(digest).update(bytes).digest('hex')}`;
  if (actual !== digest) {
    const where = [context.registry, context.repository].filter(Boolean).join('/');
    throw new DigestMismatchError(
      `content of ${digest} from ${where || 'the store'} hashes to ${actual}; refused`,
      { ...context, reference: digest },
    );
  }
}
