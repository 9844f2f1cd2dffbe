// Opening the channels a step works on: a location string is opened (and closed) here, a Store is used as given.
import { openStore, UnreachableError, type Store, type StoreOptions } from '@oci-channel/oci';
import type { ChannelInput, CommonOptions } from '../types.ts';
import { connectionsFor } from '../defaults.ts';

export interface OpenedChannel {
  store: Store;
  /** Closes the store when this step opened it; a no-op for stores the caller passed in. */
  release(): Promise<void>;
}

/**
 * Opens a location (or takes a given store). `concurrency` is the step's resolved number of artifacts at once: the
 * store's connection pool is sized to it (connectionsFor) unless the options set `concurrency` themselves, so the
 * step's artifacts never queue for a connection (the pool was 8 whatever the step ran).
 */
export function openChannel(input: ChannelInput, options: StoreOptions | undefined, concurrency?: number): OpenedChannel {
  if (typeof input !== 'string') return { store: input, release: async () => {} };
  const pool = options?.concurrency === undefined && concurrency !== undefined ? { concurrency: connectionsFor(concurrency) } : {};
  const store = openStore(input, { ...options, ...pool });
  return { store, release: () => store.close() };
}

export function stagingOptions(o: CommonOptions): StoreOptions | undefined {
  return o.stagingStoreOptions ?? o.storeOptions;
}

export function productionOptions(o: CommonOptions): StoreOptions | undefined {
  return o.productionStoreOptions ?? o.storeOptions;
}

/** One line from anything thrown, without stack or nested causes (OCI errors never carry credentials). */
export function errorLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s*\n\s*/g, ' ').trim();
}

/**
 * A registry that cannot be reached (unknown host, nothing listening, TLS failing) fails the whole step with its one
 * line, instead of the same reason once per artifact.
 */
export function throwIfUnreachable(error: unknown): void {
  if (error instanceof UnreachableError) throw error;
}
