// Scenarios 6 and 7: the small-package upload and the promotion again, as users run them: from a runner to a
// registry tens of milliseconds away. The counting proxy adds `--rtt-ms` (default 20 ms) before every request;
// every contender, the registry floor included, goes through the same proxy, so the floor is what the round
// trips allow at best. The proxy also records how many requests were in flight (the average is the sum of
// request durations over the time from first request to last answer): a client that waits on itself shows
// few in flight whatever its configured concurrency. Promotion is also run with mounts refused, as ghcr.io
// refuses them: the bytes must then be streamed, as many blobs at once as the concurrency allows. The upload is
// also run against a registry that takes OCI's single POST (one request per blob; the proxy completes it on
// distribution 2.8, which does not), with the floor doing the same: what a new package costs there.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startRegistry, type RunningRegistry } from '../../test/harness/registry.ts';
import { emptyResult, type BenchContext, type Scenario } from '../lib/context.ts';
import { promoteFloorPlan, uploadFloorPlan } from '../lib/floor.ts';
import { runWorker, skopeoLoopMeasured } from '../lib/peers.ts';
import { startCountingProxy, type CountingProxy, type ProxyOptions } from '../lib/proxy.ts';
import { alternate, medianOf, ratio } from '../lib/runner.ts';
import { restoreStorage, snapshotStorage } from '../lib/snapshot.ts';
import { formatBytes } from '../lib/stats.ts';
import type { Metrics } from '../lib/types.ts';
import { seedPromotionLog } from './promote.ts';
import { FLOOR, FLOOR_CONCURRENCY, smallSet } from './small-upload.ts';

/** What the proxy saw during one run, per package where it helps to compare. */
function traffic(proxy: CountingProxy, packages: number, packageDigests?: Set<string>): Metrics {
  const c = proxy.counts();
  return {
    requests: c.requests,
    requestsPerPackage: c.requests / packages,
    avgInFlight: c.spanMs > 0 ? c.requestMs / c.spanMs : 0,
    maxInFlight: c.maxInFlight,
    blobBytes: c.blobBytesUp + c.blobBytesDown,
    ...(packageDigests ? { packageBytes: c.blobMoves.filter((m) => packageDigests.has(m.digest)).reduce((sum, m) => sum + m.bytes, 0), mounts: c.mounts } : {}),
    blobUploadsInFlight: c.maxBlobUploadsInFlight,
  };
}

const process_ = (measured: { wallMs: number; maxRssBytes?: number; cpuMs?: number }): Metrics => ({
  wallMs: measured.wallMs,
  ...(measured.maxRssBytes ? { maxRssBytes: measured.maxRssBytes } : {}),
  ...(measured.cpuMs !== undefined ? { cpuMs: measured.cpuMs } : {}),
});

