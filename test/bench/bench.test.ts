// `npm run bench -- --quick` end to end (what CI runs to keep the harness working): it must start its own
// registry, run every scenario against every peer, and write the results JSON, the markdown and the SVG
// chart, outside the tracked tree. Timings are never asserted; the shape and the counted facts are.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchMarkdown, ratioChartSvg } from '../../bench/lib/report.ts';
import { ratio, summarizeRuns } from '../../bench/lib/runner.ts';
import { summarize } from '../../bench/lib/stats.ts';
import type { BenchResults, ContenderResult } from '../../bench/lib/types.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SCENARIOS = ['large-upload', 'small-upload', 'promote', 'reindex', 'index-build', 'small-upload-rtt', 'promote-rtt', 'reindex-log'];

function run(command: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env } });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-20_000);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('bench report pieces', () => {
  const contender = (name: string, walls: number[]): ContenderResult => {
    const runs = walls.map((wallMs) => ({ wallMs }));
    return { name, how: `${name} how`, runs, summary: summarizeRuns(runs) };
  };

  test('median and spread ignore the mean and outliers', () => {
    expect(summarize([10, 12, 11, 100, 9])).toEqual({ median: 11, min: 9, max: 100, spread: (100 - 9) / 2 / 11, n: 5 });
    expect(summarize([4, 2]).median).toBe(3);
  });

  test('ratios compare medians and judge the target in the right direction', () => {
    const results = [contender('oci-channel', [100, 110, 105]), contender('peer', [1000, 1200, 1100])];
    const speedup = ratio(results, { label: 's', numerator: 'peer', denominator: 'oci-channel', better: 'higher', target: 5 });
    expect(speedup.value).toBeCloseTo(1100 / 105);
    expect(speedup.met).toBe(true);
    const slower = ratio(results, { label: 'l', numerator: 'oci-channel', denominator: 'peer', better: 'lower', target: 0.05 });
    expect(slower.met).toBe(false);
  });

  test('markdown and SVG show every scenario, ratio and missed target', () => {
    const contenders = [contender('oci-channel', [100, 120, 110]), contender('curl', [90, 100, 95])];
    const results: BenchResults = {
      version: 1,
      startedAt: '2026-01-01T00:00:00.000Z',
      finishedAt: '2026-01-01T00:10:00.000Z',
      quick: false,
      command: 'npm run bench',
      warmups: 1,
      runs: 3,
      machine: { hostname: 'h', cpuModel: 'cpu', cores: 2, memoryBytes: 2 ** 34, os: 'Linux', node: 'v24.0.0', registry: 'reg 2.8', skopeo: 'skopeo 1.9', curl: 'curl 7.88.1 (x86_64)' },
      scenarios: [
        {
          id: 'large-upload',
          title: 'Large <package>',
          params: { size: '1 GiB' },
          contenders,
          ratios: [ratio(contenders, { label: 'vs curl', numerator: 'oci-channel', denominator: 'curl', better: 'lower', target: 1.1 })],
          checks: [{ label: 'memory', value: '90 MiB', target: '< 150 MB', met: true }],
          notes: ['a note'],
        },
      ],
    };
    const md = benchMarkdown(results, { json: 'r.json', svg: 'r.svg' });
    expect(md).toContain('## Large <package>');
    expect(md).toContain('| vs curl | oci-channel / curl (wall time (median)) | 1.16x | <= 1.10x **missed** |');
    expect(md).toContain('Reproduce: `npm run bench`');
    expect(md).toContain('2 cores');
    const svg = ratioChartSvg(results);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('>Large &lt;package&gt;</text>');
    expect(svg).toContain('>vs curl</text>');
    expect(svg).toContain('#c0392b'); // the missed target is drawn red
  });
});

