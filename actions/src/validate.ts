// validate: checks the staged artifacts a promotion request names and records a verdict on each.
import * as core from '@actions/core';
import { validate } from '@oci-channel/pipeline';
import { addRequestSummary, addVerdictTable, failedArtifactsError, PROMOTION_SECRETS, readPromotionOptions } from './common/promotion.ts';
import { runAction } from './common/run.ts';

await runAction({
  name: 'validate',
  secrets: PROMOTION_SECRETS,
  async run() {
    const { request, ...options } = readPromotionOptions();
    const result = await core.group(`Validate ${options.artifacts.length} artifact(s)`, () => validate(options));
    core.setOutput('result', JSON.stringify(result));
    core.setOutput('ok', String(result.ok));
    addRequestSummary('Validation request', request, options.artifacts.length, result.uploader);
    addVerdictTable('Validation', result.artifacts);
    if (!result.ok) throw failedArtifactsError(result.artifacts, (a) => a.verdict !== 'passed', 'failed validation');
  },
});
