// The channel a mirror reads from, behind one interface: an HTTP(S) conda channel (anaconda.org, a static file
// server, a `reindex --out` tree) or another oci-channel location. It says which subdirs there are, lists one
// subdir's records (only the package names asked for, where the index format allows), and streams one
// package's bytes to a file. Checking those bytes against the record is the mirror's job, not the reader's.
import type { StoreOptions } from '@oci-channel/oci';
import { openHttpUpstream } from './http.ts';
import { openOciUpstream } from './oci.ts';

export { UpstreamError, WrongBytesError } from './records.ts';

/** One package file upstream lists. */
export interface UpstreamFile {
  subdir: string;
  filename: string;
  /** Package name (from the record, else the filename). */
  name: string;
  /** The record exactly as upstream serves it (md5 and sha256 as hex even where the index holds bytes). */
  record: Record<string, unknown>;
  sha256: string;
  size: number;
  md5?: string;
  /** Record timestamp in ms since the epoch (old records in seconds are scaled), when it has one. */
  timestampMs?: number;
  /** Where the bytes are: a URL (HTTP upstream) or the package repository (oci-channel upstream). */
  source: string;
}

export interface UpstreamSubdir {
  subdir: string;
  /** The index read: `shards`, `repodata.json.zst`, `repodata.json` or `oci` (the location's repodata.json:latest). */
  format: string;
  files: UpstreamFile[];
  /** Records that cannot be mirrored as listed (no sha256, a filename that is no package name), with why. */
  invalid: InvalidFile[];
}

/** A record upstream lists that cannot be mirrored, and why (one line). */
export interface InvalidFile {
  filename: string;
  reason: string;
  /** Its record's timestamp, when it has one (the --since filter applies to it too). */
  timestampMs?: number;
}

export interface FetchedPackage {
  sha256: string;
  md5: string;
  size: number;
}

export interface Upstream {
  /** For messages: the URL or location as given. */
  readonly display: string;
  /** The subdirs upstream has (from its channeldata.json), or undefined when it cannot tell. */
  subdirs(signal?: AbortSignal): Promise<string[] | undefined>;
  /**
   * One subdir's files whose package name `wantName` accepts (CEP 16 shards: only those names' shards are
   * read). Undefined when upstream has no index for the subdir.
   */
  readSubdir(subdir: string, wantName: (name: string) => boolean, signal?: AbortSignal): Promise<UpstreamSubdir | undefined>;
  /**
   * Streams a package to `file`, hashing it (sha256, md5, size) on the way. Stops with an UpstreamError once
   * more bytes come than the record's size. Never retries a file whose bytes are wrong: the caller refuses it.
   */
  fetchPackage(file: UpstreamFile, to: string, options?: { signal?: AbortSignal; onBytes?: (bytes: number) => void }): Promise<FetchedPackage>;
  close(): Promise<void>;
}

export interface UpstreamOptions {
  /** Options of the store an oci-channel upstream is opened with (credentials, concurrency). */
  storeOptions?: StoreOptions;
  /** HTTP upstream: parallel connections (default 8) and per-request timeout without progress (default 60 s). */
  concurrency?: number;
  timeoutMs?: number;
}

/** An oci-channel location (oci://, oci+http://, oci-layout:) or an http(s) URL of a conda channel. */
export function openUpstream(from: string, options: UpstreamOptions = {}): Upstream {
  if (/^(oci|oci\+http):\/\//.test(from) || from.startsWith('oci-layout:')) return openOciUpstream(from, options.storeOptions);
  return openHttpUpstream(from, options);
}
