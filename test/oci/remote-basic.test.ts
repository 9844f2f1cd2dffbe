// The registry store against a real anonymous distribution 2.8: blobs, manifests, tags, catalog, referrers, mounts.
import { Readable } from 'node:stream';
import { createRemoteStore, type RemoteStore } from '../../packages/oci/src/remote/index.ts';
import {
  DigestMismatchError,
  EMPTY_SHA256,
  InvalidReferenceError,
  MediaType,
  NotFoundError,
  TooLargeError,
  UnsupportedError,
  bytesSource,
  parseLocation,
  sha256Digest,
  streamSource,
  type Descriptor,
  type Digest,
  type Store,
} from '../../packages/oci/src/index.ts';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';

let registry: RunningRegistry;
let store: RemoteStore;

function open(path = 'channel', options = {}): RemoteStore {
  const location = parseLocation(registry.location(path));
  if (location.kind !== 'registry') throw new Error('registry location expected');
  return createRemoteStore(location, options) as RemoteStore;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function manifestFor(layer: Descriptor, extra: Record<string, unknown> = {}): Uint8Array {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ImageManifest,
      config: { mediaType: MediaType.EmptyJson, digest: sha256Digest('{}'), size: 2 },
      layers: [layer],
      ...extra,
    }),
  );
}

async function pushEmptyConfig(repo: ReturnType<Store['repository']>): Promise<void> {
  await repo.pushBlob(bytesSource(Buffer.from('{}')), { digest: sha256Digest('{}'), size: 2 });
}

beforeAll(async () => {
  registry = await startRegistry();
  store = open();
});
afterAll(async () => {
  await store?.close();
  await registry?.stop();
});

test('a small blob goes up monolithically, is found by HEAD, comes back verified, and is skipped the second time', async () => {
  const repo = store.repository('blobs/small');
  const data = Buffer.from('hello conda over oci\n');
  const digest = sha256Digest(data);
  expect(await repo.statBlob(digest)).toBeUndefined();
  const pushed = await repo.pushBlob(bytesSource(data));
  expect(pushed).toEqual({ digest, size: data.length, pushed: true });
  expect(await repo.statBlob(digest)).toMatchObject({ digest, size: data.length });
  expect(await readAll(await repo.fetchBlob(digest, data.length))).toEqual(data);
  const again = await repo.pushBlob(bytesSource(data), { digest, size: data.length });
  expect(again.pushed).toBe(false);
});

test('a blob above the chunk threshold and a one-shot stream of unknown size go up in PATCH chunks', async () => {
  const chunked = open('channel', { chunkThresholdBytes: 1000, chunkSizeBytes: 700 });
  try {
    const repo = chunked.repository('blobs/chunked');
    const data = Buffer.alloc(2500, 7).map((_, i) => i % 251);
    const progress: number[] = [];
    const result = await repo.pushBlob(bytesSource(data), { size: data.length }, { onProgress: (b) => progress.push(b) });
    expect(result).toEqual({ digest: sha256Digest(data), size: 2500, pushed: true });
    expect(progress.at(-1)).toBe(2500);
    expect(await readAll(await repo.fetchBlob(result.digest, 2500))).toEqual(data);

    const streamed = Buffer.alloc(2100, 3);
    const one = await repo.pushBlob(streamSource(Readable.from([streamed.subarray(0, 1000), streamed.subarray(1000)])));
    expect(one).toEqual({ digest: sha256Digest(streamed), size: 2100, pushed: true });
    expect(await repo.statBlob(one.digest)).toMatchObject({ size: 2100 });
  } finally {
    await chunked.close();
  }
});

test('the empty blob (conda config) goes up from bytes and from an empty one-shot stream', async () => {
  const repo = store.repository('blobs/empty');
  expect(await repo.pushBlob(bytesSource(new Uint8Array(0)))).toEqual({ digest: EMPTY_SHA256, size: 0, pushed: true });
  const other = store.repository('blobs/empty2');
  expect(await other.pushBlob(streamSource(Readable.from([])))).toEqual({ digest: EMPTY_SHA256, size: 0, pushed: true });
  expect(await other.statBlob(EMPTY_SHA256)).toMatchObject({ size: 0 });
  expect((await readAll(await other.fetchBlob(EMPTY_SHA256, 0))).length).toBe(0);
});

