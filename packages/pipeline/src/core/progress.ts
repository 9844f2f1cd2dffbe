// Progress events: a failing or slow listener must never break a step.
import type { Progress, ProgressEvent } from '../types.ts';

/** Reports one step's progress: a phase message, or bytes of a transfer with `extra`. */
export type Reporter = (message: string, extra?: Omit<ProgressEvent, 'step' | 'message'>) => void;

export function reporter(progress: Progress | undefined, step: ProgressEvent['step']): Reporter {
  return (message, extra = {}) => {
    if (!progress) return;
    try {
      progress({ step, message, ...extra });
    } catch {
      // a listener's bug is not the step's failure
    }
  };
}

/** Calls `report` with the running byte count at most every `everyBytes` (and at the end via `done`). */
export function byteTicker(report: (bytes: number) => void, everyBytes = 8 << 20) {
  let last = 0;
  return {
    tick(bytes: number): void {
      if (bytes - last >= everyBytes) {
        last = bytes;
        report(bytes);
      }
    },
  };
}

/** Bytes for people: B, KiB, MiB, GiB, TiB. */
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

/** Seconds for people: 45 s, 3 min 20 s, 1 h 5 min. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  return `${Math.floor(s / 3600)} h${Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)} min` : ''}`;
}

interface Transfer {
  label: string;
  message: string;
  bytes: number;
  /** Bytes and time when this renderer first heard of it: the rate is measured from there. */
  firstBytes: number;
  total?: number;
  started: number;
}

export interface ProgressLog {
  progress: Progress;
  /** Stops the heartbeat (call when the step is over). */
  stop(): void;
}

/**
 * Progress as plain lines, for logs (CI, a pipe): each phase message as it comes; byte counts at most one line
 * every `intervalMs` with percent, rate and ETA; and when nothing was printed for `intervalMs` while work goes on,
 * a line saying what is still running. So a log is never silent for longer than `intervalMs`, nor flooded.
 */
export function progressLog(
  write: (line: string) => void,
  options: { intervalMs?: number; now?: () => number; /** false where live bars show the bytes (a terminal). */ byteLines?: boolean } = {},
): ProgressLog {
  const byteLines = options.byteLines ?? true;
  const interval = options.intervalMs ?? 10_000;
  const now = options.now ?? Date.now;
  const transfers = new Map<string, Transfer>();
  let lastLine = now();
  let lastTransferLine = now();
  let latest: { event: ProgressEvent; at: number } | undefined;
  const emit = (line: string) => {
    lastLine = now();
    write(line);
  };
  const prefix = (event: ProgressEvent) => `[${event.step}] ${event.artifact ? `${event.artifact}: ` : ''}`;
  const transferLine = (step: string): string => {
    const active = [...transfers.values()];
    const bytes = active.reduce((n, t) => n + t.bytes, 0);
    const moved = active.reduce((n, t) => n + t.bytes - t.firstBytes, 0);
    const known = active.every((t) => t.total !== undefined);
    const total = known ? active.reduce((n, t) => n + (t.total ?? 0), 0) : undefined;
    const started = Math.min(...active.map((t) => t.started));
    const elapsed = Math.max(1, now() - started);
    const rate = (moved / elapsed) * 1000;
    const what = active.length === 1 ? `${active[0]!.label}: ${active[0]!.message}` : `${active.length} transfers`;
    const percent = total ? ` ${Math.floor((bytes / total) * 100)}%` : '';
    const size = total ? `${formatBytes(bytes)} of ${formatBytes(total)}` : formatBytes(bytes);
    const eta = total && rate > 0 ? `, ETA ${formatDuration(((total - bytes) / rate) * 1000)}` : '';
    return `[${step}] ${what}${percent} (${size}, ${formatBytes(rate)}/s${eta})`;
  };
  const timer = setInterval(() => {
    if (!latest || now() - lastLine < interval) return;
    if (transfers.size > 0) {
      if (byteLines) {
        lastTransferLine = now();
        emit(transferLine(latest.event.step));
      }
    } else emit(`${prefix(latest.event)}still ${latest.event.message} (${formatDuration(now() - latest.at)} so far)`);
  }, Math.max(50, Math.min(1000, interval / 4)));
  timer.unref();
  return {
    progress(event: ProgressEvent): void {
      latest = { event, at: now() };
      const key = event.artifact ?? event.step;
      if (event.bytes === undefined) {
        transfers.delete(key);
        emit(`${prefix(event)}${event.message}${event.totalBytes !== undefined && event.totalBytes >= 1 << 20 ? ` (${formatBytes(event.totalBytes)})` : ''}`);
        return;
      }
      const finished = event.totalBytes !== undefined && event.bytes >= event.totalBytes;
      const current = transfers.get(key);
      if (!current || current.message !== event.message) {
        transfers.set(key, { label: key, message: event.message, bytes: event.bytes, firstBytes: event.bytes, started: now(), ...(event.totalBytes !== undefined ? { total: event.totalBytes } : {}) });
        // The first line about it comes after one interval (or from the heartbeat): a rate needs some time.
        if (transfers.size === 1) lastTransferLine = now();
      } else {
        current.bytes = event.bytes;
      }
      if (finished) {
        transfers.delete(key);
        emit(`${prefix(event)}${event.message}${current?.message === event.message ? ' done' : ''} (${formatBytes(event.bytes)})`);
        return;
      }
      if (byteLines && now() - lastTransferLine >= interval) {
        lastTransferLine = now();
        emit(transferLine(event.step));
      }
    },
    stop(): void {
      clearInterval(timer);
    },
  };
}
