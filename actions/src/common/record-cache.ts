// reindex's record cache kept between runs with the Actions cache: one cache line per channel and subdir
// selection, a new key each run (a cache entry never changes), restored by prefix. A cache that cannot be
// restored or saved costs registry reads, never the run.
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import * as cache from '@actions/cache';
import * as core from '@actions/core';
import { oneLine } from './errors.ts';

/** Runs `work` with the cache directory, restored before and saved after when `enabled` and the service is there. */
export async function withRecordCache<T>(channel: string, subdirs: string[], enabled: boolean, work: (cacheDir: string) => Promise<T>): Promise<T> {
  // RUNNER_TEMP is the same path on every runner of an image: the cache version hashes the path.
  const cacheDir = path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'oci-channel-reindex-cache');
  const scope = createHash('sha256').update(`${channel}\n${[...subdirs].sort().join(',')}`).digest('hex').slice(0, 16);
  const keyPrefix = `oci-channel-reindex-v1-${scope}-`;
  const key = `${keyPrefix}${process.env.GITHUB_RUN_ID ?? Date.now()}-${process.env.GITHUB_RUN_ATTEMPT ?? '1'}`;
  const available = enabled && cache.isFeatureAvailable();
  if (enabled && !available) core.info('the Actions cache service is not available here: indexing without a restored cache');

  if (available) {
    await core.group('Restore the record cache', async () => {
      try {
        const hit = await cache.restoreCache([cacheDir], key, [keyPrefix]);
        core.info(hit ? `restored ${hit}` : 'no cache yet: every record is read from the registry');
      } catch (error) {
        core.warning(`could not restore the record cache (${oneLine((error as Error).message)}); indexing without it`);
      }
    });
  }
  const result = await work(cacheDir);
  if (available) {
    await core.group('Save the record cache', async () => {
      try {
        await cache.saveCache([cacheDir], key);
      } catch (error) {
        core.warning(`could not save the record cache (${oneLine((error as Error).message)}); the next run reads more from the registry`);
      }
    });
  }
  return result;
}
