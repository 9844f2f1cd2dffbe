// An HTTP(S) conda channel as a mirror reads it, the way a conda client does: per subdir the CEP 16 shard index
// where offered (then only the shards of the names asked for), else repodata.json.zst, else repodata.json.
// Requests go through the OCI client's transport (keep-alive, timeouts, retries of connection failures and
// 5xx with backoff, redirects checked: never https -> http); every body read into memory is capped.
import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import { HttpTransport, OciError, discard, type HttpResponse } from '@oci-channel/oci';
import { decodeShard, decodeShardIndex, isValidSubdir, zstdDecompress, SHARD_INDEX_FILENAME } from '@oci-channel/conda';
import { errorLine } from '../core/open.ts';
import type { FetchedPackage, Upstream, UpstreamFile, UpstreamOptions, UpstreamSubdir } from './index.ts';
import { collectFiles, UpstreamError, writeHashed } from './records.ts';
import { ATTEMPTS, CONCURRENCY } from '../defaults.ts';

/** V8 cannot hold a longer string, so no bigger repodata.json can be parsed whole: shards are the way past it. */
const MAX_REPODATA = 512 * 1024 * 1024;
const MAX_SHARD_INDEX = 256 * 1024 * 1024;
const MAX_SHARD = 64 * 1024 * 1024;
const MAX_CHANNELDATA = 256 * 1024 * 1024;
/** Attempts per package download: the transport retries until the answer starts, not a body cut mid-way. */
const PACKAGE_ATTEMPTS = ATTEMPTS.upstreamPackage;
/** What #get's undefined looks like to sendAndRead: not 200, so nothing is read. */
const NOT_THERE = { status: 404 } as HttpResponse;

