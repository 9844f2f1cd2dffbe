// The registry store under misbehaviour injected by a loopback proxy in front of a real (htpasswd) registry:
// dropped connections, redirects, corrupted bytes, pagination, rate limits, server errors, hostile bodies.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createRemoteStore, type RemoteStoreOptions } from '../../packages/oci/src/remote/index.ts';
import {
  DigestMismatchError,
  InsecureError,
  MediaType,
  NotFoundError,
  OciError,
  ProtocolError,
  RetryExhaustedError,
  TooLargeError,
  UnauthorizedError,
  UnsupportedError,
  bytesSource,
  checkRedirect,
  parseLocation,
  parseRetryAfter,
  sha256Digest,
  streamSource,
  type Store,
} from '../../packages/oci/src/index.ts';
import { writeHtpasswd } from '../harness/htpasswd.ts';
import { endless, paginateTags, randomFaults, seededRandom, startProxy, type RunningProxy } from '../harness/proxy.ts';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';

const credentials = { username: 'ci', password: 'ci-secret-value' };
const basic = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
let dir: string;
let registry: RunningRegistry;
let proxy: RunningProxy;
const stores: Store[] = [];

function open(options: RemoteStoreOptions = {}, location = proxy.location('faults')): Store {
  const parsed = parseLocation(location);
  if (parsed.kind !== 'registry') throw new Error('registry location expected');
  const store = createRemoteStore(parsed, { credentials, retry: { baseDelayMs: 5, maxDelayMs: 2000 }, ...options });
  stores.push(store);
  return store;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function manifest(layerDigest: string, size: number): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ImageManifest,
      config: { mediaType: MediaType.EmptyJson, digest: sha256Digest('{}'), size: 2 },
      layers: [{ mediaType: MediaType.OctetStream, digest: layerDigest, size }],
    }),
  );
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-faults-'));
  const file = path.join(dir, 'htpasswd');
  await writeHtpasswd(file, { [credentials.username]: credentials.password });
  registry = await startRegistry({ auth: { kind: 'htpasswd', file } });
  proxy = await startProxy({ host: '127.0.0.1', port: registry.port });
});
afterEach(async () => {
  proxy.handler = undefined;
  proxy.log.length = 0;
  await Promise.all(stores.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('a chunked upload whose connection drops mid-chunk resumes at the registry offset and finishes', async () => {
  const data = randomBytes(1536 * 1024);
  let patches = 0;
  proxy.handler = (req) => {
    if (req.method === 'PATCH' && ++patches === 3) return { dropRequestAfter: 100_000 };
    return undefined;
  };
  const store = open({ chunkThresholdBytes: 1 << 20, chunkSizeBytes: 256 * 1024 });
  const repo = store.repository('resume');
  const result = await repo.pushBlob(bytesSource(data), { size: data.length });
  expect(result).toEqual({ digest: sha256Digest(data), size: data.length, pushed: true });
  const dropped = proxy.log.filter((e) => e.injected?.startsWith('drop'));
  expect(dropped).toHaveLength(1);
  // The client asked the registry where the upload stood, and re-sent only the lost chunk.
  expect(proxy.log.some((e) => e.method === 'GET' && e.url.includes('/blobs/uploads/') && e.status === 204)).toBe(true);
  const forwarded = proxy.log.filter((e) => e.method === 'PATCH' && !e.injected).reduce((n, e) => n + e.requestBytes, 0);
  expect(forwarded).toBe(data.length);
  expect((await readAll(await repo.fetchBlob(result.digest, data.length))).equals(data)).toBe(true);
});

test('a mount the registry answers with 202 falls back to an upload; the opened session is cancelled', async () => {
  const store = open();
  const from = store.repository('mount/from');
  const to = store.repository('mount/to');
  const data = Buffer.from('mount or upload');
  const { digest } = await from.pushBlob(bytesSource(data));
  proxy.handler = (req) =>
    req.method === 'POST' && req.url.includes('mount=')
      ? { respond: { status: 202, headers: { location: '/v2/faults/mount/to/blobs/uploads/not-a-session' } } }
      : undefined;
  expect(await to.mountBlob(digest, from)).toBe(false);
  expect(proxy.log.some((e) => e.method === 'DELETE' && e.url.endsWith('/not-a-session'))).toBe(true);
  expect(await to.statBlob(digest)).toBeUndefined();
  expect((await to.pushBlob(bytesSource(data), { digest })).pushed).toBe(true);
  expect(await to.statBlob(digest)).toMatchObject({ size: data.length });
});

test('tags are followed through Link pages; a Link to another origin is refused', async () => {
  const store = open();
  const repo = store.repository('paged');
  const layer = await repo.pushBlob(bytesSource(Buffer.from('paged layer')));
  await repo.pushBlob(bytesSource(Buffer.from('{}')), { digest: sha256Digest('{}'), size: 2 });
  const bytes = manifest(layer.digest, layer.size);
  const tags = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
  for (const tag of tags) await repo.pushManifest(bytes, MediaType.ImageManifest, tag);
  proxy.handler = (req) => paginateTags(proxy, req, 3);
  expect(await repo.listTags()).toEqual(tags);
  expect(proxy.log.filter((e) => e.url.includes('/tags/list')).length).toBe(3);

  proxy.handler = (req) => paginateTags(proxy, req, 3, 'http://127.0.0.2:9');
  await expect(repo.listTags()).rejects.toThrow(InsecureError);
});

test('a blob GET redirected to another origin gets there without Authorization', async () => {
  const store = open();
  const repo = store.repository('redirected');
  const data = randomBytes(100_000);
  const { digest } = await repo.pushBlob(bytesSource(data));
  const seen: (string | undefined)[] = [];
  // A "storage backend" on another port: serves the blob it fetches itself.
  const storage = http.createServer((req, res) => {
    seen.push(req.headers.authorization);
    void fetch(`${registry.url}/v2/faults/redirected/blobs/${digest}`, { headers: { authorization: basic } }).then(async (r) => {
      res.writeHead(r.status, { 'content-type': 'application/octet-stream' });
      res.end(Buffer.from(await r.arrayBuffer()));
    });
  });
  await new Promise<void>((resolve) => storage.listen(0, '127.0.0.1', resolve));
  try {
    const port = (storage.address() as AddressInfo).port;
    proxy.handler = (req) =>
      req.method === 'GET' && req.url.includes('/blobs/sha256:')
        ? { respond: { status: 307, headers: { location: `http://127.0.0.1:${port}/presigned/blob?sig=abc` } } }
        : undefined;
    expect((await readAll(await repo.fetchBlob(digest, data.length))).equals(data)).toBe(true);
    expect(seen).toEqual([undefined]);
    expect(proxy.log.find((e) => e.url.includes('/blobs/sha256:'))?.authorization).toBe(true);
  } finally {
    storage.closeAllConnections();
    await new Promise((r) => storage.close(r));
  }
});

test('a blob HEAD redirected to storage that refuses HEAD is sized with a one-byte ranged GET', async () => {
  const store = open();
  const repo = store.repository('head-redirect');
  const data = randomBytes(3000);
  const { digest } = await repo.pushBlob(bytesSource(data));
  const seen: string[] = [];
  const storage = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.headers.range ?? ''} ${req.headers.authorization ? 'auth' : 'no-auth'}`);
    if (req.method !== 'GET') return void res.writeHead(403).end();
    res.writeHead(206, { 'content-range': `bytes 0-0/${data.length}`, 'content-length': '1' }).end(data.subarray(0, 1));
  });
  await new Promise<void>((resolve) => storage.listen(0, '127.0.0.1', resolve));
  try {
    const port = (storage.address() as AddressInfo).port;
    proxy.handler = (req) =>
      req.method === 'HEAD' && req.url.includes('/blobs/sha256:')
        ? { respond: { status: 307, headers: { location: `http://127.0.0.1:${port}/blob` } } }
        : undefined;
    expect(await repo.statBlob(digest)).toMatchObject({ digest, size: data.length });
    expect(seen).toEqual(['GET bytes=0-0 no-auth']);
  } finally {
    storage.closeAllConnections();
    await new Promise((r) => storage.close(r));
  }
});

test('redirect policy: https->http and non-http targets refused, relative targets resolved, at most 10 hops', async () => {
  const from = new URL('https://registry.example/v2/a/blobs/sha256:00');
  expect(() => checkRedirect(from, 'http://cdn.example/blob', 0)).toThrow(InsecureError);
  expect(() => checkRedirect(from, 'file:///etc/passwd', 0)).toThrow(InsecureError);
  expect(checkRedirect(from, '/other/path?x=1', 0).href).toBe('https://registry.example/other/path?x=1');
  expect(checkRedirect(new URL('http://r.example/a'), 'https://cdn.example/b', 3).href).toBe('https://cdn.example/b');
  expect(() => checkRedirect(from, 'https://cdn.example/b', 10)).toThrow(ProtocolError);

  // Live: a registry redirecting to itself forever.
  const store = open();
  proxy.handler = (req) => (req.url.includes('/blobs/') ? { respond: { status: 302, headers: { location: req.url } } } : undefined);
  await expect(store.repository('loop').fetchBlob(sha256Digest('x'))).rejects.toThrow(/more than 10/);
  expect(proxy.log.filter((e) => e.url.includes('/blobs/')).length).toBe(11);
});

test('an upload Location on another origin gets no Authorization', async () => {
  const other = await startProxy({ host: '127.0.0.1', port: registry.port });
  try {
    proxy.handler = () => ({
      rewriteResponse: (head) => {
        const location = head.headers.location;
        if (typeof location === 'string' && location.includes('/blobs/uploads/')) {
          head.headers.location = new URL(location, proxy.url).href.replace(proxy.url, other.url);
        }
        return head;
      },
    });
    const store = open();
    await expect(store.repository('foreign-location').pushBlob(bytesSource(Buffer.from('x')))).rejects.toThrow(UnauthorizedError);
    expect(other.log.length).toBeGreaterThan(0);
    expect(other.log.every((e) => !e.authorization)).toBe(true);
  } finally {
    await other.stop();
  }
});

test('a blob download cut mid-body resumes with a Range request and still verifies', async () => {
  const store = open();
  const repo = store.repository('cut-download');
  const data = randomBytes(300_000);
  const { digest } = await repo.pushBlob(bytesSource(data));
  const ranges: (string | undefined)[] = [];
  proxy.handler = (req) => {
    if (req.method !== 'GET' || !req.url.includes('/blobs/sha256:')) return undefined;
    ranges.push(req.headers.range);
    return ranges.length === 1 ? { dropResponseAfter: 100_000 } : undefined;
  };
  expect((await readAll(await repo.fetchBlob(digest, data.length))).equals(data)).toBe(true);
  expect(ranges[0]).toBeUndefined();
  expect(ranges.at(-1)).toMatch(/^bytes=\d+-$/);
  expect(Number(/\d+/.exec(ranges.at(-1)!)![0])).toBeGreaterThan(0);
});

test('a corrupted blob is detected on fetch', async () => {
  const store = open();
  const repo = store.repository('corrupt');
  const data = randomBytes(200_000);
  const { digest } = await repo.pushBlob(bytesSource(data));
  proxy.handler = (req) => (req.method === 'GET' && req.url.includes('/blobs/sha256:') ? { flipResponseBytes: [150_000] } : undefined);
  await expect(readAll(await repo.fetchBlob(digest, data.length))).rejects.toThrow(DigestMismatchError);
});

test('a 5 MiB manifest is refused before it is sent', async () => {
  const store = open();
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ImageManifest, pad: 'x'.repeat(5 << 20) }));
  await expect(store.repository('huge').pushManifest(bytes, MediaType.ImageManifest, 'big')).rejects.toThrow(TooLargeError);
  expect(proxy.log.filter((e) => e.method === 'PUT')).toEqual([]);
});

