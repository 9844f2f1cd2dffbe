// Repodata patches (patch_instructions.json, as conda-forge-repodata-patches ships one per subdir), applied
// exactly as conda-index applies them (`_apply_instructions` + `merge_or_update_dict(merge=False)`):
//   1. `packages` fixes go to the .tar.bz2 records of those names, then the same fixes to the .conda records of the
//      same name (`.tar.bz2` -> `.conda`), then `packages.conda` fixes to the .conda records; filenames the subdir
//      does not have are ignored. In a record a key is replaced or added, a list replaced whole, a nested map
//      merged the same way; `null` deletes a key the record has and is written as `null` where it has none.
//   2. `revoke`: `revoked: true` and the dependency `package_has_been_revoked` (both formats of a .tar.bz2 name).
//   3. `remove`: the file leaves the index (both formats of a .tar.bz2 name) and is listed in `removed`, sorted.
// Pure: records in, new records out (a patched record is a new object; the input is never changed).
import { createHash } from 'node:crypto';
import { nestedStableJson } from './json.ts';
import { isCondaV2, type ChannelRecord, type IndexedPackage } from './records.ts';

/** A record's fix. `field: null` is not the same as a missing field (see the header). */
export interface RecordPatch {
  depends?: string[];
  constrains?: string[];
  track_features?: string | null;
  features?: string | null;
  license?: string | null;
  license_family?: string | null;
  [field: string]: unknown;
}

/** One subdir's patch_instructions.json. */
export interface PatchInstructions {
  /** Absent or 0 or 1; anything newer is refused (conda-index refuses > 1). */
  patch_instructions_version?: number;
  /** Fixes by .tar.bz2 filename (also applied to the .conda of the same name). */
  packages: Record<string, RecordPatch>;
  /** Fixes for .conda files only, applied after the .tar.bz2 ones. */
  'packages.conda': Record<string, RecordPatch>;
  remove: string[];
  revoke: string[];
}

/** Fields a patch may not touch: they say which file a record is and how to check it (and CEP 47's stamp). */
export const PROTECTED_RECORD_FIELDS = ['name', 'version', 'build', 'subdir', 'md5', 'sha256', 'size', 'indexed_timestamp'] as const;

export const PATCH_INSTRUCTIONS_VERSION = 1;

/** A patch_instructions.json that cannot be applied, and why (one line). */
export class PatchError extends Error {
  constructor(message: string) {
    super(message.replace(/[\r\n]+/g, ' '));
    this.name = 'PatchError';
  }
}

export const EMPTY_PATCH_INSTRUCTIONS: Readonly<PatchInstructions> = Object.freeze({ packages: {}, 'packages.conda': {}, remove: [], revoke: [] });

const isMap = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Checks the shape of a parsed patch_instructions.json; `what` names it in errors (e.g. `osx-64/patch_instructions.json of X`). */
export function parsePatchInstructions(value: unknown, what: string): PatchInstructions {
  if (!isMap(value)) throw new PatchError(`${what} is not a JSON object`);
  const version = value.patch_instructions_version;
  if (version !== undefined && version !== 0 && version !== PATCH_INSTRUCTIONS_VERSION) {
    throw new PatchError(`${what} has patch_instructions_version ${JSON.stringify(version)}; only version ${PATCH_INSTRUCTIONS_VERSION} is known (conda-index's), so it is refused`);
  }
  const fixes = (key: 'packages' | 'packages.conda'): Record<string, RecordPatch> => {
    const map = value[key] ?? {};
    if (!isMap(map)) throw new PatchError(`${what}: "${key}" is not a map of filename to fixes`);
    for (const [filename, fix] of Object.entries(map)) {
      if (!isMap(fix)) throw new PatchError(`${what}: the fix for ${JSON.stringify(filename)} in "${key}" is not a JSON object`);
      const touched = PROTECTED_RECORD_FIELDS.find((f) => f in fix);
      if (touched) throw new PatchError(`${what}: the fix for ${JSON.stringify(filename)} changes "${touched}", which says which file the record is; refused`);
    }
    return map as Record<string, RecordPatch>;
  };
  const names = (key: 'remove' | 'revoke'): string[] => {
    const list = value[key] ?? [];
    if (!Array.isArray(list) || !list.every((f) => typeof f === 'string')) throw new PatchError(`${what}: "${key}" is not a list of filenames`);
    return list as string[];
  };
  return {
    ...(version !== undefined ? { patch_instructions_version: version as number } : {}),
    packages: fixes('packages'),
    'packages.conda': fixes('packages.conda'),
    remove: names('remove'),
    revoke: names('revoke'),
  };
}

/** Parses patch_instructions.json bytes (strict UTF-8 JSON) and checks them. */
export function parsePatchInstructionsJson(bytes: Uint8Array, what: string): PatchInstructions {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw new PatchError(`${what} is not valid UTF-8 JSON (${(error as Error).message})`);
  }
  return parsePatchInstructions(value, what);
}

