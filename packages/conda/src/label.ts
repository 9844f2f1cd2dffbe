// Channel labels (`main`, `rc`, `dev`, `broken`, ...): the one grammar the CLI, the action inputs and the
// promotion request use. A label becomes a path component (`<channel>/label/<label>/<subdir>/...`, in URLs and
// in OCI repository names), so it must be one OCI path component: lowercase letters and digits, separated by
// single `.` or `_`, `__`, or runs of `-`.
import { PackageError } from './errors.ts';

/** A label that passed parseLabel. */
export type Label = string & { readonly __label: unique symbol };

/** Where packages go unless told otherwise: the channel itself, not `label/main`. */
export const MAIN_LABEL = 'main' as Label;
/** Builds marked broken: they leave every other label's index and appear only under `label/broken`. */
export const BROKEN_LABEL = 'broken' as Label;

export const MAX_LABEL_LENGTH = 64;
/** The grammar as a pattern string (JSON schema, action inputs). */
export const LABEL_PATTERN = '^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$';
const LABEL_RE = new RegExp(LABEL_PATTERN);

/** Why `value` is not a label, or undefined when it is one. */
export function labelProblem(value: string): string | undefined {
  if (value.length === 0 || value.length > MAX_LABEL_LENGTH) return `label ${quote(value)} must be 1 to ${MAX_LABEL_LENGTH} characters`;
  if (!LABEL_RE.test(value)) return `label ${quote(value)} may only hold lowercase letters and digits separated by single ".", "_" or "-" (e.g. rc, dev, gcc7, python_rc)`;
  return undefined;
}

export function isLabel(value: unknown): value is Label {
  return typeof value === 'string' && labelProblem(value) === undefined;
}

/** The label, checked; `what` names where it came from in the error (e.g. `--add`, `input label`). */
export function parseLabel(value: string, what = 'label'): Label {
  const problem = labelProblem(value);
  if (problem) throw new PackageError(what, problem, 'use a label such as main, rc or broken');
  return value as Label;
}

function quote(value: string): string {
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}..."` : text;
}
