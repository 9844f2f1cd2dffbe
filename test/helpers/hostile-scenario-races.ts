// Scenario: four promoters over overlapping artifact sets and two reindexers (separate caches, as on separate
// machines) run at the same time, round after round. Every artifact must end in production exactly once,
// the settled `latest` repodata must include all of them, and no `latest` may ever replace a newer one: each
// `latest` pushed (captured at the proxy, in the order the registry answered) must hold every package of
// every `latest` that was pushed before it started.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileKey, OptionsError, promote, readPromotions, upload, validate, type PromoteResult } from '@oci-channel/pipeline';
import { reindex } from '../../packages/pipeline/src/steps/reindex.ts';
import { startRegistry } from '../harness/registry.ts';
import { buildValidPackages, type BuiltPackage } from './hostile-packages.ts';
import { startHostileProxy, type Rule } from './hostile-proxy.ts';
import { seededRandom, shuffled } from './hostile-random.ts';
import { checkProduction, directStore, listChannelPackages, productionProblems, recordFigures, type ProductionCheck } from './hostile-world.ts';

export interface RaceScenarioOptions {
  mode: 'ci' | 'stress';
  rounds: number;
  packagesPerRound: number;
  seed: number;
}

export interface RaceScenarioResult {
  rounds: number;
  promoterRuns: number;
  reindexerRuns: number;
  /** Artifacts a promoter reported failed/rejected while another promoted it (misleading, but converges). */
  raceFailures: string[];
  /** Reindex runs that returned ok=false. */
  reindexFailures: string[];
  latestPushes: number;
  /** A `latest` that dropped packages a `latest` pushed before it held. */
  regressions: string[];
  /** Artifacts held by more than one production manifest. */
  duplicates: string[];
  check: ProductionCheck;
  duplicateLogEntries: number;
}

interface LatestPush {
  subdir: string;
  start: number;
  end: number;
  status: number;
  body: Buffer;
}

