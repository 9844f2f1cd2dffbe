// Public API of the pipeline: one line per module; add your module's export line, do not reorder others'.
export type * from './types.ts';
export * from './promotion-log.ts';
export * from './owners.ts';
export * from './artifact.ts';
export * from './github/index.ts';
