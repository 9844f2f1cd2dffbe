// Blob uploads: upload sessions, the monolithic PUT, the streamed PATCH upload that resumes where the registry stands,
// and cross-repository mounts.
//
// How a large blob goes up (measured in docs/reliability.md, "Large blobs: one request, not 4 MiB chunks"): one
// PATCH without Content-Range carrying the whole rest of the blob, then PUT?digest. Registries take that at full
// speed (distribution, and ghcr.io, which refuses a PATCH *with* Content-Range over 4 MiB). Ranged chunks are sent
// only where the registry asks for them (OCI-Chunk-Max-Length), where the caller set a chunk size, or after a
// registry refused a body as too large (416 "the request body is too large", 413): that answer is not a glitch to
// retry but a size to learn; the store keeps it for the rest of the run, so no blob is ever sent more than twice.
//
// How a small blob goes up: OCI's single POST (`POST /blobs/uploads/?digest=` with the bytes: one request) where
// the registry takes it, else POST then PUT (two). Registries MAY support the single POST; one that does not answers
// 202 with an upload session and ignores the body (distribution 2.8 does: measured), so the bytes then go again in
// a PUT to that session. Each store asks once (one small blob alone, the others wait for the answer) and keeps
// what it learned for the rest of the run: at most one blob is sent twice.
import { createHash } from 'node:crypto';
import { Readable, pipeline } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { DigestMismatchError, OciError, ProtocolError, where } from '../errors.ts';
import { checkLocation, discard, header, isRetryableStatus, readRegistryError, responseError, type HttpResponse } from '../http.ts';
import { parseDigest, type Digest } from '../reference.ts';
import { MediaType, type BlobSource, type Repository, type TransferOptions } from '../store.ts';
import { statBlob } from './blobs.ts';
import type { RepositoryTarget } from './client.ts';
import { ProgressStream, SizeGuard, SourceReader, hashSource } from './streams.ts';

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

export async function openSession(t: RepositoryTarget, query = ''): Promise<{ res: HttpResponse; location?: URL }> {
  const context = t.context();
  const url = t.url(`blobs/uploads/${query}`);
  const res = await t.client.request({ method: 'POST', url, scopes: t.push, headers: { 'content-length': '0' } }, context);
  const location = header(res, 'location');
  return { res, location: location ? checkLocation(url, location, 'upload location', context) : undefined };
}

export async function startUpload(t: RepositoryTarget): Promise<{ location: URL; minChunk: number; maxChunk: number }> {
  const context = t.context();
  const { res, location } = await openSession(t);
  if (res.status !== 202) throw await responseError(res, 'starting an upload to', context);
  await discard(res);
  if (!location) throw new ProtocolError(`starting an upload to ${where(context)}: no Location in the answer`, context);
  const maxChunk = Number(header(res, 'oci-chunk-max-length'));
  return {
    location,
    minChunk: Number(header(res, 'oci-chunk-min-length')) || 0,
    maxChunk: Number.isSafeInteger(maxChunk) && maxChunk > 0 ? maxChunk : Number.POSITIVE_INFINITY,
  };
}

/**
 * The body size a "too large" refusal allows: the limit its message names (`4.00MiB`), else half of what was sent
 * (at least 1 MiB). Undefined when the answer is not about the size (a 416 for a range out of order).
 */
function bodyLimit(status: number, message: string | undefined, sent: number): number | undefined {
  if (status !== 413 && !(status === 416 && /too large|exceeds the maximum/i.test(message ?? ''))) return undefined;
  const named = /(\d+(?:\.\d+)?)\s*(KiB|MiB|GiB|KB|MB|GB)/i.exec(message ?? '');
  if (named) {
    const unit = { kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1000, mb: 1000 ** 2, gb: 1000 ** 3 }[named[2]!.toLowerCase() as 'kib'];
    return Math.max(1, Math.floor(Number(named[1]) * unit));
  }
  return Math.max(1024 * 1024, Math.floor(sent / 2));
}

export async function cancelUpload(t: RepositoryTarget, location: URL): Promise<void> {
  try {
    const res = await t.client.request({ method: 'DELETE', url: location, scopes: t.push, retry: false }, t.context());
    await discard(res);
  } catch {
    // best effort: an abandoned session is purged by the registry
  }
}

