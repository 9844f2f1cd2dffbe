// A loopback reverse proxy in front of the registry that counts what crosses it: requests by kind and the
// blob bytes moved each way. Every contender of a counted scenario talks to the registry through it, so
// the figures come from the wire, not from what a tool says about itself.
// It can also make the loopback registry look like a remote one (ghcr.io from a runner): a delay before
// every request (the round trip), no cross-repository mounts (ghcr.io answers a mount by opening an upload),
// and tag lists paginated with `n`/`last` honoured (distribution 2.8 ignores both and sends every tag).
import http from 'node:http';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';

export interface TrafficCounts {
  requests: number;
  byMethod: Record<string, number>;
  /** Requests under /v2/<name>/blobs/ (HEAD, GET, uploads). */
  blobRequests: number;
  /** GET of a blob (downloads), whatever their size. */
  blobDownloads: number;
  /** Body bytes of blob GET responses. */
  blobBytesDown: number;
  /** Body bytes sent to blob upload endpoints (POST/PATCH/PUT under /blobs/uploads/). */
  blobBytesUp: number;
  /** Cross-repository mounts that the registry accepted (201). */
  mounts: number;
  manifestRequests: number;
  tagListRequests: number;
  /** Every body byte either way, headers excluded. */
  totalBytes: number;
  /** Bytes moved per blob digest (downloads and finished uploads), to tell package blobs from tiny ones. */
  blobMoves: Array<{ digest: string; bytes: number; direction: 'up' | 'down' }>;
  /** Body bytes of tag list answers (what a reader of a long tag list pays). */
  tagListBytes: number;
  /** Requests being answered at once: the most, and the average over the time any was (sum of durations / busy time). */
  maxInFlight: number;
  /** Requests carrying blob bytes up (PATCH/PUT/POST with a body under /blobs/uploads/) at once, at most. */
  maxBlobUploadsInFlight: number;
  /** Sum of every request's duration (arrival to end of answer), ms. */
  requestMs: number;
  /** From the first request's arrival to the last answer's end, ms. */
  spanMs: number;
}

export interface ProxyOptions {
  /** Added before every request is forwarded: a round trip to a registry that far away. */
  delayMs?: number;
  /** Cross-repository mounts are not offered to the registry: it opens an upload session instead (202). */
  noMount?: boolean;
  /**
   * Tag lists answered page by page, at most this many tags, honouring `n` and `last` with a `Link` to the next page.
   * Pages come from a sorted list the proxy keeps per repository (read from the registry once, dropped when a
   * manifest of that repository is written or deleted through the proxy), as a registry with an index of its tags
   * answers: a page costs the same whatever the repository holds. Writes that bypass the proxy are not seen.
   */
  tagPageSize?: number;
  /** Keep every request's method, path and times (bench/profile-rtt.ts reads where requests wait on each other). */
  timeline?: boolean;
  /**
   * Take OCI's single POST (`POST .../blobs/uploads/?digest=` with the bytes) as a registry that supports it does
   * (zot, for one): the proxy completes it on distribution 2.8 (which ignores such a body) as a session POST and a
   * PUT, and answers 201. The client sees one request, counted once, with one round trip's delay.
   */
  singlePost?: boolean;
}

export interface TimedRequest {
  method: string;
  /** Path without the query. */
  path: string;
  /** ms since the proxy started: arrival, and end of the answer. */
  start: number;
  end: number;
  status: number;
}

export interface CountingProxy {
  /** 127.0.0.1:PORT, to use in place of the registry's host. */
  host: string;
  url: string;
  counts(): TrafficCounts;
  /** The requests seen since the last reset (only with `timeline`). */
  timeline(): TimedRequest[];
  reset(): void;
  /** Drops the tag index (options.tagPageSize): the registry's storage was replaced underneath. */
  forgetTags(): void;
  close(): Promise<void>;
}