export interface PatchedPackages {
  /** The records left in the index, patched (unchanged ones are the very objects given). */
  packages: IndexedPackage[];
  /** Filenames the patches removed from the index, sorted. */
  removed: string[];
}

const deepEqual = (a: unknown, b: unknown): boolean => a === b || JSON.stringify(a) === JSON.stringify(b);
const TAR_BZ2 = '.tar.bz2';
const CONDA = '.conda';
/** The .conda name a `packages` fix also reaches: Python's str.replace, every occurrence. */
export const condaTwin = (filename: string) => filename.split(TAR_BZ2).join(CONDA);

/** merge_or_update_dict(base, fix, merge=False) on a copy of `base`: the record one fix makes (the input is kept). */
export function applyRecordFix(base: Record<string, unknown>, fix: Record<string, unknown>): Record<string, unknown> {
  if (deepEqual(base, fix)) return base;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(fix)) {
    if (isMap(value)) {
      const current = key in out ? out[key] : value;
      // conda-index merges a map into a map; a map over a scalar has no defined merge there: it replaces it.
      out[key] = isMap(current) ? applyRecordFix(current, value) : structuredClone(value);
    } else if (Array.isArray(value)) {
      out[key] = structuredClone(value);
    } else if (value === null && key in out) {
      delete out[key];
    } else {
      out[key] = value;
    }
  }
  return out;
}

/** One instruction set over the working map (filename -> record), returning the filenames it removed. */
function applyOne(records: Map<string, ChannelRecord>, instructions: PatchInstructions): string[] {
  const patch = (filename: string, fix: RecordPatch) => {
    const record = records.get(filename);
    if (record) records.set(filename, applyRecordFix(record, fix) as ChannelRecord);
  };
  // .tar.bz2 fixes: only records in "packages" (the .tar.bz2 ones) can match.
  for (const [filename, fix] of Object.entries(instructions.packages)) if (!isCondaV2(filename)) patch(filename, fix);
  // The same fixes for the .conda twin; a later key wins where two map to one name, as in a dict comprehension.
  const twins = new Map<string, RecordPatch>();
  for (const [filename, fix] of Object.entries(instructions.packages)) twins.set(condaTwin(filename), fix);
  for (const [filename, fix] of twins) if (isCondaV2(filename)) patch(filename, fix);
  for (const [filename, fix] of Object.entries(instructions['packages.conda'])) if (isCondaV2(filename)) patch(filename, fix);

  // Each name is looked up as given in "packages" and, a .tar.bz2 name turned .conda, in "packages.conda".
  const formats = (filename: string): string[] => [...new Set([...(isCondaV2(filename) ? [] : [filename]), filename.endsWith(TAR_BZ2) ? condaTwin(filename) : filename])];
  for (const name of instructions.revoke) {
    for (const filename of formats(name)) {
      const record = records.get(filename);
      if (!record) continue;
      const depends = Array.isArray(record.depends) ? record.depends : [];
      records.set(filename, { ...record, revoked: true, depends: [...depends, 'package_has_been_revoked'] });
    }
  }
  const removed: string[] = [];
  for (const name of instructions.remove) {
    for (const filename of formats(name)) if (records.delete(filename)) removed.push(filename);
  }
  return removed;
}

/** A short fingerprint of a patched record's content (feeds the shard key: patches change records, not sha256). */
function fingerprint(record: ChannelRecord): string {
  return createHash('sha256').update(nestedStableJson(record, 2)).digest('hex').slice(0, 16);
}

/**
 * Applies instruction sets in order (e.g. a patches package's, then the channel's own) to a subdir's packages.
 * `removed` starts from `alreadyRemoved` (kept, deduplicated) and gains what the patches remove.
 */
export function applyPatches(packages: Iterable<IndexedPackage>, instructions: Iterable<PatchInstructions>, alreadyRemoved: Iterable<string> = []): PatchedPackages {
  const sets = [...instructions].filter((i) => i.remove.length + i.revoke.length + Object.keys(i.packages).length + Object.keys(i['packages.conda']).length > 0);
  const list = Array.from(packages);
  const removed = new Set(alreadyRemoved);
  if (sets.length === 0) return { packages: list, removed: [...removed].sort() };
  const records = new Map<string, ChannelRecord>();
  for (const pkg of list) records.set(pkg.filename, pkg.record);
  for (const set of sets) for (const filename of applyOne(records, set)) removed.add(filename);
  const out: IndexedPackage[] = [];
  for (const pkg of list) {
    const record = records.get(pkg.filename);
    if (!record) continue;
    out.push(record === pkg.record ? pkg : { ...pkg, record, patch: fingerprint(record) });
  }
  return { packages: out, removed: [...removed].sort() };
}
