// A loopback reverse proxy in front of the registry that counts what crosses it: requests by kind and the
// blob bytes moved each way. Every contender of a counted scenario talks to the registry through it, so
// the figures come from the wire, not from what a tool says about itself.
import http from 'node:http';
import type net from 'node:net';

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
}

export interface CountingProxy {
  /** 127.0.0.1:PORT, to use in place of the registry's host. */
  host: string;
  url: string;
  counts(): TrafficCounts;
  reset(): void;
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
  };
}

const BLOB_UPLOAD = /^\/v2\/.+\/blobs\/uploads\//;
const BLOB = /^\/v2\/.+\/blobs\/sha256:[0-9a-f]{64}$/;
const MANIFEST = /^\/v2\/.+\/manifests\/[^/]+$/;
const TAGS = /^\/v2\/.+\/tags\/list$/;

export async function startCountingProxy(upstreamHost: string): Promise<CountingProxy> {
  const [upHost, upPort] = upstreamHost.split(':');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  let counts = zero();
  // Bytes sent so far per upload session (the uuid path), attributed to a digest by the final PUT.
  let sessions = new Map<string, number>();
  const sockets = new Set<net.Socket>();

  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const pathname = url.split('?')[0]!;
    const method = req.method ?? 'GET';
    const c = counts;
    c.requests++;
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

    // Host stays as the client sent it: the registry builds its Location headers from it, so uploads come
    // back through this proxy.
    const upstream = http.request(
      { host: upHost, port: Number(upPort), method, path: url, headers: req.headers, agent },
      (upRes) => {
        if (method === 'POST' && /[?&]mount=/.test(url) && upRes.statusCode === 201) c.mounts++;
        res.writeHead(upRes.statusCode ?? 502, upRes.rawHeaders as unknown as http.OutgoingHttpHeaders);
        upRes.on('data', (chunk: Buffer) => {
          c.totalBytes += chunk.length;
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
    req.pipe(upstream);
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
    reset() {
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
