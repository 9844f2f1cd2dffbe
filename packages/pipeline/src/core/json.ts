// JSON read from a registry or a file: strict UTF-8, an object at the top, one-line errors naming what was read.
import { PipelineError } from '../errors.ts';

export function parseJsonObject(bytes: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new PipelineError(`${what} is not valid UTF-8 JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new PipelineError(`${what} is not a JSON object`);
  return value as Record<string, unknown>;
}
