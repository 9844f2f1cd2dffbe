// Caps applied while reading a package: an archive can claim or unpack to anything, so every count is bounded.

export interface PackageLimits {
  /** Size of the package file. */
  maxPackageBytes: number;
  /** Bytes unpacked from the whole archive (every member of every inner tar), counted while streaming. */
  maxUnpackedBytes: number;
  /** Unpacked / packed ratio allowed once more than `ratioFloorBytes` were unpacked (bombs). */
  maxCompressionRatio: number;
  ratioFloorBytes: number;
  /** Bytes of all `info/` members together (they are kept in memory to build info.tar.gz). */
  maxInfoBytes: number;
  /** info/index.json */
  maxIndexJsonBytes: number;
  /** Any other JSON or YAML metadata that is parsed (about.json, run_exports.json, paths.json, meta.yaml, metadata.json). */
  maxMetadataBytes: number;
  /** Archive members (tar entries) in the whole package. */
  maxMembers: number;
}

export const DEFAULT_PACKAGE_LIMITS: Readonly<PackageLimits> = Object.freeze({
  maxPackageBytes: 16 * 2 ** 30,
  maxUnpackedBytes: 64 * 2 ** 30,
  maxCompressionRatio: 1000,
  ratioFloorBytes: 256 * 2 ** 20,
  maxInfoBytes: 256 * 2 ** 20,
  maxIndexJsonBytes: 1 * 2 ** 20,
  maxMetadataBytes: 64 * 2 ** 20,
  maxMembers: 2_000_000,
});

export function packageLimits(overrides: Partial<PackageLimits> = {}): PackageLimits {
  const limits = { ...DEFAULT_PACKAGE_LIMITS };
  for (const [key, value] of Object.entries(overrides) as Array<[keyof PackageLimits, number | undefined]>) {
    if (value !== undefined) limits[key] = value;
  }
  return limits;
}
