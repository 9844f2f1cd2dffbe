// The store contract: the SAME assertions against every store kind (OCI layout on disk, a real registry).
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  DigestMismatchError,
  InvalidReferenceError,
  MediaType,
  NotFoundError,
  TooLargeError,
  bytesSource,
  fileSource,
  openStore,
  sha256Digest,
  streamSource,
  type Digest,
  type Store,
} from '@oci-channel/oci';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { manifestBytes, pushArtifact, readAll, remoteStoreMissing, uniqueName } from './contract-artifacts.ts';

interface StoreKind {
  /** Opens a fresh store; returns what to call at the end. */
  setup(): Promise<{ store: Store; location: string; teardown: () => Promise<void> }>;
}

const remoteMissing = remoteStoreMissing();
if (remoteMissing) console.warn(`contract: the registry half is SKIPPED while the remote store is missing (${remoteMissing})`);

const kinds: Array<[string, StoreKind, boolean]> = [
  [
    'OCI layout store',
    {
      async setup() {
        const dir = await mkdtemp(path.join(os.tmpdir(), 'oci-contract-layout-'));
        const location = `oci-layout:${dir}`;
        const store = openStore(location);
        return { store, location, teardown: () => rm(dir, { recursive: true, force: true }) };
      },
    },
    true,
  ],
  [
    'registry store (distribution 2.8)',
    {
      async setup() {
        const registry: RunningRegistry = await startRegistry();
        const store = openStore(registry.location());
        return {
          store,
          location: registry.location(),
          teardown: async () => {
            await store.close();
            await registry.stop();
          },
        };
      },
    },
    remoteMissing === undefined,
  ],
];

