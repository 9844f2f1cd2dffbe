// HTTP transport of the registry client: one keep-alive undici Agent per store (its per-origin connection cap
// is the per-registry concurrency limit), timeouts, retries with backoff and Retry-After, redirects followed by
// hand (no Authorization to another origin, no https->http), and size-capped body reads.
import { Readable, Transform, pipeline, type TransformCallback } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request, type Dispatcher } from 'undici';
import {
  DeniedError,
  InsecureError,
  NotFoundError,
  OciError,
  ProtocolError,
  RetryExhaustedError,
  TooLargeError,
  UnreachableError,
  UnauthorizedError,
  UnsupportedError,
  where,
  type OciErrorContext,
} from './errors.ts';

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export const MAX_REDIRECTS = 10;
/** Error bodies and token responses are read up to this, the rest is dropped unread. */
export const ERROR_BODY_CAP = 64 * 1024;

export interface SendOptions {
  method: Method;
  url: URL;
  headers?: Record<string, string>;
  /** Builds the body; called again for each replay. */
  body?: () => Readable | Uint8Array | string;
  /** Whether `body()` may be called again after a failure (requests without a body always can). */
  replayable?: boolean;
  /** Sent only while the request URL is on `authOrigin` (scheme, host and port). */
  authorization?: string;
  authOrigin?: string;
  /** GET/HEAD only: follow 301/302/303/307/308 (default true). */
  followRedirects?: boolean;
  /** false: one attempt only (uploads handle their own recovery). */
  retry?: boolean;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
  /** URL of the final hop. */
  url: URL;
}

export interface TransportOptions {
  concurrency?: number;
  timeoutMs?: number;
  /** `maxRateLimitWaitMs`: the longest wait a rate-limit answer may ask for and still be waited out (default 120 s). */
  retry?: { attempts?: number; baseDelayMs?: number; maxDelayMs?: number; maxRateLimitWaitMs?: number };
  userAgent?: string;
  /** Registry host, for messages. */
  registry: string;
}

