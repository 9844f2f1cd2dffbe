// What the mirror action reports: small outputs (the whole result goes to a file: a channel has millions of
// files), a job summary with the counts and every refused or failed file, and a one-line failure.
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as core from '@actions/core';
import { patchLine, type MirrorResult } from '@oci-channel/pipeline';
import { UserError } from './errors.ts';
import { addArtifactTable, escapeHtml } from './summary.ts';

export async function reportMirror(result: MirrorResult, dryRun: boolean): Promise<void> {
  const file = path.join(process.env.RUNNER_TEMP || os.tmpdir(), `oci-channel-mirror-${process.pid}.json`);
  await writeFile(file, JSON.stringify(result));
  core.setOutput('result-file', file);
  core.setOutput('summary', JSON.stringify(result.summary));
  core.setOutput('ok', String(result.ok));
  core.setOutput('mirrored', String(result.summary.mirrored));

  const s = result.summary;
  core.summary.addHeading(`Mirror${dryRun ? ' (dry run: nothing written)' : ''}`, 3);
  core.summary.addTable([
    ['Subdir', 'Index read', 'Selected'].map((data) => ({ data, header: true })),
    ...result.subdirs.map((d) => [escapeHtml(d.subdir), escapeHtml(d.format), String(d.selected)]),
  ]);
  core.summary.addRaw(`${s.mirrored} mirrored, ${s.alreadyThere} already there, ${s.refused} refused, ${s.failed} failed, ${s.removedUpstream} removed upstream.`, true);
  // Upstream's patched records, per subdir: how many differ from their packages and what the channel's
  // patch instructions now hold (the result file has every unrepresentable difference).
  if (result.patches.length) core.summary.addList(result.patches.map((p) => escapeHtml(patchLine(p))));
  const problems = result.artifacts.filter((a) => a.status === 'refused' || a.status === 'failed' || a.status === 'would-mirror');
  if (problems.length) addArtifactTable('Files not mirrored', problems.map((a) => ({ artifact: `${a.subdir}/${a.filename}`, status: a.status, failedChecks: a.reason ?? '', size: a.size })));
  for (const e of result.errors) core.summary.addRaw(`error: ${escapeHtml(e)}`, true);
  if (!result.ok) {
    const first = result.errors[0] ?? problems.find((a) => a.reason)?.reason ?? 'see the summary';
    throw new UserError(`${s.refused} refused, ${s.failed} failed, ${result.errors.length} subdir error(s); first: ${first}; a re-run is safe and sends only what is missing`);
  }
}
