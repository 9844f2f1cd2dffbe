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

/** Error classes of the libraries whose messages are already one line addressed to the user. */
const USER_FACING_NAMES = new Set(['UserError', 'PackageError', 'PayloadError', 'GithubApiError', 'UploadConflictError']);

export function isUserError(error: unknown): boolean {
  if (error instanceof UserError || error instanceof OciError || error instanceof PayloadError || error instanceof GithubApiError) {
    return true;
  }
  return error instanceof Error && (USER_FACING_NAMES.has(error.name) || USER_FACING_NAMES.has(error.constructor.name));
}

/** First line of a message, trimmed, so a failure is one line in the annotation. */
export function oneLine(text: string, max = 1000): string {
  const line = text.split(/\r?\n/).map((l) => l.trim()).find(Boolean) ?? '';
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}
