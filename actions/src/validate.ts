// validate: checks the staged artifacts a promotion request names and records a verdict on each.
import * as core from '@actions/core';
import { validate } from '@oci-channel/pipeline';
import { PROMOTION_SECRETS } from './common/names.ts';
import { readPromotionOptions, reportValidate } from './common/promotion.ts';
import { runAction } from './common/run.ts';

await runAction({
  name: 'validate',
  secrets: PROMOTION_SECRETS,
  async run() {
    const { request, ...options } = readPromotionOptions();
    const result = await core.group(`Validate ${options.artifacts.length} artifact(s)`, () => validate(options));
    reportValidate(result, request);
  },
});
