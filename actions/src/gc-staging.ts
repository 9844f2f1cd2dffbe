// gc-staging: deletes staging artifacts older than a limit that were never promoted. On ghcr.io, where the
// registry API cannot delete, it goes through the GitHub Packages REST API.
import * as core from '@actions/core';
import { gc } from '@oci-channel/pipeline';
import { CHANNEL_SECRETS, INPUT } from './common/names.ts';
import { readGcOptions } from './common/options.ts';
import { reportGc } from './common/reports.ts';
import { progressLogger, runAction } from './common/run.ts';
import { warnBeforeSchedulesStop } from './common/schedule.ts';

await runAction({
  name: 'gc-staging',
  secrets: [...CHANNEL_SECRETS, { input: INPUT.githubToken }],
  async run() {
    await warnBeforeSchedulesStop(core.getInput(INPUT.token));
    const options = readGcOptions();
    const result = await core.group(`Collect staging artifacts older than ${core.getInput(INPUT.olderThan) || '7d'}${options.dryRun ? ' (dry run)' : ''}`, () =>
      gc({ ...options, progress: progressLogger }),
    );
    reportGc(result, options.dryRun === true);
  },
});
