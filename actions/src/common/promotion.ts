// What validate and promote read (the promotion request input, the uploader's identity token and who may publish,
// both channels' credentials) and report (the request, the verdict table, a one-line failure).
import * as core from '@actions/core';
import {
  assertSeparateChannels,
  checkIssuerUrl,
  describeUploader,
  IdentityError,
  MAX_TOKEN_AGE_LIMIT_MS,
  OptionsError,
  parsePromotionRequest,
  PayloadError,
  type ArtifactVerdict,
  type PromotedArtifact,
  type PromoteOptions,
  type PromoteResult,
  type PromotionRequest,
  type UploaderIdentity,
  type ValidateOptions,
  type ValidateResult,
} from '@oci-channel/pipeline';
import { UserError } from './errors.ts';
import { durationInput, listInput, locationInput, storeOptionsFrom, stringInput, visibilityInputs } from './inputs.ts';
import { INPUT } from './names.ts';
import { progressLogger } from './run.ts';
import { addArtifactTable, addPrivatePackages, escapeHtml, failedChecks, formatSize } from './summary.ts';

/** Who may publish which name: a feedstock-outputs checkout, or `none` (a channel with a single uploader). */
function ownersInput(): string | undefined {
  const owners = core.getInput(INPUT.owners);
  if (!owners) {
    throw new UserError(
      `input ${INPUT.owners} is required: the path of a feedstock-outputs checkout (who may publish which package name; promote.yml checks out the repository variable OCI_CHANNEL_OWNERS_REPOSITORY), or none for a channel with a single uploader`,
    );
  }
  return owners === 'none' ? undefined : owners;
}

/** The identity options: the request's token, the issuer and who may publish (default the channel's own owner). */
function identityOptions(token: string | undefined): NonNullable<ValidateOptions['identity']> {
  if (!token) {
    throw new UserError(
      "the promotion request carries no identity_token: the uploader is not proved; upload with oci-channel's upload-to-staging (the job needs permissions id-token: write) to send one",
    );
  }
  let issuer: string;
  try {
    issuer = checkIssuerUrl(stringInput(INPUT.oidcIssuer, { required: true, hint: 'e.g. https://token.actions.githubusercontent.com' }));
  } catch (error) {
    if (error instanceof IdentityError) throw new UserError(`input ${INPUT.oidcIssuer}: ${error.message}`);
    throw error;
  }
  const allowedOwners = listInput(INPUT.allowedOwners);
  if (allowedOwners.length === 0 && process.env.GITHUB_REPOSITORY_OWNER) allowedOwners.push(process.env.GITHUB_REPOSITORY_OWNER);
  if (allowedOwners.length === 0) throw new UserError(`input ${INPUT.allowedOwners} is required (GITHUB_REPOSITORY_OWNER is not set to default to): the GitHub owners whose repositories may publish`);
  const maxTokenAgeMs = durationInput(INPUT.maxTokenAge, '24h');
  if (maxTokenAgeMs <= 0 || maxTokenAgeMs > MAX_TOKEN_AGE_LIMIT_MS) throw new UserError(`input ${INPUT.maxTokenAge} must be more than 0 and at most 7d`);
  const allowedWorkflow = stringInput(INPUT.allowedWorkflow, { maxLength: 500 });
  return { token, issuer, allowedOwners, maxTokenAgeMs, ...(allowedWorkflow ? { allowedWorkflow } : {}) };
}

/** Reads the payload (strictly checked), the identity rules, both channels and their credentials, and the owners. */
export function readPromotionOptions(): ValidateOptions & { request: PromotionRequest } {
  const payload = stringInput(INPUT.payload, { required: true, hint: 'pass ${{ toJSON(github.event.client_payload) }}' });
  let parsed: ReturnType<typeof parsePromotionRequest>;
  try {
    parsed = parsePromotionRequest(payload);
  } catch (error) {
    if (error instanceof PayloadError) throw new UserError(`input ${INPUT.payload}: ${error.message}`);
    throw error;
  }
  // The runner shows with: inputs in the step header; everything printed from here on hides the token.
  if (parsed.request.identity_token) core.setSecret(parsed.request.identity_token);
  const staging = locationInput(INPUT.staging);
  const production = locationInput(INPUT.production);
  try {
    assertSeparateChannels(staging, production);
  } catch (error) {
    if (error instanceof OptionsError) throw new UserError(`inputs ${INPUT.staging} and ${INPUT.production}: ${error.message}`);
    throw error;
  }
  const owners = ownersInput();
  const identity = identityOptions(parsed.request.identity_token);
  // Empty: the pipeline's default applies (OCI_CHANNEL_VERDICT_KEY, else no key and promote validates itself).
  const verdictKey = core.getInput(INPUT.verdictKey) || undefined;
  const r = parsed.request;
  const label = r.label;
  core.info(
    `request ${r.request_id ?? '(no id)'} for ${parsed.artifacts.length} artifact(s)${label ? ` to label ${label}` : ''}${r.run_url ? ` from ${r.run_url}` : ''}; the payload says uploader ${r.uploader}, the identity token decides`,
  );
  if (!owners) core.info('owners: none (a single-uploader channel: any verified uploader from an allowed owner may publish any name)');
  return {
    request: parsed.request,
    staging,
    production,
    artifacts: parsed.artifacts,
    identity,
    ...(label ? { label } : {}),
    ...(owners ? { owners } : {}),
    verdictKey,
    stagingStoreOptions: storeOptionsFrom(INPUT.stagingUsername, INPUT.stagingPassword, staging),
    productionStoreOptions: storeOptionsFrom(INPUT.productionUsername, INPUT.productionPassword, production),
    progress: progressLogger,
  };
}

