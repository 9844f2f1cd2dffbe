export * from './errors.ts';
export * from './reference.ts';
export * from './store.ts';
export * from './options.ts';
export * from './digest.ts';
export { openStore } from './open.ts';
export { copy, type CopyOptions, type CopyResult } from './copy.ts';
export { createLayoutStore, REF_NAME_ANNOTATION } from './layout.ts';
