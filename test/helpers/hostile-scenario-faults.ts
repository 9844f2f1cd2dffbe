// Scenario: the whole flow (upload -> validate -> promote -> reindex) through a proxy that injects faults into
// a seeded fraction of requests. Each step is re-run until it succeeds (a bounded number of rounds); every
// failure on the way must be a clear one-line error. Afterwards production, read directly from the registry,
// must hold every package byte for byte and `latest` repodata must describe each one exactly.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { StoreOptions } from '@oci-channel/oci';
import { promote, upload, validate, type ArtifactRef } from '@oci-channel/pipeline';
import { reindex } from '../../packages/pipeline/src/steps/reindex.ts';
import { startRegistry } from '../harness/registry.ts';
import { buildValidPackages, type BuiltPackage } from './hostile-packages.ts';
import { FAULT_KINDS, startHostileProxy, type FaultKind } from './hostile-proxy.ts';
import { checkProduction, crashSigns, directStore, productionProblems, recordFigures, storedPackageSha256, type ProductionCheck } from './hostile-world.ts';

export interface FaultScenarioOptions {
  mode: 'ci' | 'stress';
  packages: number;
  rate: number;
  seed: number;
  /** Rounds each step may take before the scenario gives up. */
  maxRounds?: number;
  kinds?: readonly FaultKind[];
}

export interface FaultScenarioResult {
  requests: number;
  faults: number;
  byKind: Partial<Record<FaultKind, number>>;
  rounds: Record<'upload' | 'validate' | 'promote' | 'reindex', number>;
  completed: Record<'upload' | 'validate' | 'promote' | 'reindex', number>;
  /** Errors reported on the way (all of them transient and retried). */
  errors: number;
  /** Errors that were not one clear line (stack traces, internal errors, multi-line). */
  unclearErrors: string[];
  /** A few of the errors, for diagnosing a failed run. */
  errorSamples: string[];
  /** Errors that are one line but say too little (a bare `other side closed`). */
  terseErrors: string[];
  /** Steps that still had failures after maxRounds. */
  unfinished: string[];
  check: ProductionCheck;
  lost: number;
  /** Staging copies left behind for promoted artifacts. */
  stagingLeftovers: number;
}

/** Client settings for a faulty network: short timeouts so stalls are noticed, quick backoff. */
export const FAULTY_NETWORK_OPTIONS: StoreOptions = {
  timeoutMs: 2_000,
  retry: { attempts: 6, baseDelayMs: 25, maxDelayMs: 1_000 },
  concurrency: 4,
};

function unclear(error: string): boolean {
  return error.includes('\n') || error.length > 600 || crashSigns(error).length > 0 || error.trim() === '';
}

/** One line, but only a bare network message after the artifact: it says neither which request nor what to do. */
function terse(error: string): boolean {
  const detail = error.replace(/^[a-z0-9-]+\/[^:]+: /, '');
  return detail.length < 40 && !/retry|re-run|rerun|check/i.test(detail);
}

