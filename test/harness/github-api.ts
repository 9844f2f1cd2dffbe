// A small loopback server speaking GitHub's REST wire format for the calls oci-channel makes:
// repository_dispatch and the container-package endpoints of GitHub Packages. It records every request
// so tests can check exactly what was sent; it enforces GitHub's dispatch limits and paginates with Link.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path with the query string, as received (percent-encoding kept). */
  url: string;
  path: string;
  query: Record<string, string>;
  authorization?: string;
  body?: unknown;
}

export interface FakePackageVersion {
  id: number;
  /** The manifest digest. */
  name: string;
  tags: string[];
  createdAt: string;
}

export interface FakeGithubApi {
  /** http://127.0.0.1:PORT (what GITHUB_API_URL is set to). */
  url: string;
  requests: RecordedRequest[];
  /** Dispatches accepted, in order: `repository` is `owner/repo`. */
  dispatches: Array<{ repository: string; eventType: string; clientPayload: Record<string, unknown> }>;
  /** Container packages per owner: name -> versions. */
  packages: Map<string, Map<string, FakePackageVersion[]>>;
  addPackage(owner: string, name: string, versions: FakePackageVersion[], ownerType?: 'org' | 'user'): void;
  /** Make matching requests fail with this status and message: `times` of them, after letting `skip` through. */
  failNext(match: { method: string; pathIncludes?: string }, status: number, message: string, times?: number, skip?: number): void;
  stop(): Promise<void>;
}

export interface FakeGithubApiOptions {
  /** The only token accepted (`Authorization: token X` or `Bearer X`). */
  token: string;
  /** Page size cap (GitHub: 100), smaller in tests to exercise pagination. */
  maxPerPage?: number;
}

