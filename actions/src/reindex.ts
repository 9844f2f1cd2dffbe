// reindex: rebuilds repodata for the channel's subdirs from the promotion log (or a full listing), keeping
// its record cache between runs with the Actions cache, and optionally writes a static tree for Pages.
import * as core from '@actions/core';
import { reindex } from '@oci-channel/pipeline';
import { booleanInput } from './common/inputs.ts';
import { CHANNEL_SECRETS, INPUT } from './common/names.ts';
import { readReindexOptions } from './common/options.ts';
import { withRecordCache } from './common/record-cache.ts';
import { reportReindex } from './common/reports.ts';
import { progressLogger, runAction } from './common/run.ts';
import { warnBeforeSchedulesStop } from './common/schedule.ts';

await runAction({
  name: 'reindex',
  secrets: CHANNEL_SECRETS,
  async run() {
    await warnBeforeSchedulesStop(core.getInput(INPUT.token));
    const options = readReindexOptions();
    const subdirs = options.subdirs ?? [];
    const result = await withRecordCache(options.channel as string, subdirs, booleanInput(INPUT.cache, true), (cacheDir) =>
      core.group(`Reindex ${subdirs.length ? subdirs.join(', ') : 'every subdir'}${options.full ? ' (full)' : ''}`, () =>
        reindex({ ...options, cacheDir, progress: progressLogger }),
      ),
    );
    reportReindex(result, options);
  },
});
