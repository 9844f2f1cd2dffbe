// Which index each file is in. A file starts with the label it was promoted to (`main` unless the promotion said
// otherwise); each label change in the label log then sets one (file, label) pair on or off, and the newest change
// of a pair wins (by log tag), so replaying any stretch of the log over a state that already holds it changes
// nothing. A file labelled `broken` leaves every other label's index (listed in its `removed`) and appears only
// under `label/broken`; removing `broken` puts it back where its other labels say.
import { BROKEN_LABEL, MAIN_LABEL, isLabel, type IndexedPackage } from '@oci-channel/conda';

/** label -> [tag of the newest change, on]. */
export type LabelOps = Record<string, [tag: string, on: boolean]>;

/** The labels of a file promoted to `promoted` (default main) after `ops`, sorted. */
export function effectiveLabels(promoted: string | undefined, ops: LabelOps | undefined): string[] {
  const labels = new Set<string>([promoted ?? MAIN_LABEL]);
  for (const [label, [, on]] of Object.entries(ops ?? {})) {
    if (on) labels.add(label);
    else labels.delete(label);
  }
  return [...labels].sort();
}

/** `ops` with the change applied, or undefined when a newer (or the same) change of that label is already there. */
export function applyLabelChange(ops: LabelOps | undefined, label: string, on: boolean, tag: string): LabelOps | undefined {
  const current = ops?.[label];
  if (current && current[0] >= tag) return undefined;
  return { ...ops, [label]: [tag, on] };
}

/** Whether the file is in the default state (promoted to main, never changed): such files are not recorded. */
export function isDefaultState(promoted: string | undefined, ops: LabelOps | undefined): boolean {
  return (promoted === undefined || promoted === MAIN_LABEL) && (ops === undefined || Object.keys(ops).length === 0);
}

export interface IndexView {
  /** `main` (the channel itself) or a label (`label/<label>/...`). */
  label: string;
  packages: IndexedPackage[];
  /** Files of this view marked broken: they go into its `removed`. */
  broken: string[];
}

/** The files of each index: `main` and every label in `names`, broken builds only under `broken`. */
export function labelViews(files: Iterable<{ pkg: IndexedPackage; labels: string[] }>, names: Iterable<string>): Map<string, IndexView> {
  const views = new Map<string, IndexView>();
  const view = (label: string) => {
    let v = views.get(label);
    if (!v) views.set(label, (v = { label, packages: [], broken: [] }));
    return v;
  };
  view(MAIN_LABEL);
  for (const name of names) view(name);
  for (const { pkg, labels } of files) {
    if (labels.includes(BROKEN_LABEL)) {
      view(BROKEN_LABEL).packages.push(pkg);
      for (const label of labels) if (label !== BROKEN_LABEL) view(label).broken.push(pkg.filename);
    } else {
      for (const label of labels) view(label).packages.push(pkg);
    }
  }
  return views;
}

/**
 * labels.json, a layer of the main `repodata.json` manifest: what reindex needs to rebuild the label indexes with a
 * cold cache. `names` are the labels of the whole channel (every subdir gets an index per label); `files` holds
 * only files not in the default state.
 */
export interface LabelsDocument {
  labels_version: 1;
  names: string[];
  files: Record<string, { promoted?: string; ops?: LabelOps }>;
}

export function labelsDocument(names: Iterable<string>, files: Iterable<{ filename: string; promoted?: string; ops?: LabelOps }>): Buffer {
  const out: LabelsDocument['files'] = {};
  for (const f of [...files].sort((a, b) => (a.filename < b.filename ? -1 : 1))) {
    if (isDefaultState(f.promoted, f.ops)) continue;
    const ops = f.ops && Object.keys(f.ops).length > 0 ? Object.fromEntries(Object.entries(f.ops).sort(([a], [b]) => (a < b ? -1 : 1))) : undefined;
    out[f.filename] = { ...(f.promoted && f.promoted !== MAIN_LABEL ? { promoted: f.promoted } : {}), ...(ops ? { ops } : {}) };
  }
  const doc: LabelsDocument = { labels_version: 1, names: [...new Set(names)].sort(), files: out };
  return Buffer.from(`${JSON.stringify(doc)}\n`, 'utf8');
}

/** Parses labels.json written by labelsDocument; anything else is refused (the caller rebuilds from the logs). */
export function parseLabelsDocument(value: unknown, what: string): LabelsDocument {
  const bad = (why: string) => new Error(`${what} ${why}; run a full reindex to rebuild it`);
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw bad('is not a JSON object');
  const doc = value as Partial<LabelsDocument>;
  if (doc.labels_version !== 1) throw bad(`has labels_version ${JSON.stringify(doc.labels_version)}, not 1`);
  if (!Array.isArray(doc.names) || !doc.names.every(isLabel)) throw bad('has a names list that is not labels');
  if (!doc.files || typeof doc.files !== 'object' || Array.isArray(doc.files)) throw bad('has no files map');
  for (const [filename, state] of Object.entries(doc.files)) {
    if (!state || typeof state !== 'object') throw bad(`has no state for ${filename}`);
    if (state.promoted !== undefined && !isLabel(state.promoted)) throw bad(`says ${filename} was promoted to a label that is not one`);
    for (const [label, op] of Object.entries(state.ops ?? {})) {
      if (!isLabel(label) || !Array.isArray(op) || typeof op[0] !== 'string' || typeof op[1] !== 'boolean') throw bad(`has a malformed change of ${filename}`);
    }
  }
  return doc as LabelsDocument;
}
