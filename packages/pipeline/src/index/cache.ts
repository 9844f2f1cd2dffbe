// The reindex cache on disk: what a previous run learnt, so the next one reads only what is new.
//   <cacheDir>/<sha256(channel)[:24]>/entries.jsonl  one line per indexed file (append-only, like production)
//   <cacheDir>/<sha256(channel)[:24]>/state.json     high-water mark of the promotion log, our last pushes
// A torn last line (crash mid-append) is skipped; a cache that cannot be read is treated as cold.
import { createHash } from 'node:crypto';
import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { IndexedPackage } from '@oci-channel/conda';
import type { LabelOps } from './labels.ts';

export interface CachedEntry {
  subdir: string;
  /** Production manifest the record was read from (absent for records taken from a published repodata). */
  manifestDigest?: string;
  pkg: IndexedPackage;
  /** The label it was promoted to, when not main. */
  label?: string;
}

export interface SubdirState {
  /** Digest of the `repodata.json:latest` manifest we last pushed or read. */
  latest?: string;
  /** Shard key and sha256 per package name as last pushed: unchanged names are neither encoded nor pushed again. */
  shardKeys?: Record<string, [key: string, hex: string]>;
  /** Files in that `latest`. */
  indexed?: number;
  /** Key of the patch instructions that `latest` was built with ('' for none). */
  patchKey?: string;
  /** Digest of the labels.json layer of that `latest` ('' for none). */
  labelsDigest?: string;
  /** Per label index of this subdir, what we last pushed or saw: its content key and shards. */
  views?: Record<string, { key: string; shardKeys?: Record<string, [key: string, hex: string]> }>;
}

export interface CacheState {
  version: 1;
  /** Newest promotion log tag applied. */
  mark?: string;
  subdirs: Record<string, SubdirState>;
  /** Digest of the channeldata.json layer last pushed or seen. */
  channeldata?: string;
  /** Newest label log tag applied. */
  labelMark?: string;
  /** Every label of the channel (each subdir gets an index per label). */
  labelNames?: string[];
  /** subdir -> filename -> label changes applied (see index/labels.ts). */
  labelOps?: Record<string, Record<string, LabelOps>>;
}

const line = (e: CachedEntry) => JSON.stringify({ s: e.subdir, d: e.manifestDigest, p: e.pkg, ...(e.label ? { l: e.label } : {}) });

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'oci-channel');
}

export class IndexCache {
  readonly dir: string | undefined;
  state: CacheState = { version: 1, subdirs: {} };
  /** subdir -> filename -> entry */
  readonly entries = new Map<string, Map<string, CachedEntry>>();
  /** Records read from a manifest, by digest: a manifest already read is never fetched again. */
  readonly byManifest = new Map<string, IndexedPackage[]>();
  #pending: string[] = [];
  #rewrite = false;
  /** True when something was loaded from disk. */
  warm = false;

  constructor(cacheDir: string | undefined, channelKey: string) {
    this.dir = cacheDir ? path.join(cacheDir, createHash('sha256').update(channelKey).digest('hex').slice(0, 24)) : undefined;
  }

  async load(): Promise<void> {
    if (!this.dir) return;
    try {
      const state = JSON.parse(await readFile(path.join(this.dir, 'state.json'), 'utf8')) as CacheState;
      if (state?.version === 1 && state.subdirs && typeof state.subdirs === 'object') {
        this.state = state;
        this.warm = true;
      }
    } catch {
      // no cache yet, or unreadable: cold
    }
    let text = '';
    try {
      text = await readFile(path.join(this.dir, 'entries.jsonl'), 'utf8');
    } catch {
      return;
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const e = JSON.parse(line) as { s: string; d?: string; p: IndexedPackage; l?: string };
        if (typeof e.s === 'string' && e.p?.filename && e.p.record) this.#add({ subdir: e.s, manifestDigest: e.d, pkg: e.p, ...(typeof e.l === 'string' ? { label: e.l } : {}) });
      } catch {
        // torn line from a crash: the file is re-learnt from the registry
      }
    }
  }

  has(subdir: string, filename: string): boolean {
    return this.entries.get(subdir)?.has(filename) ?? false;
  }

  subdirEntries(subdir: string): Map<string, CachedEntry> {
    let map = this.entries.get(subdir);
    if (!map) this.entries.set(subdir, (map = new Map()));
    return map;
  }

  #add(entry: CachedEntry): boolean {
    const map = this.subdirEntries(entry.subdir);
    if (map.has(entry.pkg.filename)) return false;
    map.set(entry.pkg.filename, entry);
    if (entry.manifestDigest) {
      const list = this.byManifest.get(entry.manifestDigest);
      if (list) list.push(entry.pkg);
      else this.byManifest.set(entry.manifestDigest, [entry.pkg]);
    }
    return true;
  }

  /** Adds an entry (first one for a filename wins: production never changes a file) and queues it for disk. */
  add(entry: CachedEntry): boolean {
    if (!this.#add(entry)) return false;
    this.#pending.push(line(entry));
    return true;
  }

  /** A full reindex's listing replaces what the cache knew of a subdir; the file is rewritten on save. */
  replaceSubdir(subdir: string, entries: CachedEntry[]): void {
    this.entries.set(subdir, new Map());
    for (const entry of entries) this.#add(entry);
    this.#rewrite = true;
  }

  async save(): Promise<void> {
    if (!this.dir) return;
    await mkdir(this.dir, { recursive: true });
    if (this.#rewrite) {
      const lines: string[] = [];
      for (const map of this.entries.values()) {
        for (const e of map.values()) lines.push(line(e));
      }
      const tmp = path.join(this.dir, `entries.jsonl.${process.pid}.tmp`);
      await writeFile(tmp, lines.length ? `${lines.join('\n')}\n` : '');
      await rename(tmp, path.join(this.dir, 'entries.jsonl'));
      this.#pending = [];
      this.#rewrite = false;
    } else if (this.#pending.length > 0) {
      await appendFile(path.join(this.dir, 'entries.jsonl'), `${this.#pending.join('\n')}\n`);
      this.#pending = [];
    }
    const tmp = path.join(this.dir, `state.json.${process.pid}.${Date.now()}.tmp`);
    await writeFile(tmp, JSON.stringify(this.state));
    await rename(tmp, path.join(this.dir, 'state.json'));
  }
}
