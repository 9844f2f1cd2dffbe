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

/**
 * The message of anything thrown, as a clause to follow a colon: one line, sentence breaks of a library's message
 * turned into semicolons, no final period (so `what: cause; advice` reads as one sentence).
 */
export function errorText(error: unknown): string {
  const text = oneLine(error instanceof Error ? error.message : String(error)).trim();
  return text
    .replace(/\.\s+(?=[A-Za-z])/g, '; ')
    .replace(/; ([A-Z])(?=[a-z])/g, (_, c: string) => `; ${c.toLowerCase()}`)
    .replace(/[.\s]+$/, '');
}
