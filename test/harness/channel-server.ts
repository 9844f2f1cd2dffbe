// A static conda channel on loopback, as a mirror's upstream: files served from a directory over plain HTTP,
// every request logged, with switches a test flips while it runs: hide a path (404) or serve other bytes for it
// (a package corrupted upstream).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export interface ChannelServer {
  /** `http://127.0.0.1:PORT/` */
  url: string;
  /** Paths requested (decoded, without the query), in order. */
  requests: string[];
  /** Paths answered 404 whatever the directory holds. */
  hidden: Set<string>;
  /** Paths answered with these bytes instead of the file's. */
  replaced: Map<string, Uint8Array>;
  stop(): Promise<void>;
}

export async function serveChannel(root: string): Promise<ChannelServer> {
  const requests: string[] = [];
  const hidden = new Set<string>();
  const replaced = new Map<string, Uint8Array>();
  const base = path.resolve(root);
  const server = http.createServer((req, res) => {
    void (async () => {
      const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      requests.push(pathname);
      const file = path.resolve(base, `.${pathname}`);
      const notFound = () => {
        res.statusCode = 404;
        res.end();
      };
      if (req.method !== 'GET' || hidden.has(pathname) || (file !== base && !file.startsWith(`${base}${path.sep}`))) return notFound();
      const other = replaced.get(pathname);
      if (other) {
        res.setHeader('content-length', other.byteLength);
        res.end(other);
        return;
      }
      try {
        const info = await stat(file);
        if (!info.isFile()) return notFound();
        res.setHeader('content-length', info.size);
        createReadStream(file).pipe(res);
      } catch {
        notFound();
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    requests,
    hidden,
    replaced,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
