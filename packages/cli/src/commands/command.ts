// What every command is: a name, its help text, and a run function that returns the exit status.
import type { ProgressEvent } from '@oci-channel/pipeline';

export interface CommandContext {
  /** Writes to stdout (secrets scrubbed). */
  out(text: string): void;
  /** Writes to stderr (secrets scrubbed). */
  err(text: string): void;
  /** Progress of long steps (stderr). */
  progress(event: ProgressEvent): void;
  /** Prints `result` as one JSON object and returns the exit status for `ok`. */
  json(result: unknown, ok: boolean): number;
}

export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  help: string;
  run(args: string[], ctx: CommandContext): Promise<number>;
}
