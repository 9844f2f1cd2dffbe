// Typed errors of the OCI client. Messages are one line, name the registry, repository and digest
// involved, say what to do, and never carry a credential.

export interface OciErrorContext {
  /** Registry host[:port], or `oci-layout:DIR` for the on-disk store. */
  registry?: string;
  repository?: string;
  /** Digest or tag the operation was about. */
  reference?: string;
  /** HTTP status, when the error came from a response. */
  status?: number;
  /** The registry's OCI error code (BLOB_UNKNOWN, DENIED, ...), when it sent one. */
  code?: string;
}

export class OciError extends Error {
  readonly registry?: string;
  readonly repository?: string;
  readonly reference?: string;
  readonly status?: number;
  readonly code?: string;

  constructor(message: string, context: OciErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.registry = context.registry;
    this.repository = context.repository;
    this.reference = context.reference;
    this.status = context.status;
    this.code = context.code;
  }
}

/** A name, tag, digest or location that does not follow the grammar. */
export class InvalidReferenceError extends OciError {}

/** The manifest, blob, tag or repository does not exist (404, NAME_UNKNOWN, BLOB_UNKNOWN, MANIFEST_UNKNOWN). */
export class NotFoundError extends OciError {}

/** Credentials are missing or wrong (401 after authenticating). */
export class UnauthorizedError extends OciError {}

/** Credentials are valid but lack the right (403, DENIED, insufficient_scope after one re-login). */
export class DeniedError extends OciError {}

/** The registry does not support the operation (DELETE disabled, no catalog, ...). */
export class UnsupportedError extends OciError {}

/** Bytes received do not match the digest or size they were asked for. */
export class DigestMismatchError extends OciError {}

/** A body is larger than the cap for its kind (manifest, token, error, tag page). */
export class TooLargeError extends OciError {}

/** The registry asked for something unsafe: http downgrade, credentials to another origin, a bad realm. */
export class InsecureError extends OciError {}

/** The registry answered something the protocol does not allow. */
export class ProtocolError extends OciError {}

/**
 * The registry cannot be reached at all: unknown host, nothing listening, or TLS failing. Not retried (retries
 * would only delay the same answer); the message names the host and what to check.
 */
export class UnreachableError extends OciError {}

/** A request kept failing after the allowed retries (network errors, 408, 429, 5xx). */
export class RetryExhaustedError extends OciError {}

/** Says where, for messages: `registry/repository@reference`. */
export function where(context: OciErrorContext): string {
  const repo = [context.registry, context.repository].filter(Boolean).join('/');
  return context.reference ? `${repo}${context.reference.startsWith('sha256:') ? '@' : ':'}${context.reference}` : repo;
}
