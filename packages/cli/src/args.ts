// Reading a command's arguments strictly: unknown options, missing values and bad locations are usage errors
// (exit 2) that name the option and the command.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InvalidReferenceError, parseChannelLocation } from '@oci-channel/oci';
import { parseArtifactRef, type ArtifactRef, type GithubPackagesAccess } from '@oci-channel/pipeline';
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

/** The GitHub Packages API options (`--github-owner` with GITHUB_TOKEN from the environment). */
export const GITHUB_OPTIONS = {
  'github-owner': { type: 'string' },
  'github-owner-type': { type: 'string' },
  'github-api-url': { type: 'string' },
} as const;

/** `github` for a step, when --github-owner is given (GITHUB_TOKEN must then be set); undefined otherwise. */
export function githubAccess(command: string, values: Values, env: NodeJS.ProcessEnv = process.env): GithubPackagesAccess | undefined {
  const ownerType = values['github-owner-type'];
  if (ownerType !== undefined && ownerType !== 'org' && ownerType !== 'user') throw new UsageError('--github-owner-type is org or user', command);
  const owner = optionalString(values, 'github-owner');
  if (owner === undefined) return undefined;
  const token = env.GITHUB_TOKEN;
  if (!token) throw new UsageError('--github-owner needs GITHUB_TOKEN in the environment', command);
  const apiUrl = optionalString(values, 'github-api-url');
  return { token, owner, ...(apiUrl !== undefined ? { apiUrl } : {}), ...(ownerType ? { ownerType: ownerType as 'org' | 'user' } : {}) };
}

/** `--visibility-check fail|warn|off` (meaningful with --github-owner). */
export function visibilityCheck(command: string, values: Values): 'fail' | 'warn' | 'off' | undefined {
  const value = optionalString(values, 'visibility-check');
  if (value === undefined) return undefined;
  if (value !== 'fail' && value !== 'warn' && value !== 'off') throw new UsageError('--visibility-check is fail, warn or off', command);
  return value;
}
