// A repodata patches package (conda-forge-repodata-patches and the like): a conda package whose payload holds
// `<subdir>/patch_instructions.json` for each subdir it patches. Read with every check readPackage makes (the
// package comes from a channel, so it is untrusted input like any other), then each subdir's instructions are
// checked; one bad subdir refuses the whole package.
import { createHash } from 'node:crypto';
import { PatchError, parsePatchInstructionsJson, type PatchInstructions } from './channel/patches.ts';
import { errorText } from './errors.ts';
import { isValidSubdir } from './names.ts';
import { readPackage } from './read.ts';

/** conda-forge's patches are tens of MB of JSON; this bounds what one package may make us hold. */
export const MAX_PATCH_INSTRUCTIONS_BYTES = 1 << 30;

const MEMBER_RE = /^([^/]+)\/patch_instructions\.json$/;

export interface SubdirPatch {
  /** The member's bytes as shipped (what a cache keeps) and their sha256 (hex): equal bytes, equal patches. */
  bytes: Buffer;
  sha256: string;
  /** Parses the (already checked) bytes: parsed instructions of a big channel are held one subdir at a time. */
  instructions(): PatchInstructions;
}

export interface PatchesPackage {
  filename: string;
  /** sha256 (hex) of the package file. */
  sha256: string;
  subdirs: Map<string, SubdirPatch>;
}

/** Reads `file` (.conda or .tar.bz2) and the patch instructions of every subdir in it; throws a PatchError otherwise. */
export async function readPatchesPackage(file: string, options: { filename?: string } = {}): Promise<PatchesPackage> {
  let pkg;
  try {
    pkg = await readPackage(file, {
      ...(options.filename ? { filename: options.filename } : {}),
      collect: { match: (p) => MEMBER_RE.test(p) && isValidSubdir(MEMBER_RE.exec(p)![1]!), maxBytes: MAX_PATCH_INSTRUCTIONS_BYTES },
    });
  } catch (error) {
    throw new PatchError(`patches package ${errorText(error)}`);
  }
  const subdirs = new Map<string, SubdirPatch>();
  for (const [member, bytes] of pkg.collected ?? []) {
    const subdir = MEMBER_RE.exec(member)![1]!;
    const what = `${member} of ${pkg.filename}`;
    parsePatchInstructionsJson(bytes, what);
    subdirs.set(subdir, { bytes, sha256: createHash('sha256').update(bytes).digest('hex'), instructions: () => parsePatchInstructionsJson(bytes, what) });
  }
  if (subdirs.size === 0) {
    throw new PatchError(`${pkg.filename} holds no <subdir>/patch_instructions.json: it is not a repodata patches package`);
  }
  return { filename: pkg.filename, sha256: pkg.sha256, subdirs };
}
