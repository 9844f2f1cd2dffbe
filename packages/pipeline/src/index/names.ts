// Names and media types of the channel index in the registry (v0 layout + this project's additions,
// see docs/index-layout.md). The package-side rules mirror @oci-channel/conda's; kept here so reindex
// only needs what the v0 layout itself fixes.

export const IndexMediaType = {
  PackageV1: 'application/vnd.conda.package.v1',
  PackageV2: 'application/vnd.conda.package.v2',
  InfoTarGz: 'application/vnd.conda.info.v1.tar+gzip',
  InfoIndex: 'application/vnd.conda.info.index.v1+json',
  Repodata: 'application/vnd.conda.repodata.v1+json',
  RepodataZst: 'application/vnd.conda.repodata.v1+json+zst',
  /** The open conda-oci-mirror proposal's shard index layer of `repodata.json:latest`. */
  ShardIndex: 'application/vnd.conda.repodata.shards.v1+msgpack+zstd',
  /** One shard (this project's name, beside the proposal's index type). */
  Shard: 'application/vnd.conda.repodata.shard.v1+msgpack+zstd',
  RunExports: 'application/vnd.conda.run-exports.v1+json',
  ChannelData: 'application/vnd.conda.channeldata.v1+json',
  /** repodata_from_packages.json, zstd: every file of the subdir before patches and labels (this project's type). */
  RepodataFromPackagesZst: 'application/vnd.oci-channel.repodata-from-packages.v1+json+zst',
  /** labels.json: the labels of the subdir's files that are not simply `main` (index/labels.ts). */
  Labels: 'application/vnd.oci-channel.labels.v1+json',
  /** v0 config of package and repodata manifests: the empty blob. */
  UnknownConfig: 'application/vnd.unknown.config.v1+json',
} as const;

export const SHARDS_ARTIFACT_TYPE = 'application/vnd.oci-channel.shards.v1';
export const TITLE = 'org.opencontainers.image.title';
export const CREATED = 'org.opencontainers.image.created';
/** The newest promotion log tag the repodata includes: where a reindex with a cold cache resumes. */
export const PROMOTION_MARK = 'org.oci-channel.promotion-mark';
export const MD5 = 'org.conda.md5';
/** The newest label log tag the repodata includes. */
export const LABEL_MARK = 'org.oci-channel.label-mark';
/** Key of the patch instructions the repodata was built with, and the patches package it came from. */
export const PATCHES = 'org.oci-channel.patches';
export const PATCH_SOURCE = 'org.oci-channel.patch-source';

/** Repository of a label index of a subdir: `label/<label>/<subdir>/repodata.json` (as conda's `.../label/rc` URLs). */
export function labelRepodataRepository(label: string, subdir: string): string {
  return `label/${label}/${subdir}/repodata.json`;
}

/** CEP 15 base_url of a label index: the packages stay in `<subdir>/` of the channel, three levels up. */
export function labelBaseUrl(subdir: string): string {
  return `../../../${subdir}/`;
}

/** Repository of a subdir's repodata (and its shards). */
export function repodataRepository(subdir: string): string {
  return `${subdir}/repodata.json`;
}

/** channeldata.json lives at the channel root: one path component with a '.', never a subdir or package. */
export const CHANNELDATA_REPOSITORY = 'channeldata.json';

/** CEP 26: `noarch` or `os-arch`. */
export function isSubdirName(value: string): boolean {
  return value === 'noarch' || /^[a-z0-9]+-[a-z0-9]+$/.test(value);
}

/** v0: `<subdir>/<name>`, with `zzz` before names that start with `_`. */
export function packageRepositoryName(subdir: string, name: string): string {
  return `${subdir}/${name.startsWith('_') ? `zzz${name}` : name}`;
}

/** The package name a v0 package repository holds (undoes the zzz rule). */
export function nameOfPackageRepository(component: string): string {
  return component.startsWith('zzz_') ? component.slice(3) : component;
}

/** `<subdir>/<name>`: a v0 package repository (not an index repository under a subdir). */
export function isPackageRepository(name: string): boolean {
  const parts = name.split('/');
  return parts.length === 2 && isSubdirName(parts[0]!) && !isIndexComponent(parts[1]!);
}

/** `<subdir>/repodata.json`: where reindex publishes a subdir's index. */
export function isRepodataRepository(name: string): boolean {
  const parts = name.split('/');
  return parts.length === 2 && isSubdirName(parts[0]!) && parts[1] === repodataRepository('x').slice(2);
}

/** Index repositories under a subdir, which are not package repositories. */
export function isIndexComponent(component: string): boolean {
  return component === 'repodata.json' || component.endsWith('.json') || component.endsWith('.zst');
}

/** `YYYY.MM.DD.HH.MM` as v0 asks, plus seconds and milliseconds so two reindexes in a minute do not collide. */
export function timestampTag(at: Date): string {
  const iso = at.toISOString(); // 2026-11-22T19:23:30.123Z
  return `${iso.slice(0, 4)}.${iso.slice(5, 7)}.${iso.slice(8, 10)}.${iso.slice(11, 13)}.${iso.slice(14, 16)}.${iso.slice(17, 19)}.${iso.slice(20, 23)}`;
}

/**
 * Promotion log entries are tagged with the promoter's clock before they are pushed: one written a little
 * late can sort before the mark another reindex already stored. Tags this far behind the mark are looked at
 * again (known files are skipped by the hash in the tag, without a request).
 */
export const LOG_REWIND_MS = 10 * 60 * 1000;

/** The log tag prefix LOG_REWIND_MS before `mark` ('' when the mark is not a log tag: read everything). */
export function rewindMark(mark: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{3})-/.exec(mark);
  if (!m) return '';
  const at = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!) - LOG_REWIND_MS;
  return new Date(at).toISOString().slice(0, 23).replace(/[-:T.]/g, '');
}