export async function pushBlob(
  t: RepositoryTarget,
  source: BlobSource,
  expected: { digest?: Digest; size?: number } = {},
  options: TransferOptions = {},
): Promise<{ digest: Digest; size: number; pushed: boolean }> {
  if (expected.digest) {
    parseDigest(expected.digest);
  }
  if (expected.digest && !options.likelyMissing) {
    const have = await statBlob(t, expected.digest);
    if (have) return { digest: expected.digest, size: have.size, pushed: false };
  }
  if (expected.size !== undefined && source.size !== undefined && expected.size !== source.size) {
    throw mismatch(t, expected.digest, `the source has ${source.size} bytes, not ${expected.size}`);
  }
  const size = expected.size ?? source.size;
  const algorithm = expected.digest?.startsWith('sha512:') ? 'sha512' : 'sha256';
  const bodyCap = t.store.learnedBodyLimit ?? Number.POSITIVE_INFINITY;
  // One PUT when the digest is known or cheap to learn; above the threshold also for a one-shot stream whose digest
  // is known (promote's copy): it cannot be resumed anyway, and the PATCH route would hash it a second time.
  const small = size !== undefined && size <= t.store.chunkThreshold;
  const oneShotKnown = expected.digest !== undefined && !source.replayable && !Number.isFinite(t.store.chunkSize);
  if (size !== undefined && (small || oneShotKnown) && size <= bodyCap && (expected.digest || source.replayable)) {
    const digest = expected.digest ?? (await hashSource(source, algorithm));
    return pushMonolithic(t, source, size, digest, expected, options);
  }
  return pushStreamed(t, source, algorithm, expected, options);
}

function mismatch(t: RepositoryTarget, digest: Digest | undefined, why: string): DigestMismatchError {
  const context = t.context(digest);
  return new DigestMismatchError(
    `blob pushed to ${where(context)} does not match what was expected: ${why}; nothing was committed, check the source`,
    context,
  );
}

async function pushMonolithic(
  t: RepositoryTarget,
  source: BlobSource,
  size: number,
  digest: Digest,
  expected: { digest?: Digest; size?: number },
  options: TransferOptions,
): Promise<{ digest: Digest; size: number; pushed: boolean }> {
  const context = t.context(digest);
  const attempts = source.replayable ? t.client.transport.attempts : 1;
  for (let attempt = 1; ; attempt++) {
    let session: { location: URL; maxChunk: number } | undefined;
    const single = await singlePostWorthTrying(t, source, size);
    if (single) {
      let posted: Awaited<ReturnType<typeof postWhole>>;
      try {
        posted = await postWhole(t, source, size, digest, options);
      } catch (error) {
        single.asking?.();
        const transient = !(error instanceof OciError) || error.cause !== undefined || (error.status !== undefined && isRetryableStatus(error.status));
        if (transient && attempt < attempts && !options.signal?.aborted) {
          await sleep(t.client.transport.backoff(attempt));
          continue;
        }
        throw error;
      }
      single.asking?.();
      if (posted.kind === 'stored') return { digest, size, pushed: true };
      if (posted.kind === 'too-large') {
        if (source.replayable) return pushStreamed(t, source, digest.startsWith('sha512:') ? 'sha512' : 'sha256', expected, options);
        throw new ProtocolError(`POST blob ${where(context)}: the registry takes bodies of at most ${t.store.learnedBodyLimit} bytes; send it again, in chunks`, context);
      }
      // An upload session the registry opened instead (it ignored the body): the bytes go in the PUT below.
      if (posted.kind === 'session') session = posted;
    }
    const { location, maxChunk } = session ?? (await startUpload(t));
    if (size > maxChunk) {
      // The registry takes no body this large (OCI-Chunk-Max-Length): chunks, for this blob and the next ones.
      await cancelUpload(t, location);
      learnBodyLimit(t, maxChunk);
      return pushStreamed(t, source, digest.startsWith('sha512:') ? 'sha512' : 'sha256', expected, options);
    }
    let res: HttpResponse;
    try {
      res = await t.client.request(
        {
          method: 'PUT',
          url: withDigest(location, digest),
          headers: { 'content-type': MediaType.OctetStream, 'content-length': String(size) },
          scopes: t.push,
          retry: false,
          signal: options.signal,
          body: () => pipeline(source.open(0), new SizeGuard(size, (why) => mismatch(t, digest, why), options.onProgress), () => {}),
        },
        context,
      );
    } catch (error) {
      await cancelUpload(t, location);
      // Network failures carry their cause; typed answers (denied, mismatch) are final.
      const transient = !(error instanceof OciError) || error.cause !== undefined;
      if (transient && attempt < attempts && !options.signal?.aborted) {
        await sleep(t.client.transport.backoff(attempt));
        continue;
      }
      throw error;
    }
    if (res.status === 201) {
      await discard(res);
      return { digest, size, pushed: true };
    }
    if (res.status === 413 || res.status === 416) {
      const refusal = await readRegistryError(res);
      const limit = bodyLimit(res.status, refusal.message, size);
      await cancelUpload(t, location);
      if (limit !== undefined) {
        // Not a glitch: the registry takes smaller bodies only. Ranged chunks from here on (a one-shot source is
        // spent: the caller fetches it again and the store already knows to chunk).
        learnBodyLimit(t, limit);
        if (source.replayable) return pushStreamed(t, source, digest.startsWith('sha512:') ? 'sha512' : 'sha256', expected, options);
        throw new ProtocolError(`PUT blob ${where(context)}: the registry takes bodies of at most ${limit} bytes (HTTP ${res.status}); send it again, in chunks`, { ...context, status: res.status, code: refusal.code });
      }
      throw new ProtocolError(`PUT blob ${where(context)} failed: HTTP ${res.status}${refusal.code ? ` ${refusal.code}` : ''}`, { ...context, status: res.status, code: refusal.code });
    }
    const body = res.status === 400 ? await readRegistryError(res) : undefined;
    if (body?.code === 'DIGEST_INVALID' || body?.code === 'SIZE_INVALID') {
      await cancelUpload(t, location);
      throw mismatch(t, digest, `the registry found the bytes do not hash to it (${body.code})`);
    }
    if (body) {
      await cancelUpload(t, location);
      throw new ProtocolError(`PUT blob ${where(context)} failed: HTTP 400 ${body.code ?? ''}`.trim(), { ...context, status: 400, code: body.code });
    }
    if (isRetryableStatus(res.status) && attempt < attempts) {
      await discard(res);
      await cancelUpload(t, location);
      await sleep(t.client.transport.backoff(attempt));
      continue;
    }
    await cancelUpload(t, location);
    throw await responseError(res, 'PUT blob', context);
  }
}

