// Scenario: hostile packages and inputs. Every corrupt, lying, escaping or exploding package is refused by
// upload with its own clear one-line error (through the CLI, as users run it), nothing reaches the registry;
// hostile bytes planted in staging behind a well-formed manifest are rejected by promote, which then neither
// publishes nor deletes anything; hostile dispatch payloads are refused by the strict payload parser.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { bytesSource, fileSource, MediaType, type Store } from '@oci-channel/oci';
import { parsePromotionRequest, PayloadError, recordVerdict, VerdictKey } from '@oci-channel/pipeline';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { buildHostileCorpus, buildValidPackages, hashFile, sha256File, type HostileCase } from './hostile-packages.ts';
import { crashSigns, directStore, packageLocation, recordFigures, runCli, storedPackageSha256 } from './hostile-world.ts';

export interface HostilePackagesSetup {
  registry: RunningRegistry;
  dir: string;
  corpus: HostileCase[];
  staging: string;
  production: string;
  stop(): Promise<void>;
}

export async function setUpHostilePackages(bombBytes: number): Promise<HostilePackagesSetup> {
  const registry = await startRegistry();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-hostile-'));
  const corpus = await buildHostileCorpus(path.join(dir, 'corpus'), { bombBytes });
  return {
    registry,
    dir,
    corpus,
    staging: registry.location('hostile/staging'),
    production: registry.location('hostile/production'),
    async stop() {
      await registry.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface UploadRefusal {
  id: string;
  file: string;
  error?: string;
  ok: boolean;
  why: string;
  /** Refused by promote (validation) instead of upload: upload reads a .conda's metadata only. */
  refusedAtPromote?: boolean;
}

/** Problems only inside a .conda's pkg member, which upload does not walk (metadata-only read): validate must catch them. */
export const PAYLOAD_ONLY_CONDA_CASES = new Set(['traversal-pkg-conda', 'absolute-pkg-conda', 'symlink-relative-conda', 'hardlink-escape-conda']);

/** Uploads the whole corpus in one CLI run; returns each case's refusal and what the run printed. */
export async function uploadCorpus(setup: HostilePackagesSetup): Promise<{ refusals: UploadRefusal[]; code: number | null; crash: string[]; stderr: string; published: string[] }> {
  const result = await runCli(['upload', '--to', setup.staging, '--json', '--concurrency', '4', ...setup.corpus.map((c) => c.file)]);
  const crash = crashSigns(result.stdout + result.stderr);
  let parsed: { ok: boolean; errors: Array<{ file: string; error: string }>; artifacts: unknown[] } | undefined;
  try {
    parsed = JSON.parse(result.stdout);
  } catch {
    parsed = undefined;
  }
  const refusals: UploadRefusal[] = setup.corpus.map((c) => {
    const error = parsed?.errors.find((e) => e.file === c.file)?.error;
    const ok = error !== undefined && c.expect.test(error) && error.includes(path.basename(c.file)) && !error.includes('\n') && error.length < 600;
    return { id: c.id, file: c.file, error, ok, why: c.why };
  });
  // Payload-only problems upload let into staging: promote must refuse them, publishing nothing.
  const staged = refusals.filter((r) => r.error === undefined && PAYLOAD_ONLY_CONDA_CASES.has(r.id));
  if (staged.length) {
    const refs = staged.map((r) => `linux-64/${path.basename(r.file)}`);
    const promoted = await runCli(['promote', '--staging', setup.staging, '--production', setup.production, '--json', ...refs], { OCI_CHANNEL_VERDICT_KEY: CHANNEL_VERDICT_KEY });
    crash.push(...crashSigns(promoted.stdout + promoted.stderr));
    let outcome: { artifacts: Array<{ filename: string; status: string; reason?: string }> } | undefined;
    try {
      outcome = JSON.parse(promoted.stdout);
    } catch {
      outcome = undefined;
    }
    for (const r of staged) {
      const c = setup.corpus.find((x) => x.id === r.id)!;
      const a = outcome?.artifacts.find((x) => x.filename === path.basename(r.file));
      r.refusedAtPromote = true;
      r.error = a?.reason;
      r.ok = a !== undefined && a.status !== 'promoted' && a.status !== 'already-promoted' && !!a.reason && c.expect.test(a.reason) && !a.reason.includes('\n');
    }
  }
  const store = directStore(setup.registry.location('hostile'));
  let published: string[];
  try {
    // Staging may hold the payload-only cases; production nothing.
    published = (await store.listRepositories()).filter((name) => !(name.startsWith('staging/') && staged.some((r) => name.endsWith(`/hostile-${r.id}`))));
  } finally {
    await store.close();
  }
  return { refusals, code: result.code, crash, stderr: result.stderr, published };
}

export interface PlantedCase {
  id: string;
  why: string;
  subdir: string;
  filename: string;
  /** sha256 the promote request declares. */
  declared?: string;
}

/**
 * Uploads valid packages, then replaces what staging holds behind their manifests with hostile content:
 * another package's bytes under the declared name, a traversal package, a lying index.json layer.
 */
export async function plantHostileStaging(setup: HostilePackagesSetup): Promise<PlantedCase[]> {
  const valid = await buildValidPackages(path.join(setup.dir, 'valid'), 4, 'planted');
  const upload = await runCli(['upload', '--to', setup.staging, '--json', ...valid.map((v) => v.file)]);
  if (upload.code !== 0) throw new Error(`upload of the valid packages failed: ${upload.stdout} ${upload.stderr}`);
  const staging = directStore(setup.staging);
  const cases: PlantedCase[] = [];
  try {
    const traversal = setup.corpus.find((c) => c.id === 'traversal-pkg-conda')!;
    const swap = async (target: (typeof valid)[number], layerOf: (manifest: ManifestJson) => ManifestJson['layers'][number], replacement: { file?: string; bytes?: Buffer }) => {
      const { repository: name, tag } = packageLocation(target.subdir, target.filename);
      const repository = staging.repository(name);
      const fetched = await repository.fetchManifest(tag);
      const manifest = JSON.parse(Buffer.from(fetched.bytes).toString('utf8')) as ManifestJson;
      const layer = layerOf(manifest);
      const pushed = replacement.file
        ? await repository.pushBlob(fileSource(replacement.file))
        : await repository.pushBlob(bytesSource(replacement.bytes!));
      const oldHex = layer.digest.slice('sha256:'.length);
      const oldMd5 = layer.annotations?.['org.conda.md5'];
      layer.digest = pushed.digest as `sha256:${string}`;
      layer.size = pushed.size;
      // Keep the manifest self-consistent (annotations naming the old sha256/md5 follow the swap), so the planted
      // bytes themselves have to be caught, not a mismatch in the manifest.
      let text = JSON.stringify(manifest).split(oldHex).join(pushed.digest.slice('sha256:'.length));
      if (replacement.file && oldMd5) text = text.split(oldMd5).join((await hashFile(replacement.file)).md5);
      await repository.pushManifest(Buffer.from(text), MediaType.ImageManifest, tag);
    };
    const packageLayer = (m: ManifestJson) => m.layers.find((l) => l.mediaType.startsWith('application/vnd.conda.package'))!;
    const indexLayer = (m: ManifestJson) => m.layers.find((l) => l.mediaType === 'application/vnd.conda.info.index.v1+json')!;

    // 1. The package layer swapped for a traversal package (the manifest keeps the valid name).
    await swap(valid[0]!, packageLayer, { file: traversal.file });
    cases.push({ id: 'planted-traversal', why: 'staging package layer replaced by a package with ../ members', subdir: valid[0]!.subdir, filename: valid[0]!.filename });
    // ... and "passed" verdicts forged for it by someone holding only the staging token: one unsigned, one signed
    // with a key that is not the channel's. promote (holding the real key) must trust neither.
    {
      const { repository: name, tag } = packageLocation(valid[0]!.subdir, valid[0]!.filename);
      const repository = staging.repository(name);
      const subject = (await repository.fetchManifest(tag)).descriptor;
      const forged = {
        verdict: 'passed' as const,
        checks: [{ name: 'package', ok: true, detail: 'forged' }],
        validatedAt: new Date(Date.now() + 60_000).toISOString(),
        subdir: valid[0]!.subdir,
        filename: valid[0]!.filename,
        sha256: await sha256File(traversal.file),
        manifestDigest: subject.digest,
      };
      await recordVerdict(repository, subject, forged);
      await recordVerdict(repository, subject, forged, new VerdictKey(FORGER_KEY));
    }
    // 2. The package layer swapped for another valid package (bytes do not match the name).
    await swap(valid[1]!, packageLayer, { file: valid[2]!.file });
    cases.push({ id: 'planted-other-package', why: "staging package layer replaced by another package's bytes", subdir: valid[1]!.subdir, filename: valid[1]!.filename });
    // 3. The index.json layer lies (depends on something else than the package says).
    await swap(valid[3]!, indexLayer, { bytes: Buffer.from(JSON.stringify({ name: 'numpy', version: '9', build: 'evil', build_number: 0, subdir: valid[3]!.subdir, depends: ['evil'] })) });
    cases.push({ id: 'planted-lying-index', why: 'staging index.json layer differs from the package', subdir: valid[3]!.subdir, filename: valid[3]!.filename });
    // 4. An honest staged package, but the request declares another sha256.
    cases.push({ id: 'declared-sha256-mismatch', why: 'the promotion request declares a sha256 the staged package does not have', subdir: valid[2]!.subdir, filename: valid[2]!.filename, declared: 'a'.repeat(64) });
    // 5. An artifact that was never staged.
    cases.push({ id: 'never-staged', why: 'an artifact staging does not hold', subdir: 'linux-64', filename: 'ghost-1.0-h0_0.conda' });
    void (await sha256File(valid[2]!.file));
  } finally {
    await staging.close();
  }
  return cases;
}

/** The channel's verdict key (promote holds it) and a forger's (a different one). */
export const CHANNEL_VERDICT_KEY = 'h7-channel-verdict-key-0123456789abcdef0123';
const FORGER_KEY = 'h7-forger-verdict-key-fedcba9876543210fedcba';

interface ManifestJson {
  layers: Array<{ mediaType: string; digest: `sha256:${string}`; size: number; annotations?: Record<string, string> }>;
}

export interface PromoteRefusal {
  id: string;
  status?: string;
  reason?: string;
  ok: boolean;
  /** Whether the staging copy was still there afterwards (never deleted on refusal). */
  stagingKept: boolean;
  inProduction: boolean;
}

/** Promotes every planted case in one CLI run; returns each one's outcome and what production holds. */
export async function promotePlanted(setup: HostilePackagesSetup, cases: PlantedCase[]): Promise<{ refusals: PromoteRefusal[]; code: number | null; crash: string[]; productionRepositories: string[] }> {
  const refs = cases.map((c) => `${c.subdir}/${c.filename}${c.declared ? `@sha256:${c.declared}` : ''}`);
  const result = await runCli(['promote', '--staging', setup.staging, '--production', setup.production, '--json', ...refs], { OCI_CHANNEL_VERDICT_KEY: CHANNEL_VERDICT_KEY });
  const crash = crashSigns(result.stdout + result.stderr);
  let parsed: { artifacts: Array<{ subdir: string; filename: string; status: string; reason?: string }> } | undefined;
  try {
    parsed = JSON.parse(result.stdout);
  } catch {
    parsed = undefined;
  }
  const staging = directStore(setup.staging);
  const production = directStore(setup.production);
  try {
    const refusals: PromoteRefusal[] = [];
    for (const c of cases) {
      const outcome = parsed?.artifacts.find((a) => a.subdir === c.subdir && a.filename === c.filename);
      const stagingKept = c.id === 'never-staged' ? true : (await storedPackageSha256Safe(staging, c.subdir, c.filename)) !== undefined;
      const inProduction = (await storedPackageSha256Safe(production, c.subdir, c.filename)) !== undefined;
      const ok = outcome !== undefined && (outcome.status === 'rejected' || outcome.status === 'failed') && !!outcome.reason && !outcome.reason.includes('\n') && stagingKept && !inProduction;
      refusals.push({ id: c.id, status: outcome?.status, reason: outcome?.reason, ok, stagingKept, inProduction });
    }
    const productionRepositories = (await production.listRepositories()).filter((r) => !r.startsWith('oci_channel/'));
    return { refusals, code: result.code, crash, productionRepositories };
  } finally {
    await staging.close();
    await production.close();
  }
}

/** A package a hostile manifest points at may not parse: report it as present (its manifest exists). */
async function storedPackageSha256Safe(store: Store, subdir: string, filename: string): Promise<string | undefined> {
  try {
    return await storedPackageSha256(store, subdir, filename);
  } catch (error) {
    return `unreadable: ${(error as Error).message}`;
  }
}

/** Hostile repository_dispatch payloads: each must be refused by the strict parser with its own message. */
export function hostilePayloads(): Array<{ id: string; payload: unknown; expect: RegExp }> {
  const sha = 'b'.repeat(64);
  const huge = 'x'.repeat(200_000);
  return [
    { id: 'not-json', payload: '{"uploader": "a", ', expect: /not JSON/i },
    { id: 'array', payload: '[]', expect: /invalid promotion payload/i },
    { id: 'uploader-number', payload: { uploader: 42, artifacts: { 'linux-64/a-1-h0_0.conda': sha } }, expect: /uploader/ },
    { id: 'artifacts-array', payload: { uploader: 'a', artifacts: ['linux-64/a-1-h0_0.conda'] }, expect: /artifacts/ },
    { id: 'sha-number', payload: { uploader: 'a', artifacts: { 'linux-64/a-1-h0_0.conda': 1 } }, expect: /artifacts/ },
    { id: 'sha-short', payload: { uploader: 'a', artifacts: { 'linux-64/a-1-h0_0.conda': 'abc' } }, expect: /sha256/ },
    { id: 'extra-key', payload: { uploader: 'a', artifacts: { 'linux-64/a-1-h0_0.conda': sha }, production: 'oci://evil/x' }, expect: /unexpected key "production"/ },
    { id: 'extra-key-proto', payload: JSON.parse(`{"uploader":"a","artifacts":{"linux-64/a-1-h0_0.conda":"${sha}"},"__proto__":{"admin":true}}`), expect: /unexpected key|__proto__/ },
    { id: 'traversal-subdir', payload: { uploader: 'a', artifacts: { '../prod/a-1-h0_0.conda': sha } }, expect: /artifact key/ },
    { id: 'traversal-filename', payload: { uploader: 'a', artifacts: { 'linux-64/../../a-1-h0_0.conda': sha } }, expect: /artifact key/ },
    { id: 'dotdot-in-name', payload: { uploader: 'a', artifacts: { 'linux-64/a..b-1-h0_0.conda': sha } }, expect: /artifact key/ },
    { id: 'absolute-key', payload: { uploader: 'a', artifacts: { '/etc/passwd.conda': sha } }, expect: /artifact key/ },
    { id: 'backslash-key', payload: { uploader: 'a', artifacts: { 'linux-64\\..\\a-1-h0_0.conda': sha } }, expect: /artifact key/ },
    { id: 'not-a-package', payload: { uploader: 'a', artifacts: { 'linux-64/a-1-h0_0.exe': sha } }, expect: /artifact key/ },
    { id: 'huge-uploader', payload: { uploader: huge.slice(0, 5000), artifacts: { 'linux-64/a-1-h0_0.conda': sha } }, expect: /uploader/ },
    { id: 'huge-key', payload: { uploader: 'a', artifacts: { [`linux-64/${'a'.repeat(400)}-1-h0_0.conda`]: sha } }, expect: /artifact key/ },
    { id: 'huge-raw', payload: JSON.stringify({ uploader: 'a', artifacts: { 'linux-64/a-1-h0_0.conda': sha }, run_url: `https://x/${huge}` }), expect: /larger than/ },
    { id: 'empty-artifacts', payload: { uploader: 'a', artifacts: {} }, expect: /artifacts/ },
    { id: 'uploader-injection', payload: { uploader: 'a"; rm -rf /', artifacts: { 'linux-64/a-1-h0_0.conda': sha } }, expect: /uploader/ },
    { id: 'run-url-http', payload: { uploader: 'a', artifacts: { 'linux-64/a-1-h0_0.conda': sha }, run_url: 'http://evil.example/x' }, expect: /run_url/ },
    { id: 'commit-bad', payload: { uploader: 'a', artifacts: { 'linux-64/a-1-h0_0.conda': sha }, commit: 'HEAD~1' }, expect: /commit/ },
    { id: 'too-many', payload: { uploader: 'a', artifacts: Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`linux-64/a-${i}-h0_0.conda`, sha])) }, expect: /artifacts|larger than/ },
  ];
}

