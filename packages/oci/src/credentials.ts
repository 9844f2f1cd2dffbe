// Where registry credentials come from: explicit options, then environment variables named after the location,
// then the docker config.json, then none. Never from argv, never logged.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Credentials, StoreOptions } from './options.ts';
import type { Location } from './reference.ts';

type RegistryLocation = Extract<Location, { kind: 'registry' }>;

/** `ghcr.io/conda-forge/staging` -> `GHCR_IO_CONDA_FORGE_STAGING`. */
export function credentialKey(hostAndPath: string): string {
  return hostAndPath.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/** Env keys to try, longest path first, bare host last. */
export function credentialKeys(location: RegistryLocation): string[] {
  const parts = location.path ? location.path.split('/') : [];
  const keys: string[] = [];
  for (let n = parts.length; n >= 0; n--) {
    keys.push(credentialKey([location.host, ...parts.slice(0, n)].join('/')));
  }
  return keys;
}

export function resolveCredentials(location: RegistryLocation, options: StoreOptions = {}): Credentials | undefined {
  if (options.credentials) return options.credentials;
  const env = options.env ?? process.env;
  for (const key of credentialKeys(location)) {
    const username = env[`OCI_CHANNEL_${key}_USERNAME`];
    const password = env[`OCI_CHANNEL_${key}_PASSWORD`];
    if (username && password) return { username, password };
  }
  return dockerConfigCredentials(location.host, env);
}

function dockerConfigCredentials(host: string, env: Record<string, string | undefined>): Credentials | undefined {
  const dir = env.DOCKER_CONFIG ?? path.join(env.HOME ?? os.homedir(), '.docker');
  let config: unknown;
  try {
    // A config file is small; a huge one is not a docker config.
    const text = readFileSync(path.join(dir, 'config.json'), 'utf8');
    if (text.length > 1 << 20) return undefined;
    config = JSON.parse(text);
  } catch {
    return undefined;
  }
  const auths = (config as { auths?: Record<string, unknown> } | null)?.auths;
  if (!auths || typeof auths !== 'object') return undefined;
  const candidates = [host, `https://${host}`, `http://${host}`, `https://${host}/v1/`, `https://${host}/v2/`];
  for (const candidate of candidates) {
    const entry = auths[candidate] as { auth?: unknown; username?: unknown; password?: unknown } | undefined;
    if (!entry || typeof entry !== 'object') continue;
    if (typeof entry.username === 'string' && typeof entry.password === 'string' && entry.username) {
      return { username: entry.username, password: entry.password };
    }
    if (typeof entry.auth === 'string' && entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
  }
  return undefined;
}