describe('npm run bench -- --quick', () => {
  let out: string;
  beforeAll(async () => {
    out = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-bench-test-'));
  });
  afterAll(async () => {
    await rm(out, { recursive: true, force: true });
  });

  test('runs every scenario against its peers and writes results JSON, markdown and SVG', async () => {
    const { code, stderr } = await run('npm', ['run', '--silent', 'bench', '--', '--quick', '--out', out]);
    if (code !== 0) throw new Error(`npm run bench -- --quick exited ${code}:\n${stderr.slice(-4000)}`);
    const files = await readdir(out);
    const jsonFile = files.find((f) => f.endsWith('.json'));
    const svgFile = files.find((f) => f.endsWith('.svg'));
    expect(jsonFile).toBeDefined();
    expect(svgFile).toBeDefined();
    expect(files).toContain('benchmarks.md');

    const results = JSON.parse(await readFile(path.join(out, jsonFile!), 'utf8')) as BenchResults;
    expect(results.quick).toBe(true);
    expect(results.scenarios.map((s) => s.id)).toEqual(SCENARIOS);
    for (const scenario of results.scenarios) {
      expect({ id: scenario.id, error: scenario.error, skipped: scenario.skipped }).toEqual({ id: scenario.id, error: undefined, skipped: undefined });
      expect(scenario.contenders.length).toBeGreaterThanOrEqual(2);
      for (const c of scenario.contenders) {
        expect(c.runs.length).toBe(1);
        expect(c.summary.wallMs!.median).toBeGreaterThan(0);
      }
    }
    const byId = Object.fromEntries(results.scenarios.map((s) => [s.id, s]));
    // Every peer ran: curl and skopeo for the large package, skopeo loops for many packages and promotion.
    expect(byId['large-upload']!.contenders.map((c) => c.name)).toEqual(['oci-channel', 'curl', 'skopeo']);
    // ... and the registry floor (the bare requests) beside them.
    expect(byId['small-upload']!.contenders.map((c) => c.name)).toEqual(['oci-channel', 'skopeo loop', 'registry floor']);
    expect(byId['promote']!.contenders.map((c) => c.name)).toEqual(['oci-channel', 'skopeo loop', 'registry floor']);
    // Counted at the proxy: skopeo moves every package byte on promotion; oci-channel mounts them.
    const promote = byId['promote']!;
    expect(promote.contenders[1]!.runs[0]!.packageBytes).toBeGreaterThan(0);
    expect(promote.contenders[0]!.runs[0]!.mounts).toBeGreaterThan(0);
    // The floor copies by mounts too, and makes fewer requests than oci-channel (no checks, no log).
    expect(promote.contenders[2]!.runs[0]!.packageBytes).toBe(0);
    expect(promote.contenders[2]!.runs[0]!.requests).toBeLessThan(promote.contenders[0]!.runs[0]!.requests!);
    // Reindex: a warm run with nothing new downloads no blob; the first index reads every package.
    const reindex = byId['reindex']!;
    expect(reindex.contenders.find((c) => c.name === 'warm (nothing new)')!.runs[0]!.blobDownloads).toBe(0);
    expect(reindex.contenders.find((c) => c.name === 'first index')!.runs[0]!.requests).toBeGreaterThan(200);
    // The latency scenarios go through the delaying proxy: every contender, the floor too, and the proxy saw
    // how many requests were in flight; without mounts the package bytes are streamed.
    expect(byId['small-upload-rtt']!.contenders.map((c) => c.name)).toEqual(['oci-channel', 'registry floor', 'oci-channel, single POST', 'registry floor, single POST', 'skopeo loop']);
    // A registry taking OCI's single POST saves oci-channel a request per blob; the floor does the same there.
    const upload = (name: string) => byId['small-upload-rtt']!.contenders.find((c) => c.name === name)!.runs[0]!.requests!;
    expect(upload('oci-channel, single POST')).toBeLessThan(upload('oci-channel'));
    const rtt = byId['promote-rtt']!;
    expect(rtt.contenders.map((c) => c.name)).toEqual(['oci-channel', 'registry floor', 'oci-channel, no mount', 'skopeo loop']);
    expect(rtt.contenders[0]!.runs[0]!.packageBytes).toBe(0);
    expect(rtt.contenders[2]!.runs[0]!.packageBytes).toBeGreaterThan(0);
    expect(rtt.contenders[2]!.runs[0]!.blobUploadsInFlight).toBeGreaterThan(1);
    for (const c of [...rtt.contenders, ...byId['small-upload-rtt']!.contenders]) expect(c.runs[0]!.avgInFlight).toBeGreaterThan(0);
    // A warm reindex reads the log past its mark: through a registry honouring last=, the tag list it reads is
    // the same size with 20 or 320 entries; distribution 2.8 ignores last= and sends all of them.
    const log = byId['reindex-log']!;
    const bytes = (name: string) => log.contenders.find((c) => c.name === name)!.runs[0]!.tagListBytes!;
    expect(bytes('paginating, 320 entries')).toBe(bytes('paginating, 20 entries'));
    expect(bytes('2.8, 320 entries')).toBeGreaterThan(10 * bytes('2.8, 20 entries'));
    // Index building ran at two sizes against the floor at each.
    expect(byId['index-build']!.contenders.map((c) => c.name)).toEqual(['oci-channel 5,000', 'floor 5,000', 'oci-channel 20,000', 'floor 20,000']);
    // Peak memory is measured for the processes that ran.
    expect(byId['large-upload']!.contenders[0]!.runs[0]!.maxRssBytes).toBeGreaterThan(10 << 20);

    const md = await readFile(path.join(out, 'benchmarks.md'), 'utf8');
    for (const s of results.scenarios) expect(md).toContain(`## ${s.title}`);
    expect(md).toContain(`](${svgFile})`);
    const svg = await readFile(path.join(out, svgFile!), 'utf8');
    expect(svg).toMatch(/^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    const ratios = results.scenarios.flatMap((s) => s.ratios);
    expect((svg.match(/<rect /g) ?? []).length).toBe(1 + ratios.filter((r) => Number.isFinite(r.value)).length);
  }, 600_000);
});