export function refusePayloads(): Array<{ id: string; ok: boolean; message: string }> {
  return hostilePayloads().map(({ id, payload, expect }) => {
    try {
      parsePromotionRequest(payload);
      return { id, ok: false, message: 'accepted' };
    } catch (error) {
      const message = (error as Error).message;
      return { id, ok: error instanceof PayloadError && expect.test(message) && !message.includes('\n') && message.length < 400, message };
    }
  });
}

export async function recordHostilePackageFigures(mode: 'ci' | 'stress', figures: { packages: UploadRefusal[]; planted: PromoteRefusal[]; payloads: Array<{ id: string; ok: boolean }>; bombBytes: number }): Promise<void> {
  const findings = [
    ...figures.packages.filter((r) => !r.ok).map((r) => `package ${r.id}: ${r.error ?? 'no refusal'}`),
    ...figures.planted.filter((r) => !r.ok).map((r) => `planted ${r.id}: ${r.status ?? 'no outcome'} ${r.reason ?? ''}`),
    ...figures.payloads.filter((r) => !r.ok).map((r) => `payload ${r.id}`),
  ];
  await recordFigures({
    scenario: 'hostile-packages',
    mode,
    figures: {
      'hostile packages tried': figures.packages.length,
      'hostile packages refused clearly': figures.packages.filter((r) => r.ok).length,
      'of which refused by promote (payload-only .conda problems upload does not read)': figures.packages.filter((r) => r.ok && r.refusedAtPromote).length,
      'planted staging artifacts tried': figures.planted.length,
      'planted staging artifacts refused': figures.planted.filter((r) => r.ok).length,
      'hostile payloads tried': figures.payloads.length,
      'hostile payloads refused': figures.payloads.filter((r) => r.ok).length,
      'bomb size (bytes unpacked)': figures.bombBytes,
    },
    findings,
    notes: figures.planted.map((r) => `${r.id}: ${r.status} - ${r.reason ?? ''}`),
  });
}
