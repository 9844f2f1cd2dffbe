// Public API of the pipeline: one line per module; add your module's export line, do not reorder others'.
export type * from './types.ts';
export * from './records/promotion-log.ts';
export * from './identity/owners.ts';
export * from './core/artifact-ref.ts';
export * from './core/package-manifest.ts';
export * from './github/index.ts';
export * from './steps/upload.ts';
export * from './steps/validate.ts';
export * from './steps/promote.ts';
export * from './records/verdict.ts';
export * from './steps/reindex.ts';
export * from './steps/download.ts';
export * from './steps/gc.ts';
export { defaultCacheDir } from './index/cache.ts';
export * from './records/verdict-key.ts';
export * from './core/retry.ts';
export * from './steps/label.ts';
export * from './records/labels.ts';
