// A loopback server speaking the Actions cache service's v1 protocol (what @actions/cache uses when
// ACTIONS_CACHE_URL is set): look up by key then restore-key prefixes, reserve, upload chunks, commit, download.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CacheEntry {
  id: number;
  key: string;
  version: string;
  committed: boolean;
  chunks: Array<{ start: number; bytes: Buffer }>;
  size?: number;
}

export interface FakeCacheService {
  /** ACTIONS_CACHE_URL (ends with '/'). */
  url: string;
  entries: CacheEntry[];
  /** `keys` of each lookup, in order. */
  lookups: string[][];
  stop(): Promise<void>;
}

export async function startCacheService(): Promise<FakeCacheService> {
  const entries: CacheEntry[] = [];
  const lookups: string[][] = [];
  let base = '';
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', base);
      const body = Buffer.concat(chunks);
      const json = (status: number, data?: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(data === undefined ? '' : JSON.stringify(data));
      };
      const committed = entries.filter((e) => e.committed);
      if (req.method === 'GET' && url.pathname === '/_apis/artifactcache/cache') {
        const keys = (url.searchParams.get('keys') ?? '').split(',');
        const version = url.searchParams.get('version');
        lookups.push(keys);
        const sameVersion = committed.filter((e) => e.version === version).reverse(); // newest first
        // The primary key must match exactly; restore keys match as prefixes, newest first.
        const hit =
          sameVersion.find((e) => e.key === keys[0]) ?? keys.slice(1).map((k) => sameVersion.find((e) => e.key.startsWith(k))).find(Boolean);
        if (!hit) return json(204);
        return json(200, { cacheKey: hit.key, scope: 'refs/heads/main', archiveLocation: `${base}/download/${hit.id}` });
      }
      if (req.method === 'POST' && url.pathname === '/_apis/artifactcache/caches') {
        const { key, version } = JSON.parse(body.toString()) as { key: string; version: string };
        if (entries.some((e) => e.key === key && e.version === version)) return json(409, { message: `cache ${key} already exists` });
        const entry: CacheEntry = { id: entries.length + 1, key, version, committed: false, chunks: [] };
        entries.push(entry);
        return json(201, { cacheId: entry.id });
      }
      const idMatch = /^\/_apis\/artifactcache\/caches\/(\d+)$/.exec(url.pathname);
      const entry = idMatch ? entries.find((e) => e.id === Number(idMatch[1])) : undefined;
      if (idMatch && !entry) return json(404, { message: 'no such cache' });
      if (req.method === 'PATCH' && entry) {
        const range = /^bytes (\d+)-(\d+)\/\*$/.exec(req.headers['content-range'] ?? '');
        if (!range || Number(range[2]) - Number(range[1]) + 1 !== body.length) return json(400, { message: 'bad content-range' });
        entry.chunks.push({ start: Number(range[1]), bytes: body });
        return json(204);
      }
      if (req.method === 'POST' && entry) {
        entry.size = (JSON.parse(body.toString()) as { size: number }).size;
        const total = entry.chunks.reduce((n, c) => n + c.bytes.length, 0);
        if (total !== entry.size) return json(400, { message: `size ${entry.size} but ${total} bytes uploaded` });
        entry.committed = true;
        return json(204);
      }
      const download = /^\/download\/(\d+)$/.exec(url.pathname);
      const stored = download ? committed.find((e) => e.id === Number(download[1])) : undefined;
      if (req.method === 'GET' && stored) {
        const bytes = Buffer.alloc(stored.size ?? 0);
        for (const c of stored.chunks) c.bytes.copy(bytes, c.start);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) });
        res.end(bytes);
        return;
      }
      json(404, { message: 'not found' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${base}/`,
    entries,
    lookups,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
