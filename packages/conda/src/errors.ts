// The one error type of this package: a conda artifact (or its manifest) that cannot be used, and why.

/** One line: which file, what is wrong with it, what to do. */
export class PackageError extends Error {
  /** The file (or manifest location) the error is about. */
  readonly file: string;
  /** What is wrong, without the file name or the advice. */
  readonly reason: string;

  constructor(file: string, reason: string, action = 'rebuild the package or upload the right file', options?: { cause?: unknown }) {
    super(oneLine(`${file}: ${reason}; ${action}`), options);
    this.name = 'PackageError';
    this.file = file;
    this.reason = oneLine(reason);
  }
}

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').slice(0, 2000);
}

/** The message of anything thrown, on one line. */
export function errorText(error: unknown): string {
  return oneLine(error instanceof Error ? error.message : String(error));
}
