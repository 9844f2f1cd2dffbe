// Tells errors the user can fix (bad input, refused credentials, a bad package) from bugs in oci-channel.
import { PackageError } from '@oci-channel/conda';
import { OciError } from '@oci-channel/oci';
import { PipelineError } from '@oci-channel/pipeline';

/** Something the workflow author or the channel admin can fix; its message says what to do. */
export class UserError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UserError';
  }
}

/**
 * Errors thrown on purpose carry a message for the user: this action's UserError, the pipeline's PipelineError,
 * the OCI client's OciError, conda's PackageError, and system errors naming a path. Anything else is a bug.
 */
export function isUserError(error: unknown): boolean {
  if (error instanceof UserError || error instanceof PipelineError || error instanceof OciError || error instanceof PackageError) return true;
  const errno = error as NodeJS.ErrnoException | undefined;
  return error instanceof Error && typeof errno?.code === 'string' && typeof errno.syscall === 'string';
}

/** First line of a message, trimmed, so a failure is one line in the annotation. */
export function oneLine(text: string, max = 1000): string {
  const line = text.split(/\r?\n/).map((l) => l.trim()).find(Boolean) ?? '';
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}
