// What a mirror must patch so its repodata says what upstream says. Upstream channels edit records after the
// fact (repodata patches: a tightened dependency, a license fixed, a revoked build); a mirror that indexes the
// packages themselves would serve the original records. Per subdir, this compares each mirrored file's upstream
// record with the record its package gives (`repodataRecord` of info/index.json + md5, sha256, size) and returns
// the difference as conda-index's patch_instructions.json. Applied the way conda-index applies them, the
// instructions turn the package records into upstream's:
//   1. `packages` entries update the .tar.bz2 records, and the .conda record of the same stem too;
//   2. `packages.conda` entries then update the .conda records;
//   updates set the fields they name (objects are merged key by key, lists and scalars replaced), never delete one.
import type { PatchInstructions } from './patches.ts';
import type { ChannelRecord } from './records.ts';


/** One mirrored file: the record upstream serves and the record its package gives. */
export interface MirroredRecord {
  filename: string;
  upstream: Record<string, unknown>;
  /** `repodataRecord(index.json, {md5, sha256, size})`: what a reindex of the package alone writes. */
  derived: ChannelRecord | Record<string, unknown>;
}

export interface UpstreamPatch {
  subdir: string;
  instructions: PatchInstructions;
  /**
   * Differences patch instructions cannot express (they set fields, never delete one): `filename: field` for
   * each field the package record has and upstream's lacks. Rare (upstream dropped a field); reported, not fixed.
   */
  unrepresentable: string[];
}

const CONDA = '.conda';
const TAR_BZ2 = '.tar.bz2';

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** JSON equality: same type, same members in any key order. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((item, i) => sameJson(item, b[i]));
  if (isPlainObject(a)) {
    if (!isPlainObject(b)) return false;
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && sameJson(a[k], b[k]));
  }
  return false;
}

/** `base` updated by `patch` as conda-index does (objects merged key by key, anything else replaced). */
export function updatedRecord(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    out[key] = isPlainObject(value) && isPlainObject(out[key]) ? updatedRecord(out[key] as Record<string, unknown>, value) : value;
  }
  return out;
}

/**
 * Fields to set on `base` so it reads as `target`, and the fields that cannot get there (in `base`, not in
 * `target`, at any depth: an update never deletes).
 */
function fieldsToSet(base: Record<string, unknown>, target: Record<string, unknown>, path: string, missing: string[]): Record<string, unknown> {
  const set: Record<string, unknown> = {};
  for (const key of Object.keys(target).sort()) {
    if (!sameJson(base[key], target[key])) set[key] = target[key];
  }
  const walk = (from: Record<string, unknown>, to: Record<string, unknown>, at: string) => {
    for (const key of Object.keys(from)) {
      if (!Object.hasOwn(to, key)) missing.push(`${at}${key}`);
      else if (isPlainObject(from[key]) && isPlainObject(to[key])) walk(from[key] as Record<string, unknown>, to[key] as Record<string, unknown>, `${at}${key}.`);
    }
  };
  walk(base, target, path);
  return set;
}

/**
 * The patch instructions that turn each mirrored file's package record into its upstream record.
 * `remove`: filenames upstream no longer lists, to take out of the index too (the caller decides).
 */
export function upstreamPatch(subdir: string, records: Iterable<MirroredRecord>, options: { remove?: Iterable<string> } = {}): UpstreamPatch {
  const instructions: PatchInstructions = { patch_instructions_version: 1, packages: {}, 'packages.conda': {}, remove: [], revoke: [] };
  const unrepresentable: string[] = [];
  const conda: MirroredRecord[] = [];
  for (const file of records) {
    if (file.filename.endsWith(TAR_BZ2)) {
      const missing: string[] = [];
      const set = fieldsToSet(file.derived, file.upstream, `${file.filename}: `, missing);
      unrepresentable.push(...missing);
      if (Object.keys(set).length > 0) instructions.packages[file.filename] = set;
    } else if (file.filename.endsWith(CONDA)) {
      conda.push(file);
    }
  }
  // A .conda starts from its record as the .tar.bz2 entry of the same stem leaves it (conda-index applies
  // `packages` to both formats), so it may need fields set back as well as fields of its own.
  for (const file of conda) {
    const sibling = instructions.packages[`${file.filename.slice(0, -CONDA.length)}${TAR_BZ2}`];
    const base = sibling ? updatedRecord(file.derived, sibling) : file.derived;
    const missing: string[] = [];
    const set = fieldsToSet(base, file.upstream, `${file.filename}: `, missing);
    unrepresentable.push(...missing);
    if (Object.keys(set).length > 0) instructions['packages.conda'][file.filename] = set;
  }
  instructions.packages = sortedByKey(instructions.packages);
  instructions['packages.conda'] = sortedByKey(instructions['packages.conda']);
  instructions.remove = [...new Set(options.remove ?? [])].sort();
  return { subdir, instructions, unrepresentable: unrepresentable.sort() };
}

function sortedByKey<T>(map: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(map).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