test('a bytes source hands out bounded views of the bytes, from any offset, never one whole copy', async () => {
  const data = Buffer.alloc(1024 * 1024 + 17);
  for (let i = 0; i < data.length; i++) data[i] = i % 251;
  const source = bytesSource(data.subarray(5));
  const pieces: Buffer[] = [];
  for await (const piece of source.open(1000)) pieces.push(piece as Buffer);
  expect(Buffer.concat(pieces).equals(data.subarray(1005))).toBe(true);
  expect(Math.max(...pieces.map((p) => p.length))).toBeLessThanOrEqual(256 * 1024);
  // Views share the caller's memory: nothing is copied.
  expect(pieces.every((p) => p.buffer === data.buffer)).toBe(true);
  expect(await readAll(source.open(data.length - 5))).toEqual(Buffer.alloc(0));
  const repo = store.repository('bytes-views');
  const pushed = await repo.pushBlob(source, { size: data.length - 5 });
  expect(pushed.digest).toBe(sha256Digest(data.subarray(5)));
});

test('bytes that do not match the expected digest are not committed (monolithic and chunked)', async () => {
  const data = Buffer.from('the real bytes');
  const claimed = sha256Digest('other bytes');
  for (const options of [{}, { chunkThresholdBytes: 4, chunkSizeBytes: 5 }]) {
    const s = open('channel', options);
    try {
      const repo = s.repository('blobs/mismatch');
      await expect(repo.pushBlob(bytesSource(data), { digest: claimed })).rejects.toThrow(DigestMismatchError);
      expect(await repo.statBlob(claimed)).toBeUndefined();
      expect(await repo.statBlob(sha256Digest(data))).toBeUndefined();
    } finally {
      await s.close();
    }
  }
  const repo = store.repository('blobs/mismatch');
  await expect(repo.pushBlob(bytesSource(data), { size: data.length + 3 })).rejects.toThrow(DigestMismatchError);
  expect(await repo.statBlob(sha256Digest(data))).toBeUndefined();
  // A one-shot stream shorter than it claims: the monolithic PUT body fails, nothing is committed.
  const short = streamSource(Readable.from([data]), data.length + 4);
  await expect(repo.pushBlob(short, { digest: sha256Digest(data) })).rejects.toThrow(DigestMismatchError);
  expect(await repo.statBlob(sha256Digest(data))).toBeUndefined();
});

test('a blob fetched with the wrong expected size or digest fails the stream', async () => {
  const repo = store.repository('blobs/verify');
  const data = Buffer.from('verify me');
  const { digest } = await repo.pushBlob(bytesSource(data));
  await expect(repo.fetchBlob(digest, data.length + 1)).rejects.toThrow(DigestMismatchError);
  await expect(repo.fetchBlob(sha256Digest('absent'))).rejects.toThrow(NotFoundError);
});

test('manifests: push by tag, resolve, fetch by tag and digest, list tags, delete', async () => {
  const repo = store.repository('pkgs/zlib');
  await pushEmptyConfig(repo);
  const layer = await repo.pushBlob(bytesSource(Buffer.from('layer')));
  const bytes = manifestFor({ mediaType: MediaType.OctetStream, digest: layer.digest, size: layer.size });
  const descriptor = await repo.pushManifest(bytes, MediaType.ImageManifest, '1.3-0');
  expect(descriptor).toEqual({ mediaType: MediaType.ImageManifest, digest: sha256Digest(bytes), size: bytes.length });
  expect(await repo.resolve('1.3-0')).toEqual(descriptor);
  expect(await repo.resolve('absent')).toBeUndefined();
  const byTag = await repo.fetchManifest('1.3-0');
  expect(Buffer.from(byTag.bytes)).toEqual(Buffer.from(bytes));
  expect((await repo.fetchManifest(descriptor.digest)).descriptor.digest).toBe(descriptor.digest);
  await repo.pushManifest(bytes, MediaType.ImageManifest, 'latest');
  expect((await repo.listTags()).sort()).toEqual(['1.3-0', 'latest']);
  expect(await store.repository('pkgs/never-pushed').listTags()).toEqual([]);
  await repo.deleteManifest(descriptor.digest);
  expect(await repo.resolve(descriptor.digest)).toBeUndefined();
  await expect(repo.fetchManifest('1.3-0')).rejects.toThrow(NotFoundError);
});

test('names, tags and digests are validated before any request', async () => {
  expect(() => store.repository('Bad/Name')).toThrow(InvalidReferenceError);
  const repo = store.repository('pkgs/valid');
  await expect(repo.fetchManifest('../../etc')).rejects.toThrow(InvalidReferenceError);
  await expect(repo.statBlob('sha256:xyz' as Digest)).rejects.toThrow(InvalidReferenceError);
  await expect(repo.pushManifest(Buffer.from('{}'), MediaType.ImageManifest, '-bad')).rejects.toThrow(InvalidReferenceError);
});

