// Artifact references as users write them: `SUBDIR/FILENAME[@sha256:HEX]`.
import { ArtifactRefError } from '../errors.ts';
import type { ArtifactRef } from '../types.ts';

const SHA256_HEX = /^[a-f0-9]{64}$/;


export function parseArtifactRef(value: string): ArtifactRef {
  const bad = (why: string) =>
    new ArtifactRefError(`invalid artifact ${JSON.stringify(value)}: ${why}; expected SUBDIR/FILENAME[@sha256:HEX], e.g. linux-64/zlib-1.3-h0_0.conda`);
  let rest = value;
  let sha256: string | undefined;
  const at = value.lastIndexOf('@');
  if (at >= 0) {
    const digest = value.slice(at + 1);
    rest = value.slice(0, at);
    const hex = digest.startsWith('sha256:') ? digest.slice('sha256:'.length) : digest;
    if (!SHA256_HEX.test(hex.toLowerCase())) throw bad('the digest is not sha256:<64 hex>');
    sha256 = hex.toLowerCase();
  }
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash !== rest.lastIndexOf('/')) throw bad('it needs exactly one "/" between subdir and filename');
  const subdir = rest.slice(0, slash);
  const filename = rest.slice(slash + 1);
  if (!filename.endsWith('.conda') && !filename.endsWith('.tar.bz2')) throw bad('the filename must end in .conda or .tar.bz2');
  return sha256 ? { subdir, filename, sha256 } : { subdir, filename };
}

export function formatArtifactRef(ref: { subdir: string; filename: string }): string {
  return `${ref.subdir}/${ref.filename}`;
}

/** `text` without the leading `SUBJECT: ` (repeated, any of `subjects`): for lines that name the subject already. */
export function withoutSubject(text: string, ...subjects: string[]): string {
  let rest = text;
  for (let changed = true; changed; ) {
    changed = false;
    for (const subject of subjects) {
      if (subject && rest.startsWith(`${subject}: `)) {
        rest = rest.slice(subject.length + 2);
        changed = true;
      }
    }
  }
  return rest;
}

/** `SUBDIR/FILENAME: detail`, naming the artifact once even when the detail starts with it or its file name. */
export function artifactReason(ref: { subdir: string; filename: string }, detail: string): string {
  const artifact = formatArtifactRef(ref);
  return `${artifact}: ${withoutSubject(detail, artifact, ref.filename)}`;
}

/** Normalizes a declared sha256 (`sha256:HEX` or `HEX`) to lowercase hex, or undefined when it is not one. */
export function normalizeSha256(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const hex = (value.startsWith('sha256:') ? value.slice(7) : value).toLowerCase();
  return SHA256_HEX.test(hex) ? hex : undefined;
}