function channelBase(from: string): URL {
  let url: URL;
  try {
    url = new URL(from);
  } catch {
    throw new UpstreamError(`upstream ${JSON.stringify(from.slice(0, 200))} is not a URL; give an http(s) conda channel URL or an oci-channel location`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UpstreamError(`upstream ${url.protocol} URLs are not supported; give an http(s) conda channel URL or an oci-channel location`);
  }
  // anaconda.org puts a private channel's token in the path (`/t/<token>/owner`): as secret as a password, and it
  // would show in every message naming the upstream.
  if (url.username || url.password || /^\/t\/[^/]+\//.test(url.pathname)) {
    throw new UpstreamError('upstream URL holds credentials (user:password@ or an anaconda.org /t/<token>/ path); credentials never go on the command line (mirror public channels)');
  }
  url.search = '';
  url.hash = '';
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

function hex(value: unknown): unknown {
  return value instanceof Uint8Array ? Buffer.from(value).toString('hex') : value;
}

/** A base URL for package files: relative ones resolve against the index that named them. */
function packagesBase(baseUrl: unknown, index: URL): URL {
  const given = typeof baseUrl === 'string' && baseUrl !== '' ? baseUrl : './';
  const url = new URL(given.endsWith('/') ? given : `${given}/`, index);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UpstreamError(`upstream index ${index.href} gives packages a ${url.protocol} base URL; refused`);
  if (index.protocol === 'https:' && url.protocol === 'http:') throw new UpstreamError(`upstream index ${index.href} sends packages to plain http; refused`);
  return url;
}

class HttpUpstream implements Upstream {
  readonly display: string;
  readonly #base: URL;
  readonly #http: HttpTransport;
  readonly #concurrency: number;

  constructor(from: string, options: UpstreamOptions) {
    this.#base = channelBase(from);
    this.display = this.#base.href;
    this.#concurrency = options.concurrency ?? CONCURRENCY.upstream;
    this.#http = new HttpTransport({ registry: this.#base.host, concurrency: this.#concurrency, timeoutMs: options.timeoutMs ?? 60_000, userAgent: 'oci-channel-mirror' });
  }

  /** GET; undefined for 404/410 (an index format not offered), an UpstreamError for any other failure. */
  async #get(url: URL, signal?: AbortSignal): Promise<HttpResponse | undefined> {
    let res: HttpResponse;
    try {
      res = await this.#http.send({ method: 'GET', url, ...(signal ? { signal } : {}) });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new UpstreamError(`upstream ${url.href}: ${errorLine(error)}`, { cause: error });
    }
    if (res.status === 200) return res;
    await discard(res);
    if (res.status === 404 || res.status === 410) return undefined;
    throw new UpstreamError(`upstream ${url.href} answered HTTP ${res.status}; check the channel URL, or retry later`);
  }

  /** A whole small body (capped, sent again when cut mid-way), undefined when not there. */
  async #read(url: URL, cap: number, signal?: AbortSignal): Promise<Buffer | undefined> {
    try {
      const { res, bytes } = await this.#http.sendAndRead(
        async () => (await this.#get(url, signal)) ?? NOT_THERE,
        cap,
        url.pathname.split('/').pop() ?? url.href,
        { registry: this.#base.host },
      );
      if (res.status !== 200) return undefined;
      return bytes;
    } catch (error) {
      if (error instanceof UpstreamError || signal?.aborted) throw error;
      throw new UpstreamError(`upstream ${url.href}: ${errorLine(error)}`, { cause: error });
    }
  }

  async subdirs(signal?: AbortSignal): Promise<string[] | undefined> {
    const url = new URL('channeldata.json', this.#base);
    const bytes = await this.#read(url, MAX_CHANNELDATA, signal);
    if (!bytes) return undefined;
    let data: unknown;
    try {
      data = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new UpstreamError(`upstream ${url.href} is not JSON; name the subdirs to mirror instead`);
    }
    const subdirs = (data as { subdirs?: unknown } | null)?.subdirs;
    if (!Array.isArray(subdirs)) return undefined;
    return subdirs.filter((s): s is string => typeof s === 'string' && isValidSubdir(s)).sort();
  }

  async readSubdir(subdir: string, wantName: (name: string) => boolean, signal?: AbortSignal): Promise<UpstreamSubdir | undefined> {
    const dir = new URL(`${subdir}/`, this.#base);
    const shards = await this.#readShards(subdir, dir, wantName, signal);
    if (shards) return shards;
    const zst = new URL('repodata.json.zst', dir);
    const compressed = await this.#read(zst, MAX_REPODATA, signal);
    if (compressed) {
      let text: string;
      try {
        text = zstdDecompress(compressed, MAX_REPODATA).toString('utf8');
      } catch (error) {
        throw new UpstreamError(`upstream ${zst.href} does not decompress (${errorLine(error)}); it may be larger than ${MAX_REPODATA} bytes: mirror with --package or from a channel with shards`);
      }
      return this.#fromRepodata(subdir, zst, text, 'repodata.json.zst', wantName);
    }
    const plain = new URL('repodata.json', dir);
    const bytes = await this.#read(plain, MAX_REPODATA, signal);
    if (!bytes) return undefined;
    return this.#fromRepodata(subdir, plain, bytes.toString('utf8'), 'repodata.json', wantName);
  }

  #fromRepodata(subdir: string, url: URL, text: string, format: string, wantName: (name: string) => boolean): UpstreamSubdir {
    let data: Record<string, unknown>;
    try {
      data = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new UpstreamError(`upstream ${url.href} is not valid JSON`);
    }
    if (!data || typeof data !== 'object' || Array.isArray(data)) throw new UpstreamError(`upstream ${url.href} is not a repodata.json object`);
    const info = (data.info ?? {}) as Record<string, unknown>;
    if (info.subdir !== undefined && info.subdir !== subdir) throw new UpstreamError(`upstream ${url.href} says subdir ${JSON.stringify(info.subdir)}, not ${subdir}`);
    const base = packagesBase(info.base_url, url);
    const entries: Array<[string, Record<string, unknown>]> = [];
    for (const key of ['packages', 'packages.conda'] as const) {
      const map = data[key];
      if (map === undefined) continue;
      if (!map || typeof map !== 'object' || Array.isArray(map)) throw new UpstreamError(`upstream ${url.href}: "${key}" is not an object`);
      for (const [filename, record] of Object.entries(map)) {
        if ((key === 'packages') !== filename.endsWith('.tar.bz2')) continue; // each format in its own map
        entries.push([filename, record as Record<string, unknown>]);
      }
    }
    const { files, invalid } = collectFiles(subdir, entries, (filename) => new URL(encodeURIComponent(filename), base).href, wantName);
    return { subdir, format, files, invalid };
  }

  /** CEP 16: the shard index, then the shards of the wanted names (each checked against its sha256). */
  async #readShards(subdir: string, dir: URL, wantName: (name: string) => boolean, signal?: AbortSignal): Promise<UpstreamSubdir | undefined> {
    const indexUrl = new URL(SHARD_INDEX_FILENAME, dir);
    const bytes = await this.#read(indexUrl, MAX_SHARD_INDEX, signal);
    if (!bytes) return undefined;
    let index: ReturnType<typeof decodeShardIndex>;
    try {
      index = decodeShardIndex(bytes, `upstream ${indexUrl.href}`);
    } catch (error) {
      throw new UpstreamError(errorLine(error));
    }
    if (index.info.subdir !== undefined && index.info.subdir !== subdir) throw new UpstreamError(`upstream ${indexUrl.href} says subdir ${JSON.stringify(index.info.subdir)}, not ${subdir}`);
    const packages = packagesBase(index.info.base_url, indexUrl);
    const shardsBase = packagesBase(index.info.shards_base_url ?? './shards/', indexUrl);
    const limit = pLimit(this.#concurrency);
    const names = Object.keys(index.shards).filter(wantName).sort();
    const entries: Array<[string, Record<string, unknown>]> = [];
    await Promise.all(
      names.map((name) =>
        limit(async () => {
          const digest = Buffer.from(index.shards[name]!).toString('hex');
          const url = new URL(`${digest}.msgpack.zst`, shardsBase);
          const shardBytes = await this.#read(url, MAX_SHARD, signal);
          if (!shardBytes) throw new UpstreamError(`upstream ${url.href} (the shard of ${name} its index names) is missing`);
          if (createHash('sha256').update(shardBytes).digest('hex') !== digest) throw new UpstreamError(`upstream ${url.href} does not hash to the sha256 its shard index gives; refused`);
          let shard: ReturnType<typeof decodeShard>;
          try {
            shard = decodeShard(shardBytes, `upstream ${url.href}`);
          } catch (error) {
            throw new UpstreamError(errorLine(error));
          }
          for (const key of ['packages', 'packages.conda'] as const) {
            for (const [filename, raw] of Object.entries(shard[key])) {
              if ((key === 'packages') !== filename.endsWith('.tar.bz2')) continue;
              if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
                entries.push([filename, raw]); // refused, with its reason, by collectFiles
                continue;
              }
              // md5/sha256 travel as bytes in shards; run_exports ride along (CEP 21) but are no repodata.json field.
              const { run_exports: _runExports, ...record } = raw;
              for (const field of ['md5', 'sha256'] as const) if (record[field] !== undefined) record[field] = hex(record[field]);
              entries.push([filename, record]);
            }
          }
        }),
      ),
    );
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const { files, invalid } = collectFiles(subdir, entries, (filename) => new URL(encodeURIComponent(filename), packages).href, wantName);
    return { subdir, format: 'shards', files, invalid };
  }

  async fetchPackage(file: UpstreamFile, to: string, options: { signal?: AbortSignal; onBytes?: (bytes: number) => void } = {}): Promise<FetchedPackage> {
    const url = new URL(file.source);
    for (let attempt = 1; ; attempt++) {
      const res = await this.#get(url, options.signal);
      if (!res) throw new UpstreamError(`upstream ${url.href} answered HTTP 404 though its index lists ${file.subdir}/${file.filename}`);
      try {
        return await writeHashed(res.body, to, file.size, `${file.subdir}/${file.filename}`, options);
      } catch (error) {
        if (error instanceof UpstreamError || error instanceof OciError || options.signal?.aborted || attempt >= PACKAGE_ATTEMPTS) {
          if (error instanceof UpstreamError) throw error;
          throw new UpstreamError(`upstream ${url.href}: ${errorLine(error)}`, { cause: error });
        }
        // The connection broke mid-body: fetch the file again from the start.
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  }

  async close(): Promise<void> {
    await this.#http.close();
  }
}

export function openHttpUpstream(from: string, options: UpstreamOptions): Upstream {
  return new HttpUpstream(from, options);
}
