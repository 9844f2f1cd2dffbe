// upload-to-staging's promotion request: what the run sends to the channel repository (repository_dispatch),
// with one OIDC identity token per dispatch, and where to follow it.
import { randomBytes } from 'node:crypto';
import * as core from '@actions/core';
import { LABEL_PATTERN, MAIN_LABEL } from '@oci-channel/conda';
import { dispatchPromotion, type PromotionRequest, type UploadResult } from '@oci-channel/pipeline';
import { UserError } from './errors.ts';
import { stringInput } from './inputs.ts';
import { INPUT } from './names.ts';
import { escapeHtml } from './summary.ts';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export interface DispatchInputs {
  targetRepository: string;
  token: string;
  eventType: string;
  uploader: string;
  label?: string;
}

/** The dispatch inputs, checked before anything is uploaded; undefined without target-repository. */
export function dispatchInputs(): DispatchInputs | undefined {
  const repository = process.env.GITHUB_REPOSITORY ?? '';
  const uploader =
    stringInput(INPUT.uploader, { pattern: NAME_RE, hint: 'a feedstock name of letters, digits, ".", "_" and "-"' }) ||
    (repository.split('/')[1] ?? '').replace(/-feedstock$/, '');
  const targetRepository = stringInput(INPUT.targetRepository, { pattern: /^[A-Za-z0-9][A-Za-z0-9-]*\/[A-Za-z0-9._-]+$/, hint: 'expected owner/repo' });
  const token = core.getInput(INPUT.dispatchToken);
  const eventType = stringInput(INPUT.eventType, { maxLength: 100, pattern: /^\S+$/, hint: 'no spaces' }) || 'oci-channel-promote';
  const label = stringInput(INPUT.label, {
    maxLength: 64,
    pattern: new RegExp(LABEL_PATTERN),
    hint: 'a channel label such as main or rc (lowercase letters and digits separated by ".", "_" or "-")',
  });
  if (!targetRepository) return undefined;
  if (!token) throw new UserError(`input ${INPUT.dispatchToken} is required with ${INPUT.targetRepository}: a token with Contents write on it`);
  if (!NAME_RE.test(uploader)) throw new UserError(`input ${INPUT.uploader} is required to dispatch (GITHUB_REPOSITORY is not set to derive it)`);
  return { targetRepository, token, eventType, uploader, ...(label && label !== MAIN_LABEL ? { label } : {}) };
}

/** Sends the promotion request for what was uploaded; returns how many dispatches it took. */
export async function requestPromotion(inputs: DispatchInputs, uploaded: UploadResult['artifacts']): Promise<number> {
  const repository = process.env.GITHUB_REPOSITORY;
  const runId = process.env.GITHUB_RUN_ID;
  const serverUrl = process.env.GITHUB_SERVER_URL ?? 'https://github.com';
  const request: PromotionRequest = { uploader: inputs.uploader, artifacts: Object.fromEntries(uploaded.map((a) => [`${a.subdir}/${a.filename}`, a.sha256])) };
  if (repository) request.repository = repository;
  if (inputs.label) request.label = inputs.label;
  if (/^[a-f0-9]{40}(?:[a-f0-9]{24})?$/.test(process.env.GITHUB_SHA ?? '')) request.commit = process.env.GITHUB_SHA;
  if (repository && runId && serverUrl.startsWith('https://')) request.run_url = `${serverUrl}/${repository}/actions/runs/${runId}`;
  request.request_id = requestId(runId);
  if (!process.env.ACTIONS_ID_TOKEN_REQUEST_URL || !process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN) {
    throw new UserError(
      'this job cannot mint the OIDC identity token the promotion request needs: give it permissions id-token: write (the reusable upload.yml does); the packages are in staging, re-run to dispatch',
    );
  }
  // One token per dispatch, bound to exactly its artifacts and hashes (getIDToken masks each one).
  const identityToken = async (audience: string) => {
    try {
      return await core.getIDToken(audience);
    } catch (error) {
      throw new UserError(`could not mint the OIDC identity token: ${(error as Error).message.split('\n')[0]}; check permissions id-token: write`);
    }
  };
  const { targetRepository, eventType } = inputs;
  const sent = await core.group(`Request promotion from ${targetRepository}`, () =>
    dispatchPromotion({ token: inputs.token, repository: targetRepository, eventType, request, identityToken }),
  );
  const ids = sent.payloads.map((p) => p.request_id ?? '');
  // Where the promotion runs: the channel repository's Actions runs for this event (its runs are named after the
  // request id when its workflow sets run-name, see docs/actions.md).
  const runsPage = `${serverUrl}/${targetRepository}/actions?query=${encodeURIComponent('event:repository_dispatch')}`;
  core.info(`sent ${sent.dispatches} repository_dispatch event(s) "${eventType}" to ${targetRepository}: request ${ids.join(', ')}; follow it at ${runsPage}`);
  core.setOutput('request-ids', JSON.stringify(ids));
  core.summary
    .addHeading('Promotion requested', 3)
    .addRaw(
      `Sent ${sent.dispatches} promotion request(s) (${escapeHtml(ids.join(', '))}) to ${escapeHtml(targetRepository)}. ` +
        `Validation and promotion run there: <a href="${escapeHtml(runsPage)}">${escapeHtml(targetRepository)} Actions runs for repository_dispatch</a>, ` +
        `the run named after the request id.`,
      true,
    );
  return sent.dispatches;
}

/** A request id unique per upload run: the run id and attempt (who to ask), and random hex (unique anywhere). */
function requestId(runId: string | undefined): string {
  const attempt = process.env.GITHUB_RUN_ATTEMPT ?? '1';
  const random = randomBytes(4).toString('hex');
  return /^\d{1,20}$/.test(runId ?? '') && /^\d{1,5}$/.test(attempt) ? `${runId}-${attempt}-${random}` : `local-${random}`;
}
