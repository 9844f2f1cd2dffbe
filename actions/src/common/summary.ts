// The job summary: one table row per artifact, written on success and on failure.
import * as core from '@actions/core';
import { formatBytes, type PrivatePackage } from '@oci-channel/pipeline';

export interface SummaryRow {
  artifact: string;
  status: string;
  failedChecks?: string;
  digest?: string;
  size?: number;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '|': '&#124;' };
/**
 * core.summary inserts cell text as HTML; artifact names and registry messages are not trusted HTML.
 * An empty cell becomes a space: core.summary renders '' as an unclosed tag.
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'|]/g, (c) => ESCAPES[c]!) || ' ';
}

export function formatSize(bytes: number | undefined): string {
  return bytes === undefined ? '' : formatBytes(bytes);
}

const MAX_ROWS = 2000; // a step summary is capped at 1 MiB

/** Adds a heading and the artifact table to the summary buffer (written by the run wrapper). */
export function addArtifactTable(heading: string, rows: SummaryRow[], statusHeader = 'Status'): void {
  core.summary.addHeading(escapeHtml(heading), 3);
  if (rows.length === 0) {
    core.summary.addRaw('No artifacts.', true);
    return;
  }
  core.summary.addTable([
    [
      { data: 'Artifact', header: true },
      { data: statusHeader, header: true },
      { data: 'Failed checks', header: true },
      { data: 'Digest', header: true },
      { data: 'Size', header: true },
    ],
    ...rows.slice(0, MAX_ROWS).map((row) => [
      escapeHtml(row.artifact),
      escapeHtml(row.status),
      escapeHtml(row.failedChecks ?? ''),
      row.digest ? `<code>${escapeHtml(row.digest)}</code>` : ' ',
      escapeHtml(formatSize(row.size)),
    ]),
  ]);
  if (rows.length > MAX_ROWS) core.summary.addRaw(`... and ${rows.length - MAX_ROWS} more (see the result output).`, true);
}

/** `name: detail; name: detail` of the failed checks. */
export function failedChecks(checks: Array<{ name: string; ok: boolean; detail?: string }> | undefined): string {
  return (checks ?? [])
    .filter((c) => !c.ok)
    .map((c) => (c.detail ? `${c.name}: ${c.detail}` : c.name))
    .join('; ');
}

/**
 * Reports production packages anonymous clients cannot read, with their fix: warnings, and a summary section.
 * Returns the one-line failure when the check is set to fail, else undefined.
 */
export function addPrivatePackages(found: PrivatePackage[] | undefined, mode: string | undefined): string | undefined {
  if (!found?.length) return undefined;
  core.summary.addHeading('Production packages that are not public', 3);
  core.summary.addList(found.map((p) => escapeHtml(p.fix)));
  for (const p of found) core.warning(p.fix);
  if (mode !== 'fail') return undefined;
  return `${found.length} new production package(s) are not public, first: ${found[0]!.fix}`;
}