function zero(): TrafficCounts {
  return {
    requests: 0,
    byMethod: {},
    blobRequests: 0,
    blobDownloads: 0,
    blobBytesDown: 0,
    blobBytesUp: 0,
    mounts: 0,
    manifestRequests: 0,
    tagListRequests: 0,
    totalBytes: 0,
    blobMoves: [],
    tagListBytes: 0,
    maxInFlight: 0,
    maxBlobUploadsInFlight: 0,
    requestMs: 0,
    spanMs: 0,
  };
}

/** One page of `sorted` (a repository's tags, sorted) as a registry honouring `n` and `last` answers it (OCI distribution spec). */
function tagPage(url: URL, sorted: string[], pageSize: number): { tags: string[]; next?: string } {
  const last = url.searchParams.get('last');
  const asked = Number(url.searchParams.get('n') ?? pageSize);
  const n = Math.max(1, Math.min(pageSize, Number.isFinite(asked) ? asked : pageSize));
  // The first tag after `last`: a binary search, not a scan.
  let from = 0;
  if (last !== null) {
    let hi = sorted.length;
    while (from < hi) {
      const mid = (from + hi) >>> 1;
      if (sorted[mid]! <= last) from = mid + 1;
      else hi = mid;
    }
  }
  const page = sorted.slice(from, from + n);
  if (sorted.length - from <= n) return { tags: page };
  const next = new URL(url);
  next.searchParams.set('n', String(n));
  next.searchParams.set('last', page.at(-1)!);
  return { tags: page, next: `${next.pathname}${next.search}` };
}

const BLOB_UPLOAD = /^\/v2\/.+\/blobs\/uploads\//;
const BLOB = /^\/v2\/.+\/blobs\/sha256:[0-9a-f]{64}$/;
const MANIFEST = /^\/v2\/.+\/manifests\/[^/]+$/;
const TAGS = /^\/v2\/.+\/tags\/list$/;

/** The digest of a single POST (`?digest=` on the upload start), undefined for any other request. */
function digestOfPost(url: string): string | undefined {
  if (!/\/blobs\/uploads\/\?/.test(url)) return undefined;
  const value = /[?&]digest=([^&]+)/.exec(url)?.[1];
  return value ? decodeURIComponent(value) : undefined;
}

/** One upstream request, its answer read whole (small: upload starts and blob PUT answers). */
function upstreamCall(agent: http.Agent, host: string, port: number, method: string, path: string, headers: http.OutgoingHttpHeaders, body?: Buffer) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    const request = http.request({ host, port, method, path, headers, agent }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (chunk: Buffer) => parts.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}

/** A single POST done on distribution 2.8 as a session POST and a PUT with the digest (the registry checks it). */
async function completeSinglePost(agent: http.Agent, host: string, port: number, pathname: string, clientHeaders: http.IncomingHttpHeaders, digest: string, body: Buffer) {
  const headers = { ...clientHeaders };
  delete headers['content-length'];
  delete headers['transfer-encoding'];
  const opened = await upstreamCall(agent, host, port, 'POST', pathname, { ...headers, 'content-length': '0' });
  const location = opened.headers.location;
  if (opened.status !== 202 || !location) return { status: opened.status, headers: { 'content-length': String(opened.body.length) }, body: opened.body };
  const target = new URL(location, 'http://registry');
  target.searchParams.set('digest', digest);
  const put = await upstreamCall(agent, host, port, 'PUT', `${target.pathname}${target.search}`, { ...headers, 'content-type': 'application/octet-stream', 'content-length': String(body.length) }, body);
  const answer: http.OutgoingHttpHeaders = { 'content-length': String(put.body.length) };
  for (const name of ['content-type', 'location', 'docker-content-digest']) if (put.headers[name]) answer[name] = put.headers[name];
  return { status: put.status, headers: answer, body: put.body };
}

