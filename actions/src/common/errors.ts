// Tells errors the user can fix (bad input, refused credentials, a bad package) from bugs in oci-channel.
import { OciError } from '@oci-channel/oci';
import { GithubApiError, PayloadError } from '@oci-channel/pipeline';

/** Something the workflow author or the channel admin can fix; its message says what to do. */
export class UserError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UserError';
  }
}

/**
 * Bugs are programming errors: TypeError, ReferenceError, RangeError, SyntaxError, EvalError, or a thrown
 * non-Error. Everything else was thrown on purpose with a message for the user (the libraries' typed errors,
 * plain Errors that say what to do, system errors naming a path) and is reported as it is.
 */
export function isUserError(error: unknown): boolean {
  if (error instanceof UserError || error instanceof OciError || error instanceof PayloadError || error instanceof GithubApiError) {
    return true;
  }
  if (!(error instanceof Error)) return false;
  return !(
    error instanceof TypeError ||
    error instanceof ReferenceError ||
    error instanceof RangeError ||
    error instanceof SyntaxError ||
    error instanceof EvalError
  );
}

/** First line of a message, trimmed, so a failure is one line in the annotation. */
export function oneLine(text: string, max = 1000): string {
  const line = text.split(/\r?\n/).map((l) => l.trim()).find(Boolean) ?? '';
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}
