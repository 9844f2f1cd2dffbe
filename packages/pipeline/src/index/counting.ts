// A store wrapper that counts registry operations, for ReindexResult.requests: every Repository and Store
// method call is one request (a blob GET, a manifest PUT, one tag page) -- paginated listings count once.
import type { Repository, Store } from '@oci-channel/oci';

export interface CountingStore {
  store: Store;
  count(): number;
  /** Blob downloads only (fetchBlob calls). */
  blobFetches(): number;
  /** Calls per method name (`fetchBlob`, `pushManifest`, `listTags`, ...). */
  calls: Map<string, number>;
}

export function countingStore(inner: Store): CountingStore {
  let requests = 0;
  let blobs = 0;
  const calls = new Map<string, number>();
  const tally = (name: string) => calls.set(name, (calls.get(name) ?? 0) + 1);
  const wrapRepository = (repository: Repository, store: Store): Repository =>
    new Proxy(repository, {
      get(target, property) {
        if (property === 'store') return store;
        const value = Reflect.get(target, property) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          requests++;
          tally(String(property));
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
          tally('listRepositories');
          return target.listRepositories(prefix);
        };
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store, count: () => requests, blobFetches: () => blobs, calls };
}