test('429 with Retry-After and bursts of 503 are retried until they succeed', async () => {
  expect(parseRetryAfter('3')).toBe(3000);
  expect(parseRetryAfter(new Date(Date.now() + 60_000).toUTCString())).toBeGreaterThan(50_000);
  expect(parseRetryAfter('soon')).toBeUndefined();

  const store = open();
  const repo = store.repository('flaky');
  const { digest } = await repo.pushBlob(bytesSource(Buffer.from('flaky')));
  let limited = 0;
  proxy.handler = (req) =>
    req.method === 'HEAD' && limited++ < 2 ? { respond: { status: 429, headers: { 'retry-after': '0' } } } : undefined;
  expect(await repo.statBlob(digest)).toMatchObject({ size: 5 });
  expect(proxy.log.filter((e) => e.method === 'HEAD').map((e) => e.status)).toEqual([429, 429, 200]);

  proxy.log.length = 0;
  let failures = 0;
  proxy.handler = (req) => (req.method === 'GET' && failures++ < 3 ? { respond: { status: 503 } } : undefined);
  expect(await readAll(await repo.fetchBlob(digest, 5))).toEqual(Buffer.from('flaky'));
  expect(proxy.log.filter((e) => e.method === 'GET').map((e) => e.status)).toEqual([503, 503, 503, 200]);

  proxy.handler = () => ({ respond: { status: 503, headers: { 'retry-after': '0' } } });
  await expect(open({ retry: { attempts: 3, baseDelayMs: 1 } }).repository('flaky').listTags()).rejects.toThrow(RetryExhaustedError);
});

