// Conda naming rules: filenames, subdirs and the CEP 26 limits on names, versions and builds.
import { PackageError } from './errors.ts';

export type PackageFormat = 'conda' | 'tar.bz2';

export interface PackageFilename {
  name: string;
  version: string;
  build: string;
  format: PackageFormat;
  filename: string;
}

/** `name-version-build.conda|.tar.bz2`, split the conda way: rsplit on '-' into 3 (names may hold '-'). */
export function parsePackageFilename(filename: string): PackageFilename {
  const format: PackageFormat | undefined = filename.endsWith('.conda') ? 'conda' : filename.endsWith('.tar.bz2') ? 'tar.bz2' : undefined;
  const fix = 'name it NAME-VERSION-BUILD.conda or NAME-VERSION-BUILD.tar.bz2';
  if (!format) throw new PackageError(filename, 'not a conda package file name (it must end in .conda or .tar.bz2)', fix);
  if (/[/\\\0]/.test(filename)) throw new PackageError(filename, 'a package file name cannot hold a path separator', fix);
  const stem = filename.slice(0, -(format.length + 1));
  const buildDash = stem.lastIndexOf('-');
  const versionDash = buildDash > 0 ? stem.lastIndexOf('-', buildDash - 1) : -1;
  if (versionDash <= 0) throw new PackageError(filename, 'the file name does not split into name, version and build', fix);
  const name = stem.slice(0, versionDash);
  const version = stem.slice(versionDash + 1, buildDash);
  const build = stem.slice(buildDash + 1);
  if (!name || !version || !build) throw new PackageError(filename, 'the file name has an empty name, version or build', fix);
  return { name, version, build, format, filename };
}

export function packageFilename(name: string, version: string, build: string, format: PackageFormat): string {
  return `${name}-${version}-${build}.${format}`;
}

/** CEP 26: `noarch` or `os-arch` in lower-case letters and digits (linux-64, osx-arm64, emscripten-wasm32). */
export function isValidSubdir(subdir: string): boolean {
  return subdir === 'noarch' || /^[a-z0-9]+-[a-z0-9]+$/.test(subdir);
}

/**
 * The platforms conda and rattler know (rattler's `platformNames` without `unknown`, which includes conda's
 * KNOWN_SUBDIRS), plus noarch. A subdir outside this list is almost always a typo (linux-46); test/conda/names.test.ts
 * keeps it equal to the rattler in use.
 */
export const KNOWN_SUBDIRS: readonly string[] = [
  'noarch',
  'linux-32',
  'linux-64',
  'linux-aarch64',
  'linux-armv6l',
  'linux-armv7l',
  'linux-loong64',
  'linux-ppc64le',
  'linux-ppc64',
  'linux-ppc',
  'linux-s390x',
  'linux-riscv32',
  'linux-riscv64',
  'freebsd-64',
  'osx-64',
  'osx-arm64',
  'win-32',
  'win-64',
  'win-arm64',
  'emscripten-wasm32',
  'wasi-wasm32',
  'zos-z',
];

export function isKnownSubdir(subdir: string): boolean {
  return KNOWN_SUBDIRS.includes(subdir);
}

const NAME_RE = /^(([a-z0-9])|([a-z0-9_](?!_)))[._-]?([a-z0-9]+(\.|-|_|$))*$/;
const VERSION_RE = /^[0-9a-z._+!]+$/;
const BUILD_RE = /^[a-zA-Z0-9_.+]+$/;

/** Why `name` breaks CEP 26, or undefined when it does not. */
export function nameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > 64) return `package name ${JSON.stringify(name)} must be 1 to 64 characters`;
  if (!NAME_RE.test(name)) return `package name ${JSON.stringify(name)} breaks CEP 26 (lower-case letters, digits and single . - _ separators)`;
  return undefined;
}

export function versionProblem(version: string): string | undefined {
  if (version.length === 0 || version.length > 64) return `version ${JSON.stringify(version)} must be 1 to 64 characters`;
  if (!VERSION_RE.test(version)) return `version ${JSON.stringify(version)} may only hold 0-9 a-z . _ + ! (CEP 26)`;
  return undefined;
}

export function buildProblem(build: string): string | undefined {
  if (build.length === 0 || build.length > 64) return `build string ${JSON.stringify(build)} must be 1 to 64 characters`;
  if (!BUILD_RE.test(build)) return `build string ${JSON.stringify(build)} may only hold letters, digits, _ . + (CEP 26)`;
  return undefined;
}

const ARCH_BITS: Record<string, string> = { x86_64: '64', x86: '32' };

/**
 * The subdir of a package whose index.json has none (very old packages): `noarch` for noarch packages,
 * else from `platform` + `arch` the way conda names them (osx + x86_64 -> osx-64). Undefined when unknown.
 */
export function subdirFromIndex(index: Record<string, unknown>): string | undefined {
  if (typeof index.subdir === 'string') return index.subdir;
  if (index.noarch === 'python' || index.noarch === 'generic') return 'noarch';
  const { platform, arch } = index;
  if (typeof platform !== 'string' || typeof arch !== 'string' || !platform || !arch) return undefined;
  const subdir = `${platform}-${ARCH_BITS[arch] ?? arch}`;
  return isValidSubdir(subdir) ? subdir : undefined;
}
