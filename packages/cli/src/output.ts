// Human output: progress lines on stderr, a summary table at the end. Machine output: one JSON object on stdout.
import type { ProgressEvent } from '@oci-channel/pipeline';

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function progressPrinter(stream: NodeJS.WritableStream = process.stderr) {
  return (event: ProgressEvent): void => {
    const size =
      event.bytes !== undefined
        ? ` (${formatBytes(event.bytes)}${event.totalBytes !== undefined ? ` of ${formatBytes(event.totalBytes)}` : ''})`
        : event.totalBytes !== undefined && event.totalBytes >= 1 << 20
          ? ` (${formatBytes(event.totalBytes)})`
          : '';
    stream.write(`[${event.step}] ${event.artifact ? `${event.artifact}: ` : ''}${event.message}${size}\n`);
  };
}

/** A plain text table: a header row, columns padded to their widest cell. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n';
}

/** A reason shown next to the thing it is about: without a leading `THING: ` the row names already. */
export function reasonCell(reason: string | undefined, ...subjects: string[]): string {
  if (!reason) return '';
  let rest = reason;
  for (let changed = true; changed; ) {
    changed = false;
    for (const subject of subjects) {
      if (subject && rest.startsWith(`${subject}: `)) {
        rest = rest.slice(subject.length + 2);
        changed = true;
      }
    }
  }
  return rest;
}

export function shortDigest(digest: string | undefined): string {
  if (!digest) return '-';
  return digest.replace(/^sha256:/, '').slice(0, 12);
}
