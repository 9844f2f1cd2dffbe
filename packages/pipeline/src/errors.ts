// The errors the pipeline throws on purpose. Each message is one line for a person: what went wrong, with which
// input, and what to do. Callers tell these from bugs with one `instanceof PipelineError` (the OCI client's
// OciError and conda's PackageError are the other two families of expected failures).

/** Base of every error the pipeline throws on purpose. */
export class PipelineError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * The options a step was called with are wrong or unsafe (two channels that overlap, an owners directory that does
 * not exist, an unknown subdir, a production channel given to gc, an empty channel given to reindex). Thrown
 * before anything is written; the CLI exits 2 for it, like for a usage error.
 */
export class OptionsError extends PipelineError {}

/** An artifact reference that is not `SUBDIR/FILENAME[@sha256:HEX]`. */
export class ArtifactRefError extends OptionsError {}

/** A different package is already at the tag an upload would write; nothing was overwritten. */
export class UploadConflictError extends PipelineError {}

/** The production tag was taken while promote copied the blobs: it merges instead of replacing. */
export class TagTakenError extends PipelineError {}

/** A promotion payload that is not what an upload sends. */
export class PayloadError extends PipelineError {}

/** A GitHub REST call failed; the message names the call and what to do, never the token. */
export class GithubApiError extends PipelineError {
  readonly status?: number;
  constructor(message: string, status?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
  }
}
