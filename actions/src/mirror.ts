// mirror: keeps the registry in step with an existing conda channel (e.g. anaconda.org) until the switch.
import * as core from '@actions/core';
import { mirror } from '@oci-channel/pipeline';
import { reportMirror } from './common/mirror-report.ts';
import { CHANNEL_SECRETS } from './common/names.ts';
import { readMirrorOptions } from './common/options.ts';
import { progressLogger, runAction } from './common/run.ts';

await runAction({
  name: 'mirror',
  secrets: CHANNEL_SECRETS,
  async run() {
    const options = readMirrorOptions();
    const result = await core.group(`Mirror ${options.from} into ${options.to as string}`, () => mirror({ ...options, progress: progressLogger }));
    await reportMirror(result, options.dryRun === true);
  },
});
