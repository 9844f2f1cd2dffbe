// The registry store on the ghcr.io stand-in: large blobs go up without tripping the 4 MiB cap on ranged PATCH
// bodies (and a refusal as too large is learned, never retried as a glitch: no blob is sent more than twice),
// OCI-Chunk-Max-Length is honoured, rate limits (429 with the wait in the body, GitHub's 403 secondary limit) are
// waited out and never reported as "no push access", mounts that open upload sessions are given up, blob reads
// follow the storage redirect without Authorization, and tags are read across pages of 100.
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { bytesSource, copy, DeniedError, fileSource, MediaType, openStore, streamSource, type Digest, type Store, type StoreOptions } from '@oci-channel/oci';
import { startGhcr, type RunningGhcr } from '../harness/ghcr.ts';
import { GithubModel } from '../harness/github-model.ts';

const BOT = 'ghp_StagingBotTokenForOciTests000000000';
const STRANGER = 'ghp_StrangerTokenForOciTests0000000000';
let ghcr: RunningGhcr;
let dir: string;
const stores: Store[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'oci-ghcr-'));
  const model = new GithubModel();
  model.addAccount({ login: 'stage', type: 'org', members: ['stage-bot'], owners: [], defaultVisibility: 'public' });
  model.addIdentity({ token: BOT, kind: 'classic-pat', login: 'stage-bot', scopes: ['write:packages'] });
  model.addIdentity({ token: STRANGER, kind: 'classic-pat', login: 'stranger', scopes: ['write:packages'] });
  ghcr = await startGhcr({ model });
});
afterAll(async () => {
  for (const s of stores) await s.close();
  await ghcr?.stop();
  await rm(dir, { recursive: true, force: true });
});

function open(path: string, options: StoreOptions & { chunkSizeBytes?: number; chunkThresholdBytes?: number } = {}, token = BOT): Store {
  const store = openStore(ghcr.location(path), { credentials: { username: 'x', password: token }, retry: { baseDelayMs: 5, maxDelayMs: 50 }, ...options });
  stores.push(store);
  return store;
}

/** `size` incompressible bytes as a one-shot stream, and their digest. */
function randomBlob(size: number): { stream: () => Readable; digest: Digest } {
  const key = randomBytes(32);
  const iv = randomBytes(16);
  const piece = Buffer.alloc(256 * 1024);
  const generate = function* () {
    const cipher = createCipheriv('aes-256-ctr', key, iv);
    for (let left = size; left > 0; left -= piece.length) yield cipher.update(piece.subarray(0, Math.min(piece.length, left)));
  };
  const hash = createHash('sha256');
  for (const chunk of generate()) hash.update(chunk);
  return { stream: () => Readable.from(generate(), { objectMode: false }), digest: `sha256:${hash.digest('hex')}` };
}

