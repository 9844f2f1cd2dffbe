// A test oracle: repodata patch instructions applied exactly as conda-index's _apply_instructions applies them
// (conda_index/index/__init__.py), to check what upstreamPatch computes. Not used outside the tests.
import type { PatchInstructions } from '@oci-channel/conda';

export type PatchableRepodata = { packages: Record<string, Record<string, unknown>>; 'packages.conda': Record<string, Record<string, unknown>>; removed: string[] };

/** conda-index's merge_or_update_dict(merge=False): objects merged key by key (keys added), the rest replaced. */
function mergeInto(base: Record<string, unknown>, patch: Record<string, unknown>, addMissing = true): void {
  for (const [key, value] of Object.entries(patch)) {
    if (!(key in base) && !addMissing) continue;
    const current = base[key];
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const target = current && typeof current === 'object' && !Array.isArray(current) ? (current as Record<string, unknown>) : structuredClone(value as Record<string, unknown>);
      mergeInto(target, value as Record<string, unknown>);
      base[key] = target;
    } else base[key] = structuredClone(value);
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
