// A loopback HTTP proxy in front of a registry, for fault injection. Each request can be forwarded untouched or
// shaped by a plan the test returns: answer itself, delay, drop the connection mid-request or mid-response,
// flip response bytes, rewrite status and headers. Bodies stream through (never buffered whole); every request is
// logged with its byte counts and whether it carried Authorization (never the value).
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable, Transform, type TransformCallback } from 'node:stream';

export interface ProxyRequestInfo {
  /** 1-based request number. */
  n: number;
  method: string;
  /** Path and query. */
  url: string;
  headers: IncomingHttpHeaders;
}

export interface ProxyResponseHead {
  status: number;
  headers: Record<string, string | string[] | undefined>;
}

export interface ProxyPlan {
  /** Answer without contacting the registry. */
  respond?: {
    status: number;
    headers?: Record<string, string>;
    body?: string | Uint8Array;
    /** A streamed body instead (e.g. endless, to check that clients cap what they read). */
    stream?: () => Readable;
  };
  /** Wait before handling the request. */
  delayMs?: number;
  /** Close the client's connection once this many request-body bytes arrived; nothing reaches the registry. */
  dropRequestAfter?: number;
  /**
   * Read this many request-body bytes, then stop reading and never answer (a stalled upload: the client's
   * socket fills up and it can send nothing more). Nothing reaches the registry.
   */
  stallRequestAfter?: number;
  /** Forward, then close the client's connection after this many response-body bytes. */
  dropResponseAfter?: number;
  /** Response-body byte offsets to flip (XOR 0xff). */
  flipResponseBytes?: number[];
  /** Change the request headers sent upstream. */
  rewriteRequestHeaders?: (headers: IncomingHttpHeaders) => IncomingHttpHeaders;
  /** Change the registry's status and headers before they reach the client. */
  rewriteResponse?: (head: ProxyResponseHead, request: ProxyRequestInfo) => ProxyResponseHead;
  /**
   * Take OCI's single POST (`POST /v2/<name>/blobs/uploads/?digest=D` with the bytes) as a registry that supports it
   * does (zot, for one): the proxy opens a session on the registry behind it and PUTs the bytes there with the
   * digest (so the real registry checks them), then answers 201, or passes the registry's refusal on. Distribution
   * 2.8 itself ignores such a body and answers 202 with a session. Bodies up to 64 MiB.
   */
  completeSinglePost?: boolean;
}

export type ProxyHandler = (request: ProxyRequestInfo) => ProxyPlan | undefined | void | Promise<ProxyPlan | undefined | void>;

export interface ProxyLogEntry {
  n: number;
  method: string;
  url: string;
  status?: number;
  requestBytes: number;
  responseBytes: number;
  authorization: boolean;
  /** What the plan did, when it did something. */
  injected?: string;
  /** Date.now() when the request arrived (for debugging stalls; tests do not assert times). */
  startedAt: number;
}

export interface RunningProxy {
  host: string;
  port: number;
  url: string;
  /** `oci+http://127.0.0.1:PORT/<path>` */
  location(repoPath?: string): string;
  /** Decides per request; undefined forwards everything untouched. */
  handler: ProxyHandler | undefined;
  log: ProxyLogEntry[];
  /** Requests being handled now, and the most at once since start (or since a test reset it). */
  inFlight: number;
  maxInFlight: number;
  /** Buffered request to the registry for handlers that build their own answer (small bodies only). */
  upstream(method: string, url: string, headers?: IncomingHttpHeaders): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }>;
  stop(): Promise<void>;
}

class Shaper extends Transform {
  #offset = 0;
  readonly #flip: Set<number>;
  readonly #dropAfter: number | undefined;
  readonly #onDrop: () => void;
  readonly #count: (n: number) => void;

