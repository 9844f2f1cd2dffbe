// Scenario 3: promotion of the small-package set from staging to production on the same registry:
// oci-channel's promote (validated beforehand, untimed) against one `skopeo copy` per package. Both go
// through a counting proxy, which measures the blob bytes each one moved: with cross-repository mounts a
// promotion should move none.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { bytesSource, openStore } from '@oci-channel/oci';
import { PROMOTION_LOG_REPOSITORY } from '@oci-channel/pipeline';
import { startRegistry, type RunningRegistry } from '../../test/harness/registry.ts';
import { emptyResult, type BenchContext, type Scenario } from '../lib/context.ts';
import { runWorker, skopeoLoopMeasured } from '../lib/peers.ts';
import { restoreStorage, snapshotStorage } from '../lib/snapshot.ts';
import { startCountingProxy, type CountingProxy } from '../lib/proxy.ts';
import { alternate, medianOf, ratio } from '../lib/runner.ts';
import { formatBytes } from '../lib/stats.ts';
import type { Metrics } from '../lib/types.ts';
import { FLOOR, FLOOR_CONCURRENCY, smallSet } from './small-upload.ts';
import { promoteFloorPlan } from '../lib/floor.ts';

/**
 * A production channel that has seen promotions already holds the promotion log's `{}` config blob. Seeded
 * here because concurrent first pushes of that blob race on distribution 2.8's filesystem driver (a manifest
 * PUT can read a half-written blob link and answer DIGEST_INVALID; see docs/benchmarks.md).
 */
export async function seedPromotionLog(production: string): Promise<void> {
  const store = openStore(production);
  try {
    await store.repository(PROMOTION_LOG_REPOSITORY).pushBlob(bytesSource(new TextEncoder().encode('{}')));
  } finally {
    await store.close();
  }
}

