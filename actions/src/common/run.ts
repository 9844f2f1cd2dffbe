// The run wrapper every action entry goes through: masks secrets first, runs the step, writes the summary,
// and fails with one line that tells a user error (what to fix) from a bug (what to report).
import * as core from '@actions/core';
import { progressLog } from '@oci-channel/pipeline';
import { isUserError, oneLine } from './errors.ts';
import { maskSecretInputs } from './secrets.ts';
import { escapeHtml } from './summary.ts';

export interface ActionSpec {
  /** The action's name, for messages and the summary. */
  name: string;
  /** Secret inputs, masked before anything else (with the username input their Basic-auth form uses). */
  secrets: Array<{ input: string; usernameInput?: string }>;
  run: () => Promise<void>;
}

export async function runAction(spec: ActionSpec): Promise<void> {
  maskSecretInputs(spec.secrets);
  try {
    await spec.run();
  } catch (error) {
    progress.stop();
    const message = oneLine(error instanceof Error ? error.message : String(error)) || 'failed without a message';
    const userError = isUserError(error);
    const line = userError
      ? `${spec.name}: ${message}`
      : `${spec.name}: internal error: ${message} (this is a bug in oci-channel; please report it with this log)`;
    if (!userError && error instanceof Error && error.stack) core.debug(error.stack);
    core.summary.addHeading(`${escapeHtml(spec.name)} failed`, 3).addRaw(escapeHtml(line), true);
    core.setFailed(line);
  }
  progress.stop();
  await writeSummary();
}

async function writeSummary(): Promise<void> {
  // Locally and in tests there may be no summary file; that is not a failure of the step.
  if (!process.env.GITHUB_STEP_SUMMARY) {
    core.summary.emptyBuffer();
    return;
  }
  try {
    await core.summary.write();
  } catch (error) {
    core.warning(`could not write the job summary: ${oneLine((error as Error).message)}`);
  }
}

/**
 * Pipeline progress in the job log: phase messages as they come, byte counts at most every 10 s with percent, rate
 * and ETA, and a line every 10 s while a phase is silent (a log must never look stuck).
 */
const progress = progressLog((line) => core.info(line));
export const progressLogger = progress.progress;
