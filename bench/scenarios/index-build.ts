// Scenario 5: index building alone, at two sizes: 100,000 synthetic records of one subdir and conda-forge's
// size (`--records N`, default 700,000: linux-64 alone holds hundreds of thousands). Each builds repodata.json,
// +zst, run_exports.json and shards, against the floor of the same serialize-and-compress calls on the same
// data and nothing else. The cost per record at the large size against the small one says whether the build
// stays linear.
import path from 'node:path';
import { emptyResult, type BenchContext, type Scenario } from '../lib/context.ts';
import { NODE_BIN, runMeasured } from '../lib/exec.ts';
import { alternate, medianOf, ratio } from '../lib/runner.ts';
import { formatBytes } from '../lib/stats.ts';

export const indexBuildScenario: Scenario = {
  id: 'index-build',
  title: 'Index building',
  async run(ctx: BenchContext) {
    const small = ctx.quick ? 5_000 : 100_000;
    const large = ctx.records ?? (ctx.quick ? 20_000 : 700_000);
    const result = emptyResult(this.id, this.title, { records: `${small} and ${large}`, subdir: 'linux-64', 'package names': 'records / 10' });
    const worker = path.join(ctx.root, 'bench/workers/index-build.ts');
    const name = (who: 'oci-channel' | 'floor', records: number) => `${who} ${records.toLocaleString('en-US')}`;
    const contender = (mode: 'build' | 'floor', records: number, how: string) => ({
      name: name(mode === 'build' ? 'oci-channel' : 'floor', records),
      how,
      async run() {
        const measured = await runMeasured(NODE_BIN, ['--expose-gc', worker, mode, String(records)], { cwd: ctx.root });
        const report = JSON.parse(measured.stdout.trim().split('\n').pop()!) as { buildMs: number; buildCpuMs: number; maxRssBytes: number };
        return { wallMs: report.buildMs, cpuMs: report.buildCpuMs, perRecordUs: (report.buildMs * 1000) / records, perRecordCpuUs: (report.buildCpuMs * 1000) / records, maxRssBytes: measured.maxRssBytes ?? report.maxRssBytes };
      },
    });
    const build = '`buildSubdirIndex()` from @oci-channel/conda: sort, canonical JSON, zstd, shards, shard index, run_exports.json';
    const floor = 'the same `JSON.stringify`, msgpack `encode`, `zstdCompressSync` (same levels) and sha256 calls on the same records, nothing else';
    result.contenders = await alternate(
      [
        contender('build', small, build),
        contender('floor', small, floor),
        { ...contender('build', large, `the same at ${large.toLocaleString('en-US')} records`), maxRuns: 3 },
        { ...contender('floor', large, `the same at ${large.toLocaleString('en-US')} records`), maxRuns: 3 },
      ],
      ctx,
    );
    result.ratios.push(
      ratio(result.contenders, { label: `${small.toLocaleString('en-US')} records: build time vs the serialize-and-compress floor`, numerator: name('oci-channel', small), denominator: name('floor', small), better: 'lower', target: 1.5 }),
      ratio(result.contenders, { label: `${large.toLocaleString('en-US')} records: build time vs the serialize-and-compress floor`, numerator: name('oci-channel', large), denominator: name('floor', large), better: 'lower', target: 1.3 }),
      ratio(result.contenders, { label: `cost per record at ${large.toLocaleString('en-US')} vs at ${small.toLocaleString('en-US')} (linear: 1.0)`, numerator: name('oci-channel', large), denominator: name('oci-channel', small), metric: 'perRecordUs', better: 'lower', target: 1.2 }),
      ratio(result.contenders, { label: `${large.toLocaleString('en-US')} records: peak memory vs the floor's`, numerator: name('oci-channel', large), denominator: name('floor', large), metric: 'maxRssBytes', better: 'lower', target: 1.5 }),
      ratio(result.contenders, { label: `${large.toLocaleString('en-US')} records: CPU time vs the floor's (not a target: what a loaded machine does not blur)`, numerator: name('oci-channel', large), denominator: name('floor', large), metric: 'cpuMs', better: 'lower' }),
      ratio(result.contenders, { label: `CPU per record at ${large.toLocaleString('en-US')} vs at ${small.toLocaleString('en-US')} (not a target)`, numerator: name('oci-channel', large), denominator: name('oci-channel', small), metric: 'perRecordCpuUs', better: 'lower' }),
      ratio(result.contenders, { label: `floor: cost per record at ${large.toLocaleString('en-US')} vs at ${small.toLocaleString('en-US')} (not a target)`, numerator: name('floor', large), denominator: name('floor', small), metric: 'perRecordUs', better: 'lower' }),
    );
    const rss = (who: 'oci-channel' | 'floor', n: number) => formatBytes(medianOf(result.contenders, name(who, n), 'maxRssBytes'));
    result.notes.push(
      `Wall and CPU time are the build alone (records are generated before the clock starts); peak RSS is the whole process, generation included: at ${large.toLocaleString('en-US')} records oci-channel ${rss('oci-channel', large)}, floor ${rss('floor', large)}; at ${small.toLocaleString('en-US')} ${rss('oci-channel', small)} and ${rss('floor', small)}.`,
    );
    return result;
  },
};
