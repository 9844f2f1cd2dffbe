// The pipeline's public contract: what the CLI and the GitHub Actions pass in and get back.
import type { Store, StoreOptions } from '@oci-channel/oci';

/** A channel: a location string (oci://, oci+http://, oci-layout:) or an opened store. */
export type ChannelInput = string | Store;

export interface ProgressEvent {
  step: 'upload' | 'validate' | 'promote' | 'reindex' | 'gc' | 'download';
  /** `subdir/filename` when the event is about one artifact. */
  artifact?: string;
  message: string;
  bytes?: number;
  totalBytes?: number;
}
export type Progress = (event: ProgressEvent) => void;

export interface CommonOptions {
  /** Options for stores opened from location strings (credentials, concurrency, retries). */
  storeOptions?: StoreOptions;
  /** Separate options per side, for steps that hold two channels with different tokens. */
  stagingStoreOptions?: StoreOptions;
  productionStoreOptions?: StoreOptions;
  progress?: Progress;
  /** Parallel artifacts (default 8). */
  concurrency?: number;
  signal?: AbortSignal;
}

/** `subdir/filename`, optionally with the sha256 the uploader declared. */
export interface ArtifactRef {
  subdir: string;
  filename: string;
  sha256?: string;
}

export interface UploadedArtifact {
  subdir: string;
  filename: string;
  sha256: string;
  md5: string;
  size: number;
  /** Repository (relative to the channel path) and tag it is under. */
  repository: string;
  tag: string;
  manifestDigest: string;
  /** `unchanged` when the identical package was already there. */
  status: 'uploaded' | 'unchanged';
}

export interface UploadOptions extends CommonOptions {
  to: ChannelInput;
  files: string[];
  /** Recorded in the manifest (org.opencontainers.image.source). */
  sourceUrl?: string;
  /** .conda files larger than this are hashed while they are sent, in one pass (default 64 MiB; tests lower it). */
  hashWhileSendingAboveBytes?: number;
}

export interface UploadResult {
  ok: boolean;
  artifacts: UploadedArtifact[];
  /** Files refused (corrupt, bad name, different package already at the tag), with one-line reasons. */
  errors: Array<{ file: string; error: string }>;
}

export interface Check {
  /** Stable identifier, e.g. `manifest-shape`, `sha256`, `package`, `info-layers`, `owner`, `production-conflict`. */
  name: string;
  ok: boolean;
  detail?: string;
}

export type VerdictStatus = 'passed' | 'failed';

export interface ArtifactVerdict {
  subdir: string;
  filename: string;
  /** Declared sha256 (from the request), if any. */
  sha256?: string;
  /** The staging manifest digest the verdict is about. */
  manifestDigest?: string;
  size?: number;
  verdict: VerdictStatus;
  checks: Check[];
  /** First failed check's detail, one line. */
  reason?: string;
  /** Digest of the verdict referrer recorded on the staging manifest. */
  verdictDigest?: string;
}

export interface ValidateOptions extends CommonOptions {
  staging: ChannelInput;
  production: ChannelInput;
  artifacts: ArtifactRef[];
  /** A feedstock-outputs checkout: `outputs/<c1>/<c2>/<c3>/<name>.json` with `{"feedstocks": [...]}`. */
  owners?: string;
  /** Who uploaded (feedstock name), checked against owners. */
  uploader?: string;
  /**
   * HMAC-SHA256 key held by the channel admins (default: the OCI_CHANNEL_VERDICT_KEY environment variable;
   * '' = none). validate signs verdicts with it; promote trusts only verdicts signed with it, and with no key
   * trusts no recorded verdict at all (it validates every artifact itself). At least 32 characters.
   */
  verdictKey?: string;
}

export interface ValidateResult {
  ok: boolean;
  artifacts: ArtifactVerdict[];
}

