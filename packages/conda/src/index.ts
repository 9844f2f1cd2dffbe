export { PackageError } from './errors.ts';
export { DEFAULT_PACKAGE_LIMITS, packageLimits, type PackageLimits } from './limits.ts';
export { BROKEN_LABEL, LABEL_PATTERN, MAIN_LABEL, MAX_LABEL_LENGTH, isLabel, labelProblem, parseLabel, type Label } from './label.ts';
export { isKnownSubdir, isValidSubdir, KNOWN_SUBDIRS, packageFilename, parsePackageFilename, subdirFromIndex, type PackageFilename, type PackageFormat } from './names.ts';
export {
  CHANNEL_ABOUT_FIELDS,
  POST_INSTALL_FLAGS,
  hashPackageFile,
  readPackage,
  readPackageUnhashed,
  type PackageInfo,
  type ReadPackageOptions,
  type UnhashedPackageInfo,
} from './read.ts';
export {
  Annotation,
  CondaMediaType,
  PACKAGE_CONFIG,
  buildPackageManifest,
  creationTime,
  decodeTag,
  describePackageManifest,
  encodeTag,
  inlineDataMatches,
  INLINE_INDEX_JSON_BYTES,
  packageRepository,
  type BuiltPackageManifest,
  type PackageManifestOptions,
  type PackageManifestView,
} from './layout.ts';
export { STRIPPED_RECORD_FIELDS, recordFromIndexJson, recordFromPackage, type RepodataRecord } from './record.ts';
export { buildInfoTarGz } from './info-tar.ts';
export { rattler } from './rattler.ts';
export {
  buildPackage,
  bzip2To,
  defaultBuild,
  randomStream,
  tarStreamOf,
  writeConda,
  writeTarBz2,
  writeZip,
  zstdTo,
  type BuildOptions,
  type PackageSpec,
  type TarMember,
  type ZipMember,
} from './build.ts';
export * from './channel/index.ts';
export { canonicalManifestDifference, withChannelSource } from './canonical.ts';
export { MAX_PATCH_INSTRUCTIONS_BYTES, readPatchesPackage, type PatchesPackage, type SubdirPatch } from './patches-package.ts';
