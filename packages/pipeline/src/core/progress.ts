// Progress events: a failing or slow listener must never break a step.
import type { Progress, ProgressEvent } from '../types.ts';

export function reporter(progress: Progress | undefined, step: ProgressEvent['step']) {
  return (message: string, extra: Omit<ProgressEvent, 'step' | 'message'> = {}): void => {
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