test('a manifest over 4 MiB is refused before sending', async () => {
  const repo = store.repository('pkgs/huge');
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, padding: 'x'.repeat(5 * 1024 * 1024) }));
  await expect(repo.pushManifest(bytes, MediaType.ImageManifest, 'big')).rejects.toThrow(TooLargeError);
  expect(await repo.listTags()).toEqual([]);
});

test('the catalog lists repositories relative to the location path, filtered by prefix', async () => {
  const other = open('elsewhere');
  try {
    const r = other.repository('thing');
    await pushEmptyConfig(r);
    await r.pushManifest(manifestFor({ mediaType: MediaType.EmptyJson, digest: sha256Digest('{}'), size: 2 }), MediaType.ImageManifest, 'x');
  } finally {
    await other.close();
  }
  const names = await store.listRepositories();
  expect(names).toContain('pkgs/zlib');
  expect(names).not.toContain('elsewhere/thing');
  expect(names).not.toContain('thing');
  expect(await store.listRepositories('pkgs/')).toEqual(expect.arrayContaining(['pkgs/zlib']));
  expect((await store.listRepositories('pkgs/')).every((n) => n.startsWith('pkgs/'))).toBe(true);
});

test('referrers go through the tag fallback on distribution 2.8', async () => {
  const repo = store.repository('pkgs/signed');
  await pushEmptyConfig(repo);
  const layer = await repo.pushBlob(bytesSource(Buffer.from('package')));
  const subjectBytes = manifestFor({ mediaType: MediaType.OctetStream, digest: layer.digest, size: layer.size });
  const subject = await repo.pushManifest(subjectBytes, MediaType.ImageManifest, 'pkg');
  expect(await repo.referrers(subject.digest)).toEqual([]);
  const sig = manifestFor(
    { mediaType: MediaType.EmptyJson, digest: sha256Digest('{}'), size: 2 },
    { artifactType: 'application/vnd.test.signature', subject, annotations: { who: 'ci' } },
  );
  const sbom = manifestFor(
    { mediaType: MediaType.EmptyJson, digest: sha256Digest('{}'), size: 2 },
    { artifactType: 'application/vnd.test.sbom', subject },
  );
  const sigDesc = await repo.pushManifest(sig, MediaType.ImageManifest);
  const sbomDesc = await repo.pushManifest(sbom, MediaType.ImageManifest);
  const all = await repo.referrers(subject.digest);
  expect(all.map((d) => d.digest).sort()).toEqual([sigDesc.digest, sbomDesc.digest].sort());
  expect(all.find((d) => d.digest === sigDesc.digest)).toMatchObject({ artifactType: 'application/vnd.test.signature', annotations: { who: 'ci' } });
  const sigs = await repo.referrers(subject.digest, 'application/vnd.test.signature');
  expect(sigs.map((d) => d.digest)).toEqual([sigDesc.digest]);
  expect(await repo.listTags()).toContain(`sha256-${subject.digest.slice(7)}`);
});

test('a blob mounts across repositories of one registry, and not from another store key', async () => {
  const from = store.repository('mount/source');
  const to = store.repository('mount/target');
  const { digest } = await from.pushBlob(bytesSource(Buffer.from('mount me')));
  expect(await to.mountBlob(digest, from)).toBe(true);
  expect(await to.statBlob(digest)).toMatchObject({ size: 8 });
  expect(await to.mountBlob(sha256Digest('not there'), from)).toBe(false);
  const layoutLike = { ...from, store: { ...from.store, key: 'layout:/elsewhere' } } as typeof from;
  expect(await store.repository('mount/other').mountBlob(digest, layoutLike)).toBe(false);
  expect(await store.repository('mount/other').statBlob(digest)).toBeUndefined();
});

test('deleting where the registry forbids it is UnsupportedError', async () => {
  const noDelete = await startRegistry({ deleteEnabled: false });
  const parsed = parseLocation(noDelete.location('x'));
  if (parsed.kind !== 'registry') throw new Error('unreachable');
  const s = createRemoteStore(parsed);
  try {
    const repo = s.repository('pkg');
    await pushEmptyConfig(repo);
    const d = await repo.pushManifest(manifestFor({ mediaType: MediaType.EmptyJson, digest: sha256Digest('{}'), size: 2 }), MediaType.ImageManifest, 't');
    await expect(repo.deleteManifest(d.digest)).rejects.toThrow(UnsupportedError);
    expect(await repo.resolve('t')).toEqual(d);
  } finally {
    await s.close();
    await noDelete.stop();
  }
});

test('checkPushAccess passes anonymously on an open registry and leaves nothing behind', async () => {
  await store.repository('access/check').checkPushAccess();
  expect(await store.repository('access/check').listTags()).toEqual([]);
});
