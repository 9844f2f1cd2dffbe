// Package-name ownership, read from a feedstock-outputs checkout:
// `outputs/<c1>/<c2>/<c3>/<name>.json` = `{"feedstocks": [...]}`, c1..c3 the first three letters or digits
// of the lower-cased name padded with `z` (config.json may move the outputs folder or change the sharding).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { PipelineError } from '../errors.ts';

interface OwnersConfig {
  outputsPath: string;
  shardLevel: number;
  shardFill: string;
}

const MAX_OWNERS_FILE = 1 << 20;

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
  const chars = name.toLowerCase().replace(/[^a-z0-9]/g, '');
  const shards: string[] = [];
  for (let i = 0; i < level; i++) shards.push(chars[i] ?? fill);
  return path.posix.join(config.outputsPath ?? 'outputs', ...shards, `${name}.json`);
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
  let text: string;
  try {
    const buffer = await readFile(file);
    if (buffer.byteLength > MAX_OWNERS_FILE) return { ok: false, detail: `owners file ${relative} is larger than 1 MiB; refused` };
    text = buffer.toString('utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return { ok: false, detail: `package name ${name} is not registered in the owners list (${relative} missing); register it for feedstock ${uploader} first` };
    }
    return { ok: false, detail: `cannot read owners file ${relative}: ${(error as Error).message}` };
  }
  let feedstocks: unknown;
  try {
    feedstocks = (JSON.parse(text) as { feedstocks?: unknown }).feedstocks;
  } catch {
    return { ok: false, detail: `owners file ${relative} is not valid JSON; fix it in the owners checkout` };
  }
  if (!Array.isArray(feedstocks) || !feedstocks.every((f) => typeof f === 'string')) {
    return { ok: false, detail: `owners file ${relative} has no "feedstocks" list of names; fix it in the owners checkout` };
  }
  const who = uploader.replace(/-feedstock$/, '');
  const owners = feedstocks.map((f) => f.replace(/-feedstock$/, ''));
  if (owners.includes(who)) return { ok: true, detail: `${who} owns ${name}`, feedstocks: owners };
  return { ok: false, detail: `uploader ${who} does not own package name ${name} (owners: ${owners.join(', ') || 'none'})`, feedstocks: owners };
}
