// What a mirror must patch so its repodata says what upstream says. Upstream channels edit records after the
// fact (repodata patches: a tightened dependency, a license fixed, a field dropped, a revoked build); a mirror
// that indexes the packages themselves would serve the original records. Per subdir, this compares each
// mirrored file's upstream record with the record its package gives (`repodataRecord` of info/index.json + md5,
// sha256, size) and folds the difference into the channel's own patch_instructions.json, which reindex applies
// the way conda-index applies them (`applyRecordFix` in patches.ts):
//   1. `packages` entries fix the .tar.bz2 records, and the .conda record of the same stem too;
//   2. `packages.conda` entries then fix the .conda records;
//   a fix sets the fields it names (maps merged key by key, lists and scalars replaced), and `null` deletes a
//   field the record has (and writes `null` where it has none).
// One entry per filename: a file compared again gets its entry replaced, or dropped when its upstream record is
// its package record again; entries of files not compared are kept.
import { PROTECTED_RECORD_FIELDS, applyRecordFix, condaTwin, type PatchInstructions, type RecordPatch } from './patches.ts';
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
  /** The instructions to keep: the stored ones with this run's entries folded in. */
  instructions: PatchInstructions;
  /** Files compared whose upstream record differs from their package's (each has an entry). */
  patched: string[];
  /** Entries added, changed or dropped, and remove entries added or dropped, compared with the stored instructions. */
  changed: number;
  /**
   * Differences patch instructions cannot express, `filename: field`: a field upstream sets to `null` where the
   * package has a value (a `null` fix deletes it instead), and fields that say which file a record is
   * (`name`, `version`, `build`, `subdir`, `md5`, `sha256`, `size`: a patch may not touch them). Reported, not fixed.
   */
  unrepresentable: string[];
}

const CONDA = '.conda';
const TAR_BZ2 = '.tar.bz2';
const PROTECTED: ReadonlySet<string> = new Set(PROTECTED_RECORD_FIELDS);

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

/**
 * The fix that turns `base` into `target` under applyRecordFix, keys sorted; what cannot get there goes to
 * `missing` as `<at>field`. `top`: the record itself (protected fields are only checked there).
 */
function recordFix(base: Record<string, unknown>, target: Record<string, unknown>, at: string, missing: string[], top: boolean): RecordPatch {
  const fix: RecordPatch = {};
  for (const key of [...new Set([...Object.keys(base), ...Object.keys(target)])].sort()) {
    const inBase = Object.hasOwn(base, key);
    const inTarget = Object.hasOwn(target, key);
    if (inBase && inTarget && sameJson(base[key], target[key])) continue;
    if (top && PROTECTED.has(key)) {
      if (key !== 'indexed_timestamp') missing.push(`${at}${key}`);
      continue;
    }
    const want = target[key];
    if (!inTarget) fix[key] = null; // upstream dropped it: a null fix deletes it
    else if (want === null) {
      if (inBase) missing.push(`${at}${key}`); // a null fix would delete it, not set it to null
      else fix[key] = null; // written as null where the record has none
    } else if (isPlainObject(want) && isPlainObject(base[key])) {
      const nested = recordFix(base[key] as Record<string, unknown>, want, `${at}${key}.`, missing, false);
      if (Object.keys(nested).length > 0) fix[key] = nested;
    } else fix[key] = structuredClone(want);
  }
  return fix;
}

/** How many records the instructions fix (entries in `packages` and `packages.conda`). */
export function patchedRecordCount(instructions: PatchInstructions): number {
  return Object.keys(instructions.packages).length + Object.keys(instructions['packages.conda']).length;
}

/** What `packages` fixes reach each .conda by name (a later key wins, as in conda-index's dict comprehension). */
export function condaTwinFixes(instructions: PatchInstructions): Map<string, RecordPatch> {
  const twins = new Map<string, RecordPatch>();
  for (const [filename, fix] of Object.entries(instructions.packages)) twins.set(condaTwin(filename), fix);
  return twins;
}

/**
 * One file's record as the instructions' fixes leave it (`packages`, its .conda twin's, then `packages.conda`;
 * revoke and remove aside). `twins`: condaTwinFixes of the same instructions.
 */