export const smallUploadLatencyScenario: Scenario = {
  id: 'small-upload-rtt',
  title: 'Many small packages to staging, 20 ms away',
  async run(ctx: BenchContext) {
    const set = await smallSet(ctx);
    const count = set.packages.length;
    let proxyOptions: ProxyOptions = { delayMs: ctx.rttMs };
    const result = emptyResult(this.id, this.title, { packages: count, 'total size': formatBytes(set.totalBytes), 'added per request': `${ctx.rttMs} ms` });
    result.title = `Many small packages to staging, ${ctx.rttMs} ms away`;
    let registry: RunningRegistry | undefined;
    let proxy: CountingProxy | undefined;
    const fresh = async () => {
      proxyOptions = { delayMs: ctx.rttMs };
      registry = await startRegistry();
      proxy = await startCountingProxy(registry.host, proxyOptions);
    };
    const stop = async () => {
      await proxy?.close();
      await registry?.stop();
      proxy = undefined;
      registry = undefined;
    };
    const floorPlan = await uploadFloorPlan(path.join(ctx.workDir, 'small-upload-rtt-floor.json'), set.layoutDir, set.artifacts, 'bench', FLOOR_CONCURRENCY);
    const singlePostFloorPlan = await uploadFloorPlan(path.join(ctx.workDir, 'small-upload-rtt-floor-post.json'), set.layoutDir, set.artifacts, 'bench', FLOOR_CONCURRENCY, true);
    const freshSinglePost = async () => {
      registry = await startRegistry();
      proxyOptions = { delayMs: ctx.rttMs, singlePost: true };
      proxy = await startCountingProxy(registry.host, proxyOptions);
    };
    result.contenders = await alternate(
      [
        {
          name: 'oci-channel',
          how: `one \`upload()\` of all ${count} files (bench/workers/upload.ts bundled, default concurrency), through the ${ctx.rttMs} ms proxy`,
          prepare: fresh,
          cleanup: stop,
          async run() {
            const { measured, output } = await runWorker(ctx.root, 'upload', [`oci+http://${proxy!.host}/bench`, set.listFile]);
            if (output.uploaded !== count) throw new Error(`oci-channel uploaded ${String(output.uploaded)} of ${count} packages`);
            return { ...process_(measured), ...traffic(proxy!, count) };
          },
        },
        {
          name: FLOOR,
          how: `the bare requests (POST + PUT of each blob, PUT of each manifest), ${FLOOR_CONCURRENCY} artifacts at once, through the same proxy`,
          prepare: fresh,
          cleanup: stop,
          async run() {
            const { measured } = await runWorker(ctx.root, 'floor', [floorPlan, proxy!.url]);
            return { ...process_(measured), ...traffic(proxy!, count) };
          },
        },
        {
          name: 'oci-channel, single POST',
          how: `the same upload to a registry that takes OCI's single POST (the proxy completes it on distribution 2.8), ${ctx.rttMs} ms away`,
          prepare: freshSinglePost,
          cleanup: stop,
          async run() {
            const { measured, output } = await runWorker(ctx.root, 'upload', [`oci+http://${proxy!.host}/bench`, set.listFile]);
            if (output.uploaded !== count) throw new Error(`oci-channel uploaded ${String(output.uploaded)} of ${count} packages`);
            return { ...process_(measured), ...traffic(proxy!, count) };
          },
        },
        {
          name: `${FLOOR}, single POST`,
          how: `the bare requests there (one single POST per blob, PUT of each manifest), ${FLOOR_CONCURRENCY} artifacts at once, through the same proxy`,
          prepare: freshSinglePost,
          cleanup: stop,
          async run() {
            const { measured } = await runWorker(ctx.root, 'floor', [singlePostFloorPlan, proxy!.url]);
            return { ...process_(measured), ...traffic(proxy!, count) };
          },
        },
        {
          name: 'skopeo loop',
          how: `one \`skopeo copy\` per package from the OCI layouts, through the same proxy (one run: it takes minutes)`,
          warmup: false,
          maxRuns: 1,
          prepare: fresh,
          cleanup: stop,
          async run() {
            const copies = set.artifacts.map((a) => ({ from: `oci:${path.join(set.layoutDir, a.repository)}:${a.tag}`, to: `docker://${proxy!.host}/bench/${a.repository}:${a.tag}` }));
            return { ...process_(await skopeoLoopMeasured(ctx.workDir, copies)), ...traffic(proxy!, count) };
          },
        },
      ],
      ctx,
    );
    result.ratios.push(
      ratio(result.contenders, { label: `${count} packages, ${ctx.rttMs} ms away: time against the latency floor`, numerator: 'oci-channel', denominator: FLOOR, better: 'lower', target: 1.5 }),
      ratio(result.contenders, { label: `${count} packages, ${ctx.rttMs} ms away: speed-up over a skopeo loop`, numerator: 'skopeo loop', denominator: 'oci-channel', better: 'higher', target: 15 }),
      ratio(result.contenders, { label: `${count} packages, ${ctx.rttMs} ms away, a registry taking the single POST: time against its floor (not a target)`, numerator: 'oci-channel, single POST', denominator: `${FLOOR}, single POST`, better: 'lower' }),
    );
    const perPackage = (name: string) => medianOf(result.contenders, name, 'requestsPerPackage').toFixed(1);
    result.checks.push(
      {
        label: 'requests per new package, registry taking the single POST',
        value: `${perPackage('oci-channel, single POST')} (floor there: ${perPackage(`${FLOOR}, single POST`)}); on distribution 2.8 (no single POST) ${perPackage('oci-channel')} (floor ${perPackage(FLOOR)})`,
        target: '<= 6',
        met: medianOf(result.contenders, 'oci-channel, single POST', 'requestsPerPackage') <= 6,
      },
    );
    result.notes.push(
      `Requests in flight on average: oci-channel ${medianOf(result.contenders, 'oci-channel', 'avgInFlight').toFixed(1)} (at most ${medianOf(result.contenders, 'oci-channel', 'maxInFlight')}), the floor ${medianOf(result.contenders, FLOOR, 'avgInFlight').toFixed(1)} (at most ${medianOf(result.contenders, FLOOR, 'maxInFlight')}).`,
    );
    return result;
  },
};

