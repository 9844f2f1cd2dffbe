// The one place that loads rattler: through its CommonJS build, because the ESM entry (a bundler build that
// imports the .wasm file) does not load under Node or jest.
import { createRequire } from 'node:module';
import type * as RattlerModule from '@conda-org/rattler';

export type Rattler = typeof RattlerModule;

let loaded: Rattler | undefined;

export function rattler(): Rattler {
  loaded ??= createRequire(import.meta.url)('@conda-org/rattler') as Rattler;
  return loaded;
}