export function fixedRecord(filename: string, record: Record<string, unknown>, instructions: PatchInstructions, twins: Map<string, RecordPatch>): Record<string, unknown> {
  if (filename.endsWith(TAR_BZ2)) {
    const fix = instructions.packages[filename];
    return fix ? applyRecordFix(record, fix) : record;
  }
  const twin = twins.get(filename);
  const own = instructions['packages.conda'][filename];
  const once = twin ? applyRecordFix(record, twin) : record;
  return own ? applyRecordFix(once, own) : once;
}

/**
 * Whether a channel serving `served` already says what upstream says, as far as patches can say it: fields
 * a patch may not touch (and each channel's own indexed_timestamp) are left out of the comparison.
 */
export function servesUpstreamRecord(served: Record<string, unknown>, upstream: Record<string, unknown>): boolean {
  const strip = (record: Record<string, unknown>) => Object.fromEntries(Object.entries(record).filter(([key]) => !PROTECTED.has(key)));
  return sameJson(strip(served), strip(upstream));
}

/** The instructions with nothing in them, as mirror writes them. */
export function emptyPatchInstructions(): PatchInstructions {
  return { patch_instructions_version: 1, packages: {}, 'packages.conda': {}, remove: [], revoke: [] };
}

/**
 * Folds the mirrored files' upstream records into `stored` (the channel's instructions so far, or none):
 * each .tar.bz2 compared gets the `packages` entry that turns its package record into upstream's (none when
 * they are equal); then each .conda compared gets the `packages.conda` entry it needs on top of whatever
 * `packages` entry reaches it by name (so a .tar.bz2 patch its .conda does not share is set back). `remove`
 * adds filenames to the remove list; `relisted` takes off it the names upstream lists again. `revoke` and
 * entries of files not compared are kept as stored.
 */
export function upstreamPatch(
  subdir: string,
  records: Iterable<MirroredRecord>,
  options: { stored?: PatchInstructions; remove?: Iterable<string>; relisted?: (filename: string) => boolean } = {},
): UpstreamPatch {
  const stored = options.stored;
  const out: PatchInstructions = {
    patch_instructions_version: 1,
    packages: { ...stored?.packages },
    'packages.conda': { ...stored?.['packages.conda'] },
    remove: [...(stored?.remove ?? [])],
    revoke: [...(stored?.revoke ?? [])],
  };
  const unrepresentable: string[] = [];
  const patched: string[] = [];
  let changed = 0;
  const put = (map: Record<string, RecordPatch>, filename: string, fix: RecordPatch) => {
    const has = Object.keys(fix).length > 0;
    if (has) patched.push(filename);
    if (has ? sameJson(map[filename], fix) : !Object.hasOwn(map, filename)) return;
    changed++;
    if (has) map[filename] = fix;
    else delete map[filename];
  };

  const conda: MirroredRecord[] = [];
  for (const file of records) {
    if (file.filename.endsWith(TAR_BZ2)) put(out.packages, file.filename, recordFix(file.derived, file.upstream, `${file.filename}: `, unrepresentable, true));
    else if (file.filename.endsWith(CONDA)) conda.push(file);
  }
  const twins = condaTwinFixes(out);
  for (const file of conda) {
    const twin = twins.get(file.filename);
    const base = twin ? applyRecordFix(file.derived, twin) : file.derived;
    put(out['packages.conda'], file.filename, recordFix(base, file.upstream, `${file.filename}: `, unrepresentable, true));
  }

  const remove = new Set(out.remove);
  for (const filename of options.remove ?? []) if (!remove.has(filename)) (remove.add(filename), changed++);
  if (options.relisted) for (const filename of [...remove]) if (options.relisted(filename) && remove.delete(filename)) changed++;
  out.remove = [...remove].sort();
  out.packages = sortedByKey(out.packages);
  out['packages.conda'] = sortedByKey(out['packages.conda']);
  return { subdir, instructions: out, patched: patched.sort(), changed, unrepresentable: unrepresentable.sort() };
}

function sortedByKey<T>(map: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(map).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
