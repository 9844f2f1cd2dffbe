// Scenario: promote and reindex (the CLI, in child processes) are SIGKILLed at seeded random moments and run
// again. After every kill no artifact may be missing from both staging and production, and an artifact gone
// from staging must be in production byte for byte and in the promotion log. The proxy's request log must show
// each staging DELETE after a successful production manifest PUT of the same tag. The end state must equal an
// uninterrupted run: every package in production exactly once, latest repodata exact, staging empty.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { upload, validate, fileKey, readPromotions, type UploadedArtifact } from '@oci-channel/pipeline';
import { startRegistry } from '../harness/registry.ts';
import { buildValidPackages, type BuiltPackage } from './hostile-packages.ts';
import { startHostileProxy } from './hostile-proxy.ts';
import { seededRandom } from './hostile-random.ts';
import { checkProduction, crashSigns, directStore, productionProblems, recordFigures, runCli, startCli, storedPackageSha256, type ProductionCheck } from './hostile-world.ts';

export interface CrashScenarioOptions {
  mode: 'ci' | 'stress';
  batches: number;
  packagesPerBatch: number;
  /** Kill attempts per batch for each of promote and reindex. */
  killsPerStep: number;
  seed: number;
}

export interface CrashScenarioResult {
  kills: number;
  killsMidWork: number;
  /** Runs that finished before their kill time came. */
  finishedBeforeKill: number;
  /** Invariant violations seen after a kill. */
  violations: string[];
  /** Staging DELETEs not preceded by a production manifest PUT of the same tag. */
  orderViolations: string[];
  /** Re-runs that failed with something other than a clear one-line error. */
  unclearRuns: string[];
  check: ProductionCheck;
  stagingLeftovers: number;
  /** Artifacts with more than one promotion log entry (harmless; reindex dedupes). */
  duplicateLogEntries: number;
  missingLogEntries: number;
}

