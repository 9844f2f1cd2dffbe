// A browsable index.html per subdir for the static channel tree (like conda-index's, minus its template).
import type { IndexedPackage } from './records.ts';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function humanSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

function formatTime(ms: number | undefined): string {
  if (!ms) return '';
  return new Date(ms > 1e11 ? ms : ms * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' +0000');
}

export interface HtmlFile {
  name: string;
  /** Link target when it is not `name` itself (a label index links to the packages' directory). */
  href?: string;
  size: number;
  /** ms since the epoch. */
  modified?: number;
  sha256?: string;
  md5?: string;
}

/**
 * index.html listing the subdir's index files then its packages (already in filename order); package links are
 * relative to `packageBase` (default: this directory).
 */
export function subdirIndexHtml(title: string, indexFiles: HtmlFile[], packages: Iterable<IndexedPackage>, packageBase = ''): string {
  const rows: string[] = [];
  const row = (f: HtmlFile) =>
    `    <tr><td><a href="${escapeHtml(f.href ?? encodeURI(f.name))}">${escapeHtml(f.name)}</a></td><td class="s">${humanSize(f.size)}</td>` +
    `<td>${formatTime(f.modified)}</td><td>${escapeHtml(f.sha256 ?? '')}</td><td>${escapeHtml(f.md5 ?? '')}</td></tr>`;
  for (const f of indexFiles) rows.push(row(f));
  for (const p of packages) {
    const r = p.record;
    rows.push(row({ name: p.filename, href: `${packageBase}${encodeURI(p.filename)}`, size: r.size, modified: r.timestamp, sha256: r.sha256, md5: r.md5 }));
  }
  return `<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  <title>${escapeHtml(title)}</title>
  <style>
    body { background-color: #F5F5F5; font-family: sans-serif; }
    th, td { font: 100% monospace; text-align: left; padding-right: 20px; }
    td.s, th.s { text-align: right; }
    table { background-color: white; border-top: 1px solid #646464; border-bottom: 1px solid #646464; }
  </style>
</head>
<body>
  <h2>${escapeHtml(title)}</h2>
  <table>
    <tr><th>Filename</th><th class="s">Size</th><th>Last Modified</th><th>SHA256</th><th>MD5</th></tr>
${rows.join('\n')}
  </table>
</body>
</html>
`;
}
