// Human output: progress on stderr (live bars on a terminal, lines in a log), a summary table at the end.
// Machine output: one JSON object on stdout.
import cliProgress from 'cli-progress';
import { formatBytes, progressLog, withoutSubject, type ProgressEvent, type ProgressLog } from '@oci-channel/pipeline';

export { formatBytes };

/** Whether live bars can be drawn: a terminal, and not CI (whose logs keep every redraw). */
export function isInteractive(stream: NodeJS.WritableStream & { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && !env.CI && !env.GITHUB_ACTIONS && env.TERM !== 'dumb';
}

/**
 * Progress of a command: on a terminal, a live bar per transfer (bytes, rate, ETA) with phase messages above it;
 * elsewhere, lines at most every 10 s (see progressLog). Either way, a long silent phase gets a line every 10 s.
 */
export function progressPrinter(stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr, env: NodeJS.ProcessEnv = process.env): ProgressLog {
  if (!isInteractive(stream, env)) return progressLog((line) => stream.write(`${line}\n`));
  const bars = new cliProgress.MultiBar(
    {
      stream: stream as NodeJS.WriteStream,
      format: ' {bar} {percentage}% | {value} of {total} | {speed} | ETA {eta_formatted} | {label}',
      formatValue: (value: number, _options: unknown, type: string) => (type === 'value' || type === 'total' ? formatBytes(value) : String(value)),
      hideCursor: true,
      clearOnComplete: true,
      autopadding: true,
      fps: 5,
      etaBuffer: 40,
    },
    cliProgress.Presets.shades_classic,
  );
  const active = new Map<string, { bar: cliProgress.SingleBar; started: number; firstBytes: number }>();
  const lines = progressLog((line) => bars.log(`${line}\n`), { byteLines: false });
  return {
    progress(event: ProgressEvent): void {
      const key = event.artifact ?? event.step;
      const current = active.get(key);
      if (event.bytes === undefined || event.totalBytes === undefined || event.bytes >= event.totalBytes) {
        if (current) {
          bars.remove(current.bar);
          active.delete(key);
        }
        lines.progress(event);
        return;
      }
      lines.progress(event);
      if (!current) {
        const bar = bars.create(event.totalBytes, event.bytes, { label: `${key}: ${event.message}`, speed: '-' });
        active.set(key, { bar, started: Date.now(), firstBytes: event.bytes });
      } else {
        // The rate since this bar appeared (the first event arrives some bytes in).
        const rate = ((event.bytes - current.firstBytes) / Math.max(1, Date.now() - current.started)) * 1000;
        current.bar.update(event.bytes, { label: `${key}: ${event.message}`, speed: `${formatBytes(rate)}/s` });
      }
    },
    stop(): void {
      lines.stop();
      bars.stop();
    },
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
  return reason ? withoutSubject(reason, ...subjects) : '';
}

export function shortDigest(digest: string | undefined): string {
  if (!digest) return '-';
  return digest.replace(/^sha256:/, '').slice(0, 12);
}