export async function startCountingProxy(upstreamHost: string, options: ProxyOptions = {}): Promise<CountingProxy> {
  const [upHost, upPort] = upstreamHost.split(':');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  let counts = zero();
  // Bytes sent so far per upload session (the uuid path), attributed to a digest by the final PUT.
  let sessions = new Map<string, number>();
  const sockets = new Set<net.Socket>();
  /** Sorted tags per repository (its tags/list path), for paginated answers (options.tagPageSize). */
  const tagIndex = new Map<string, { name: string; sorted: string[] }>();

  let inFlight = 0;
  let uploadsInFlight = 0;
  let timeline: TimedRequest[] = [];
  let firstAt = 0;
  const server = http.createServer((req, res) => {
    const arrived = performance.now();
    if (counts.requests === 0) firstAt = arrived;
    let url = req.url ?? '/';
    const pathname = url.split('?')[0]!;
    const method = req.method ?? 'GET';
    const c = counts;
    c.requests++;
    inFlight++;
    c.maxInFlight = Math.max(c.maxInFlight, inFlight);
    const carriesBlob = /\/blobs\/uploads\//.test(pathname) && method !== 'POST' && method !== 'DELETE' && method !== 'GET' && Number(req.headers['content-length'] ?? 1) > 0;
    if (carriesBlob) c.maxBlobUploadsInFlight = Math.max(c.maxBlobUploadsInFlight, ++uploadsInFlight);
    res.on('close', () => {
      if (options.timeline) timeline.push({ method, path: pathname, start: arrived, end: performance.now(), status: res.statusCode });
      inFlight--;
      if (carriesBlob) uploadsInFlight--;
      const now = performance.now();
      c.requestMs += now - arrived;
      c.spanMs = now - firstAt;
    });
    if (options.noMount && method === 'POST' && /[?&]mount=/.test(url)) {
      // What ghcr.io does with a mount: an ordinary upload session (202), the bytes must be sent.
      const [base, query] = url.split('?');
      const kept = new URLSearchParams(query);
      kept.delete('mount');
      kept.delete('from');
      url = kept.size ? `${base}?${kept}` : base!;
    }
    c.byMethod[method] = (c.byMethod[method] ?? 0) + 1;
    const isUpload = BLOB_UPLOAD.test(pathname) || (method === 'POST' && pathname.endsWith('/blobs/uploads/'));
    const isBlob = BLOB.test(pathname);
    if (isUpload || isBlob) c.blobRequests++;
    if (MANIFEST.test(pathname)) c.manifestRequests++;
    if (TAGS.test(pathname)) c.tagListRequests++;
    if (isBlob && method === 'GET') c.blobDownloads++;
    const session = isUpload ? pathname.replace(/^.*\/blobs\/uploads\//, '') : '';
    const digestParam = isUpload && method === 'PUT' ? /[?&]digest=([^&]+)/.exec(url)?.[1] : undefined;
    const sessionMap = sessions;
    let down = 0;

    if (options.tagPageSize && (method === 'PUT' || method === 'DELETE') && MANIFEST.test(pathname)) {
      tagIndex.delete(`${pathname.slice(0, pathname.lastIndexOf('/manifests/'))}/tags/list`);
    }
    const answerPage = (listed: { name: string; sorted: string[] }) => {
      const page = tagPage(new URL(url, 'http://proxy'), listed.sorted, options.tagPageSize!);
      const body = Buffer.from(JSON.stringify({ name: listed.name, tags: page.tags }));
      c.totalBytes += body.length;
      c.tagListBytes += body.length;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length), ...(page.next ? { link: `<${page.next}>; rel="next"` } : {}) });
      res.end(body);
    };
    const indexed = options.tagPageSize && method === 'GET' && TAGS.test(pathname) ? tagIndex.get(pathname) : undefined;
    if (indexed) {
      req.resume();
      if (options.delayMs) setTimeout(() => answerPage(indexed), options.delayMs);
      else answerPage(indexed);
      return;
    }
    if (options.tagPageSize && method === 'GET' && TAGS.test(pathname)) {
      // Distribution 2.8 sends every tag whatever the query: ask for them all once, answer one page.
      const full = http.request({ host: upHost, port: Number(upPort), method, path: pathname, headers: req.headers, agent }, (upRes) => {
        const chunks: Buffer[] = [];
        upRes.on('data', (chunk: Buffer) => chunks.push(chunk));
        upRes.on('end', () => {
          if (upRes.statusCode !== 200) {
            res.writeHead(upRes.statusCode ?? 502, upRes.headers);
            res.end(Buffer.concat(chunks));
            return;
          }
          const listed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { name: string; tags: string[] | null };
          const entry = { name: listed.name, sorted: [...(listed.tags ?? [])].sort() };
          tagIndex.set(pathname, entry);
          answerPage(entry);
        });
      });
      full.on('error', (error) => {
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`bench proxy: upstream failed: ${error.message}`);
      });
      const send = () => full.end();
      if (options.delayMs) setTimeout(send, options.delayMs);
      else send();
      req.resume();
      return;
    }
    if (options.singlePost && method === 'POST' && digestOfPost(url) && !/[?&]mount=/.test(url)) {
      const digest = digestOfPost(url)!;
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        c.totalBytes += chunk.length;
        c.blobBytesUp += chunk.length;
      });
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const complete = () =>
          completeSinglePost(agent, upHost!, Number(upPort), pathname, req.headers, digest, body).then(
            (answer) => {
              if (answer.status === 201) c.blobMoves.push({ digest, bytes: body.length, direction: 'up' });
              res.writeHead(answer.status, answer.headers);
              res.end(answer.body);
            },
            (error: Error) => {
              if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
              res.end(`bench proxy: upstream failed: ${error.message}`);
            },
          );
        if (options.delayMs) setTimeout(complete, options.delayMs);
        else void complete();
      });
      return;
    }
    // Host stays as the client sent it: the registry builds its Location headers from it, so uploads come
    // back through this proxy.
    const upstream = http.request(
      { host: upHost, port: Number(upPort), method, path: url, headers: req.headers, agent },
      (upRes) => {
        if (method === 'POST' && /[?&]mount=/.test(url) && upRes.statusCode === 201) c.mounts++;
        res.writeHead(upRes.statusCode ?? 502, upRes.rawHeaders as unknown as http.OutgoingHttpHeaders);
        upRes.on('data', (chunk: Buffer) => {
          c.totalBytes += chunk.length;
          if (TAGS.test(pathname)) c.tagListBytes += chunk.length;
          if (isBlob && method === 'GET') {
            c.blobBytesDown += chunk.length;
            down += chunk.length;
          }
        });
        upRes.on('end', () => {
          if (isBlob && method === 'GET') c.blobMoves.push({ digest: pathname.slice(pathname.lastIndexOf('/') + 1), bytes: down, direction: 'down' });
          if (digestParam && upRes.statusCode === 201) {
            c.blobMoves.push({ digest: decodeURIComponent(digestParam), bytes: sessionMap.get(session) ?? 0, direction: 'up' });
            sessionMap.delete(session);
          }
        });
        upRes.pipe(res);
      },
    );
    upstream.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`bench proxy: upstream failed: ${error.message}`);
    });
    req.on('data', (chunk: Buffer) => {
      c.totalBytes += chunk.length;
      if (isUpload) {
        c.blobBytesUp += chunk.length;
        if (session) sessionMap.set(session, (sessionMap.get(session) ?? 0) + chunk.length);
      }
    });
    if (options.delayMs) {
      // The round trip: the request reaches the registry this much later (its body waits in the socket).
      req.pause();
      setTimeout(() => req.pipe(upstream), options.delayMs);
    } else {
      req.pipe(upstream);
    }
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const host = `127.0.0.1:${port}`;
  return {
    host,
    url: `http://${host}`,
    counts: () => structuredClone(counts),
    timeline: () => [...timeline].sort((a, b) => a.start - b.start),
    forgetTags() {
      tagIndex.clear();
    },
    reset() {
      timeline = [];
      counts = zero();
      sessions = new Map();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