for (const [kindName, kind, enabled] of kinds) {
  (enabled ? describe : describe.skip)(`store contract: ${kindName}`, () => {
    let store: Store;
    let teardown: () => Promise<void> = async () => {};

    beforeAll(async () => {
      ({ store, teardown } = await kind.setup());
    });
    afterAll(async () => {
      await teardown();
    });

    test('blobs from bytes, a file and a one-shot stream are stored, stated and fetched back', async () => {
      const repo = store.repository(uniqueName('blobs'));
      const data = randomBytes(70_000);
      const fromBytes = await repo.pushBlob(bytesSource(data));
      expect(fromBytes).toEqual({ digest: sha256Digest(data), size: data.length, pushed: true });

      const dir = await mkdtemp(path.join(os.tmpdir(), 'oci-contract-file-'));
      const fileData = randomBytes(3 * 1024 * 1024 + 17);
      await writeFile(path.join(dir, 'blob'), fileData);
      const fromFile = await repo.pushBlob(fileSource(path.join(dir, 'blob'), fileData.length), { digest: sha256Digest(fileData), size: fileData.length });
      expect(fromFile).toMatchObject({ digest: sha256Digest(fileData), size: fileData.length, pushed: true });
      await rm(dir, { recursive: true, force: true });

      const streamData = randomBytes(200_000);
      const fromStream = await repo.pushBlob(streamSource(Readable.from([streamData.subarray(0, 1000), streamData.subarray(1000)])));
      expect(fromStream).toMatchObject({ digest: sha256Digest(streamData), size: streamData.length });

      for (const [digest, bytes] of [
        [fromBytes.digest, data],
        [fromFile.digest, fileData],
        [fromStream.digest, streamData],
      ] as const) {
        expect(await repo.statBlob(digest)).toMatchObject({ digest, size: bytes.length });
        expect((await readAll(await repo.fetchBlob(digest, bytes.length))).equals(bytes)).toBe(true);
      }
      // Known blob with an expected digest: nothing is sent again.
      expect(await repo.pushBlob(bytesSource(data), { digest: fromBytes.digest, size: data.length })).toMatchObject({ pushed: false });
    });

    test('a blob that does not match its expected digest or size is refused and not committed', async () => {
      const repo = store.repository(uniqueName('mismatch'));
      const data = randomBytes(5000);
      const claimed = sha256Digest(randomBytes(10));
      await expect(repo.pushBlob(bytesSource(data), { digest: claimed })).rejects.toThrow(DigestMismatchError);
      expect(await repo.statBlob(claimed)).toBeUndefined();
      expect(await repo.statBlob(sha256Digest(data))).toBeUndefined();
      await expect(repo.pushBlob(bytesSource(data), { digest: sha256Digest(data), size: data.length + 1 })).rejects.toThrow(DigestMismatchError);
      expect(await repo.statBlob(sha256Digest(data))).toBeUndefined();
      // A fetch checked against the wrong size fails before its stream ends (or before it starts).
      const ok = await repo.pushBlob(bytesSource(data));
      await expect((async () => readAll(await repo.fetchBlob(ok.digest, data.length - 1)))()).rejects.toThrow(DigestMismatchError);
      await expect((async () => readAll(await repo.fetchBlob(ok.digest, data.length + 1)))()).rejects.toThrow(DigestMismatchError);
      // A size given without a digest is checked too.
      const other = randomBytes(100);
      await expect(repo.pushBlob(bytesSource(other), { size: 99 })).rejects.toThrow(DigestMismatchError);
      expect(await repo.statBlob(sha256Digest(other))).toBeUndefined();
    });

    test('manifests by tag and by digest resolve and fetch back byte for byte', async () => {
      const repo = store.repository(uniqueName('manifests'));
      const tagged = await pushArtifact(repo, { tag: '1.0-h0_0', layerCount: 2 });
      const untagged = await pushArtifact(repo, { layerCount: 1 });

      const resolved = await repo.resolve('1.0-h0_0');
      expect(resolved).toMatchObject({ digest: tagged.digest, size: tagged.bytes.byteLength, mediaType: MediaType.ImageManifest });
      const byTag = await repo.fetchManifest('1.0-h0_0');
      expect(Buffer.from(byTag.bytes).equals(Buffer.from(tagged.bytes))).toBe(true);
      expect(byTag.descriptor.digest).toBe(tagged.digest);
      const byDigest = await repo.fetchManifest(untagged.digest);
      expect(Buffer.from(byDigest.bytes).equals(Buffer.from(untagged.bytes))).toBe(true);
      expect(await repo.resolve(untagged.digest)).toMatchObject({ digest: untagged.digest, size: untagged.bytes.byteLength });
      expect(await repo.listTags()).toEqual(['1.0-h0_0']);
      for (const layer of tagged.layers) expect(await repo.statBlob(layer.digest)).toMatchObject({ size: layer.size });
    });

    test('re-tagging moves the tag; tags are listed once each', async () => {
      const repo = store.repository(uniqueName('retag'));
      const first = await pushArtifact(repo, { tag: 'latest' });
      const second = await pushArtifact(repo, { tag: 'latest' });
      expect((await repo.resolve('latest'))?.digest).toBe(second.digest);
      await repo.pushManifest(first.bytes, MediaType.ImageManifest, 'old');
      expect((await repo.resolve('old'))?.digest).toBe(first.digest);
      expect(await repo.listTags()).toEqual(['latest', 'old']);
    });

    test('listTags after a tag gives only the tags that sort after it (a registry ignoring last= included)', async () => {
      const repo = store.repository(uniqueName('after'));
      const pushed = await pushArtifact(repo, { tag: '20260101000000000-aa' });
      for (const tag of ['20260101000000001-bb', '20260102000000000-cc', '2025-old']) await repo.pushManifest(pushed.bytes, MediaType.ImageManifest, tag);
      expect((await repo.listTags({ after: '20260101000000000-aa' })).sort()).toEqual(['20260101000000001-bb', '20260102000000000-cc']);
      // A prefix that is no tag at all (a reader's mark, rewound) works the same.
      expect((await repo.listTags({ after: '20260101000000001' })).sort()).toEqual(['20260101000000001-bb', '20260102000000000-cc']);
      expect(await repo.listTags({ after: '20270101' })).toEqual([]);
      expect((await repo.listTags()).length).toBe(4);
      expect(await store.repository(uniqueName('absent')).listTags({ after: '2026' })).toEqual([]);
    });

    test('delete by digest removes the manifest and its tag', async () => {
      const repo = store.repository(uniqueName('delete'));
      const keep = await pushArtifact(repo, { tag: 'keep' });
      const gone = await pushArtifact(repo, { tag: 'gone' });
      await repo.deleteManifest(gone.digest);
      expect(await repo.resolve(gone.digest)).toBeUndefined();
      expect(await repo.resolve('gone')).toBeUndefined();
      await expect(repo.fetchManifest(gone.digest)).rejects.toThrow(NotFoundError);
      expect(await repo.listTags()).toEqual(['keep']);
      expect((await repo.resolve('keep'))?.digest).toBe(keep.digest);
    });

    test('referrers finds manifests whose subject is the given one, filtered by artifactType', async () => {
      const repo = store.repository(uniqueName('referrers'));
      const subject = await pushArtifact(repo, { tag: 'pkg' });
      const subjectDescriptor = { mediaType: MediaType.ImageManifest, digest: subject.digest, size: subject.bytes.byteLength };
      const signature = await pushArtifact(repo, { subject: subjectDescriptor, artifactType: 'application/vnd.test.signature' });
      const attestation = await pushArtifact(repo, { subject: subjectDescriptor, artifactType: 'application/vnd.test.attestation' });
      await pushArtifact(repo, { tag: 'unrelated' });

      const all = await repo.referrers(subject.digest);
      expect(all.map((d) => d.digest).sort()).toEqual([signature.digest, attestation.digest].sort());
      const signatures = await repo.referrers(subject.digest, 'application/vnd.test.signature');
      expect(signatures).toEqual([expect.objectContaining({ digest: signature.digest, artifactType: 'application/vnd.test.signature' })]);
      expect(await repo.referrers(signature.digest)).toEqual([]);
    });

    test('listRepositories lists the repositories under a prefix', async () => {
      const root = uniqueName('list');
      for (const name of [`${root}/linux-64/zlib`, `${root}/noarch/repodata.json`, `${root}x/other`]) {
        await pushArtifact(store.repository(name), { tag: 'latest' });
      }
      expect(await store.listRepositories(root)).toEqual([`${root}/linux-64/zlib`, `${root}/noarch/repodata.json`]);
      expect(await store.listRepositories(`${root}/noarch`)).toEqual([`${root}/noarch/repodata.json`]);
    });

    test('missing things: NotFoundError or undefined, and no tags for an absent repository', async () => {
      const repo = store.repository(uniqueName('absent'));
      const missing = sha256Digest('missing');
      expect(await repo.statBlob(missing)).toBeUndefined();
      await expect(repo.fetchBlob(missing)).rejects.toThrow(NotFoundError);
      expect(await repo.resolve('nope')).toBeUndefined();
      expect(await repo.resolve(missing)).toBeUndefined();
      await expect(repo.fetchManifest('nope')).rejects.toThrow(NotFoundError);
      await expect(repo.fetchManifest(missing)).rejects.toThrow(NotFoundError);
      expect(await repo.listTags()).toEqual([]);
      expect(await repo.referrers(missing)).toEqual([]);
    });

    test('invalid names, tags and digests are refused before any I/O, and nothing is published', async () => {
      expect(() => store.repository('Upper/Case')).toThrow(InvalidReferenceError);
      expect(() => store.repository('../escape')).toThrow(InvalidReferenceError);
      const repo = store.repository(uniqueName('invalid'));
      const bad = 'sha256:../../etc/passwd' as Digest;
      await expect(repo.statBlob(bad)).rejects.toThrow(InvalidReferenceError);
      await expect(repo.fetchBlob(bad)).rejects.toThrow(InvalidReferenceError);
      await expect(repo.pushBlob(bytesSource(Buffer.from('x')), { digest: bad })).rejects.toThrow(InvalidReferenceError);
      await expect(repo.resolve('bad tag')).rejects.toThrow(InvalidReferenceError);
      await expect(repo.fetchManifest('-bad')).rejects.toThrow(InvalidReferenceError);
      await expect(repo.deleteManifest(bad)).rejects.toThrow(InvalidReferenceError);
      await expect(repo.referrers(bad)).rejects.toThrow(InvalidReferenceError);
      const bytes = manifestBytes([]);
      await expect(repo.pushManifest(bytes, MediaType.ImageManifest, '.hidden')).rejects.toThrow(InvalidReferenceError);
      expect(await repo.listTags()).toEqual([]);
      expect(await repo.resolve(sha256Digest(bytes))).toBeUndefined();
    });

    test('checkPushAccess passes where the store can be written', async () => {
      await expect(store.repository(uniqueName('access')).checkPushAccess()).resolves.toBeUndefined();
    });

    test('a manifest over 4 MiB is refused and nothing is published', async () => {
      const repo = store.repository(uniqueName('oversized'));
      const huge = manifestBytes([], { annotations: { filler: 'x'.repeat(4 * 1024 * 1024) } });
      await expect(repo.pushManifest(huge, MediaType.ImageManifest, 'huge')).rejects.toThrow(TooLargeError);
      expect(await repo.listTags()).toEqual([]);
      expect(await repo.resolve(sha256Digest(huge))).toBeUndefined();
    });
  });
}

// The layout store must not leave files behind for refused input.
describe('store contract: layout leaves nothing behind for refused input', () => {
  test('no directories for invalid names and no temp files after a mismatch', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'oci-contract-clean-'));
    try {
      const store = openStore(`oci-layout:${dir}`);
      expect(() => store.repository('Bad')).toThrow(InvalidReferenceError);
      const repo = store.repository('clean');
      await expect(repo.statBlob('sha256:x' as Digest)).rejects.toThrow(InvalidReferenceError);
      expect(await readdir(dir)).toEqual([]);
      await expect(repo.pushBlob(bytesSource(Buffer.from('abc')), { digest: sha256Digest('abd') })).rejects.toThrow(DigestMismatchError);
      expect(await readdir(path.join(dir, 'clean', '.tmp'))).toEqual([]);
      expect(await readdir(path.join(dir, 'clean', 'blobs', 'sha256'))).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
