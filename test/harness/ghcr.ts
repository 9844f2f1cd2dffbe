// A stand-in for ghcr.io: a loopback server in front of docker-registry (anonymous, CNCF distribution 2.8) that
// behaves as ghcr.io does where it differs from distribution, checked against public reports:
// - bearer tokens from its own /token endpoint (Basic auth: any username, the token as password; anonymous pull
//   tokens), with every request checked against GitHub's permission model (github-model.ts): push only where the
//   identity may create or write the package (403 DENIED otherwise), reads of private packages refused;
// - a PATCH carrying Content-Range whose body is over 4 MiB: 416 REQUESTED_RANGE_NOT_SATISFIABLE "the request body
//   is too large and exceeds the maximum permissible limit of 4.00MiB", after the whole body was read
//   (wasmCloud/wash-archive#268); unranged PATCH and monolithic PUT take any size;
// - no referrers API (a plain 404), no catalog, manifest DELETE answered 405 UNSUPPORTED (containers/skopeo#1880);
// - a cross-repository mount answered as a plain upload start (202);
// - OCI's single POST (`?digest=` with the bytes) answered as distribution answers it: 202, an upload session, the
//   body ignored. No public report says whether ghcr.io takes the single POST; this is the answer a client must
//   survive (it then PUTs the bytes to the session), and the one that costs it most;
// - tag lists in pages of 100 with Link headers;
// - blob GETs redirected (307) to a second origin that refuses requests carrying Authorization, and HEAD;
// - occasional 429 TOOMANYREQUESTS with the wait in the message ("retry-after: 10.3ms, allowed: 2000/minute",
//   chainguard-images/images#173), or GitHub's 403 "secondary rate limit" with retry-after.
// Every manifest push is recorded as a package version in the model, which the REST fake serves.
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GithubModel, type GithubIdentity, type PackageRecord, type PackageVersionRecord } from './github-model.ts';
import { startRegistry, type RunningRegistry } from './registry.ts';

/** ghcr.io's cap on the body of a ranged PATCH. */
export const GHCR_RANGED_PATCH_LIMIT = 4 * 1024 * 1024;

export interface GhcrOptions {
  model: GithubModel;
  /** Ranged PATCH bodies over this are refused with 416 (default 4 MiB). */
  rangedPatchLimit?: number;
  /** Announce OCI-Chunk-Max-Length on upload sessions (ghcr.io does not; other registries may). */
  chunkMaxLength?: number;
  /** Answer every Nth rate-limited request with 429 and the wait in the body (0: never). */
  tooManyRequestsEvery?: number;
  /** The wait a 429 asks for (default 150 ms). */
  tooManyRequestsWaitMs?: number;
  /** Answer every Nth rate-limited request with GitHub's 403 secondary rate limit and `retry-after: 1` (0: never). */
  secondaryRateLimitEvery?: number;
  /** Tags per page (ghcr.io: 100). */
  tagPageSize?: number;
}

export interface GhcrLogEntry {
  origin: 'registry' | 'storage';
  method: string;
  /** Path and query. */
  url: string;
  status: number;
  requestBytes: number;
  authorization: boolean;
  /** Login of the identity behind the token, when there was one. */
  identity?: string;
}

export interface RunningGhcr {
  /** 127.0.0.1:PORT */
  host: string;
  url: string;
  /** `oci+http://127.0.0.1:PORT/<path>` */
  location(path?: string): string;
  /** The blob storage origin GETs are redirected to. */
  storageUrl: string;
  backend: RunningRegistry;
  model: GithubModel;
  log: GhcrLogEntry[];
  options: GhcrOptions;
  /** Removes a package version's manifest from the registry (the REST fake's onDeleteVersion). */
  removeVersion(pkg: PackageRecord, version: PackageVersionRecord): Promise<void>;
  stop(): Promise<void>;
}

interface IssuedToken {
  identity?: GithubIdentity;
  /** repository -> actions asked for. */
  scopes: Map<string, Set<string>>;
  expiresAt: number;
}

const json = (status: number, code: string, message: string) => ({ status, body: JSON.stringify({ errors: [{ code, message, detail: null }] }) });