const uploadBytes = (from: number) =>
  ghcr.log.slice(from).filter((e) => e.origin === 'registry' && /\/blobs\/uploads\//.test(e.url) && (e.method === 'PATCH' || e.method === 'PUT')).reduce((n, e) => n + e.requestBytes, 0);

test('a 70 MiB blob of unknown digest goes up as one unranged PATCH, sent once, and reads back through the storage redirect', async () => {
  const size = 70 * 1024 * 1024;
  const blob = randomBlob(size);
  const repo = open('stage/ch/linux-64/cuda').repository('linux-64/cuda');
  const from = ghcr.log.length;
  const pushed = await repo.pushBlob(streamSource(blob.stream(), size));
  expect(pushed).toEqual({ digest: blob.digest, size, pushed: true });
  const patches = ghcr.log.slice(from).filter((e) => e.method === 'PATCH');
  expect(patches.map((e) => [e.status, e.requestBytes])).toEqual([[202, size]]);
  expect(uploadBytes(from)).toBe(size);

  const back = createHash('sha256');
  const readFrom = ghcr.log.length;
  for await (const chunk of await repo.fetchBlob(blob.digest, size)) back.update(chunk as Buffer);
  expect(`sha256:${back.digest('hex')}`).toBe(blob.digest);
  const storage = ghcr.log.slice(readFrom).filter((e) => e.origin === 'storage');
  expect(storage.map((e) => [e.method, e.status, e.authorization])).toEqual([['GET', 200, false]]);
});

test('a chunk size over the cap: the 416 "too large" is learned, the rest goes in 4 MiB chunks, the next blob chunks from the start', async () => {
  const size = 20 * 1024 * 1024;
  const blob = randomBlob(size);
  const file = path.join(dir, 'blob');
  await pipeline(blob.stream(), createWriteStream(file));
  const repo = open('stage/ch/linux-64/big', { chunkSizeBytes: 8 * 1024 * 1024, chunkThresholdBytes: 0 }).repository('linux-64/big');
  let from = ghcr.log.length;
  expect(await repo.pushBlob(fileSource(file, size), { digest: blob.digest, size }, { likelyMissing: true })).toEqual({ digest: blob.digest, size, pushed: true });
  const patches = ghcr.log.slice(from).filter((e) => e.method === 'PATCH');
  expect(patches[0]).toMatchObject({ status: 416, requestBytes: 8 * 1024 * 1024 });
  expect(patches.slice(1).map((e) => [e.status, e.requestBytes])).toEqual(Array(5).fill([202, 4 * 1024 * 1024]));
  expect(uploadBytes(from)).toBeLessThanOrEqual(2 * size);

  from = ghcr.log.length;
  const second = randomBlob(size);
  expect(await repo.pushBlob(streamSource(second.stream(), size), { digest: second.digest, size }, { likelyMissing: true })).toMatchObject({ pushed: true });
  expect(ghcr.log.slice(from).filter((e) => e.method === 'PATCH').map((e) => e.status)).toEqual([202, 202, 202, 202, 202]);
  expect(uploadBytes(from)).toBe(size);

  // A one-shot stream is spent by the refused body: one clear error, no second attempt here (copy fetches it again).
  const fresh = open('stage/ch/linux-64/big', { chunkSizeBytes: 8 * 1024 * 1024, chunkThresholdBytes: 0 }).repository('linux-64/big');
  const third = randomBlob(size);
  from = ghcr.log.length;
  await expect(fresh.pushBlob(streamSource(third.stream(), size), { digest: third.digest, size }, { likelyMissing: true })).rejects.toThrow(
    /PATCH blob .* failed: HTTP 416 REQUESTED_RANGE_NOT_SATISFIABLE: the request body is too large/,
  );
  expect(uploadBytes(from)).toBe(8 * 1024 * 1024);
  expect(await fresh.pushBlob(streamSource(third.stream(), size), { digest: third.digest, size }, { likelyMissing: true })).toMatchObject({ pushed: true });
  expect(uploadBytes(from)).toBe(8 * 1024 * 1024 + size);
});

test('OCI-Chunk-Max-Length is honoured where the registry sends it', async () => {
  ghcr.options.chunkMaxLength = 1024 * 1024;
  try {
    const repo = open('stage/ch/linux-64/maxlen', { chunkThresholdBytes: 0 }).repository('linux-64/maxlen');
    const size = 3 * 1024 * 1024 + 5;
    const blob = randomBlob(size);
    const from = ghcr.log.length;
    expect(await repo.pushBlob(streamSource(blob.stream(), size), { digest: blob.digest, size }, { likelyMissing: true })).toMatchObject({ pushed: true });
    expect(ghcr.log.slice(from).filter((e) => e.method === 'PATCH').map((e) => [e.status, e.requestBytes])).toEqual([
      [202, 1048576],
      [202, 1048576],
      [202, 1048576],
      [202, 5],
    ]);
  } finally {
    ghcr.options.chunkMaxLength = undefined;
  }
});

test('rate limits are waited out: 429 with the wait in the body, and the 403 secondary limit never reads as "no push access"', async () => {
  const store = open('stage/ch/noarch/limited');
  const repo = store.repository('noarch/limited');
  ghcr.options.tooManyRequestsEvery = 3;
  ghcr.options.tooManyRequestsWaitMs = 30;
  const from = ghcr.log.length;
  try {
    for (let i = 0; i < 4; i++) {
      const body = Buffer.from(`blob ${i}`);
      const config = Buffer.from('{}');
      await repo.pushBlob(bytesSource(config), { digest: `sha256:${createHash('sha256').update(config).digest('hex')}`, size: 2 });
      const layer = await repo.pushBlob(bytesSource(body));
      const manifest = Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ImageManifest,
        config: { mediaType: MediaType.EmptyJson, digest: `sha256:${createHash('sha256').update(config).digest('hex')}`, size: 2 },
        layers: [{ mediaType: MediaType.OctetStream, digest: layer.digest, size: layer.size }],
      }));
      await repo.pushManifest(manifest, MediaType.ImageManifest, `v${i}`);
    }
  } finally {
    ghcr.options.tooManyRequestsEvery = 0;
  }
  expect(ghcr.log.slice(from).filter((e) => e.status === 429).length).toBeGreaterThan(2);
  expect((await repo.listTags()).sort()).toEqual(['v0', 'v1', 'v2', 'v3']);

  ghcr.options.secondaryRateLimitEvery = 2;
  try {
    await repo.checkPushAccess();
    await repo.checkPushAccess();
  } finally {
    ghcr.options.secondaryRateLimitEvery = 0;
  }
  // A real refusal stays a refusal: another identity cannot push here.
  await expect(open('stage/ch/noarch/limited', {}, STRANGER).repository('noarch/limited').checkPushAccess()).rejects.toThrow(DeniedError);
});