/** Blobs up to this size may ask whether the registry takes a single POST (the answer may cost sending it twice). */
const SINGLE_POST_PROBE_BYTES = 1024 * 1024;

/**
 * Whether this blob goes up in a single POST: where the store learned that the registry takes it, or as the one
 * question about it (a small replayable blob; blobs that come meanwhile wait for the answer).
 */
async function singlePostWorthTrying(t: RepositoryTarget, source: BlobSource, size: number): Promise<false | { asking?: () => void }> {
  const store = t.store;
  while (store.singlePost === 'unknown' && store.singlePostProbe) await store.singlePostProbe;
  if (store.singlePost === 'yes') return size <= (store.learnedBodyLimit ?? Number.POSITIVE_INFINITY) && {};
  if (store.singlePost === 'no' || !source.replayable || size > SINGLE_POST_PROBE_BYTES) return false;
  // The question: claimed before any await, so the blobs that come meanwhile wait for its answer.
  let asked!: () => void;
  store.singlePostProbe = new Promise<void>((resolve) => (asked = resolve));
  return {
    asking: () => {
      store.singlePostProbe = undefined;
      asked();
    },
  };
}

/**
 * `POST /blobs/uploads/?digest=` with the whole blob. `stored`: done in one request; `session`: the registry does not
 * take a single POST and opened an ordinary upload session instead (the caller PUTs the bytes there); `refused`:
 * it refused the route (the caller starts an ordinary session); `too-large`: a body limit was learned.
 */
