// Names, tags, digests and locations, by the grammar of the OCI distribution spec.
// Everything that goes into a URL or a file path passes through here first.
import { realpathSync } from 'node:fs';
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
const DEFAULT_PORT = { https: '443', http: '80' } as const;

/**
 * A registry path as written, normalised: percent-encoding decoded, empty and `.` segments dropped, `..` applied
 * (never above the root), no leading or trailing slash. Undefined when it climbs above the root or decodes badly.
 */
function normalisePath(raw: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return undefined;
  }
  const out: string[] = [];
  for (const segment of decoded.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (out.length === 0) return undefined;
      out.pop();
      continue;
    }
    out.push(segment);
  }
  return out.join('/');
}

/**
 * Parses `oci://HOST[:PORT]/PATH` (https), `oci+http://HOST[:PORT]/PATH` (plain http) or `oci-layout:DIR`, and
 * normalises it so that two spellings of one place compare equal: scheme and host case, a trailing dot on the
 * host, the scheme's default port, trailing and doubled slashes, `.` and `..`, percent-encoding; a layout
 * directory is made absolute.
 */
export function parseLocation(value: string): Location {
  const expected = 'expected oci://HOST[:PORT]/PATH, oci+http://HOST[:PORT]/PATH or oci-layout:DIR';
  const bad = (why: string, hint = expected) => new InvalidReferenceError(`invalid location ${JSON.stringify(value)}: ${why}; ${hint}`);
  if (/^oci-layout:/i.test(value)) {
    const dir = value.slice('oci-layout:'.length);
    if (!dir) throw bad('the directory is empty');
    return { kind: 'layout', dir: path.resolve(dir), path: '' };
  }
  const m = /^(oci|oci\+http):\/\/([^/]+)(?:\/(.*))?$/i.exec(value);
  if (!m) {
    const web = /^(https?):\/\/(.*)$/i.exec(value);
    if (web) {
      const rest = web[2] ?? 'HOST/PATH';
      throw bad(`${web[1]!.toLowerCase()}:// is a web address`, `write oci${web[1]!.toLowerCase() === 'http' ? '+http' : ''}://${rest} for a registry${web[1]!.toLowerCase() === 'http' ? ' over plain http' : ''}`);
    }
    throw bad('unknown scheme');
  }
  const [, schemeText = '', hostText = '', rest = ''] = m;
  const scheme = schemeText.toLowerCase() === 'oci' ? 'https' : 'http';
  const host = hostText.toLowerCase().replace(/\.(?=:|$)/, '');
  if (!HOST_RE.test(host)) throw bad(`bad host ${JSON.stringify(hostText)}`);
  const port = /:(\d+)$/.exec(host)?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) throw bad(`bad port ${port}`);
  const repoPath = normalisePath(rest);
  if (repoPath === undefined) throw bad(`bad path ${JSON.stringify(rest)} (it climbs above the registry root or is badly percent-encoded)`);
  if (repoPath && !NAME_RE.test(repoPath)) throw bad(`bad path ${JSON.stringify(repoPath)} (lowercase name components only)`);
  // The default port of the scheme names the same registry as no port: one key for credentials and comparisons.
  const bare = port === DEFAULT_PORT[scheme] ? host.slice(0, -(port.length + 1)) : host;
  return { kind: 'registry', scheme, host: bare, path: repoPath };
}

/**
 * A location a channel can live at: parseLocation, and a registry location must name a path (a channel at a
 * registry's root would hold every repository of that registry).
 */
export function parseChannelLocation(value: string): Location {
  const location = parseLocation(value);
  if (location.kind === 'registry' && location.path === '') {
    throw new InvalidReferenceError(
      `invalid location ${JSON.stringify(value)}: it names a whole registry, not a channel; add the channel's path, e.g. ${formatLocation(location)}/my-org/channel`,
    );
  }
  return location;
}

/** Loopback names of one machine: a registry reached as localhost and as 127.0.0.1 is the same registry. */
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** What identifies a place for comparisons: host without the loopback spelling and default port, or the real directory. */
function placeOf(location: Location): { kind: 'registry' | 'layout'; root: string; segments: string[] } {
  if (location.kind === 'layout') {
    return { kind: 'layout', root: '', segments: realDirectory(location.dir).split(path.sep).filter(Boolean) };
  }
  const port = /:(\d+)$/.exec(location.host)?.[1];
  const hostname = port ? location.host.slice(0, -(port.length + 1)) : location.host;
  // No port: the scheme's default. http and https on their default ports are one registry for this purpose
  // (one usually redirects to the other); explicit other ports name other servers.
  const root = `${LOOPBACK.has(hostname) ? 'localhost' : hostname}:${port ?? 'default'}`;
  return { kind: 'registry', root, segments: location.path.split('/').filter(Boolean) };
}

/** The real path of `dir`: symlinks of its longest existing ancestor resolved, the rest appended. */
function realDirectory(dir: string): string {
  const missing: string[] = [];
  let current = path.resolve(dir);
  for (;;) {
    try {
      return path.join(realpathSync.native(current), ...missing.reverse());
    } catch {
      const parent = path.dirname(current);
      if (parent === current) return path.join(current, ...missing.reverse());
      missing.push(path.basename(current));
      current = parent;
    }
  }
}

/** How two locations relate: the same place, one inside the other, or apart. */
export type LocationOverlap = 'same' | 'first-contains-second' | 'second-contains-first' | undefined;

export function locationOverlap(a: string | Location, b: string | Location): LocationOverlap {
  const pa = placeOf(typeof a === 'string' ? parseLocation(a) : a);
  const pb = placeOf(typeof b === 'string' ? parseLocation(b) : b);
  if (pa.kind !== pb.kind || pa.root !== pb.root) return undefined;
  const common = Math.min(pa.segments.length, pb.segments.length);
  for (let i = 0; i < common; i++) if (pa.segments[i] !== pb.segments[i]) return undefined;
  if (pa.segments.length === pb.segments.length) return 'same';
  return pa.segments.length < pb.segments.length ? 'first-contains-second' : 'second-contains-first';
}

/** Whether two locations are the same place or one lies inside the other (after normalisation, symlinks resolved). */
export function sameOrNested(a: string | Location, b: string | Location): boolean {
  return locationOverlap(a, b) !== undefined;
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