export const promoteScenario: Scenario = {
  id: 'promote',
  title: 'Promotion from staging to production',
  async run(ctx: BenchContext) {
    const set = await smallSet(ctx);
    const count = set.packages.length;
    const refsFile = path.join(ctx.workDir, 'promote-artifacts.txt');
    await writeFile(refsFile, `${set.artifacts.map((a) => `${a.subdir}/${a.filename}`).join('\n')}\n`);
    const result = emptyResult(this.id, this.title, { packages: count, 'total size': formatBytes(set.totalBytes), registry: 'staging and production on one registry' });

    // One registry for the scenario: staging is filled (and validated, for oci-channel) once, untimed, and
    // that state is restored from a snapshot of the registry's storage before every run.
    const registry: RunningRegistry = await startRegistry();
    let proxy: CountingProxy = await startCountingProxy(registry.host);
    const channel = (name: string) => `oci+http://${proxy.host}/${name}`;
    const snapshot = path.join(ctx.workDir, 'promote-snapshot');
    const floorPlan = path.join(ctx.workDir, 'promote-floor.json');
    let validateMs = Number.NaN;
    try {
      await runWorker(ctx.root, 'upload', [channel('staging'), set.listFile]);
      validateMs = (await runWorker(ctx.root, 'promote', ['validate', channel('staging'), channel('production'), refsFile])).measured.wallMs;
      await seedPromotionLog(channel('production'));
      await promoteFloorPlan(floorPlan, proxy.host, set.artifacts, 'staging', 'production', FLOOR_CONCURRENCY);
      await snapshotStorage(registry.storage, snapshot);
    } catch (error) {
      await proxy.close();
      await registry.stop();
      throw error;
    }
    // A new proxy (so a new port) per run: skopeo's blob-info cache remembers blob locations per registry
    // host:port and would mount from the previous run's repositories; every run must be a first copy.
    const staged = async () => {
      await restoreStorage(snapshot, registry.storage);
      await proxy.close();
      proxy = await startCountingProxy(registry.host);
    };
    const packageDigests = new Set(set.artifacts.map((a) => `sha256:${a.sha256}`));
    const traffic = (): Metrics => {
      const c = proxy.counts();
      const packageBytes = c.blobMoves.filter((m) => packageDigests.has(m.digest)).reduce((sum, m) => sum + m.bytes, 0);
      return { requests: c.requests, blobBytes: c.blobBytesUp + c.blobBytesDown, packageBytes, mounts: c.mounts };
    };
    try {
      result.contenders = await alternate(
        [
          {
            name: 'oci-channel',
            how: `one \`promote()\` of all ${count} artifacts in its own node process (bench/workers/promote.ts bundled by ncc, as the actions ship) after \`validate()\` (not timed; both with the channel's verdict key): signed-verdict check, mount, verify, promotion log, staging removed`,
            prepare: staged,
            async run() {
              const { measured, output } = await runWorker(ctx.root, 'promote', ['promote', channel('staging'), channel('production'), refsFile]);
              const promoted = (output.statuses as Record<string, number>).promoted ?? 0;
              if (promoted !== count) throw new Error(`oci-channel promoted ${promoted} of ${count}: ${JSON.stringify(output.statuses)}`);
              return { wallMs: measured.wallMs, ...traffic(), ...(measured.maxRssBytes ? { maxRssBytes: measured.maxRssBytes } : {}), ...(measured.cpuMs !== undefined ? { cpuMs: measured.cpuMs } : {}) };
            },
          },
          {
            name: 'skopeo loop',
            how: `one \`skopeo copy --preserve-digests docker://REGISTRY/staging/<repo>:<tag> docker://REGISTRY/production/<repo>:<tag>\` per package, in a shell loop (no validation, no log, staging kept; no warm-up round: ${count} processes warm themselves)`,
            prepare: staged,
            warmup: false,
            async run() {
              const copies = set.artifacts.map((a) => ({
                from: `docker://${proxy!.host}/staging/${a.repository}:${a.tag}`,
                to: `docker://${proxy!.host}/production/${a.repository}:${a.tag}`,
              }));
              const measured = await skopeoLoopMeasured(ctx.workDir, copies);
              return { wallMs: measured.wallMs, ...traffic(), ...(measured.maxRssBytes ? { maxRssBytes: measured.maxRssBytes } : {}), ...(measured.cpuMs !== undefined ? { cpuMs: measured.cpuMs } : {}) };
            },
          },
          {
            name: FLOOR,
            how: `not a tool: only the requests a copy by digest needs (a mount of each blob, PUT of the manifest under its tag), manifests read beforehand, no checks, no log, staging kept, ${FLOOR_CONCURRENCY} artifacts at once (bench/workers/floor.ts)`,
            prepare: staged,
            async run() {
              const { measured } = await runWorker(ctx.root, 'floor', [floorPlan, `http://${proxy.host}`]);
              return { wallMs: measured.wallMs, ...traffic(), ...(measured.maxRssBytes ? { maxRssBytes: measured.maxRssBytes } : {}), ...(measured.cpuMs !== undefined ? { cpuMs: measured.cpuMs } : {}) };
            },
          },
        ],
        ctx,
      );
    } finally {
      await proxy.close();
      await registry.stop();
    }
    result.ratios.push(ratio(result.contenders, { label: `${count} packages: time against the registry floor (not a target)`, numerator: 'oci-channel', denominator: FLOOR, better: 'lower' }));
    result.ratios.push(ratio(result.contenders, { label: `${count} packages: speed-up over a skopeo loop`, numerator: 'skopeo loop', denominator: 'oci-channel', better: 'higher', target: 10 }));
    const moved = Math.max(...(result.contenders.find((c) => c.name === 'oci-channel')?.runs.map((r) => r.packageBytes ?? Number.NaN) ?? [Number.NaN]));
    const peerMoved = medianOf(result.contenders, 'skopeo loop', 'packageBytes');
    result.checks.push({
      label: 'package blob bytes moved by oci-channel (mounts work on this registry)',
      value: `${formatBytes(moved)} (skopeo loop: ${formatBytes(peerMoved)}; the packages total ${formatBytes(set.totalBytes)})`,
      target: '0 (all blob bytes: see the table)',
      met: moved === 0,
    });
    result.notes.push(
      `oci-channel's validate step (run once before the snapshot, not in promote's time) took ${(validateMs / 1000).toFixed(1)} s for the ${count} packages.`,
      'Before every run the registry storage is restored from a snapshot taken after staging was filled, validated and the promotion log created (the first `{}` blob pushes of a new log race on distribution 2.8: see the report).',
    );
    return result;
  },
};
