// mirror: bring an existing conda channel (anaconda.org, a static tree, another oci-channel location) into the
// registry, incrementally. The registry is the state: a file the destination serves (its latest repodata) or
// holds at its v0 tag with the same sha256 is skipped without sending a byte, so a second run transfers only
// what is new upstream and a killed run resumes where it stopped. Every other file is streamed from upstream,
// checked against upstream's record before anything is pushed, and pushed with upload's per-package step.
// Into production (the bootstrap) upstream's patched records are kept as the channel's patch instructions and
// then each file is recorded in the promotion log, as promote does (mirror/checkpoint.ts).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import { NotFoundError } from '@oci-channel/oci';
import {
  EMPTY_PATCH_INSTRUCTIONS,
  condaTwin,
  condaTwinFixes,
  fixedRecord,
  isValidSubdir,
  parsePackageFilename,
  servesUpstreamRecord,
  type ChannelRecord,
  type MirroredRecord,
  type PatchInstructions,
  type RecordPatch,
} from '@oci-channel/conda';
import { errorLine, openChannel } from '../core/open.ts';
import { fetchPackageManifest, type PackageManifest } from '../core/package-manifest.ts';
import { reporter } from '../core/progress.ts';
import { readChannelPatchInstructions } from '../index/channel-patches.ts';
import { repodataRepository } from '../index/names.ts';
import { readPackageEntries, readPublishedRepodata } from '../index/read.ts';
import { SubdirCheckpoints } from '../mirror/checkpoint.ts';
import { MirrorProgress } from '../mirror/progress.ts';
import { groupByTag, nameFilter, sinceFilter, type TagGroup } from '../mirror/select.ts';
import { RefusedError, transferFile, type TransferContext } from '../mirror/transfer.ts';
import { appendPromotion, fileKey, listPromotionTags, promotionLogRepository } from '../records/promotion-log.ts';
import { openUpstream, type UpstreamFile } from '../upstream/index.ts';
import type { MirroredArtifact, MirrorOptions, MirrorResult } from '../types.ts';
import { ConfigBlobs } from './upload.ts';
import { resolveConcurrency } from '../defaults.ts';

/** Files compared between two checkpoints (instructions stored, then logged), and the longest time between them. */
const CHECKPOINT_FILES = 2000;
const CHECKPOINT_MS = 5 * 60 * 1000;

/** A file in production waiting for its promotion log entry (after the checkpoint that covers its record). */
interface LogItem {
  file: UpstreamFile;
  repository: string;
  tag: string;
  manifestDigest: string;
  /** The manifest's bytes when at hand: the log entry carries them (reindex then reads nothing more for the file). */
  manifest?: Uint8Array;
}

interface SubdirRun {
  subdir: string;
  /** filename -> the package record of each file the destination's latest index holds (any label, unpatched). */
  served: Map<string, ChannelRecord>;
  /** The channel's patch instructions at the start (production), and what their `packages` fixes reach by name. */
  stored: PatchInstructions;
  twins: Map<string, RecordPatch>;
  checkpoints: SubdirCheckpoints<LogItem>;
}

/** A package record without what a channel stamps on it when it indexes the file. */
function packageRecordOf(served: ChannelRecord): ChannelRecord {
  const { indexed_timestamp: _at, ...record } = served;
  return record as ChannelRecord;
}