export async function runCrashScenario(options: CrashScenarioOptions): Promise<CrashScenarioResult> {
  const random = seededRandom(options.seed);
  const registry = await startRegistry();
  const proxy = await startHostileProxy(registry.url);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-crash-'));
  const staging = proxy.location('crash/staging');
  const production = proxy.location('crash/production');
  const cacheDir = path.join(dir, 'reindex-cache');
  const violations: string[] = [];
  const unclearRuns: string[] = [];
  let kills = 0;
  let finishedBeforeKill = 0;
  /** Kills that landed after the run had started talking to the registry. */
  let killsMidWork = 0;
  const uploaded = new Map<string, UploadedArtifact>();
  const all: BuiltPackage[] = [];
  const stagingDirect = directStore(registry.location('crash/staging'));
  const productionDirect = directStore(registry.location('crash/production'));

  /** After a kill: each artifact is in staging, or (fully) in production and logged. */
  const checkInvariant = async (packages: BuiltPackage[], when: string) => {
    const logged = new Set((await readPromotions(productionDirect)).map((p) => fileKey(p.subdir, p.filename)));
    for (const p of packages) {
      const inStaging = await storedPackageSha256(stagingDirect, p.subdir, p.filename).catch((e: Error) => `error ${e.message}`);
      if (inStaging !== undefined) continue;
      const inProduction = await storedPackageSha256(productionDirect, p.subdir, p.filename).catch((e: Error) => `error ${e.message}`);
      if (inProduction === undefined) violations.push(`${when}: ${p.subdir}/${p.filename} is in neither staging nor production`);
      else if (inProduction !== p.sha256) violations.push(`${when}: ${p.subdir}/${p.filename} left staging but production holds other bytes (${inProduction})`);
      else if (!logged.has(fileKey(p.subdir, p.filename))) violations.push(`${when}: ${p.subdir}/${p.filename} left staging before its promotion was logged`);
    }
  };

  /** Requests a whole run of each step made last time it was not killed: kill points are drawn below it. */
  const estimate: Record<string, number> = { promote: 80, reindex: 40 };

  /**
   * Runs the CLI and SIGKILLs it once it has sent a seeded random number of registry requests (so the kill
   * lands mid-work, at a different point each time); returns whether the kill landed.
   */
  const killedRun = async (args: string[]): Promise<boolean> => {
    const step = args[0]!;
    const killAfter = 1 + Math.floor(random() * estimate[step]!);
    const requestsBefore = proxy.log.length;
    const run = startCli(args, {}, { timeoutMs: 120_000 });
    let exited = false;
    void run.done.then(() => (exited = true));
    while (!exited && proxy.log.length - requestsBefore < killAfter) await new Promise((resolve) => setTimeout(resolve, 2));
    if (exited) {
      finishedBeforeKill++;
      estimate[step] = Math.max(2, proxy.log.length - requestsBefore);
      const result = await run.done;
      if (crashSigns(result.stdout + result.stderr).length) unclearRuns.push(`${step}: ${result.stderr.slice(0, 300)}`);
      return false;
    }
    run.kill();
    await run.done;
    kills++;
    if (proxy.log.length > requestsBefore) killsMidWork++;
    return true;
  };

  try {
    for (let batch = 0; batch < options.batches; batch++) {
      const packages = await buildValidPackages(path.join(dir, `b${batch}`), options.packagesPerBatch, `crash${batch}`);
      all.push(...packages);
      const up = await upload({ to: staging, files: packages.map((p) => p.file) });
      if (!up.ok) throw new Error(`upload failed: ${JSON.stringify(up.errors)}`);
      for (const a of up.artifacts) uploaded.set(fileKey(a.subdir, a.filename), a);
      const refs = packages.map((p) => ({ subdir: p.subdir, filename: p.filename, sha256: p.sha256 }));
      const checked = await validate({ staging, production, artifacts: refs });
      if (!checked.ok) throw new Error(`validate failed: ${JSON.stringify(checked.artifacts.map((a) => a.reason))}`);
      const refArgs = refs.map((r) => `${r.subdir}/${r.filename}@sha256:${r.sha256}`);

      for (let k = 0; k < options.killsPerStep; k++) {
        await killedRun(['promote', '--staging', staging, '--production', production, '--concurrency', '2', ...refArgs]);
        await checkInvariant(all, `batch ${batch} after promote kill ${k}`);
        await killedRun(['reindex', '--channel', production, '--cache-dir', cacheDir]);
        await checkInvariant(all, `batch ${batch} after reindex kill ${k}`);
      }
    }

    // Finish: uninterrupted runs (re-run until success, bounded).
    const allRefs = all.map((p) => `${p.subdir}/${p.filename}@sha256:${p.sha256}`);
    for (let attempt = 0; attempt < 3; attempt++) {
      const result = await runCli(['promote', '--staging', staging, '--production', production, '--json', ...allRefs]);
      if (crashSigns(result.stdout + result.stderr).length) unclearRuns.push(`final promote: ${result.stderr.slice(0, 300)}`);
      if (result.code === 0) break;
    }
    for (let attempt = 0; attempt < 3; attempt++) {
      const result = await runCli(['reindex', '--channel', production, '--cache-dir', cacheDir, '--json']);
      if (crashSigns(result.stdout + result.stderr).length) unclearRuns.push(`final reindex: ${result.stderr.slice(0, 300)}`);
      if (result.code === 0) break;
    }

    const check = await checkProduction(productionDirect, all, { exact: true });
    let stagingLeftovers = 0;
    for (const p of all) if ((await storedPackageSha256(stagingDirect, p.subdir, p.filename)) !== undefined) stagingLeftovers++;
    const entries = await readPromotions(productionDirect);
    const perArtifact = new Map<string, number>();
    for (const e of entries) perArtifact.set(fileKey(e.subdir, e.filename), (perArtifact.get(fileKey(e.subdir, e.filename)) ?? 0) + 1);
    const duplicateLogEntries = [...perArtifact.values()].filter((n) => n > 1).length;
    const missingLogEntries = all.filter((p) => !perArtifact.has(fileKey(p.subdir, p.filename))).length;

    // Happens-before in the request log: staging DELETE after a 2xx production manifest PUT of the same tag.
    const orderViolations: string[] = [];
    const byStagingDigest = new Map([...uploaded.values()].map((a) => [a.manifestDigest, a]));
    for (const record of proxy.log) {
      const m = /^\/v2\/crash\/staging\/(.+)\/manifests\/(sha256:[a-f0-9]{64})$/.exec(record.path);
      if (record.method !== 'DELETE' || !m) continue;
      const artifact = byStagingDigest.get(m[2]!);
      if (!artifact) continue; // a verdict or other manifest
      const put = proxy.log.find(
        (r) =>
          r.method === 'PUT' &&
          r.path === `/v2/crash/production/${artifact.repository}/manifests/${artifact.tag}` &&
          r.status !== undefined &&
          r.status >= 200 &&
          r.status < 300 &&
          (r.completedSeq ?? Infinity) < record.seq,
      );
      if (!put) orderViolations.push(`DELETE of staging ${artifact.subdir}/${artifact.filename} (request ${record.seq}) before any production PUT of ${artifact.repository}:${artifact.tag}`);
    }

    const result: CrashScenarioResult = { kills, killsMidWork, finishedBeforeKill, violations, orderViolations, unclearRuns, check, stagingLeftovers, duplicateLogEntries, missingLogEntries };
    await recordFigures({
      scenario: 'crashes',
      mode: options.mode,
      seed: options.seed,
      figures: {
        packages: all.length,
        'SIGKILLs (promote and reindex CLI)': kills,
        'kills while talking to the registry': killsMidWork,
        'runs that finished before their kill': finishedBeforeKill,
        'invariant checks after kills': 2 * options.batches * options.killsPerStep,
        'invariant violations': violations.length,
        'staging deletes before production write': orderViolations.length,
        'registry requests': proxy.log.length,
        'artifacts lost': check.missing.length + check.corrupted.length,
        'repodata problems': check.notIndexed.length + check.badRecords.length + check.strayRecords.length,
        'staging copies left': stagingLeftovers,
        'artifacts with duplicate log entries': duplicateLogEntries,
      },
      findings: [...violations, ...orderViolations, ...unclearRuns, ...(productionProblems(check) ? [`production: ${JSON.stringify(check)}`] : [])].slice(0, 40),
    });
    return result;
  } finally {
    await stagingDirect.close();
    await productionDirect.close();
    await proxy.stop();
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
