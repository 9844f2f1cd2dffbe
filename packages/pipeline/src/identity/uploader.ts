// Who uploaded, for validate and promote: the identity a verified OIDC token proves, or (local use only) a name
// the caller states, marked unverified everywhere it is shown.
import type { IdentityOptions, UploaderIdentity, ValidateOptions } from '../types.ts';
import { promotionAudience } from './audience.ts';
import { IdentityError } from './errors.ts';
import { checkIssuerUrl, GITHUB_ACTIONS_ISSUER, issuerKeys } from './keys.ts';
import { DEFAULT_MAX_TOKEN_AGE_MS, MAX_TOKEN_AGE_LIMIT_MS, verifyIdentityToken } from './verify.ts';

/**
 * The uploader of a validate or promote request. With `identity`, the token is verified against the artifacts
 * asked for (throws IdentityError with a one-line reason); the `uploader` option is then ignored: the token wins.
 */
export async function resolveUploader(o: Pick<ValidateOptions, 'identity' | 'uploader' | 'artifacts' | 'label'>, now = Date.now()): Promise<UploaderIdentity | undefined> {
  if (o.identity) {
    const verified = await verifyIdentityToken(o.identity.token, identityPolicy(o.identity, promotionAudience(o.artifacts, o.label)), issuerKeys(checkIssuerUrl(o.identity.issuer ?? GITHUB_ACTIONS_ISSUER)), now);
    return { name: verified.feedstock, verified: true, repository: verified.repository, ...(verified.workflow ? { workflow: verified.workflow } : {}) };
  }
  if (o.uploader) return { name: o.uploader, verified: false };
  return undefined;
}

/** The policy of identity options, checked (an empty owner list or an out-of-range age is refused up front). */
export function identityPolicy(identity: IdentityOptions, audience: string) {
  const allowedOwners = identity.allowedOwners.map((o) => o.trim()).filter(Boolean);
  if (allowedOwners.length === 0) throw new IdentityError('no allowed owner configured: name the GitHub organisations or users whose repositories may publish');
  for (const owner of allowedOwners) {
    if (!/^[A-Za-z0-9][A-Za-z0-9-]{0,38}$/.test(owner)) throw new IdentityError(`allowed owner ${JSON.stringify(owner.slice(0, 60))} is not a GitHub owner name`);
  }
  const maxTokenAgeMs = identity.maxTokenAgeMs ?? DEFAULT_MAX_TOKEN_AGE_MS;
  if (!(maxTokenAgeMs > 0 && maxTokenAgeMs <= MAX_TOKEN_AGE_LIMIT_MS)) {
    throw new IdentityError(`the maximum token age must be more than 0 and at most 7 days, not ${maxTokenAgeMs} ms`);
  }
  const allowedWorkflow = identity.allowedWorkflow?.trim();
  return {
    issuer: checkIssuerUrl(identity.issuer ?? GITHUB_ACTIONS_ISSUER),
    audience,
    allowedOwners,
    maxTokenAgeMs,
    ...(allowedWorkflow ? { allowedWorkflow } : {}),
  };
}

/**
 * The uploader as recorded in (and compared with) signed verdicts: the repository when verified, the bare name
 * when not. A feedstock name has no `/`, so an unverified name never equals a verified identity.
 */
export function uploaderLabel(uploader: UploaderIdentity | undefined): string | undefined {
  if (!uploader) return undefined;
  return uploader.verified && uploader.repository ? uploader.repository : uploader.name;
}

/** `verified: conda-forge/numpy-feedstock` or `unverified: numpy`, as every summary shows it. */
export function describeUploader(uploader: UploaderIdentity | undefined): string {
  if (!uploader) return 'none given';
  return uploader.verified ? `verified: ${uploader.repository ?? uploader.name}` : `unverified: ${uploader.name}`;
}
