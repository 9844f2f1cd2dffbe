// The claims of a GitHub Actions OIDC token that oci-channel relies on, read with their exact types. GitHub adds
// claims over time, so unknown ones are ignored; a known one with another type refuses the whole token.
import { IdentityError } from './errors.ts';

export interface GithubOidcClaims {
  iss: string;
  /** GitHub sends one audience as a string; a list is accepted only when it holds exactly one. */
  aud: string;
  /** Seconds since the epoch. */
  iat: number;
  exp: number;
  nbf?: number;
  /** `owner/name` of the repository whose workflow asked for the token. */
  repository: string;
  repository_owner: string;
  event_name: string;
  /** `owner/repo/.github/workflows/file.yml@ref` of the (reusable) workflow that ran the job. */
  job_workflow_ref?: string;
  workflow_ref?: string;
  ref?: string;
  sha?: string;
  run_id?: string;
}

const REQUIRED_STRINGS = ['iss', 'repository', 'repository_owner', 'event_name'] as const;
const OPTIONAL_STRINGS = ['job_workflow_ref', 'workflow_ref', 'ref', 'sha', 'run_id'] as const;
const REPOSITORY = /^([A-Za-z0-9][A-Za-z0-9-]{0,38})\/([A-Za-z0-9._-]{1,100})$/;
const MAX_CLAIM_LENGTH = 1000;

/** The verified payload of a token as claims, or IdentityError naming the first claim that is not as expected. */
export function parseClaims(payload: Uint8Array): GithubOidcClaims {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    throw new IdentityError('the identity token payload is not JSON');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new IdentityError('the identity token payload is not a JSON object');
  const raw = value as Record<string, unknown>;
  const bad = (claim: string, expected: string) => new IdentityError(`the identity token's ${claim} claim is not ${expected}`);
  const claims: Record<string, unknown> = {};
  for (const name of REQUIRED_STRINGS) {
    const v = raw[name];
    if (typeof v !== 'string' || v === '' || v.length > MAX_CLAIM_LENGTH) throw bad(name, 'a non-empty string');
    claims[name] = v;
  }
  for (const name of OPTIONAL_STRINGS) {
    const v = raw[name];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v.length > MAX_CLAIM_LENGTH) throw bad(name, 'a string');
    claims[name] = v;
  }
  for (const name of ['iat', 'exp', 'nbf'] as const) {
    const v = raw[name];
    if (v === undefined && name === 'nbf') continue;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(name, 'a time in whole seconds');
    claims[name] = v;
  }
  const aud = raw.aud;
  if (typeof aud === 'string') claims.aud = aud;
  else if (Array.isArray(aud) && aud.length === 1 && typeof aud[0] === 'string') claims.aud = aud[0];
  else throw bad('aud', 'one audience');
  const repository = REPOSITORY.exec(claims.repository as string);
  if (!repository) throw bad('repository', 'owner/name');
  if (repository[1] !== claims.repository_owner) throw bad('repository_owner', `the owner of ${String(claims.repository)}`);
  if ((claims.exp as number) <= (claims.iat as number)) throw bad('exp', 'after its iat');
  return claims as unknown as GithubOidcClaims;
}
