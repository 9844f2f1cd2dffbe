// reindex: the channel index (repodata.json + zst + shards + run_exports.json per subdir, channeldata.json)
// rebuilt from production alone. Incremental: a record cache keyed by manifest digest plus the promotion log
// read past its high-water mark; with a cold cache it resumes from the published `latest` repodata.
// `full` lists production instead. `latest` never moves back: it is re-read before and after each move.
import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import { MediaType, NotFoundError, UnsupportedError } from '@oci-channel/oci';
import { buildSubdirIndex, channelDataJson, recordWith, type IndexedPackage, type SubdirIndexFiles } from '@oci-channel/conda';
import { parseJsonObject } from '../core/json.ts';
import { readSmallBlob } from '../core/blobs.ts';
import { IndexCache, type CachedEntry } from '../index/cache.ts';
import { countingStore } from '../index/counting.ts';
import {
  CHANNELDATA_REPOSITORY,
  IndexMediaType,
  isIndexComponent,
  isSubdirName,
  repodataRepository,
  rewindMark,
  timestampTag,
} from '../index/names.ts';
import { prepareRepodataManifest, pushChannelData, pushShards, settle } from '../index/publish.ts';
import { readPackageEntries, readPublishedRepodata, type PublishedRepodata } from '../index/read.ts';
import { writeChannelTree } from '../index/tree.ts';
import { errorLine, openChannel, productionOptions } from '../core/open.ts';
import { reporter } from '../core/progress.ts';
import { fileKey, listPromotionTags, readPromotion, type LoggedPromotion } from '../records/promotion-log.ts';
import type { ReindexOptions, ReindexResult, SubdirIndex } from '../types.ts';

/** Attempts to move `latest` when other reindexes keep replacing it. */
const LATEST_ATTEMPTS = 6;