export const promoteLatencyScenario: Scenario = {
  id: 'promote-rtt',
  title: 'Promotion, 20 ms away',
  async run(ctx: BenchContext) {
    const set = await smallSet(ctx);
    const count = set.packages.length;
    const refsFile = path.join(ctx.workDir, 'promote-rtt-artifacts.txt');
    await writeFile(refsFile, `${set.artifacts.map((a) => `${a.subdir}/${a.filename}`).join('\n')}\n`);
    const result = emptyResult(this.id, this.title, { packages: count, 'total size': formatBytes(set.totalBytes), 'added per request': `${ctx.rttMs} ms`, registry: 'staging and production on one registry' });
    result.title = `Promotion, ${ctx.rttMs} ms away`;
    const registry: RunningRegistry = await startRegistry();
    // Staging filled and validated once (no delay: untimed), then restored from a snapshot before every run.
    const direct = (name: string) => registry.location(name);
    const snapshot = path.join(ctx.workDir, 'promote-rtt-snapshot');
    const floorPlan = path.join(ctx.workDir, 'promote-rtt-floor.json');
    let proxy: CountingProxy | undefined;
    try {
      await runWorker(ctx.root, 'upload', [direct('staging'), set.listFile]);
      await runWorker(ctx.root, 'promote', ['validate', direct('staging'), direct('production'), refsFile]);
      await seedPromotionLog(direct('production'));
      await promoteFloorPlan(floorPlan, registry.host, set.artifacts, 'staging', 'production', FLOOR_CONCURRENCY);
      await snapshotStorage(registry.storage, snapshot);
      const packageDigests = new Set(set.artifacts.map((a) => `sha256:${a.sha256}`));
      // A new proxy (a new port) per run: skopeo remembers blob locations per host:port.
      const staged = (options: ProxyOptions) => async () => {
        await restoreStorage(snapshot, registry.storage);
        await proxy?.close();
        proxy = await startCountingProxy(registry.host, options);
      };
      const channel = (name: string) => `oci+http://${proxy!.host}/${name}`;
      const promote = async (): Promise<Metrics> => {
        const { measured, output } = await runWorker(ctx.root, 'promote', ['promote', channel('staging'), channel('production'), refsFile]);
        const promoted = (output.statuses as Record<string, number>).promoted ?? 0;
        if (promoted !== count) throw new Error(`oci-channel promoted ${promoted} of ${count}: ${JSON.stringify(output.statuses)}`);
        return { ...process_(measured), ...traffic(proxy!, count, packageDigests) };
      };
      result.contenders = await alternate(
        [
          {
            name: 'oci-channel',
            how: `one \`promote()\` of all ${count} (bench/workers/promote.ts bundled) with the channel's verdict key, as the workflows run it, through the ${ctx.rttMs} ms proxy`,
            prepare: staged({ delayMs: ctx.rttMs }),
            run: promote,
          },
          {
            name: FLOOR,
            how: `the bare requests of a copy by digest (a mount of each blob, PUT of the manifest), ${FLOOR_CONCURRENCY} artifacts at once, through the same proxy`,
            prepare: staged({ delayMs: ctx.rttMs }),
            async run() {
              const { measured } = await runWorker(ctx.root, 'floor', [floorPlan, proxy!.url]);
              return { ...process_(measured), ...traffic(proxy!, count, packageDigests) };
            },
          },
          {
            name: 'oci-channel, no mount',
            how: `the same promotion through a proxy that also refuses mounts (as ghcr.io does): every blob is streamed from staging to production`,
            prepare: staged({ delayMs: ctx.rttMs, noMount: true }),
            run: promote,
          },
          {
            name: 'skopeo loop',
            how: `one \`skopeo copy --preserve-digests\` per package from staging to production through the same proxy (one run: it takes minutes)`,
            warmup: false,
            maxRuns: 1,
            prepare: staged({ delayMs: ctx.rttMs }),
            async run() {
              const copies = set.artifacts.map((a) => ({ from: `docker://${proxy!.host}/staging/${a.repository}:${a.tag}`, to: `docker://${proxy!.host}/production/${a.repository}:${a.tag}` }));
              return { ...process_(await skopeoLoopMeasured(ctx.workDir, copies)), ...traffic(proxy!, count, packageDigests) };
            },
          },
        ],
        ctx,
      );
    } finally {
      await proxy?.close();
      await registry.stop();
    }
    result.ratios.push(
      ratio(result.contenders, { label: `${count} packages, ${ctx.rttMs} ms away: time against the latency floor`, numerator: 'oci-channel', denominator: FLOOR, better: 'lower', target: 1.5 }),
      ratio(result.contenders, { label: `${count} packages, ${ctx.rttMs} ms away: speed-up over a skopeo loop`, numerator: 'skopeo loop', denominator: 'oci-channel', better: 'higher', target: 15 }),
    );
    result.checks.push(
      {
        label: 'requests per package (verdict key)',
        value: `${medianOf(result.contenders, 'oci-channel', 'requestsPerPackage').toFixed(1)} (floor: ${medianOf(result.contenders, FLOOR, 'requestsPerPackage').toFixed(1)}); in flight on average ${medianOf(result.contenders, 'oci-channel', 'avgInFlight').toFixed(1)} (floor ${medianOf(result.contenders, FLOOR, 'avgInFlight').toFixed(1)})`,
        target: '<= 8 (wave 2)',
        met: medianOf(result.contenders, 'oci-channel', 'requestsPerPackage') <= 8,
      },
      {
        label: 'without mounts: blobs streamed at once (the concurrency allows 16 artifacts)',
        value: `${medianOf(result.contenders, 'oci-channel, no mount', 'blobUploadsInFlight')} at most; ${formatBytes(medianOf(result.contenders, 'oci-channel, no mount', 'packageBytes'))} of package bytes moved`,
        target: '>= 16',
        met: medianOf(result.contenders, 'oci-channel, no mount', 'blobUploadsInFlight') >= 16,
      },
    );
    return result;
  },
};
