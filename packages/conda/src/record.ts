// Repodata records, exactly as conda-index writes them for a package file.
import type { PackageInfo } from './read.ts';

export type RepodataRecord = Record<string, unknown>;

/** index.json fields conda-index leaves out of repodata records. */
export const STRIPPED_RECORD_FIELDS = ['arch', 'has_prefix', 'mtime', 'platform', 'ucs', 'requires_features', 'binstar', 'target-triplet', 'machine', 'operatingsystem'] as const;

/**
 * index.json minus the stripped fields, plus md5, sha256 and size, keys sorted as conda-index's
 * `json.dumps(sort_keys=True)` writes them. Fields index.json does not have are not invented.
 */
export function recordFromIndexJson(indexJson: Record<string, unknown>, file: { sha256: string; md5: string; size: number }): RepodataRecord {
  const record: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(indexJson)) {
    if (!(STRIPPED_RECORD_FIELDS as readonly string[]).includes(key)) record[key] = value;
  }
  record.md5 = file.md5;
  record.sha256 = file.sha256;
  record.size = file.size;
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function recordFromPackage(pkg: PackageInfo): RepodataRecord {
  return recordFromIndexJson(pkg.indexJson, pkg);
}