function withIndexedTimestamp(pkg: IndexedPackage, at: number): IndexedPackage {
  if (typeof pkg.record.indexed_timestamp === 'number') return pkg;
  return { ...pkg, record: recordWith(pkg.record, 'indexed_timestamp', at) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sha256Of = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

interface SubdirWork {
  subdir: string;
  /** Digest of `latest` when we last looked (undefined: none). */
  latest?: string;
  /** Files taken from someone else's `latest` (they need no push for our sake). */
  added: number;
  /** Forces a push: latest is missing or lacks files we have. */
  dirty: boolean;
  /** `latest` was looked at in this run. */
  checked: boolean;
}

export async function reindex(o: ReindexOptions): Promise<ReindexResult> {
  const report = reporter(o.progress, 'reindex');
  const opened = openChannel(o.channel, productionOptions(o));
  const counting = countingStore(opened.store);
  const store = counting.store;
  const now = o.now ?? (() => new Date());
  const concurrency = o.concurrency ?? 8;
  const limit = pLimit(concurrency);
  const errors: string[] = [];
  try {
    const cache = new IndexCache(o.cacheDir, store.display);
    await cache.load();
    const restricted = o.subdirs ? new Set(o.subdirs) : undefined;
    for (const s of o.subdirs ?? []) {
      if (!isSubdirName(s)) throw new Error(`invalid subdir ${JSON.stringify(s)}: use noarch or OS-ARCH such as linux-64`);
    }
    const work = new Map<string, SubdirWork>();
    const want = (subdir: string): SubdirWork | undefined => {
      if (restricted && !restricted.has(subdir)) return undefined;
      let w = work.get(subdir);
      if (!w) work.set(subdir, (w = { subdir, added: 0, dirty: false, checked: false }));
      return w;
    };

    // --- which subdirs -------------------------------------------------------------------------------
    let catalog: string[] | undefined;
    if (o.full || !cache.warm) {
      try {
        catalog = await store.listRepositories();
      } catch (error) {
        if (!(error instanceof UnsupportedError)) throw error;
        report(`${errorLine(error)}; finding subdirs through channeldata.json and the promotion log instead`);
      }
    }
    want('noarch');
    for (const s of restricted ?? []) want(s);
    for (const s of Object.keys(cache.state.subdirs)) want(s);
    for (const name of catalog ?? []) {
      const first = name.split('/')[0]!;
      if (isSubdirName(first)) want(first);
    }
    let previousChannelData: Record<string, Record<string, unknown>> | undefined;
    const channelDataRepo = store.repository(CHANNELDATA_REPOSITORY);
    const readPreviousChannelData = async () => {
      if (previousChannelData) return previousChannelData;
      previousChannelData = {};
      try {
        const fetched = await channelDataRepo.fetchManifest('latest');
        const manifest = parseJsonObject(fetched.bytes, `${channelDataRepo.display}:latest`);
        const layer = (manifest.layers as Array<{ mediaType: string; digest: `sha256:${string}`; size: number }> | undefined)?.find(
          (l) => l.mediaType === IndexMediaType.ChannelData,
        );
        if (layer) {
          const data = parseJsonObject(await readSmallBlob(channelDataRepo, layer.digest, layer.size, 1 << 30), 'channeldata.json');
          previousChannelData = (data.packages ?? {}) as Record<string, Record<string, unknown>>;
          for (const s of Array.isArray(data.subdirs) ? (data.subdirs as string[]) : []) if (isSubdirName(s)) want(s);
          cache.state.channeldata ??= layer.digest;
        }
      } catch (error) {
        if (!(error instanceof NotFoundError)) report(`could not read the previous channeldata.json: ${errorLine(error)}`);
      }
      return previousChannelData;
    };
    if (!cache.warm && !catalog) await readPreviousChannelData();

    // --- the published state, merged in (it may hold files another reindex added) --------------------
    const marks: Array<string | undefined> = [];
    const published = new Map<string, PublishedRepodata>();
    const mergePublished = (subdir: string, pub: PublishedRepodata): number => {
      let added = 0;
      for (const pkg of pub.entries) if (cache.add({ subdir, pkg })) added++;
      return added;
    };
    const readLatest = async (w: SubdirWork) => {
      const repository = store.repository(repodataRepository(w.subdir));
      const head = await repository.resolve('latest');
      w.checked = true;
      w.latest = head?.digest;
      if (!head) {
        w.dirty = true;
        return;
      }
      const state = cache.state.subdirs[w.subdir];
      if (!o.full && state?.latest === head.digest) {
        marks.push(cache.state.mark);
        return;
      }
      let pub: PublishedRepodata;
      try {
        pub = await readPublishedRepodata(repository, head.digest, w.subdir);
      } catch (error) {
        // An unreadable latest is rebuilt from what we know (a cold cache then reads the whole log).
        errors.push(`ignoring ${repository.display}:latest: ${errorLine(error)}`);
        w.dirty = true;
        marks.push(undefined);
        return;
      }
      published.set(w.subdir, pub);
      marks.push(pub.mark);
      if (!o.full) mergePublished(w.subdir, pub);
      cache.state.subdirs[w.subdir] = { ...state, latest: head.digest, indexed: pub.entries.length };
    };
    await Promise.all([...work.values()].map((w) => limit(() => readLatest(w))));

    // --- what is new: the promotion log (incremental) or a listing of production (full) --------------
    let newMark = cache.state.mark;
    const read = async (repository: string, reference: string, fallback?: string) => {
      const cached = cache.byManifest.get(reference);
      if (cached) return { digest: reference, entries: cached };
      const repo = store.repository(repository);
      try {
        return await readPackageEntries(repo, reference);
      } catch (error) {
        if (error instanceof NotFoundError && fallback) return readPackageEntries(repo, fallback);
        throw error;
      }
    };

    if (o.full) {
      const lastTag = (await listPromotionTags(store)).at(-1);
      await fullListing();
      newMark = lastTag ?? newMark;
    } else {
      const after = cache.warm ? cache.state.mark : marks.some((m) => m === undefined) ? undefined : marks.sort()[0];
      const from = after ? rewindMark(after) : '';
      // Only the log past the mark (rewound): a warm run costs the same whatever the log's length.
      const candidates = await listPromotionTags(store, from || undefined);
      const lastTag = candidates.at(-1);
      if (candidates.length > 0) {
        const known = new Set<string>();
        for (const [subdir, map] of cache.entries) for (const filename of map.keys()) known.add(fileKey(subdir, filename));
        const fresh = candidates.filter((t) => !known.has(t.slice(-16)));
        let firstFailure: string | undefined;
        const entries = await Promise.all(
          fresh.map((tag) =>
            limit(async (): Promise<LoggedPromotion | undefined> => {
              try {
                return await readPromotion(store, tag);
              } catch (error) {
                errors.push(errorLine(error));
                if (!firstFailure || tag < firstFailure) firstFailure = tag;
                return undefined;
              }
            }),
          ),
        );
        await Promise.all(
          entries.map((entry) =>
            limit(async () => {
              if (!entry || cache.has(entry.subdir, entry.filename)) return;
              if (!isSubdirName(entry.subdir) || !entry.repository.startsWith(`${entry.subdir}/`) || isIndexComponent(entry.repository.slice(entry.subdir.length + 1))) {
                errors.push(`promotion log entry ${entry.logTag} names ${entry.subdir}/${entry.filename} in repository ${entry.repository}, which is not a v0 package repository of that subdir; skipped`);
                return;
              }
              try {
                const got = await read(entry.repository, entry.manifestDigest, entry.tag);
                const at = Date.parse(entry.promotedAt) || now().getTime();
                for (const pkg of got.entries) {
                  const stamped = withIndexedTimestamp(pkg, at);
                  if (cache.add({ subdir: entry.subdir, manifestDigest: got.digest, pkg: stamped })) {
                    const w = want(entry.subdir);
                    if (w) {
                      w.added++;
                      w.dirty = true;
                    }
                    report(`indexed ${entry.subdir}/${stamped.filename}`, { artifact: `${entry.subdir}/${stamped.filename}` });
                  }
                }
              } catch (error) {
                errors.push(`cannot index ${entry.subdir}/${entry.filename} from ${entry.repository}: ${errorLine(error)}`);
                if (!firstFailure || entry.logTag < firstFailure) firstFailure = entry.logTag;
              }
            }),
          ),
        );
        // Subdirs first seen in the log get read too (their latest may exist already).
        const unread = [...work.values()].filter((w) => !w.checked);
        await Promise.all(unread.map((w) => limit(() => readLatest(w))));
        if (firstFailure) {
          const before = candidates.filter((t) => t < firstFailure!).at(-1);
          newMark = before && (!after || before > after) ? before : after;
        } else {
          newMark = lastTag && (!after || lastTag > after) ? lastTag : after;
        }
      } else if (!cache.warm) {
        newMark = after;
      }
    }

    // Files we have that the published latest lacks (cache learnt them earlier, or another run lost them).
    for (const w of work.values()) {
      if (o.full || w.dirty) continue;
      const pub = published.get(w.subdir);
      const have = cache.subdirEntries(w.subdir);
      if (!pub) {
        if (have.size !== (cache.state.subdirs[w.subdir]?.indexed ?? -1)) w.dirty = true;
        continue;
      }
      const inPub = new Set(pub.entries.map((e) => e.filename));
      for (const filename of have.keys()) {
        if (!inPub.has(filename)) {
          w.dirty = true;
          break;
        }
      }
    }

    // --- build and push ------------------------------------------------------------------------------
    const createdAt = now().toISOString();
    const built = new Map<string, SubdirIndexFiles>();
    const build = (subdir: string) => {
      const packages = [...cache.subdirEntries(subdir).values()].map((e) => e.pkg);
      // The static tree needs every shard's bytes; a registry-only run re-encodes changed names only.
      const keys = o.out === undefined ? cache.state.subdirs[subdir]?.shardKeys : undefined;
      const previousShards = keys ? new Map(Object.entries(keys).map(([name, [key, hex]]) => [name, { key, hex }])) : undefined;
      const files = buildSubdirIndex(subdir, packages, { createdAt, ...(previousShards ? { previousShards } : {}) });
      // Kept for the static tree only: a big channel should not hold every subdir's files at once.
      if (o.out !== undefined) built.set(subdir, files);
      return files;
    };
    const results: SubdirIndex[] = [];
    let pushedSomething = false;
    for (const w of [...work.values()].sort((a, b) => (a.subdir < b.subdir ? -1 : 1))) {
      let files: SubdirIndexFiles | undefined;
      if (o.full && !w.dirty) {
        files = build(w.subdir);
        const pubDigest = published.get(w.subdir)?.repodataDigest;
        if (pubDigest !== sha256Of(files.repodataJson)) w.dirty = true;
      }
      if (!w.dirty) {
        results.push({ subdir: w.subdir, packages: cache.subdirEntries(w.subdir).size, added: w.added, repodataDigest: w.latest ?? '', tags: [] });
        continue;
      }
      try {
        const pushed = await publishSubdir(w, files ?? build(w.subdir));
        results.push(pushed);
        pushedSomething = true;
      } catch (error) {
        errors.push(`cannot publish the index of ${w.subdir}: ${errorLine(error)}`);
        results.push({ subdir: w.subdir, packages: cache.subdirEntries(w.subdir).size, added: w.added, repodataDigest: w.latest ?? '', tags: [] });
      }
    }

    // channeldata.json: only for an unrestricted run (it covers every subdir).
    let channelData: Buffer | undefined;
    const needChannelData = !restricted && (pushedSomething || !cache.state.channeldata || o.out !== undefined);
    if (needChannelData) {
      const subdirs = [...work.keys()].sort().map((subdir) => ({ subdir, packages: [...cache.subdirEntries(subdir).values()].map((e) => e.pkg) }));
      const lacksAbout = subdirs.some((s) => s.packages.some((p) => !p.about));
      const previous = lacksAbout ? await readPreviousChannelData() : undefined;
      channelData = Buffer.from(channelDataJson(subdirs, previous ? { previous } : {}), 'utf8');
      if (sha256Of(channelData) !== cache.state.channeldata) {
        try {
          cache.state.channeldata = await pushChannelData(channelDataRepo, channelData, timestampTag(now()), createdAt);
        } catch (error) {
          errors.push(`cannot publish channeldata.json: ${errorLine(error)}`);
        }
      }
    }

    if (errors.length === 0 || newMark !== cache.state.mark) cache.state.mark = newMark;
    await cache.save();

    if (o.out !== undefined) {
      for (const w of work.values()) if (!built.has(w.subdir)) build(w.subdir);
      const subdirs = [...built.values()].sort((a, b) => (a.subdir < b.subdir ? -1 : 1));
      report(`writing the static channel tree to ${o.out}`);
      await writeChannelTree(store, o.out, subdirs, channelData, {
        channelName: store.display,
        concurrency,
        modified: now().getTime(),
        ...(o.signal ? { signal: o.signal } : {}),
      });
    }

    for (const e of errors) report(e);
    return { ok: errors.length === 0, subdirs: results, requests: counting.count(), ...(errors.length ? { errors } : {}) };

    // --- helpers needing the closure ---------------------------------------------------------------

    async function fullListing(): Promise<void> {
      const names = catalog ?? knownPackageRepositories();
      const repos = new Map<string, string[]>();
      for (const name of names) {
        const parts = name.split('/');
        if (parts.length !== 2 || !isSubdirName(parts[0]!) || isIndexComponent(parts[1]!)) continue;
        const w = want(parts[0]!);
        if (!w) continue;
        const list = repos.get(w.subdir) ?? [];
        list.push(name);
        repos.set(w.subdir, list);
      }
      const fresh = new Map<string, Map<string, CachedEntry>>();
      for (const w of work.values()) fresh.set(w.subdir, new Map());
      const publishedFiles = new Map<string, Map<string, IndexedPackage>>();
      for (const [subdir, pub] of published) publishedFiles.set(subdir, new Map(pub.entries.map((e) => [e.filename, e])));
      const stampOf = (subdir: string, filename: string): number | undefined => {
        const fromCache = cache.entries.get(subdir)?.get(filename)?.pkg.record.indexed_timestamp;
        if (typeof fromCache === 'number') return fromCache;
        const fromPub = publishedFiles.get(subdir)?.get(filename)?.record.indexed_timestamp;
        return typeof fromPub === 'number' ? fromPub : undefined;
      };
      const jobs: Array<Promise<void>> = [];
      // Tags of one repository are read under their own limit: nesting one limiter would deadlock.
      const tagLimit = pLimit(concurrency);
      for (const [subdir, list] of repos) {
        for (const name of list) {
          jobs.push(
            limit(async () => {
              const tags = await store.repository(name).listTags();
              await Promise.all(
                tags.map((tag) =>
                  tagLimit(async () => {
                    try {
                      const head = await store.repository(name).resolve(tag);
                      if (!head || head.mediaType !== MediaType.ImageManifest) return;
                      const got = await read(name, head.digest);
                      for (const pkg of got.entries) {
                        const at = stampOf(subdir, pkg.filename) ?? now().getTime();
                        fresh.get(subdir)!.set(pkg.filename, { subdir, manifestDigest: got.digest, pkg: withIndexedTimestamp(pkg, at) });
                      }
                    } catch (error) {
                      errors.push(`cannot index ${name}:${tag}: ${errorLine(error)}`);
                    }
                  }),
                ),
              );
            }),
          );
        }
      }
      await Promise.all(jobs);
      for (const [subdir, map] of fresh) {
        const w = work.get(subdir)!;
        const old = cache.entries.get(subdir);
        w.added = [...map.keys()].filter((f) => !old?.has(f) && !publishedFiles.get(subdir)?.has(f)).length;
        cache.replaceSubdir(subdir, [...map.values()]);
      }
    }

    function knownPackageRepositories(): string[] {
      const names = new Set<string>();
      for (const [subdir, map] of cache.entries) for (const entry of map.values()) names.add(`${subdir}/${repoComponent(entry.pkg.record.name)}`);
      for (const [subdir, pub] of published) for (const entry of pub.entries) names.add(`${subdir}/${repoComponent(entry.record.name)}`);
      return [...names];
    }

    async function publishSubdir(w: SubdirWork, first: SubdirIndexFiles): Promise<SubdirIndex> {
      const repository = store.repository(repodataRepository(w.subdir));
      let files = first;
      const state = (cache.state.subdirs[w.subdir] ??= {});
      const knownShards = new Set<string>();
      for (let attempt = 1; ; attempt++) {
        const stamp = timestampTag(now());
        for (const hex of await pushShards(repository, files, knownShards, stamp, concurrency, !w.latest)) knownShards.add(hex);
        const { bytes } = await prepareRepodataManifest(repository, files, { created: createdAt, ...(newMark ? { mark: newMark } : {}) });
        const ours = await settle(() => repository.pushManifest(bytes, MediaType.ImageManifest, stamp));
        // Before moving latest: take in whatever a concurrent reindex published meanwhile.
        const before = await repository.resolve('latest');
        if (before && before.digest !== w.latest && before.digest !== ours.digest) {
          const pub = await readPublishedRepodata(repository, before.digest, w.subdir);
          w.latest = before.digest;
          if (mergePublished(w.subdir, pub) > 0 && attempt < LATEST_ATTEMPTS) {
            files = build(w.subdir);
            continue;
          }
        }
        await settle(() => repository.pushManifest(bytes, MediaType.ImageManifest, 'latest'));
        // A racing run may have moved latest between our read and our write: check it kept our files.
        await sleep(50 + Math.floor(Math.random() * 100));
        const after = await repository.resolve('latest');
        let final = ours.digest;
        if (after && after.digest !== ours.digest) {
          const pub = await readPublishedRepodata(repository, after.digest, w.subdir);
          const theirs = new Set(pub.entries.map((e) => e.filename));
          const missing = [...cache.subdirEntries(w.subdir).keys()].some((f) => !theirs.has(f));
          mergePublished(w.subdir, pub);
          w.latest = after.digest;
          if (missing && attempt < LATEST_ATTEMPTS) {
            files = build(w.subdir);
            continue;
          }
          if (missing) throw new Error(`latest of ${repository.display} kept being replaced by other reindexes; run reindex again`);
          final = after.digest;
        }
        state.latest = final;
        state.indexed = files.packages.length;
        state.shardKeys = Object.fromEntries([...files.shardKeys].map(([name, k]) => [name, [k.key, k.hex] as [string, string]]));
        return { subdir: w.subdir, packages: files.packages.length, added: w.added, repodataDigest: final, tags: [stamp, 'latest'] };
      }
    }
  } finally {
    await opened.release();
  }
}

function repoComponent(name: string): string {
  return name.startsWith('_') ? `zzz${name}` : name;
}

