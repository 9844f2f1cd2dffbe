// Scenario 5: index building alone. 100,000 synthetic records -> repodata.json, +zst, run_exports.json and
// shards, against the floor of the same serialize-and-compress calls on the same data and nothing else.
import path from 'node:path';
import { emptyResult, type BenchContext, type Scenario } from '../lib/context.ts';
import { NODE_BIN, runMeasured } from '../lib/exec.ts';
import { alternate, medianOf, ratio } from '../lib/runner.ts';
import { formatBytes } from '../lib/stats.ts';

export const indexBuildScenario: Scenario = {
  id: 'index-build',
  title: 'Index building',
  async run(ctx: BenchContext) {
    const records = ctx.quick ? 5_000 : 100_000;
    const result = emptyResult(this.id, this.title, { records, subdir: 'linux-64', 'package names': records / 10 });
    const worker = path.join(ctx.root, 'bench/workers/index-build.ts');
    const contender = (mode: 'build' | 'floor', name: string, how: string) => ({
      name,
      how,
      async run() {
        const measured = await runMeasured(NODE_BIN, ['--expose-gc', worker, mode, String(records)], { cwd: ctx.root });
        const report = JSON.parse(measured.stdout.trim().split('\n').pop()!) as { buildMs: number; maxRssBytes: number };
        return { wallMs: report.buildMs, maxRssBytes: measured.maxRssBytes ?? report.maxRssBytes };
      },
    });
    result.contenders = await alternate(
      [
        contender('build', 'oci-channel', '`buildSubdirIndex()` from @oci-channel/conda: sort, canonical JSON, zstd, shards, shard index, run_exports.json'),
        contender('floor', 'floor', 'the same `JSON.stringify`, msgpack `encode`, `zstdCompressSync` and sha256 calls on the same records, nothing else'),
      ],
      ctx,
    );
    result.ratios.push(ratio(result.contenders, { label: 'build time vs the serialize-and-compress floor', numerator: 'oci-channel', denominator: 'floor', better: 'lower', target: 1.5 }));
    const rss = medianOf(result.contenders, 'oci-channel', 'maxRssBytes');
    const floorRss = medianOf(result.contenders, 'floor', 'maxRssBytes');
    result.notes.push(
      `Wall time is the build alone (records are generated before the clock starts); peak RSS is the whole process, generation included: oci-channel ${formatBytes(rss)}, floor ${formatBytes(floorRss)}.`,
    );
    return result;
  },
};