export async function mirror(o: MirrorOptions): Promise<MirrorResult> {
  const report = reporter(o.progress, 'mirror');
  for (const s of o.subdirs ?? []) {
    if (!isValidSubdir(s)) throw new Error(`invalid subdir ${JSON.stringify(s)}: use noarch or OS-ARCH such as linux-64`);
  }
  if (o.since !== undefined && Number.isNaN(o.since.getTime())) throw new Error('the --since time is not a valid date; use YYYY-MM-DD or an RFC 3339 time');
  if (typeof o.to === 'string' && o.to.replace(/\/+$/, '') === o.from.replace(/\/+$/, '')) throw new Error(`mirror from ${o.from} to itself: give another destination`);

  const concurrency = resolveConcurrency(o.concurrency, 'mirror');
  const upstream = openUpstream(o.from, {
    concurrency,
    ...(o.fromStoreOptions ? { storeOptions: o.fromStoreOptions } : {}),
    ...(o.upstreamTimeoutMs ? { timeoutMs: o.upstreamTimeoutMs } : {}),
  });
  const opened = openChannel(o.to, o.storeOptions);
  const store = opened.store;
  const progress = new MirrorProgress((line) => report(line));
  const artifacts: MirroredArtifact[] = [];
  /** `subdir/filename` -> its entry in artifacts, for files this run mirrored (a failed log entry changes it). */
  const listedArtifacts = new Map<string, MirroredArtifact>();
  const removedUpstream: MirrorResult['removedUpstream'] = [];
  const patches: MirrorResult['patches'] = [];
  const subdirResults: MirrorResult['subdirs'] = [];
  const errors: string[] = [];
  const limit = pLimit(concurrency);
  const logLimit = pLimit(concurrency);
  const wantName = nameFilter(o.packages);
  const since = sinceFilter(o.since);
  let tmpDir: string | undefined;
  let transfer: TransferContext | undefined;
  /** Files counted as already there whose promotion log entry then failed (they count as failed instead). */
  let unlogged = 0;
  // Which files the promotion log records (the last 16 hex of each tag), read once when first needed.
  let loggedKeys: Promise<Set<string>> | undefined;
  const logged = () => (loggedKeys ??= listPromotionTags(store).then((tags) => new Set(tags.map((t) => t.slice(-16)))));

  try {
    if (o.production && !o.dryRun) {
      try {
        await promotionLogRepository(store).checkPushAccess();
      } catch (error) {
        throw new Error(`destination ${store.display}: no push access to its promotion log (${errorLine(error)}); mirroring into production needs its token`, { cause: error });
      }
    }
    tmpDir = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-mirror-'));
    transfer = {
      upstream,
      store,
      fullRead: o.production === true,
      tmpDir,
      configs: new ConfigBlobs(),
      report,
      ...(o.signal ? { signal: o.signal } : {}),
    };

    const subdirs = o.subdirs ?? (await upstream.subdirs(o.signal));
    if (!subdirs) throw new Error(`upstream ${upstream.display} does not list its subdirs (no channeldata.json); name them with --subdir`);

    for (const subdir of subdirs) {
      const listing = await upstream.readSubdir(subdir, wantName, o.signal).catch((error: unknown) => {
        if (o.signal?.aborted) throw error;
        errors.push(errorLine(error));
        return null;
      });
      if (listing === null) continue;
      if (!listing) {
        errors.push(`upstream ${upstream.display} has no index for ${subdir} (no shards, repodata.json.zst or repodata.json); check the subdir`);
        continue;
      }
      const served = await servedRecords(subdir);
      // What the channel's instructions say now: a file whose package record they turn into upstream's needs no
      // look (production; elsewhere nothing is stored and every difference is reported). A dry run reads them too.
      const keepsPatches = o.production === true && o.patches !== false;
      const write = keepsPatches && !o.dryRun;
      let known: { digest: string; instructions: PatchInstructions } | undefined;
      if (keepsPatches) {
        try {
          known = await readChannelPatchInstructions(store, subdir);
        } catch (error) {
          errors.push(`destination ${store.display}: cannot read ${subdir}/patch_instructions.json:latest (${errorLine(error)}); fix or delete it, then run mirror again`);
        }
      }
      const stored = known?.instructions ?? EMPTY_PATCH_INSTRUCTIONS;
      const selected = listing.files.filter(since);
      const invalid = listing.invalid.filter(since);
      report(`${subdir}: ${selected.length} files selected from upstream's ${listing.format}`);
      subdirResults.push({ subdir, format: listing.format, selected: selected.length + invalid.length });
      for (const bad of invalid) {
        artifacts.push({ subdir, filename: bad.filename, sha256: '', size: 0, status: 'refused', reason: bad.reason });
        progress.plan(1, 0);
        progress.dropped('refused', 0, 0);
      }

      // What the destination holds that upstream no longer lists (same name filter on both sides), unless the
      // channel's instructions take it out of the index already.
      const listed = new Set([...listing.files.map((f) => f.filename), ...listing.invalid.map((f) => f.filename)]);
      const takenOut = new Set(stored.remove.flatMap((f) => [f, condaTwin(f)]));
      const removed: string[] = [];
      for (const [filename, record] of served) {
        if (listed.has(filename) || takenOut.has(filename)) continue;
        let name = typeof record.name === 'string' ? record.name : undefined;
        try {
          name ??= parsePackageFilename(filename).name;
        } catch {
          continue; // not a package file name: nothing a mirror can compare
        }
        if (wantName(name)) removed.push(filename);
      }
      removed.sort();
      for (const filename of removed) {
        removedUpstream.push({ subdir, filename });
        report('listed by the destination, no longer by upstream', { artifact: `${subdir}/${filename}` });
      }

      const checkpoints = new SubdirCheckpoints<LogItem>({
        store,
        subdir,
        write,
        ...(known ? { known } : {}),
        ...(o.applyRemovals && write ? { removals: { remove: removed, listed: (filename: string) => listed.has(filename) } } : {}),
        everyFiles: o.checkpointFiles ?? CHECKPOINT_FILES,
        everyMs: CHECKPOINT_MS,
        report: (line) => report(line),
        log: logFiles,
        error: (line) => errors.push(line),
      });
      const run: SubdirRun = { subdir, served, stored, twins: condaTwinFixes(stored), checkpoints };
      progress.plan(selected.length, selected.reduce((sum, f) => sum + f.size, 0));
      await Promise.all(groupByTag(selected).map((group) => limit(() => mirrorGroup(run, group))));
      const patch = await checkpoints.finish();
      if (patch) patches.push(patch);
    }
  } finally {
    progress.tick(true);
    if (tmpDir) await rm(tmpDir, { recursive: true, force: true });
    await upstream.close();
    await opened.release();
  }

  /** The destination's index of a subdir: every file it holds with its package record (none when it has no index yet). */
  async function servedRecords(subdir: string): Promise<Map<string, ChannelRecord>> {
    const served = new Map<string, ChannelRecord>();
    try {
      const pub = await readPublishedRepodata(store.repository(repodataRepository(subdir)), 'latest', subdir);
      for (const entry of pub.entries) served.set(entry.filename, entry.record);
    } catch (error) {
      if (!(error instanceof NotFoundError)) errors.push(`destination: cannot read ${subdir}/repodata.json:latest (${errorLine(error)}); every file is checked at its tag instead`);
    }
    return served;
  }

  function finish(file: UpstreamFile, status: MirroredArtifact['status'], extra: Partial<MirroredArtifact> = {}): void {
    const artifact: MirroredArtifact = { subdir: file.subdir, filename: file.filename, sha256: file.sha256, size: file.size, status, ...extra };
    artifacts.push(artifact);
    if (status === 'mirrored') listedArtifacts.set(`${file.subdir}/${file.filename}`, artifact);
    report(extra.reason ? `${status}: ${extra.reason}` : status, { artifact: `${file.subdir}/${file.filename}`, ...(status === 'mirrored' ? { bytes: file.size, totalBytes: file.size } : {}) });
  }

  /** The files of one build (one tag): skip what is there, transfer the rest one after the other, compare. */
  async function mirrorGroup(run: SubdirRun, group: TagGroup): Promise<void> {
    const where = `${store.display}/${group.repository}:${group.tag}`;
    const atTag: UpstreamFile[] = [];
    // The package records known so far: from the index for files it holds, from the package for the others.
    const derived = new Map<string, ChannelRecord>();
    let recordsDiffer = false;
    for (const file of group.files) {
      const served = run.served.get(file.filename);
      if (!served) atTag.push(file);
      else if (served.sha256 !== file.sha256) {
        progress.dropped('refused', file.size, 0);
        finish(file, 'refused', { reason: `destination already serves ${file.subdir}/${file.filename} with sha256 ${served.sha256}, upstream now lists ${file.sha256}; nothing overwritten` });
      } else {
        progress.already(file.size);
        const record = packageRecordOf(served);
        derived.set(file.filename, record);
        if (!servesUpstreamRecord(fixedRecord(file.filename, record, run.stored, run.twins), file.record)) recordsDiffer = true;
      }
    }
    if (atTag.length === 0) {
      // Indexed already: only a record upstream changed (or the instructions do not cover) needs a look.
      if (recordsDiffer && !o.dryRun) run.checkpoints.add(comparedRecords(group, derived), []);
      return;
    }

    let existing: PackageManifest | undefined;
    try {
      existing = await fetchPackageManifest(store, group.repository, group.tag);
    } catch (error) {
      for (const file of atTag) {
        progress.dropped('failed', file.size, 0);
        finish(file, 'failed', { reason: `destination ${where}: ${errorLine(error)}` });
      }
      return;
    }
    const toTransfer: UpstreamFile[] = [];
    const unindexed: UpstreamFile[] = [];
    for (const file of atTag) {
      const held = existing?.view.packages.find((p) => p.filename === file.filename);
      if (!held) toTransfer.push(file);
      else if (held.sha256 === file.sha256) {
        progress.already(file.size);
        unindexed.push(file);
      } else {
        progress.dropped('refused', file.size, 0);
        finish(file, 'refused', { reason: `destination ${where} already holds a different ${file.filename} (sha256 ${held.sha256}, upstream ${file.sha256}); nothing overwritten` });
      }
    }
    if (o.dryRun) {
      for (const file of toTransfer) finish(file, 'would-mirror', { repository: group.repository, tag: group.tag });
      return;
    }

    // The package records of the files at the tag but not indexed yet, from the manifest's index.json layer
    // (both formats of the build at once): a .tar.bz2 patch also reaches the .conda of the same stem, so the
    // build is compared whole.
    if (existing && unindexed.length > 0) {
      try {
        const read = await readPackageEntries(store.repository(group.repository), existing.descriptor.digest);
        const wanted = new Set(unindexed.map((f) => f.filename));
        for (const entry of read.entries) if (wanted.has(entry.filename)) derived.set(entry.filename, entry.record);
      } catch (error) {
        errors.push(`destination ${where}: cannot read its info/index.json for the upstream patch (${errorLine(error)}); run mirror again`);
      }
    }

    let manifestDigest: string | undefined = existing?.descriptor.digest;
    let manifest: Uint8Array | undefined = existing?.bytes;
    const mirrored: UpstreamFile[] = [];
    for (const file of toTransfer) {
      let fetched = 0;
      try {
        const out = await transferFile(transfer!, file, (delta) => {
          fetched += delta;
          progress.fetched(delta);
        });
        manifestDigest = out.uploaded.manifestDigest;
        manifest = out.manifest;
        derived.set(file.filename, out.derived);
        mirrored.push(file);
        progress.done();
        finish(file, 'mirrored', { repository: group.repository, tag: group.tag, manifestDigest: out.uploaded.manifestDigest });
      } catch (error) {
        if (o.signal?.aborted) throw error;
        const status = error instanceof RefusedError ? 'refused' : 'failed';
        progress.dropped(status, file.size, fetched);
        finish(file, status, { reason: errorLine(error) });
      }
    }

    // The checkpoint stores what upstream changed in the build's records before it logs its files (into
    // production, what is there but not indexed yet must be logged for reindex to see it).
    const toLog: LogItem[] = [];
    if (o.production && manifestDigest) {
      for (const file of [...unindexed, ...mirrored]) {
        if (derived.has(file.filename)) toLog.push({ file, repository: group.repository, tag: group.tag, manifestDigest, ...(manifest ? { manifest } : {}) });
      }
    }
    run.checkpoints.add(comparedRecords(group, derived), toLog);
  }

  /** Upstream's record and the package's, for each file of the build whose package record is known. */
  function comparedRecords(group: TagGroup, derived: Map<string, ChannelRecord>): MirroredRecord[] {
    const compared: MirroredRecord[] = [];
    for (const file of group.files) {
      const record = derived.get(file.filename);
      if (record) compared.push({ filename: file.filename, upstream: file.record, derived: record });
    }
    return compared;
  }

  /** Records files in the promotion log (production), unless their patch instructions could not be stored. */
  async function logFiles(items: LogItem[], blocked?: string): Promise<void> {
    if (!o.production || o.dryRun || items.length === 0) return;
    let keys: Set<string>;
    try {
      keys = await logged();
    } catch (error) {
      loggedKeys = undefined;
      blocked ??= `its promotion log could not be listed (${errorLine(error)}); run mirror again`;
      keys = new Set();
    }
    // As many entries in flight as builds are (a checkpoint can cover thousands of files).
    await Promise.all(
      items.map(({ file, repository, tag, manifestDigest, manifest }) =>
        logLimit(async () => {
          const key = fileKey(file.subdir, file.filename);
          if (keys.has(key)) return;
          if (blocked) return unloggedFile(file, `in the destination but not in its promotion log: ${blocked}`);
          try {
            await appendPromotion(store, { subdir: file.subdir, filename: file.filename, repository, tag, manifestDigest, ...(manifest ? { manifest } : {}) });
            keys.add(key);
            report('logged', { artifact: `${file.subdir}/${file.filename}` });
          } catch (error) {
            unloggedFile(file, `in the destination but its promotion log entry could not be written (${errorLine(error)}); run mirror again`);
          }
        }),
      ),
    );
  }

  /** A file in production that reindex will not see yet: it counts as failed (mirrored now, or already there). */
  function unloggedFile(file: UpstreamFile, reason: string): void {
    const entry = listedArtifacts.get(`${file.subdir}/${file.filename}`);
    if (entry) Object.assign(entry, { status: 'failed', reason });
    else {
      unlogged++;
      finish(file, 'failed', { reason });
    }
  }

  artifacts.sort((a, b) => (a.subdir === b.subdir ? (a.filename < b.filename ? -1 : a.filename > b.filename ? 1 : 0) : a.subdir < b.subdir ? -1 : 1));
  const count = (status: MirroredArtifact['status']) => artifacts.filter((a) => a.status === status).length;
  const summary = {
    selected: progress.total,
    mirrored: count('mirrored'),
    alreadyThere: progress.alreadyThere - unlogged,
    refused: count('refused'),
    failed: count('failed'),
    removedUpstream: removedUpstream.length,
    bytes: artifacts.filter((a) => a.status === 'mirrored').reduce((sum, a) => sum + a.size, 0),
  };
  return { ok: errors.length === 0 && summary.refused === 0 && summary.failed === 0, artifacts, removedUpstream, patches, subdirs: subdirResults, summary, errors };
}
