export * from './errors.ts';
export * from './reference.ts';
export * from './store.ts';
export * from './options.ts';
export * from './digest.ts';
export { openStore } from './open.ts';
