// What every scenario gets from the run: sizes (quick or full), round counts, a scratch directory, a log.
import type { ScenarioResult } from './types.ts';

export interface BenchContext {
  quick: boolean;
  warmups: number;
  runs: number;
  /** Scratch directory for this run (generated packages, layouts, caches); removed at the end. */
  workDir: string;
  /** Repository root (where package.json is). */
  root: string;
  log: (line: string) => void;
  /** Records for the index-building scenario's large size (`--records N`; its small size is 100,000). */
  records?: number;
  /** Added to every request by the latency scenarios' proxy (`--rtt-ms`, default 20). */
  rttMs: number;
  /**
   * Epoch ms after which a scenario starts no new round once it has one counted run (the time budget:
   * a loaded machine must not push a run past its deadline); undefined: no budget.
   */
  deadline?: number;
}

export interface Scenario {
  id: string;
  title: string;
  run(ctx: BenchContext): Promise<ScenarioResult>;
}

export function emptyResult(id: string, title: string, params: ScenarioResult['params'] = {}): ScenarioResult {
  return { id, title, params, contenders: [], ratios: [], checks: [], notes: [] };
}
