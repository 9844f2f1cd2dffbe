// The OIDC audience of a promotion request: it binds an identity token to exactly the artifacts (and bytes) of
// one dispatch, so a token minted for one request cannot vouch for other files or other hashes.
import { createHash } from 'node:crypto';
import { formatArtifactRef, normalizeSha256 } from '../core/artifact-ref.ts';
import type { ArtifactRef } from '../types.ts';
import { IdentityError } from './errors.ts';

export const AUDIENCE_PREFIX = 'oci-channel:sha256:';

/**
 * `oci-channel:sha256:<hex>`, hex = sha256 of the lines `SUBDIR/FILENAME@sha256:HEX\n`, one per artifact, sorted
 * (and unique); when a label other than `main` is asked for, `label:<LABEL>\n` follows the sorted lines.
 * Every artifact must carry its sha256: the token is bound to bytes, not names.
 */
export function promotionAudience(artifacts: readonly ArtifactRef[], label?: string): string {
  if (artifacts.length === 0) throw new IdentityError('no artifacts to bind an identity token to');
  const lines = new Set<string>();
  for (const artifact of artifacts) {
    const sha256 = normalizeSha256(artifact.sha256);
    if (!sha256) {
      throw new IdentityError(`${formatArtifactRef(artifact)} has no sha256: an identity token is bound to exact bytes, so give every artifact as SUBDIR/FILENAME@sha256:HEX`);
    }
    lines.add(`${formatArtifactRef(artifact)}@sha256:${sha256}\n`);
  }
  let text = [...lines].sort().join('');
  if (label !== undefined && label !== 'main') text += `label:${label}\n`;
  return AUDIENCE_PREFIX + createHash('sha256').update(text).digest('hex');
}
