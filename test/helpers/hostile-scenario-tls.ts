// Scenario: an https registry (a TLS front on the proxy, trusted through NODE_EXTRA_CA_CERTS by the CLI) that
// tries to move the client to plain http: a token realm on http, a redirect to http, an upload Location on
// http. Driven through `oci-channel upload`; each must be refused before anything is sent in the clear, with a
// clear one-line error, and nothing published.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { writeHtpasswd } from '../harness/htpasswd.ts';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { buildValidPackages } from './hostile-packages.ts';
import { startHostileProxy, type HostileProxy, type Rule } from './hostile-proxy.ts';
import { REGISTRY_USER, startForeign, type ForeignOrigin } from './hostile-scenario-registry.ts';
import { credentialEnv } from './hostile-scenario-secrets.ts';
import { crashSigns, directStore, runCli, storedPackageSha256 } from './hostile-world.ts';

const run = promisify(execFile);

export interface TlsSetup {
  registry: RunningRegistry;
  proxy: HostileProxy;
  foreign: ForeignOrigin;
  dir: string;
  certFile: string;
  stop(): Promise<void>;
}

export async function setUpTls(): Promise<TlsSetup> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-tls-'));
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
  const htpasswd = path.join(dir, 'htpasswd');
  await writeHtpasswd(htpasswd, { [REGISTRY_USER.username]: REGISTRY_USER.password });
  const registry = await startRegistry({ auth: { kind: 'htpasswd', file: htpasswd } });
  const proxy = await startHostileProxy(registry.url, { tls: { key: await readFile(keyFile, 'utf8'), cert: await readFile(certFile, 'utf8') } });
  const foreign = await startForeign(registry);
  return {
    registry,
    proxy,
    foreign,
    dir,
    certFile,
    async stop() {
      await foreign.stop();
      await proxy.stop();
      await registry.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface TlsCase {
  id: string;
  why: string;
  rules: (ctx: { proxy: HostileProxy; foreign: ForeignOrigin; channel: string }) => Rule[];
  expect: RegExp;
}

export function tlsCases(): TlsCase[] {
  return [
    {
      id: 'tls-realm-http',
      why: 'an https registry announcing a token realm on plain http',
      rules: ({ foreign }) => [
        {
          name: 'http-realm',
          match: () => true,
          async answer({ forward }) {
            const answer = await forward();
            if (answer.status !== 401) return { status: answer.status, headers: answer.headers as Record<string, string>, body: answer.body };
            return { status: 401, headers: { 'www-authenticate': `Bearer realm="${foreign.url}/token",service="h7"` }, body: answer.body };
          },
        },
      ],
      expect: /realm on http/i,
    },
    {
      id: 'tls-redirect-http',
      why: 'an https registry redirecting manifest requests to plain http',
      rules: ({ foreign, channel }) => [
        {
          name: 'http-redirect',
          match: (r) => (r.method === 'HEAD' || r.method === 'GET') && new RegExp(`^/v2/${channel}/.+/manifests/`).test(r.path),
          answer: async ({ request }) => ({ status: 307, headers: { location: `${foreign.url}${request.url}` } }),
        },
      ],
      expect: /plain http|downgrade/i,
    },
    {
      id: 'tls-location-http',
      why: 'an https registry handing out an upload Location on plain http',
      rules: ({ foreign, channel }) => [
        {
          name: 'http-location',
          match: (r) => r.method === 'POST' && new RegExp(`^/v2/${channel}/.+/blobs/uploads/$`).test(r.path),
          async answer({ forward }) {
            const answer = await forward();
            const location = new URL(String(answer.headers.location ?? '/'), 'https://x');
            return { status: answer.status, headers: { ...(answer.headers as Record<string, string>), location: `${foreign.url}${location.pathname}${location.search}` }, body: answer.body };
          },
        },
      ],
      expect: /plain http|downgrade/i,
    },
  ];
}

export interface TlsOutcome {
  id: string;
  problems: string[];
  error?: string;
}

export async function runTlsCase(setup: TlsSetup, c: TlsCase): Promise<TlsOutcome> {
  const channel = `tls/${c.id}`;
  const location = setup.proxy.location(channel);
  const [pkg] = await buildValidPackages(path.join(setup.dir, c.id), 1, c.id.replace(/[^a-z0-9]/g, ''));
  const foreignBefore = setup.foreign.requests.length;
  setup.proxy.setRules(c.rules({ proxy: setup.proxy, foreign: setup.foreign, channel }));
  let result;
  try {
    result = await runCli(['upload', '--to', location, '--json', pkg!.file], {
      ...credentialEnv(location, REGISTRY_USER.username, REGISTRY_USER.password),
      NODE_EXTRA_CA_CERTS: setup.certFile,
    });
  } finally {
    setup.proxy.setRules([]);
  }
  const problems: string[] = [];
  let error: string | undefined;
  try {
    error = (JSON.parse(result.stdout) as { errors: Array<{ error: string }> }).errors[0]?.error;
  } catch {
    error = result.stderr.trim().split('\n').at(-1);
  }
  if (result.code === 0) problems.push('the upload succeeded');
  if (!error || !c.expect.test(error)) problems.push(`error does not say what went wrong: ${error ?? result.stderr.slice(0, 300)}`);
  if (crashSigns(result.stdout + result.stderr).length) problems.push(`crash: ${result.stderr.slice(0, 300)}`);
  const foreign = setup.foreign.requests.slice(foreignBefore);
  if (foreign.length) problems.push(`${foreign.length} request(s) went out over plain http (${foreign.filter((r) => r.authorization).length} with Authorization)`);
  const direct = directStore(setup.registry.location(channel), { credentials: REGISTRY_USER });
  try {
    if ((await storedPackageSha256(direct, pkg!.subdir, pkg!.filename)) !== undefined) problems.push('the package was published');
  } finally {
    await direct.close();
  }
  return { id: c.id, problems, error };
}
