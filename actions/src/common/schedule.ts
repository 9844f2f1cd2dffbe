// GitHub disables the scheduled workflows of a public repository after 60 days without activity, for the whole
// workflow file, silently: reindex would stop and staging would fill up. Scheduled runs of reindex and gc-staging
// look at the repository's last push and, from 45 days on, warn loudly (log and job summary) with what to do.
import * as core from '@actions/core';
import { createGithubClient } from '@oci-channel/pipeline';
import { oneLine } from './errors.ts';
import { escapeHtml } from './summary.ts';

const DAY = 86_400_000;
/** GitHub's limit, and when to start warning. */
export const SCHEDULE_INACTIVE_DAYS = 60;
export const WARN_AFTER_DAYS = 45;

/** Warns when this scheduled run's repository is close to having its schedules disabled; never fails the step. */
export async function warnBeforeSchedulesStop(token: string, now = Date.now()): Promise<void> {
  const repository = process.env.GITHUB_REPOSITORY ?? '';
  const [owner, repo] = repository.split('/');
  if (process.env.GITHUB_EVENT_NAME !== 'schedule' || !owner || !repo || !token) return;
  try {
    const octokit = await createGithubClient(token, process.env.GITHUB_API_URL || undefined);
    const { data } = await octokit.rest.repos.get({ owner, repo });
    const pushed = Date.parse(data.pushed_at ?? '');
    if (data.private || !Number.isFinite(pushed)) return;
    const idle = Math.floor((now - pushed) / DAY);
    if (idle < WARN_AFTER_DAYS) return;
    const left = Math.max(0, SCHEDULE_INACTIVE_DAYS - idle);
    const message =
      `the scheduled workflows of ${repository} (reindex, gc) stop ${left > 0 ? `in about ${left} days` : 'any time now'}: GitHub disables ` +
      `the schedules of a public repository after ${SCHEDULE_INACTIVE_DAYS} days without activity, and the last push was ${idle} days ago ` +
      `(${new Date(pushed).toISOString().slice(0, 10)}); push a commit to the default branch, or, once disabled, enable the workflow again in the Actions tab`;
    core.warning(message);
    core.summary.addHeading('Scheduled runs are about to stop', 3).addRaw(escapeHtml(message), true);
  } catch (error) {
    core.info(`could not check how long ${repository} has been inactive: ${oneLine((error as Error).message ?? String(error))}`);
  }
}
