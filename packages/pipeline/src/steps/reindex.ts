// reindex: the channel index (repodata.json + zst + shards + run_exports.json per subdir, channeldata.json, and
// one index per label under label/<label>/) rebuilt from production alone, with the repodata patches applied.
// Incremental: a record cache keyed by manifest digest plus the promotion and label logs read past their
// high-water marks; with a cold cache it resumes from the published `latest` repodata.
// `full` lists production instead. `latest` never moves back: it is re-read before and after each move.
import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import { MediaType, NotFoundError, UnsupportedError, type Digest } from '@oci-channel/oci';
import { buildSubdirIndex, channelDataJson, isKnownSubdir, KNOWN_SUBDIRS, MAIN_LABEL, newestVersion, recordWith, type IndexedPackage, type KnownShard, type PatchInstructions, type SubdirIndexFiles } from '@oci-channel/conda';
import { parseJsonObject } from '../core/json.ts';
import { readSmallBlob } from '../core/blobs.ts';
import { IndexCache, type CachedEntry, type SubdirState } from '../index/cache.ts';
import { countingStore } from '../index/counting.ts';
import {
  CHANNELDATA_REPOSITORY,
  IndexMediaType,
  isIndexComponent,
  isPackageRepository,
  isRepodataRepository,
  isSubdirName,
  labelRepodataRepository,
  repodataRepository,
  rewindMark,
  timestampTag,
} from '../index/names.ts';
import { applyLabelChange } from '../index/labels.ts';
import { loadPatches } from '../index/patches.ts';
import { prepareRepodataManifest, pushChannelData, pushShards, settle } from '../index/publish.ts';
import { publishedViewKey, readPackageEntries, readPublishedRepodata, viewKey, type PublishedRepodata } from '../index/read.ts';
import { writeChannelTree, type TreeIndex } from '../index/tree.ts';
import { buildLabelIndexes, buildMainIndex, inMainIndex, labelsLayer, mainPackages, type BuiltSubdir, type LabelState } from '../index/views.ts';
import { listLabelTags, readLabelChange, type LoggedLabelChange } from '../records/labels.ts';
import { VisibilityChecker } from '../github/visibility.ts';
import { errorLine, openChannel, productionOptions } from '../core/open.ts';
import { reporter } from '../core/progress.ts';
import { fileKey, listPromotionTags, readPromotion, type LoggedPromotion } from '../records/promotion-log.ts';
import type { ReindexOptions, ReindexResult, SubdirIndex } from '../types.ts';
import { OptionsError, PipelineError } from '../errors.ts';
import { ATTEMPTS, resolveConcurrency } from '../defaults.ts';

/** Attempts to move `latest` when other reindexes keep replacing it. */
const LATEST_ATTEMPTS = ATTEMPTS.latest;


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
  /** Label indexes must be rebuilt (and pushed where they changed). */
  labelsDirty?: boolean;
  /** Someone else moved `latest`: compare label indexes with what the registry holds, not with our cache. */
  recheckLabels?: boolean;
}

/** Refuses subdirs that are no conda platform (a typo would publish an empty index no one asked for). */
function checkSubdirs(o: ReindexOptions): void {
  for (const s of o.subdirs ?? []) {
    if (!isSubdirName(s)) throw new OptionsError(`invalid subdir ${JSON.stringify(s)}: use noarch or OS-ARCH such as linux-64`);
    if (!isKnownSubdir(s) && !(o.allowSubdirs ?? []).includes(s)) {
      throw new OptionsError(
        `unknown subdir ${JSON.stringify(s)}: conda and rattler know ${KNOWN_SUBDIRS.join(', ')}; check the spelling, or admit a new platform with allowSubdirs (--allow-subdir ${s}; the reindex action's allow-subdirs); nothing was written`,
      );
    }
  }
}

/** The shard keys kept in the cache, as buildSubdirIndex takes them. */
const shardMap = (keys: Record<string, [string, string]> | undefined): Map<string, KnownShard> | undefined =>
  keys ? new Map(Object.entries(keys).map(([name, [key, hex]]) => [name, { key, hex }])) : undefined;
const shardRecord = (keys: Map<string, KnownShard>): Record<string, [string, string]> =>
  Object.fromEntries([...keys].map(([name, k]) => [name, [k.key, k.hex] as [string, string]]));

