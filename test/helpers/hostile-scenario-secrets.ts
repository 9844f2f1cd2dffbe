// Scenario: tokens, scopes and secret leaks, on a registry with bearer-token auth (the token issuer harness).
// The staging credential cannot write production, and a promote holding only staging rights fails before it
// writes or deletes anything. Distinctive secrets given to every CLI command (env) and every action (INPUT_*)
// never appear in any output, error, summary, output file or cache, on success and failure paths alike.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { credentialKeys } from '@oci-channel/oci';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { startGithubApi, type FakeGithubApi } from '../harness/github-api.ts';
import { startTokenIssuer, type RunningTokenIssuer } from '../harness/token-issuer.ts';
import { startOidcIssuer, type RunningOidcIssuer } from '../harness/oidc-issuer.ts';
import { promotionAudience } from '@oci-channel/pipeline';
import { buildValidPackages, type BuiltPackage } from './hostile-packages.ts';
import { startHostileProxy, type HostileProxy } from './hostile-proxy.ts';
import { NODE, ROOT, crashSigns, directStore, runCli, storedPackageSha256, type CliResult } from './hostile-world.ts';

/** Canaries: distinctive enough that any appearance in output is a leak. */
export const SECRETS = {
  stagerPassword: 'h7Canary-StagePass-7f3a9c1e5b2d',
  promoterPassword: 'h7Canary-PromotePass-2d8b6e4f0a9c',
  githubToken: 'ghp_h7CanaryGithubToken0123456789abcdefAB',
  dispatchToken: 'ghp_h7CanaryDispatchToken9876543210zyxwvUT',
  verdictKey: 'h7Canary-VerdictKey-5e1f9a7c3b2d4e6f8a0b1c2d',
} as const;

export interface SecretsSetup {
  registry: RunningRegistry;
  issuer: RunningTokenIssuer;
  proxy: HostileProxy;
  github: FakeGithubApi;
  /** Stands in for GitHub's OIDC token service (the uploads' identity tokens). */
  oidc: RunningOidcIssuer;
  dir: string;
  staging: string;
  production: string;
  packages: BuiltPackage[];
  stop(): Promise<void>;
}