export async function startGithubApi(options: FakeGithubApiOptions): Promise<FakeGithubApi> {
  const requests: RecordedRequest[] = [];
  const dispatches: FakeGithubApi['dispatches'] = [];
  const packages = new Map<string, Map<string, FakePackageVersion[]>>();
  const ownerTypes = new Map<string, 'org' | 'user'>();
  const failures: Array<{ method: string; pathIncludes?: string; status: number; message: string; times: number; skip: number }> = [];
  const maxPerPage = options.maxPerPage ?? 100;
  let base = '';

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= 1024 * 1024) chunks.push(chunk);
    });
    req.on('end', () => {
      const url = new URL(req.url ?? '/', base);
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        body = raw;
      }
      const recorded: RecordedRequest = {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        authorization: req.headers.authorization,
        body,
      };
      requests.push(recorded);
      const send = (status: number, data?: unknown, headers: Record<string, string> = {}) => {
        const text = data === undefined ? '' : JSON.stringify(data);
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
        res.end(text);
      };
      const error = (status: number, message: string) =>
        send(status, { message, documentation_url: 'https://docs.github.com/rest', status: String(status) });

      const auth = req.headers.authorization ?? '';
      if (auth !== `token ${options.token}` && auth !== `Bearer ${options.token}`) {
        return error(401, 'Bad credentials');
      }
      const failure = failures.find((f) => f.method === recorded.method && (!f.pathIncludes || req.url!.includes(f.pathIncludes)));
      if (failure && failure.skip > 0) {
        failure.skip--;
      } else if (failure) {
        if (--failure.times <= 0) failures.splice(failures.indexOf(failure), 1);
        return error(failure.status, failure.message);
      }

      // Path segments decoded one by one: a package name's '/' arrives as %2F inside one segment.
      const segments = url.pathname.split('/').slice(1).map(decodeURIComponent);
      const page = Math.max(1, Number(url.searchParams.get('page') ?? 1));
      const perPage = Math.min(maxPerPage, Math.max(1, Number(url.searchParams.get('per_page') ?? 30)));
      const paginate = <T>(items: T[], map: (item: T) => unknown) => {
        const slice = items.slice((page - 1) * perPage, page * perPage);
        const headers: Record<string, string> = {};
        const links: string[] = [];
        const lastPage = Math.max(1, Math.ceil(items.length / perPage));
        const pageUrl = (p: number) => {
          const next = new URL(url);
          next.searchParams.set('page', String(p));
          next.searchParams.set('per_page', String(perPage));
          return next.toString();
        };
        if (page < lastPage) links.push(`<${pageUrl(page + 1)}>; rel="next"`, `<${pageUrl(lastPage)}>; rel="last"`);
        if (page > 1) links.push(`<${pageUrl(1)}>; rel="first"`, `<${pageUrl(page - 1)}>; rel="prev"`);
        if (links.length) headers.link = links.join(', ');
        send(200, slice.map(map), headers);
      };

      // POST /repos/{owner}/{repo}/dispatches
      if (recorded.method === 'POST' && segments.length === 4 && segments[0] === 'repos' && segments[3] === 'dispatches') {
        const b = body as { event_type?: unknown; client_payload?: unknown } | undefined;
        if (!b || typeof b.event_type !== 'string' || b.event_type.length === 0 || b.event_type.length > 100) {
          return error(422, 'Invalid request. event_type must be 1-100 characters.');
        }
        if (b.client_payload !== undefined) {
          if (typeof b.client_payload !== 'object' || b.client_payload === null || Array.isArray(b.client_payload)) {
            return error(422, 'Invalid request. client_payload must be an object.');
          }
          if (Object.keys(b.client_payload).length > 10) {
            return error(422, 'Invalid request. No more than 10 properties are allowed; 11 were supplied.');
          }
          if (Buffer.byteLength(JSON.stringify(b.client_payload)) >= 64 * 1024) {
            return error(422, 'Invalid request. client_payload is too large.');
          }
        }
        dispatches.push({
          repository: `${segments[1]}/${segments[2]}`,
          eventType: b.event_type,
          clientPayload: (b.client_payload ?? {}) as Record<string, unknown>,
        });
        return send(204);
      }

      // /orgs/{org}/packages..., /users/{user}/packages...
      if ((segments[0] === 'orgs' || segments[0] === 'users') && segments[2] === 'packages') {
        const kind = segments[0] === 'orgs' ? 'org' : 'user';
        const owner = segments[1]!;
        const ownerPackages = packages.get(owner);
        if (!ownerPackages || ownerTypes.get(owner) !== kind) return error(404, 'Not Found');
        if (recorded.method === 'GET' && segments.length === 3) {
          if (url.searchParams.get('package_type') !== 'container') return error(422, 'package_type is required');
          const names = [...ownerPackages.keys()];
          return paginate(names, (name) => ({
            id: names.indexOf(name) + 1,
            name,
            package_type: 'container',
            visibility: 'public',
            owner: { login: owner },
          }));
        }
        if (segments[3] !== 'container') return error(404, 'Not Found');
        const versions = ownerPackages.get(segments[4] ?? '');
        if (!versions) return error(404, 'Package not found.');
        if (recorded.method === 'GET' && segments.length === 6 && segments[5] === 'versions') {
          return paginate(versions, (v) => ({
            id: v.id,
            name: v.name,
            created_at: v.createdAt,
            updated_at: v.createdAt,
            metadata: { package_type: 'container', container: { tags: v.tags } },
          }));
        }
        if (recorded.method === 'DELETE' && segments.length === 7 && segments[5] === 'versions') {
          const id = Number(segments[6]);
          const index = versions.findIndex((v) => v.id === id);
          if (index < 0) return error(404, 'Package version not found.');
          versions.splice(index, 1);
          return send(204);
        }
      }
      return error(404, 'Not Found');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: base,
    requests,
    dispatches,
    packages,
    addPackage(owner, name, versions, ownerType = 'org') {
      ownerTypes.set(owner, ownerType);
      if (!packages.has(owner)) packages.set(owner, new Map());
      packages.get(owner)!.set(name, versions.map((v) => ({ ...v, tags: [...v.tags] })));
    },
    failNext(match, status, message, times = 1, skip = 0) {
      failures.push({ ...match, status, message, times, skip });
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
