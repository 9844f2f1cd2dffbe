// Alternating runs: every round runs each contender once (A B A B ...), so drift on a busy machine hits all
// contenders alike. The first `warmups` rounds are not counted.
import { summarize, type Summary } from './stats.ts';
import type { ContenderResult, Metrics, RatioResult } from './types.ts';

export interface Contender {
  name: string;
  how: string;
  /** Untimed preparation before each run (fresh registry, staging filled ...). */
  prepare?: (round: number) => Promise<void>;
  /** One timed run; returns its metrics (at least `wallMs`). */
  run: (round: number) => Promise<Metrics>;
  /** Untimed clean-up after each run. */
  cleanup?: (round: number) => Promise<void>;
  /**
   * False for contenders that warm themselves up (a loop of hundreds of processes): they skip the warm-up
   * rounds, which would only double the scenario's time.
   */
  warmup?: boolean;
  /** At most this many counted runs (a contender that takes minutes a run, like a skopeo loop at 20 ms a request). */
  maxRuns?: number;
}

export interface RoundOptions {
  warmups: number;
  runs: number;
  log: (line: string) => void;
  deadline?: number;
}

export function summarizeRuns(runs: Metrics[]): Record<string, Summary> {
  const keys = new Set(runs.flatMap((r) => Object.keys(r)));
  const out: Record<string, Summary> = {};
  for (const key of keys) out[key] = summarize(runs.map((r) => r[key] ?? Number.NaN));
  return out;
}

export async function alternate(contenders: Contender[], options: RoundOptions): Promise<ContenderResult[]> {
  const counted = new Map<string, Metrics[]>(contenders.map((c) => [c.name, []]));
  const rounds = options.warmups + options.runs;
  for (let round = 0; round < rounds; round++) {
    const warm = round < options.warmups;
    if (options.deadline !== undefined && round > options.warmups && Date.now() > options.deadline) {
      options.log(`  time budget spent: stopping after ${round - options.warmups} counted run(s) of ${options.runs}`);
      break;
    }
    for (const contender of contenders) {
      if (warm && contender.warmup === false) continue;
      if (!warm && contender.maxRuns !== undefined && counted.get(contender.name)!.length >= contender.maxRuns) continue;
      await contender.prepare?.(round);
      let metrics: Metrics;
      try {
        metrics = await contender.run(round);
      } finally {
        await contender.cleanup?.(round);
      }
      const shown = Object.entries(metrics)
        .map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toFixed(1)}`)
        .join(' ');
      options.log(`  ${warm ? 'warm-up' : `run ${round - options.warmups + 1}/${options.runs}`} ${contender.name}: ${shown}`);
      if (!warm) counted.get(contender.name)!.push(metrics);
    }
  }
  return contenders.map((c) => {
    const runs = counted.get(c.name)!;
    return { name: c.name, how: c.how, runs, summary: summarizeRuns(runs) };
  });
}

export function medianOf(results: ContenderResult[], name: string, metric: string): number {
  return results.find((r) => r.name === name)?.summary[metric]?.median ?? Number.NaN;
}

export function ratio(
  results: ContenderResult[],
  spec: { label: string; numerator: string; denominator: string; metric?: string; better: 'lower' | 'higher'; target?: number },
): RatioResult {
  const metric = spec.metric ?? 'wallMs';
  const value = medianOf(results, spec.numerator, metric) / medianOf(results, spec.denominator, metric);
  const met = spec.target === undefined || !Number.isFinite(value) ? undefined : spec.better === 'lower' ? value <= spec.target : value >= spec.target;
  return { label: spec.label, numerator: spec.numerator, denominator: spec.denominator, metric, value, better: spec.better, target: spec.target, met };
}
