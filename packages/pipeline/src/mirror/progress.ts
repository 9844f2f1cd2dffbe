// The mirror's status line: packages and bytes done out of the total, the transfer rate and an ETA, at most
// once a second (and once at the end), e.g.
//   120/5000 packages (95 already there, 1 refused), 1.2 GiB of 40 GiB, 35 MiB/s, ETA 19 min
// Bytes count what is fetched from upstream; files found already there leave the byte total.
import { formatBytes, formatDuration } from '../core/progress.ts';

export class MirrorProgress {
  total = 0;
  totalBytes = 0;
  mirrored = 0;
  alreadyThere = 0;
  refused = 0;
  failed = 0;
  bytes = 0;
  #started: number | undefined;
  #last = -Infinity;
  readonly #emit: (line: string) => void;
  readonly #now: () => number;
  readonly #everyMs: number;

  constructor(emit: (line: string) => void, options: { now?: () => number; everyMs?: number } = {}) {
    this.#emit = emit;
    this.#now = options.now ?? Date.now;
    this.#everyMs = options.everyMs ?? 1000;
  }

  /** Files selected in one more subdir. */
  plan(files: number, bytes: number): void {
    this.total += files;
    this.totalBytes += bytes;
  }

  /** A file the destination holds already: done, and its bytes need not come. */
  already(size: number): void {
    this.alreadyThere++;
    this.totalBytes -= size;
    this.tick();
  }

  /** A file that ends without being transferred (refused or failed) after `fetched` of its bytes came. */
  dropped(status: 'refused' | 'failed', size: number, fetched: number): void {
    this[status]++;
    this.totalBytes -= size - fetched;
    this.tick();
  }

  done(): void {
    this.mirrored++;
    this.tick();
  }

  /** `delta` more bytes fetched. */
  fetched(delta: number): void {
    this.#started ??= this.#now();
    this.bytes += delta;
    this.tick();
  }

  line(): string {
    const finished = this.mirrored + this.alreadyThere + this.refused + this.failed;
    const notes = [
      this.alreadyThere ? `${this.alreadyThere} already there` : '',
      this.refused ? `${this.refused} refused` : '',
      this.failed ? `${this.failed} failed` : '',
    ].filter(Boolean);
    let text = `${finished}/${this.total} packages${notes.length ? ` (${notes.join(', ')})` : ''}, ${formatBytes(this.bytes)} of ${formatBytes(Math.max(this.totalBytes, this.bytes))}`;
    const seconds = this.#started === undefined ? 0 : (this.#now() - this.#started) / 1000;
    if (seconds > 0 && this.bytes > 0) {
      const rate = this.bytes / seconds;
      text += `, ${formatBytes(rate)}/s`;
      const left = this.totalBytes - this.bytes;
      if (left > 0) text += `, ETA ${formatDuration((left / rate) * 1000)}`;
    }
    return text;
  }

  tick(force = false): void {
    const now = this.#now();
    if (!force && now - this.#last < this.#everyMs) return;
    this.#last = now;
    this.#emit(this.line());
  }
}
