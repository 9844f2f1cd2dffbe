// Several referrers recorded at once on one subject (validate signs a verdict per format of a build in parallel)
// must all stay findable through the tag fallback: distribution 2.8 has no referrers API.
import { MediaType, openStore, type Store } from '@oci-channel/oci';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { pushArtifact, uniqueName } from './contract-artifacts.ts';

let registry: RunningRegistry;
let store: Store;
beforeAll(async () => {
  registry = await startRegistry();
  store = openStore(registry.location('race'));
});
afterAll(async () => {
  await store?.close();
  await registry?.stop();
});

test('concurrent referrers of one subject are all kept in the fallback index', async () => {
  const repository = store.repository(uniqueName('subject'));
  const subject = await pushArtifact(repository, { tag: 'v1' });
  const subjectDescriptor = { mediaType: MediaType.ImageManifest, digest: subject.digest, size: subject.bytes.byteLength };
  const artifactType = 'application/vnd.oci-channel.test.v1';
  const pushed = await Promise.all(
    Array.from({ length: 6 }, (_, i) => pushArtifact(repository, { subject: subjectDescriptor, artifactType, title: `verdict-${i}` })),
  );
  const found = await repository.referrers(subject.digest, artifactType);
  expect(found.map((d) => d.digest).sort()).toEqual(pushed.map((p) => p.digest).sort());
});
