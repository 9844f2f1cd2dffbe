// PLACEHOLDER: replaced by the on-disk (OCI image layout) store implementation.
import type { Location } from './reference.ts';
import type { StoreOptions } from './options.ts';
import type { Store } from './store.ts';

export function createLayoutStore(_location: Extract<Location, { kind: 'layout' }>, _options: StoreOptions = {}): Store {
  throw new Error('layout store not implemented yet');
}