async function postWhole(
  t: RepositoryTarget,
  source: BlobSource,
  size: number,
  digest: Digest,
  options: TransferOptions,
): Promise<{ kind: 'stored' } | { kind: 'session'; location: URL; maxChunk: number } | { kind: 'refused' } | { kind: 'too-large' }> {
  const store = t.store;
  const context = t.context(digest);
  const url = t.url(`blobs/uploads/?digest=${encodeURIComponent(digest)}`);
  const learn = (answer: 'yes' | 'no') => {
    if (store.singlePost === 'unknown') store.singlePost = answer;
  };
  const res = await t.client.request(
    {
      method: 'POST',
      url,
      headers: { 'content-type': MediaType.OctetStream, 'content-length': String(size) },
      scopes: t.push,
      retry: false,
      replayable: source.replayable,
      signal: options.signal,
      body: () => pipeline(source.open(0), new SizeGuard(size, (why) => mismatch(t, digest, why), options.onProgress), () => {}),
    },
    context,
  );
  if (res.status === 201) {
    await discard(res);
    learn('yes');
    return { kind: 'stored' };
  }
  if (res.status === 202) {
    await discard(res);
    learn('no');
    const location = header(res, 'location');
    if (!location) throw new ProtocolError(`POST blob ${where(context)}: an upload session without a Location; the registry is misbehaving`, context);
    const maxChunk = Number(header(res, 'oci-chunk-max-length'));
    return { kind: 'session', location: checkLocation(url, location, 'upload location', context), maxChunk: Number.isSafeInteger(maxChunk) && maxChunk > 0 ? maxChunk : Number.POSITIVE_INFINITY };
  }
  if (res.status === 413 || res.status === 416) {
    const refusal = await readRegistryError(res);
    const limit = bodyLimit(res.status, refusal.message, size);
    if (limit === undefined) throw new ProtocolError(`POST blob ${where(context)} failed: HTTP ${res.status}${refusal.code ? ` ${refusal.code}` : ''}`, { ...context, status: res.status, code: refusal.code });
    learnBodyLimit(t, limit);
    return { kind: 'too-large' };
  }
  if (res.status === 400) {
    const body = await readRegistryError(res);
    // A registry that took the bytes and found they do not hash to the digest: a real mismatch, not a refusal.
    if (body.code === 'DIGEST_INVALID' || body.code === 'SIZE_INVALID') throw mismatch(t, digest, `the registry found the bytes do not hash to it (${body.code})`);
    learn('no');
    return { kind: 'refused' };
  }
  if (res.status === 404 || res.status === 405 || res.status === 415 || res.status === 501) {
    // The route or the body is not taken here (credentials are not the question: 401/403 are errors below).
    await discard(res);
    learn('no');
    return { kind: 'refused' };
  }
  throw await responseError(res, 'POST blob', context);
}

function learnBodyLimit(t: RepositoryTarget, limit: number): void {
  t.store.learnedBodyLimit = Math.min(t.store.learnedBodyLimit ?? Number.POSITIVE_INFINITY, limit);
}

/**
 * POST, then PATCH with the rest of the blob (Content-Range only when chunked: see the top of this file), then
 * PUT?digest. A failure resumes where the registry stands; a "too large" refusal switches to ranged chunks.
 */
