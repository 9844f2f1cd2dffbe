// What validate and promote share: the promotion request input, the uploader's identity token and who may publish,
// both channels' credentials, the verdict table.
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
  type PromotionRequest,
  type UploaderIdentity,
  type ValidateOptions,
} from '@oci-channel/pipeline';
import { UserError } from './errors.ts';
import { durationInput, listInput, locationInput, storeOptionsFrom, stringInput } from './inputs.ts';
import { progressLogger } from './run.ts';
import { addArtifactTable, escapeHtml, failedChecks } from './summary.ts';

/** The secret inputs of validate and promote. */
export const PROMOTION_SECRETS = [
  { input: 'staging-password', usernameInput: 'staging-username' },
  { input: 'production-password', usernameInput: 'production-username' },
  { input: 'token', usernameInput: 'staging-username' },
  { input: 'token', usernameInput: 'production-username' },
  { input: 'verdict-key' },
];

/** Who may publish which name: a feedstock-outputs checkout, or `none` (a channel with a single uploader). */
function ownersInput(): string | undefined {
  const owners = core.getInput('owners');
  if (!owners) {
    throw new UserError(
      'input owners is required: the path of a feedstock-outputs checkout (who may publish which package name; promote.yml checks out the repository variable OCI_CHANNEL_OWNERS_REPOSITORY), or none for a channel with a single uploader',
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
    issuer = checkIssuerUrl(stringInput('oidc-issuer', { required: true, hint: 'e.g. https://token.actions.githubusercontent.com' }));
  } catch (error) {
    if (error instanceof IdentityError) throw new UserError(`input oidc-issuer: ${error.message}`);
    throw error;
  }
  const allowedOwners = listInput('allowed-owners');
  if (allowedOwners.length === 0 && process.env.GITHUB_REPOSITORY_OWNER) allowedOwners.push(process.env.GITHUB_REPOSITORY_OWNER);
  if (allowedOwners.length === 0) throw new UserError('input allowed-owners is required (GITHUB_REPOSITORY_OWNER is not set to default to): the GitHub owners whose repositories may publish');
  const maxTokenAgeMs = durationInput('max-token-age', '24h');
  if (maxTokenAgeMs <= 0 || maxTokenAgeMs > MAX_TOKEN_AGE_LIMIT_MS) throw new UserError('input max-token-age must be more than 0 and at most 7d');
  const allowedWorkflow = stringInput('allowed-workflow', { maxLength: 500 });
  return { token, issuer, allowedOwners, maxTokenAgeMs, ...(allowedWorkflow ? { allowedWorkflow } : {}) };
}

/** Reads the payload (strictly checked), the identity rules, both channels and their credentials, and the owners. */
export function readPromotionOptions(): ValidateOptions & { request: PromotionRequest } {
  const payload = stringInput('payload', { required: true, hint: 'pass ${{ toJSON(github.event.client_payload) }}' });
  let parsed: ReturnType<typeof parsePromotionRequest>;
  try {
    parsed = parsePromotionRequest(payload);
  } catch (error) {
    if (error instanceof PayloadError) throw new UserError(`input payload: ${error.message}`);
    throw error;
  }
  // The runner shows with: inputs in the step header; everything printed from here on hides the token.
  if (parsed.request.identity_token) core.setSecret(parsed.request.identity_token);
  const staging = locationInput('staging');
  const production = locationInput('production');
  try {
    assertSeparateChannels(staging, production);
  } catch (error) {
    if (error instanceof OptionsError) throw new UserError(`inputs staging and production: ${error.message}`);
    throw error;
  }
  const owners = ownersInput();
  const identity = identityOptions(parsed.request.identity_token);
  // Empty: the pipeline's default applies (OCI_CHANNEL_VERDICT_KEY, else no key and promote validates itself).
  const verdictKey = core.getInput('verdict-key') || undefined;
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
    stagingStoreOptions: storeOptionsFrom('staging-username', 'staging-password', staging),
    productionStoreOptions: storeOptionsFrom('production-username', 'production-password', production),
    progress: progressLogger,
  };
}

/** Who uploaded, as the identity token proved it (the payload's own `uploader` field is never believed). */
function uploaderLabel(uploader: UploaderIdentity | undefined): string {
  return uploader ? `${describeUploader(uploader)}${uploader.workflow ? ` (workflow ${uploader.workflow})` : ''}` : 'not verified (the identity token was refused)';
}

/** The request a validate or promote run worked on: its id, who sent it (verified or not), from where. */
export function addRequestSummary(heading: string, request: PromotionRequest, artifacts: number, uploader: UploaderIdentity | undefined): void {
  core.info(`uploader: ${uploaderLabel(uploader)}`);
  const rows: Array<[string, string]> = [
    ['Request id', request.request_id ? `<code>${escapeHtml(request.request_id)}</code>` : 'none (sent without an id)'],
    ['Uploader', escapeHtml(uploaderLabel(uploader))],
    ['Source run', request.run_url ? `<a href="${escapeHtml(request.run_url)}">${escapeHtml(request.run_url)}</a>` : 'not given'],
    ['Repository', request.repository ? escapeHtml(`${request.repository}${request.commit ? ` @ ${request.commit.slice(0, 12)}` : ''}`) : 'not given'],
    ['Artifacts', String(artifacts)],
  ];
  core.summary.addHeading(escapeHtml(heading), 3);
  core.summary.addTable(rows.map(([k, v]) => [{ data: k, header: true }, v]));
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

/** One line: how many failed, and the first one's reason; the summary lists every one of them with its reason. */
export function failedArtifactsError(artifacts: Array<ArtifactVerdict & { status?: string }>, failed: (a: ArtifactVerdict & { status?: string }) => boolean, what: string): UserError {
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
