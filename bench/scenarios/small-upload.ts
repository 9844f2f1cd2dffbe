// Scenario 2: many small packages (500 generated, 20 KB to 2 MB, both formats, five subdirs) uploaded to
// staging: oci-channel in one command against one `skopeo copy` per package from OCI layouts (the loop
// Homebrew publishes bottles with). Every run gets a fresh registry.
import { stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startRegistry, type RunningRegistry } from '../../test/harness/registry.ts';
import { emptyResult, type BenchContext, type Scenario } from '../lib/context.ts';
import { buildSmallPackages, type GeneratedPackage } from '../lib/packages.ts';
import { runWorker, skopeoLoopMeasured } from '../lib/peers.ts';
import { alternate, ratio } from '../lib/runner.ts';
import { formatBytes } from '../lib/stats.ts';
import { uploadFloorPlan } from '../lib/floor.ts';

/** The bare-requests contender (bench/workers/floor.ts) and how many artifacts it has in flight. */
export const FLOOR = 'registry floor';
export const FLOOR_CONCURRENCY = 16;

export interface StagedArtifact {
  subdir: string;
  filename: string;
  repository: string;
  tag: string;
  sha256: string;
}

export interface SmallSet {
  packages: GeneratedPackage[];
  listFile: string;
  totalBytes: number;
  /** The same packages as OCI layouts (written by oci-channel's layout store): skopeo's source. */
  layoutDir: string;
  artifacts: StagedArtifact[];
}

/** Generates the small-package set once per bench run (shared by the upload and promotion scenarios). */
let cached: Promise<SmallSet> | undefined;
export function smallSet(ctx: BenchContext): Promise<SmallSet> {
  cached ??= (async () => {
    const count = ctx.quick ? 20 : 500;
    const dir = path.join(ctx.workDir, 'small');
    ctx.log(`  generating ${count} small packages ...`);
    const packages = await buildSmallPackages(path.join(dir, 'packages'), count);
    let totalBytes = 0;
    for (const p of packages) totalBytes += (await stat(p.file)).size;
    const listFile = path.join(dir, 'files.txt');
    await writeFile(listFile, `${packages.map((p) => p.file).join('\n')}\n`);
    const layoutDir = path.join(dir, 'layout');
    const staged = await runWorker(ctx.root, 'upload', [`oci-layout:${layoutDir}`, listFile]);
    return { packages, listFile, totalBytes, layoutDir, artifacts: staged.output.artifacts as StagedArtifact[] };
  })();
  return cached;
}

export function resetSmallSet(): void {
  cached = undefined;
}

export const smallUploadScenario: Scenario = {
  id: 'small-upload',
  title: 'Many small packages to staging',
  async run(ctx: BenchContext) {
    const set = await smallSet(ctx);
    const count = set.packages.length;
    const conda = set.packages.filter((p) => p.format === 'conda').length;
    const result = emptyResult(this.id, this.title, {
      packages: count,
      formats: `${conda} .conda, ${count - conda} .tar.bz2`,
      subdirs: new Set(set.packages.map((p) => p.subdir)).size,
      'total size': formatBytes(set.totalBytes),
      'sizes': '20 KB - 2 MB, log-uniform',
    });
    let registry: RunningRegistry | undefined;
    const fresh = async () => {
      registry = await startRegistry();
    };
    const stop = async () => {
      await registry?.stop();
      registry = undefined;
    };
    const floorPlan = await uploadFloorPlan(path.join(ctx.workDir, 'small-upload-floor.json'), set.layoutDir, set.artifacts, 'bench', FLOOR_CONCURRENCY);
    result.contenders = await alternate(
      [
        {
          name: 'oci-channel',
          how: `one \`upload()\` of all ${count} files in its own node process (bench/workers/upload.ts bundled by ncc, as the actions ship; default concurrency)`,
          prepare: fresh,
          cleanup: stop,
          async run() {
            const { measured, output } = await runWorker(ctx.root, 'upload', [registry!.location('bench'), set.listFile]);
            if (output.uploaded !== count) throw new Error(`oci-channel uploaded ${String(output.uploaded)} of ${count} packages`);
            return { wallMs: measured.wallMs, perPackageMs: measured.wallMs / count, ...(measured.maxRssBytes ? { maxRssBytes: measured.maxRssBytes } : {}), ...(measured.cpuMs !== undefined ? { cpuMs: measured.cpuMs } : {}) };
          },
        },
        {
          name: 'skopeo loop',
          how: `one \`skopeo copy --preserve-digests oci:LAYOUT/<repo>:<tag> docker://REGISTRY/bench/<repo>:<tag>\` per package, in a shell loop (no warm-up round: ${count} processes warm themselves)`,
          warmup: false,
          prepare: fresh,
          cleanup: stop,
          async run() {
            const copies = set.artifacts.map((a) => ({
              from: `oci:${path.join(set.layoutDir, a.repository)}:${a.tag}`,
              to: `docker://${registry!.host}/bench/${a.repository}:${a.tag}`,
            }));
            const measured = await skopeoLoopMeasured(ctx.workDir, copies);
            return { wallMs: measured.wallMs, perPackageMs: measured.wallMs / count, ...(measured.maxRssBytes ? { maxRssBytes: measured.maxRssBytes } : {}), ...(measured.cpuMs !== undefined ? { cpuMs: measured.cpuMs } : {}) };
          },
        },
        {
          name: FLOOR,
          how: `not a tool: only the requests the publish needs (POST + PUT of each blob file from the layouts, PUT of each manifest), digests known beforehand, no checks, ${FLOOR_CONCURRENCY} artifacts at once (bench/workers/floor.ts)`,
          prepare: fresh,
          cleanup: stop,
          async run() {
            const { measured } = await runWorker(ctx.root, 'floor', [floorPlan, registry!.url]);
            return { wallMs: measured.wallMs, perPackageMs: measured.wallMs / count, ...(measured.maxRssBytes ? { maxRssBytes: measured.maxRssBytes } : {}), ...(measured.cpuMs !== undefined ? { cpuMs: measured.cpuMs } : {}) };
          },
        },
      ],
      ctx,
    );
    result.ratios.push(ratio(result.contenders, { label: `${count} packages: time against the registry floor`, numerator: 'oci-channel', denominator: FLOOR, better: 'lower', target: 1.2 }));
    result.ratios.push(ratio(result.contenders, { label: `${count} packages: speed-up over a skopeo loop`, numerator: 'skopeo loop', denominator: 'oci-channel', better: 'higher', target: 5 }));
    return result;
  },
};