/** validate's options, and the source URL and visibility check promote adds. */
export function readPromoteOptions(): PromoteOptions & { request: PromotionRequest } {
  const options = readPromotionOptions();
  // Production manifests name the channel's own repository as their source, never the uploader's.
  const repository = process.env.GITHUB_REPOSITORY;
  const sourceUrl =
    stringInput(INPUT.sourceUrl, { maxLength: 500, pattern: /^https:\/\/[^\s"<>]+$/, hint: 'an https URL' }) ||
    (repository ? `${process.env.GITHUB_SERVER_URL ?? 'https://github.com'}/${repository}` : undefined);
  return { ...options, ...visibilityInputs(options.production as string), ...(sourceUrl ? { sourceUrl } : {}) };
}

export function reportValidate(result: ValidateResult, request: PromotionRequest): void {
  core.setOutput('result', JSON.stringify(result));
  core.setOutput('ok', String(result.ok));
  addRequestSummary('Validation request', request, result.uploader);
  addVerdictTable('Validation', result.artifacts);
  if (!result.ok) throw failedArtifactsError(result.artifacts, (a) => a.verdict !== 'passed', 'failed validation');
}

export function reportPromote(result: PromoteResult, request: PromotionRequest, visibilityCheck: PromoteOptions['visibilityCheck']): void {
  const notPromoted = (a: { status?: string }) => a.status === 'rejected' || a.status === 'failed';
  core.setOutput('result', JSON.stringify(result));
  core.setOutput('ok', String(result.ok));
  core.setOutput('promoted', JSON.stringify(result.artifacts.filter((a) => !notPromoted(a)).map((a) => `${a.subdir}/${a.filename}`)));
  addRequestSummary('Promotion request', request, result.uploader);
  addVerdictTable('Promotion', result.artifacts);
  if (result.streamedBytes) {
    core.summary.addRaw(`${formatSize(result.streamedBytes)} of package blobs were copied registry to registry because the registry did not mount them (ghcr.io never does).`, true);
  }
  const failing = addPrivatePackages(result.privatePackages, visibilityCheck);
  if (result.artifacts.some(notPromoted)) throw failedArtifactsError(result.artifacts, notPromoted, 'were not promoted');
  if (failing) throw new UserError(failing);
  if (!result.ok) throw new UserError('promote did not complete: see the log above; a re-run is safe');
}

/** Who uploaded, as the identity token proved it (the payload's own `uploader` field is never believed). */
function uploaderLabel(uploader: UploaderIdentity | undefined): string {
  return uploader ? `${describeUploader(uploader)}${uploader.workflow ? ` (workflow ${uploader.workflow})` : ''}` : 'not verified (the identity token was refused)';
}

/** The request a validate or promote run worked on: its id, who sent it (verified or not), from where. */
function addRequestSummary(heading: string, request: PromotionRequest, uploader: UploaderIdentity | undefined): void {
  core.info(`uploader: ${uploaderLabel(uploader)}`);
  const rows: Array<[string, string]> = [
    ['Request id', request.request_id ? `<code>${escapeHtml(request.request_id)}</code>` : 'none (sent without an id)'],
    ['Uploader', escapeHtml(uploaderLabel(uploader))],
    ['Source run', request.run_url ? `<a href="${escapeHtml(request.run_url)}">${escapeHtml(request.run_url)}</a>` : 'not given'],
    ['Repository', request.repository ? escapeHtml(`${request.repository}${request.commit ? ` @ ${request.commit.slice(0, 12)}` : ''}`) : 'not given'],
    ['Artifacts', String(Object.keys(request.artifacts).length)],
  ];
  core.summary.addHeading(escapeHtml(heading), 3);
  core.summary.addTable(rows.map(([k, v]) => [{ data: k, header: true }, v]));
}

function addVerdictTable(heading: string, artifacts: Array<ArtifactVerdict | PromotedArtifact>): void {
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

/** One line: how many failed, and the first one's reason; the summary lists every one of them with its reason. */
function failedArtifactsError(artifacts: Array<ArtifactVerdict & { status?: string }>, failed: (a: ArtifactVerdict & { status?: string }) => boolean, what: string): UserError {
  const bad = artifacts.filter(failed);
  const reasonOf = (a: ArtifactVerdict & { status?: string }) => {
    const name = `${a.subdir}/${a.filename}`;
    const reason = a.reason || failedChecks(a.checks) || a.status || a.verdict;
    return reason.startsWith(`${name}: `) ? reason.slice(name.length + 2) : reason;
  };
  if (bad.length > 0) {
    core.summary.addHeading(`${bad.length} artifact(s) ${escapeHtml(what)}`, 4);
    core.summary.addList(bad.slice(0, 200).map((a) => `<code>${escapeHtml(`${a.subdir}/${a.filename}`)}</code>: ${escapeHtml(reasonOf(a))}`));
  }
  const first = bad[0];
  return new UserError(`${bad.length} of ${artifacts.length} artifact(s) ${what}${first ? `, first ${first.subdir}/${first.filename}: ${reasonOf(first)}` : ''}`);
}
