export * from './errors.ts';
export * from './reference.ts';
export * from './store.ts';
