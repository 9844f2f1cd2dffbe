// promote: copies validated artifacts from staging to production (trusting only a passed verdict on the
// exact staged manifest), records them in the promotion log and removes the staging copies.
import * as core from '@actions/core';
import { promote } from '@oci-channel/pipeline';
import { UserError } from './common/errors.ts';
import { OWNER_PATTERN, stringInput, visibilityOptions } from './common/inputs.ts';
import { addRequestSummary, addVerdictTable, failedArtifactsError, PROMOTION_SECRETS, readPromotionOptions } from './common/promotion.ts';
import { runAction } from './common/run.ts';
import { addPrivatePackages, formatSize } from './common/summary.ts';

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
    const visibility = visibilityOptions(options.production as string, core.getInput('token'), {
      mode: stringInput('visibility-check', { pattern: /^(fail|warn|off)$/, hint: 'expected fail, warn or off' }),
      owner: stringInput('github-owner', { pattern: OWNER_PATTERN, hint: 'a user or organisation login' }),
      ownerType: stringInput('github-owner-type', { pattern: /^(org|user)$/, hint: 'expected org or user' }),
    });
    const result = await core.group(`Promote ${options.artifacts.length} artifact(s)`, () =>
      promote({ ...options, ...visibility, ...(sourceUrl ? { sourceUrl } : {}) }),
    );
    core.setOutput('result', JSON.stringify(result));
    core.setOutput('ok', String(result.ok));
    core.setOutput(
      'promoted',
      JSON.stringify(result.artifacts.filter((a) => a.status === 'promoted' || a.status === 'already-promoted').map((a) => `${a.subdir}/${a.filename}`)),
    );
    addRequestSummary('Promotion request', request, options.artifacts.length, result.uploader);
    addVerdictTable('Promotion', result.artifacts);
    if (result.streamedBytes) {
      core.summary.addRaw(`${formatSize(result.streamedBytes)} of package blobs were copied registry to registry because the registry did not mount them (ghcr.io never does).`, true);
    }
    const failing = addPrivatePackages(result.privatePackages, visibility.visibilityCheck);
    if (result.artifacts.some((a) => a.status === 'rejected' || a.status === 'failed')) {
      throw failedArtifactsError(result.artifacts, (a) => a.status === 'rejected' || a.status === 'failed', 'were not promoted');
    }
    if (failing) throw new UserError(failing);
    if (!result.ok) throw new UserError('promote did not complete: see the log above; a re-run is safe');
  },
});
