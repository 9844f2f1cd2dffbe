// A store wrapper that counts registry operations, for ReindexResult.requests: every Repository and Store
// method call is one request (a blob GET, a manifest PUT, one tag page) -- paginated listings count once.
import type { Repository, Store } from '@oci-channel/oci';

export interface CountingStore {
  store: Store;
  count(): number;
  /** Blob downloads only (fetchBlob calls). */
  blobFetches(): number;
}

export function countingStore(inner: Store): CountingStore {
  let requests = 0;
  let blobs = 0;
  const wrapRepository = (repository: Repository, store: Store): Repository =>
    new Proxy(repository, {
      get(target, property) {
        if (property === 'store') return store;
        const value = Reflect.get(target, property) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          requests++;
          if (property === 'fetchBlob') blobs++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  const store: Store = new Proxy(inner, {
    get(target, property) {
      const value = Reflect.get(target, property) as unknown;
      if (property === 'repository') return (name: string) => wrapRepository(target.repository(name), store);
      if (property === 'listRepositories') {
        return (prefix?: string) => {
          requests++;
          return target.listRepositories(prefix);
        };
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store, count: () => requests, blobFetches: () => blobs };
}