test('a stalled response times out and the retry succeeds', async () => {
  const store = open({ timeoutMs: 300 });
  let stalled = 0;
  proxy.handler = (req) => (req.url.includes('/tags/list') && stalled++ === 0 ? { delayMs: 2000 } : undefined);
  expect(await store.repository('stalled').listTags()).toEqual([]);
  // stalled (timed out), then the retry: a 401 Basic challenge and the authenticated answer.
  expect(stalled).toBe(3);
});

test('hostile endless bodies are capped: error bodies, tag pages, token responses', async () => {
  const store = open();
  proxy.handler = (req) =>
    req.url.includes('/manifests/') ? { respond: { status: 404, headers: { 'content-type': 'application/json' }, stream: () => endless() } } : undefined;
  await expect(store.repository('hostile').fetchManifest('v1')).rejects.toThrow(NotFoundError);

  proxy.handler = (req) =>
    req.url.includes('/tags/list') ? { respond: { status: 200, headers: { 'content-type': 'application/json' }, stream: () => endless() } } : undefined;
  await expect(store.repository('hostile').listTags()).rejects.toThrow(TooLargeError);

  // A Bearer challenge pointing at a token endpoint that never stops talking.
  proxy.handler = (req) => {
    if (req.url.startsWith('/token')) return { respond: { status: 200, headers: { 'content-type': 'application/json' }, stream: () => endless() } };
    return {
      rewriteResponse: (head) => {
        if (head.status === 401) head.headers['www-authenticate'] = `Bearer realm="${proxy.url}/token",service="x"`;
        return head;
      },
    };
  };
  await expect(open().repository('hostile').listTags()).rejects.toThrow(TooLargeError);
  const tokenBytes = proxy.log.filter((e) => e.url.startsWith('/token')).reduce((n, e) => n + e.responseBytes, 0);
  expect(tokenBytes).toBeLessThan(16 << 20);
});