/** `10.305464ms`, `1.5s`: Go's duration format, as ghcr.io writes the wait. */
function goDuration(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(6)}s` : `${ms.toFixed(6)}ms`;
}

export async function startGhcr(options: GhcrOptions): Promise<RunningGhcr> {
  const backend = await startRegistry({ deleteEnabled: true });
  const model = options.model;
  const tokens = new Map<string, IssuedToken>();
  const log: GhcrLogEntry[] = [];
  const signingKey = randomBytes(32);
  let limited = 0;
  let host = '';
  let storageUrl = '';

  const sign = (path: string, expires: number) => createHmac('sha256', signingKey).update(`${path}\n${expires}`).digest('hex');

  /** Sends a request to docker-registry, streaming `body` (the client's request) when given. */
  const forward = (req: IncomingMessage, res: ServerResponse, path: string, entry: GhcrLogEntry, after?: (status: number, headers: http.IncomingHttpHeaders) => void, body?: Buffer) => {
    const headers = { ...req.headers, host };
    delete headers.authorization;
    if (body) {
      headers['content-length'] = String(body.length);
      delete headers['transfer-encoding'];
    }
    const upstream = http.request({ host: '127.0.0.1', port: backend.port, method: req.method, path, headers }, (up) => {
      entry.status = up.statusCode ?? 502;
      after?.(entry.status, up.headers);
      res.writeHead(entry.status, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    if (body) upstream.end(body);
    else if (req.method === 'GET' || req.method === 'HEAD') upstream.end();
    else {
      req.on('data', (chunk: Buffer) => (entry.requestBytes += chunk.length));
      req.pipe(upstream);
    }
  };

  const answer = (res: ServerResponse, entry: GhcrLogEntry, reply: { status: number; body?: string }, headers: Record<string, string> = {}) => {
    entry.status = reply.status;
    res.writeHead(reply.status, { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0', ...headers });
    res.end(reply.body ?? '');
  };

  const challenge = (repository: string | undefined, actions: string, error?: string) => {
    const realm = `http://${host}/token`;
    const scope = repository ? `,scope="repository:${repository}:${actions}"` : '';
    return { 'www-authenticate': `Bearer realm="${realm}",service="ghcr.io"${scope}${error ? `,error="${error}"` : ''}` };
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const entry: GhcrLogEntry = { origin: 'registry', method: req.method ?? 'GET', url: req.url ?? '/', status: 0, requestBytes: 0, authorization: Boolean(req.headers.authorization) };
    log.push(entry);
    const drain = () => req.on('data', (chunk: Buffer) => (entry.requestBytes += chunk.length)).resume();

    // The token endpoint.
    if (url.pathname === '/token') {
      drain();
      let identity: GithubIdentity | undefined;
      const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
      if (basic) {
        const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
        identity = model.identity(decoded.slice(decoded.indexOf(':') + 1));
        if (!identity) return answer(res, entry, json(401, 'UNAUTHORIZED', 'authentication required'));
      }
      const scopes = new Map<string, Set<string>>();
      for (const scope of url.searchParams.getAll('scope').flatMap((s) => s.split(' '))) {
        const m = /^repository:([^:]+):([a-z,*]+)$/.exec(scope);
        if (!m) continue;
        const set = scopes.get(m[1]!) ?? new Set<string>();
        for (const a of m[2]!.split(',')) set.add(a);
        scopes.set(m[1]!, set);
      }
      const token = randomUUID();
      tokens.set(token, { identity, scopes, expiresAt: Date.now() + 300_000 });
      entry.identity = identity?.login;
      return answer(res, entry, { status: 200, body: JSON.stringify({ token, expires_in: 300 }) });
    }

    if (url.pathname === '/v2/' || url.pathname === '/v2') {
      drain();
      const issued = tokens.get(/^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '');
      return issued ? answer(res, entry, { status: 200, body: '{}' }) : answer(res, entry, json(401, 'UNAUTHORIZED', 'authentication required'), challenge(undefined, ''));
    }
    const route = /^\/v2\/(.+?)\/(blobs\/uploads\/.*|blobs\/[^/]+|manifests\/[^/]+|tags\/list|referrers\/[^/]+)$/.exec(url.pathname);
    if (!route || url.pathname.startsWith('/v2/_catalog')) {
      drain();
      entry.status = 404;
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('404 page not found\n');
      return;
    }
    const repository = route[1]!;
    const rest = route[2]!;
    // No referrers API: the route is not there at all (a plain 404, no OCI error body).
    if (rest.startsWith('referrers/')) {
      drain();
      entry.status = 404;
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('404 page not found\n');
      return;
    }
    if (rest.startsWith('manifests/') && req.method === 'DELETE') {
      drain();
      return answer(res, entry, json(405, 'UNSUPPORTED', 'The operation is unsupported.'));
    }

    const write = req.method !== 'GET' && req.method !== 'HEAD';
    const issued = tokens.get(/^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '');
    if (!issued || issued.expiresAt < Date.now()) {
      drain();
      return answer(res, entry, json(401, 'UNAUTHORIZED', 'authentication required'), challenge(repository, write ? 'pull,push' : 'pull'));
    }
    entry.identity = issued.identity?.login;
    const granted = issued.scopes.get(repository);
    if (!granted?.has(write ? 'push' : 'pull')) {
      drain();
      return answer(res, entry, json(401, 'UNAUTHORIZED', 'authentication required'), challenge(repository, write ? 'pull,push' : 'pull', 'insufficient_scope'));
    }

    // GitHub's permission model, live.
    const { owner, name } = GithubModel.split(repository);
    const pkg = model.package(owner, name);
    const identity = issued.identity;
    if (!write && pkg && !model.canRead(identity, pkg)) {
      drain();
      if (!identity) return answer(res, entry, json(401, 'UNAUTHORIZED', 'authentication required'), challenge(repository, 'pull', 'insufficient_scope'));
      return answer(res, entry, json(403, 'DENIED', 'permission_denied: read_package'));
    }
    if (write) {
      const refusal = !identity
        ? 'authentication required'
        : identity.kind === 'app'
          ? 'installation not allowed to Write organization package'
          : !GithubModel.packagesToken(identity)
            ? 'permission_denied: write_package'
            : pkg
              ? model.canWrite(identity, pkg)
                ? undefined
                : 'permission_denied: write_package'
              : model.canCreate(identity, owner)
                ? undefined
                : 'permission_denied: create_package';
      if (refusal) {
        drain();
        return answer(res, entry, json(403, 'DENIED', refusal));
      }
    }

    // Rate limits on the small requests (session starts, manifests, tags): what a burst of pushes hits first.
    const small = !(rest.startsWith('blobs/uploads/') && (req.method === 'PATCH' || req.method === 'PUT')) && !(rest.startsWith('blobs/') && req.method === 'GET');
    if (small && (options.tooManyRequestsEvery || options.secondaryRateLimitEvery)) {
      limited++;
      if (options.tooManyRequestsEvery && limited % options.tooManyRequestsEvery === 0) {
        drain();
        return answer(res, entry, json(429, 'TOOMANYREQUESTS', `retry-after: ${goDuration(options.tooManyRequestsWaitMs ?? 150)}, allowed: 2000/minute`));
      }
      if (options.secondaryRateLimitEvery && limited % options.secondaryRateLimitEvery === 0) {
        drain();
        return answer(res, entry, json(403, 'DENIED', 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.'), { 'retry-after': '1' });
      }
    }

    // Uploads: a mount is a plain upload start; a ranged PATCH over the cap is refused after its body was read.
    if (rest.startsWith('blobs/uploads/')) {
      if (req.method === 'POST') {
        url.searchParams.delete('mount');
        url.searchParams.delete('from');
        const path = `${url.pathname}${url.searchParams.size ? `?${url.searchParams}` : ''}`;
        return forward(req, res, path, entry, (status, headers) => {
          if (status === 202 && options.chunkMaxLength) headers['oci-chunk-max-length'] = String(options.chunkMaxLength);
        });
      }
      if (req.method === 'PATCH' && req.headers['content-range']) {
        const cap = options.rangedPatchLimit ?? GHCR_RANGED_PATCH_LIMIT;
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => {
          entry.requestBytes += chunk.length;
          if (entry.requestBytes <= cap) chunks.push(chunk);
        });
        req.on('end', () => {
          if (entry.requestBytes > cap) {
            answer(res, entry, json(416, 'REQUESTED_RANGE_NOT_SATISFIABLE', `the request body is too large and exceeds the maximum permissible limit of ${(cap / 1048576).toFixed(2)}MiB`));
            return;
          }
          forward(req, res, req.url!, entry, undefined, Buffer.concat(chunks));
        });
        return;
      }
      return forward(req, res, req.url!, entry);
    }

    if (rest.startsWith('blobs/') && req.method === 'GET') {
      drain();
      const path = `/v2/${repository}/${rest}`;
      const expires = Date.now() + 60_000;
      entry.status = 307;
      res.writeHead(307, { location: `${storageUrl}${path}?se=${expires}&sig=${sign(path, expires)}`, 'content-length': '0' }).end();
      return;
    }

    if (rest.startsWith('manifests/') && req.method === 'PUT') {
      const reference = decodeURIComponent(rest.slice('manifests/'.length));
      return forward(req, res, req.url!, entry, (status, headers) => {
        if (status !== 201 || !identity) return;
        const digest = String(headers['docker-content-digest'] ?? '');
        const record = model.package(owner, name) ?? model.createPackage(owner, name, identity.kind === 'workflow' ? { login: identity.login, repository: identity.login } : { login: identity.login });
        model.recordVersion(record, digest, reference.includes(':') ? undefined : reference);
      });
    }

    if (rest === 'tags/list' && req.method === 'GET') {
      drain();
      const upstream = http.request({ host: '127.0.0.1', port: backend.port, method: 'GET', path: `/v2/${repository}/tags/list`, headers: { host } }, (up) => {
        const parts: Buffer[] = [];
        up.on('data', (c: Buffer) => parts.push(c));
        up.on('end', () => {
          if (up.statusCode !== 200) {
            entry.status = up.statusCode ?? 502;
            res.writeHead(entry.status, up.headers).end(Buffer.concat(parts));
            return;
          }
          const all = ((JSON.parse(Buffer.concat(parts).toString()) as { tags?: string[] | null }).tags ?? []).sort();
          const pageSize = Math.min(options.tagPageSize ?? 100, Math.max(1, Number(url.searchParams.get('n') ?? 100)));
          const last = url.searchParams.get('last');
          const from = last ? all.findIndex((t) => t > last) : 0;
          const page = from < 0 ? [] : all.slice(from, from + pageSize);
          const headers: Record<string, string> = {};
          if (from >= 0 && from + pageSize < all.length) {
            headers.link = `</v2/${repository}/tags/list?last=${encodeURIComponent(page.at(-1)!)}&n=${pageSize}>; rel="next"`;
          }
          answer(res, entry, { status: 200, body: JSON.stringify({ name: repository, tags: page }) }, headers);
        });
      });
      upstream.on('error', () => res.destroy());
      upstream.end();
      return;
    }
    return forward(req, res, req.url!, entry);
  });

  // The blob storage: presigned URLs only, no Authorization, no HEAD.
  const storage = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const entry: GhcrLogEntry = { origin: 'storage', method: req.method ?? 'GET', url: req.url ?? '/', status: 0, requestBytes: 0, authorization: Boolean(req.headers.authorization) };
    log.push(entry);
    req.resume();
    const refuse = (status: number, code: string, message: string) => {
      entry.status = status;
      res.writeHead(status, { 'content-type': 'application/xml' }).end(`<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`);
    };
    if (req.headers.authorization) return refuse(400, 'InvalidAuthenticationInfo', 'Only one auth mechanism allowed; only the sig query parameter is accepted');
    if (req.method !== 'GET') return refuse(403, 'AuthenticationFailed', 'Signature not valid for this method');
    const expires = Number(url.searchParams.get('se'));
    if (!(expires > Date.now()) || url.searchParams.get('sig') !== sign(url.pathname, expires)) return refuse(403, 'AuthenticationFailed', 'Signature not valid or expired');
    const headers: http.OutgoingHttpHeaders = { host };
    if (req.headers.range) headers.range = req.headers.range;
    const upstream = http.request({ host: '127.0.0.1', port: backend.port, method: 'GET', path: url.pathname, headers }, (up) => {
      entry.status = up.statusCode ?? 502;
      const out: http.OutgoingHttpHeaders = { 'content-type': 'application/octet-stream' };
      for (const h of ['content-length', 'content-range', 'accept-ranges'] as const) if (up.headers[h]) out[h] = up.headers[h];
      res.writeHead(entry.status, out);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    upstream.end();
  });

  const listen = (s: http.Server) =>
    new Promise<number>((resolve, reject) => {
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port));
    });
  const port = await listen(server);
  const storagePort = await listen(storage);
  host = `127.0.0.1:${port}`;
  storageUrl = `http://127.0.0.1:${storagePort}`;
  return {
    host,
    url: `http://${host}`,
    location: (path = '') => `oci+http://${host}${path ? `/${path}` : ''}`,
    storageUrl,
    backend,
    model,
    log,
    options,
    async removeVersion(pkg, version) {
      const res = await fetch(`${backend.url}/v2/${pkg.owner}/${pkg.name}/manifests/${version.name}`, { method: 'DELETE' });
      await res.arrayBuffer();
      if (res.status !== 202 && res.status !== 404) throw new Error(`the stand-in's registry did not delete ${pkg.name}@${version.name}: HTTP ${res.status}`);
    },
    async stop() {
      for (const s of [server, storage]) {
        s.closeAllConnections();
        await new Promise<void>((resolve) => s.close(() => resolve()));
      }
      await backend.stop();
    },
  };
}
