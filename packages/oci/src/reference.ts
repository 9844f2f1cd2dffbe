// Names, tags, digests and locations, by the grammar of the OCI distribution spec.
// Everything that goes into a URL or a file path passes through here first.
import path from 'node:path';
import { InvalidReferenceError } from './errors.ts';

const NAME_COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_RE = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DIGEST_RE = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;
/** Distribution refuses repository names longer than this (with the host, docker keeps 255). */
export const MAX_NAME_LENGTH = 255;

export type Digest = `sha256:${string}` | `sha512:${string}`;

export function isDigest(value: string): value is Digest {
  return DIGEST_RE.test(value);
}

export function parseDigest(value: string, what = 'digest'): Digest {
  if (!isDigest(value)) {
    throw new InvalidReferenceError(`invalid ${what} ${JSON.stringify(value)}: expected sha256:<64 lowercase hex>`);
  }
  return value;
}

export function isTag(value: string): boolean {
  return TAG_RE.test(value);
}

export function parseTag(value: string): string {
  if (!isTag(value)) {
    throw new InvalidReferenceError(
      `invalid tag ${JSON.stringify(value)}: tags are 1-128 characters of [A-Za-z0-9_.-] and may not start with '.' or '-'`,
    );
  }
  return value;
}

export function isRepositoryName(value: string): boolean {
  return value.length <= MAX_NAME_LENGTH && NAME_RE.test(value);
}

export function parseRepositoryName(value: string): string {
  if (!isRepositoryName(value)) {
    throw new InvalidReferenceError(
      `invalid repository name ${JSON.stringify(value)}: use lowercase path components of [a-z0-9] joined by '.', '_', '__' or '-', separated by '/', at most ${MAX_NAME_LENGTH} characters`,
    );
  }
  return value;
}

/** A tag or a digest: what a manifest is fetched by. */
export function parseManifestReference(value: string): string {
  if (value.includes(':')) return parseDigest(value);
  return parseTag(value);
}

/** Where a store lives: a registry over https or (only when written so) http, or an OCI layout on disk. */
export type Location =
  | {
      kind: 'registry';
      scheme: 'https' | 'http';
      /** `hostname[:port]` as written, the key for credentials and connection limits. */
      host: string;
      /** Repository path prefix inside the registry, '' for the root. */
      path: string;
    }
  | {
      kind: 'layout';
      /** Absolute directory holding one OCI image layout per repository. */
      dir: string;
      path: string;
    };

const HOST_RE = /^(?:\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?)(?::[0-9]{1,5})?$/;

/**
 * Parses `oci://HOST[:PORT]/PATH` (https), `oci+http://HOST[:PORT]/PATH` (plain http) or `oci-layout:DIR`.
 */
export function parseLocation(value: string): Location {
  const bad = (why: string) =>
    new InvalidReferenceError(
      `invalid location ${JSON.stringify(value)}: ${why}; expected oci://HOST[:PORT]/PATH, oci+http://HOST[:PORT]/PATH or oci-layout:DIR`,
    );
  if (value.startsWith('oci-layout:')) {
    const dir = value.slice('oci-layout:'.length);
    if (!dir) throw bad('the directory is empty');
    return { kind: 'layout', dir: path.resolve(dir), path: '' };
  }
  const m = /^(oci|oci\+http):\/\/([^/]+)(?:\/(.*))?$/.exec(value);
  if (!m) throw bad('unknown scheme');
  const [, scheme, host = '', rest = ''] = m;
  if (!HOST_RE.test(host)) throw bad(`bad host ${JSON.stringify(host)}`);
  const port = /:(\d+)$/.exec(host)?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) throw bad(`bad port ${port}`);
  const repoPath = rest.replace(/\/+$/, '');
  if (repoPath && !NAME_RE.test(repoPath)) throw bad(`bad path ${JSON.stringify(repoPath)} (lowercase name components only)`);
  return { kind: 'registry', scheme: scheme === 'oci' ? 'https' : 'http', host: host.toLowerCase(), path: repoPath };
}

export function formatLocation(location: Location): string {
  if (location.kind === 'layout') return `oci-layout:${location.dir}`;
  const scheme = location.scheme === 'https' ? 'oci' : 'oci+http';
  return `${scheme}://${location.host}${location.path ? `/${location.path}` : ''}`;
}

/** The full repository name of `relative` under a location's path, validated. */
export function repositoryName(location: Location, relative: string): string {
  const name = [location.path, relative.replace(/^\/+|\/+$/g, '')].filter(Boolean).join('/');
  return parseRepositoryName(name);
}
