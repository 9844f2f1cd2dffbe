// What validate and promote share: the promotion request input, both channels' credentials, the verdict table.
import * as core from '@actions/core';
import { parsePromotionRequest, PayloadError, type ArtifactVerdict, type PromotedArtifact, type ValidateOptions } from '@oci-channel/pipeline';
import { UserError } from './errors.ts';
import { locationInput, storeOptionsFrom, stringInput } from './inputs.ts';
import { progressLogger } from './run.ts';
import { addArtifactTable, failedChecks } from './summary.ts';

/** The secret inputs of validate and promote. */
export const PROMOTION_SECRETS = [
  { input: 'staging-password', usernameInput: 'staging-username' },
  { input: 'production-password', usernameInput: 'production-username' },
  { input: 'token', usernameInput: 'staging-username' },
  { input: 'token', usernameInput: 'production-username' },
  { input: 'verdict-key' },
];

/** Reads the payload (strictly checked), both channels and their separate credentials, and the owners checkout. */
export function readPromotionOptions(): ValidateOptions {
  const payload = stringInput('payload', { required: true, hint: 'pass ${{ toJSON(github.event.client_payload) }}' });
  let parsed: ReturnType<typeof parsePromotionRequest>;
  try {
    parsed = parsePromotionRequest(payload);
  } catch (error) {
    if (error instanceof PayloadError) throw new UserError(`input payload: ${error.message}`);
    throw error;
  }
  const staging = locationInput('staging');
  const production = locationInput('production');
  if (staging === production) throw new UserError('inputs staging and production name the same channel: use two separate paths');
  const owners = core.getInput('owners');
  // Empty: the pipeline's default applies (OCI_CHANNEL_VERDICT_KEY, else no key and promote validates itself).
  const verdictKey = core.getInput('verdict-key') || undefined;
  const label = parsed.request.label;
  core.info(
    `request from ${parsed.request.uploader}${parsed.request.run_url ? ` (${parsed.request.run_url})` : ''}: ${parsed.artifacts.length} artifact(s)${label ? ` to label ${label}` : ''}`,
  );
  return {
    staging,
    production,
    artifacts: parsed.artifacts,
    uploader: parsed.request.uploader,
    ...(label ? { label } : {}),
    owners: owners || undefined,
    verdictKey,
    stagingStoreOptions: storeOptionsFrom('staging-username', 'staging-password', staging),
    productionStoreOptions: storeOptionsFrom('production-username', 'production-password', production),
    progress: progressLogger,
  };
}

export function addVerdictTable(heading: string, artifacts: Array<ArtifactVerdict | PromotedArtifact>): void {
  addArtifactTable(
    heading,
    artifacts.map((a) => ({
      artifact: `${a.subdir}/${a.filename}`,
      status: 'status' in a ? `${a.status} (${a.verdict})` : a.verdict,
      failedChecks: failedChecks(a.checks) || (a.verdict === 'failed' ? (a.reason ?? '') : ''),
      digest: ('productionDigest' in a ? a.productionDigest : undefined) ?? a.manifestDigest,
      size: a.size,
    })),
    'Verdict',
  );
}

/** One line: how many failed, and the first one's reason. */
export function failedArtifactsError(artifacts: Array<ArtifactVerdict & { status?: string }>, failed: (a: ArtifactVerdict & { status?: string }) => boolean, what: string): UserError {
  const bad = artifacts.filter(failed);
  const first = bad[0];
  const reason = first ? first.reason || failedChecks(first.checks) || first.status || first.verdict : '';
  return new UserError(`${bad.length} of ${artifacts.length} artifact(s) ${what}${first ? `, first ${first.subdir}/${first.filename}: ${reason}` : ''}`);
}
