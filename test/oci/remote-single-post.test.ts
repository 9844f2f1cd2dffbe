// OCI's single POST (`POST /blobs/uploads/?digest=` with the bytes: one request per small blob) and its fallback.
// Distribution 2.8 does not take it: it answers 202 with an upload session and ignores the body, so the bytes go
// again in a PUT to that session, and the store stops asking. A registry that takes it (the proxy completes the
// POST on the real registry, which checks the digest) stores each small blob in one request; a wrong digest is
// refused there and nothing is stored.
import { randomBytes } from 'node:crypto';
import { DigestMismatchError, bytesSource, openStore, sha256Digest, type Store } from '../../packages/oci/src/index.ts';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { startProxy, type RunningProxy } from '../harness/proxy.ts';

let registry: RunningRegistry;
let proxy: RunningProxy;

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startProxy({ host: '127.0.0.1', port: registry.port });
});
afterAll(async () => {
  await proxy.stop();
  await registry.stop();
});
afterEach(() => {
  proxy.handler = undefined;
});

const blob = (size: number) => {
  const bytes = randomBytes(size);
  return { bytes, digest: sha256Digest(bytes), size };
};
const uploads = (from: number) => proxy.log.slice(from).filter((e) => e.url.includes('/blobs/uploads/'));

async function pushAll(store: Store, repository: string, blobs: Array<ReturnType<typeof blob>>): Promise<void> {
  const repo = store.repository(repository);
  const pushed = await Promise.all(blobs.map((b) => repo.pushBlob(bytesSource(b.bytes), { digest: b.digest, size: b.size }, { likelyMissing: true })));
  expect(pushed.map((p) => p.pushed)).toEqual(blobs.map(() => true));
  for (const b of blobs) expect((await repo.statBlob(b.digest))?.size).toBe(b.size);
}

test('distribution 2.8 ignores a single POST: the bytes go again in a PUT, once; then POST + PUT without asking', async () => {
  const store = openStore(proxy.location('nopost'));
  const from = proxy.log.length;
  const blobs = [blob(1000), blob(20_000), blob(300_000), blob(3 * 1024 * 1024)];
  await pushAll(store, 'a/b', blobs);
  const sent = uploads(from);
  // One question, answered with a session (202): its bytes went twice (POST ignored, PUT stored).
  const asked = sent.filter((e) => e.method === 'POST' && e.url.includes('digest='));
  expect(asked).toHaveLength(1);
  expect(asked[0]?.status).toBe(202);
  // Every blob: one POST and one PUT; nothing more.
  expect(sent.filter((e) => e.method === 'POST')).toHaveLength(4);
  expect(sent.filter((e) => e.method === 'PUT' && e.status === 201)).toHaveLength(4);
  expect(sent).toHaveLength(8);
  // A later store learns again, a later blob of this store does not ask.
  const later = proxy.log.length;
  await pushAll(store, 'a/b', [blob(500)]);
  expect(uploads(later).map((e) => e.method)).toEqual(['POST', 'PUT']);
  await store.close();
});

test('a registry that takes the single POST stores each small blob in one request; a wrong digest stores nothing', async () => {
  proxy.handler = () => ({ completeSinglePost: true });
  const store = openStore(proxy.location('post'));
  const from = proxy.log.length;
  const blobs = [blob(10), blob(50_000), blob(900_000), blob(2 * 1024 * 1024)];
  await pushAll(store, 'c/d', blobs);
  const sent = uploads(from);
  expect(sent.map((e) => `${e.method} ${e.status}`)).toEqual(blobs.map(() => 'POST 201'));

  const good = blob(4096);
  const other = blob(4096);
  const repo = store.repository('c/d');
  await expect(repo.pushBlob(bytesSource(other.bytes), { digest: good.digest, size: good.size }, { likelyMissing: true })).rejects.toThrow(DigestMismatchError);
  expect(await repo.statBlob(good.digest)).toBeUndefined();
  expect(await repo.statBlob(other.digest)).toBeUndefined();
  await store.close();
});
