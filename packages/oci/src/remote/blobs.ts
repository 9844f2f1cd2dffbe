// Reading blobs: HEAD (through a storage redirect when the registry sends one) and a verified GET that resumes a
// body cut mid-way with a Range request.
import { Readable, pipeline } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { VerifyingStream } from '../digest.ts';
import { DigestMismatchError, OciError, ProtocolError, where, type OciErrorContext } from '../errors.ts';
import { abandon, checkLocation, discard, header, responseError, type HttpResponse } from '../http.ts';
import { parseDigest, type Digest } from '../reference.ts';
import { MediaType, type Descriptor, type TransferOptions } from '../store.ts';
import type { RepositoryTarget } from './client.ts';
import { COLLECT_EVERY, ProgressStream, collectYoungGarbage } from './streams.ts';

export async function statBlob(t: RepositoryTarget, digest: Digest): Promise<Descriptor | undefined> {
  parseDigest(digest);
  const context = t.context(digest);
  const url = t.url(`blobs/${digest}`);
  const res = await t.client.request({ method: 'HEAD', url, scopes: t.pull, followRedirects: false }, context);
  await discard(res);
  if (res.status === 404) return undefined;
  const location = header(res, 'location');
  if ([301, 302, 303, 307, 308].includes(res.status) && location) {
    // ghcr.io and Docker Hub redirect blobs to storage URLs that refuse HEAD: ask for one byte instead.
    return { mediaType: MediaType.OctetStream, digest, size: await sizeAt(t, checkLocation(url, location, 'redirect', context), context) };
  }
  if (res.status !== 200) throw await responseError(res, 'HEAD blob', context);
  const size = Number(header(res, 'content-length'));
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new ProtocolError(`HEAD blob ${where(context)} answered without a valid Content-Length`, context);
  }
  return { mediaType: MediaType.OctetStream, digest, size };
}

/** Size of a blob behind a redirect, from a one-byte ranged GET (Content-Range total, or Content-Length). */
async function sizeAt(t: RepositoryTarget, url: URL, context: OciErrorContext): Promise<number> {
  const res = await t.client.request({ method: 'GET', url, headers: { range: 'bytes=0-0' }, scopes: t.pull }, context);
  if (res.status !== 206 && res.status !== 200) throw await responseError(res, 'sizing blob', context);
  abandon(res);
  const total = res.status === 206 ? /\/(\d+)\s*$/.exec(header(res, 'content-range') ?? '')?.[1] : header(res, 'content-length');
  const size = Number(total);
  if (total === undefined || !Number.isSafeInteger(size) || size < 0) {
    throw new ProtocolError(`blob ${where(context)} behind a redirect has no readable size`, context);
  }
  return size;
}

export async function fetchBlob(t: RepositoryTarget, digest: Digest, size?: number, options: TransferOptions = {}): Promise<Readable> {
  parseDigest(digest);
  const context = t.context(digest);
  const res = await t.client.request(
    { method: 'GET', url: t.url(`blobs/${digest}`), scopes: t.pull, signal: options.signal },
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
  const body = Readable.from(resumingBody(t, res, digest, options), { objectMode: false });
  // pipeline() passes a failure of the response body on to the stream the caller reads.
  pipeline([body, ...stages, verifying], () => {});
  return verifying;
}

/** The blob's bytes; a connection lost mid-body is picked up again with a Range request where it stopped. */
async function* resumingBody(t: RepositoryTarget, first: HttpResponse, digest: Digest, options: TransferOptions): AsyncGenerator<Buffer> {
  const context = t.context(digest);
  const transport = t.client.transport;
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
    res = await t.client.request(
      { method: 'GET', url: t.url(`blobs/${digest}`), headers: { range: `bytes=${received}-` }, scopes: t.pull, signal: options.signal },
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
