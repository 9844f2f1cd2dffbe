// A test oracle: repodata patch instructions applied exactly as conda-index's _apply_instructions applies them
// (conda_index/index/__init__.py), to check what upstreamPatch computes. Not used outside the tests.
import type { PatchInstructions } from '@oci-channel/conda';

export type PatchableRepodata = { packages: Record<string, Record<string, unknown>>; 'packages.conda': Record<string, Record<string, unknown>>; removed: string[] };

const isMap = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
/** Python's `==` on JSON values: dicts in any key order. */
function pyEqual(a: unknown, b: unknown): boolean {
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => pyEqual(x, b[i]));
  if (isMap(a)) return isMap(b) && Object.keys(a).length === Object.keys(b).length && Object.keys(a).every((k) => k in b && pyEqual(a[k], b[k]));
  return a === b;
}

/**
 * conda-index's merge_or_update_dict(merge=False), in place: maps merged key by key (a missing map taken as
 * it is), lists and scalars replaced, `None` deleting a key the base has and set where it has none.
 */
function mergeInto(base: Record<string, unknown>, patch: Record<string, unknown>, addMissing = true): void {
  if (pyEqual(base, patch)) return;
  for (const [key, value] of Object.entries(patch)) {
    if (!(key in base) && !addMissing) continue;
    if (isMap(value)) {
      if (!(key in base)) base[key] = structuredClone(value);
      else if (isMap(base[key])) mergeInto(base[key] as Record<string, unknown>, value);
      else throw new Error(`conda-index cannot merge a map into the scalar at ${key}`);
    } else if (value === null && key in base) delete base[key];
    else base[key] = structuredClone(value);
  }
}

/** conda-index's _apply_instructions: packages (also onto the .conda of the same stem), packages.conda, remove. */
export function applyPatchInstructions<T extends PatchableRepodata>(repodata: T, instructions: PatchInstructions): T {
  const out = structuredClone(repodata);
  mergeInto(out.packages, instructions.packages, false);
  const toConda = Object.fromEntries(Object.entries(instructions.packages).map(([k, v]) => [k.replace(/\.tar\.bz2$/, '.conda'), v]));
  mergeInto(out['packages.conda'], toConda, false);
  mergeInto(out['packages.conda'], instructions['packages.conda'], false);
  for (const fn of instructions.remove) {
    for (const key of ['packages', 'packages.conda'] as const) {
      const name = key === 'packages.conda' ? fn.replace(/\.tar\.bz2$/, '.conda') : fn;
      if (out[key][name]) {
        delete out[key][name];
        out.removed.push(name);
      }
    }
  }
  out.removed.sort();
  return out;
}
