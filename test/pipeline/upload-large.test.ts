// upload of a .conda above the hash-while-sending threshold (lowered here to 64 KiB): the file is read once,
// sha256 comes from the chunked upload and md5 from the same bytes; a re-run says unchanged and sends nothing;
// a different file under the same name is refused before any byte is sent. Also the request budget of a new
// small package: no HEAD before its own layers, the `{}` config mounted from a repository that has it.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openStore, type Store } from '@oci-channel/oci';
import { describePackageManifest } from '@oci-channel/conda';
import { upload } from '@oci-channel/pipeline';
import { startProxy, type RunningProxy } from '../harness/proxy.ts';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { makePackage } from './pipeline-helpers.ts';

let dir: string;
let registry: RunningRegistry;
let proxy: RunningProxy;
let store: Store;
const THRESHOLD = 64 * 1024;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'upload-large-'));
  registry = await startRegistry();
  proxy = await startProxy({ host: '127.0.0.1', port: registry.port });
  // The store's chunked-upload threshold lowered with the pipeline's, as both are 64 MiB by default.
  store = openStore(proxy.location('staging'), { chunkThresholdBytes: THRESHOLD } as Parameters<typeof openStore>[1]);
});
afterAll(async () => {
  await store.close();
  await proxy.stop();
  await registry.stop();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  proxy.log.length = 0;
});

async function hashes(file: string) {
  const bytes = await readFile(file);
  return { sha256: createHash('sha256').update(bytes).digest('hex'), md5: createHash('md5').update(bytes).digest('hex'), size: bytes.length };
}

/** What was written, the upload intents aside (each writer leaves one first: records/write-intent.ts). */
const writes = () => proxy.log.filter((e) => e.method !== 'GET' && e.method !== 'HEAD' && !/\/manifests\/_uploading\.[0-9a-f]{40}$/.test(e.url));
const intentsWritten = () => proxy.log.filter((e) => e.method === 'PUT' && /\/manifests\/_uploading\.[0-9a-f]{40}$/.test(e.url));

