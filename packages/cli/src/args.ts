// Reading a command's arguments strictly: unknown options, missing values and bad locations are usage errors
// (exit 2) that name the option and the command.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InvalidReferenceError, parseChannelLocation } from '@oci-channel/oci';
import { parseArtifactRef, type ArtifactRef } from '@oci-channel/pipeline';
import { UsageError } from './usage.ts';

export type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;
export type Options = NonNullable<ParseArgsConfig['options']>;

/** `--json` and `--concurrency N`, which most commands take. */
export const COMMON_OPTIONS = { json: { type: 'boolean' }, concurrency: { type: 'string' } } as const;

export function parse(command: string, args: string[], options: Options): { values: Values; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: true,
    });
    return { values: values as Values, positionals };
  } catch (error) {
    const e = error as Error & { code?: string };
    const option = /'(-[^']*)'/.exec(e.message)?.[1];
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown option ${option ?? e.message}`, command);
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw new UsageError(`option ${option ?? ''} needs a value`.replace('  ', ' '), command);
    throw new UsageError(e.message.split('\n')[0] ?? 'bad arguments', command);
  }
}

export function required(command: string, values: Values, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`missing --${name}`, command);
  return value;
}

export function optionalString(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

export function noPositionals(command: string, positionals: string[]): void {
  if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`, command);
}

/** A channel location (a registry location must name a path); a bad one is a usage error naming the flag. */
export function location(command: string, flag: string, value: string): string {
  try {
    parseChannelLocation(value);
    return value;
  } catch (error) {
    if (error instanceof InvalidReferenceError) throw new UsageError(`--${flag}: ${error.message}`, command);
    throw error;
  }
}

export function artifacts(command: string, positionals: string[], min = 1): ArtifactRef[] {
  if (positionals.length < min) throw new UsageError('no ARTIFACT given (SUBDIR/FILENAME[@sha256:HEX])', command);
  return positionals.map((p) => {
    try {
      return parseArtifactRef(p);
    } catch (error) {
      throw new UsageError((error as Error).message, command);
    }
  });
}

export function concurrency(command: string, values: Values): number | undefined {
  const value = values.concurrency;
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new UsageError(`--concurrency must be an integer from 1 to 64, not ${JSON.stringify(value)}`, command);
  return n;
}