export async function reindex(o: ReindexOptions): Promise<ReindexResult> {
  const report = reporter(o.progress, 'reindex');
  checkSubdirs(o);
  const opened = openChannel(o.channel, productionOptions(o), resolveConcurrency(o.concurrency, 'reindex'));
  const counting = countingStore(opened.store);
  const store = counting.store;
  const now = o.now ?? (() => new Date());
  const concurrency = resolveConcurrency(o.concurrency, 'reindex');
  const limit = pLimit(concurrency);
  const errors: string[] = [];
  // An index repository pushed for the first time may be a new private package (ghcr.io): anonymous clients
  // could not read the channel. Checked once per repository, where `github` is given.
  const visibility = new VisibilityChecker(o.github, o.visibilityCheck);
  const firstPushes: string[] = [];
  try {
    const cache = new IndexCache(o.cacheDir, store.display);
    await cache.load();
    const labels: LabelState = { names: new Set(cache.state.labelNames ?? []), ops: (cache.state.labelOps ??= {}) };
    const namesKnown = labels.names.size;
    const noteLabel = (label: string) => {
      if (label !== MAIN_LABEL) labels.names.add(label);
    };
    /** Applies a label change (newest per file and label wins); true when it changed what we knew. */
    const applyChange = (subdir: string, filename: string, label: string, on: boolean, tag: string): boolean => {
      noteLabel(label);
      const next = applyLabelChange(labels.ops[subdir]?.[filename], label, on, tag);
      if (next) (labels.ops[subdir] ??= {})[filename] = next;
      return next !== undefined;
    };
    const restricted = o.subdirs ? new Set(o.subdirs) : undefined;
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
    // Subdirs holding packages or an index (one whose index was removed is dropped below: no latest, no packages).
    for (const name of catalog ?? []) if (isPackageRepository(name) || isRepodataRepository(name)) want(name.split('/')[0]!);
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
    const labelMarks: Array<string | undefined> = [];
    const published = new Map<string, PublishedRepodata>();
    /** Label state of a published latest (names, promotion labels come with the entries); how many changes were new. */
    const mergeLabels = (subdir: string, pub: PublishedRepodata): number => {
      let changed = 0;
      for (const name of pub.labels?.names ?? []) noteLabel(name);
      for (const [filename, state] of Object.entries(pub.labels?.files ?? {})) {
        if (state.promoted) noteLabel(state.promoted);
        for (const [label, [tag, on]] of Object.entries(state.ops ?? {})) if (applyChange(subdir, filename, label, on, tag)) changed++;
      }
      return changed;
    };
    const mergePublished = (subdir: string, pub: PublishedRepodata): number => {
      let added = 0;
      const files = pub.labels?.files ?? {};
      for (const pkg of pub.entries) {
        const promoted = files[pkg.filename]?.promoted;
        if (cache.add({ subdir, pkg, ...(promoted ? { label: promoted } : {}) })) added++;
      }
      return added + mergeLabels(subdir, pub);
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
        labelMarks.push(cache.state.labelMark);
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
        labelMarks.push(undefined);
        return;
      }
      published.set(w.subdir, pub);
      marks.push(pub.mark);
      labelMarks.push(pub.labelMark);
      if (!o.full) mergePublished(w.subdir, pub);
      else mergeLabels(w.subdir, pub);
      // Someone else's latest: its label indexes may differ from what our cache remembers.
      w.labelsDirty = true;
      w.recheckLabels = true;
      cache.state.subdirs[w.subdir] = { ...state, latest: head.digest, indexed: pub.entries.length, patchKey: pub.patchKey, labelsDigest: pub.labelsDigest };
    };
    await Promise.all([...work.values()].map((w) => limit(() => readLatest(w))));

    // --- what is new: the promotion log (incremental) or a listing of production (full) --------------
    // A channel with neither packages nor a promotion log is a wrong path (a typo): publish nothing there. Only a
    // first index (cold cache, no published index anywhere) lists the whole log for it; it reads all of it anyway.
    const wholeLog = !cache.warm && [...work.values()].every((w) => !w.latest) ? await listPromotionTags(store) : undefined;
    if (wholeLog?.length === 0 && !(await holdsPackages())) {
      throw new OptionsError(`nothing at ${store.display}: it holds no packages and no promotion log; check the path (nothing was written)`);
    }
    let newMark = cache.state.mark;
    const read = async (repository: string, reference: string, fallback?: string, bytes?: Uint8Array) => {
      const cached = cache.byManifest.get(reference);
      if (cached) return { digest: reference, entries: cached };
      const repo = store.repository(repository);
      try {
        return await readPackageEntries(repo, reference, bytes ? { bytes, digest: reference as Digest } : undefined);
      } catch (error) {
        if (error instanceof NotFoundError && fallback) return readPackageEntries(repo, fallback);
        throw error;
      }
    };

    if (o.full) {
      const lastTag = (wholeLog ?? (await listPromotionTags(store))).at(-1);
      await fullListing();
      newMark = lastTag ?? newMark;
    } else {
      const after = cache.warm ? cache.state.mark : marks.some((m) => m === undefined) ? undefined : marks.sort()[0];
      const from = after ? rewindMark(after) : '';
      // Only the log past the mark (rewound): a warm run costs the same whatever the log's length.
      const candidates = !from && wholeLog ? wholeLog : await listPromotionTags(store, from || undefined);
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
                const entry = await readPromotion(store, tag);
                // Every subdir gets an index per label of the channel, whichever subdir named it.
                if (entry.label) noteLabel(entry.label);
                return entry;
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
                const got = await read(entry.repository, entry.manifestDigest, entry.tag, entry.manifest);
                const at = Date.parse(entry.promotedAt) || now().getTime();
                for (const pkg of got.entries) {
                  const stamped = withIndexedTimestamp(pkg, at);
                  const label = entry.label && entry.label !== MAIN_LABEL ? { label: entry.label } : {};
                  if (cache.add({ subdir: entry.subdir, manifestDigest: got.digest, pkg: stamped, ...label })) {
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

    // --- label changes: the label log past its mark (listed after the promotion log: a change recorded before its
    // file's promotion entry is then always seen with it) -------------------------------------------------------
    let newLabelMark = cache.state.labelMark;
    {
      const after = cache.warm ? cache.state.labelMark : labelMarks.length > 0 && labelMarks.every((m) => m !== undefined) ? labelMarks.sort()[0] : undefined;
      const from = after ? rewindMark(after) : '';
      // Only the log past the mark (rewound), like the promotion log.
      const labelTags = await listLabelTags(store, from || undefined);
      // Changes already applied are known by their tags; only the rest is read.
      const applied = new Set<string>();
      for (const files of Object.values(labels.ops)) for (const ops of Object.values(files)) for (const [tag] of Object.values(ops)) applied.add(tag);
      const candidates = labelTags.filter((t) => t > from && !applied.has(t));
      let firstFailure: string | undefined;
      const changes = await Promise.all(
        candidates.map((tag) =>
          limit(async (): Promise<LoggedLabelChange | undefined> => {
            try {
              return await readLabelChange(store, tag);
            } catch (error) {
              errors.push(errorLine(error));
              if (!firstFailure || tag < firstFailure) firstFailure = tag;
              return undefined;
            }
          }),
        ),
      );
      for (const c of changes) {
        if (!c || !applyChange(c.subdir, c.filename, c.label, c.action === 'add', c.logTag)) continue;
        const w = want(c.subdir);
        if (w) w.dirty = true;
        report(`${c.action} label ${c.label} (by ${c.actor})`, { artifact: `${c.subdir}/${c.filename}` });
      }
      const last = firstFailure ? labelTags.filter((t) => t < firstFailure!).at(-1) : labelTags.at(-1);
      newLabelMark = last && (!after || last > after) ? last : after;
    }
    // A label new to the channel gets an index in every subdir.
    if (labels.names.size > namesKnown) for (const w of work.values()) w.labelsDirty = true;

    // --- repodata patches (after the logs: a new patches build may just have been promoted); a source that cannot
    // be used stops the run here, before anything is pushed ----------------------------------------------------------
    const noarch = () => [...cache.subdirEntries('noarch').values()];
    const patches = await loadPatches({
      store,
      ...(cache.dir ? { cacheDir: cache.dir } : {}),
      ...(o.patchGenerator ? { patchGenerator: o.patchGenerator } : {}),
      ...(o.patchPackage ? { patchPackage: o.patchPackage } : {}),
      ...(o.patchInstructions ? { patchInstructions: o.patchInstructions } : {}),
      subdirs: [...work.keys()],
      known: (subdir, filename) => cache.entries.get(subdir)?.get(filename)?.pkg,
      mainBuilds: (name) => noarch().filter((e) => e.pkg.record.name === name && inMainIndex(labels, 'noarch', e)).map((e) => e.pkg),
      newestVersion,
      report: (message) => report(message),
    });
    for (const w of work.values()) {
      const before = cache.state.subdirs[w.subdir]?.patchKey ?? published.get(w.subdir)?.patchKey ?? '';
      if (patches.keyOf(w.subdir) !== before) {
        w.dirty = true;
        report(`the patch instructions of ${w.subdir} changed: re-patching it`);
      }
    }
    // Parsed when a subdir is built and let go after: a big channel's instructions are held one subdir at a time.
    const instructionsOf = (subdir: string): Promise<PatchInstructions[]> => patches.instructionsOf(subdir);

    // Files we have that the published latest lacks (cache learnt them earlier, or another run lost them), and
    // label changes it lacks (learnt by a run restricted to other subdirs).
    for (const w of work.values()) {
      if (w.dirty) continue;
      const labelsNow = labelsLayer(labels, w.subdir, cache.subdirEntries(w.subdir).values());
      if ((labelsNow ? sha256Of(labelsNow) : '') !== (cache.state.subdirs[w.subdir]?.labelsDigest ?? '')) {
        w.dirty = true;
        continue;
      }
      if (o.full) continue;
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
    const built = new Map<string, BuiltSubdir>();
    const builtLabels: TreeIndex[] = [];
    const build = async (subdir: string): Promise<BuiltSubdir> => {
      const entries = [...cache.subdirEntries(subdir).values()];
      // The static tree needs every shard's bytes; a registry-only run re-encodes changed names only.
      const previousShards = o.out === undefined ? shardMap(cache.state.subdirs[subdir]?.shardKeys) : undefined;
      const b = buildMainIndex(labels, subdir, entries, await instructionsOf(subdir), { createdAt, ...(previousShards ? { previousShards } : {}) });
      // Kept for the static tree only: a big channel should not hold every subdir's files at once.
      if (o.out !== undefined) built.set(subdir, b);
      return b;
    };
    const results: SubdirIndex[] = [];
    let pushedSomething = false;
    let dropped = false;
    for (const w of [...work.values()].sort((a, b) => (a.subdir < b.subdir ? -1 : 1))) {
      // A subdir no one asked for, with no packages and no published index (e.g. one whose index was removed):
      // nothing to publish, and channeldata.json stops listing it.
      if (w.subdir !== 'noarch' && !restricted?.has(w.subdir) && !w.latest && cache.subdirEntries(w.subdir).size === 0) {
        work.delete(w.subdir);
        delete cache.state.subdirs[w.subdir];
        dropped = true;
        continue;
      }
      let b: BuiltSubdir | undefined;
      if (o.full && !w.dirty) {
        b = await build(w.subdir);
        const pubDigest = published.get(w.subdir)?.repodataDigest;
        if (pubDigest !== sha256Of(b.files.repodataJson)) w.dirty = true;
      }
      let result: SubdirIndex = { subdir: w.subdir, packages: cache.subdirEntries(w.subdir).size, added: w.added, repodataDigest: w.latest ?? '', tags: [] };
      if (w.dirty) {
        try {
          b ??= await build(w.subdir);
          // What was finally pushed (merged with a concurrent reindex's state) is what the label indexes follow.
          ({ result, built: b } = await publishSubdir(w, b));
          pushedSomething = true;
        } catch (error) {
          errors.push(`cannot publish the index of ${w.subdir}: ${errorLine(error)}`);
        }
      }
      if (w.dirty || w.labelsDirty) {
        try {
          b ??= await build(w.subdir);
          const pushedLabels = await publishLabels(w, b);
          if (pushedLabels.length > 0) result = { ...result, labels: pushedLabels };
          if (pushedLabels.some((l) => l.pushed)) pushedSomething = true;
        } catch (error) {
          errors.push(`cannot publish the label indexes of ${w.subdir}: ${errorLine(error)}`);
        }
      }
      results.push(result);
    }

    // channeldata.json: only for an unrestricted run (it covers every subdir).
    let channelData: Buffer | undefined;
    const needChannelData = !restricted && (pushedSomething || dropped || !cache.state.channeldata || o.out !== undefined);
    if (needChannelData) {
      // The main index's packages: broken builds, other labels' builds and patch removals are not the channel's.
      const subdirs: Array<{ subdir: string; packages: IndexedPackage[] }> = [];
      for (const subdir of [...work.keys()].sort()) {
        subdirs.push({ subdir, packages: mainPackages(labels, subdir, [...cache.subdirEntries(subdir).values()], await instructionsOf(subdir)) });
      }
      const lacksAbout = subdirs.some((s) => s.packages.some((p) => !p.about));
      const previous = lacksAbout ? await readPreviousChannelData() : undefined;
      channelData = Buffer.from(channelDataJson(subdirs, previous ? { previous } : {}), 'utf8');
      if (sha256Of(channelData) !== cache.state.channeldata) {
        try {
          if (visibility.enabled && !(await channelDataRepo.resolve('latest'))) firstPushes.push(channelDataRepo.name);
          cache.state.channeldata = await pushChannelData(channelDataRepo, channelData, timestampTag(now()), createdAt);
        } catch (error) {
          errors.push(`cannot publish channeldata.json: ${errorLine(error)}`);
        }
      }
    }

    if (errors.length === 0 || newMark !== cache.state.mark) cache.state.mark = newMark;
    if (errors.length === 0 || newLabelMark !== cache.state.labelMark) cache.state.labelMark = newLabelMark;
    cache.state.labelNames = [...labels.names].sort();
    await cache.save();

    if (o.out !== undefined) {
      for (const w of work.values()) {
        if (builtLabels.some((l) => l.files.subdir === w.subdir) || (built.has(w.subdir) && labels.names.size === 0)) continue;
        const b = built.get(w.subdir) ?? (await build(w.subdir));
        builtLabels.push(...buildLabelIndexes(b, { createdAt, previousShards: () => undefined }));
      }
      const indexes: TreeIndex[] = [...[...built.values()].map((b): TreeIndex => ({ files: b.files })), ...builtLabels].sort((a, b) =>
        `${a.label ?? ''}/${a.files.subdir}` < `${b.label ?? ''}/${b.files.subdir}` ? -1 : 1,
      );
      report(`writing the static channel tree to ${o.out}`);
      await writeChannelTree(store, o.out, indexes, channelData, {
        channelName: store.display,
        concurrency,
        modified: now().getTime(),
        ...(o.signal ? { signal: o.signal } : {}),
      });
    }

    for (const repository of firstPushes) {
      const problem = await visibility.check(repository);
      if (problem) report(problem.fix);
    }
    const privatePackages = visibility.found;
    for (const e of errors) report(e);
    return {
      ok: errors.length === 0 && !(visibility.mode === 'fail' && privatePackages.length > 0),
      subdirs: results,
      requests: counting.count(),
      ...(errors.length ? { errors } : {}),
      ...(privatePackages.length ? { privatePackages } : {}),
    };

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
      // The label each file was promoted to is not in production's manifests: keep what the cache or latest knew.
      const labelOf = (subdir: string, filename: string): string | undefined =>
        cache.entries.get(subdir)?.get(filename)?.label ?? published.get(subdir)?.labels?.files[filename]?.promoted;
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
                        const label = labelOf(subdir, pkg.filename);
                        fresh.get(subdir)!.set(pkg.filename, { subdir, manifestDigest: got.digest, pkg: withIndexedTimestamp(pkg, at), ...(label ? { label } : {}) });
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

    /** Whether the channel holds any package: known from the cache, a published index or the catalog. */
    async function holdsPackages(): Promise<boolean> {
      if ([...cache.entries.values()].some((m) => m.size > 0)) return true;
      if ([...published.values()].some((p) => p.entries.length > 0)) return true;
      if (!catalog) {
        try {
          catalog = await store.listRepositories();
        } catch (error) {
          if (!(error instanceof UnsupportedError)) throw error;
          return false;
        }
      }
      return catalog.some(isPackageRepository);
    }

    function knownPackageRepositories(): string[] {
      const names = new Set<string>();
      for (const [subdir, map] of cache.entries) for (const entry of map.values()) names.add(`${subdir}/${repoComponent(entry.pkg.record.name)}`);
      for (const [subdir, pub] of published) for (const entry of pub.entries) names.add(`${subdir}/${repoComponent(entry.record.name)}`);
      return [...names];
    }

    async function publishSubdir(w: SubdirWork, first: BuiltSubdir): Promise<{ result: SubdirIndex; built: BuiltSubdir }> {
      const repository = store.repository(repodataRepository(w.subdir));
      let b = first;
      const state = (cache.state.subdirs[w.subdir] ??= {});
      const knownShards = new Set<string>();
      const patchKey = patches.keyOf(w.subdir);
      for (let attempt = 1; ; attempt++) {
        const files = b.files;
        const stamp = timestampTag(now());
        for (const hex of await pushShards(repository, files, knownShards, stamp, concurrency, !w.latest)) knownShards.add(hex);
        const { bytes } = await prepareRepodataManifest(
          repository,
          files,
          {
            created: createdAt,
            ...(newMark ? { mark: newMark } : {}),
            ...(newLabelMark ? { labelMark: newLabelMark } : {}),
            ...(patchKey ? { patches: patchKey, ...(patches.source ? { patchSource: patches.source } : {}) } : {}),
          },
          b.state,
        );
        const ours = await settle(() => repository.pushManifest(bytes, MediaType.ImageManifest, stamp));
        // Before moving latest: take in whatever a concurrent reindex published meanwhile.
        const before = await repository.resolve('latest');
        if (attempt === 1 && !before && !firstPushes.includes(repository.name)) firstPushes.push(repository.name);
        if (before && before.digest !== w.latest && before.digest !== ours.digest) {
          const pub = await readPublishedRepodata(repository, before.digest, w.subdir);
          w.latest = before.digest;
          if (mergePublished(w.subdir, pub) > 0 && attempt < LATEST_ATTEMPTS) {
            b = await build(w.subdir);
            continue;
          }
        }
        await settle(() => repository.pushManifest(bytes, MediaType.ImageManifest, 'latest'));
        // A racing run may have moved latest between our read and our write: check it kept our files.
        await sleep(50 + Math.floor(Math.random() * 100));
        const after = await repository.resolve('latest');
        let final = ours.digest;
        let theirs: PublishedRepodata | undefined;
        if (after && after.digest !== ours.digest) {
          theirs = await readPublishedRepodata(repository, after.digest, w.subdir);
          const files = new Set(theirs.entries.map((e) => e.filename));
          const missing = [...cache.subdirEntries(w.subdir).keys()].some((f) => !files.has(f));
          const learnt = mergePublished(w.subdir, theirs);
          w.latest = after.digest;
          if (missing && attempt < LATEST_ATTEMPTS) {
            b = await build(w.subdir);
            continue;
          }
          if (missing) throw new PipelineError(`latest of ${repository.display} kept being replaced by other reindexes; run reindex again`);
          final = after.digest;
          // Their state won: the label indexes follow the merged state, and the next run compares with theirs.
          if (learnt > 0) b = await build(w.subdir);
        }
        state.latest = final;
        state.indexed = b.indexed;
        state.patchKey = theirs ? theirs.patchKey : patchKey;
        state.labelsDigest = theirs ? theirs.labelsDigest : b.state.labels ? sha256Of(b.state.labels) : '';
        state.shardKeys = shardRecord(files.shardKeys);
        const result: SubdirIndex = {
          subdir: w.subdir,
          packages: b.indexed,
          added: w.added,
          repodataDigest: final,
          tags: [stamp, 'latest'],
          ...(b.removed > 0 ? { removed: b.removed } : {}),
        };
        return { result, built: b };
      }
    }

    /** Builds every label index of the subdir and pushes those whose content differs from what the registry holds. */
    async function publishLabels(w: SubdirWork, b: BuiltSubdir): Promise<NonNullable<SubdirIndex['labels']>> {
      const state: SubdirState = (cache.state.subdirs[w.subdir] ??= {});
      const views = (state.views ??= {});
      const indexes = buildLabelIndexes(b, { createdAt, previousShards: (label) => (o.out === undefined ? shardMap(views[label]?.shardKeys) : undefined) });
      const out: NonNullable<SubdirIndex['labels']> = [];
      for (const { label, files } of indexes) {
        if (o.out !== undefined) builtLabels.push({ label, files });
        const key = viewKey(sha256Of(files.repodataJson), sha256Of(files.runExportsJson));
        const repository = store.repository(labelRepodataRepository(label, w.subdir));
        const there = w.recheckLabels || !views[label] ? await publishedViewKey(repository) : views[label]!.key;
        let pushed = false;
        if (there !== key) {
          const stamp = timestampTag(now());
          await pushShards(repository, files, new Set(), stamp, concurrency);
          const { bytes } = await prepareRepodataManifest(repository, files, { created: createdAt });
          await settle(() => repository.pushManifest(bytes, MediaType.ImageManifest, stamp));
          await settle(() => repository.pushManifest(bytes, MediaType.ImageManifest, 'latest'));
          pushed = true;
          report(`pushed label/${label}/${w.subdir} (${files.packages.length} packages)`);
        }
        views[label] = { key, shardKeys: shardRecord(files.shardKeys) };
        out.push({ label, packages: files.packages.length, pushed });
      }
      return out;
    }
  } finally {
    await opened.release();
  }
}

function repoComponent(name: string): string {
  return name.startsWith('_') ? `zzz${name}` : name;
}