const blobUploads = (method: string) => proxy.log.filter((e) => e.method === method && /\/blobs\/uploads\//.test(e.url));

test('a large .conda is hashed while it is sent: right sha256 and md5, no HEAD, one upload session; a re-run sends nothing but its intent', async () => {
  const file = await makePackage(path.join(dir, 'big'), { name: 'bigpkg', version: '1.0', build: 'h0_0', subdir: 'linux-64', payloadBytes: 600 * 1024, format: 'conda' });
  const expected = await hashes(file);
  expect(expected.size).toBeGreaterThan(THRESHOLD);

  const result = await upload({ to: store, files: [file], hashWhileSendingAboveBytes: THRESHOLD });
  expect(result.errors).toEqual([]);
  expect(result.artifacts[0]).toMatchObject({ status: 'uploaded', ...expected });
  const fetched = await store.repository('linux-64/bigpkg').fetchManifest('1.0-h0_0');
  const view = describePackageManifest(JSON.parse(Buffer.from(fetched.bytes).toString()));
  expect(view.packages).toEqual([expect.objectContaining({ filename: 'bigpkg-1.0-h0_0.conda', ...expected })]);
  expect(view.packages[0]!.descriptor.digest).toBe(`sha256:${expected.sha256}`);
  // The package went up as POST + PATCH + PUT?digest with no HEAD of its blob before.
  expect(proxy.log.filter((e) => e.method === 'HEAD' && e.url.includes(`/blobs/sha256:${expected.sha256}`))).toHaveLength(0);
  expect(blobUploads('PATCH').reduce((n, e) => n + e.requestBytes, 0)).toBe(expected.size);
  const back = createHash('sha256');
  for await (const chunk of await store.repository('linux-64/bigpkg').fetchBlob(`sha256:${expected.sha256}`, expected.size)) back.update(chunk as Buffer);
  expect(back.digest('hex')).toBe(expected.sha256);

  proxy.log.length = 0;
  const again = await upload({ to: store, files: [file], hashWhileSendingAboveBytes: THRESHOLD });
  expect(again.ok).toBe(true);
  expect(again.artifacts[0]).toMatchObject({ status: 'unchanged', ...expected });
  expect(writes()).toEqual([]);
  expect(intentsWritten()).toHaveLength(1);
});

test('a large upload cut mid-way resumes and still records the md5 of every byte once', async () => {
  const file = await makePackage(path.join(dir, 'cut'), { name: 'cutpkg', version: '1.0', build: 'h0_0', subdir: 'linux-64', payloadBytes: 900 * 1024, format: 'conda' });
  const expected = await hashes(file);
  let patches = 0;
  proxy.handler = (req) => (req.method === 'PATCH' && ++patches === 1 ? { dropRequestAfter: 300 * 1024 } : undefined);
  try {
    const result = await upload({ to: store, files: [file], hashWhileSendingAboveBytes: THRESHOLD });
    expect(result.errors).toEqual([]);
    expect(result.artifacts[0]).toMatchObject({ status: 'uploaded', ...expected });
  } finally {
    proxy.handler = undefined;
  }
  expect(proxy.log.filter((e) => e.injected)).toHaveLength(1);
  const fetched = await store.repository('linux-64/cutpkg').fetchManifest('1.0-h0_0');
  expect(describePackageManifest(JSON.parse(Buffer.from(fetched.bytes).toString())).packages[0]).toMatchObject(expected);
});

test('a different large file under a name already published is refused and nothing is sent or overwritten', async () => {
  const spec = { name: 'clash', version: '1.0', build: 'h0_0', subdir: 'linux-64', format: 'conda' as const };
  const first = await makePackage(path.join(dir, 'c1'), { ...spec, payloadBytes: 300 * 1024 });
  const second = await makePackage(path.join(dir, 'c2'), { ...spec, payloadBytes: 400 * 1024 });
  expect((await upload({ to: store, files: [first], hashWhileSendingAboveBytes: THRESHOLD })).ok).toBe(true);
  const before = await store.repository('linux-64/clash').fetchManifest('1.0-h0_0');
  proxy.log.length = 0;
  const result = await upload({ to: store, files: [second], hashWhileSendingAboveBytes: THRESHOLD });
  expect(result.ok).toBe(false);
  expect(result.errors[0]!.error).toMatch(/already holds a different clash-1\.0-h0_0\.conda .*bump the build number/);
  expect(writes()).toEqual([]);
  expect((await store.repository('linux-64/clash').fetchManifest('1.0-h0_0')).descriptor.digest).toBe(before.descriptor.digest);
});

test('a large .conda whose info/ differs from the .tar.bz2 already under its tag is refused before its bytes are sent', async () => {
  const spec = { name: 'other', version: '1.0', build: 'h0_0', subdir: 'linux-64', payloadBytes: 200 * 1024 };
  const published = await makePackage(path.join(dir, 'o1'), { ...spec, format: 'tar.bz2' });
  expect((await upload({ to: store, files: [published], hashWhileSendingAboveBytes: THRESHOLD })).ok).toBe(true);
  // Same name, version and build, but other info/ (another license): the merge must be refused up front.
  const differs = await makePackage(path.join(dir, 'o2'), { ...spec, format: 'conda', license: 'MIT-0' });
  proxy.log.length = 0;
  const result = await upload({ to: store, files: [differs], hashWhileSendingAboveBytes: THRESHOLD });
  expect(result.ok).toBe(false);
  expect(result.errors[0]!.error).toMatch(/info\/ files differ/);
  expect(writes()).toEqual([]);
});

test('new small packages: no HEAD before their layers, and the {} config is mounted from a repository that has it', async () => {
  const files = [];
  for (let i = 0; i < 4; i++) files.push(await makePackage(path.join(dir, 'small'), { name: `small${i}`, version: '1.0', build: 'h0_0', subdir: 'noarch', format: 'conda' }));
  // One first, so the run below has a repository holding the config blob to mount from.
  expect((await upload({ to: store, files: files.slice(0, 1) })).ok).toBe(true);
  proxy.log.length = 0;
  const result = await upload({ to: store, files: files.slice(1), concurrency: 1 });
  expect(result.ok).toBe(true);
  const methods: Record<string, number> = {};
  for (const e of proxy.log) methods[e.method] = (methods[e.method] ?? 0) + 1;
  // Per package: PUT of the upload intent, GET of the tag (the read the merge is based on, after the intent), 3 x
  // (POST + PUT) for package, info.tar.gz and index.json (distribution 2.8 takes no single POST: the store asked
  // once, earlier in this file), PUT manifest, then the tag and the other format's intent read back at once (two
  // GETs); the config (the intent's too): HEAD + POST + PUT once for the run, then one mount (a POST) per further
  // repository. No HEAD of anything else.
  expect(methods).toEqual({ GET: 3 * 3, HEAD: 1, POST: 9 + 1 + 1 + 1, PUT: 9 + 3 + 3 + 1 });
  expect(proxy.log.filter((e) => e.method === 'POST' && e.url.includes('mount='))).toHaveLength(2);
  for (let i = 1; i < 4; i++) {
    const fetched = await store.repository(`noarch/small${i}`).fetchManifest('1.0-h0_0');
    const manifest = JSON.parse(Buffer.from(fetched.bytes).toString()) as { config: { digest: string } };
    expect(await store.repository(`noarch/small${i}`).statBlob(manifest.config.digest as `sha256:${string}`)).toMatchObject({ size: 0 });
  }
});
