// The pipeline's public contract: what the CLI and the GitHub Actions pass in and get back.
import type { Store, StoreOptions } from '@oci-channel/oci';
import type { PatchInstructions } from '@oci-channel/conda';

/** A channel: a location string (oci://, oci+http://, oci-layout:) or an opened store. */
export type ChannelInput = string | Store;

export interface ProgressEvent {
  step: 'upload' | 'validate' | 'promote' | 'reindex' | 'gc' | 'download' | 'mirror' | 'label';
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
  /**
   * Artifacts worked on at once; each step's default is in `defaults.ts` (upload and promote 16, validate 8). A
   * store the step opens gets a connection pool sized to it (4 connections per artifact, at most 64).
   */
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

/** How validate and promote verify an upload's GitHub OIDC identity token (docs/pipeline.md, "Identity"). */
export interface IdentityOptions {
  /** The token (a JWT) the upload minted for exactly these artifacts. Never printed. */
  token: string;
  /** The issuer `iss` must equal and whose published keys verify it (default GitHub's Actions issuer). */
  issuer?: string;
  /** GitHub owners whose repositories may publish (at least one). */
  allowedOwners: string[];
  /** Pattern the token's job_workflow_ref must match (`*` = any run of characters), e.g. the reusable upload.yml. */
  allowedWorkflow?: string;
  /** How long after its iat a token is accepted (default 24 h, at most 7 days). */
  maxTokenAgeMs?: number;
}

/** Who uploaded: proved by a verified token, or a name given for local use (unverified). */
export interface UploaderIdentity {
  /** The feedstock name checked against owners (the repository name without -feedstock when verified). */
  name: string;
  verified: boolean;
  /** `owner/name` of the uploading repository (verified only). */
  repository?: string;
  /** The workflow that ran the upload (`job_workflow_ref`), when the token says. */
  workflow?: string;
}

export interface ValidateOptions extends CommonOptions {
  staging: ChannelInput;
  production: ChannelInput;
  artifacts: ArtifactRef[];
  /**
   * A feedstock-outputs checkout: `outputs/<c1>/<c2>/<c3>/<name>.json` with `{"feedstocks": [...]}`, plus the glob
   * patterns of `feedstock_outputs_autoreg_allowlist.yml`.
   */
  owners?: string;
  /** Verify the upload's OIDC token first; the uploader is then the token's repository (`uploader` is ignored). */
  identity?: IdentityOptions;
  /** Who uploaded (feedstock name), checked against owners; for local use: shown as unverified. */
  uploader?: string;
  /**
   * The label the request promotes to (`main` when absent: the channel itself). It is recorded in the promotion
   * log, and reindex puts the artifact into that label's index only.
   */
  label?: string;
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
  /** Who uploaded, verified or not (absent when none was given or the identity token was refused). */
  uploader?: UploaderIdentity;
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

export interface PromoteOptions extends ValidateOptions, VisibilityOptions {
  /**
   * `org.opencontainers.image.source` of the production manifests promote writes: the channel's own repository.
   * What staging says there is never copied (on ghcr.io it would link the production package to that repository).
   */
  sourceUrl?: string;
}

export interface PromoteResult {
  ok: boolean;
  artifacts: PromotedArtifact[];
  /** Who uploaded, verified or not (absent when none was given or the identity token was refused). */
  uploader?: UploaderIdentity;
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
  /** Subdirs to index; default every subdir the channel has, plus noarch. Each must be a known conda platform. */
  subdirs?: string[];
  /** Subdirs admitted in `subdirs` although conda and rattler do not know them (a new platform). */
  allowSubdirs?: string[];
  /** Rebuild from listing production instead of the promotion log. */
  full?: boolean;
  /** Also write the whole index as a static channel tree here. */
  out?: string;
  /** Record cache keyed by manifest digest (the CLI's default is under the user's cache dir). */
  cacheDir?: string;
  /** Clock, for tests. */
  now?: () => Date;
  /**
   * Repodata patches, applied as conda-index applies them: a patches package (.conda or .tar.bz2 holding
   * `<subdir>/patch_instructions.json`) given as a file path or as `SUBDIR/FILENAME` of an artifact of the channel.
   */
  patchGenerator?: string;
  /** The newest build of this package in the channel's noarch as the patches package (e.g. conda-forge-repodata-patches). */
  patchPackage?: string;
  /** A directory holding `<subdir>/patch_instructions.json` files, applied after the patches package. */
  patchInstructions?: string;
}

export interface SubdirIndex {
  subdir: string;
  packages: number;
  /** Packages indexed for the first time in this run. */
  added: number;
  repodataDigest: string;
  /** Tags the repodata manifest was pushed under (latest + timestamp), or [] when nothing changed. */
  tags: string[];
  /** Files left out of the main index by patches or marked broken (its `removed`). */
  removed?: number;
  /** Label indexes of this subdir (`label/<label>/<subdir>`): packages in each and whether this run pushed it. */
  labels?: Array<{ label: string; packages: number; pushed: boolean }>;
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
   * gc refuses a channel holding a promotion log or a channel index (a production channel, where it would delete
   * every package) unless this is true.
   */
  allowProduction?: boolean;
  /**
   * Where the registry has no DELETE (ghcr.io): the GitHub Packages REST API. `reserve`: REST requests left
   * unspent for the token's other work (default 25); gc stops before a package when the budget is down to it.
   */
  github?: { token: string; apiUrl?: string; owner: string; ownerType?: 'org' | 'user'; reserve?: number };
  now?: () => Date;
}

export interface GcResult {
  ok: boolean;
  /** What was deleted (or, in a dry run, would be) and why. */
  deleted: Array<{ repository: string; tag?: string; digest: string; ageMs: number; dryRun: boolean; reason: string }>;
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

export interface MirrorOptions extends CommonOptions {
  /** The channel to copy: an http(s) conda channel URL (anaconda.org, a static tree) or an oci-channel location. */
  from: string;
  /** Where to put it: a staging channel (validate/promote then apply), or production with `production`. */
  to: ChannelInput;
  /** Subdirs to mirror; default every subdir upstream's channeldata.json lists. */
  subdirs?: string[];
  /** Package name globs (`*`, `?`, `[...]`, as fnmatch); default every name. */
  packages?: string[];
  /** Only files whose record timestamp is at or after this time. */
  since?: Date;
  /** Read and compare only: list what would be mirrored, transfer and write nothing. */
  dryRun?: boolean;
  /**
   * `to` is the production channel (the bootstrap): each mirrored file is recorded in its promotion log so
   * reindex sees it like a promotion, and every package is read in full first (validate does not run).
   */
  production?: boolean;
  /**
   * Into production (default true there): keep upstream's patched records as the channel's own patch
   * instructions (`<subdir>/patch_instructions.json:latest`), so reindex serves upstream's records. false: write
   * none (a channel indexed with its patches package, `reindex --patch-package`). Never written into staging
   * or by a dry run: the result reports them.
   */
  patches?: boolean;
  /** Put files upstream no longer lists into that subdir's patch instructions' `remove` list (they are reported anyway). */
  applyRemovals?: boolean;
  /**
   * Files compared between two checkpoints (default 2000; at most 5 minutes apart): each checkpoint writes the
   * patch instructions of what it compared, then records those files in the promotion log.
   */
  checkpointFiles?: number;
  /** Options for an oci-channel `from` (credentials, concurrency); `storeOptions` are the destination's. */
  fromStoreOptions?: StoreOptions;
  /** HTTP upstream: per-request timeout without progress, ms (default 60 s). */
  upstreamTimeoutMs?: number;
}

export interface MirroredArtifact {
  subdir: string;
  filename: string;
  /** sha256 and size upstream's record gives. */
  sha256: string;
  size: number;
  /** `would-mirror`: a dry run's answer for a file the destination lacks. */
  status: 'mirrored' | 'would-mirror' | 'refused' | 'failed';
  /** Why it was refused or failed, one line naming the side (upstream or destination). */
  reason?: string;
  repository?: string;
  tag?: string;
  manifestDigest?: string;
}

export interface MirrorResult {
  ok: boolean;
  /** Every selected file the destination did not hold already (those are only counted), by subdir/filename. */
  artifacts: MirroredArtifact[];
  /** Files the destination's index serves that upstream no longer lists (reported; see applyRemovals). */
  removedUpstream: Array<{ subdir: string; filename: string }>;
  /**
   * Per subdir where upstream's records differ from the packages' (or the stored instructions changed): what
   * was done with upstream's patched records. Subdirs with nothing to patch are left out.
   */
  patches: MirrorPatchReport[];
  /** Per subdir: the index format read and how many files the filters selected. */
  subdirs: Array<{ subdir: string; format: string; selected: number }>;
  summary: { selected: number; mirrored: number; alreadyThere: number; refused: number; failed: number; removedUpstream: number; bytes: number };
  /** Whole-subdir failures (upstream index unreadable, destination unreachable), one line each. */
  errors: string[];
}

/** One subdir's upstream patches in a mirror run. */
export interface MirrorPatchReport {
  subdir: string;
  /**
   * `written`: the channel's patch instructions were updated (`digest`); `unchanged`: they already said this;
   * `not-written`: staging, a dry run or `patches: false` (`instructions` holds what the files compared would
   * need); `failed`: they could not be updated (see errors; the files they cover were not logged).
   */
  status: 'written' | 'unchanged' | 'not-written' | 'failed';
  /** Files compared in this run whose upstream record differs from their package's record. */
  patched: number;
  /** Entries this run added, changed or dropped in the channel's instructions (0 when nothing was written). */
  changed: number;
  /** Records the channel's instructions patch now (written or unchanged). */
  records?: number;
  /** The manifest of `<subdir>/patch_instructions.json:latest` afterwards. */
  digest?: string;
  /** not-written: patch instructions (conda-index's shape) for the files compared in this run. */
  instructions?: PatchInstructions;
  /**
   * Differences instructions cannot express, `filename: field` (a `null` upstream sets where the package has a
   * value; a field that says which file a record is). Those records stay as their package gives them.
   */
  unrepresentable: string[];
}

export interface LabelOptions extends CommonOptions {
  /** The production channel. */
  channel: ChannelInput;
  /** Promoted artifacts to change (a declared sha256 must match production). */
  artifacts: ArtifactRef[];
  /** Labels to add (`broken` marks a build broken). */
  add?: string[];
  /** Labels to remove (`broken` unmarks). */
  remove?: string[];
  /** Who asks for the change: recorded with it (default GITHUB_ACTOR, else the login name). */
  actor?: string;
  /** Why (an issue link, a sentence): recorded with it. */
  reason?: string;
  now?: () => Date;
}

export interface LabeledArtifact {
  subdir: string;
  filename: string;
  sha256?: string;
  /** `changed`: at least one change recorded; `unchanged`: it already had exactly that; `refused`: nothing recorded. */
  status: 'changed' | 'unchanged' | 'refused';
  /** Its labels after this run (main, rc, broken, ...). */
  labels?: string[];
  /** The changes recorded in the label log, e.g. `add broken`. */
  recorded?: string[];
  reason?: string;
}

export interface LabelResult {
  ok: boolean;
  artifacts: LabeledArtifact[];
}
