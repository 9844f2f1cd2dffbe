// Package-name ownership, read from a feedstock-outputs checkout (conda-forge/feedstock-outputs):
// `outputs/<c1>/<c2>/<c3>/<name>.json` = `{"feedstocks": [...]}`, c1..c3 the first three letters or digits
// of the lower-cased name padded with `z` (config.json may move the outputs folder or change the sharding),
// plus `feedstock_outputs_autoreg_allowlist.yml`: feedstock -> glob patterns (Python fnmatch) of names it may
// publish without a file per name (llvmdev: libllvm*). The owners of a name are the union of both.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { PipelineError } from '../errors.ts';
import { fnmatchRegExp } from '../core/fnmatch.ts';
import YAML from 'yaml';

interface OwnersConfig {
  outputsPath: string;
  shardLevel: number;
  shardFill: string;
}

const MAX_OWNERS_FILE = 1 << 20;
/** The glob allow-list, at the root of the checkout. */
export const OWNERS_GLOBS_FILE = 'feedstock_outputs_autoreg_allowlist.yml';

async function readConfig(root: string): Promise<OwnersConfig> {
  const defaults: OwnersConfig = { outputsPath: 'outputs', shardLevel: 3, shardFill: 'z' };
  let text: string;
  try {
    text = await readFile(path.join(root, 'config.json'), 'utf8');
  } catch {
    return defaults;
  }
  try {
    const c = JSON.parse(text) as Record<string, unknown>;
    return {
      outputsPath: typeof c.outputs_path === 'string' && !c.outputs_path.includes('..') ? c.outputs_path : defaults.outputsPath,
      shardLevel: typeof c.shard_level === 'number' && c.shard_level >= 0 && c.shard_level <= 8 ? c.shard_level : defaults.shardLevel,
      shardFill: typeof c.shard_fill === 'string' && /^[a-z0-9]$/.test(c.shard_fill) ? c.shard_fill : defaults.shardFill,
    };
  } catch {
    throw new PipelineError(`owners config ${path.join(root, 'config.json')} is not valid JSON; fix or remove it`);
  }
}

/** The path of a name's outputs file relative to the checkout, e.g. `outputs/z/l/i/zlib.json`. */
export function ownersFilePath(name: string, config: Partial<OwnersConfig> = {}): string {
  const level = config.shardLevel ?? 3;
  const fill = config.shardFill ?? 'z';
  const lower = name.toLowerCase();
  const chars = lower.replace(/[^a-z0-9]/g, '');
  const shards: string[] = [];
  for (let i = 0; i < level; i++) shards.push(chars[i] ?? fill);
  return path.posix.join(config.outputsPath ?? 'outputs', ...shards, `${lower}.json`);
}

/** Feedstocks whose allow-listed patterns match `name`; a missing file is no patterns. */
async function globOwners(root: string, name: string): Promise<{ feedstocks: string[] } | { error: string }> {
  let text: string;
  try {
    const buffer = await readFile(path.join(root, OWNERS_GLOBS_FILE));
    if (buffer.byteLength > MAX_OWNERS_FILE) return { error: `${OWNERS_GLOBS_FILE} is larger than 1 MiB; refused` };
    text = buffer.toString('utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { feedstocks: [] };
    return { error: `cannot read ${OWNERS_GLOBS_FILE}: ${(error as Error).message}` };
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch {
    return { error: `${OWNERS_GLOBS_FILE} is not valid YAML; fix it in the owners checkout` };
  }
  if (doc === null || doc === undefined) return { feedstocks: [] };
  if (typeof doc !== 'object' || Array.isArray(doc)) return { error: `${OWNERS_GLOBS_FILE} is not a mapping of feedstock -> list of patterns` };
  const feedstocks: string[] = [];
  for (const [feedstock, patterns] of Object.entries(doc as Record<string, unknown>)) {
    if (!Array.isArray(patterns) || !patterns.every((p) => typeof p === 'string')) {
      return { error: `${OWNERS_GLOBS_FILE}: the entry of ${feedstock} is not a list of patterns` };
    }
    for (const pattern of patterns as string[]) {
      let re: RegExp;
      try {
        re = fnmatchRegExp(pattern);
      } catch {
        return { error: `${OWNERS_GLOBS_FILE}: pattern ${JSON.stringify(pattern.slice(0, 100))} of ${feedstock} is not a valid glob` };
      }
      if (re.test(name)) {
        feedstocks.push(feedstock);
        break;
      }
    }
  }
  return { feedstocks };
}

export interface OwnershipCheck {
  ok: boolean;
  detail: string;
  feedstocks?: string[];
}

/** Whether `uploader` (a feedstock name, `-feedstock` suffix optional) may publish package `name`. */
export async function checkOwnership(root: string, name: string, uploader: string | undefined): Promise<OwnershipCheck> {
  if (!uploader) return { ok: false, detail: `no uploader given to check ownership of ${name} against; pass --uploader FEEDSTOCK` };
  if (!/^[a-z0-9_][a-z0-9._-]*$/i.test(name)) return { ok: false, detail: `package name ${JSON.stringify(name)} cannot be looked up in the owners list` };
  const config = await readConfig(root);
  const relative = ownersFilePath(name, config);
  const file = path.join(root, relative);
  const globbed = await globOwners(root, name);
  if ('error' in globbed) return { ok: false, detail: globbed.error };
  let listed: string[] = [];
  let text: string | undefined;
  try {
    const buffer = await readFile(file);
    if (buffer.byteLength > MAX_OWNERS_FILE) return { ok: false, detail: `owners file ${relative} is larger than 1 MiB; refused` };
    text = buffer.toString('utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return { ok: false, detail: `cannot read owners file ${relative}: ${(error as Error).message}` };
    if (globbed.feedstocks.length === 0) {
      return { ok: false, detail: `package name ${name} is not registered in the owners list (${relative} missing, no pattern in ${OWNERS_GLOBS_FILE} matches); register it for feedstock ${uploader} first` };
    }
  }
  if (text !== undefined) {
    let feedstocks: unknown;
    try {
      feedstocks = (JSON.parse(text) as { feedstocks?: unknown }).feedstocks;
    } catch {
      return { ok: false, detail: `owners file ${relative} is not valid JSON; fix it in the owners checkout` };
    }
    if (!Array.isArray(feedstocks) || !feedstocks.every((f) => typeof f === 'string')) {
      return { ok: false, detail: `owners file ${relative} has no "feedstocks" list of names; fix it in the owners checkout` };
    }
    listed = feedstocks;
  }
  const who = uploader.replace(/-feedstock$/, '');
  const owners = [...new Set([...listed, ...globbed.feedstocks].map((f) => f.replace(/-feedstock$/, '')))];
  if (owners.includes(who)) {
    const how = listed.some((f) => f.replace(/-feedstock$/, '') === who) ? '' : ` (a pattern in ${OWNERS_GLOBS_FILE})`;
    return { ok: true, detail: `${who} owns ${name}${how}`, feedstocks: owners };
  }
  return { ok: false, detail: `uploader ${who} does not own package name ${name} (owners: ${owners.join(', ') || 'none'})`, feedstocks: owners };
}
