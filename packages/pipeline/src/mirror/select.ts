// Which upstream files a mirror run takes: package name globs and a time cut, and the grouping by v0 tag (the two
// formats of one build share a manifest, so they are checked and pushed together, one after the other).
import { encodeTag, packageRepository, parsePackageFilename } from '@oci-channel/conda';
import { fnmatchRegExp } from '../core/fnmatch.ts';
import type { UpstreamFile } from '../upstream/index.ts';

/** fnmatch-style glob -> RegExp: `*` any run, `?` one character, `[abc]` / `[!abc]` a class; the rest literal. */
export const globToRegExp = fnmatchRegExp;

/** A name filter from globs (none: every name). */
export function nameFilter(globs: readonly string[] | undefined): (name: string) => boolean {
  if (!globs || globs.length === 0) return () => true;
  const res = globs.map(globToRegExp);
  return (name) => res.some((re) => re.test(name));
}

/**
 * Files at or after `since` (by record timestamp); files without one are left out once a cut is given. Applies
 * to the records that cannot be mirrored too, so a time cut reports only its own.
 */
export function sinceFilter(since: Date | undefined): (file: { timestampMs?: number }) => boolean {
  if (!since) return () => true;
  const cut = since.getTime();
  return (file) => file.timestampMs !== undefined && file.timestampMs >= cut;
}

export interface TagGroup {
  subdir: string;
  repository: string;
  tag: string;
  files: UpstreamFile[];
}

/** Files grouped by the repository and tag they go to, in filename order. */
export function groupByTag(files: readonly UpstreamFile[]): TagGroup[] {
  const groups = new Map<string, TagGroup>();
  for (const file of [...files].sort((a, b) => (a.filename < b.filename ? -1 : a.filename > b.filename ? 1 : 0))) {
    const { name, version, build } = parsePackageFilename(file.filename);
    const repository = packageRepository(file.subdir, name);
    const tag = encodeTag(version, build);
    const key = `${repository}:${tag}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { subdir: file.subdir, repository, tag, files: [] }));
    group.files.push(file);
  }
  return [...groups.values()];
}
