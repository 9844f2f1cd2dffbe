// A loopback HTTP proxy in front of the real test registry that misbehaves on purpose: it injects network and
// server faults into a seeded fraction of requests, and scripted rules can rewrite chosen answers (hostile
// registry). It keeps a log of every request (in arrival order, with the fault it got), which outlives the
// clients that went through it - killed CLI processes included.
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { keyedRandom } from './hostile-random.ts';

export const FAULT_KINDS = [
  'reset-before', // connection dropped before the request reaches the registry
  'reset-request-body', // connection dropped while the request body is being sent (the registry sees a partial body)
  'reset-response', // the registry DID apply the request; the connection drops mid-answer
  'status-500',
  'status-502',
  'status-503',
  'status-429', // rate limited, no Retry-After
  'status-429-retry-after', // rate limited, Retry-After: 1
  'slow', // answer trickles in small delayed chunks
  'stall', // no answer at all until the client gives up (needs the client's timeout)
  'truncate', // GET body cut short and the connection closed cleanly (no Content-Length)
  'wrong-length', // Content-Length larger than the body sent, then the connection closes
  'flip-byte', // one byte of a blob or manifest GET body flipped (must be caught by digest checks)
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Faults that never reach the registry: the request had no effect. */
const NOT_FORWARDED: ReadonlySet<FaultKind> = new Set(['reset-before', 'status-500', 'status-502', 'status-503', 'status-429', 'status-429-retry-after', 'stall']);

export interface FaultOptions {
  seed: number;
  /** Fraction of requests that get a fault (0..1). */
  rate: number;
  /** Kinds to choose from (default all). */
  kinds?: readonly FaultKind[];
  /** How long a stalled request is held before its socket is dropped (default 20 s). */
  stallMs?: number;
  /** Only requests this returns true for may get a fault (default all). */
  eligible?: (request: ProxiedRequest) => boolean;
}

export interface ProxiedRequest {
  method: string;
  /** Path and query as received. */
  url: string;
  /** Path without the query. */
  path: string;
  headers: http.IncomingHttpHeaders;
}

export interface RequestRecord {
  seq: number;
  method: string;
  path: string;
  /** Status the registry answered (undefined when the request never reached it or no answer came). */
  status?: number;
  fault?: FaultKind;
  /** Rule name, when a scripted rule answered. */
  rule?: string;
  /** Order in which requests finished (the registry answered), for happens-before checks. */
  completedSeq?: number;
}

/** What a scripted rule sees: the request, and a way to get the registry's own (buffered) answer. */
export interface RuleContext {
  request: ProxiedRequest;
  /** Body of the incoming request, buffered (rules are for small control requests). */
  body: () => Promise<Buffer>;
  /** Sends the request on to the registry and returns its answer, buffered. */
  forward: (body?: Buffer) => Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>;
  /** The proxy's own origin, e.g. http://127.0.0.1:1234. */
  origin: string;
}

export interface RuleAnswer {
  status: number;
  headers?: Record<string, string | string[]>;
  /** A buffer, or a generator of chunks for huge bodies (streamed, never built in memory). */
  body?: Buffer | string | (() => AsyncIterable<Buffer>);
}

export interface Rule {
  name: string;
  match: (request: ProxiedRequest) => boolean;
  /** Return an answer to send instead of the registry's, or undefined to let the request through untouched. */
  answer: (context: RuleContext) => Promise<RuleAnswer | undefined>;
  /** Apply at most this many times (default unlimited). */
  times?: number;
}

export interface ProxyStats {
  requests: number;
  faults: number;
  byKind: Partial<Record<FaultKind, number>>;
  rules: number;
}

export interface HostileProxy {
  url: string;
  host: string;
  /** `oci+http://<proxy host>/<path>` */
  location(repoPath?: string): string;
  readonly log: RequestRecord[];
  stats(): ProxyStats;
  setFaults(options: FaultOptions | undefined): void;
  setRules(rules: Rule[]): void;
  stop(): Promise<void>;
}

/** Upload session ids and queries vary per run: keys for fault decisions leave them out. */
function requestKey(method: string, path: string): string {
  return `${method} ${path.replace(/\/blobs\/uploads\/[^/]+$/, '/blobs/uploads/*')}`;
}

function hasBody(request: http.IncomingMessage): boolean {
  const length = Number(request.headers['content-length'] ?? 0);
  return length > 0 || request.headers['transfer-encoding'] !== undefined;
}

const isBodyGet = (method: string, path: string) =>
  method === 'GET' && (/\/blobs\/sha256:[a-f0-9]{64}$/.test(path) || /\/manifests\/[^/]+$/.test(path));

/** Faults that make sense for this request (flips and truncations only where a body comes back). */
function applicableKinds(kinds: readonly FaultKind[], method: string, path: string, withBody: boolean): FaultKind[] {
  return kinds.filter((kind) => {
    if (kind === 'reset-request-body') return withBody;
    if (kind === 'truncate' || kind === 'wrong-length' || kind === 'flip-byte') return isBodyGet(method, path);
    return true;
  });
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function startHostileProxy(
  targetUrl: string,
  initial: { faults?: FaultOptions; rules?: Rule[]; /** Serve https with this key and certificate (clients need to trust it). */ tls?: { key: string; cert: string } } = {},
): Promise<HostileProxy> {
  const target = new URL(targetUrl);
  const upstreamAgent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const log: RequestRecord[] = [];
  const seen = new Map<string, number>();
  const sockets = new Set<net.Socket>();
  const stalled = new Set<NodeJS.Timeout>();
  let faults = initial.faults;
  let rules = initial.rules ?? [];
  const ruleUses = new Map<Rule, number>();
  let completed = 0;
  let origin = '';

  function upstream(request: http.IncomingMessage, record: RequestRecord): http.ClientRequest {
    const headers: http.OutgoingHttpHeaders = { ...request.headers, ...(initial.tls ? { 'x-forwarded-proto': 'https' } : {}) };
    // Keep Host: the registry builds upload Locations from it, which then point back at the proxy.
    return http.request({
      host: target.hostname,
      port: target.port,
      method: request.method,
      path: request.url,
      headers,
      agent: upstreamAgent,
    }).on('response', (res) => {
      record.status = res.statusCode;
    });
  }

  function chooseFault(proxied: ProxiedRequest, withBody: boolean): FaultKind | undefined {
    if (!faults || faults.rate <= 0) return undefined;
    if (faults.eligible && !faults.eligible(proxied)) return undefined;
    const key = requestKey(proxied.method, proxied.path);
    const n = (seen.get(key) ?? 0) + 1;
    seen.set(key, n);
    if (keyedRandom(faults.seed, `${key}#${n}`) >= faults.rate) return undefined;
    const kinds = applicableKinds(faults.kinds ?? FAULT_KINDS, proxied.method, proxied.path, withBody);
    if (kinds.length === 0) return undefined;
    return kinds[Math.floor(keyedRandom(faults.seed, `${key}#${n}/kind`) * kinds.length)];
  }

  async function runRule(rule: Rule, request: http.IncomingMessage, response: http.ServerResponse, proxied: ProxiedRequest, record: RequestRecord): Promise<boolean> {
    let buffered: Buffer | undefined;
    const body = async () => {
      if (buffered) return buffered;
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      buffered = Buffer.concat(chunks);
      return buffered;
    };
    const forward = async (override?: Buffer) => {
      const sent = override ?? (await body());
      return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
        const headers: http.OutgoingHttpHeaders = { ...request.headers, 'content-length': String(sent.length), ...(initial.tls ? { 'x-forwarded-proto': 'https' } : {}) };
        if (sent.length === 0 && !hasBody(request)) delete headers['content-length'];
        delete headers['transfer-encoding'];
        const out = http.request(
          { host: target.hostname, port: target.port, method: request.method, path: request.url, headers, agent: upstreamAgent },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
            res.on('error', reject);
          },
        );
        out.on('error', reject);
        out.end(sent);
      });
    };
    let answer = await rule.answer({ request: proxied, body, forward, origin });
    if (!answer && !buffered) return false;
    // A rule that read the body and then declined: relay the registry's own answer.
    if (!answer) {
      const relayed = await forward(buffered);
      answer = { status: relayed.status, headers: relayed.headers as Record<string, string | string[]>, body: relayed.body };
    }
    ruleUses.set(rule, (ruleUses.get(rule) ?? 0) + 1);
    record.rule = rule.name;
    record.status = answer.status;
    if (!buffered) request.resume();
    const headers: Record<string, string | string[]> = { ...(answer.headers ?? {}) };
    const payload = answer.body;
    if (payload === undefined || typeof payload === 'string' || Buffer.isBuffer(payload)) {
      const bytes = payload === undefined ? Buffer.alloc(0) : Buffer.from(payload);
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) headers['content-length'] = String(bytes.length);
      response.writeHead(answer.status, headers);
      response.end(proxied.method === 'HEAD' ? undefined : bytes);
    } else {
      response.writeHead(answer.status, headers);
      try {
        for await (const chunk of payload()) {
          if (response.destroyed) break;
          if (!response.write(chunk)) await new Promise((resolve) => response.once('drain', resolve).once('close', resolve));
        }
      } finally {
        response.end();
      }
    }
    return true;
  }

  async function handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const url = request.url ?? '/';
    const path = url.split('?')[0]!;
    const proxied: ProxiedRequest = { method: request.method ?? 'GET', url, path, headers: request.headers };
    const record: RequestRecord = { seq: log.length, method: proxied.method, path };
    log.push(record);
    const finish = () => {
      if (record.completedSeq === undefined) record.completedSeq = completed++;
    };

    for (const rule of rules) {
      if ((rule.times ?? Infinity) <= (ruleUses.get(rule) ?? 0) || !rule.match(proxied)) continue;
      if (await runRule(rule, request, response, proxied, record)) {
        finish();
        return;
      }
      break; // the rule declined after reading the request: forward it as it came
    }

    const fault = chooseFault(proxied, hasBody(request));
    record.fault = fault;
    const socket = request.socket;

    if (fault && NOT_FORWARDED.has(fault)) {
      switch (fault) {
        case 'reset-before':
          socket.destroy();
          return;
        case 'stall': {
          request.resume();
          const timer = setTimeout(() => {
            stalled.delete(timer);
            socket.destroy();
          }, faults?.stallMs ?? 20_000);
          stalled.add(timer);
          return;
        }
        default: {
          request.resume();
          const status = Number(fault.slice('status-'.length, 'status-'.length + 3));
          const headers: Record<string, string> = { 'content-type': 'application/json', connection: 'close' };
          if (fault === 'status-429-retry-after') headers['retry-after'] = '1';
          const code = status === 429 ? 'TOOMANYREQUESTS' : 'UNKNOWN';
          const body = JSON.stringify({ errors: [{ code, message: `injected ${fault}` }] });
          response.writeHead(status, headers);
          response.end(proxied.method === 'HEAD' ? undefined : body);
          return;
        }
      }
    }

    const out = upstream(request, record);
    out.on('error', () => socket.destroy());
    if (fault === 'reset-request-body') {
      const declared = Number(request.headers['content-length'] ?? 0);
      const cut = declared > 1 ? Math.floor(declared / 2) : 1;
      let sent = 0;
      request.on('data', (chunk: Buffer) => {
        if (sent >= cut) return;
        const part = chunk.subarray(0, Math.max(0, cut - sent));
        sent += part.length;
        out.write(part);
        if (sent >= cut) {
          out.destroy();
          socket.destroy();
        }
      });
      request.on('end', () => {
        out.destroy();
        socket.destroy();
      });
      return;
    }
    request.pipe(out);

    out.on('response', async (res) => {
      finish();
      const status = res.statusCode ?? 502;
      const headers = { ...res.headers };
      const declared = Number(headers['content-length'] ?? NaN);
      try {
        if (fault === 'reset-response') {
          // Applied upstream; the client never learns it.
          if (!Number.isFinite(declared) || declared === 0 || proxied.method === 'HEAD') {
            res.resume();
            socket.destroy();
            return;
          }
          response.writeHead(status, headers);
          let sent = 0;
          for await (const chunk of res) {
            const part = (chunk as Buffer).subarray(0, Math.max(0, Math.floor(declared / 2) - sent));
            if (part.length) response.write(part);
            sent += part.length;
            if (sent >= Math.floor(declared / 2)) break;
          }
          socket.destroy();
          return;
        }
        if (fault === 'truncate' && status === 200) {
          delete headers['content-length'];
          headers.connection = 'close';
          response.writeHead(status, headers);
          const keep = Number.isFinite(declared) ? Math.floor(declared / 2) : 1;
          let sent = 0;
          for await (const chunk of res) {
            const part = (chunk as Buffer).subarray(0, Math.max(0, keep - sent));
            if (part.length) response.write(part);
            sent += part.length;
            if (sent >= keep) break;
          }
          res.destroy();
          response.end();
          return;
        }
        if (fault === 'wrong-length' && status === 200 && Number.isFinite(declared)) {
          headers['content-length'] = String(declared + 1024);
          response.writeHead(status, headers);
          for await (const chunk of res) response.write(chunk);
          // Fewer bytes than announced, then the connection goes away.
          await delay(5);
          socket.destroy();
          return;
        }
        response.writeHead(status, headers);
        if (fault === 'slow') {
          await delay(100);
          for await (const chunk of res) {
            const bytes = chunk as Buffer;
            for (let i = 0; i < bytes.length; i += 64 * 1024) {
              response.write(bytes.subarray(i, i + 64 * 1024));
              await delay(10);
            }
          }
          response.end();
          return;
        }
        if (fault === 'flip-byte' && status === 200 && Number.isFinite(declared) && declared > 0) {
          const at = Math.floor(keyedRandom(faults?.seed ?? 0, `${record.seq}/flip`) * declared);
          let offset = 0;
          for await (const chunk of res) {
            const bytes = Buffer.from(chunk as Buffer);
            if (at >= offset && at < offset + bytes.length) bytes[at - offset]! ^= 0x20;
            offset += bytes.length;
            response.write(bytes);
          }
          response.end();
          return;
        }
        res.pipe(response);
      } catch {
        socket.destroy();
      }
    });
  }

  const listener = (request: http.IncomingMessage, response: http.ServerResponse) => {
    handle(request, response).catch(() => request.socket.destroy());
  };
  const server = initial.tls ? https.createServer({ key: initial.tls.key, cert: initial.tls.cert }, listener) : http.createServer(listener);
  server.keepAliveTimeout = 30_000;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const host = `127.0.0.1:${port}`;
  origin = `${initial.tls ? 'https' : 'http'}://${host}`;

  return {
    url: origin,
    host,
    location: (repoPath = '') => `${initial.tls ? 'oci' : 'oci+http'}://${host}${repoPath ? `/${repoPath}` : ''}`,
    log,
    stats() {
      const byKind: Partial<Record<FaultKind, number>> = {};
      let count = 0;
      let ruled = 0;
      for (const record of log) {
        if (record.rule) ruled++;
        if (!record.fault) continue;
        count++;
        byKind[record.fault] = (byKind[record.fault] ?? 0) + 1;
      }
      return { requests: log.length, faults: count, byKind, rules: ruled };
    },
    setFaults(options) {
      faults = options;
    },
    setRules(next) {
      rules = next;
      ruleUses.clear();
    },
    async stop() {
      for (const timer of stalled) clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      upstreamAgent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
