// A loopback token server for distribution's `auth.token`: checks Basic credentials, grants per-user actions by
// repository glob, and signs ES256 JWTs with a self-signed certificate (made with the openssl CLI) whose DER goes
// in the `x5c` header; the registry trusts it through `rootcertbundle`.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { SignJWT, importPKCS8 } from 'jose';
import type { RegistryAuth } from './registry.ts';

const run = promisify(execFile);

export interface Grant {
  /** Repository glob: `*` matches within one path component, `**` across components. */
  repository: string;
  actions: string[];
}

export interface TokenIssuerOptions {
  /** name -> password and grants. */
  users: Record<string, { password: string; grants: Grant[] }>;
  /** Grants for requests without credentials (none by default: anonymous gets an empty token). */
  anonymous?: Grant[];
  /** Which JSON field carries the token: `token`, `access_token`, or both (default). */
  field?: 'token' | 'access_token' | 'both';
  /** expires_in in seconds (default 300). */
  expiresIn?: number;
  /**
   * Grants to use instead of the user's for one token request (`n` is 1-based); undefined keeps the user's.
   * Lets a test hand out a narrower token than asked, e.g. only for the first request.
   */
  grantsFor?: (request: { n: number; user?: string; scopes: string[] }) => Grant[] | undefined;
}

export interface TokenRequestRecord {
  user?: string;
  scopes: string[];
  /** Actions granted per scope, as signed into the token. */
  granted: { type: string; name: string; actions: string[] }[];
}

export interface RunningTokenIssuer {
  /** http://127.0.0.1:PORT/token */
  realm: string;
  service: string;
  issuer: string;
  /** Registry auth config for startRegistry(). */
  registryAuth: RegistryAuth;
  /** Every token request, in order (no secrets). */
  requests: TokenRequestRecord[];
  /** Requests refused for bad credentials. */
  refused: number;
  stop(): Promise<void>;
}

function globToRegExp(glob: string): RegExp {
  const source = glob
    .split('**')
    .map((part) => part.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*'))
    .join('.*');
  return new RegExp(`^${source}$`);
}

function grantedActions(grants: Grant[], name: string, wanted: string[]): string[] {
  const allowed = new Set<string>();
  for (const grant of grants) {
    if (globToRegExp(grant.repository).test(name)) for (const a of grant.actions) allowed.add(a);
  }
  return wanted.filter((a) => allowed.has(a) || allowed.has('*'));
}

export async function startTokenIssuer(options: TokenIssuerOptions): Promise<RunningTokenIssuer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-token-'));
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=oci-channel-test-token-issuer',
  ]);
  const key = await importPKCS8(await readFile(keyFile, 'utf8'), 'ES256');
  const certPem = await readFile(certFile, 'utf8');
  const x5c = certPem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  const service = 'oci-channel-test-registry';
  const issuerName = 'oci-channel-test-issuer';
  const requests: TokenRequestRecord[] = [];
  let refused = 0;

  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname !== '/token') {
        res.writeHead(404).end();
        return;
      }
      let user: string | undefined;
      let grants = options.anonymous ?? [];
      const auth = req.headers.authorization;
      if (auth) {
        const m = /^Basic (.+)$/.exec(auth);
        const decoded = m ? Buffer.from(m[1]!, 'base64').toString('utf8') : '';
        const colon = decoded.indexOf(':');
        const name = decoded.slice(0, colon);
        const entry = colon > 0 ? options.users[name] : undefined;
        if (!entry || entry.password !== decoded.slice(colon + 1)) {
          refused++;
          res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
          return;
        }
        user = name;
        grants = entry.grants;
      }
      const scopes = url.searchParams.getAll('scope');
      grants = options.grantsFor?.({ n: requests.length + 1, user, scopes }) ?? grants;
      const access: TokenRequestRecord['granted'] = [];
      for (const scope of scopes.flatMap((s) => s.split(' ')).filter(Boolean)) {
        const parts = scope.split(':');
        if (parts.length < 3) continue;
        const type = parts[0]!;
        const actions = parts.at(-1)!.split(',');
        const name = parts.slice(1, -1).join(':');
        const granted = type === 'repository' ? grantedActions(grants, name, actions) : grantedActions(grants, `${type}:${name}`, actions);
        if (granted.length) access.push({ type, name, actions: granted });
      }
      requests.push({ user, scopes, granted: access });
      const now = Math.floor(Date.now() / 1000);
      const expiresIn = options.expiresIn ?? 300;
      const token = await new SignJWT({ access })
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT', x5c: [x5c] })
        .setIssuer(issuerName)
        .setSubject(user ?? '')
        .setAudience(url.searchParams.get('service') ?? service)
        .setIssuedAt(now)
        .setNotBefore(now - 5)
        .setExpirationTime(now + expiresIn)
        .setJti(randomUUID())
        .sign(key);
      const field = options.field ?? 'both';
      const body: Record<string, unknown> = { expires_in: expiresIn, issued_at: new Date(now * 1000).toISOString() };
      if (field !== 'access_token') body.token = token;
      if (field !== 'token') body.access_token = token;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    })().catch((error: unknown) => {
      res.writeHead(500).end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const realm = `http://127.0.0.1:${port}/token`;
  return {
    realm,
    service,
    issuer: issuerName,
    registryAuth: { kind: 'token', realm, service, issuer: issuerName, rootCertBundle: certFile },
    requests,
    get refused() {
      return refused;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
