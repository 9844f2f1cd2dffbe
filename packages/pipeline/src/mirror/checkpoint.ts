// Checkpoints of one subdir in a mirror run. The records compared since the last checkpoint (upstream's record
// and the package's own) are folded into the channel's patch instructions first, and only then are their files
// recorded in the promotion log: reindex never indexes a mirrored file before the instructions that give it
// upstream's record are stored. A checkpoint comes every `everyFiles` compared files or `everyMs`, and at the end
// of the subdir; they run one after the other while the transfers go on. A run killed between two checkpoints
// leaves files in the destination but not logged: the next run compares them again and logs them.
import type { Store } from '@oci-channel/oci';
import { patchedRecordCount, upstreamPatch, type MirroredRecord, type PatchInstructions, type UpstreamPatch } from '@oci-channel/conda';
import { errorLine } from '../core/open.ts';
import { updateChannelPatchInstructions } from '../index/channel-patches.ts';
import type { MirrorPatchReport } from '../types.ts';

export interface CheckpointOptions<T> {
  store: Store;
  subdir: string;
  /** Store the instructions (production, patches on, not a dry run); otherwise they are only reported. */
  write: boolean;
  /** With applyRemovals: files to put on the remove list, and whether upstream lists a file (taken off it). */
  removals?: { remove: string[]; listed: (filename: string) => boolean };
  everyFiles: number;
  everyMs: number;
  report: (message: string) => void;
  /** Records files in the promotion log; `blocked`: why they must not be (their instructions are not stored). */
  log: (items: T[], blocked?: string) => Promise<void>;
  /** A problem of the whole subdir, one line. */
  error: (line: string) => void;
}

export class SubdirCheckpoints<T> {
  readonly #o: CheckpointOptions<T>;
  #pending: MirroredRecord[] = [];
  #toLog: T[] = [];
  #last = Date.now();
  #chain: Promise<void> = Promise.resolve();
  /** What this run read or wrote at `latest` last (not read again while `latest` stays there). */
  #known: { digest: string; instructions: PatchInstructions } | undefined;
  /** Not written: the instructions the files compared so far need. */
  #reported: PatchInstructions | undefined;
  #patched = 0;
  #changed = 0;
  #unrepresentable: string[] = [];
  #failed = false;

  constructor(options: CheckpointOptions<T>) {
    this.#o = options;
  }

  /** Records compared and files to log once they are covered; a checkpoint starts when one is due. */
  add(records: MirroredRecord[], toLog: T[]): void {
    this.#pending.push(...records);
    this.#toLog.push(...toLog);
    if (this.#pending.length >= this.#o.everyFiles || Date.now() - this.#last >= this.#o.everyMs) this.#next(false);
  }

  /** The last checkpoint of the subdir; what happened to its patches (undefined: nothing to patch). */
  async finish(): Promise<MirrorPatchReport | undefined> {
    this.#next(true);
    await this.#chain;
    const { subdir, write } = this.#o;
    const status = !write ? 'not-written' : this.#failed ? 'failed' : this.#changed > 0 ? 'written' : 'unchanged';
    if (this.#patched === 0 && this.#changed === 0 && this.#unrepresentable.length === 0 && !this.#failed) return undefined;
    return {
      subdir,
      status,
      patched: this.#patched,
      changed: this.#changed,
      ...(write && this.#known ? { records: patchedRecordCount(this.#known.instructions), digest: this.#known.digest } : {}),
      ...(!write && this.#reported ? { instructions: this.#reported } : {}),
      unrepresentable: this.#unrepresentable.sort(),
    };
  }

  #next(final: boolean): void {
    this.#chain = this.#chain
      .then(() => this.#checkpoint(final))
      .catch((error: unknown) => {
        this.#failed = true;
        this.#o.error(`destination ${this.#o.store.display}: a checkpoint of ${this.#o.subdir} failed (${errorLine(error)}); run mirror again`);
      });
  }

  async #checkpoint(final: boolean): Promise<void> {
    const records = this.#pending;
    const toLog = this.#toLog;
    this.#pending = [];
    this.#toLog = [];
    this.#last = Date.now();
    const { store, subdir, removals } = this.#o;
    const fold = (stored: PatchInstructions | undefined) =>
      upstreamPatch(subdir, records, { ...(stored ? { stored } : {}), ...(removals ? { remove: removals.remove, relisted: removals.listed } : {}) });
    const count = (patch: UpstreamPatch) => {
      this.#patched += patch.patched.length;
      this.#unrepresentable.push(...patch.unrepresentable);
    };
    // Removals need one look at the stored list, at the end; otherwise nothing compared, nothing to fold.
    if (records.length === 0 && !(final && removals)) return this.#o.log(toLog);

    if (!this.#o.write) {
      const patch = fold(this.#reported);
      count(patch);
      this.#reported = patch.instructions;
      return this.#o.log(toLog);
    }
    let last: UpstreamPatch | undefined;
    let blocked: string | undefined;
    try {
      const result = await updateChannelPatchInstructions(store, subdir, (stored) => (last = fold(stored)).instructions, this.#known ? { known: this.#known } : {});
      if (result.digest && result.instructions) this.#known = { digest: result.digest, instructions: result.instructions };
      if (last) count(last);
      if (result.written && last) this.#changed += last.changed;
      const records = result.instructions ? patchedRecordCount(result.instructions) : 0;
      this.#o.report(`${subdir}: patch instructions ${result.written ? 'updated' : 'unchanged'}, ${records} record(s) patched`);
    } catch (error) {
      this.#failed = true;
      blocked = `its patch instructions could not be stored (${errorLine(error)}); run mirror again`;
      this.#o.error(`destination ${store.display}: cannot update ${subdir}/patch_instructions.json (${errorLine(error)}); the files it covers are not logged; run mirror again`);
    }
    await this.#o.log(toLog, blocked);
  }
}
