// promote: copies validated artifacts from staging to production (trusting only a passed verdict on the
// exact staged manifest), records them in the promotion log and removes the staging copies.
import * as core from '@actions/core';
import { promote } from '@oci-channel/pipeline';
import { stringInput } from './common/inputs.ts';
import { addRequestSummary, addVerdictTable, failedArtifactsError, PROMOTION_SECRETS, readPromotionOptions } from './common/promotion.ts';
import { runAction } from './common/run.ts';

await runAction({
  name: 'promote',
  secrets: PROMOTION_SECRETS,
  async run() {
    const { request, ...options } = readPromotionOptions();
    // Production manifests name the channel's own repository as their source, never the uploader's.
    const repository = process.env.GITHUB_REPOSITORY;
    const sourceUrl =
      stringInput('source-url', { maxLength: 500, pattern: /^https:\/\/[^\s"<>]+$/, hint: 'an https URL' }) ||
      (repository ? `${process.env.GITHUB_SERVER_URL ?? 'https://github.com'}/${repository}` : undefined);
    const result = await core.group(`Promote ${options.artifacts.length} artifact(s)`, () => promote({ ...options, ...(sourceUrl ? { sourceUrl } : {}) }));
    core.setOutput('result', JSON.stringify(result));
    core.setOutput('ok', String(result.ok));
    core.setOutput(
      'promoted',
      JSON.stringify(result.artifacts.filter((a) => a.status === 'promoted' || a.status === 'already-promoted').map((a) => `${a.subdir}/${a.filename}`)),
    );
    addRequestSummary('Promotion request', request, options.artifacts.length, result.uploader);
    addVerdictTable('Promotion', result.artifacts);
    if (!result.ok) {
      throw failedArtifactsError(result.artifacts, (a) => a.status === 'rejected' || a.status === 'failed', 'were not promoted');
    }
  },
});