export function header(res: { headers: HttpResponse['headers'] }, name: string): string | undefined {
  const value = res.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** Statuses worth sending again: timeouts, rate limits and server errors. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * Where a redirect may go. Throws InsecureError for a downgrade from https to http or a non-http(s) target,
 * ProtocolError for a bad Location or too many hops.
 */
export function checkRedirect(from: URL, location: string, hops: number, context: OciErrorContext = {}): URL {
  if (hops >= MAX_REDIRECTS) {
    throw new ProtocolError(`${where(context) || from.host} redirected more than ${MAX_REDIRECTS} times; giving up`, context);
  }
  return checkLocation(from, location, 'redirect', context);
}

/** Resolves a Location header against the URL that sent it; refuses https->http and other schemes. */
export function checkLocation(from: URL, location: string, what: string, context: OciErrorContext = {}): URL {
  let target: URL;
  try {
    target = new URL(location, from);
  } catch {
    throw new ProtocolError(`${where(context) || from.host} sent a ${what} to an invalid URL; the registry is misbehaving`, context);
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    throw new InsecureError(`${where(context) || from.host} sent a ${what} to a ${target.protocol} URL; refused`, context);
  }
  if (from.protocol === 'https:' && target.protocol === 'http:') {
    throw new InsecureError(
      `${where(context) || from.host} sent a ${what} from https to plain http (${target.host}); refused to downgrade`,
      context,
    );
  }
  return target;
}

/** Milliseconds of a Go duration (`10.305464ms`, `1.5s`, `2m0s`), as ghcr.io writes the wait; undefined when none. */
export function parseGoDuration(text: string): number | undefined {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const m = /^\s*((?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+)/.exec(text);
  if (!m) return undefined;
  let total = 0;
  for (const part of m[1]!.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(part[1]) * units[part[2]!]!;
  return total;
}

/** Whether an error message is a rate limit (ghcr.io's TOOMANYREQUESTS text, GitHub's "secondary rate limit"). */
export function isRateLimitMessage(message: string | undefined): boolean {
  return /rate limit|too many requests|retry-after:/i.test(message ?? '');
}

/** Milliseconds a Retry-After header asks for (seconds or an HTTP date), undefined when absent or bad. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Reads a whole body up to `cap` bytes; over the cap the stream is destroyed (never buffered) and TooLargeError thrown. */
export async function readCapped(res: HttpResponse, cap: number, what: string, context: OciErrorContext): Promise<Buffer> {
  const tooLarge = () =>
    new TooLargeError(`${what} from ${where(context) || res.url.host} is larger than ${cap} bytes; refused`, context);
  const declared = Number(header(res, 'content-length'));
  if (Number.isFinite(declared) && declared > cap) {
    abandon(res);
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    total += (chunk as Buffer).length;
    if (total > cap) {
      abandon(res);
      throw tooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}

/** Closes a body without reading it (its connection is not reused). */
export function abandon(res: HttpResponse): void {
  res.body.on('error', () => {});
  res.body.destroy();
}

/** Drops a body we do not need, reading at most a little of it so the connection can be reused. */
export async function discard(res: HttpResponse): Promise<void> {
  try {
    await res.body.dump({ limit: ERROR_BODY_CAP });
  } catch {
    // the connection is closed instead
  }
}

interface RegistryErrorBody {
  code?: string;
  message?: string;
}

/** The first OCI error of a body, read with a cap; a body over the cap is ignored, not buffered. */
export async function readRegistryError(res: HttpResponse): Promise<RegistryErrorBody> {
  if (res.status === 0) return {};
  try {
    const bytes = await readCapped(res, ERROR_BODY_CAP, 'error body', {});
    const parsed = JSON.parse(bytes.toString('utf8')) as { errors?: { code?: unknown; message?: unknown }[] };
    const first = parsed.errors?.[0];
    return {
      code: typeof first?.code === 'string' ? first.code.slice(0, 64) : undefined,
      message: typeof first?.message === 'string' ? first.message : undefined,
    };
  } catch {
    return {};
  }
}

function oneLine(text: string, max = 200): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}...` : flat;
}

/** The typed error for a response that did not succeed; reads (capped) and drops its body. */
export async function responseError(res: HttpResponse, what: string, context: OciErrorContext): Promise<OciError> {
  const { code, message } = res.status === 0 ? {} : await readRegistryError(res);
  const ctx: OciErrorContext = { ...context, status: res.status, code };
  const detail = `HTTP ${res.status}${code ? ` ${code}` : ''}${message ? `: ${oneLine(message)}` : ''}`;
  const at = where(ctx);
  if (res.status === 401) {
    return new UnauthorizedError(`${what} ${at} failed: ${detail}; check the credentials for ${context.registry}`, ctx);
  }
  if ((res.status === 403 || res.status === 429) && isRateLimitMessage(message)) {
    // A rate limit is never "no access": say so, and when to come back.
    return new RetryExhaustedError(`${what} ${at} was rate limited: ${detail}; retry later`, ctx);
  }
  if (res.status === 403 || code === 'DENIED') {
    return new DeniedError(`${what} ${at} failed: ${detail}; the credentials lack access to ${context.repository ?? context.registry}`, ctx);
  }
  if (res.status === 404) return new NotFoundError(`${what} ${at} failed: ${detail}; it does not exist`, ctx);
  if (res.status === 405 || code === 'UNSUPPORTED') {
    return new UnsupportedError(`${what} ${at} failed: ${detail}; the registry does not support it`, ctx);
  }
  if (res.status === 413) return new TooLargeError(`${what} ${at} failed: ${detail}; the registry refused the size`, ctx);
  if (isRetryableStatus(res.status)) {
    return new RetryExhaustedError(`${what} ${at} kept failing: ${detail}; retry later`, ctx);
  }
  return new ProtocolError(`${what} ${at} failed: ${detail}`, ctx);
}

/** A request body the connection stopped taking (not an OciError: send() treats it as a network failure). */
export class BodyStallError extends Error {
  constructor(ms: number, options?: ErrorOptions & { slowSource?: boolean }) {
    super(
      options?.slowSource
        ? `the request body's source gave no bytes for ${ms} ms`
        : `no bytes of the request body were accepted for ${ms} ms (stalled upload)`,
      options,
    );
    this.name = 'BodyStallError';
  }
}

/**
 * Passes a request body through and calls `onStall` when the connection takes none of it for `ms` while some is
 * waiting. The clock starts when the HTTP client starts reading (a request queued for a connection is not stalled),
 * and a slow source is not a stall: only bytes held here and not taken count.
 */
class BodyWatchdog extends Transform {
  stalled = false;
  /** Bytes held here that the connection has not taken yet. */
  get waiting(): boolean {
    return this.readableLength > 0 || this.writableLength > 0;
  }
  #last = Date.now();
  #started = false;
  readonly #timer: NodeJS.Timeout;

  constructor(ms: number, onStall: () => void) {
    super();
    this.once('resume', () => {
      this.#started = true;
      this.#last = Date.now();
    });
    this.#timer = setInterval(() => {
      if (this.#started && this.waiting && Date.now() - this.#last >= ms) {
        this.stalled = true;
        clearInterval(this.#timer);
        onStall();
      }
    }, Math.max(10, Math.min(1000, ms / 4)));
    this.#timer.unref();
  }

  /** The answer came: whatever happens to the rest of the body is no longer a stall of this request. */
  stop(): void {
    clearInterval(this.#timer);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#last = Date.now();
    callback(null, chunk);
  }

  override _read(size: number): void {
    this.#last = Date.now();
    super._read(size);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearInterval(this.#timer);
    callback(error);
  }

  override _flush(callback: TransformCallback): void {
    clearInterval(this.#timer);
    callback();
  }
}

/** The first `code` along an error's cause chain (undici may wrap the socket's error). */
function errorCode(error: unknown): string | undefined {
  for (let e = error as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && !e.code.startsWith('UND_ERR_SOCKET')) return e.code;
  }
  return undefined;
}

const TLS_CODES = /^(?:CERT_|ERR_TLS_|ERR_SSL_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|EPROTO$)/;

/**
 * A network failure that retrying will not cure, as one line naming the host and what to check: an unknown host or
 * a refused connection on first contact (once a registry has answered, these may be a restart and are retried),
 * and any TLS failure (certificate or protocol).
 */
export function unreachable(error: unknown, url: URL, contacted: boolean): string | undefined {
  const code = errorCode(error);
  if (!code) return undefined;
  const host = url.host;
  if (!contacted && (code === 'ENOTFOUND' || code === 'EAI_NONAME')) {
    return `cannot find host ${url.hostname} (DNS lookup failed): check the host name in the location`;
  }
  if (!contacted && code === 'ECONNREFUSED') {
    return `nothing answers at ${host} (connection refused): check the host and port in the location, and that the registry is running`;
  }
  if (TLS_CODES.test(code)) {
    const message = (error as Error).message ?? '';
    if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|packet length too long/i.test(message)) {
      return `${host} does not speak TLS (https) on this port: if it serves plain http, write the location as oci+http://${host}/PATH`;
    }
    return `TLS with ${host} failed (${code}): check that ${url.hostname} serves a certificate this machine trusts (NODE_EXTRA_CA_CERTS adds a private CA), or write oci+http:// for a registry on plain http`;
  }
  return undefined;
}

function isHeadersTimeout(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'UND_ERR_HEADERS_TIMEOUT';
}

/** A body already read, handed back as a response body (for callers that read or drop it as usual). */
function replayBody(bytes: Buffer): HttpResponse['body'] {
  const body = Readable.from([bytes], { objectMode: false }) as Readable & { dump?: () => Promise<void> };
  body.dump = async () => {
    body.destroy();
  };
  return body as unknown as HttpResponse['body'];
}

/**
 * How long a rate-limited answer asks to wait: 429, or 403 that is GitHub's secondary rate limit (retry-after,
 * x-ratelimit-remaining: 0, or the message says so). The wait comes from Retry-After, else from the body's
 * `retry-after: <duration>` (ghcr.io), else undefined (back off). `limited` is false for any other answer, whose body
 * is handed back unread in `res`.
 */
export async function rateLimitOf(res: HttpResponse): Promise<{ limited: boolean; waitMs?: number; res: HttpResponse }> {
  if (res.status !== 429 && res.status !== 403) return { limited: false, res };
  const asked = parseRetryAfter(header(res, 'retry-after'));
  if (res.status === 403 && asked === undefined && header(res, 'x-ratelimit-remaining') !== '0') {
    let bytes: Buffer;
    try {
      bytes = await readCapped(res, ERROR_BODY_CAP, 'error body', {});
    } catch {
      return { limited: false, res: { ...res, body: replayBody(Buffer.alloc(0)) } };
    }
    const again = { ...res, body: replayBody(bytes) };
    let message: string | undefined;
    try {
      message = (JSON.parse(bytes.toString('utf8')) as { errors?: Array<{ message?: string }>; message?: string }).errors?.[0]?.message;
    } catch {
      message = bytes.toString('utf8');
    }
    return isRateLimitMessage(message) ? { limited: true, res: again } : { limited: false, res: again };
  }
  if (asked !== undefined) return { limited: true, waitMs: asked, res };
  const reset = Number(header(res, 'x-ratelimit-reset'));
  if (header(res, 'x-ratelimit-remaining') === '0' && Number.isFinite(reset)) return { limited: true, waitMs: Math.max(0, reset * 1000 - Date.now()), res };
  // ghcr.io puts the wait in the message: "retry-after: 10.305464ms, allowed: 2000/minute".
  let bytes: Buffer = Buffer.alloc(0);
  try {
    bytes = await readCapped(res, ERROR_BODY_CAP, 'error body', {});
  } catch {
    // no readable body: back off
  }
  const inBody = /retry-after:\s*([0-9.]+(?:ns|us|µs|ms|s|m|h)[0-9.a-zµ]*)/i.exec(bytes.toString('utf8'));
  return { limited: true, waitMs: inBody ? parseGoDuration(inBody[1]!) : undefined, res: { ...res, body: replayBody(bytes) } };
}

export class HttpTransport {
  readonly agent: Agent;
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly maxRateLimitWaitMs: number;
  readonly timeoutMs: number;
  readonly userAgent: string;
  readonly registry: string;
  /** Origins that have answered at least once: a refused connection there is a restart, worth retrying. */
  readonly #contacted = new Set<string>();

  constructor(options: TransportOptions) {
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.attempts = Math.max(1, options.retry?.attempts ?? 5);
    this.baseDelayMs = options.retry?.baseDelayMs ?? 200;
    this.maxDelayMs = options.retry?.maxDelayMs ?? 30_000;
    this.maxRateLimitWaitMs = options.retry?.maxRateLimitWaitMs ?? 120_000;
    this.userAgent = options.userAgent ?? 'oci-channel';
    this.registry = options.registry;
    this.agent = new Agent({
      connections: Math.max(1, options.concurrency ?? 8),
      keepAliveTimeout: 30_000,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
  }

  /** Exponential backoff with jitter (half fixed, half random), capped. */
  backoff(attempt: number): number {
    const raw = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
    return raw / 2 + Math.random() * (raw / 2);
  }

  async send(options: SendOptions, context: OciErrorContext = {}): Promise<HttpResponse> {
    const canReplay = !options.body || options.replayable === true;
    const attempts = options.retry === false || !canReplay ? 1 : this.attempts;
    for (let attempt = 1; ; attempt++) {
      let res: HttpResponse;
      try {
        res = await this.#follow(options, context);
      } catch (error) {
        if (error instanceof OciError || options.signal?.aborted) throw error;
        const fatal = unreachable(error, options.url, this.#contacted.has(options.url.origin));
        if (fatal) throw new UnreachableError(fatal, { ...context, registry: context.registry ?? this.registry }, { cause: error });
        const why = oneLine((error as Error).message ?? String(error));
        if (attempt >= attempts) {
          const ctx = { ...context, registry: context.registry ?? this.registry };
          if (attempts === 1) {
            throw new OciError(`${options.method} ${where(ctx)} failed: ${why}`, ctx, { cause: error });
          }
          throw new RetryExhaustedError(`${options.method} ${where(ctx)} failed ${attempt} times: ${why}; retry later`, ctx, {
            cause: error,
          });
        }
        await sleep(this.backoff(attempt), undefined, { signal: options.signal });
        continue;
      }
      if ((res.status === 429 || res.status === 403) && attempt < attempts) {
        // Rate limits (429, GitHub's secondary limit as 403): wait what the registry asks, when that is not too long.
        const limit = await rateLimitOf(res);
        if (!limit.limited || (limit.waitMs !== undefined && limit.waitMs > this.maxRateLimitWaitMs)) return limit.res;
        await discard(limit.res);
        await sleep(limit.waitMs ?? this.backoff(attempt), undefined, { signal: options.signal });
        continue;
      }
      if (isRetryableStatus(res.status) && attempt < attempts) {
        const asked = parseRetryAfter(header(res, 'retry-after'));
        await discard(res);
        const wait = asked !== undefined ? Math.min(asked, this.maxDelayMs) : this.backoff(attempt);
        await sleep(wait, undefined, { signal: options.signal });
        continue;
      }
      return res;
    }
  }

  async #follow(options: SendOptions, context: OciErrorContext): Promise<HttpResponse> {
    let url = options.url;
    const follow = (options.method === 'GET' || options.method === 'HEAD') && options.followRedirects !== false;
    for (let hops = 0; ; hops++) {
      const headers: Record<string, string> = { 'user-agent': this.userAgent, ...options.headers };
      // Credentials go to their own origin only: never to a redirect target, storage backend or foreign Location.
      if (options.authorization && url.origin === options.authOrigin) headers.authorization = options.authorization;
      let body = options.body?.();
      let signal = options.signal;
      let watchdog: BodyWatchdog | undefined;
      if (body instanceof Readable) {
        // Stream bodies (blob uploads) get a progress timeout: no byte taken for timeoutMs aborts the request.
        const abort = new AbortController();
        watchdog = new BodyWatchdog(this.timeoutMs, () => abort.abort(new BodyStallError(this.timeoutMs)));
        body = pipeline(body, watchdog, () => {});
        signal = signal ? AbortSignal.any([signal, abort.signal]) : abort.signal;
      }
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, {
          method: options.method,
          headers,
          body,
          dispatcher: this.agent,
          signal,
          headersTimeout: this.timeoutMs,
          bodyTimeout: this.timeoutMs,
        });
      } catch (error) {
        // undici's header timer also runs while the body is sent: a timeout before the body was all taken is the
        // same stall, whichever timer noticed first.
        if (watchdog && !options.signal?.aborted && (watchdog.stalled || (isHeadersTimeout(error) && !watchdog.readableEnded))) {
          throw new BodyStallError(this.timeoutMs, { cause: error, slowSource: !watchdog.stalled && !watchdog.waiting });
        }
        throw error;
      }
      watchdog?.stop();
      this.#contacted.add(url.origin);
      const response: HttpResponse = { status: res.statusCode, headers: res.headers, body: res.body, url };
      const location = header(response, 'location');
      if (follow && [301, 302, 303, 307, 308].includes(res.statusCode) && location) {
        await discard(response);
        url = checkRedirect(url, location, hops, { ...context, registry: context.registry ?? this.registry });
        continue;
      }
      return response;
    }
  }

  /**
   * Sends and reads a small body whole (capped), sending again when the body is cut mid-way. Answers other than
   * `okStatus` come back unread for the caller to turn into an error.
   */
  async sendAndRead(
    send: () => Promise<HttpResponse>,
    cap: number,
    what: string,
    context: OciErrorContext,
    okStatus = 200,
  ): Promise<{ res: HttpResponse; bytes?: Buffer }> {
    for (let attempt = 1; ; attempt++) {
      const res = await send();
      if (res.status !== okStatus) return { res };
      try {
        return { res, bytes: await readCapped(res, cap, what, context) };
      } catch (error) {
        if (error instanceof OciError) throw error;
        if (attempt >= this.attempts) {
          const ctx = { ...context, registry: context.registry ?? this.registry };
          throw new RetryExhaustedError(`reading ${what} from ${where(ctx)} failed ${attempt} times: ${oneLine(String((error as Error).message ?? error))}`, ctx, {
            cause: error,
          });
        }
        await sleep(this.backoff(attempt));
      }
    }
  }

  /** Lets requests in flight finish for a moment, then cuts what is left (a caller that closes is done). */
  async close(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const closed = this.agent.close();
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), 1000);
    });
    if ((await Promise.race([closed, late])) === 'late') await this.agent.destroy();
    clearTimeout(timer);
  }
}
