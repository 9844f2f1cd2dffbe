// Scenario 1: one large package (1 GiB of random payload, generated to disk as a stream) uploaded to staging.
// oci-channel (upload in its own process) against raw curl (POST + PUT of the same bytes: the practical limit
// of this registry) and skopeo copy from an OCI layout. Every run gets a fresh registry, so nothing is
// deduplicated or mounted from an earlier run.
import { stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startRegistry, type RunningRegistry } from '../../test/harness/registry.ts';
import { emptyResult, type BenchContext, type Scenario } from '../lib/context.ts';
import { buildLargePackage } from '../lib/packages.ts';
import { curlUploadMeasured, runWorker, sha256File, skopeoCopyMeasured } from '../lib/peers.ts';
import { alternate, medianOf, ratio } from '../lib/runner.ts';
import { formatBytes } from '../lib/stats.ts';
import type { Metrics } from '../lib/types.ts';

const MEMORY_TARGET = 150 * 1000 * 1000;

export const largeUploadScenario: Scenario = {
  id: 'large-upload',
  title: 'One large package to staging',
  async run(ctx: BenchContext) {
    const payload = ctx.quick ? 32 << 20 : 1 << 30;
    const dir = path.join(ctx.workDir, 'large');
    ctx.log(`  generating a ${formatBytes(payload)} package ...`);
    const pkg = await buildLargePackage(path.join(dir, 'packages'), payload);
    const bytes = (await stat(pkg.file)).size;
    const digest = `sha256:${await sha256File(pkg.file)}`;
    const listFile = path.join(dir, 'files.txt');
    await writeFile(listFile, `${pkg.file}\n`);

    // skopeo's source: the same package as an OCI layout, written by oci-channel's own layout store.
    const layoutDir = path.join(dir, 'layout');
    const staged = await runWorker(ctx.root, 'upload', [`oci-layout:${layoutDir}`, listFile]);
    const artifact = (staged.output.artifacts as Array<{ repository: string; tag: string }>)[0]!;

    const result = emptyResult(this.id, this.title, { 'package size': formatBytes(bytes), format: '.conda', payload: 'random (incompressible)' });
    let registry: RunningRegistry | undefined;
    const fresh = async () => {
      registry = await startRegistry();
    };
    const stop = async () => {
      await registry?.stop();
      registry = undefined;
    };
    const metrics = (m: { wallMs: number; maxRssBytes?: number; cpuMs?: number }): Metrics => ({
      wallMs: m.wallMs,
      ...(m.maxRssBytes ? { maxRssBytes: m.maxRssBytes } : {}),
      ...(m.cpuMs !== undefined ? { cpuMs: m.cpuMs } : {}),
      mibPerS: bytes / 2 ** 20 / (m.wallMs / 1000),
    });
    result.contenders = await alternate(
      [
        {
          name: 'oci-channel',
          how: '`upload()` of @oci-channel/pipeline in its own node process (bench/workers/upload.ts bundled by ncc, as the actions ship): reads and checks the package, pushes package, info and index.json blobs and the v0 manifest',
          prepare: fresh,
          cleanup: stop,
          async run() {
            const { measured } = await runWorker(ctx.root, 'upload', [registry!.location('bench'), listFile]);
            return metrics(measured);
          },
        },
        {
          name: 'curl',
          how: '`curl -X POST .../blobs/uploads/` then `curl -T FILE "$location&digest=..."` (monolithic PUT, no 100-continue wait; digest computed beforehand, not timed); the package blob only',
          prepare: fresh,
          cleanup: stop,
          async run() {
            const measured = await curlUploadMeasured(registry!.url, `bench/${artifact.repository}`, pkg.file, digest);
            return metrics(measured);
          },
        },
        {
          name: 'skopeo',
          how: '`skopeo copy --preserve-digests oci:LAYOUT/<repo>:<tag> docker://REGISTRY/bench/<repo>:<tag>` from an OCI layout holding the same manifest and blobs',
          prepare: fresh,
          cleanup: stop,
          async run() {
            const from = `oci:${path.join(layoutDir, artifact.repository)}:${artifact.tag}`;
            const to = `docker://${registry!.host}/bench/${artifact.repository}:${artifact.tag}`;
            const measured = await skopeoCopyMeasured(from, to);
            return metrics(measured);
          },
        },
      ],
      ctx,
    );
    result.ratios.push(
      ratio(result.contenders, { label: 'upload time vs raw curl', numerator: 'oci-channel', denominator: 'curl', better: 'lower', target: 1.1 }),
      ratio(result.contenders, { label: 'upload time vs skopeo copy', numerator: 'oci-channel', denominator: 'skopeo', better: 'lower' }),
    );
    const rss = medianOf(result.contenders, 'oci-channel', 'maxRssBytes');
    const worst = Math.max(...(result.contenders.find((c) => c.name === 'oci-channel')?.runs.map((r) => r.maxRssBytes ?? 0) ?? [0]));
    result.checks.push({ label: 'oci-channel peak memory (whole process, worst run)', value: `${formatBytes(worst)} (median ${formatBytes(rss)})`, target: '< 150 MB', met: worst < MEMORY_TARGET });
    result.notes.push('curl sends only the package blob (no manifest, no checks): it is the floor for moving these bytes into this registry.');
    return result;
  },
};
