// What the reliability scenarios share: running the CLI as a child process, reading a channel's state
// straight from the registry (never through the hostile proxy), checking production byte for byte against
// the source files, and recording figures for docs/reliability.md.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NotFoundError, openStore, type Store, type StoreOptions } from '@oci-channel/oci';
import { describePackageManifest, encodeTag, packageRepository, parsePackageFilename } from '@oci-channel/conda';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'packages/cli/bin/oci-channel.js');
export const NODE = path.join(ROOT, 'node_modules/.bin/node');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the test killed it. */
  killed: boolean;
}

export interface CliRun {
  child: ReturnType<typeof spawn>;
  done: Promise<CliResult>;
  kill(): void;
}

/** Starts `oci-channel ARGS` with a clean environment plus `env`. Output is kept up to 1 MiB per stream. */
export function startCli(args: string[], env: Record<string, string> = {}, options: { timeoutMs?: number; cwd?: string } = {}): CliRun {
  const child = spawn(NODE, ['--disable-warning=ExperimentalWarning', CLI, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let killed = false;
  child.stdout!.on('data', (chunk: Buffer) => {
    if (stdout.length < 1 << 20) stdout += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    if (stderr.length < 1 << 20) stderr += chunk.toString();
  });
  const timer = setTimeout(() => {
    killed = true;
    child.kill('SIGKILL');
  }, options.timeoutMs ?? 180_000);
  const done = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, killed });
    });
  });
  return {
    child,
    done,
    kill() {
      killed = true;
      child.kill('SIGKILL');
    },
  };
}

export function runCli(args: string[], env: Record<string, string> = {}, options: { timeoutMs?: number } = {}): Promise<CliResult> {
  return startCli(args, env, options).done;
}

/** A Node stack trace or an internal error leaking into user output means a crash, not a clear refusal. */
export function crashSigns(text: string): string[] {
  const signs = [/^\s+at .+:\d+:\d+\)?$/m, /TypeError|ReferenceError|RangeError|SyntaxError: (?!.*JSON)/, /Cannot read properties of/, /undefined is not/, /\[object Object\]/, /Unhandled|uncaught/i];
  return signs.filter((re) => re.test(text)).map((re) => String(re));
}

export interface StoredPackage {
  subdir: string;
  filename: string;
  repository: string;
  tag: string;
  manifestDigest: string;
  sha256: string;
}

/** Every package manifest of a channel, read straight from the registry (catalog + tags). */
export async function listChannelPackages(store: Store): Promise<StoredPackage[]> {
  const out: StoredPackage[] = [];
  const repositories = await store.listRepositories();
  for (const relative of repositories) {
    if (relative.startsWith('oci_channel/') || relative.endsWith('/repodata.json') || relative === 'channeldata.json' || relative.includes('/repodata')) continue;
    const repository = store.repository(relative);
    for (const tag of await repository.listTags()) {
      if (tag.startsWith('sha256-')) continue; // referrers fallback
      let fetched;
      try {
        fetched = await repository.fetchManifest(tag);
      } catch (error) {
        if (error instanceof NotFoundError) continue; // deleted between list and fetch
        throw error;
      }
      const manifest = JSON.parse(Buffer.from(fetched.bytes).toString('utf8'));
      let view;
      try {
        view = describePackageManifest(manifest, `${repository.display}:${tag}`);
      } catch {
        continue; // not a package manifest (repodata, log, verdict)
      }
      for (const pkg of view.packages) {
        out.push({ subdir: relative.split('/')[0]!, filename: pkg.filename, repository: relative, tag, manifestDigest: fetched.descriptor.digest, sha256: pkg.sha256 });
      }
    }
  }
  return out;
}

/** Where a package lives in a channel. */
export function packageLocation(subdir: string, filename: string): { repository: string; tag: string } {
  const parsed = parsePackageFilename(filename);
  return { repository: packageRepository(subdir, parsed.name), tag: encodeTag(parsed.version, parsed.build) };
}

/** Streams the package layer of `subdir/filename` from `store` and returns its sha256, or undefined when absent. */
export async function storedPackageSha256(store: Store, subdir: string, filename: string): Promise<string | undefined> {
  const { repository: name, tag } = packageLocation(subdir, filename);
  const repository = store.repository(name);
  let fetched;
  try {
    fetched = await repository.fetchManifest(tag);
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
  const manifest = JSON.parse(Buffer.from(fetched.bytes).toString('utf8'));
  const view = describePackageManifest(manifest, `${repository.display}:${tag}`);
  const pkg = view.packages.find((p) => p.filename === filename);
  if (!pkg) return undefined;
  const stream = await repository.fetchBlob(pkg.descriptor.digest, pkg.descriptor.size);
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export function directStore(location: string, options: StoreOptions = {}): Store {
  return openStore(location, { retry: { attempts: 5, baseDelayMs: 50 }, ...options });
}

/** Figures one scenario contributes to docs/reliability.md (see scripts/reliability-report.ts). */
export interface ScenarioFigures {
  scenario: string;
  mode: 'ci' | 'stress';
  seed?: number;
  figures: Record<string, number | string>;
  /** Problems found (bugs, refusals that were not clear); empty when all passed. */
  findings?: string[];
  finishedAt?: string;
}

/** Where figures go: RELIABILITY_FIGURES_DIR, else .tmp/reliability/<mode>. */
export function figuresDir(mode: 'ci' | 'stress'): string {
  return process.env.RELIABILITY_FIGURES_DIR ?? path.join(ROOT, '.tmp', 'reliability', mode);
}

export async function recordFigures(figures: ScenarioFigures): Promise<void> {
  const dir = figuresDir(figures.mode);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, `${figures.scenario}.json`), `${JSON.stringify({ ...figures, finishedAt: new Date().toISOString() }, null, 2)}\n`);
}

export const isStress = () => process.env.STRESS === '1';