/** The GitHub Packages REST API for a ghcr.io channel: who owns the packages, and a token that can read them. */
export interface GithubPackagesAccess {
  token: string;
  /** Default GITHUB_API_URL, else https://api.github.com. */
  apiUrl?: string;
  /** The organisation or user the channel's packages belong to (ghcr.io/<owner>/...). */
  owner: string;
  ownerType?: 'org' | 'user';
}

/**
 * Reading the visibility of the packages a step creates (promote: a new package name; reindex: the first push of an
 * index repository), where `github` is given: 'warn' (the default then) reports a private one with the fix,
 * 'fail' also makes the result not ok, 'off' does not look.
 */
export interface VisibilityOptions {
  github?: GithubPackagesAccess;
  visibilityCheck?: 'fail' | 'warn' | 'off';
}

/** A production package anonymous conda clients cannot read, and the fix. */
export interface PrivatePackage {
  repository: string;
  visibility: 'private' | 'internal' | 'unknown';
  fix: string;
}

export interface PromotedArtifact extends ArtifactVerdict {
  status: 'promoted' | 'already-promoted' | 'rejected' | 'failed';
  productionDigest?: string;
  /** Whether the staging copy was removed (false where the registry cannot delete: left to gc). */
  stagingRemoved?: boolean;
}

export type PromoteOptions = ValidateOptions & VisibilityOptions;

export interface PromoteResult {
  ok: boolean;
  artifacts: PromotedArtifact[];
  /**
   * Blob bytes streamed registry to registry because the registry did not mount them (ghcr.io never mounts;
   * on one registry that mounts this is 0).
   */
  streamedBytes?: number;
  /** New production packages that are not public (see VisibilityOptions). */
  privatePackages?: PrivatePackage[];
}

export interface ReindexOptions extends CommonOptions, VisibilityOptions {
  channel: ChannelInput;
  /** Subdirs to index; default every subdir the channel has, plus noarch. */
  subdirs?: string[];
  /** Rebuild from listing production instead of the promotion log. */
  full?: boolean;
  /** Also write the whole index as a static channel tree here. */
  out?: string;
  /** Record cache keyed by manifest digest (the CLI's default is under the user's cache dir). */
  cacheDir?: string;
  /** Clock, for tests. */
  now?: () => Date;
}

export interface SubdirIndex {
  subdir: string;
  packages: number;
  /** Packages indexed for the first time in this run. */
  added: number;
  repodataDigest: string;
  /** Tags the repodata manifest was pushed under (latest + timestamp), or [] when nothing changed. */
  tags: string[];
}

export interface ReindexResult {
  ok: boolean;
  subdirs: SubdirIndex[];
  /** Registry requests made, for reports and benchmarks. */
  requests?: number;
  /** One line per artifact or file that could not be indexed or published (ok is false then). */
  errors?: string[];
  /** Index repositories pushed for the first time that are not public (see VisibilityOptions). */
  privatePackages?: PrivatePackage[];
}

export interface GcOptions extends CommonOptions {
  channel: ChannelInput;
  /** Delete staging artifacts older than this many milliseconds that were not promoted. */
  olderThanMs: number;
  dryRun?: boolean;
  /**
   * Where the registry has no DELETE (ghcr.io): the GitHub Packages REST API. `reserve`: REST requests left
   * unspent for the token's other work (default 25); gc stops before a package when the budget is down to it.
   */
  github?: { token: string; apiUrl?: string; owner: string; ownerType?: 'org' | 'user'; reserve?: number };
  now?: () => Date;
}

export interface GcResult {
  ok: boolean;
  deleted: Array<{ repository: string; tag?: string; digest: string; ageMs: number; dryRun: boolean }>;
  errors: Array<{ repository: string; error: string }>;
  /** Set when gc stopped before the end to keep the GitHub API budget's reserve: why, and that the next run continues. */
  stoppedEarly?: string;
}

export interface DownloadOptions extends CommonOptions {
  channel: ChannelInput;
  artifact: ArtifactRef;
  output: string;
}

export interface DownloadResult {
  path: string;
  sha256: string;
  size: number;
}