test('copy within ghcr.io streams every blob in one PUT each (mounts answer with upload sessions: given up after three), tags read across pages', async () => {
  // Blobs above the chunk threshold too: a one-shot stream of known digest goes up in one PUT (no second hashing).
  const store = open('stage/ch', { chunkThresholdBytes: 100_000 });
  const source = store.repository('linux-64/src');
  const config = Buffer.from('{}');
  const configDigest = (await source.pushBlob(bytesSource(config))).digest;
  const layers = [];
  for (let i = 0; i < 6; i++) layers.push(await source.pushBlob(bytesSource(randomBytes(300_000))));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.ImageManifest,
    config: { mediaType: MediaType.EmptyJson, digest: configDigest, size: 2 },
    layers: layers.map((l) => ({ mediaType: MediaType.OctetStream, digest: l.digest, size: l.size })),
  }));
  const pushed = await source.pushManifest(manifest, MediaType.ImageManifest, 'v1');
  const from = ghcr.log.length;
  const result = await copy(source, 'v1', store.repository('linux-64/dst'), { tag: 'v1', concurrency: 1 });
  expect(result).toMatchObject({ blobsMounted: 0, blobsCopied: 7, bytesCopied: 2 + 6 * 300_000 });
  expect(result.descriptor.digest).toBe(pushed.digest);
  expect(ghcr.log.slice(from).filter((e) => e.method === 'POST' && e.url.includes('mount=')).length).toBe(3);
  expect(ghcr.log.slice(from).filter((e) => e.method === 'PATCH')).toEqual([]);
  expect(ghcr.log.slice(from).filter((e) => e.method === 'PUT' && e.url.includes('/blobs/uploads/')).map((e) => e.requestBytes).sort()).toEqual([2, ...Array(6).fill(300_000)]);

  for (let i = 0; i < 101; i++) await source.pushManifest(manifest, MediaType.ImageManifest, `t${i}`);
  const tags = await source.listTags();
  expect(tags).toHaveLength(102);
  expect(new Set(tags).size).toBe(102);
});
