// What every upstream reader shares: turning index records into files a mirror can verify (a record without a
// sha256 and size cannot be checked, so it is not mirrored), and writing a package stream to disk while
// hashing it, with a byte cap.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parsePackageFilename } from '@oci-channel/conda';
import type { FetchedPackage, InvalidFile, UpstreamFile } from './index.ts';
import { PipelineError } from '../errors.ts';

/** Something upstream did wrong (unreachable, bad index, wrong bytes). Messages say `upstream` first. */
export class UpstreamError extends PipelineError {}

/** Upstream sent other bytes than its record describes (more than its size, not its digest): the file is refused. */
export class WrongBytesError extends UpstreamError {}

const SHA256_HEX = /^[0-9a-f]{64}$/;
const MD5_HEX = /^[0-9a-f]{32}$/;

/** Record timestamps are ms since the epoch; old records have seconds. */
export function timestampMs(record: Record<string, unknown>): number | undefined {
  const t = record.timestamp;
  if (typeof t !== 'number' || !Number.isFinite(t) || t <= 0) return undefined;
  return t < 1e11 ? t * 1000 : t;
}

/**
 * Files from `[filename, record]` pairs of one subdir: those a mirror can verify, and the others with why.
 * `source(filename)` says where the bytes are.
 */
export function collectFiles(
  subdir: string,
  entries: Iterable<[string, Record<string, unknown>]>,
  source: (filename: string, name: string) => string,
  wantName: (name: string) => boolean,
): { files: UpstreamFile[]; invalid: InvalidFile[] } {
  const files: UpstreamFile[] = [];
  const invalid: InvalidFile[] = [];
  for (const [filename, record] of entries) {
    let name: string;
    try {
      name = parsePackageFilename(filename).name;
    } catch (error) {
      invalid.push({ filename, reason: `upstream lists ${JSON.stringify(filename.slice(0, 200))}, which is no package file name (${(error as Error).message})` });
      continue;
    }
    if (!wantName(name)) continue;
    if (!record || typeof record !== 'object' || Array.isArray(record)) {
      invalid.push({ filename, reason: `upstream's record of ${subdir}/${filename} is not an object` });
      continue;
    }
    const at = timestampMs(record);
    // The time filter applies to these too: a record left out by --since is not reported.
    const when = at !== undefined ? { timestampMs: at } : {};
    if (typeof record.name === 'string' && record.name !== name) {
      invalid.push({ filename, reason: `upstream's record of ${subdir}/${filename} names package ${JSON.stringify(record.name)}, not ${name}`, ...when });
      continue;
    }
    const { sha256, size, md5 } = record;
    if (typeof sha256 !== 'string' || !SHA256_HEX.test(sha256)) {
      invalid.push({ filename, reason: `upstream's record of ${subdir}/${filename} has no sha256, so its bytes cannot be verified; not mirrored`, ...when });
      continue;
    }
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      invalid.push({ filename, reason: `upstream's record of ${subdir}/${filename} has no valid size; not mirrored`, ...when });
      continue;
    }
    files.push({
      subdir,
      filename,
      name,
      record,
      sha256,
      size,
      ...(typeof md5 === 'string' && MD5_HEX.test(md5) ? { md5 } : {}),
      ...(at !== undefined ? { timestampMs: at } : {}),
      source: source(filename, name),
    });
  }
  return { files, invalid };
}

/** Passes bytes through while hashing them; fails once more than `cap` bytes came. */
class HashingCap extends Transform {
  readonly #sha256 = createHash('sha256');
  readonly #md5 = createHash('md5');
  readonly #cap: number;
  readonly #what: string;
  readonly #onBytes: ((bytes: number) => void) | undefined;
  bytes = 0;

  constructor(cap: number, what: string, onBytes?: (bytes: number) => void) {
    super();
    this.#cap = cap;
    this.#what = what;
    this.#onBytes = onBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.#cap) {
      callback(new WrongBytesError(`upstream sent more than the ${this.#cap} bytes its record gives for ${this.#what}; refused, nothing pushed for it`));
      return;
    }
    this.#sha256.update(chunk);
    this.#md5.update(chunk);
    this.#onBytes?.(this.bytes);
    callback(null, chunk);
  }

  result(): FetchedPackage {
    return { sha256: this.#sha256.digest('hex'), md5: this.#md5.digest('hex'), size: this.bytes };
  }
}

/** Writes `stream` to `file`, hashing it; at most `cap` bytes. */
export async function writeHashed(
  stream: Readable,
  file: string,
  cap: number,
  what: string,
  options: { signal?: AbortSignal; onBytes?: (bytes: number) => void } = {},
): Promise<FetchedPackage> {
  const hashing = new HashingCap(cap, what, options.onBytes);
  await pipeline(stream, hashing, createWriteStream(file), ...(options.signal ? [{ signal: options.signal }] : []));
  return hashing.result();
}
