// The indexes of one subdir, built from what the reindex cache knows: the main index (`<subdir>/`) and one per
// label (`label/<label>/<subdir>/`), each with the repodata patches applied. The main index also carries what a
// reindex with a cold cache needs to start over: repodata_from_packages.json (every file, unpatched) when it
// differs from repodata.json, and labels.json.
import {
  BROKEN_LABEL,
  MAIN_LABEL,
  applyPatches,
  buildSubdirIndex,
  zstdCompress,
  type IndexedPackage,
  type KnownShard,
  type PatchInstructions,
  type SubdirIndexFiles,
} from '@oci-channel/conda';
import type { CachedEntry } from './cache.ts';
import { effectiveLabels, labelsDocument, labelViews, type IndexView, type LabelOps } from './labels.ts';
import { labelBaseUrl } from './names.ts';
import type { StateLayers } from './publish.ts';

/** What reindex knows about labels: every label of the channel and every file's changes. */
export interface LabelState {
  names: Set<string>;
  /** subdir -> filename -> changes. */
  ops: Record<string, Record<string, LabelOps>>;
}

const MAIN_ONLY: readonly string[] = [MAIN_LABEL];

/** A file's labels (the common case, promoted to main and never changed, costs no allocation). */
export function labelsOf(state: LabelState, subdir: string, entry: CachedEntry): readonly string[] {
  const ops = state.ops[subdir]?.[entry.pkg.filename];
  return !entry.label && !ops ? MAIN_ONLY : effectiveLabels(entry.label, ops);
}

/** Whether the file is in the main index (labelled main and not broken). */
export function inMainIndex(state: LabelState, subdir: string, entry: CachedEntry): boolean {
  const labels = labelsOf(state, subdir, entry);
  return labels.includes(MAIN_LABEL) && !labels.includes(BROKEN_LABEL);
}

export interface BuiltSubdir {
  files: SubdirIndexFiles;
  /** Layers of the main manifest beyond the v0 ones. */
  state: StateLayers;
  views: Map<string, IndexView>;
  instructions: PatchInstructions[];
  /** Files every label knows of (the count a published latest is compared with). */
  indexed: number;
  /** Files the main index lists in `removed` (patch removals, broken builds). */
  removed: number;
}

function views(state: LabelState, subdir: string, entries: CachedEntry[]): Map<string, IndexView> {
  return labelViews(
    entries.map((e) => ({ pkg: e.pkg, labels: labelsOf(state, subdir, e) as string[] })),
    state.names,
  );
}

/** The main index's packages, patched (channeldata is made of them). */
export function mainPackages(state: LabelState, subdir: string, entries: CachedEntry[], instructions: PatchInstructions[]): IndexedPackage[] {
  const main = views(state, subdir, entries).get(MAIN_LABEL)!;
  return applyPatches(main.packages, instructions, main.broken).packages;
}

export function buildMainIndex(
  state: LabelState,
  subdir: string,
  entries: CachedEntry[],
  instructions: PatchInstructions[],
  options: { createdAt: string; previousShards?: ReadonlyMap<string, KnownShard> },
): BuiltSubdir {
  const all = entries.map((e) => e.pkg);
  const byLabel = views(state, subdir, entries);
  const main = byLabel.get(MAIN_LABEL)!;
  const patched = applyPatches(main.packages, instructions, main.broken);
  const differs = patched.packages.length !== all.length || patched.removed.length > 0 || patched.packages.some((p) => p.patch !== undefined);
  const files = buildSubdirIndex(subdir, patched.packages, {
    createdAt: options.createdAt,
    removed: patched.removed,
    ...(options.previousShards ? { previousShards: options.previousShards } : {}),
    ...(differs ? { fromPackages: all } : {}),
  });
  const labels = labelsLayer(state, subdir, entries);
  return {
    files,
    state: {
      ...(files.repodataFromPackagesJson ? { fromPackagesZst: zstdCompress(files.repodataFromPackagesJson) } : {}),
      ...(labels ? { labels } : {}),
    },
    views: byLabel,
    instructions,
    indexed: all.length,
    removed: patched.removed.length,
  };
}

/** labels.json of the subdir's main manifest, or undefined when the channel has no labels at all. */
export function labelsLayer(state: LabelState, subdir: string, entries: Iterable<CachedEntry>): Buffer | undefined {
  // Every file with a promotion label or a change, whether indexed yet or not (a change may come before its file).
  const ops = state.ops[subdir] ?? {};
  const labelled = new Map<string, { filename: string; promoted?: string; ops?: LabelOps }>();
  for (const e of entries) if (e.label || ops[e.pkg.filename]) labelled.set(e.pkg.filename, { filename: e.pkg.filename, promoted: e.label, ops: ops[e.pkg.filename] });
  for (const [filename, changes] of Object.entries(ops)) if (!labelled.has(filename)) labelled.set(filename, { filename, ops: changes });
  return state.names.size > 0 || labelled.size > 0 ? labelsDocument(state.names, labelled.values()) : undefined;
}

/** The label indexes of a built subdir (every label of the channel, empty ones too), patched, pointing at `<subdir>/`. */
export function buildLabelIndexes(
  built: BuiltSubdir,
  options: { createdAt: string; previousShards(label: string): ReadonlyMap<string, KnownShard> | undefined },
): Array<{ label: string; files: SubdirIndexFiles }> {
  const out: Array<{ label: string; files: SubdirIndexFiles }> = [];
  for (const [label, view] of [...built.views].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (label === MAIN_LABEL) continue;
    const patched = applyPatches(view.packages, built.instructions, view.broken);
    const previousShards = options.previousShards(label);
    const files = buildSubdirIndex(built.files.subdir, patched.packages, {
      createdAt: options.createdAt,
      removed: patched.removed,
      baseUrl: labelBaseUrl(built.files.subdir),
      ...(previousShards ? { previousShards } : {}),
    });
    out.push({ label, files });
  }
  return out;
}
