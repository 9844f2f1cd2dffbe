// A small loopback server speaking GitHub's REST wire format for the calls oci-channel makes: repository_dispatch,
// the repository (for scheduled-workflow activity), and the container-package endpoints of GitHub Packages, with
// the real rules over the shared permission model (github-model.ts): package names arrive %2F-encoded in one path
// segment, the last version of a package cannot be deleted (delete the package instead), deleting needs admin,
// private packages are invisible to whoever cannot read them, every answer carries the x-ratelimit-* headers of a
// per-token hourly budget (1,000 for a workflow token, 5,000 for a personal one) and a spent budget answers 403.
// It records every request so tests can check exactly what was sent; it enforces GitHub's dispatch limits and
// paginates with Link.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { GithubModel, type GithubIdentity, type PackageRecord, type PackageVersionRecord } from './github-model.ts';

export interface RecordedRequest {
  method: string;
  /** Path with the query string, as received (percent-encoding kept). */
  url: string;
  path: string;
  query: Record<string, string>;
  authorization?: string;
  body?: unknown;
}

export type FakePackageVersion = PackageVersionRecord;

export interface FakeGithubApi {
  /** http://127.0.0.1:PORT (what GITHUB_API_URL is set to). */
  url: string;
  requests: RecordedRequest[];
  /** Dispatches accepted, in order: `repository` is `owner/repo`. */
  dispatches: Array<{ repository: string; eventType: string; clientPayload: Record<string, unknown> }>;
  model: GithubModel;
  /** Container packages per owner: name -> versions (a view of the model; the arrays are the model's own). */
  readonly packages: Map<string, Map<string, FakePackageVersion[]>>;
  /** A public package of `owner` readable and deletable by the default token. */
  addPackage(owner: string, name: string, versions: FakePackageVersion[], ownerType?: 'org' | 'user'): void;
  /**
   * Make matching requests fail with this status and message (and headers): `times` of them, after letting `skip`
   * through.
   */
  failNext(match: { method: string; pathIncludes?: string }, status: number, message: string, times?: number, skip?: number, headers?: Record<string, string>): void;
  stop(): Promise<void>;
}

export interface FakeGithubApiOptions {
  /** A token accepted as a classic personal token owning every account addPackage creates. */
  token?: string;
  /** The accounts, identities and packages (shared with the ghcr.io stand-in); a new one by default. */
  model?: GithubModel;
  /** Page size cap (GitHub: 100), smaller in tests to exercise pagination. */
  maxPerPage?: number;
  /** Called before a package version is deleted (the stand-in removes the manifest from its registry). */
  onDeleteVersion?: (pkg: PackageRecord, version: PackageVersionRecord) => Promise<void>;
}

const DEFAULT_ADMIN = 'fake-admin';

