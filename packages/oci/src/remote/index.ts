// The registry store: the Store contract over the OCI distribution API (https, or http when the location says so).
// A folder per concern: client.ts (transport and auth), blobs.ts (reading blobs), upload.ts (pushing them),
// manifests.ts, listing.ts (tags and catalog), streams.ts, and repository.ts tying them to the Repository contract.
import type { StoreOptions } from '../options.ts';
import { formatLocation, repositoryName } from '../reference.ts';
import type { Repository, Store } from '../store.ts';
import { RegistryClient, type RegistryLocation } from './client.ts';
import { listRepositories } from './listing.ts';
import { RemoteRepository } from './repository.ts';

export { MAX_MANIFEST_FETCH, MAX_MANIFEST_PUSH } from './manifests.ts';
export { MAX_LIST_PAGE } from './listing.ts';

export interface RemoteStoreOptions extends StoreOptions {
  /** Blobs larger than this, or of unknown size, go up in PATCH chunks (default 64 MiB). */
  chunkThresholdBytes?: number;
  /**
   * Size of one ranged PATCH chunk (with Content-Range), raised to the registry's OCI-Chunk-Min-Length and capped
   * by its OCI-Chunk-Max-Length. Default: the whole rest of the blob in one PATCH without Content-Range (as
   * containers/image sends it), which distribution and ghcr.io take at full speed; ranged chunks cost a request
   * each (measured in docs/reliability.md). An interrupted PATCH still resumes where the registry stands. Set it
   * for registries or proxies that cap the size of a request body without saying so (a refusal as too large is
   * learned anyway).
   */
  chunkSizeBytes?: number;
  /** false: never try OCI's single POST for a small blob (POST then PUT, two requests, as before). Default: ask once. */
  singlePost?: boolean;
}


export class RemoteStore implements Store {
  readonly location: RegistryLocation;
  readonly display: string;
  readonly key: string;
  readonly chunkThreshold: number;
  readonly chunkSize: number;
  /** Set once the registry showed it has no referrers API (a plain 404): saves a request per referrers lookup. */
  referrersApiMissing = false;
  /** The largest request body the registry took after refusing a larger one as too large (upload.ts). */
  learnedBodyLimit: number | undefined;
  /** Whether a cross-repository mount ever worked here, and how often one was answered with an upload session. */
  mountWorked = false;
  mountRefusals = 0;
  /**
   * Whether the registry takes OCI's single POST (`POST /blobs/uploads/?digest=` with the bytes): learned from the
   * first small blob pushed (upload.ts), and while that question is out, the answer others wait for.
   */
  singlePost: 'unknown' | 'yes' | 'no';
  singlePostProbe: Promise<void> | undefined;
  readonly #client: RegistryClient;

  constructor(location: RegistryLocation, options: RemoteStoreOptions = {}) {
    this.location = location;
    this.display = formatLocation(location);
    this.key = `registry:${location.scheme}://${location.host}`;
    this.chunkThreshold = options.chunkThresholdBytes ?? 64 * 1024 * 1024;
    this.chunkSize = Math.max(1, options.chunkSizeBytes ?? Number.POSITIVE_INFINITY);
    this.singlePost = options.singlePost === false ? 'no' : 'unknown';
    this.#client = new RegistryClient(location, options);
  }

  repository(relativeName: string): Repository {
    return new RemoteRepository(this, this.#client, repositoryName(this.location, relativeName));
  }

  listRepositories(prefix = ''): Promise<string[]> {
    return listRepositories(this.#client, this.location, prefix);
  }

  async close(): Promise<void> {
    await this.#client.transport.close();
  }
}

export function createRemoteStore(location: RegistryLocation, options: RemoteStoreOptions = {}): Store {
  return new RemoteStore(location, options);
}