export async function runFaultScenario(options: FaultScenarioOptions): Promise<FaultScenarioResult> {
  const maxRounds = options.maxRounds ?? 12;
  const registry = await startRegistry();
  const proxy = await startHostileProxy(registry.url);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-faults-'));
  const errors: string[] = [];
  const unfinished: string[] = [];
  const rounds = { upload: 0, validate: 0, promote: 0, reindex: 0 };
  const completed = { upload: 0, validate: 0, promote: 0, reindex: 0 };
  try {
    const packages = await buildValidPackages(path.join(dir, 'packages'), options.packages, 'flt');
    const staging = proxy.location('faults/staging');
    const production = proxy.location('faults/production');
    const storeOptions = FAULTY_NETWORK_OPTIONS;
    const byFile = new Map(packages.map((p) => [p.file, p]));
    const refOf = (p: BuiltPackage): ArtifactRef => ({ subdir: p.subdir, filename: p.filename, sha256: p.sha256 });
    const key = (r: { subdir: string; filename: string }) => `${r.subdir}/${r.filename}`;
    const byKey = new Map(packages.map((p) => [key(p), p]));
    const note = (message: string) => errors.push(message);
    proxy.setFaults({ seed: options.seed, rate: options.rate, kinds: options.kinds ?? FAULT_KINDS, stallMs: 10_000 });

    // Upload until every file is in staging.
    let pending = packages.map((p) => p.file);
    while (pending.length && rounds.upload < maxRounds) {
      rounds.upload++;
      try {
        const result = await upload({ to: staging, files: pending, storeOptions, concurrency: 4 });
        for (const a of result.artifacts) completed.upload++, void a;
        for (const e of result.errors) note(e.error);
        const failed = new Set(result.errors.map((e) => e.file));
        pending = pending.filter((f) => failed.has(f) || !result.artifacts.some((a) => a.filename === byFile.get(f)!.filename && a.subdir === byFile.get(f)!.subdir));
      } catch (error) {
        note((error as Error).message);
      }
    }
    if (pending.length) unfinished.push(`upload: ${pending.length} files`);

    // Validate until every artifact has a passing verdict.
    let refs = packages.map(refOf);
    while (refs.length && rounds.validate < maxRounds) {
      rounds.validate++;
      try {
        const result = await validate({ staging, production, artifacts: refs, storeOptions, concurrency: 4 });
        const passed = new Set(result.artifacts.filter((a) => a.verdict === 'passed').map(key));
        completed.validate += passed.size;
        for (const a of result.artifacts) if (a.verdict !== 'passed') note(a.reason ?? `${key(a)}: failed without a reason`);
        refs = refs.filter((r) => !passed.has(key(r)));
      } catch (error) {
        note((error as Error).message);
      }
    }
    if (refs.length) unfinished.push(`validate: ${refs.length} artifacts`);

    // Promote until every artifact is in production and out of staging.
    let stagingRemovalRetries = 0;
    refs = packages.map(refOf);
    while (refs.length && rounds.promote < maxRounds) {
      rounds.promote++;
      try {
        const result = await promote({ staging, production, artifacts: refs, storeOptions, concurrency: 4 });
        // Done means promoted AND the staging copy removed: a removal that failed is retried by re-running
        // promote (the documented recovery; the result says stagingRemoved: false).
        const done = new Set(result.artifacts.filter((a) => (a.status === 'promoted' || a.status === 'already-promoted') && a.stagingRemoved !== false).map(key));
        stagingRemovalRetries += result.artifacts.filter((a) => (a.status === 'promoted' || a.status === 'already-promoted') && a.stagingRemoved === false).length;
        completed.promote += result.artifacts.filter((a) => a.status === 'promoted').length;
        // Failures only: a promoted artifact whose staging removal is pending is counted above, not an error.
        for (const a of result.artifacts) if (a.status !== 'promoted' && a.status !== 'already-promoted') note(a.reason ?? `${key(a)}: ${a.status} without a reason`);
        refs = refs.filter((r) => !done.has(key(r)));
      } catch (error) {
        note((error as Error).message);
      }
    }
    if (refs.length) unfinished.push(`promote: ${refs.length} artifacts`);

    // Reindex until one run succeeds, with a cold cache each time (a re-run on another machine).
    let indexed = false;
    while (!indexed && rounds.reindex < maxRounds) {
      rounds.reindex++;
      // The same cache directory each round, as a re-run of the CLI on one machine would use.
      const cacheDir = path.join(dir, 'reindex-cache');
      const messages: string[] = [];
      try {
        const result = await reindex({ channel: production, storeOptions, cacheDir, concurrency: 4, progress: (e) => messages.push(e.message) });
        indexed = result.ok;
        if (result.ok) completed.reindex++;
        else note(messages.filter((m) => !m.startsWith('indexed ')).at(-1) ?? 'reindex finished with ok=false and no message saying why');
      } catch (error) {
        note((error as Error).message);
      }
    }
    if (!indexed) unfinished.push('reindex');
    proxy.setFaults(undefined);

    // The verdict, read straight from the registry.
    const direct = directStore(registry.location('faults/production'));
    const stagingDirect = directStore(registry.location('faults/staging'));
    let check: ProductionCheck;
    let stagingLeftovers = 0;
    try {
      check = await checkProduction(direct, packages, { exact: true });
      for (const p of packages) if ((await storedPackageSha256(stagingDirect, p.subdir, p.filename)) !== undefined) stagingLeftovers++;
    } finally {
      await direct.close();
      await stagingDirect.close();
    }
    const stats = proxy.stats();
    const result: FaultScenarioResult = {
      requests: stats.requests,
      faults: stats.faults,
      byKind: stats.byKind,
      rounds,
      completed,
      errors: errors.length,
      errorSamples: [...new Set(errors)].slice(-12),
      unclearErrors: errors.filter(unclear).slice(0, 20),
      terseErrors: [...new Set(errors.filter((e) => !unclear(e) && terse(e)))],
      unfinished,
      check,
      lost: check.missing.length + check.corrupted.length,
      stagingLeftovers,
    };
    void byKey;
    await recordFigures({
      scenario: 'faults',
      mode: options.mode,
      seed: options.seed,
      figures: {
        packages: options.packages,
        'fault rate': options.rate,
        'registry requests': result.requests,
        'faults injected': result.faults,
        ...Object.fromEntries(Object.entries(result.byKind).map(([k, v]) => [`faults: ${k}`, v as number])),
        'uploads completed': completed.upload,
        'validations passed': completed.validate,
        'promotions completed': completed.promote,
        'staging removals that failed and were re-run': stagingRemovalRetries,
        'reindex runs completed': completed.reindex,
        'rounds (upload/validate/promote/reindex)': `${rounds.upload}/${rounds.validate}/${rounds.promote}/${rounds.reindex}`,
        'errors reported and retried': result.errors,
        'unclear errors': result.unclearErrors.length,
        'terse errors (one line, no context)': result.terseErrors.length,
        'artifacts lost': result.lost,
        'repodata problems': check.notIndexed.length + check.badRecords.length + check.strayRecords.length,
        'staging copies left after promotion': stagingLeftovers,
      },
      notes: result.errorSamples,
      findings: [...unfinished.map((u) => `unfinished ${u}`), ...result.terseErrors.map((e) => `terse error: ${e}`), ...result.unclearErrors.map((e) => `unclear error: ${e.slice(0, 300)}`), ...(productionProblems(check) ? [`production: ${JSON.stringify(check)}`] : [])],
    });
    return result;
  } finally {
    await proxy.stop();
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * One deterministic fault: once production has been written, every read of the staging manifest fails. promote
 * must not claim the staging copy was removed while it is still there, and a re-run must remove it.
 */
export async function runStagingRereadFailure(): Promise<{ claimedRemoved: boolean; keptAfterFirst: boolean; keptAfterRerun: boolean; firstStatus?: string; rerunStatus?: string }> {
  const registry = await startRegistry();
  const proxy = await startHostileProxy(registry.url);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-reread-'));
  try {
    const [pkg] = await buildValidPackages(path.join(dir, 'p'), 1, 'reread');
    const staging = proxy.location('reread/staging');
    const production = proxy.location('reread/production');
    const storeOptions = { retry: { attempts: 2, baseDelayMs: 5, maxDelayMs: 10 } };
    const refs = [{ subdir: pkg!.subdir, filename: pkg!.filename, sha256: pkg!.sha256 }];
    if (!(await upload({ to: staging, files: [pkg!.file], storeOptions })).ok) throw new Error('upload failed');
    if (!(await validate({ staging, production, artifacts: refs, storeOptions })).ok) throw new Error('validate failed');
    let productionWritten = false;
    proxy.setRules([
      {
        name: 'note-production-write',
        match: (r) => r.method === 'PUT' && /^\/v2\/reread\/production\/.+\/manifests\/[^/]+$/.test(r.path) && !r.path.includes('oci_channel'),
        async answer({ forward }) {
          const answer = await forward();
          if (answer.status < 300) productionWritten = true;
          return { status: answer.status, headers: answer.headers as Record<string, string>, body: answer.body };
        },
      },
      {
        name: 'fail-staging-reads',
        match: (r) => productionWritten && (r.method === 'GET' || r.method === 'HEAD') && /^\/v2\/reread\/staging\/.+\/manifests\/[^/]+$/.test(r.path),
        answer: async () => ({ status: 503, headers: { 'content-type': 'application/json' }, body: '{"errors":[{"code":"UNAVAILABLE","message":"injected"}]}' }),
      },
    ]);
    const first = await promote({ staging, production, artifacts: refs, storeOptions });
    proxy.setRules([]);
    const direct = directStore(registry.location('reread/staging'));
    try {
      const keptAfterFirst = (await storedPackageSha256(direct, pkg!.subdir, pkg!.filename)) !== undefined;
      const rerun = await promote({ staging, production, artifacts: refs, storeOptions });
      const keptAfterRerun = (await storedPackageSha256(direct, pkg!.subdir, pkg!.filename)) !== undefined;
      return { claimedRemoved: first.artifacts[0]?.stagingRemoved === true, keptAfterFirst, keptAfterRerun, firstStatus: first.artifacts[0]?.status, rerunStatus: rerun.artifacts[0]?.status };
    } finally {
      await direct.close();
    }
  } finally {
    await proxy.stop();
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