export async function startGithubApi(options: FakeGithubApiOptions): Promise<FakeGithubApi> {
  const model = options.model ?? new GithubModel();
  if (options.token && !model.identity(options.token)) {
    model.addIdentity({ token: options.token, kind: 'classic-pat', login: DEFAULT_ADMIN, scopes: ['read:packages', 'write:packages', 'delete:packages'] });
  }
  const requests: RecordedRequest[] = [];
  const dispatches: FakeGithubApi['dispatches'] = [];
  const failures: Array<{ method: string; pathIncludes?: string; status: number; message: string; times: number; skip: number; headers: Record<string, string> }> = [];
  const budgets = new Map<string, { used: number; resetAt: number }>();
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
      void handle(Buffer.concat(chunks).toString('utf8')).catch(() => {
        if (!res.headersSent) res.writeHead(500).end('{"message":"fake server error"}');
      });
    });

    async function handle(raw: string): Promise<void> {
      const url = new URL(req.url ?? '/', base);
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
      let rateHeaders: Record<string, string> = {};
      const send = (status: number, data?: unknown, headers: Record<string, string> = {}) => {
        const text = data === undefined ? '' : JSON.stringify(data);
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...rateHeaders, ...headers });
        res.end(text);
      };
      const error = (status: number, message: string, headers: Record<string, string> = {}) =>
        send(status, { message, documentation_url: 'https://docs.github.com/rest', status: String(status) }, headers);

      const auth = /^(?:token|Bearer) (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const identity = model.identity(auth);
      if (!identity) return error(401, 'Bad credentials');

      // The hourly budget of this token.
      const limit = identity.restLimit ?? (identity.kind === 'workflow' ? 1000 : 5000);
      const now = Date.now();
      let budget = budgets.get(identity.token);
      if (!budget || budget.resetAt <= now) budgets.set(identity.token, (budget = { used: 0, resetAt: now + 3_600_000 }));
      budget.used++;
      rateHeaders = {
        'x-ratelimit-limit': String(limit),
        'x-ratelimit-remaining': String(Math.max(0, limit - budget.used)),
        'x-ratelimit-used': String(Math.min(budget.used, limit)),
        'x-ratelimit-reset': String(Math.ceil(budget.resetAt / 1000)),
        'x-ratelimit-resource': 'core',
      };
      if (budget.used > limit) {
        return error(403, `API rate limit exceeded for ${identity.kind === 'workflow' ? 'installation ID 1' : `user ${identity.login}`}.`);
      }

      const failure = failures.find((f) => f.method === recorded.method && (!f.pathIncludes || req.url!.includes(f.pathIncludes)));
      if (failure && failure.skip > 0) {
        failure.skip--;
      } else if (failure) {
        if (--failure.times <= 0) failures.splice(failures.indexOf(failure), 1);
        return error(failure.status, failure.message, failure.headers);
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

      // GET /repos/{owner}/{repo}
      if (recorded.method === 'GET' && segments.length === 3 && segments[0] === 'repos') {
        const repo = model.repositories.get(`${segments[1]}/${segments[2]}`.toLowerCase());
        if (!repo) return error(404, 'Not Found');
        return send(200, { full_name: repo.fullName, private: repo.visibility === 'private', visibility: repo.visibility, pushed_at: repo.pushedAt });
      }

      // /orgs/{org}/packages..., /users/{user}/packages...
      if ((segments[0] === 'orgs' || segments[0] === 'users') && segments[2] === 'packages') {
        const kind = segments[0] === 'orgs' ? 'org' : 'user';
        const account = model.accounts.get((segments[1] ?? '').toLowerCase());
        if (!account || account.type !== kind) return error(404, 'Not Found');
        if (!GithubModel.packagesToken(identity)) {
          return error(403, `Resource not accessible by ${identity.kind === 'app' ? 'integration' : 'personal access token'}`);
        }
        const visible = (p: PackageRecord) => model.canRead(identity, p);
        if (recorded.method === 'GET' && segments.length === 3) {
          if (url.searchParams.get('package_type') !== 'container') return error(422, 'package_type is required');
          return paginate(model.packagesOf(account.login).filter(visible), (p) => packageJson(p));
        }
        if (segments[3] !== 'container' || segments.length < 5) return error(404, 'Not Found');
        // A raw '/' in the name splits it into more segments: GitHub answers 404, so must we.
        const pkg = model.package(account.login, segments[4]!);
        if (!pkg || !visible(pkg)) return error(404, 'Package not found.');
        if (segments.length === 5 && recorded.method === 'GET') return send(200, packageJson(pkg));
        if (segments.length === 5 && recorded.method === 'DELETE') {
          if (!model.canDelete(identity, pkg)) return error(403, 'You need admin access to the package to delete it.');
          for (const v of [...pkg.versions]) await options.onDeleteVersion?.(pkg, v);
          model.deletePackage(pkg);
          return send(204);
        }
        if (recorded.method === 'GET' && segments.length === 6 && segments[5] === 'versions') {
          return paginate(pkg.versions, (v) => ({
            id: v.id,
            name: v.name,
            created_at: v.createdAt,
            updated_at: v.createdAt,
            metadata: { package_type: 'container', container: { tags: v.tags } },
          }));
        }
        if (recorded.method === 'DELETE' && segments.length === 7 && segments[5] === 'versions') {
          const id = Number(segments[6]);
          const version = pkg.versions.find((v) => v.id === id);
          if (!version) return error(404, 'Package version not found.');
          if (!model.canDelete(identity, pkg)) return error(403, 'You need admin access to the package to delete it.');
          if (pkg.versions.length === 1) return error(400, 'You cannot delete the last version of a package. You must delete the package instead.');
          await options.onDeleteVersion?.(pkg, version);
          pkg.versions.splice(pkg.versions.indexOf(version), 1);
          return send(204);
        }
      }
      return error(404, 'Not Found');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  function packageJson(p: PackageRecord) {
    const account = model.accounts.get(p.owner);
    const encoded = encodeURIComponent(p.name);
    const htmlBase = account?.type === 'user' ? `https://github.com/users/${p.owner}` : `https://github.com/orgs/${p.owner}`;
    return {
      id: p.id,
      name: p.name,
      package_type: 'container',
      owner: { login: p.owner, type: account?.type === 'user' ? 'User' : 'Organization' },
      version_count: p.versions.length,
      visibility: p.visibility,
      url: `${base}/${account?.type === 'user' ? 'users' : 'orgs'}/${p.owner}/packages/container/${encoded}`,
      html_url: `${htmlBase}/packages/container/package/${encoded}`,
      created_at: p.createdAt,
      updated_at: p.createdAt,
      ...(p.repository ? { repository: { full_name: p.repository } } : {}),
    };
  }

  const defaultLogin = options.token ? model.identity(options.token)?.login : undefined;
  return {
    url: base,
    requests,
    dispatches,
    model,
    get packages() {
      const view = new Map<string, Map<string, FakePackageVersion[]>>();
      for (const p of model.packages.values()) {
        if (!view.has(p.owner)) view.set(p.owner, new Map());
        view.get(p.owner)!.set(p.name, p.versions);
      }
      return view;
    },
    addPackage(owner, name, versions, ownerType = 'org') {
      const account =
        model.accounts.get(owner.toLowerCase()) ?? model.addAccount({ login: owner, type: ownerType, members: [], owners: [], defaultVisibility: 'public' });
      if (defaultLogin && !account.owners.includes(defaultLogin)) account.owners.push(defaultLogin);
      const pkg = model.createPackage(owner, name, { login: defaultLogin ?? 'someone' }, 'public');
      pkg.versions.push(...versions.map((v) => ({ ...v, tags: [...v.tags] })));
    },
    failNext(match, status, message, times = 1, skip = 0, headers = {}) {
      failures.push({ ...match, status, message, times, skip, headers });
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type { GithubIdentity };
