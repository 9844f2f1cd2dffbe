// The one copy routine, between every pair of store kinds available.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  DigestMismatchError,
  InvalidReferenceError,
  MediaType,
  NotFoundError,
  copy,
  openStore,
  sha256Digest,
  type Descriptor,
  type Repository,
  type Store,
} from '@oci-channel/oci';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { pushArtifact, readAll, remoteStoreMissing, uniqueName } from './contract-artifacts.ts';

let dir: string;
let layout: Store;
let otherDir: string;
let otherLayout: Store;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'oci-copy-a-'));
  otherDir = await mkdtemp(path.join(os.tmpdir(), 'oci-copy-b-'));
  layout = openStore(`oci-layout:${dir}`);
  otherLayout = openStore(`oci-layout:${otherDir}`);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(otherDir, { recursive: true, force: true });
});

const sumSizes = (layers: Descriptor[]) => layers.reduce((total, layer) => total + layer.size, 0);

describe('copy between layout stores', () => {
  test('to another directory: blobs streamed, manifest identical under the new tag; again: all skipped', async () => {
    const source = layout.repository(uniqueName('src'));
    const artifact = await pushArtifact(source, { tag: '1.0-h0_0', layerCount: 3, layerSize: 100_000 });
    const destination = otherLayout.repository('dst');
    const progress: number[] = [];
    const result = await copy(source, '1.0-h0_0', destination, { tag: 'copied', onProgress: (bytes) => progress.push(bytes) });
    expect(result).toEqual({
      descriptor: { mediaType: MediaType.ImageManifest, digest: artifact.digest, size: artifact.bytes.byteLength },
      blobsCopied: 4,
      blobsMounted: 0,
      blobsSkipped: 0,
      bytesCopied: sumSizes(artifact.layers),
    });
    expect(progress.at(-1)).toBe(sumSizes(artifact.layers));
    const fetched = await destination.fetchManifest('copied');
    expect(Buffer.from(fetched.bytes).equals(Buffer.from(artifact.bytes))).toBe(true);
    expect(await destination.listTags()).toEqual(['copied']);

    const again = await copy(source, artifact.digest, destination, { tag: 'copied' });
    expect(again).toMatchObject({ blobsCopied: 0, blobsSkipped: 4, bytesCopied: 0 });
  });

  test('within one layout directory blobs are mounted (no bytes move); without a tag the copy is by digest', async () => {
    const source = layout.repository(uniqueName('src'));
    const artifact = await pushArtifact(source, { tag: 'v', layerCount: 2 });
    const destination = layout.repository(uniqueName('dst'));
    const result = await copy(source, 'v', destination);
    expect(result).toMatchObject({ blobsCopied: 0, blobsMounted: 3, bytesCopied: 0 });
    expect(await destination.listTags()).toEqual([]);
    expect((await destination.resolve(artifact.digest))?.digest).toBe(artifact.digest);
  });

  test('an image index: children pushed by digest first, then the index with the same bytes', async () => {
    const source = layout.repository(uniqueName('src'));
    const children = [await pushArtifact(source), await pushArtifact(source, { layerCount: 2 })];
    const index = new TextEncoder().encode(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ImageIndex,
        manifests: children.map((c) => ({ mediaType: MediaType.ImageManifest, digest: c.digest, size: c.bytes.byteLength })),
      }),
    );
    await source.pushManifest(index, MediaType.ImageIndex, 'multi');
    const destination = otherLayout.repository(uniqueName('idx'));
    const result = await copy(source, 'multi', destination, { tag: 'multi' });
    expect(result.descriptor).toEqual({ mediaType: MediaType.ImageIndex, digest: sha256Digest(index), size: index.byteLength });
    // The shared empty config moves once.
    expect(result.blobsCopied).toBe(4);
    expect(Buffer.from((await destination.fetchManifest('multi')).bytes).equals(Buffer.from(index))).toBe(true);
    for (const child of children) {
      expect(Buffer.from((await destination.fetchManifest(child.digest)).bytes).equals(Buffer.from(child.bytes))).toBe(true);
    }
  });

  test('a source stream that breaks is fetched again (one-shot streams are retried by the copy)', async () => {
    const source = layout.repository(uniqueName('src'));
    const artifact = await pushArtifact(source, { tag: 'v', layerSize: 300_000 });
    const layer = artifact.layers[0]!;
    let fetches = 0;
    // The real store, with the first fetch of the layer cut halfway: what a dropped connection looks like.
    const fetchBlob = async (digest: typeof layer.digest, size?: number): Promise<Readable> => {
      const stream = await source.fetchBlob(digest, size);
      if (digest !== layer.digest || fetches++ > 0) return stream;
      const head = (await readAll(stream)).subarray(0, 1000);
      return Readable.from(
        (async function* () {
          yield head;
          throw new Error('connection reset');
        })(),
      );
    };
    const flaky = new Proxy(source, {
      get(target, property) {
        if (property === 'fetchBlob') return fetchBlob;
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as Repository;
    const destination = otherLayout.repository(uniqueName('retry'));
    const result = await copy(flaky, 'v', destination, { tag: 'v' });
    expect(fetches).toBe(2);
    expect(result.bytesCopied).toBe(layer.size);
    expect((await readAll(await destination.fetchBlob(layer.digest, layer.size))).length).toBe(layer.size);
  });

  test('a corrupt source blob fails the copy and nothing is published', async () => {
    const sourceDir = await mkdtemp(path.join(os.tmpdir(), 'oci-copy-corrupt-'));
    try {
      const source = openStore(`oci-layout:${sourceDir}`).repository('src');
      const artifact = await pushArtifact(source, { tag: 'v', layerSize: 20_000 });
      const layer = artifact.layers[0]!;
      const file = path.join(sourceDir, 'src', 'blobs', 'sha256', layer.digest.slice(7));
      const bytes = await readFile(file);
      bytes[5] = bytes[5]! ^ 1;
      await writeFile(file, bytes);
      const destination = otherLayout.repository(uniqueName('corrupt'));
      await expect(copy(source, 'v', destination, { tag: 'v' })).rejects.toThrow(DigestMismatchError);
      expect(await destination.resolve('v')).toBeUndefined();
      expect(await destination.statBlob(layer.digest)).toBeUndefined();
    } finally {
      await rm(sourceDir, { recursive: true, force: true });
    }
  });

  test('a missing reference or a bad tag is refused and nothing is published', async () => {
    const source = layout.repository(uniqueName('src'));
    await pushArtifact(source, { tag: 'v' });
    const destination = otherLayout.repository(uniqueName('none'));
    await expect(copy(source, 'absent', destination)).rejects.toThrow(NotFoundError);
    await expect(copy(source, 'v', destination, { tag: 'bad tag' })).rejects.toThrow(InvalidReferenceError);
    expect(await destination.listTags()).toEqual([]);
  });
});

const remoteMissing = remoteStoreMissing();
if (remoteMissing) console.warn(`copy: the registry tests are SKIPPED while the remote store is missing (${remoteMissing})`);

(remoteMissing ? describe.skip : describe)('copy with a registry', () => {
  let registry: RunningRegistry;
  let remote: Store;
  beforeAll(async () => {
    registry = await startRegistry();
    remote = openStore(registry.location('chan'));
  });
  afterAll(async () => {
    await remote?.close();
    await registry?.stop();
  });

  test('layout -> registry -> layout keeps the manifest digest and bytes', async () => {
    const source = layout.repository(uniqueName('round'));
    const artifact = await pushArtifact(source, { tag: '2.0-h1_0', layerCount: 2, layerSize: 200_000 });
    const up = await copy(source, '2.0-h1_0', remote.repository('linux-64/round'), { tag: '2.0-h1_0' });
    expect(up).toMatchObject({ blobsCopied: 3, bytesCopied: sumSizes(artifact.layers) });
    expect(up.descriptor.digest).toBe(artifact.digest);
    const back = otherLayout.repository(uniqueName('back'));
    const down = await copy(remote.repository('linux-64/round'), '2.0-h1_0', back, { tag: 'back' });
    expect(down.descriptor.digest).toBe(artifact.digest);
    expect(Buffer.from((await back.fetchManifest('back')).bytes).equals(Buffer.from(artifact.bytes))).toBe(true);
  });

  test('an image index goes to the registry children first, and comes back identical', async () => {
    const source = layout.repository(uniqueName('idx'));
    const children = [await pushArtifact(source, { title: 'a' }), await pushArtifact(source, { title: 'b', layerCount: 2 })];
    const index = new TextEncoder().encode(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ImageIndex,
        manifests: children.map((c) => ({ mediaType: MediaType.ImageManifest, digest: c.digest, size: c.bytes.byteLength })),
      }),
    );
    await source.pushManifest(index, MediaType.ImageIndex, 'multi');
    const up = await copy(source, 'multi', remote.repository('linux-64/multi'), { tag: 'multi' });
    expect(up.descriptor).toEqual({ mediaType: MediaType.ImageIndex, digest: sha256Digest(index), size: index.byteLength });
    for (const child of children) expect((await remote.repository('linux-64/multi').resolve(child.digest))?.digest).toBe(child.digest);
    const back = otherLayout.repository(uniqueName('idxback'));
    await copy(remote.repository('linux-64/multi'), 'multi', back, { tag: 'multi' });
    expect(Buffer.from((await back.fetchManifest('multi')).bytes).equals(Buffer.from(index))).toBe(true);
  });

  test('registry -> another registry streams the blobs (different store keys never mount)', async () => {
    const second = await startRegistry();
    const secondStore = openStore(second.location());
    try {
      const a = remote.repository('streamed/pkg');
      const artifact = await pushArtifact(a, { tag: 'v1', layerCount: 2, layerSize: 40_000 });
      const result = await copy(a, 'v1', secondStore.repository('mirror/pkg'), { tag: 'v1' });
      expect(result).toMatchObject({ blobsCopied: 3, blobsMounted: 0, bytesCopied: sumSizes(artifact.layers) });
      expect((await secondStore.repository('mirror/pkg').fetchManifest('v1')).descriptor.digest).toBe(artifact.digest);
    } finally {
      await secondStore.close();
      await second.stop();
    }
  });

  test('registry repository A -> B on the same registry mounts every blob: no bytes move', async () => {
    const a = remote.repository('staging/pkg');
    const artifact = await pushArtifact(a, { tag: 'v1', layerCount: 2, layerSize: 50_000 });
    const result = await copy(a, 'v1', remote.repository('release/pkg'), { tag: 'v1' });
    // The empty config blob may already be linked by the registry; everything else is mounted.
    expect(result.blobsCopied).toBe(0);
    expect(result.bytesCopied).toBe(0);
    expect(result.blobsMounted + result.blobsSkipped).toBe(3);
    expect(result.blobsMounted).toBeGreaterThanOrEqual(2);
    expect((await remote.repository('release/pkg').resolve('v1'))?.digest).toBe(artifact.digest);
  });

  test('with the manifest bytes given the source is not read again; bytes that are not the digest are refused, nothing published', async () => {
    const a = remote.repository(uniqueName('given/src'));
    const artifact = await pushArtifact(a, { tag: 'v1', layerCount: 1 });
    const other = await pushArtifact(a, { tag: 'v2', layerCount: 1 });
    const destination = remote.repository(uniqueName('given/dst'));
    const wrong = copy(a, artifact.digest, destination, { tag: 'v1', manifest: { bytes: other.bytes, mediaType: MediaType.ImageManifest } });
    await expect(wrong).rejects.toThrow(DigestMismatchError);
    await expect(wrong).rejects.toThrow(/hash to/);
    expect(await destination.listTags()).toEqual([]);

    // The source's tag moves meanwhile: the copy still publishes exactly the bytes given, by their digest.
    await a.pushManifest(other.bytes, MediaType.ImageManifest, 'v1');
    const result = await copy(a, artifact.digest, destination, { tag: 'v1', manifest: { bytes: artifact.bytes, mediaType: MediaType.ImageManifest } });
    expect(result.descriptor.digest).toBe(artifact.digest);
    expect(Buffer.from((await destination.fetchManifest('v1')).bytes).equals(Buffer.from(artifact.bytes))).toBe(true);
  });

  test('beforeManifest runs after the blobs and before the tag: when it throws, nothing is tagged', async () => {
    const a = remote.repository(uniqueName('pre/src'));
    const artifact = await pushArtifact(a, { tag: 'v1', layerCount: 2 });
    const destination = remote.repository(uniqueName('pre/dst'));
    const seen: boolean[] = [];
    const refused = copy(a, 'v1', destination, {
      tag: 'v1',
      beforeManifest: async () => {
        // every blob is in place when it runs
        for (const layer of artifact.layers) seen.push((await destination.statBlob(layer.digest)) !== undefined);
        throw new Error('tag taken meanwhile');
      },
    });
    await expect(refused).rejects.toThrow('tag taken meanwhile');
    expect(seen).toEqual(artifact.layers.map(() => true));
    expect(await destination.listTags()).toEqual([]);
    expect(await destination.resolve(artifact.digest)).toBeUndefined();
  });
});
