// Typed, validated action inputs. Every error names the input and says what is expected.
import * as core from '@actions/core';
import * as glob from '@actions/glob';
import { parseChannelLocation, parseLocation, type StoreOptions } from '@oci-channel/oci';
import type { GithubPackagesAccess, VisibilityOptions } from '@oci-channel/pipeline';
import { UserError } from './errors.ts';
import { INPUT } from './names.ts';

export function stringInput(name: string, options: { required?: boolean; maxLength?: number; pattern?: RegExp; hint?: string } = {}): string {
  const value = core.getInput(name);
  if (!value && options.required) throw new UserError(`input ${name} is required${options.hint ? `: ${options.hint}` : ''}`);
  if (value && options.maxLength !== undefined && value.length > options.maxLength) {
    throw new UserError(`input ${name} is longer than ${options.maxLength} characters`);
  }
  if (value && options.pattern && !options.pattern.test(value)) {
    throw new UserError(`input ${name} is ${JSON.stringify(value.slice(0, 100))}: ${options.hint ?? `expected ${options.pattern}`}`);
  }
  return value;
}

export function booleanInput(name: string, fallback: boolean): boolean {
  const value = core.getInput(name).toLowerCase();
  if (!value) return fallback;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new UserError(`input ${name} is ${JSON.stringify(value)}: expected true or false`);
}

/** A list given one item per line or separated by commas; blank items dropped. */
export function listInput(name: string): string[] {
  return core
    .getInput(name)
    .split(/[\n,]/)
    .map((item) => item.trim())
    .filter(Boolean);
}

/** A channel location: oci://HOST/PATH, oci+http://HOST/PATH (loopback/test registries) or oci-layout:DIR. */
export function locationInput(name: string): string {
  const value = stringInput(name, { required: true, hint: 'a channel location such as oci://ghcr.io/OWNER/CHANNEL' });
  try {
    parseChannelLocation(value);
  } catch (error) {
    throw new UserError(`input ${name}: ${(error as Error).message}`);
  }
  return value;
}

const DURATION_RE = /^(\d{1,6})\s*(s|m|h|d|w)$/;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `90m`, `36h`, `7d`, `2w` in milliseconds. */
export function durationInput(name: string, fallback: string): number {
  const value = (core.getInput(name) || fallback).trim();
  const match = DURATION_RE.exec(value);
  if (!match) throw new UserError(`input ${name} is ${JSON.stringify(value.slice(0, 50))}: expected a number and a unit s, m, h, d or w (e.g. 7d)`);
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}

/** GitHub's own registry, where the workflow token is a registry credential. */
export function isGithubRegistry(location: string): boolean {
  const parsed = parseLocation(location);
  return parsed.kind === 'registry' && parsed.host.toLowerCase() === 'ghcr.io';
}

/**
 * Registry credentials from a username and a password input. Without a password, the workflow token (input
 * `token`) is used for ghcr.io only: it is never sent to another registry. Without either nothing is passed,
 * so the store falls back to its environment/docker-config lookup (or anonymous access).
 */
export function storeOptionsFrom(usernameInput: string, passwordInput: string, location: string): StoreOptions {
  const password = core.getInput(passwordInput) || (isGithubRegistry(location) ? core.getInput(INPUT.token) : '');
  if (!password) return { userAgent: 'oci-channel-action' };
  const username = core.getInput(usernameInput) || process.env.GITHUB_ACTOR || '';
  if (!username) {
    throw new UserError(`input ${usernameInput} is required with ${passwordInput} (GITHUB_ACTOR is not set either)`);
  }
  return { credentials: { username, password }, userAgent: 'oci-channel-action' };
}

/** A channel location input with the credentials of the action's `username` and `password` inputs. */
export function channelInput(name: string): { location: string; storeOptions: StoreOptions } {
  const location = locationInput(name);
  return { location, storeOptions: storeOptionsFrom(INPUT.username, INPUT.password, location) };
}

/** Paths or globs, one per line, and the files they match (sorted; directories left out). */
export async function globInput(name: string): Promise<{ patterns: string[]; files: string[] }> {
  const patterns = core.getMultilineInput(name).filter(Boolean);
  if (patterns.length === 0) return { patterns, files: [] };
  const files = (await (await glob.create(patterns.join('\n'), { matchDirectories: false })).glob()).sort();
  return { patterns, files };
}

const OWNER_PATTERN = /^[A-Za-z0-9][A-Za-z0-9-]{0,38}$/;

/**
 * Who owns the channel's packages on GitHub: input github-owner, else (when `derive`) the channel path's first
 * component, as ghcr.io/OWNER/...; and github-owner-type.
 */
function githubOwnerInputs(location: string, derive: boolean): Omit<GithubPackagesAccess, 'token' | 'apiUrl'> {
  const parsed = parseLocation(location);
  const owner =
    stringInput(INPUT.githubOwner, { pattern: OWNER_PATTERN, hint: 'a user or organisation login' }) ||
    (derive && parsed.kind === 'registry' ? (parsed.path.split('/')[0] ?? '') : '');
  const ownerType = (stringInput(INPUT.githubOwnerType, { pattern: /^(org|user)$/, hint: 'expected org or user' }) || 'org') as 'org' | 'user';
  return { owner, ownerType };
}

const apiUrl = () => (process.env.GITHUB_API_URL ? { apiUrl: process.env.GITHUB_API_URL } : {});

/**
 * Reading the visibility of new production packages through the GitHub Packages API with the workflow token: on
 * ghcr.io (the owner is the channel path's first component) or wherever input github-owner is given; input
 * visibility-check off skips it.
 */
export function visibilityInputs(location: string): VisibilityOptions {
  const mode = (stringInput(INPUT.visibilityCheck, { pattern: /^(fail|warn|off)$/, hint: 'expected fail, warn or off' }) || 'fail') as NonNullable<
    VisibilityOptions['visibilityCheck']
  >;
  const { owner, ownerType } = githubOwnerInputs(location, isGithubRegistry(location));
  if (mode === 'off' || !owner) return { visibilityCheck: 'off' };
  const token = core.getInput(INPUT.token);
  if (!token) throw new UserError(`input ${INPUT.token} is empty: the visibility check reads the GitHub Packages API with it (or set ${INPUT.visibilityCheck}: off)`);
  return { visibilityCheck: mode, github: { token, owner, ownerType, ...apiUrl() } };
}

/**
 * Deleting through the GitHub Packages REST API where the registry cannot (input github-packages-api: auto = on
 * ghcr.io), with input github-token; undefined when the registry API deletes.
 */
export function packageDeletionInputs(location: string): GithubPackagesAccess | undefined {
  const mode = stringInput(INPUT.githubPackagesApi, { pattern: /^(auto|true|false)$/, hint: 'expected auto, true or false' }) || 'auto';
  if (mode === 'false' || (mode === 'auto' && !isGithubRegistry(location))) return undefined;
  const token = core.getInput(INPUT.githubToken);
  if (!token) throw new UserError(`input ${INPUT.githubToken} is required to delete through the GitHub Packages API (packages: write, delete)`);
  const { owner, ownerType } = githubOwnerInputs(location, true);
  if (!owner) throw new UserError(`input ${INPUT.githubOwner} is required: the channel path does not start with an owner`);
  return { token, owner, ownerType, ...apiUrl() };
}
