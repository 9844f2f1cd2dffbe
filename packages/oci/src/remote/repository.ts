// One repository of a registry: the Repository contract, each verb delegated to the file that holds it.
import type { Readable } from 'node:stream';
import { parseDigest, type Digest } from '../reference.ts';
import type { BlobSource, Descriptor, FetchedManifest, ListTagsOptions, Repository, TransferOptions } from '../store.ts';
import { fetchBlob, statBlob } from './blobs.ts';
import { RepositoryTarget, type RegistryClient } from './client.ts';
import type { RemoteStore } from './index.ts';
import { listTags } from './listing.ts';
import { deleteManifest, fetchManifest, pushManifest, referrers, resolve } from './manifests.ts';
import { checkPushAccess, mountBlob, pushBlob } from './upload.ts';

export class RemoteRepository implements Repository {
  readonly store: RemoteStore;
  readonly name: string;
  readonly display: string;
  readonly #t: RepositoryTarget;

  constructor(store: RemoteStore, client: RegistryClient, name: string) {
    this.store = store;
    this.name = name;
    this.display = `${store.location.scheme === 'https' ? 'oci' : 'oci+http'}://${store.location.host}/${name}`;
    this.#t = new RepositoryTarget(this, store, client, name);
  }

  statBlob(digest: Digest): Promise<Descriptor | undefined> {
    return statBlob(this.#t, digest);
  }

  fetchBlob(digest: Digest, size?: number, options: TransferOptions = {}): Promise<Readable> {
    return fetchBlob(this.#t, digest, size, options);
  }

  pushBlob(source: BlobSource, expected: { digest?: Digest; size?: number } = {}, options: TransferOptions = {}): Promise<{ digest: Digest; size: number; pushed: boolean }> {
    return pushBlob(this.#t, source, expected, options);
  }

  async mountBlob(digest: Digest, from: Repository): Promise<boolean> {
    parseDigest(digest);
    if (from === this) return false;
    return mountBlob(this.#t, digest, from);
  }

  resolve(reference: string): Promise<Descriptor | undefined> {
    return resolve(this.#t, reference);
  }

  fetchManifest(reference: string): Promise<FetchedManifest> {
    return fetchManifest(this.#t, reference);
  }

  pushManifest(bytes: Uint8Array, mediaType: string, tag?: string): Promise<Descriptor> {
    return pushManifest(this.#t, bytes, mediaType, tag);
  }

  deleteManifest(digest: Digest): Promise<void> {
    return deleteManifest(this.#t, digest);
  }

  listTags(options?: ListTagsOptions): Promise<string[]> {
    return listTags(this.#t, options);
  }

  referrers(subject: Digest, artifactType?: string): Promise<Descriptor[]> {
    return referrers(this.#t, subject, artifactType);
  }

  checkPushAccess(): Promise<void> {
    return checkPushAccess(this.#t);
  }
}
