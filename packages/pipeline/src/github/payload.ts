// The promotion request an upload sends through repository_dispatch and validate/promote accept back.
// Whoever can dispatch controls it, so it is checked strictly: exact keys, types, lengths and name patterns.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { PayloadError } from '../errors.ts';
import { LABEL_PATTERN, MAX_LABEL_LENGTH } from '@oci-channel/conda';
import type { ArtifactRef } from '../types.ts';
import { MAX_TOKEN_LENGTH } from '../identity/verify.ts';

/** What travels as `client_payload` (GitHub allows at most 10 top-level properties). */
export interface PromotionRequest {
  /**
   * Feedstock name (without -feedstock). Informational when `identity_token` is there: the token's repository is
   * the uploader then, whatever this says.
   */
  uploader: string;
  /** `"<subdir>/<filename>": "<sha256 hex>"`. */
  artifacts: Record<string, string>;
  /** `owner/repo` of the uploading workflow. */
  repository?: string;
  /** Commit the packages were built from. */
  commit?: string;
  /** Link to the uploading run. */
  run_url?: string;
  /** Names this dispatch in both summaries (upload and promote); unique per dispatch, set by upload-to-staging. */
  request_id?: string;
  /** The GitHub OIDC token (JWT) the upload minted for exactly this dispatch's artifacts (promotionAudience). */
  identity_token?: string;
  /** The channel label to promote to (default `main`: the channel itself), e.g. `rc` from conda-forge's channel_targets. */
  label?: string;
}

const SUBDIR = '[a-z0-9]+(?:-[a-z0-9]+)*';
const FILENAME = '[A-Za-z0-9_+!][A-Za-z0-9._+!-]*\\.(?:conda|tar\\.bz2)';
export const ARTIFACT_KEY_PATTERN = `^${SUBDIR}/${FILENAME}$`;
export const MAX_ARTIFACTS_PER_REQUEST = 1000;
/** Longest request id (the dispatch part suffix included). */
export const REQUEST_ID_MAX = 100;
/** A raw payload larger than this is refused before parsing (GitHub caps client_payload at 64 KB). */
export const MAX_PAYLOAD_INPUT_BYTES = 128 * 1024;

export const promotionRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['uploader', 'artifacts'],
  properties: {
    uploader: { type: 'string', minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' },
    artifacts: {
      type: 'object',
      minProperties: 1,
      maxProperties: MAX_ARTIFACTS_PER_REQUEST,
      propertyNames: { maxLength: 300, pattern: ARTIFACT_KEY_PATTERN, not: { pattern: '\\.\\.' } },
      additionalProperties: { type: 'string', pattern: '^[a-f0-9]{64}$' },
    },
    repository: { type: 'string', maxLength: 140, pattern: '^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$' },
    commit: { type: 'string', pattern: '^[a-f0-9]{40}(?:[a-f0-9]{24})?$' },
    run_url: { type: 'string', maxLength: 500, pattern: '^https://[^\\s"<>]+$' },
    request_id: { type: 'string', minLength: 1, maxLength: REQUEST_ID_MAX, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' },
    identity_token: { type: 'string', minLength: 1, maxLength: MAX_TOKEN_LENGTH, pattern: '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]*$' },
    label: { type: 'string', minLength: 1, maxLength: MAX_LABEL_LENGTH, pattern: LABEL_PATTERN },
  },
} as const;

// Compiled on first use: only validate, promote and dispatch check payloads, and every command imports this module.
// AJV itself is imported statically: the actions are bundled by ncc, which bundles only what it can trace.
let compiled: ValidateFunction | undefined;
function requestValidator(): ValidateFunction {
  return (compiled ??= new Ajv({ allErrors: false, strict: true }).compile(promotionRequestSchema));
}


/** Parses and strictly checks a promotion payload (JSON text or an already parsed value). */
export function parsePromotionRequest(input: string | unknown): { request: PromotionRequest; artifacts: ArtifactRef[] } {
  let value: unknown = input;
  if (typeof input === 'string') {
    if (Buffer.byteLength(input) > MAX_PAYLOAD_INPUT_BYTES) {
      throw new PayloadError(`promotion payload is larger than ${MAX_PAYLOAD_INPUT_BYTES} bytes: send at most one dispatch's worth`);
    }
    try {
      value = JSON.parse(input);
    } catch (error) {
      throw new PayloadError(`promotion payload is not JSON (${(error as Error).message}): pass toJSON(github.event.client_payload)`);
    }
  }
  const validateRequest = requestValidator();
  if (!validateRequest(value)) {
    throw new PayloadError(`invalid promotion payload: ${describe(validateRequest.errors?.[0])}`);
  }
  const request = value as PromotionRequest;
  const artifacts = Object.entries(request.artifacts).map(([key, sha256]) => {
    const slash = key.indexOf('/');
    return { subdir: key.slice(0, slash), filename: key.slice(slash + 1), sha256 };
  });
  return { request, artifacts };
}

function describe(error: ErrorObject | undefined): string {
  if (!error) return 'unknown schema error';
  const where = error.instancePath ? error.instancePath.replace(/^\//, '').replace(/~1/g, '/').replace(/~0/g, '~') : 'payload';
  const params = error.params as Record<string, unknown>;
  const propertyName = (error as ErrorObject & { propertyName?: string }).propertyName ?? params.propertyName;
  if (propertyName !== undefined) {
    return `artifact key ${quote(propertyName)} is not "<subdir>/<filename>.conda|.tar.bz2" (no "..", at most 300 characters)`;
  }
  switch (error.keyword) {
    case 'additionalProperties':
      return `${where} has unexpected key ${quote(params.additionalProperty)} (allowed: uploader, artifacts, repository, commit, run_url, request_id, identity_token, label)`;
    case 'required':
      return `${where} lacks required key ${quote(params.missingProperty)}`;
    case 'pattern':
      if (where === 'identity_token') return 'identity_token is not a compact JWT (three base64url parts)';
      if (where === 'label') return 'label is not a channel label (lowercase letters and digits separated by single ".", "_" or "-", e.g. rc)';
      return `${where} ${where.startsWith('artifacts/') ? 'must be a sha256 of 64 lowercase hex digits' : `does not match ${params.pattern}`}`;
    default:
      return `${where} ${error.message ?? 'is invalid'}`;
  }
}

function quote(value: unknown): string {
  const text = JSON.stringify(String(value));
  return text.length > 90 ? `${text.slice(0, 87)}..."` : text;
}
