// `npm run bench [-- --quick] [--only a,b] [--runs N] [--warmups N] [--out DIR]`
// Runs every scenario against oci-channel and its peers on a loopback docker-registry it starts itself,
// then writes the results JSON, an SVG chart of the ratios and the markdown report.
// A full run writes bench/results/<date>-<machine>.{json,svg} and docs/benchmarks.md; --quick (what CI runs)
// writes under bench/results/quick-<stamp>/ (gitignored) or --out, never touching tracked files.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { BenchContext, Scenario } from './lib/context.ts';
import { bundleWorkers } from './lib/bundle.ts';
import { machineInfo, machineLabel } from './lib/machine.ts';
import { benchMarkdown, ratioChartSvg } from './lib/report.ts';
import type { BenchResults, ScenarioResult } from './lib/types.ts';
import { indexBuildScenario } from './scenarios/index-build.ts';
import { largeUploadScenario } from './scenarios/large-upload.ts';
import { smallUploadScenario } from './scenarios/small-upload.ts';
import { promoteScenario } from './scenarios/promote.ts';
import { reindexScenario } from './scenarios/reindex.ts';
import { promoteLatencyScenario, smallUploadLatencyScenario } from './scenarios/latency.ts';
import { reindexLogScenario } from './scenarios/reindex-log.ts';

export const SCENARIOS: Scenario[] = [
  largeUploadScenario,
  smallUploadScenario,
  promoteScenario,
  reindexScenario,
  indexBuildScenario,
  smallUploadLatencyScenario,
  promoteLatencyScenario,
  reindexLogScenario,
];

/** Relative time each scenario needs on a full run (its share of --budget-minutes). */
const BUDGET_SHARES: Record<string, number> = {
  'large-upload': 0.1,
  'small-upload': 0.12,
  promote: 0.12,
  reindex: 0.14,
  'index-build': 0.15,
  'small-upload-rtt': 0.15,
  'promote-rtt': 0.17,
  'reindex-log': 0.05,
};

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface BenchRunOptions {
  quick: boolean;
  only?: string[];
  runs?: number;
  warmups?: number;
  /** Where to write results; default bench/results (full) or bench/results/quick-<stamp> (quick). */
  out?: string;
  /**
   * An earlier results file of a full run to merge into: its scenarios that this run also ran are replaced,
   * the others kept (to re-run one scenario without repeating the rest).
   */
  into?: string;
  /**
   * Minutes for the whole run: each scenario gets a share (BUDGET_SHARES) and starts no new round past it
   * once it has one counted run. Results say how many runs each contender got.
   */
  budgetMinutes?: number;
  /** Records of the index-building scenario's large size (default 700,000; quick: 20,000). */
  records?: number;
  /** Delay per request in the latency scenarios (default 20 ms). */
  rttMs?: number;
  log?: (line: string) => void;
}

export interface BenchRunOutput {
  results: BenchResults;
  files: { json: string; svg: string; markdown: string };
}

function stamp(date: Date): string {
  return date.toISOString().slice(0, 19).replace(/[:]/g, '').replace('T', '-');
}

