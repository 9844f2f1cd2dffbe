// `node bench/first-index.ts [--packages N] [--files-per-name K]`
// Requests of a first index, counted at the store: N packages published into a production channel with their
// promotion log entries (K files per package name; conda-forge has about 28), then one reindex with a cold cache.
// Prints requests per package and per call. Not part of `npm run bench` (no peer indexes an OCI channel).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openStore } from '@oci-channel/oci';
import { reindex } from '@oci-channel/pipeline';
import { countingStore } from '../packages/pipeline/src/index/counting.ts';
import { startRegistry } from '../test/harness/registry.ts';
import { makeConda, publishPackage } from '../test/helpers/channel.ts';

const { values } = parseArgs({ options: { packages: { type: 'string', default: '560' }, 'files-per-name': { type: 'string', default: '28' } } });
const count = Number(values.packages);
const names = Math.max(1, Math.round(count / Number(values['files-per-name'])));
const dir = await mkdtemp(path.join(os.tmpdir(), 'first-index-'));
const registry = await startRegistry();
const store = openStore(registry.location('production'));
try {
  for (let i = 0; i < count; i++) await publishPackage(store, await makeConda(path.join(dir, 'p'), { name: `pkg${i % names}`, version: `1.${i}`, subdir: 'noarch' }));
  const counted = countingStore(store);
  const result = await reindex({ channel: counted.store, cacheDir: path.join(dir, 'cache') });
  console.log(`first index of ${count} packages (${names} names): ${counted.count()} requests, ${(counted.count() / count).toFixed(2)} per package, ${counted.blobFetches()} blob GETs, ok=${result.ok}`);
  console.log(`  by call: ${JSON.stringify(Object.fromEntries(counted.calls))}`);
} finally {
  await store.close();
  await registry.stop();
  await rm(dir, { recursive: true, force: true });
}
