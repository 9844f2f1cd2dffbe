// PLACEHOLDER: replaced by the remote (registry) store implementation.
import type { Location } from './reference.ts';
import type { StoreOptions } from './options.ts';
import type { Store } from './store.ts';

export function createRemoteStore(_location: Extract<Location, { kind: 'registry' }>, _options: StoreOptions = {}): Store {
  throw new Error('remote store not implemented yet');
}
