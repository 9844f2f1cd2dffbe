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
  /** Context for a reader (e.g. a sample of the transient errors seen), not problems. */
  notes?: string[];
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

const REPODATA_MEDIA_TYPE = 'application/vnd.conda.repodata.v1+json';

export interface ExpectedPackage {
  subdir: string;
  filename: string;
  name: string;
  version: string;
  build: string;
  sha256: string;
  md5: string;
  size: number;
}

/** The `latest` repodata.json of one subdir, read straight from the registry (undefined when absent). */
export async function readLatestRepodata(store: Store, subdir: string, reference = 'latest'): Promise<{ digest: string; repodata: Record<string, Record<string, Record<string, unknown>>> } | undefined> {
  const repository = store.repository(`${subdir}/repodata.json`);
  let fetched;
  try {
    fetched = await repository.fetchManifest(reference);
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
  const manifest = JSON.parse(Buffer.from(fetched.bytes).toString('utf8')) as { layers: Array<{ mediaType: string; digest: `sha256:${string}`; size: number }> };
  const layer = manifest.layers.find((l) => l.mediaType === REPODATA_MEDIA_TYPE);
  if (!layer) throw new Error(`${repository.display}:${reference} has no ${REPODATA_MEDIA_TYPE} layer`);
  const chunks: Buffer[] = [];
  for await (const chunk of await repository.fetchBlob(layer.digest, layer.size)) chunks.push(chunk as Buffer);
  return { digest: fetched.descriptor.digest, repodata: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
}

export interface ProductionCheck {
  /** Expected artifacts production does not hold. */
  missing: string[];
  /** Held, but the bytes differ from the source file. */
  corrupted: string[];
  /** Not in the latest repodata of their subdir. */
  notIndexed: string[];
  /** In repodata with a record that disagrees with the package (sha256, md5, size, name, version, build). */
  badRecords: string[];
  /** Repodata records of packages the test never published. */
  strayRecords: string[];
}

/** Checks production (read directly, not through a proxy) against the source packages, byte for byte. */
export async function checkProduction(store: Store, expected: ExpectedPackage[], options: { exact?: boolean } = {}): Promise<ProductionCheck> {
  const check: ProductionCheck = { missing: [], corrupted: [], notIndexed: [], badRecords: [], strayRecords: [] };
  const subdirs = [...new Set(expected.map((e) => e.subdir))];
  const repodatas = new Map<string, Record<string, Record<string, Record<string, unknown>>> | undefined>();
  for (const subdir of subdirs) repodatas.set(subdir, (await readLatestRepodata(store, subdir))?.repodata);
  for (const pkg of expected) {
    const id = `${pkg.subdir}/${pkg.filename}`;
    const stored = await storedPackageSha256(store, pkg.subdir, pkg.filename);
    if (stored === undefined) check.missing.push(id);
    else if (stored !== pkg.sha256) check.corrupted.push(id);
    const key = pkg.filename.endsWith('.conda') ? 'packages.conda' : 'packages';
    const record = repodatas.get(pkg.subdir)?.[key]?.[pkg.filename];
    if (!record) {
      check.notIndexed.push(id);
      continue;
    }
    const wrong = (['sha256', 'md5', 'size', 'name', 'version', 'build'] as const).filter((field) => record[field] !== pkg[field]);
    if (wrong.length) check.badRecords.push(`${id} (${wrong.join(', ')})`);
  }
  if (options.exact) {
    const known = new Set(expected.map((e) => `${e.subdir}/${e.filename}`));
    for (const [subdir, repodata] of repodatas) {
      for (const key of ['packages', 'packages.conda']) {
        for (const filename of Object.keys(repodata?.[key] ?? {})) if (!known.has(`${subdir}/${filename}`)) check.strayRecords.push(`${subdir}/${filename}`);
      }
    }
  }
  return check;
}

export function productionProblems(check: ProductionCheck): number {
  return check.missing.length + check.corrupted.length + check.notIndexed.length + check.badRecords.length + check.strayRecords.length;
}
