// gc-staging: deletes staging artifacts older than a limit that were never promoted. On ghcr.io, where the
// registry API cannot delete, it goes through the GitHub Packages REST API.
import * as core from '@actions/core';
import { parseLocation } from '@oci-channel/oci';
import { gc, type GcOptions } from '@oci-channel/pipeline';
import { UserError } from './common/errors.ts';
import { booleanInput, durationInput, locationInput, storeOptionsFrom, stringInput } from './common/inputs.ts';
import { progressLogger, runAction } from './common/run.ts';
import { warnBeforeSchedulesStop } from './common/schedule.ts';
import { escapeHtml } from './common/summary.ts';

await runAction({
  name: 'gc-staging',
  secrets: [{ input: 'password', usernameInput: 'username' }, { input: 'token', usernameInput: 'username' }, { input: 'github-token' }],
  async run() {
    await warnBeforeSchedulesStop(core.getInput('token'));
    const channel = locationInput('channel');
    const storeOptions = storeOptionsFrom('username', 'password', channel);
    const olderThanMs = durationInput('older-than', '7d');
    const dryRun = booleanInput('dry-run', false);
    const mode = stringInput('github-packages-api', { pattern: /^(auto|true|false)$/, hint: 'expected auto, true or false' }) || 'auto';
    const location = parseLocation(channel);
    const useApi = mode === 'true' || (mode === 'auto' && location.kind === 'registry' && location.host.toLowerCase() === 'ghcr.io');
    let github: GcOptions['github'];
    if (useApi) {
      const token = core.getInput('github-token');
      if (!token) throw new UserError('input github-token is required to delete through the GitHub Packages API (packages: write, delete)');
      const owner =
        stringInput('github-owner', { pattern: /^[A-Za-z0-9][A-Za-z0-9-]{0,38}$/, hint: 'a user or organisation login' }) ||
        (location.kind === 'registry' ? (location.path.split('/')[0] ?? '') : '');
      if (!owner) throw new UserError('input github-owner is required: the channel path does not start with an owner');
      const ownerType = stringInput('github-owner-type', { pattern: /^(org|user)$/, hint: 'expected org or user' }) || 'org';
      github = { token, owner, ownerType: ownerType as 'org' | 'user', apiUrl: process.env.GITHUB_API_URL || undefined };
    }

    const result = await core.group(`Collect staging artifacts older than ${core.getInput('older-than') || '7d'}${dryRun ? ' (dry run)' : ''}`, () =>
      gc({ channel, storeOptions, olderThanMs, dryRun, github, progress: progressLogger }),
    );
    core.setOutput('result', JSON.stringify(result));
    core.setOutput('ok', String(result.ok));
    core.setOutput('deleted', String(result.deleted.length));

    core.summary.addHeading(`Staging gc${dryRun ? ' (dry run: nothing deleted)' : ''}`, 3);
    core.summary.addTable([
      ['Repository', 'Tag', 'Digest', 'Age', dryRun ? 'Would delete' : 'Deleted'].map((data) => ({ data, header: true })),
      ...result.deleted.map((d) => [
        escapeHtml(d.repository),
        escapeHtml(d.tag ?? ''),
        `<code>${escapeHtml(d.digest)}</code>`,
        `${(d.ageMs / 86_400_000).toFixed(1)} d`,
        d.dryRun ? 'no (dry run)' : 'yes',
      ]),
      ...result.errors.map((e) => [escapeHtml(e.repository), ' ', ' ', ' ', `error: ${escapeHtml(e.error)}`]),
    ]);
    if (result.stoppedEarly) {
      core.warning(result.stoppedEarly);
      core.summary.addRaw(escapeHtml(result.stoppedEarly), true);
    }
    if (!result.ok || result.errors.length > 0) {
      const first = result.errors[0];
      throw new UserError(`${result.errors.length} staging repositories could not be collected${first ? `, first ${first.repository}: ${first.error}` : ''}; a re-run is safe`);
    }
  },
});
