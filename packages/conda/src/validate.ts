// Checks of a package's info/index.json against its file name, CEP 26 and rattler's record parser.
import { PackageError, errorText } from './errors.ts';
import { buildProblem, isValidSubdir, nameProblem, subdirFromIndex, versionProblem, type PackageFilename } from './names.ts';
import { rattler } from './rattler.ts';

const FIX = 'rebuild the package with a correct info/index.json';

/** Validates index.json; returns the package's subdir (index.json's, derived for very old packages, or `fallbackSubdir`). */
export function validateIndexJson(index: Record<string, unknown>, file: PackageFilename, fallbackSubdir?: string): string {
  const where = file.filename;
  for (const field of ['name', 'version', 'build'] as const) {
    if (typeof index[field] !== 'string') throw new PackageError(where, `info/index.json has no string "${field}"`, FIX);
  }
  const buildNumber = index.build_number;
  if (typeof buildNumber !== 'number' || !Number.isSafeInteger(buildNumber) || buildNumber < 0) {
    throw new PackageError(where, 'info/index.json has no "build_number" (a non-negative integer)', FIX);
  }
  const { name, version, build } = index as { name: string; version: string; build: string };
  if (name !== file.name || version !== file.version || build !== file.build) {
    throw new PackageError(
      where,
      `the file name says ${file.name} ${file.version} ${file.build} but info/index.json says ${name} ${version} ${build}`,
      'name the file after its info/index.json (NAME-VERSION-BUILD)',
    );
  }
  const problem = nameProblem(name) ?? versionProblem(version) ?? buildProblem(build);
  if (problem) throw new PackageError(where, problem, FIX);
  if (index.subdir !== undefined && typeof index.subdir !== 'string') throw new PackageError(where, 'info/index.json "subdir" is not a string', FIX);
  const subdir = subdirFromIndex(index) ?? fallbackSubdir;
  if (subdir === undefined) {
    throw new PackageError(where, 'info/index.json has no "subdir" (nor noarch, nor platform and arch to derive one)', 'rebuild the package, or say which subdir it is for');
  }
  if (!isValidSubdir(subdir)) throw new PackageError(where, `subdir ${JSON.stringify(subdir)} is not a conda subdir (noarch or like linux-64)`, FIX);
  if ((index.noarch === 'python' || index.noarch === 'generic') && subdir !== 'noarch') {
    throw new PackageError(where, `a noarch: ${index.noarch} package must have subdir "noarch", not ${JSON.stringify(subdir)}`, FIX);
  }
  for (const field of ['depends', 'constrains', 'track_features'] as const) {
    const value = index[field];
    if (value === undefined || value === null) continue;
    const ok = field === 'track_features' ? typeof value === 'string' || (Array.isArray(value) && value.every((v) => typeof v === 'string')) : Array.isArray(value) && value.every((v) => typeof v === 'string');
    if (!ok) throw new PackageError(where, `info/index.json "${field}" is not ${field === 'track_features' ? 'a string' : 'a list of strings'}`, FIX);
  }
  if (index.timestamp !== undefined && (typeof index.timestamp !== 'number' || !Number.isFinite(index.timestamp) || index.timestamp < 0)) {
    throw new PackageError(where, 'info/index.json "timestamp" is not a non-negative number', FIX);
  }
  // rattler parses the record as a solver would: versions, match specs' shape, noarch kinds.
  const r = rattler();
  if (!r.isPackageName(name)) throw new PackageError(where, `rattler refuses the package name ${JSON.stringify(name)}`, FIX);
  try {
    new r.Version(version).free();
  } catch (error) {
    throw new PackageError(where, `rattler refuses version ${JSON.stringify(version)}: ${errorText(error)}`, FIX);
  }
  try {
    const record = new r.PackageRecord(withoutNulls({ ...index, subdir }) as never);
    record.free();
  } catch (error) {
    throw new PackageError(where, `rattler refuses info/index.json as a package record: ${errorText(error)}`, FIX);
  }
  return subdir;
}

/** Old conda-build wrote `"arch": null` and the like; a record parser should not see them. */
function withoutNulls(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null));
}
