// Public API of the pipeline: one line per module; add your module's export line, do not reorder others'.
export type * from './types.ts';
export * from './promotion-log.ts';
export * from './owners.ts';
export * from './artifact.ts';
export * from './github/index.ts';
export * from './upload.ts';
export * from './validate.ts';
export * from './promote.ts';
export * from './verdict.ts';
export * from './reindex.ts';
export * from './download.ts';
export * from './gc.ts';
export { defaultCacheDir } from './index-cache.ts';
export * from './verdict-key.ts';
export * from './push-retry.ts';