export async function setUpSecrets(): Promise<SecretsSetup> {
  const issuer = await startTokenIssuer({
    users: {
      // gc lists repositories through the catalog (scope registry:catalog:*).
      stager: { password: SECRETS.stagerPassword, grants: [{ repository: 'sec/staging/**', actions: ['pull', 'push', 'delete'] }, { repository: 'registry:catalog', actions: ['*'] }] },
      promoter: {
        password: SECRETS.promoterPassword,
        grants: [
          { repository: 'sec/staging/**', actions: ['pull', 'push', 'delete'] },
          { repository: 'sec/production/**', actions: ['pull', 'push', 'delete'] },
        ],
      },
    },
  });
  const registry = await startRegistry({ auth: issuer.registryAuth });
  const proxy = await startHostileProxy(registry.url);
  const github = await startGithubApi({ token: SECRETS.dispatchToken });
  const oidc = await startOidcIssuer();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-secrets-'));
  const packages = await buildValidPackages(path.join(dir, 'packages'), 3, 'sec');
  return {
    registry,
    issuer,
    proxy,
    github,
    oidc,
    dir,
    staging: proxy.location('sec/staging'),
    production: proxy.location('sec/production'),
    packages,
    async stop() {
      await proxy.stop();
      await registry.stop();
      await issuer.stop();
      await github.stop();
      await oidc.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Environment variables holding credentials for one channel location. */
export function credentialEnv(location: string, username: string, password: string): Record<string, string> {
  const url = new URL(location.replace(/^oci\+http:/, 'http:'));
  const key = credentialKeys({ kind: 'registry', host: url.host, path: url.pathname.slice(1), insecure: true } as never)[0]!;
  return { [`OCI_CHANNEL_${key}_USERNAME`]: username, [`OCI_CHANNEL_${key}_PASSWORD`]: password };
}

/** Every form a secret could leak in: as is, base64 of user:password, URL-encoded. */
export function forbiddenStrings(): string[] {
  const out: string[] = [];
  for (const value of Object.values(SECRETS)) out.push(value, encodeURIComponent(value));
  for (const [user, password] of [
    ['stager', SECRETS.stagerPassword],
    ['promoter', SECRETS.promoterPassword],
  ] as const) {
    out.push(Buffer.from(`${user}:${password}`).toString('base64'));
  }
  return out;
}

/** Where a canary (or a bearer JWT) shows up in `text`, ignoring the runner's own `::add-mask::` commands. */
export function leaksIn(text: string): string[] {
  const visible = text
    .split('\n')
    .filter((line) => !line.startsWith('::add-mask::'))
    .join('\n');
  const found = forbiddenStrings().filter((s) => visible.includes(s));
  if (/eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}/.test(visible)) found.push('a bearer token (JWT)');
  return found;
}

export interface LeakRun {
  label: string;
  code: number | null;
  leaks: string[];
  crash: string[];
}

function cliEnv(setup: SecretsSetup, productionUser: 'promoter' | 'stager' = 'promoter', stagingPassword: string = SECRETS.stagerPassword): Record<string, string> {
  const prodPassword = productionUser === 'promoter' ? SECRETS.promoterPassword : SECRETS.stagerPassword;
  return {
    ...credentialEnv(setup.staging, 'stager', stagingPassword),
    ...credentialEnv(setup.production, productionUser, prodPassword),
    GITHUB_TOKEN: SECRETS.githubToken,
    OCI_CHANNEL_VERDICT_KEY: SECRETS.verdictKey,
  };
}

function leakRun(label: string, result: CliResult, extra = ''): LeakRun {
  const text = `${result.stdout}\n${result.stderr}\n${extra}`;
  return { label, code: result.code, leaks: leaksIn(text), crash: crashSigns(text) };
}

/** Runs every CLI command, on success and on failure paths, with secrets in the environment. */
export async function cliLeakRuns(setup: SecretsSetup): Promise<LeakRun[]> {
  const runs: LeakRun[] = [];
  const files = setup.packages.map((p) => p.file);
  const refs = setup.packages.map((p) => `${p.subdir}/${p.filename}@sha256:${p.sha256}`);
  const env = cliEnv(setup);
  // promote/validate read credentials per channel: the promoter's for both here (it may write verdicts to staging).
  const promoteEnv = { ...env, ...credentialEnv(setup.staging, 'promoter', SECRETS.promoterPassword) };
  const cache = path.join(setup.dir, 'cli-cache');
  const out = path.join(setup.dir, 'tree');
  const add = async (label: string, args: string[], e: Record<string, string> = env) => {
    const result = await runCli(args, e);
    runs.push(leakRun(label, result));
    return result;
  };
  // Success paths, in pipeline order (plain output, then --json for the commands whose output differs most).
  await add('upload', ['upload', '--to', setup.staging, ...files]);
  await add('validate', ['validate', '--staging', setup.staging, '--production', setup.production, ...refs], promoteEnv);
  await add('promote --json', ['promote', '--staging', setup.staging, '--production', setup.production, '--json', ...refs], promoteEnv);
  await add('reindex', ['reindex', '--channel', setup.production, '--cache-dir', cache, '--out', out]);
  await Promise.all([
    add('upload --json (unchanged)', ['upload', '--to', setup.staging, '--json', ...files]),
    add('reindex --json', ['reindex', '--channel', setup.production, '--cache-dir', `${cache}-j`, '--out', `${out}-j`, '--json']),
    add('download', ['download', '--channel', setup.production, refs[0]!.split('@')[0]!, '-o', path.join(setup.dir, 'dl.conda')]),
    add('download --json', ['download', '--channel', setup.production, '--json', refs[1]!.split('@')[0]!, '-o', path.join(setup.dir, 'dl-j.conda')]),
    add('gc --dry-run', ['gc', '--channel', setup.staging, '--older-than', '1s', '--dry-run']),
  ]);
  // Failure paths (both output modes): wrong password, a production credential without production rights,
  // a missing artifact, an unreachable registry, gc with a GitHub token against a fake API.
  // (--json only for the two paths most likely to carry a credential in an error: auth failures.)
  await Promise.all([
    ...[false, true].flatMap((json) => {
      const j = json ? ['--json'] : [];
      const tag = json ? ' --json' : '';
      return [
        add(`upload, wrong password${tag}`, ['upload', '--to', setup.staging, ...j, ...files], cliEnv(setup, 'promoter', `${SECRETS.stagerPassword}-wrong`)),
        add(`promote, staging-only credential${tag}`, ['promote', '--staging', setup.staging, '--production', setup.production, ...j, ...refs], cliEnv(setup, 'stager')),
      ];
    }),
    add('download, missing artifact', ['download', '--channel', setup.production, 'linux-64/ghost-1.0-h0_0.conda', '-o', path.join(setup.dir, 'ghost.conda')]),
    add('reindex, unreachable registry', ['reindex', '--channel', 'oci+http://127.0.0.1:1/sec/production', '--cache-dir', `${cache}-x`]),
    add('gc with GITHUB_TOKEN', ['gc', '--channel', setup.staging, '--older-than', '1s', '--dry-run', '--github-owner', 'h7-owner'], { ...env, GITHUB_API_URL: setup.github.url }),
  ]);
  // Files the CLI wrote: the reindex cache and the static tree.
  runs.push({ label: 'files written (cache, static tree)', code: 0, leaks: leaksIn(await readTree([cache, out, `${out}-j`])), crash: [] });
  return runs;
}

async function readTree(roots: string[]): Promise<string> {
  let text = '';
  const walk = async (p: string): Promise<void> => {
    let info;
    try {
      info = await stat(p);
    } catch {
      return;
    }
    if (info.isDirectory()) {
      for (const entry of await readdir(p)) await walk(path.join(p, entry));
    } else if (info.size < 8 << 20) {
      text += (await readFile(p)).toString('latin1');
    }
  };
  for (const root of roots) await walk(root);
  return text;
}

/** Runs one action from its TypeScript source the way the runner would: INPUT_* env, output and summary files. */
async function runAction(setup: SecretsSetup, name: string, inputs: Record<string, string>, extraEnv: Record<string, string> = {}): Promise<{ code: number | null; text: string }> {
  const work = await mkdtemp(path.join(setup.dir, `action-${name}-`));
  const output = path.join(work, 'output');
  const summary = path.join(work, 'summary');
  const stateFile = path.join(work, 'state');
  for (const f of [output, summary, stateFile]) await writeFile(f, '');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    GITHUB_OUTPUT: output,
    GITHUB_STEP_SUMMARY: summary,
    GITHUB_STATE: stateFile,
    GITHUB_ACTIONS: 'true',
    RUNNER_TEMP: work,
    GITHUB_WORKSPACE: setup.dir,
    GITHUB_REPOSITORY: 'h7-owner/sec-feedstock',
    GITHUB_API_URL: setup.github.url,
    XDG_CACHE_HOME: path.join(work, 'cache'),
    // The admins' verdict key, as a workflow passes it from a repository secret.
    OCI_CHANNEL_VERDICT_KEY: SECRETS.verdictKey,
    ...extraEnv,
  };
  for (const [key, value] of Object.entries(inputs)) env[`INPUT_${key.replace(/ /g, '_').toUpperCase()}`] = value;
  const child = spawn(NODE, ['--disable-warning=ExperimentalWarning', path.join(ROOT, 'actions/src', `${name}.ts`)], { cwd: setup.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr.on('data', (c: Buffer) => (text += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  text += `\n${await readFile(output, 'utf8')}\n${await readFile(summary, 'utf8')}\n${await readFile(stateFile, 'utf8')}\n${await readTree([path.join(work, 'cache')])}`;
  return { code, text };
}

/** Runs every action, on success and failure paths, with secrets as inputs. */
export async function actionLeakRuns(setup: SecretsSetup): Promise<LeakRun[]> {
  const runs: LeakRun[] = [];
  // The request carries an identity token like a real upload's: it must never show either.
  const identityToken = await setup.oidc.mint(promotionAudience(setup.packages.map((p) => ({ subdir: p.subdir, filename: p.filename, sha256: p.sha256 }))), {
    claims: { repository: 'h7-owner/sec-feedstock', repository_owner: 'h7-owner' },
  });
  const payload = JSON.stringify({ uploader: 'sec', artifacts: Object.fromEntries(setup.packages.map((p) => [`${p.subdir}/${p.filename}`, p.sha256])), identity_token: identityToken });
  const promotion = (productionPassword: string, productionUser = 'promoter') => ({
    payload,
    owners: 'none',
    'oidc-issuer': setup.oidc.url,
    'allowed-owners': 'h7-owner',
    staging: setup.staging,
    production: setup.production,
    'staging-username': 'promoter',
    'staging-password': SECRETS.promoterPassword,
    'production-username': productionUser,
    'production-password': productionPassword,
    'verdict-key': SECRETS.verdictKey,
  });
  const add = async (label: string, name: string, inputs: Record<string, string>, env: Record<string, string> = {}) => {
    const { code, text } = await runAction(setup, name, inputs, env);
    runs.push({ label: `action ${label}`, code, leaks: leaksIn(text), crash: crashSigns(text.split('\n').filter((l) => !l.startsWith('::')).join('\n')) });
  };
  const files = setup.packages.map((p) => p.file).join('\n');
  await add('upload-to-staging (dispatching)', 'upload-to-staging', {
    files,
    staging: setup.staging,
    username: 'stager',
    password: SECRETS.stagerPassword,
    uploader: 'sec',
    'target-repository': 'h7-owner/channel',
    'dispatch-token': SECRETS.dispatchToken,
  }, setup.oidc.actionsEnv);
  await add('upload-to-staging (wrong password)', 'upload-to-staging', { files, staging: setup.staging, username: 'stager', password: `${SECRETS.stagerPassword}-x` });
  await add('upload-to-staging (bad dispatch token)', 'upload-to-staging', {
    files,
    staging: setup.staging,
    username: 'stager',
    password: SECRETS.stagerPassword,
    uploader: 'sec',
    'target-repository': 'h7-owner/channel',
    'dispatch-token': `${SECRETS.dispatchToken}x`,
  });
  await add('validate', 'validate', promotion(SECRETS.promoterPassword));
  await add('promote (staging-only production credential)', 'promote', promotion(SECRETS.stagerPassword, 'stager'));
  await add('promote', 'promote', promotion(SECRETS.promoterPassword));
  await add('promote (hostile payload)', 'promote', { ...promotion(SECRETS.promoterPassword), payload: `{"uploader":"${SECRETS.githubToken}","artifacts":{"../x":"y"}}` });
  await add('reindex', 'reindex', { channel: setup.production, username: 'promoter', password: SECRETS.promoterPassword });
  await add('reindex (wrong password)', 'reindex', { channel: setup.production, username: 'promoter', password: `${SECRETS.promoterPassword}x` });
  await add('gc-staging (dry run, GitHub token)', 'gc-staging', {
    channel: setup.staging,
    username: 'stager',
    password: SECRETS.stagerPassword,
    'older-than': '1s',
    'dry-run': 'true',
    'github-token': SECRETS.githubToken,
    'github-owner': 'h7-owner',
  });
  return runs;
}

/** A promote whose production credential has only staging rights: must fail before writing or deleting. */
export async function promoteWithStagingRights(setup: SecretsSetup): Promise<{ code: number | null; output: string; writes: string[]; stagingKept: boolean; productionHas: boolean; crash: string[] }> {
  // Fresh artifacts, uploaded with the staging credential.
  const packages = await buildValidPackages(path.join(setup.dir, 'scoped'), 2, 'scoped');
  const up = await runCli(['upload', '--to', setup.staging, ...packages.map((p) => p.file)], cliEnv(setup));
  if (up.code !== 0) throw new Error(`upload with the staging credential failed: ${up.stderr}`);
  const before = setup.proxy.log.length;
  const refs = packages.map((p) => `${p.subdir}/${p.filename}@sha256:${p.sha256}`);
  const result = await runCli(['promote', '--staging', setup.staging, '--production', setup.production, ...refs], cliEnv(setup, 'stager'));
  // Writes of the run: manifest PUTs anywhere, blob PUT/PATCH, and DELETEs of manifests. An upload session opened
  // and cancelled by the push-access preflight (POST + DELETE of .../blobs/uploads/...) writes nothing.
  const writes = setup.proxy.log
    .slice(before)
    .filter((r) => (r.method === 'PUT' || r.method === 'PATCH' || r.method === 'DELETE') && !/\/blobs\/uploads\//.test(r.path))
    .map((r) => `${r.method} ${r.path} -> ${r.status ?? 'no answer'}`);
  const staging = directStore(setup.registry.location('sec/staging'), { credentials: { username: 'promoter', password: SECRETS.promoterPassword } });
  const production = directStore(setup.registry.location('sec/production'), { credentials: { username: 'promoter', password: SECRETS.promoterPassword } });
  try {
    let stagingKept = true;
    let productionHas = false;
    for (const p of packages) {
      if ((await storedPackageSha256(staging, p.subdir, p.filename)) !== p.sha256) stagingKept = false;
      if ((await storedPackageSha256(production, p.subdir, p.filename)) !== undefined) productionHas = true;
    }
    return { code: result.code, output: `${result.stdout}\n${result.stderr}`, writes, stagingKept, productionHas, crash: crashSigns(result.stdout + result.stderr) };
  } finally {
    await staging.close();
    await production.close();
  }
}

/** The staging credential, used directly against production: every write is refused. */
export async function stagingCredentialOnProduction(setup: SecretsSetup): Promise<{ refused: string[]; accepted: string[] }> {
  const store = directStore(setup.registry.location('sec/production'), { credentials: { username: 'stager', password: SECRETS.stagerPassword }, retry: { attempts: 1 } });
  const refused: string[] = [];
  const accepted: string[] = [];
  const attempt = async (label: string, op: () => Promise<unknown>) => {
    try {
      await op();
      accepted.push(label);
    } catch (error) {
      refused.push(`${label}: ${(error as Error).constructor.name}`);
    }
  };
  const repo = store.repository('linux-64/evil');
  await attempt('push access preflight', () => repo.checkPushAccess());
  await attempt('blob push', async () => {
    const { bytesSource } = await import('@oci-channel/oci');
    await repo.pushBlob(bytesSource(Buffer.from('evil')));
  });
  await attempt('manifest push', () => repo.pushManifest(Buffer.from('{"schemaVersion":2}'), 'application/vnd.oci.image.manifest.v1+json', 'latest'));
  await attempt('tag list', () => repo.listTags());
  await store.close();
  return { refused, accepted };
}
