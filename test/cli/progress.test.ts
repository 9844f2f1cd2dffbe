// Progress people can read: in a log, byte counts at most one line per interval with percent, rate and ETA, and a
// line when a phase stays silent for an interval; on a terminal, a live bar. The clock is simulated.
import { afterEach, beforeEach, expect, jest, test } from '@jest/globals';
import { progressLog } from '@oci-channel/pipeline';
import { progressPrinter } from '../../packages/cli/src/output.ts';

const MiB = 1 << 20;
beforeEach(() => {
  // Date.now and the timers move only when the test says so.
  jest.useFakeTimers({ now: 0 });
});
afterEach(() => {
  jest.useRealTimers();
});

/** Moves the simulated clock (and the renderer's timers) forward. */
function advance(ms: number): void {
  jest.advanceTimersByTime(ms);
}

test('a log gets one byte line per 10 s with percent, rate and ETA, phase lines as they come, and no silent gap over 10 s', () => {
  const lines: Array<{ at: number; line: string }> = [];
  const log = progressLog((line) => lines.push({ at: Date.now(), line }));
  try {
    log.progress({ step: 'promote', artifact: 'linux-64/big-1-0.conda', message: 'validating' });
    // 200 MiB at 4 MiB/s: an event every 250 ms.
    for (let bytes = 0; bytes < 200 * MiB; bytes += MiB) {
      log.progress({ step: 'promote', artifact: 'linux-64/big-1-0.conda', message: 'downloading', bytes, totalBytes: 200 * MiB });
      advance(250);
    }
    log.progress({ step: 'promote', artifact: 'linux-64/big-1-0.conda', message: 'downloading', bytes: 200 * MiB, totalBytes: 200 * MiB });
    // Then a phase with no events for 35 s (reading every member of the package).
    log.progress({ step: 'promote', artifact: 'linux-64/big-1-0.conda', message: 'checking every member of the package', totalBytes: 200 * MiB });
    advance(35_000);
    log.progress({ step: 'promote', artifact: 'linux-64/big-1-0.conda', message: 'passed' });
  } finally {
    log.stop();
  }
  const text = lines.map((l) => l.line);
  const byteLines = text.filter((l) => / \d+% \(/.test(l));
  // 50 s of transfer: about five lines, not 200.
  expect(byteLines.length).toBeGreaterThanOrEqual(4);
  expect(byteLines.length).toBeLessThanOrEqual(6);
  expect(byteLines[0]).toMatch(/^\[promote\] linux-64\/big-1-0\.conda: downloading \d+% \(\d+ MiB of 200 MiB, (3\.9|4\.0) MiB\/s, ETA \d+ s\)$/);
  expect(text).toContain('[promote] linux-64/big-1-0.conda: downloading done (200 MiB)');
  expect(text).toContain('[promote] linux-64/big-1-0.conda: checking every member of the package (200 MiB)');
  expect(text).toContain('[promote] linux-64/big-1-0.conda: still checking every member of the package (10 s so far)');
  expect(text).toContain('[promote] linux-64/big-1-0.conda: still checking every member of the package (30 s so far)');
  expect(text.at(-1)).toBe('[promote] linux-64/big-1-0.conda: passed');
  // Never silent for longer than the interval, never two byte lines within it.
  for (let i = 1; i < lines.length; i++) expect(lines[i]!.at - lines[i - 1]!.at).toBeLessThanOrEqual(10_000);
  const byteTimes = lines.filter((l) => / \d+% \(/.test(l.line)).map((l) => l.at);
  for (let i = 1; i < byteTimes.length; i++) expect(byteTimes[i]! - byteTimes[i - 1]!).toBeGreaterThanOrEqual(10_000);
});

test('on a terminal a live bar shows bytes, rate and ETA; phase messages print above it', () => {
  let written = '';
  const terminal = { isTTY: true, columns: 160, rows: 40, write: (chunk: string) => ((written += chunk), true), on: () => terminal, removeListener: () => terminal };
  const printer = progressPrinter(terminal as unknown as NodeJS.WritableStream & { isTTY: boolean }, {});
  try {
    printer.progress({ step: 'upload', artifact: 'linux-64/big-1-0.conda', message: 'uploading', totalBytes: 100 * MiB });
    for (let bytes = MiB; bytes < 100 * MiB; bytes += 8 * MiB) {
      advance(500);
      printer.progress({ step: 'upload', artifact: 'linux-64/big-1-0.conda', message: 'pushing', bytes, totalBytes: 100 * MiB });
    }
    advance(1000);
  } finally {
    printer.stop();
  }
  expect(written).toContain('[upload] linux-64/big-1-0.conda: uploading (100 MiB)');
  expect(written).toMatch(/\d+% \| \d+(\.\d)? MiB of 100 MiB \| \d+(\.\d)? MiB\/s \| ETA +\d+s \| linux-64\/big-1-0\.conda: pushing/);
  // In CI (or any log) the same events are lines, not bars.
  const lines: string[] = [];
  const log = progressPrinter({ isTTY: true, write: (l: string) => (lines.push(l), true) } as unknown as NodeJS.WritableStream & { isTTY: boolean }, { CI: 'true' });
  log.progress({ step: 'upload', artifact: 'x', message: 'uploading' });
  log.stop();
  expect(lines).toEqual(['[upload] x: uploading\n']);
});