async function pushStreamed(
  t: RepositoryTarget,
  source: BlobSource,
  algorithm: 'sha256' | 'sha512',
  expected: { digest?: Digest; size?: number },
  options: TransferOptions,
): Promise<{ digest: Digest; size: number; pushed: boolean }> {
  const context = t.context(expected.digest);
  const knownSize = source.size ?? expected.size;
  let { location, minChunk, maxChunk } = await startUpload(t);
  // Finite: ranged chunks of this size; infinite: one unranged PATCH with the rest.
  const chunking = () => Math.max(Math.min(t.store.chunkSize, maxChunk, t.store.learnedBodyLimit ?? Number.POSITIVE_INFINITY), Math.min(minChunk, maxChunk));
  let chunkSize = chunking();
  let tooLarge = 0;
  let offset = 0; // bytes the registry holds
  let saved = { offset: 0, hash: createHash(algorithm) }; // hash state at an offset the registry acknowledged
  let reader = new SourceReader(source, 0, createHash(algorithm));
  let failures = 0;
  const maxFailures = source.replayable ? t.client.transport.attempts : 0;

  // After a failure: ask the registry what it has and reopen the source there; a lost session starts over. A
  // refusal for size is no failure (nothing to wait for), but a one-shot source cannot be read again either way.
  const recover = async (cause: unknown, failure = true): Promise<void> => {
    reader.destroy();
    if (failure) failures++;
    if (failures > maxFailures || !source.replayable) throw cause;
    if (failure) await sleep(t.client.transport.backoff(failures));
    let held: number | undefined;
    try {
      const res = await t.client.request({ method: 'GET', url: location, scopes: t.push }, context);
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
      await cancelUpload(t, location);
      ({ location } = await startUpload(t));
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
        // Unranged when the whole rest goes in this one request: ghcr.io caps only ranged bodies (4 MiB).
        if (Number.isFinite(chunkSize)) headers['content-range'] = `${start}-${start + length - 1}`;
        headers['content-length'] = String(length);
      }
      let res: HttpResponse;
      try {
        const chunk = Readable.from(reader.take(length ?? chunkSize), { objectMode: false });
        const body = options.onProgress
          ? pipeline(chunk, new ProgressStream((bytes) => options.onProgress?.(start + bytes)), () => {})
          : chunk;
        res = await t.client.request(
          { method: 'PATCH', url: location, headers, scopes: t.push, retry: false, signal: options.signal, body: () => body },
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
      if (res.status === 413 || res.status === 416) {
        const refusal = await readRegistryError(res);
        const detail = `HTTP ${res.status}${refusal.code ? ` ${refusal.code}` : ''}${refusal.message ? `: ${refusal.message.slice(0, 200)}` : ''}`;
        const limit = bodyLimit(res.status, refusal.message, reader.position - start);
        if (limit !== undefined) {
          // A size to learn, not a glitch: chunks no larger, from what the registry holds (nothing of this body).
          if (++tooLarge > 3) throw new ProtocolError(`PATCH blob ${where(context)} kept being refused as too large (${detail}); the registry takes no body this upload can send`, { ...context, status: res.status, code: refusal.code });
          learnBodyLimit(t, limit);
          chunkSize = chunking();
          await recover(new ProtocolError(`PATCH blob ${where(context)} failed: ${detail}`, { ...context, status: res.status, code: refusal.code }), false);
          continue;
        }
        await recover(new ProtocolError(`PATCH blob ${where(context)} failed: ${detail}`, { ...context, status: res.status, code: refusal.code }));
        continue;
      }
      if (isRetryableStatus(res.status)) {
        const error = await responseError(res, 'PATCH blob', context);
        await recover(error);
        continue;
      }
      throw await responseError(res, 'PATCH blob', context);
    }
  } catch (error) {
    reader.destroy();
    await cancelUpload(t, location);
    throw error;
  }
  reader.destroy();
  const digest = `${algorithm}:${reader.hash.digest('hex')}` as Digest;
  if (expected.size !== undefined && offset !== expected.size) {
    await cancelUpload(t, location);
    throw mismatch(t, expected.digest ?? digest, `${offset} bytes instead of ${expected.size}`);
  }
  if (expected.digest && digest !== expected.digest) {
    await cancelUpload(t, location);
    throw mismatch(t, expected.digest, `the bytes hash to ${digest}`);
  }
  const res = await t.client.request(
    { method: 'PUT', url: withDigest(location, digest), headers: { 'content-length': '0' }, scopes: t.push },
    t.context(digest),
  );
  if (res.status !== 201) {
    const error = await responseError(res, 'finishing the upload of', t.context(digest));
    await cancelUpload(t, location);
    throw error;
  }
  await discard(res);
  return { digest, size: offset, pushed: true };
}

/** Mount answers of 202 (an upload session instead) before a store stops asking, when no mount ever worked. */
const MOUNT_REFUSALS_BEFORE_GIVING_UP = 3;

export async function mountBlob(t: RepositoryTarget, digest: Digest, from: Repository): Promise<boolean> {
  parseDigest(digest);
  if (from.store.key !== t.store.key) return false;
  // ghcr.io never mounts (it answers a plain upload start): stop paying a POST and a DELETE per blob.
  if (!t.store.mountWorked && t.store.mountRefusals >= MOUNT_REFUSALS_BEFORE_GIVING_UP) return false;
  try {
    const query = `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from.name)}`;
    const url = t.url(`blobs/uploads/${query}`);
    const res = await t.client.request(
      { method: 'POST', url, headers: { 'content-length': '0' }, scopes: [...t.push, `repository:${from.name}:pull`] },
      t.context(digest),
    );
    await discard(res);
    if (res.status === 201) {
      t.store.mountWorked = true;
      return true;
    }
    // 202: the registry opened an upload session instead; close it, the caller uploads.
    const location = header(res, 'location');
    if (res.status === 202) t.store.mountRefusals++;
    if (res.status === 202 && location) await cancelUpload(t, checkLocation(url, location, 'upload location', t.context()));
    return false;
  } catch {
    return false;
  }
}

export async function checkPushAccess(t: RepositoryTarget): Promise<void> {
  const context = t.context();
  const { res, location } = await openSession(t);
  if (res.status === 202 && location) {
    await discard(res);
    await cancelUpload(t, location);
    return;
  }
  if (res.status === 401 || res.status === 403) {
    const error = await responseError(res, 'push access check on', context);
    throw error;
  }
  throw await responseError(res, 'push access check on', context);
}
