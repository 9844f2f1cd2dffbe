// Small blobs (index.json, verdicts) read into memory with a hard cap; big ones go to temp files.
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { DigestingStream, type Digest, type Repository, type TransferOptions } from '@oci-channel/oci';
import { PipelineError } from '../errors.ts';

export async function readSmallBlob(repository: Repository, digest: Digest, size: number, cap = 1 << 20): Promise<Uint8Array> {
  if (size > cap) throw new PipelineError(`blob ${digest} in ${repository.display} is ${size} bytes, more than the ${cap} allowed here; refused`);
  const stream = await repository.fetchBlob(digest, size);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > cap) {
      stream.destroy();
      throw new PipelineError(`blob ${digest} in ${repository.display} is larger than ${cap} bytes; refused`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Streams a blob to `file` (digest and size verified by the store) and returns its sha256 as computed here. */
export async function downloadBlob(
  repository: Repository,
  digest: Digest,
  size: number,
  file: string,
  options: TransferOptions = {},
): Promise<{ sha256: string; size: number }> {
  const stream = await repository.fetchBlob(digest, size, options);
  const hashing = new DigestingStream('sha256');
  await pipeline(stream, hashing, createWriteStream(file), { signal: options.signal });
  return { sha256: hashing.digest().slice('sha256:'.length), size: hashing.bytes };
}