export async function runRaceScenario(options: RaceScenarioOptions): Promise<RaceScenarioResult> {
  const random = seededRandom(options.seed);
  const registry = await startRegistry();
  const proxy = await startHostileProxy(registry.url);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-races-'));
  const staging = proxy.location('races/staging');
  const production = proxy.location('races/production');
  const pushes: LatestPush[] = [];
  let tick = 0;
  // Capture every PUT of a subdir's `latest` repodata manifest, with when it started and when it was answered.
  const capture: Rule = {
    name: 'capture-latest',
    match: (r) => r.method === 'PUT' && /^\/v2\/races\/production\/[^/]+\/repodata\.json\/manifests\/latest$/.test(r.path),
    async answer({ request, body, forward }) {
      const start = tick++;
      const bytes = await body();
      const answered = await forward(bytes);
      pushes.push({ subdir: request.path.split('/')[4]!, start, end: tick++, status: answered.status, body: bytes });
      return { status: answered.status, headers: answered.headers as Record<string, string>, body: answered.body };
    },
  };
  proxy.setRules([capture]);

  const raceFailures: string[] = [];
  const reindexFailures: string[] = [];
  let promoterRuns = 0;
  let reindexerRuns = 0;
  const all: BuiltPackage[] = [];
  const productionDirect = directStore(registry.location('races/production'));
  try {
    for (let round = 0; round < options.rounds; round++) {
      const packages = await buildValidPackages(path.join(dir, `r${round}`), options.packagesPerRound, `race${round}`);
      all.push(...packages);
      const up = await upload({ to: staging, files: packages.map((p) => p.file) });
      if (!up.ok) throw new Error(`upload failed: ${JSON.stringify(up.errors)}`);
      const refs = packages.map((p) => ({ subdir: p.subdir, filename: p.filename, sha256: p.sha256 }));
      const checked = await validate({ staging, production, artifacts: refs });
      if (!checked.ok) throw new Error(`validate failed: ${JSON.stringify(checked.artifacts.map((a) => a.reason))}`);

      // Overlapping sets: each promoter takes a seeded ~60%, and every artifact is in at least one set.
      const sets = Array.from({ length: 4 }, () => refs.filter(() => random() < 0.6));
      refs.forEach((r, i) => {
        if (!sets.some((s) => s.includes(r))) sets[i % 4]!.push(r);
      });
      const promoters = sets.map((set) => promote({ staging, production, artifacts: shuffled(random, set), concurrency: 3 }));
      const reindexers = [0, 1].map(async (n) => {
        // Start a little into the promotions, at a seeded moment.
        await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 400)));
        const messages: string[] = [];
        // One that starts before the first promotion lands finds nothing there: it is refused and writes nothing.
        const result = await reindex({ channel: production, cacheDir: path.join(dir, `cache-${n}`), progress: (e) => messages.push(e.message) }).catch((error: unknown) => {
          if (round === 0 && error instanceof OptionsError && /^nothing at /.test(error.message)) return undefined;
          throw error;
        });
        if (result && !result.ok) reindexFailures.push(`round ${round} reindexer ${n}: ${messages.filter((m) => !m.startsWith('indexed ')).at(-1) ?? 'ok=false'}`);
        return result;
      });
      const results: PromoteResult[] = await Promise.all(promoters);
      await Promise.all(reindexers);
      promoterRuns += 4;
      reindexerRuns += 2;
      for (const result of results) {
        for (const a of result.artifacts) if (a.status !== 'promoted' && a.status !== 'already-promoted') raceFailures.push(`round ${round}: ${a.reason ?? `${a.subdir}/${a.filename} ${a.status}`}`);
      }
      // Settle: promote whatever a race left behind, then one reindex per reindexer cache.
      const inProduction = new Set((await listChannelPackages(productionDirect)).map((p) => fileKey(p.subdir, p.filename)));
      const left = refs.filter((r) => !inProduction.has(fileKey(r.subdir, r.filename)));
      if (left.length) await promote({ staging, production, artifacts: left });
      for (const n of [0, 1]) {
        const result = await reindex({ channel: production, cacheDir: path.join(dir, `cache-${n}`) });
        reindexerRuns++;
        if (!result.ok) reindexFailures.push(`round ${round} settling reindex ${n}: ok=false`);
      }
    }

    // No `latest` replaced a newer one: compare every answered push with every push answered before it started.
    const regressions: string[] = [];
    const contents = new Map<string, Set<string>>();
    const filesOf = async (push: LatestPush): Promise<Set<string>> => {
      const key = createHash('sha256').update(push.body).digest('hex');
      let files = contents.get(key);
      if (files) return files;
      const manifest = JSON.parse(push.body.toString('utf8')) as { layers: Array<{ mediaType: string; digest: `sha256:${string}`; size: number }> };
      const layer = manifest.layers.find((l) => l.mediaType === 'application/vnd.conda.repodata.v1+json')!;
      const chunks: Buffer[] = [];
      for await (const chunk of await productionDirect.repository(`${push.subdir}/repodata.json`).fetchBlob(layer.digest, layer.size)) chunks.push(chunk as Buffer);
      const repodata = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, Record<string, unknown>>;
      files = new Set([...Object.keys(repodata.packages ?? {}), ...Object.keys(repodata['packages.conda'] ?? {})]);
      contents.set(key, files);
      return files;
    };
    const answered = pushes.filter((p) => p.status >= 200 && p.status < 300);
    for (const later of answered) {
      const laterFiles = await filesOf(later);
      for (const earlier of answered) {
        if (earlier.subdir !== later.subdir || earlier.end >= later.start) continue;
        const lost = [...(await filesOf(earlier))].filter((f) => !laterFiles.has(f));
        if (lost.length) regressions.push(`${later.subdir}: latest pushed at ${later.start} dropped ${lost.length} package(s) of the latest pushed at ${earlier.start} (${lost.slice(0, 3).join(', ')})`);
      }
    }

    const stored = await listChannelPackages(productionDirect);
    const counts = new Map<string, number>();
    for (const p of stored) counts.set(fileKey(p.subdir, p.filename), (counts.get(fileKey(p.subdir, p.filename)) ?? 0) + 1);
    const duplicates = [...counts.entries()].filter(([, n]) => n > 1).map(([k, n]) => `${k} x${n}`);
    const check = await checkProduction(productionDirect, all, { exact: true });
    const logCounts = new Map<string, number>();
    for (const e of await readPromotions(productionDirect)) logCounts.set(fileKey(e.subdir, e.filename), (logCounts.get(fileKey(e.subdir, e.filename)) ?? 0) + 1);
    const duplicateLogEntries = [...logCounts.values()].filter((n) => n > 1).length;

    const result: RaceScenarioResult = {
      rounds: options.rounds,
      promoterRuns,
      reindexerRuns,
      raceFailures,
      reindexFailures,
      latestPushes: answered.length,
      regressions,
      duplicates,
      check,
      duplicateLogEntries,
    };
    await recordFigures({
      scenario: 'races',
      mode: options.mode,
      seed: options.seed,
      figures: {
        rounds: options.rounds,
        packages: all.length,
        'concurrent promoter runs': promoterRuns,
        'reindex runs': reindexerRuns,
        'latest pushes checked': answered.length,
        'latest regressions': regressions.length,
        'artifacts in production more than once': duplicates.length,
        'artifacts lost': check.missing.length + check.corrupted.length,
        'repodata problems': check.notIndexed.length + check.badRecords.length + check.strayRecords.length,
        'promoter results failed by a race (converged on re-run)': raceFailures.length,
        'reindex runs not ok': reindexFailures.length,
        'artifacts with duplicate log entries': duplicateLogEntries,
      },
      findings: [...regressions, ...duplicates, ...raceFailures, ...reindexFailures, ...(productionProblems(check) ? [`production: ${JSON.stringify(check)}`] : [])].slice(0, 40),
    });
    return result;
  } finally {
    await productionDirect.close();
    await proxy.stop();
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