  constructor(plan: ProxyPlan, count: (n: number) => void, onDrop: () => void) {
    super();
    this.#flip = new Set(plan.flipResponseBytes ?? []);
    this.#dropAfter = plan.dropResponseAfter;
    this.#onDrop = onDrop;
    this.#count = count;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let out = chunk;
    if (this.#flip.size) {
      out = Buffer.from(chunk);
      for (let i = 0; i < out.length; i++) if (this.#flip.has(this.#offset + i)) out[i] = out[i]! ^ 0xff;
    }
    if (this.#dropAfter !== undefined && this.#offset + out.length >= this.#dropAfter) {
      const keep = Math.max(0, this.#dropAfter - this.#offset);
      this.#offset += keep;
      this.#count(keep);
      if (keep) this.push(out.subarray(0, keep));
      // Let the kept bytes flush, then cut the connection.
      setImmediate(this.#onDrop);
      callback();
      return;
    }
    this.#offset += out.length;
    this.#count(out.length);
    callback(null, out);
  }
}

export async function startProxy(target: { host: string; port: number }): Promise<RunningProxy> {
  let n = 0;
  const log: ProxyLogEntry[] = [];

  const upstreamRequest = (method: string, url: string, headers: IncomingHttpHeaders) =>
    http.request({ host: target.host, port: target.port, method, path: url, headers });

  const proxy: RunningProxy = {
    host: '',
    port: 0,
    url: '',
    location: () => '',
    handler: undefined,
    log,
    inFlight: 0,
    maxInFlight: 0,
    upstream(method, url, headers = {}) {
      return new Promise((resolve, reject) => {
        const defined = Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined));
        const req = upstreamRequest(method, url, defined);
        req.on('error', reject);
        req.on('response', (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > 16 << 20) {
              res.destroy(new Error('upstream body over 16 MiB: use forwarding, not upstream()'));
              return;
            }
            chunks.push(c);
          });
          res.on('error', reject);
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        });
        req.end();
      });
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const info: ProxyRequestInfo = { n: ++n, method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers };
    const entry: ProxyLogEntry = {
      n: info.n,
      method: info.method,
      url: info.url,
      requestBytes: 0,
      responseBytes: 0,
      authorization: req.headers.authorization !== undefined,
      startedAt: Date.now(),
    };
    log.push(entry);
    proxy.inFlight++;
    proxy.maxInFlight = Math.max(proxy.maxInFlight, proxy.inFlight);
    res.on('close', () => {
      proxy.inFlight--;
    });
    // Counted only once a branch consumes the body: a 'data' listener now would start the flow before the pipe.
    const count = (c: Buffer) => {
      entry.requestBytes += c.length;
    };
    const plan = (await proxy.handler?.(info)) ?? {};
    if (plan.delayMs) await new Promise((r) => setTimeout(r, plan.delayMs));

    if (plan.dropRequestAfter !== undefined) {
      entry.injected = `drop request after ${plan.dropRequestAfter} bytes`;
      const limit = plan.dropRequestAfter;
      const cut = (): void => {
        req.socket.destroy();
      };
      if (limit <= 0) {
        cut();
        return;
      }
      req.on('data', (c: Buffer) => {
        count(c);
        if (entry.requestBytes >= limit) cut();
      });
      req.on('end', cut);
      return;
    }

    if (plan.stallRequestAfter !== undefined) {
      entry.injected = `stall request after ${plan.stallRequestAfter} bytes`;
      const limit = plan.stallRequestAfter;
      req.on('data', (c: Buffer) => {
        count(c);
        if (entry.requestBytes >= limit) req.pause();
      });
      if (limit <= 0) req.pause();
      return;
    }

    if (plan.respond) {
      entry.injected = `answered ${plan.respond.status}`;
      req.on('data', count);
      await new Promise((r) => req.on('end', r).on('error', r).on('close', r));
      entry.status = plan.respond.status;
      if (plan.respond.stream) {
        res.writeHead(plan.respond.status, plan.respond.headers);
        const stream = plan.respond.stream();
        stream.on('data', (c: Buffer) => {
          entry.responseBytes += c.length;
        });
        res.on('close', () => stream.destroy());
        stream.pipe(res);
        return;
      }
      const body = plan.respond.body ?? '';
      entry.responseBytes = Buffer.byteLength(body);
      res.writeHead(plan.respond.status, { 'content-length': String(Buffer.byteLength(body)), ...plan.respond.headers });
      res.end(body);
      return;
    }

