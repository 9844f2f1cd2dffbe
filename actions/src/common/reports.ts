// What upload-to-staging, reindex, label and gc-staging report: their outputs, a job summary table, and a one-line
// failure (thrown) when the step did not do all it was asked. validate and promote: promotion.ts; mirror:
// mirror-report.ts.
import * as core from '@actions/core';
import type { GcResult, LabelResult, ReindexResult, UploadResult, VisibilityOptions } from '@oci-channel/pipeline';
import { UserError } from './errors.ts';
import { addArtifactTable, addPrivatePackages, escapeHtml } from './summary.ts';

const baseName = (file: string) => file.split(/[\\/]/).pop() ?? file;

export function reportUpload(result: UploadResult, files: number): void {
  core.setOutput('result', JSON.stringify(result));
  core.setOutput('artifacts', JSON.stringify(Object.fromEntries(result.artifacts.map((a) => [`${a.subdir}/${a.filename}`, a.sha256]))));
  addArtifactTable('Uploaded to staging', [
    ...result.artifacts.map((a) => ({ artifact: `${a.subdir}/${a.filename}`, status: a.status, digest: a.manifestDigest, size: a.size })),
    ...result.errors.map((e) => ({ artifact: baseName(e.file), status: 'refused', failedChecks: e.error })),
  ]);
  if (!result.ok || result.errors.length > 0) {
    // Nothing is dispatched: promoting part of a build would publish an inconsistent set.
    const first = result.errors[0];
    throw new UserError(`${result.errors.length} of ${files} file(s) refused${first ? `, first ${baseName(first.file)}: ${first.error}` : ''}; nothing was dispatched`);
  }
}

export function reportReindex(result: ReindexResult, visibility: VisibilityOptions): void {
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
  const failing = addPrivatePackages(result.privatePackages, visibility.visibilityCheck);
  if (result.errors?.length) throw new UserError('reindex did not complete for every subdir: see the log above; a re-run is safe');
  if (failing) throw new UserError(failing);
}

/** One label result per request (the inputs, or each request file). */
export function reportLabels(results: Array<LabelResult & { source: string }>): void {
  const all = results.flatMap((r) => r.artifacts);
  core.setOutput('result', JSON.stringify(results));
  core.setOutput('ok', String(results.every((r) => r.ok)));
  core.setOutput('changed', String(all.some((a) => a.status === 'changed')));
  addArtifactTable(
    'Labels',
    all.map((a) => ({
      artifact: `${a.subdir}/${a.filename}`,
      status: `${a.status}${a.recorded ? `: ${a.recorded.join(', ')}` : ''}${a.labels ? ` (now ${a.labels.join(', ')})` : ''}`,
      ...(a.reason ? { failedChecks: a.reason } : {}),
    })),
  );
  const refused = all.filter((a) => a.status === 'refused');
  if (refused.length > 0) throw new UserError(`${refused.length} of ${all.length} artifact(s) refused, first ${refused[0]!.reason}`);
}

export function reportGc(result: GcResult, dryRun: boolean): void {
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
}