test('requests to one registry never exceed the concurrency limit', async () => {
  const store = open({ concurrency: 2 });
  const repo = store.repository('limited');
  await repo.listTags(); // learn the auth scheme first
  proxy.maxInFlight = 0;
  proxy.handler = () => ({ delayMs: 50 });
  const digests = Array.from({ length: 8 }, (_, i) => sha256Digest(`absent ${i}`));
  expect(await Promise.all(digests.map((d) => repo.statBlob(d)))).toEqual(digests.map(() => undefined));
  expect(proxy.maxInFlight).toBe(2);
});

test('a registry without a catalog gives UnsupportedError', async () => {
  const store = open();
  proxy.handler = (req) => (req.url.startsWith('/v2/_catalog') ? { respond: { status: 404, body: '404 page not found' } } : undefined);
  await expect(store.listRepositories()).rejects.toThrow(UnsupportedError);
});

test('a registry that indexes subjects itself (OCI-Subject) gets no fallback tag', async () => {
  const store = open();
  const repo = store.repository('native-referrers');
  await repo.pushBlob(bytesSource(Buffer.from('{}')), { digest: sha256Digest('{}'), size: 2 });
  const layer = await repo.pushBlob(bytesSource(Buffer.from('subject layer')));
  const subject = await repo.pushManifest(manifest(layer.digest, layer.size), MediaType.ImageManifest, 'pkg');
  proxy.handler = (req) =>
    req.method === 'PUT' && req.url.includes('/manifests/')
      ? { rewriteResponse: (head) => ({ ...head, headers: { ...head.headers, 'oci-subject': subject.digest } }) }
      : undefined;
  const referrer = JSON.parse(manifest(layer.digest, layer.size).toString()) as Record<string, unknown>;
  referrer.subject = subject;
  referrer.artifactType = 'application/vnd.test.sig';
  await repo.pushManifest(Buffer.from(JSON.stringify(referrer)), MediaType.ImageManifest);
  expect(await repo.listTags()).toEqual(['pkg']);
});

