// Typed, validated action inputs. Every error names the input and says what is expected.
import * as core from '@actions/core';
import { parseChannelLocation, parseLocation, type StoreOptions } from '@oci-channel/oci';
import type { VisibilityOptions } from '@oci-channel/pipeline';
import { UserError } from './errors.ts';

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
  const password = core.getInput(passwordInput) || (isGithubRegistry(location) ? core.getInput('token') : '');
  if (!password) return { userAgent: 'oci-channel-action' };
  const username = core.getInput(usernameInput) || process.env.GITHUB_ACTOR || '';
  if (!username) {
    throw new UserError(`input ${usernameInput} is required with ${passwordInput} (GITHUB_ACTOR is not set either)`);
  }
  return { credentials: { username, password }, userAgent: 'oci-channel-action' };
}

export const OWNER_PATTERN = /^[A-Za-z0-9][A-Za-z0-9-]{0,38}$/;

/**
 * Reading the visibility of new production packages through the GitHub Packages API with the workflow token: on
 * ghcr.io (the owner is the channel path's first component) or wherever an owner is given; `mode` off skips it.
 */
export function visibilityOptions(location: string, token: string, given: { mode: string; owner: string; ownerType: string }): VisibilityOptions {
  const mode = (given.mode || 'fail') as NonNullable<VisibilityOptions['visibilityCheck']>;
  const parsed = parseLocation(location);
  const owner = given.owner || (isGithubRegistry(location) && parsed.kind === 'registry' ? (parsed.path.split('/')[0] ?? '') : '');
  if (mode === 'off' || !owner) return { visibilityCheck: 'off' };
  if (!token) throw new UserError('input token is empty: the visibility check reads the GitHub Packages API with it (or set visibility-check: off)');
  return {
    visibilityCheck: mode,
    github: { token, owner, ownerType: (given.ownerType || 'org') as 'org' | 'user', ...(process.env.GITHUB_API_URL ? { apiUrl: process.env.GITHUB_API_URL } : {}) },
  };
}
