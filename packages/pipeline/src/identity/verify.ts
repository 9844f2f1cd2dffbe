// Verifying an upload's GitHub OIDC identity token: the signature (RS256, the issuer's published key), then every
// claim the decision rests on. Pure apart from the key lookup: token, policy and keys in, identity or
// IdentityError out. jose does the JOSE work; the claim rules are ours. No message ever contains the token.
import { compactVerify, decodeProtectedHeader, errors as joseErrors } from 'jose';
import { parseClaims, type GithubOidcClaims } from './claims.ts';
import { IdentityError } from './errors.ts';
import type { KeySource } from './keys.ts';

/** How long after its `iat` a token is accepted by default (it is bound to exact bytes, so its short exp is not used). */
export const DEFAULT_MAX_TOKEN_AGE_MS = 24 * 3_600_000;
/** The most a channel may configure: a request older than this is uploaded again. */
export const MAX_TOKEN_AGE_LIMIT_MS = 7 * 24 * 3_600_000;
/** Clocks of the issuer and this runner may disagree this much. */
const CLOCK_SKEW_S = 60;
/** GitHub's tokens are about 1-2 KiB. */
export const MAX_TOKEN_LENGTH = 16 * 1024;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
/** Events whose workflows run code from pull requests: never a publisher. */
const REFUSED_EVENTS = /^pull_request/;

export interface IdentityPolicy {
  /** The issuer `iss` must equal (its keys verify the signature). */
  issuer: string;
  /** The audience `aud` must equal: promotionAudience() of the artifacts asked for. */
  audience: string;
  /** GitHub owners (organisations or users) whose repositories may publish; compared case-insensitively. */
  allowedOwners: readonly string[];
  /** Optional pattern `job_workflow_ref` must match (`*` matches any run of characters). */
  allowedWorkflow?: string;
  /** How long after `iat` the token is accepted. */
  maxTokenAgeMs: number;
}

/** Who uploaded, as the issuer vouches for it. */
export interface VerifiedIdentity {
  /** `owner/name` of the uploading repository. */
  repository: string;
  owner: string;
  /** The repository name without `-feedstock`: the name feedstock-outputs knows. */
  feedstock: string;
  eventName: string;
  /** The reusable workflow that ran the upload job (`job_workflow_ref`), when the token says. */
  workflow?: string;
  runId?: string;
  sha?: string;
}

/** Whether `value` matches `pattern`, where `*` stands for any run of characters (case-insensitive, anchored). */
export function matchesWorkflowPattern(value: string, pattern: string): boolean {
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}$`, 'is').test(value);
}

/** The feedstock name of a repository: `conda-forge/numpy-feedstock` -> `numpy`. */
export function feedstockOf(repository: string): string {
  return (repository.split('/')[1] ?? repository).replace(/-feedstock$/i, '');
}

export async function verifyIdentityToken(token: string, policy: IdentityPolicy, keys: KeySource, now = Date.now()): Promise<VerifiedIdentity> {
  const jwt = token.trim();
  if (jwt.length > MAX_TOKEN_LENGTH) throw new IdentityError(`the identity token is longer than ${MAX_TOKEN_LENGTH} characters; refused`);
  if (!COMPACT_JWS.test(jwt)) throw new IdentityError('the identity token is not a compact JWT (three base64url parts); refused');
  let header;
  try {
    header = decodeProtectedHeader(jwt);
  } catch {
    throw new IdentityError('the identity token header is not readable JSON; refused');
  }
  if (header.alg !== 'RS256') {
    throw new IdentityError(`the identity token is signed with alg ${JSON.stringify(header.alg ?? null)}${header.alg === 'none' ? ' (unsigned)' : ''}; only RS256 (what GitHub uses) is accepted`);
  }
  if (header.typ !== 'JWT') throw new IdentityError(`the identity token has typ ${JSON.stringify(header.typ ?? null)}, not "JWT"; refused`);
  if (typeof header.kid !== 'string' || header.kid === '') throw new IdentityError('the identity token names no key id (kid); refused');

  const key = await keys.keyFor(header.kid);
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(jwt, key, { algorithms: ['RS256'] }));
  } catch (error) {
    if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
      throw new IdentityError(`the identity token's signature does not verify with ${policy.issuer}'s key ${JSON.stringify(header.kid.slice(0, 100))}; refused`);
    }
    throw new IdentityError(`the identity token cannot be verified: ${(error as Error).message}`);
  }
  const claims = parseClaims(payload);
  checkClaims(claims, policy, now);
  return {
    repository: claims.repository,
    owner: claims.repository_owner,
    feedstock: feedstockOf(claims.repository),
    eventName: claims.event_name,
    ...(claims.job_workflow_ref ? { workflow: claims.job_workflow_ref } : {}),
    ...(claims.run_id ? { runId: claims.run_id } : {}),
    ...(claims.sha ? { sha: claims.sha } : {}),
  };
}

function checkClaims(claims: GithubOidcClaims, policy: IdentityPolicy, nowMs: number): void {
  if (claims.iss !== policy.issuer) throw new IdentityError(`the identity token was issued by ${JSON.stringify(claims.iss.slice(0, 200))}, not ${policy.issuer}; refused`);
  if (claims.aud !== policy.audience) {
    throw new IdentityError('the identity token was minted for other artifacts (its audience does not match the artifacts and sha256s of this request); each dispatch carries its own token: upload again');
  }
  const now = Math.floor(nowMs / 1000);
  if (claims.iat > now + CLOCK_SKEW_S) throw new IdentityError('the identity token is issued in the future (iat); check the clocks');
  if (claims.nbf !== undefined && claims.nbf > now + CLOCK_SKEW_S) throw new IdentityError('the identity token is not valid yet (nbf); refused');
  const ageMs = (now - claims.iat) * 1000;
  if (ageMs > policy.maxTokenAgeMs) {
    throw new IdentityError(`the identity token was issued ${formatAge(ageMs)} ago, more than the ${formatAge(policy.maxTokenAgeMs)} accepted; upload again to send a new request`);
  }
  const owner = claims.repository_owner.toLowerCase();
  if (!policy.allowedOwners.some((o) => o.toLowerCase() === owner)) {
    throw new IdentityError(`${claims.repository} belongs to ${claims.repository_owner}, which is not an allowed owner (${policy.allowedOwners.join(', ') || 'none configured'})`);
  }
  if (REFUSED_EVENTS.test(claims.event_name)) {
    throw new IdentityError(`the identity token comes from a ${claims.event_name} run of ${claims.repository}: pull request workflows never publish`);
  }
  if (policy.allowedWorkflow !== undefined) {
    if (!claims.job_workflow_ref) throw new IdentityError(`the identity token of ${claims.repository} names no job_workflow_ref; only ${policy.allowedWorkflow} may upload`);
    if (!matchesWorkflowPattern(claims.job_workflow_ref, policy.allowedWorkflow)) {
      throw new IdentityError(`the upload ran in workflow ${claims.job_workflow_ref.slice(0, 300)}, not one matching ${policy.allowedWorkflow}; refused`);
    }
  }
}

function formatAge(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 120) return `${minutes} min`;
  const hours = Math.round(minutes / 60);
  return hours < 72 ? `${hours} h` : `${Math.round(hours / 24)} d`;
}
