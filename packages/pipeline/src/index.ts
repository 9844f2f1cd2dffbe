// Public API of the pipeline: one line per module; add your module's export line, do not reorder others'.
export type * from './types.ts';
