// upload-to-staging: pushes built packages to the staging channel, then asks the channel repository to
// validate and promote them (repository_dispatch), split to GitHub's payload limits.
import { randomBytes } from 'node:crypto';
import * as core from '@actions/core';
import * as glob from '@actions/glob';
import { LABEL_PATTERN, MAIN_LABEL } from '@oci-channel/conda';
import { dispatchPromotion, upload, type PromotionRequest } from '@oci-channel/pipeline';
import { UserError } from './common/errors.ts';
import { booleanInput, locationInput, storeOptionsFrom, stringInput } from './common/inputs.ts';
import { progressLogger, runAction } from './common/run.ts';
import { addArtifactTable, escapeHtml } from './common/summary.ts';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** A request id unique per upload run: the run id and attempt (who to ask), and random hex (unique anywhere). */
function requestId(runId: string | undefined): string {
  const attempt = process.env.GITHUB_RUN_ATTEMPT ?? '1';
  const random = randomBytes(4).toString('hex');
  return /^\d{1,20}$/.test(runId ?? '') && /^\d{1,5}$/.test(attempt) ? `${runId}-${attempt}-${random}` : `local-${random}`;
}

await runAction({
  name: 'upload-to-staging',
  secrets: [{ input: 'password', usernameInput: 'username' }, { input: 'token', usernameInput: 'username' }, { input: 'dispatch-token' }],
  async run() {
    const patterns = core.getMultilineInput('files').filter(Boolean);
    if (patterns.length === 0) throw new UserError('input files is required: one path or glob per line');
    const staging = locationInput('staging');
    const storeOptions = storeOptionsFrom('username', 'password', staging);
    const repository = process.env.GITHUB_REPOSITORY ?? '';
    const uploader =
      stringInput('uploader', { pattern: NAME_RE, hint: 'a feedstock name of letters, digits, ".", "_" and "-"' }) ||
      (repository.split('/')[1] ?? '').replace(/-feedstock$/, '');
    const targetRepository = stringInput('target-repository', {
      pattern: /^[A-Za-z0-9][A-Za-z0-9-]*\/[A-Za-z0-9._-]+$/,
      hint: 'expected owner/repo',
    });
    const dispatchToken = core.getInput('dispatch-token');
    const eventType = stringInput('event-type', { maxLength: 100, pattern: /^\S+$/, hint: 'no spaces' }) || 'oci-channel-promote';
    const failOnEmpty = booleanInput('fail-on-empty', true);
    const label = stringInput('label', { maxLength: 64, pattern: new RegExp(LABEL_PATTERN), hint: 'a channel label such as main or rc (lowercase letters and digits separated by ".", "_" or "-")' });
    if (targetRepository && !dispatchToken) {
      throw new UserError('input dispatch-token is required with target-repository: a token with Contents write on it');
    }
    if (targetRepository && !NAME_RE.test(uploader)) {
      throw new UserError('input uploader is required to dispatch (GITHUB_REPOSITORY is not set to derive it)');
    }

    const files = await core.group('Find packages', async () => {
      const globber = await glob.create(patterns.join('\n'), { matchDirectories: false });
      const found = (await globber.glob()).sort();
      for (const file of found) core.info(file);
      return found;
    });
    if (files.length === 0) {
      if (failOnEmpty) throw new UserError(`no files matched input files (${patterns.join(', ').slice(0, 200)})`);
      core.warning('no files matched input files; nothing uploaded');
    }

    const result = await core.group(`Upload ${files.length} package(s) to staging`, () =>
      upload({
        to: staging,
        files,
        storeOptions,
        progress: progressLogger,
        sourceUrl: repository ? `${process.env.GITHUB_SERVER_URL ?? 'https://github.com'}/${repository}` : undefined,
      }),
    );
    const artifacts: Record<string, string> = {};
    for (const a of result.artifacts) artifacts[`${a.subdir}/${a.filename}`] = a.sha256;
    core.setOutput('result', JSON.stringify(result));
    core.setOutput('artifacts', JSON.stringify(artifacts));
    addArtifactTable('Uploaded to staging', [
      ...result.artifacts.map((a) => ({ artifact: `${a.subdir}/${a.filename}`, status: a.status, digest: a.manifestDigest, size: a.size })),
      ...result.errors.map((e) => ({ artifact: e.file.split(/[\\/]/).pop() ?? e.file, status: 'refused', failedChecks: e.error })),
    ]);
    if (!result.ok || result.errors.length > 0) {
      // Nothing is dispatched: promoting part of a build would publish an inconsistent set.
      const first = result.errors[0];
      throw new UserError(
        `${result.errors.length} of ${files.length} file(s) refused${first ? `, first ${first.file.split(/[\\/]/).pop()}: ${first.error}` : ''}; nothing was dispatched`,
      );
    }

    let dispatches = 0;
    if (targetRepository && result.artifacts.length > 0) {
      const runId = process.env.GITHUB_RUN_ID;
      const request: PromotionRequest = { uploader, artifacts };
      if (repository) request.repository = repository;
      if (label && label !== MAIN_LABEL) request.label = label;
      if (/^[a-f0-9]{40}(?:[a-f0-9]{24})?$/.test(process.env.GITHUB_SHA ?? '')) request.commit = process.env.GITHUB_SHA;
      const serverUrl = process.env.GITHUB_SERVER_URL ?? 'https://github.com';
      if (repository && runId && serverUrl.startsWith('https://')) request.run_url = `${serverUrl}/${repository}/actions/runs/${runId}`;
      request.request_id = requestId(runId);
      if (!process.env.ACTIONS_ID_TOKEN_REQUEST_URL || !process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN) {
        throw new UserError('this job cannot mint the OIDC identity token the promotion request needs: give it permissions id-token: write (the reusable upload.yml does); the packages are in staging, re-run to dispatch');
      }
      // One token per dispatch, bound to exactly its artifacts and hashes (getIDToken masks each one).
      const identityToken = async (audience: string) => {
        try {
          return await core.getIDToken(audience);
        } catch (error) {
          throw new UserError(`could not mint the OIDC identity token: ${(error as Error).message.split('\n')[0]}; check permissions id-token: write`);
        }
      };
      const sent = await core.group(`Request promotion from ${targetRepository}`, () =>
        dispatchPromotion({ token: dispatchToken, repository: targetRepository, eventType, request, identityToken }),
      );
      dispatches = sent.dispatches;
      const ids = sent.payloads.map((p) => p.request_id ?? '');
      // Where the promotion runs: the channel repository's Actions runs for this event (its runs are named
      // after the request id when its workflow sets run-name, see docs/actions.md).
      const runsPage = `${serverUrl}/${targetRepository}/actions?query=${encodeURIComponent('event:repository_dispatch')}`;
      core.info(`sent ${dispatches} repository_dispatch event(s) "${eventType}" to ${targetRepository}: request ${ids.join(', ')}; follow it at ${runsPage}`);
      core.setOutput('request-ids', JSON.stringify(ids));
      core.summary
        .addHeading('Promotion requested', 3)
        .addRaw(
          `Sent ${dispatches} promotion request(s) (${escapeHtml(ids.join(', '))}) to ${escapeHtml(targetRepository)}. ` +
            `Validation and promotion run there: <a href="${escapeHtml(runsPage)}">${escapeHtml(targetRepository)} Actions runs for repository_dispatch</a>, ` +
            `the run named after the request id.`,
          true,
        );
    }
    core.setOutput('dispatches', String(dispatches));
  },
});
