// What validate and promote share: the promotion request input, both channels' credentials, the verdict table.
import * as core from '@actions/core';
import {
  assertSeparateChannels,
  OptionsError,
  parsePromotionRequest,
  PayloadError,
  type ArtifactVerdict,
  type PromotedArtifact,
  type PromotionRequest,
  type ValidateOptions,
} from '@oci-channel/pipeline';
import { UserError } from './errors.ts';
import { locationInput, storeOptionsFrom, stringInput } from './inputs.ts';
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

/** Reads the payload (strictly checked), both channels and their separate credentials, and the owners checkout. */
export function readPromotionOptions(): ValidateOptions & { request: PromotionRequest } {
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
  try {
    assertSeparateChannels(staging, production);
  } catch (error) {
    if (error instanceof OptionsError) throw new UserError(`inputs staging and production: ${error.message}`);
    throw error;
  }
  const owners = core.getInput('owners');
  // Empty: the pipeline's default applies (OCI_CHANNEL_VERDICT_KEY, else no key and promote validates itself).
  const verdictKey = core.getInput('verdict-key') || undefined;
  const r = parsed.request;
  core.info(`request ${r.request_id ?? '(no id)'} from ${uploaderLabel(r)}${r.run_url ? ` (${r.run_url})` : ''}: ${parsed.artifacts.length} artifact(s)`);
  return {
    request: parsed.request,
    staging,
    production,
    artifacts: parsed.artifacts,
    uploader: parsed.request.uploader,
    owners: owners || undefined,
    verdictKey,
    stagingStoreOptions: storeOptionsFrom('staging-username', 'staging-password', staging),
    productionStoreOptions: storeOptionsFrom('production-username', 'production-password', production),
    progress: progressLogger,
  };
}

/** Who asked, as far as it is known: the payload names an uploader but nothing proves it yet. */
function uploaderLabel(request: PromotionRequest): string {
  return `unverified: ${request.uploader}`;
}

/** The request a validate or promote run works on: its id, who sent it, from where. */
export function addRequestSummary(heading: string, request: PromotionRequest, artifacts: number): void {
  const rows: Array<[string, string]> = [
    ['Request id', request.request_id ? `<code>${escapeHtml(request.request_id)}</code>` : 'none (sent without an id)'],
    ['Uploader', escapeHtml(uploaderLabel(request))],
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