export async function runBench(options: BenchRunOptions): Promise<BenchRunOutput> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const started = new Date();
  const machine = await machineInfo();
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-bench-'));
  const ctx: BenchContext = {
    quick: options.quick,
    warmups: options.warmups ?? (options.quick ? 0 : 1),
    runs: options.runs ?? (options.quick ? 1 : 5),
    workDir,
    root: ROOT,
    log,
    ...(options.records !== undefined ? { records: options.records } : {}),
    // Quick runs (CI) keep the latency scenarios short: 5 ms a request unless told.
    rttMs: options.rttMs ?? (options.quick ? 5 : 20),
  };
  const selected = options.only?.length ? SCENARIOS.filter((s) => options.only!.includes(s.id)) : SCENARIOS;
  const unknown = (options.only ?? []).filter((id) => !SCENARIOS.some((s) => s.id === id));
  if (unknown.length) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.id).join(', ')}`);

  const args = [
    options.quick ? '--quick' : '',
    options.only?.length ? `--only ${options.only.join(',')}` : '',
    options.runs ? `--runs ${options.runs}` : '',
    options.warmups !== undefined ? `--warmups ${options.warmups}` : '',
    options.budgetMinutes !== undefined ? `--budget-minutes ${options.budgetMinutes}` : '',
    options.into ? `--into ${path.relative(ROOT, path.resolve(options.into))}` : '',
    options.records !== undefined ? `--records ${options.records}` : '',
    options.rttMs !== undefined ? `--rtt-ms ${options.rttMs}` : '',
  ]
    .filter(Boolean)
    .join(' ');
  const resultsDir = path.join(ROOT, 'bench/results');
  const outDir = options.out ?? (options.quick ? path.join(resultsDir, `quick-${stamp(started)}`) : resultsDir);
  await mkdir(outDir, { recursive: true });
  const json = options.into ? path.resolve(options.into) : path.join(outDir, `${stamp(started).slice(0, 10)}-${machineLabel(machine)}.json`);
  const earlier = options.into ? (JSON.parse(await readFile(json, 'utf8')) as BenchResults) : undefined;
  // Full runs update the docs; quick runs keep their markdown beside their results.
  const markdown = options.quick || options.out ? path.join(outDir, 'benchmarks.md') : path.join(ROOT, 'docs/benchmarks.md');
  const scenarios: ScenarioResult[] = [];
  // Written after every scenario: a run stopped half-way still leaves what it measured.
  const persist = async (): Promise<BenchRunOutput> => {
    const command = `npm run bench${args ? ` -- ${args}` : ''}`;
    const ran = new Set(scenarios.map((s) => s.id));
    const results: BenchResults = {
      version: 1,
      startedAt: earlier?.startedAt ?? started.toISOString(),
      finishedAt: new Date().toISOString(),
      quick: options.quick,
      command: earlier ? `${earlier.command}; then ${command}` : command,
      warmups: ctx.warmups,
      runs: ctx.runs,
      machine,
      // Scenario order stays the harness's order whichever run measured each.
      scenarios: SCENARIOS.map((s) => (ran.has(s.id) ? scenarios.find((r) => r.id === s.id) : earlier?.scenarios.find((r) => r.id === s.id))).filter(
        (r): r is ScenarioResult => r !== undefined,
      ),
    };
    await writeFile(json, `${JSON.stringify(results, null, 2)}\n`);
    return { results, files: await render(json, markdown) };
  };

  if (selected.some((s) => s.id !== 'index-build')) await bundleWorkers(ROOT, log);
  try {
    for (const scenario of selected) {
      log(`== ${scenario.title} (${scenario.id})`);
      const t0 = Date.now();
      if (options.budgetMinutes !== undefined) {
        const shares = selected.reduce((sum, s) => sum + (BUDGET_SHARES[s.id] ?? 0.2), 0);
        ctx.deadline = t0 + (options.budgetMinutes * 60_000 * (BUDGET_SHARES[scenario.id] ?? 0.2)) / shares;
      }
      try {
        scenarios.push(await scenario.run(ctx));
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        log(`   FAILED: ${message}`);
        scenarios.push({ id: scenario.id, title: scenario.title, params: {}, contenders: [], ratios: [], checks: [], notes: [], error: message.split('\n')[0]! });
      }
      log(`   ${scenario.id} took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      await persist();
    }
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  return persist();
}

/** Writes the chart (beside the JSON) and the markdown report for a results file; `--render` reruns only this. */
export async function render(json: string, markdown: string): Promise<BenchRunOutput['files']> {
  const results = JSON.parse(await readFile(json, 'utf8')) as BenchResults;
  const svg = json.replace(/\.json$/, '.svg');
  await writeFile(svg, ratioChartSvg(results));
  // Findings written by people (causes of missed targets), kept with the generator and shown in the report.
  const findings = await readFile(path.join(ROOT, 'bench/FINDINGS.md'), 'utf8').catch(() => '');
  const rel = (file: string) => path.relative(path.dirname(markdown), file).split(path.sep).join('/');
  await mkdir(path.dirname(markdown), { recursive: true });
  await writeFile(markdown, benchMarkdown(results, { json: rel(json), svg: rel(svg) }, results.quick ? '' : findings));
  return { json, svg, markdown };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      runs: { type: 'string' },
      warmups: { type: 'string' },
      out: { type: 'string' },
      render: { type: 'string' },
      'budget-minutes': { type: 'string' },
      into: { type: 'string' },
      records: { type: 'string' },
      'rtt-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(
      `usage: npm run bench -- [--quick] [--only ${SCENARIOS.map((s) => s.id).join(',')}] [--runs N] [--warmups N] [--budget-minutes M] [--records N] [--rtt-ms MS] [--out DIR | --into RESULTS.json]\n` +
        '       npm run bench -- --render bench/results/<file>.json   (chart + docs/benchmarks.md again from saved results)\n',
    );
    return;
  }
  if (values.render) {
    const files = await render(path.resolve(values.render), path.join(ROOT, 'docs/benchmarks.md'));
    process.stderr.write(`chart:   ${files.svg}\nreport:  ${files.markdown}\n`);
    return;
  }
  const count = (text: string | undefined, what: string, min: number): number | undefined => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${what} must be an integer >= ${min}, got ${text}`);
    return n;
  };
  const { results, files } = await runBench({
    quick: values.quick!,
    only: values.only?.split(',').map((s) => s.trim()).filter(Boolean),
    runs: count(values.runs, 'runs', 1),
    warmups: count(values.warmups, 'warmups', 0),
    out: values.out,
    budgetMinutes: count(values['budget-minutes'], 'budget-minutes', 1),
    into: values.into,
    records: count(values.records, 'records', 1000),
    rttMs: count(values['rtt-ms'], 'rtt-ms', 0),
  });
  process.stderr.write(`results: ${files.json}\nchart:   ${files.svg}\nreport:  ${files.markdown}\n`);
  const failed = results.scenarios.filter((s) => s.error);
  if (failed.length) {
    process.stderr.write(`failed scenarios: ${failed.map((s) => `${s.id} (${s.error})`).join('; ')}\n`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