test("the referrers API is asked once per store when the registry has none; a 404 that is an OCI error is not taken for that", async () => {
  const subject = sha256Digest('no such subject');
  const referrersCalls = () => proxy.log.filter((e) => e.url.includes('/referrers/')).length;

  // A registry whose referrers route answers NAME_UNKNOWN for a repository it does not know has the API.
  proxy.handler = (req) =>
    req.url.includes('/referrers/')
      ? { respond: { status: 404, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known' }] }) } }
      : undefined;
  const withApi = open();
  expect(await withApi.repository('api/a').referrers(subject)).toEqual([]);
  expect(await withApi.repository('api/b').referrers(subject)).toEqual([]);
  expect(referrersCalls()).toBe(2);

  // distribution 2.8 has no such route at all (a plain-text 404): asked once, then straight to the fallback tag.
  proxy.handler = undefined;
  proxy.log.length = 0;
  const store = open();
  const repo = store.repository('fallback-only');
  await repo.pushBlob(bytesSource(Buffer.from('{}')), { digest: sha256Digest('{}'), size: 2 });
  const layer = await repo.pushBlob(bytesSource(Buffer.from('a subject')));
  const pushed = await repo.pushManifest(manifest(layer.digest, layer.size), MediaType.ImageManifest, 'pkg');
  const referrer = JSON.parse(manifest(layer.digest, layer.size).toString()) as Record<string, unknown>;
  referrer.subject = pushed;
  referrer.artifactType = 'application/vnd.test.sig';
  const sig = await repo.pushManifest(Buffer.from(JSON.stringify(referrer)), MediaType.ImageManifest);
  for (let i = 0; i < 3; i++) expect((await repo.referrers(pushed.digest)).map((d) => d.digest)).toEqual([sig.digest]);
  expect(await store.repository('fallback-other').referrers(subject)).toEqual([]);
  expect(referrersCalls()).toBe(1);
});

test('with 10% of requests failing at random, pushes and fetches of blobs and manifests all succeed', async () => {
  const store = open({ chunkThresholdBytes: 200_000, chunkSizeBytes: 64 * 1024, retry: { attempts: 8, baseDelayMs: 1, maxDelayMs: 20 } });
  const repo = store.repository('chaos');
  proxy.handler = randomFaults(0.1, seededRandom(Number(process.env.CHAOS_SEED ?? 20261122)));
  await repo.pushBlob(bytesSource(Buffer.from('{}')), { digest: sha256Digest('{}'), size: 2 });
  for (let i = 0; i < 12; i++) {
    const data = randomBytes(i % 3 === 0 ? 500_000 : 20_000 + i);
    const mark = proxy.log.length;
    const { digest, size } = await repo.pushBlob(bytesSource(data)).catch((e: unknown) => {
      if (process.env.CHAOS_DEBUG) console.log(proxy.log.slice(mark).map((l) => [l.n, l.method, l.url.replace(/\?.*/, '').slice(-12), l.status, l.requestBytes, l.injected]));
      throw e;
    });
    expect(digest).toBe(sha256Digest(data));
    const bytes = manifest(digest, size);
    const pushed = await repo.pushManifest(bytes, MediaType.ImageManifest, `v${i}`);
    expect((await repo.fetchManifest(`v${i}`)).descriptor.digest).toBe(pushed.digest);
    expect((await readAll(await repo.fetchBlob(digest, size))).equals(data)).toBe(true);
  }
  expect((await repo.listTags()).length).toBe(12);
  if (process.env.CHAOS_DEBUG) {
    const log = proxy.log;
    for (let i = 1; i < log.length; i++) {
      if (log[i]!.startedAt - log[i - 1]!.startedAt > 300) console.log(log[i]!.startedAt - log[i - 1]!.startedAt, log[i - 1], log[i]);
    }
  }
  expect(proxy.log.filter((e) => e.injected).length).toBeGreaterThan(5);
});

describe('a stalled upload body (the registry accepts no more bytes)', () => {
  // 1 s without a byte taken by the connection counts as a stall; the loopback registry answers far faster.
  const timeoutMs = 1000;

  test('a stalled PATCH is aborted and the chunked upload resumes where the registry stands', async () => {
    const data = randomBytes(20 * 1024 * 1024);
    let patches = 0;
    proxy.handler = (req) => (req.method === 'PATCH' && ++patches === 1 ? { stallRequestAfter: 1024 * 1024 } : undefined);
    const store = open({ timeoutMs, chunkThresholdBytes: 1 << 20, chunkSizeBytes: 16 * 1024 * 1024 });
    const repo = store.repository('stall-patch');
    const result = await repo.pushBlob(bytesSource(data), { size: data.length });
    expect(result).toEqual({ digest: sha256Digest(data), size: data.length, pushed: true });
    expect(proxy.log.filter((e) => e.injected?.startsWith('stall'))).toHaveLength(1);
    const forwarded = proxy.log.filter((e) => e.method === 'PATCH' && !e.injected).reduce((n, e) => n + e.requestBytes, 0);
    expect(forwarded).toBe(data.length);
    expect((await readAll(await repo.fetchBlob(result.digest, data.length))).equals(data)).toBe(true);
  }, 30_000);

  test('a stalled monolithic PUT of a replayable source is sent again and succeeds', async () => {
    const data = randomBytes(12 * 1024 * 1024);
    let puts = 0;
    proxy.handler = (req) => (req.method === 'PUT' && ++puts === 1 ? { stallRequestAfter: 1024 * 1024 } : undefined);
    const store = open({ timeoutMs });
    const repo = store.repository('stall-put');
    const result = await repo.pushBlob(bytesSource(data), { digest: sha256Digest(data), size: data.length });
    expect(result).toEqual({ digest: sha256Digest(data), size: data.length, pushed: true });
    expect(proxy.log.filter((e) => e.injected?.startsWith('stall'))).toHaveLength(1);
    expect((await readAll(await repo.fetchBlob(result.digest, data.length))).equals(data)).toBe(true);
  }, 30_000);

  test('a stalled one-shot stream fails with a clear error and nothing is committed', async () => {
    const data = randomBytes(20 * 1024 * 1024);
    proxy.handler = (req) => (req.method === 'PATCH' ? { stallRequestAfter: 1024 * 1024 } : undefined);
    const store = open({ timeoutMs, chunkThresholdBytes: 1 << 20, chunkSizeBytes: 16 * 1024 * 1024 });
    const repo = store.repository('stall-stream');
    const error = await repo.pushBlob(streamSource(Readable.from([data.subarray(0, 8 << 20), data.subarray(8 << 20)])), { size: data.length }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OciError);
    expect((error as Error).message).toMatch(/PATCH .*stall-stream.* no bytes of the request body were accepted for 1000 ms/);
    expect(proxy.log.filter((e) => e.injected?.startsWith('stall'))).toHaveLength(1);
    proxy.handler = undefined;
    expect(await repo.statBlob(sha256Digest(data))).toBeUndefined();
  }, 30_000);

  test('a slow source is not a stall: a pause longer than the timeout between its pieces still uploads', async () => {
    const store = open({ timeoutMs, chunkThresholdBytes: 1 << 20 });
    const repo = store.repository('slow-source');
    const pieces = [randomBytes(1024 * 1024), randomBytes(1024 * 1024)];
    async function* slow() {
      yield pieces[0]!;
      await new Promise((r) => setTimeout(r, 2500));
      yield pieces[1]!;
    }
    const result = await repo.pushBlob(streamSource(Readable.from(slow(), { objectMode: false })));
    expect(result).toEqual({ digest: sha256Digest(Buffer.concat(pieces)), size: 2 * 1024 * 1024, pushed: true });
    expect(proxy.log.filter((e) => e.method === 'PATCH')).toHaveLength(1);
  }, 30_000);
});
