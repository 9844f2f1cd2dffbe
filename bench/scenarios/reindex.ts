// Scenario 4: reindex of a production channel of 5,000 packages (seeded straight into the registry with
// conda's manifest builder and promotion-log entries). Phases, in this order every round, on a restored
// snapshot of the seeded registry:
//   first index (no cache, nothing published) -> warm (nothing new) -> after N new packages -> cache lost
//   (fresh cache, index already published).
// Wall time, and requests and blob downloads counted at a proxy in front of the registry.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { openStore } from '@oci-channel/oci';
import { startRegistry, type RunningRegistry } from '../../test/harness/registry.ts';
import { emptyResult, type BenchContext, type Scenario } from '../lib/context.ts';
import { runWorker } from '../lib/peers.ts';
import { startCountingProxy, type CountingProxy } from '../lib/proxy.ts';
import { alternate, medianOf, ratio } from '../lib/runner.ts';
import { seedChannel } from '../lib/seed.ts';
import { restoreStorage, snapshotStorage } from '../lib/snapshot.ts';
import type { Metrics } from '../lib/types.ts';


async function seed(location: string, from: number, count: number, prefix: string): Promise<void> {
  const store = openStore(location);
  try {
    await seedChannel(store, { from, count, prefix });
  } finally {
    await store.close();
  }
}


export const reindexScenario: Scenario = {
  id: 'reindex',
  title: 'Reindex of a production channel',
  async run(ctx: BenchContext) {
    const size = ctx.quick ? 200 : 5000;
    const fresh = ctx.quick ? 10 : 50;
    const newLabel = `after ${fresh} new`;
    const result = emptyResult(this.id, this.title, { 'channel size': size, 'new packages': fresh, subdirs: 4 });
    const dir = path.join(ctx.workDir, 'reindex');
    const snapshot = path.join(dir, 'snapshot');
    let registry: RunningRegistry | undefined;
    let proxy: CountingProxy | undefined;
    try {
      registry = await startRegistry();
      proxy = await startCountingProxy(registry.host);
      ctx.log(`  seeding a ${size}-package production channel ...`);
      const t0 = Date.now();
      await seed(registry.location('prod'), 0, size, 'seed');
      ctx.log(`  seeded in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      await snapshotStorage(registry.storage, snapshot);

      const channel = `oci+http://${proxy.host}/prod`;
      let cacheDir = '';
      let cacheCount = 0;
      const newCache = async () => {
        cacheDir = path.join(dir, `cache-${cacheCount++}`);
        await mkdir(cacheDir, { recursive: true });
      };
      const measure = async (expect: { packages: number; added?: number }): Promise<Metrics> => {
        proxy!.reset();
        const { measured, output } = await runWorker(ctx.root, 'reindex', [channel, cacheDir]);
        const c = proxy!.counts();
        if (output.packages !== expect.packages || (expect.added !== undefined && output.added !== expect.added)) {
          throw new Error(`reindex indexed ${String(output.packages)} packages (${String(output.added)} new), expected ${expect.packages} (${expect.added ?? 'any'} new)`);
        }
        return {
          wallMs: measured.wallMs,
          requests: c.requests,
          blobDownloads: c.blobDownloads,
          blobBytes: c.blobBytesDown + c.blobBytesUp,
          ...(measured.maxRssBytes ? { maxRssBytes: measured.maxRssBytes } : {}), ...(measured.cpuMs !== undefined ? { cpuMs: measured.cpuMs } : {}),
        };
      };
      let round = 0;
      result.contenders = await alternate(
        [
          {
            name: 'first index',
            how: `\`reindex()\` in its own node process (bench/workers/reindex.ts bundled by ncc, as the actions ship) with an empty cache on a channel with nothing published: reads the promotion log and every manifest`,
            async prepare(r) {
              round = r;
              await restoreStorage(snapshot, registry!.storage);
              await newCache();
            },
            run: () => measure({ packages: size, added: size }),
          },
          {
            name: 'warm (nothing new)',
            how: 'the same again with the cache the first run left',
            run: () => measure({ packages: size, added: 0 }),
          },
          {
            name: newLabel,
            how: `${fresh} packages promoted (seeded, untimed) since the warm run; same cache`,
            prepare: () => seed(registry!.location('prod'), 100_000 + round * fresh, fresh, 'new'),
            run: () => measure({ packages: size + fresh, added: fresh }),
          },
          {
            name: 'cache lost',
            how: 'an empty cache on the channel as published: resumes from the published repodata and the log',
            prepare: newCache,
            run: () => measure({ packages: size + fresh }),
          },
        ],
        ctx,
      );
    } finally {
      await proxy?.close();
      await registry?.stop();
    }

    const req = (name: string) => medianOf(result.contenders, name, 'requests');
    const cold = req('first index');
    const warm = req('warm (nothing new)');
    const after = req(newLabel);
    const perNew = (after - warm) / fresh;
    result.ratios.push(ratio(result.contenders, { label: `incremental: first index / ${newLabel} (wall)`, numerator: 'first index', denominator: newLabel, better: 'higher' }));
    result.checks.push(
      {
        label: `${newLabel}: requests proportional to the ${fresh}, not the ${size}`,
        value: `${after} requests = ${warm} fixed (as warm) + ${perNew.toFixed(1)} per new package; first index: ${cold}`,
        target: `<= 10 per new package over warm, and < 1/5 of the first index`,
        met: perNew <= 10 && after < cold / 5,
      },
      {
        label: 'warm reindex (nothing new) downloads no blob',
        value: `${medianOf(result.contenders, 'warm (nothing new)', 'blobDownloads')} blob downloads (worst run: ${Math.max(...(result.contenders.find((c) => c.name === 'warm (nothing new)')?.runs.map((r) => r.blobDownloads ?? 0) ?? [0]))})`,
        target: '0',
        met: (result.contenders.find((c) => c.name === 'warm (nothing new)')?.runs ?? []).every((r) => r.blobDownloads === 0),
      },
    );
    return result;
  },
};
