// `node bench/mirror-measure.ts [--packages N] [--size BYTES] [--concurrency C] [--production] [--patch-every K]`
// One mirror measured end to end on loopback: N generated .conda packages with an incompressible payload of
// BYTES each, served as a static channel (repodata.json.zst) whose every Kth record upstream patched (default
// 10: a tightened dependency and a dropped field; 0 for none), mirrored into a docker-registry started here; then
// the same mirror again (nothing new), and with --production once more after a reindex (the steady state).
// Prints wall time, package and byte rates, the peak RSS of this process (the packages are built by a child
// process, so it is the mirror's), the requests each run sent upstream and to the registry, and what it did with
// upstream's patched records. Not part of `npm run bench` (no peer does this job).
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildPackage } from '@oci-channel/conda';
import { openStore } from '@oci-channel/oci';
import { mirror, patchLine, reindex } from '@oci-channel/pipeline';
import { countingStore } from '../packages/pipeline/src/index/counting.ts';
import { serveChannel } from '../test/harness/channel-server.ts';
import { startRegistry } from '../test/harness/registry.ts';
import { buildUpstreamChannel } from '../test/helpers/upstream-channel.ts';
import { peakRssBytes } from './lib/peak-rss.ts';

const { values } = parseArgs({
  options: {
    packages: { type: 'string', default: '100' },
    size: { type: 'string', default: String(1 << 20) },
    concurrency: { type: 'string', default: '8' },
    production: { type: 'boolean', default: false },
    build: { type: 'string' },
    'patch-every': { type: 'string', default: '10' },
  },
});
const count = Number(values.packages);
const size = Number(values.size);
const patchEvery = Number(values['patch-every']);

if (values.build) {
  // Child: build the channel into the given directory and exit.
  const files: string[] = [];
  for (let i = 0; i < count; i++) files.push(await buildPackage(path.join(values.build, 'gen'), { name: `pkg${i}`, version: '1.0', subdir: 'linux-64', payloadBytes: size }, 'conda'));
  const patch = (_subdir: string, filename: string, record: Record<string, unknown>) => {
    const i = Number(/^pkg(\d+)-/.exec(filename)?.[1]);
    if (!patchEvery || i % patchEvery !== 0) return record;
    const { build_number: _dropped, ...rest } = record;
    return { ...rest, depends: ['python >=3.10'] };
  };
  await buildUpstreamChannel(path.join(values.build, 'upstream'), { 'linux-64': files }, { patch });
  await rm(path.join(values.build, 'gen'), { recursive: true, force: true });
  process.exit(0);
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'mirror-measure-'));
const registry = await startRegistry();
try {
  const built = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--build', dir, '--packages', String(count), '--size', String(size), '--patch-every', String(patchEvery)], {
    stdio: 'inherit',
  });
  if (built.status !== 0) throw new Error('building the channel failed');
  const server = await serveChannel(path.join(dir, 'upstream'));
  const location = registry.location('measure/channel');
  const runs = values.production ? ['first run', 'second run', 'after a reindex'] : ['first run', 'second run'];
  for (const label of runs) {
    if (label === 'after a reindex') await reindex({ channel: location, cacheDir: path.join(dir, 'cache') });
    server.requests.length = 0;
    const counted = countingStore(openStore(location));
    const started = process.hrtime.bigint();
    const result = await mirror({ from: server.url, to: counted.store, subdirs: ['linux-64'], concurrency: Number(values.concurrency), production: values.production });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    await counted.store.close();
    const mib = result.summary.bytes / 2 ** 20;
    console.log(
      `${label}: ${result.summary.mirrored} mirrored, ${result.summary.alreadyThere} already there in ${seconds.toFixed(2)} s ` +
        `(${(result.summary.mirrored / seconds).toFixed(1)} packages/s, ${(mib / seconds).toFixed(1)} MiB/s), ${server.requests.length} upstream requests, ` +
        `${counted.count()} registry requests, peak RSS so far ${(peakRssBytes() / 2 ** 20).toFixed(0)} MiB, ok=${result.ok}`,
    );
    for (const p of result.patches) console.log(`  ${patchLine(p)}`);
  }
  await server.stop();
} finally {
  await registry.stop();
  await rm(dir, { recursive: true, force: true });
}
