// The results model: every scenario reports contenders (each with its runs' metrics), ratios between
// contenders, and target checks. The JSON file, the markdown and the chart are all made from this.
import type { MachineInfo } from './machine.ts';
import type { Summary } from './stats.ts';

/** Metric name -> value for one run. Names end in their unit: `wallMs`, `maxRssBytes`, `requests`, `blobBytes`... */
export type Metrics = Record<string, number>;

export interface ContenderResult {
  name: string;
  /** What exactly ran (the command or the call), for the docs. */
  how: string;
  runs: Metrics[];
  summary: Record<string, Summary>;
}

export interface RatioResult {
  label: string;
  /** median(metric of `numerator`) / median(metric of `denominator`). */
  numerator: string;
  denominator: string;
  metric: string;
  value: number;
  /** Whether lower ratios are better (oci-channel / peer) or higher (peer / oci-channel). */
  better: 'lower' | 'higher';
  target?: number;
  met?: boolean;
}

export interface TargetCheck {
  label: string;
  value: string;
  target: string;
  met: boolean;
}

export interface ScenarioResult {
  id: string;
  title: string;
  /** The sizes this run used. */
  params: Record<string, string | number>;
  contenders: ContenderResult[];
  ratios: RatioResult[];
  checks: TargetCheck[];
  notes: string[];
  /** Set when the scenario could not run (a missing step); the rest of the run still reports. */
  skipped?: string;
  error?: string;
}

export interface BenchResults {
  version: 1;
  startedAt: string;
  finishedAt: string;
  quick: boolean;
  command: string;
  warmups: number;
  runs: number;
  machine: MachineInfo;
  scenarios: ScenarioResult[];
}