    const single = /^(\/v2\/.+\/blobs\/uploads\/)\?(?:.*&)?digest=([^&]+)/.exec(info.url);
    if (plan.completeSinglePost && info.method === 'POST' && single && !/[?&]mount=/.test(info.url)) {
      entry.injected = 'completed a single POST';
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of req) {
        size += (c as Buffer).length;
        if (size > 64 << 20) {
          res.writeHead(413).end();
          return;
        }
        chunks.push(c as Buffer);
      }
      entry.requestBytes = size;
      const forwarded = (extra: IncomingHttpHeaders) => Object.fromEntries(Object.entries({ ...req.headers, ...extra }).filter(([, v]) => v !== undefined)) as IncomingHttpHeaders;
      const answer = (status: number, headers: IncomingHttpHeaders, body: Buffer) => {
        entry.status = status;
        entry.responseBytes = body.length;
        const cleaned = Object.fromEntries(Object.entries(headers).filter(([k, v]) => v !== undefined && k !== 'transfer-encoding' && k !== 'content-length'));
        res.writeHead(status, { ...cleaned, 'content-length': String(body.length) }).end(body);
      };
      const opened = await proxy.upstream('POST', single[1]!, forwarded({ 'content-length': '0' }));
      const location = opened.headers.location;
      if (opened.status !== 202 || typeof location !== 'string') return answer(opened.status, opened.headers, opened.body);
      const target = new URL(location, 'http://registry');
      target.searchParams.set('digest', decodeURIComponent(single[2]!));
      const put = await new Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
        const upPut = upstreamRequest('PUT', `${target.pathname}${target.search}`, forwarded({ 'content-length': String(size), 'content-type': 'application/octet-stream' }));
        upPut.on('error', reject);
        upPut.on('response', (r) => {
          const parts: Buffer[] = [];
          r.on('data', (c: Buffer) => parts.push(c));
          r.on('end', () => resolve({ status: r.statusCode ?? 502, headers: r.headers, body: Buffer.concat(parts) }));
        });
        upPut.end(Buffer.concat(chunks));
      });
      return answer(put.status, put.headers, put.body);
    }

    const headers = plan.rewriteRequestHeaders ? plan.rewriteRequestHeaders({ ...req.headers }) : req.headers;
    const up = upstreamRequest(info.method, info.url, headers);
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    up.on('response', (upRes) => {
      let head: ProxyResponseHead = { status: upRes.statusCode ?? 502, headers: { ...upRes.headers } };
      if (plan.rewriteResponse) {
        head = plan.rewriteResponse(head, info);
        entry.injected = 'rewrote response';
      }
      entry.status = head.status;
      const cleaned = Object.fromEntries(Object.entries(head.headers).filter(([, v]) => v !== undefined)) as Record<string, string | string[]>;
      res.writeHead(head.status, cleaned);
      if (plan.dropResponseAfter !== undefined) entry.injected = `drop response after ${plan.dropResponseAfter} bytes`;
      if (plan.flipResponseBytes?.length) entry.injected = `flipped ${plan.flipResponseBytes.length} bytes`;
      const shaper = new Shaper(
        plan,
        (bytes) => {
          entry.responseBytes += bytes;
        },
        () => {
          upRes.destroy();
          req.socket.destroy();
        },
      );
      upRes.pipe(shaper).pipe(res);
    });
    req.on('data', count);
    req.pipe(up);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  proxy.port = port;
  proxy.host = `127.0.0.1:${port}`;
  proxy.url = `http://127.0.0.1:${port}`;
  proxy.location = (repoPath = '') => `oci+http://127.0.0.1:${port}${repoPath ? `/${repoPath}` : ''}`;
  return proxy;
}

/**
 * A handler piece that serves `GET /v2/<name>/tags/list` in pages of `pageSize` with `Link` headers (distribution
 * 2.8 ignores `n` and `last`). `linkBase` overrides the origin put in the Link (to test a foreign origin).
 */
/** An endless body of `byte`, streamed in 64 KiB pieces. */
export function endless(byte = 0x61): Readable {
  const piece = Buffer.alloc(64 * 1024, byte);
  return new Readable({
    read() {
      this.push(piece);
    },
  });
}

export async function paginateTags(
  proxy: RunningProxy,
  request: ProxyRequestInfo,
  pageSize: number,
  linkBase = '',
): Promise<ProxyPlan | undefined> {
  const url = new URL(request.url, 'http://proxy');
  if (request.method !== 'GET' || !/^\/v2\/.+\/tags\/list$/.test(url.pathname)) return undefined;
  const full = await proxy.upstream('GET', `${url.pathname}`, { authorization: request.headers.authorization, host: request.headers.host });
  if (full.status !== 200) return { respond: { status: full.status, headers: { 'content-type': 'application/json' }, body: full.body } };
  const parsed = JSON.parse(full.body.toString('utf8')) as { name: string; tags: string[] };
  const tags = [...parsed.tags].sort();
  const last = url.searchParams.get('last');
  const start = last ? tags.findIndex((t) => t > last) : 0;
  const page = start < 0 ? [] : tags.slice(start, start + pageSize);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (start >= 0 && start + pageSize < tags.length) {
    headers.link = `<${linkBase}${url.pathname}?n=${pageSize}&last=${encodeURIComponent(page.at(-1)!)}>; rel="next"`;
  }
  return { respond: { status: 200, headers, body: JSON.stringify({ name: parsed.name, tags: page }) } };
}

/** A small seeded generator, so a fault-injection run can be replayed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    // xorshift32
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x1_0000_0000;
  };
}

/**
 * A handler injecting, at `rate`, one of the faults a client must survive: 503, 429 with Retry-After: 0,
 * a request body cut before it reaches the registry, or a response body cut mid-way.
 */
export function randomFaults(rate: number, random: () => number = Math.random): ProxyHandler {
  return (request) => {
    if (random() >= rate) return undefined;
    const hasBody = request.method === 'PUT' || request.method === 'PATCH' || request.method === 'POST';
    const pick = random();
    if (pick < 0.3) return { respond: { status: 503, body: '{"errors":[{"code":"UNAVAILABLE","message":"injected"}]}' } };
    if (pick < 0.5) return { respond: { status: 429, headers: { 'retry-after': '0' } } };
    if (pick < 0.75 && hasBody && Number(request.headers['content-length'] ?? 1) > 0) {
      return { dropRequestAfter: Math.floor(random() * Number(request.headers['content-length'] ?? 1000)) };
    }
    return { dropResponseAfter: Math.floor(random() * 2000) };
  };
}
