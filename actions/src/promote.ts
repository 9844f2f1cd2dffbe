// promote: copies validated artifacts from staging to production (trusting only a passed verdict on the
// exact staged manifest), records them in the promotion log and removes the staging copies.
import * as core from '@actions/core';
import { promote } from '@oci-channel/pipeline';
import { PROMOTION_SECRETS } from './common/names.ts';
import { readPromoteOptions, reportPromote } from './common/promotion.ts';
import { runAction } from './common/run.ts';

await runAction({
  name: 'promote',
  secrets: PROMOTION_SECRETS,
  async run() {
    const { request, ...options } = readPromoteOptions();
    const result = await core.group(`Promote ${options.artifacts.length} artifact(s)`, () => promote(options));
    reportPromote(result, request, options.visibilityCheck);
  },
});
