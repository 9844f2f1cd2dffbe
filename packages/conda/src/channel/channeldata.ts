// channeldata.json (CEP 38) at the channel root and run_exports.json (CEP 12) per subdir.
import { sortedByFilename, type IndexedPackage } from './records.ts';
import { serializeCanonical, canonicalize } from './json.ts';
import { packageMapFile } from './repodata.ts';
import { newestVersion } from './version.ts';
import { POST_INSTALL_FLAGS } from '../read.ts';

/**
 * about.json fields channeldata carries, null when the newest package does not say: conda-index's
 * CHANNELDATA_FIELDS, with the icon fields and without license_family (which read.ts's CHANNEL_ABOUT_FIELDS keep
 * in the manifest's about annotation).
 */
const ABOUT_FIELDS = [
  'description',
  'dev_url',
  'doc_source_url',
  'doc_url',
  'home',
  'icon_hash',
  'icon_url',
  'identifiers',
  'keywords',
  'license',
  'recipe_origin',
  'source_git_url',
  'source_url',
  'summary',
  'tags',
] as const;

export interface ChannelSubdir {
  subdir: string;
  packages: Iterable<IndexedPackage>;
}

/**
 * channeldata.json for a whole channel: every subdir (empty ones too) and, per package name, the data of its
 * newest version (conda's version order, then newest build timestamp), run_exports by version, and the
 * newest timestamp in SECONDS.
 */
export function channelDataJson(
  subdirs: ChannelSubdir[],
  options: {
    /** A previous channeldata.json's packages: about fields for names whose newest package carries none. */
    previous?: Record<string, Record<string, unknown>>;
  } = {},
): string {
  interface Group {
    subdirs: Set<string>;
    packages: IndexedPackage[];
  }
  const groups = new Map<string, Group>();
  for (const { subdir, packages } of subdirs) {
    for (const pkg of packages) {
      const name = pkg.record.name;
      let group = groups.get(name);
      if (!group) groups.set(name, (group = { subdirs: new Set(), packages: [] }));
      group.subdirs.add(subdir);
      group.packages.push(pkg);
    }
  }
  const out: Record<string, unknown> = {};
  for (const name of [...groups.keys()].sort()) {
    const group = groups.get(name)!;
    const version = newestVersion(group.packages.map((p) => p.record.version)) ?? '';
    let newest: IndexedPackage | undefined;
    let timestampMs = 0;
    const runExports: Record<string, unknown> = {};
    // Deterministic whatever the input order: later filenames win ties.
    for (const pkg of sortedByFilename(group.packages)) {
      const t = typeof pkg.record.timestamp === 'number' ? pkg.record.timestamp : 0;
      timestampMs = Math.max(timestampMs, t);
      if (pkg.record.version === version && (!newest || t >= ((newest.record.timestamp as number | undefined) ?? 0))) {
        newest = pkg;
      }
      if (pkg.runExports && Object.keys(pkg.runExports).length > 0) runExports[pkg.record.version] = pkg.runExports;
    }
    const entry: Record<string, unknown> = {};
    const previous = options.previous?.[name];
    const about = newest?.about ?? (previous && previous.version === version ? previous : {});
    for (const field of ABOUT_FIELDS) entry[field] = about[field] ?? null;
    // The package-content flags read.ts found in info/paths.json; false when the index does not know them.
    for (const field of POST_INSTALL_FLAGS) entry[field] = about[field] === true;
    entry.run_exports = runExports;
    entry.subdirs = [...group.subdirs].sort();
    // conda-index stores seconds here (repodata has ms); old packages may already be in seconds.
    entry.timestamp = timestampMs > 1e11 ? Math.floor(timestampMs / 1000) : Math.floor(timestampMs);
    entry.version = version;
    out[name] = entry;
  }
  const allSubdirs = [...new Set(subdirs.map((s) => s.subdir))].sort();
  return serializeCanonical(canonicalize({ channeldata_version: 1, packages: out, subdirs: allSubdirs }));
}

const NO_RUN_EXPORTS = Object.freeze({ run_exports: Object.freeze({}) });

/** run_exports.json of one subdir (CEP 12) as bytes: every file, `{}` for packages without run_exports. */
export function runExportsJsonBytes(subdir: string, packages: Iterable<IndexedPackage>, options: { sorted?: boolean } = {}): Buffer {
  const list = options.sorted ? Array.from(packages) : sortedByFilename(packages);
  return packageMapFile(subdir, list, (pkg) => (pkg.runExports && Object.keys(pkg.runExports).length > 0 ? { run_exports: pkg.runExports } : NO_RUN_EXPORTS), '');
}

/** run_exports.json of one subdir (CEP 12): every file, `{}` for packages without run_exports. */
export function runExportsJson(subdir: string, packages: Iterable<IndexedPackage>, options: { sorted?: boolean } = {}): string {
  return runExportsJsonBytes(subdir, packages, options).toString('latin1');
}
