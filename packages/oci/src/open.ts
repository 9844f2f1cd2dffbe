import { createLayoutStore } from './layout.ts';
import type { StoreOptions } from './options.ts';
import { parseLocation, type Location } from './reference.ts';
import { createRemoteStore } from './remote/index.ts';
import type { Store } from './store.ts';

/** Opens the store a location names: a registry (oci://, oci+http://) or an OCI layout on disk (oci-layout:). */
export function openStore(location: string | Location, options: StoreOptions = {}): Store {
  const parsed = typeof location === 'string' ? parseLocation(location) : location;
  return parsed.kind === 'layout' ? createLayoutStore(parsed, options) : createRemoteStore(parsed, options);
}
