// reindex: rebuilds repodata for the channel's subdirs from the promotion log (or a full listing), keeping
// its record cache between runs with the Actions cache, and optionally writes a static tree for Pages.
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import * as cache from '@actions/cache';
import * as core from '@actions/core';
import { reindex } from '@oci-channel/pipeline';
import { UserError, oneLine } from './common/errors.ts';
import { booleanInput, listInput, locationInput, OWNER_PATTERN, storeOptionsFrom, stringInput, visibilityOptions } from './common/inputs.ts';
import { progressLogger, runAction } from './common/run.ts';
import { warnBeforeSchedulesStop } from './common/schedule.ts';
import { addPrivatePackages, escapeHtml } from './common/summary.ts';

const SUBDIR_RE = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

await runAction({
  name: 'reindex',
  secrets: [{ input: 'password', usernameInput: 'username' }, { input: 'token', usernameInput: 'username' }],
  async run() {
    await warnBeforeSchedulesStop(core.getInput('token'));
    const channel = locationInput('channel');
    const storeOptions = storeOptionsFrom('username', 'password', channel);
    const subdirs = listInput('subdirs');
    for (const subdir of subdirs) {
      if (!SUBDIR_RE.test(subdir)) throw new UserError(`input subdirs has ${JSON.stringify(subdir.slice(0, 50))}: expected conda subdirs like linux-64, noarch`);
    }
    const full = booleanInput('full', false);
    const out = stringInput('out');
    const useCache = booleanInput('cache', true);
    const patchGenerator = stringInput('patch-generator');
    const patchPackage = stringInput('patch-package', { maxLength: 64, pattern: /^[a-z0-9_][a-z0-9._-]*$/, hint: 'a conda package name, e.g. conda-forge-repodata-patches' });
    const patchInstructions = stringInput('patch-instructions');
    if (patchGenerator && patchPackage) throw new UserError('inputs patch-generator and patch-package name two patches packages: give one');
    const visibility = visibilityOptions(channel, core.getInput('token'), {
      mode: stringInput('visibility-check', { pattern: /^(fail|warn|off)$/, hint: 'expected fail, warn or off' }),
      owner: stringInput('github-owner', { pattern: OWNER_PATTERN, hint: 'a user or organisation login' }),
      ownerType: stringInput('github-owner-type', { pattern: /^(org|user)$/, hint: 'expected org or user' }),
    });
    const cacheDir = path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'oci-channel-reindex-cache');
    // One cache line per channel and subdir selection; a new key each run, restored by prefix.
    const scope = createHash('sha256').update(`${channel}\n${[...subdirs].sort().join(',')}`).digest('hex').slice(0, 16);
    const keyPrefix = `oci-channel-reindex-v1-${scope}-`;
    const cacheAvailable = useCache && cache.isFeatureAvailable();
    if (useCache && !cacheAvailable) core.info('the Actions cache service is not available here: indexing without a restored cache');

    if (cacheAvailable) {
      await core.group('Restore the record cache', async () => {
        try {
          const hit = await cache.restoreCache([cacheDir], `${keyPrefix}${runKey()}`, [keyPrefix]);
          core.info(hit ? `restored ${hit}` : 'no cache yet: every record is read from the registry');
        } catch (error) {
          core.warning(`could not restore the record cache (${oneLine((error as Error).message)}); indexing without it`);
        }
      });
    }

    const result = await core.group(`Reindex ${subdirs.length ? subdirs.join(', ') : 'every subdir'}${full ? ' (full)' : ''}`, () =>
      reindex({
        channel,
        storeOptions,
        subdirs: subdirs.length ? subdirs : undefined,
        full,
        out: out ? path.resolve(out) : undefined,
        cacheDir,
        progress: progressLogger,
        ...(patchGenerator ? { patchGenerator } : {}),
        ...(patchPackage ? { patchPackage } : {}),
        ...(patchInstructions ? { patchInstructions: path.resolve(patchInstructions) } : {}),
        ...visibility,
      }),
    );
    core.setOutput('result', JSON.stringify(result));
    core.setOutput('ok', String(result.ok));
    core.setOutput('changed', String(result.subdirs.some((s) => s.tags.length > 0 || (s.labels ?? []).some((l) => l.pushed))));

    core.summary.addHeading('Reindex', 3);
    core.summary.addTable([
      ['Subdir', 'Packages', 'Added', 'Removed', 'Repodata digest', 'Tags', 'Labels'].map((data) => ({ data, header: true })),
      ...result.subdirs.map((s) => [
        escapeHtml(s.subdir),
        String(s.packages),
        String(s.added),
        String(s.removed ?? 0),
        `<code>${escapeHtml(s.repodataDigest)}</code>`,
        escapeHtml(s.tags.join(', ') || 'unchanged'),
        escapeHtml((s.labels ?? []).map((l) => `${l.label} (${l.packages}${l.pushed ? ', pushed' : ''})`).join(', ') || '-'),
      ]),
    ]);

    if (cacheAvailable) {
      await core.group('Save the record cache', async () => {
        try {
          await cache.saveCache([cacheDir], `${keyPrefix}${runKey()}`);
        } catch (error) {
          core.warning(`could not save the record cache (${oneLine((error as Error).message)}); the next run reads more from the registry`);
        }
      });
    }
    const failing = addPrivatePackages(result.privatePackages, visibility.visibilityCheck);
    if (result.errors?.length) throw new UserError('reindex did not complete for every subdir: see the log above; a re-run is safe');
    if (failing) throw new UserError(failing);
  },
});

function runKey(): string {
  return `${process.env.GITHUB_RUN_ID ?? Date.now()}-${process.env.GITHUB_RUN_ATTEMPT ?? '1'}`;
}
