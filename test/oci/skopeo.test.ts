// skopeo (containers/image) as an independent client: what each store kind holds, skopeo reads unchanged.
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openStore, sha256Digest, type Store } from '@oci-channel/oci';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { hashLayoutBlobs, inspectRaw, skopeoCopy, skopeoReference } from '../harness/skopeo.ts';
import { pushArtifact, readAll, remoteStoreMissing, uniqueName } from './contract-artifacts.ts';

const remoteMissing = remoteStoreMissing();

const kinds: Array<[string, () => Promise<{ store: Store; location: string; teardown: () => Promise<void> }>, boolean]> = [
  [
    'OCI layout store',
    async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'oci-skopeo-layout-'));
      const location = `oci-layout:${dir}`;
      return { store: openStore(location), location, teardown: () => rm(dir, { recursive: true, force: true }) };
    },
    true,
  ],
  [
    'registry store (distribution 2.8)',
    async () => {
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
    remoteMissing === undefined,
  ],
];

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'oci-skopeo-scratch-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

for (const [kindName, setup, enabled] of kinds) {
  (enabled ? describe : describe.skip)(`skopeo reads what the ${kindName} wrote`, () => {
    let store: Store;
    let location: string;
    let teardown: () => Promise<void> = async () => {};
    beforeAll(async () => {
      ({ store, location, teardown } = await setup());
    });
    afterAll(async () => {
      await teardown();
    });

    test('skopeo inspect --raw returns our manifest bytes; skopeo copy gives blobs with matching digests', async () => {
      const name = `${uniqueName('skopeo')}/linux-64/zlib`;
      const repo = store.repository(name);
      const artifact = await pushArtifact(repo, { tag: '1.3.1-h0_0', layerCount: 2, layerSize: 300_000 });

      const raw = await inspectRaw(skopeoReference(location, name, '1.3.1-h0_0'));
      expect(raw.equals(Buffer.from(artifact.bytes))).toBe(true);

      const copyDir = path.join(scratch, uniqueName('copy'));
      await skopeoCopy(skopeoReference(location, name, '1.3.1-h0_0'), `oci:${copyDir}:copied`);
      const blobs = await hashLayoutBlobs(copyDir);
      // Every blob file holds bytes that hash to its name, and the set is manifest + config + layers.
      for (const [file, hash] of blobs) expect(hash).toBe(file);
      const expected = [artifact.digest, sha256Digest(''), ...artifact.layers.map((l) => l.digest)].map((d) => d.slice('sha256:'.length));
      expect([...blobs.keys()].sort()).toEqual([...new Set(expected)].sort());
      const index = JSON.parse(await readFile(path.join(copyDir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
      expect(index.manifests.map((m) => m.digest)).toEqual([artifact.digest]);
    });
  });
}

describe('the layout store reads what skopeo wrote', () => {
  test('a skopeo-written layout resolves by tag, fetches verified, and lists its tag', async () => {
    const source = await mkdtemp(path.join(os.tmpdir(), 'oci-skopeo-src-'));
    try {
      const store = openStore(`oci-layout:${source}`);
      const artifact = await pushArtifact(store.repository('origin'), { tag: 'v1', layerCount: 1 });
      await mkdir(path.join(source, 'written'));
      // skopeo writes a fresh layout (its own index.json and blob files) into a repository directory of ours.
      await skopeoCopy(`oci:${path.join(source, 'origin')}:v1`, `oci:${path.join(source, 'written/by-skopeo')}:v2`);
      const written = store.repository('written/by-skopeo');
      expect(await written.listTags()).toEqual(['v2']);
      const fetched = await written.fetchManifest('v2');
      expect(fetched.descriptor.digest).toBe(artifact.digest);
      const layer = artifact.layers[0]!;
      expect((await readAll(await written.fetchBlob(layer.digest, layer.size))).length).toBe(layer.size);
      expect(await store.listRepositories()).toEqual(['origin', 'written/by-skopeo']);
    } finally {
      await rm(source, { recursive: true, force: true });
    }
  });
});
