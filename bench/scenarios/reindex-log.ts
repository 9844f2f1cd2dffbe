// Scenario 8: a warm reindex (nothing new) as the promotion log grows: a channel of 100 packages whose log
// holds 100 entries, then 20,000 more older ones (tiny manifests, as promote writes them). Reindex lists the
// log past its mark with `last=`; measured against distribution 2.8 as it is (it ignores `last` and sends
// every tag) and through a proxy that answers tag lists as ghcr.io and distribution 3 do (pages, `n` and
// `last` honoured) with the latency scenarios' delay per request.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import pLimit from 'p-limit';
import { openStore } from '@oci-channel/oci';
import { appendPromotion, PROMOTION_LOG_REPOSITORY } from '@oci-channel/pipeline';
import { startRegistry, type RunningRegistry } from '../../test/harness/registry.ts';
import { emptyResult, type BenchContext, type Scenario } from '../lib/context.ts';
import { runWorker } from '../lib/peers.ts';
import { startCountingProxy, type CountingProxy } from '../lib/proxy.ts';
import { alternate, ratio } from '../lib/runner.ts';
import { seedChannel } from '../lib/seed.ts';
import { restoreStorage, snapshotStorage } from '../lib/snapshot.ts';
import type { Metrics } from '../lib/types.ts';

/** `count` promotions logged long ago (before every package of the channel), for files reindex never reads. */
async function oldLogEntries(location: string, count: number): Promise<void> {
  const store = openStore(location);
  const limit = pLimit(16);
  try {
    const start = Date.UTC(2025, 0, 1);
    await Promise.all(
      Array.from({ length: count }, (_, i) =>
        limit(() =>
          appendPromotion(
            store,
            { subdir: 'noarch', filename: `old-${i}-1.0-0.conda`, repository: `noarch/old-${i}`, tag: '1.0-0', manifestDigest: `sha256:${'0'.repeat(64)}` },
            new Date(start + i * 1000),
          ),
        ),
      ),
    );
  } finally {
    await store.close();
  }
}

export const reindexLogScenario: Scenario = {
  id: 'reindex-log',
  title: 'Warm reindex as the promotion log grows',
  async run(ctx: BenchContext) {
    const packages = ctx.quick ? 20 : 100;
    const extra = ctx.quick ? 300 : 20_000;
    const long = packages + extra;
    const result = emptyResult(this.id, this.title, { packages, 'log entries': `${packages} and ${long}`, 'paginating registry': `pages of 1000 tags, ${ctx.rttMs} ms a request` });
    const dir = path.join(ctx.workDir, 'reindex-log');
    const registry: RunningRegistry = await startRegistry();
    const plain = await startCountingProxy(registry.host);
    const remote = await startCountingProxy(registry.host, { delayMs: ctx.rttMs, tagPageSize: 1000 });
    const shortLog = path.join(dir, 'short');
    const longLog = path.join(dir, 'long');
    // One warm cache per registry view (the channel's display, so the cache key, differs by proxy port).
    const caches = { plain: path.join(dir, 'cache-plain'), remote: path.join(dir, 'cache-remote') };
    try {
      ctx.log(`  seeding ${packages} packages, indexing them, then logging ${extra} older promotions ...`);
      await seedChannel(openStore(registry.location('prod')), { from: 0, count: packages });
      for (const [view, proxy] of [['plain', plain], ['remote', remote]] as const) {
        await mkdir(caches[view], { recursive: true });
        const cold = await runWorker(ctx.root, 'reindex', [`oci+http://${proxy.host}/prod`, caches[view]]);
        if (cold.output.packages !== packages) throw new Error(`the first reindex indexed ${String(cold.output.packages)} of ${packages}`);
      }
      await snapshotStorage(registry.storage, shortLog);
      await oldLogEntries(registry.location('prod'), extra);
      await snapshotStorage(registry.storage, longLog);

      const warm = (proxy: CountingProxy, cache: string) => async (): Promise<Metrics> => {
        proxy.reset();
        const { measured, output } = await runWorker(ctx.root, 'reindex', [`oci+http://${proxy.host}/prod`, cache]);
        if (output.packages !== packages || output.added !== 0) throw new Error(`warm reindex saw ${String(output.packages)} packages, ${String(output.added)} new`);
        const c = proxy.counts();
        return { wallMs: measured.wallMs, requests: c.requests, tagListBytes: c.tagListBytes, ...(measured.cpuMs !== undefined ? { cpuMs: measured.cpuMs } : {}) };
      };
      const restore = (snapshot: string) => () => restoreStorage(snapshot, registry.storage);
      // The paginating model keeps an index of the log's tags, as a registry does: rebuilt (unmeasured) after the
      // storage under it was swapped, so a measured page costs what a page costs, not the model's full listing.
      const restoreIndexed = (snapshot: string) => async () => {
        await restoreStorage(snapshot, registry.storage);
        remote.forgetTags();
        const primed = await fetch(`${remote.url}/v2/prod/${PROMOTION_LOG_REPOSITORY}/tags/list?n=1`);
        if (primed.status !== 200) throw new Error(`priming the tag index answered ${primed.status}`);
        await primed.arrayBuffer();
      };
      result.contenders = await alternate(
        [
          { name: `2.8, ${packages} entries`, how: 'warm `reindex()` (bench/workers/reindex.ts), nothing new, straight to distribution 2.8 (which ignores `last`)', prepare: restore(shortLog), run: warm(plain, caches.plain) },
          { name: `2.8, ${long} entries`, how: `the same after ${extra} older promotions were logged`, prepare: restore(longLog), run: warm(plain, caches.plain) },
          { name: `paginating, ${packages} entries`, how: `the same through a proxy answering tag lists page by page with \`n\`/\`last\` honoured (as ghcr.io), ${ctx.rttMs} ms a request`, prepare: restoreIndexed(shortLog), run: warm(remote, caches.remote) },
          { name: `paginating, ${long} entries`, how: `the same after ${extra} older promotions were logged`, prepare: restoreIndexed(longLog), run: warm(remote, caches.remote) },
        ],
        ctx,
      );
    } finally {
      await plain.close();
      await remote.close();
      await registry.stop();
    }
    result.ratios.push(
      ratio(result.contenders, { label: `paginating registry, ${ctx.rttMs} ms away: warm reindex with ${long} log entries vs ${packages}`, numerator: `paginating, ${long} entries`, denominator: `paginating, ${packages} entries`, better: 'lower', target: 1.1 }),
      ratio(result.contenders, { label: `distribution 2.8 (ignores last=): warm reindex with ${long} log entries vs ${packages} (not a target)`, numerator: `2.8, ${long} entries`, denominator: `2.8, ${packages} entries`, better: 'lower' }),
      ratio(result.contenders, { label: `paginating registry: requests with ${long} log entries vs ${packages}`, numerator: `paginating, ${long} entries`, denominator: `paginating, ${packages} entries`, metric: 'requests', better: 'lower', target: 1 }),
    );
    return result;
  },
};
