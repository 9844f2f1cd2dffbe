// promote: staging -> production for artifacts with a passing verdict on the exact staged bytes.
// Order per artifact: (push access checked up front) copy by digest or merge -> verify production ->
// append to the promotion log -> remove the staging copy. Every step is idempotent, so a re-run after a
// crash anywhere converges; production is never overwritten with a different artifact.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import {
  copy,
  DeniedError,
  MediaType,
  NotFoundError,
  streamSource,
  UnauthorizedError,
  UnreachableError,
  UnsupportedError,
  type Descriptor,
  type ImageManifest,
  type Repository,
  type Store,
} from '@oci-channel/oci';
import { buildPackageManifest, withChannelSource } from '@oci-channel/conda';
import { artifactReason, formatArtifactRef, normalizeSha256, withoutSubject } from '../core/artifact-ref.ts';
import { downloadBlob } from '../core/blobs.ts';
import { withConcurrentPushRetry } from '../core/retry.ts';
import { TagTakenError, PipelineError } from '../errors.ts';
import { errorLine, openChannel, productionOptions, stagingOptions, throwIfUnreachable } from '../core/open.ts';
import { checkOwnership } from '../identity/owners.ts';
import { describeUploader, uploaderLabel } from '../identity/uploader.ts';
import { packageReader, type PackageReader } from '../core/package-reader.ts';
import { appendPromotion, findPromotion, listPromotionTags, promotionLogRepository } from '../records/promotion-log.ts';
import { byteTicker, type Reporter } from '../core/progress.ts';
import type { ArtifactRef, ArtifactVerdict, PromotedArtifact, PromoteOptions, PromoteResult, UploaderIdentity } from '../types.ts';
import { fetchPackageManifest, locateArtifact, type PackageManifest, type StagedLocation } from '../core/package-manifest.ts';
import { admitRequest, validateOne } from './validate.ts';
import { newestVerdict } from '../records/verdict.ts';
import { VisibilityChecker } from '../github/visibility.ts';
import type { VerdictKey } from '../records/verdict-key.ts';
import { ATTEMPTS, resolveConcurrency } from '../defaults.ts';
import { OtherWriters, holdIntent } from '../records/write-intent.ts';
import { ConfigBlobs } from './upload.ts';

type RecordedVerdict = Awaited<ReturnType<typeof newestVerdict>>;
/** Intents not left (a read-only staging credential, or nothing in staging to promote): nothing to release. */
const NO_INTENTS = { left: false, release: () => {} } as const;

const MERGE_ATTEMPTS = ATTEMPTS.merge;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
/**
 * How long after its PUT was sent a tag is read back: a concurrent promotion of the other format gets that moment
 * to land (first attempt short, later ones jittered). 20 ms away the PUT's own round trip is most of it.
 */
const readBackAt = (sentAt: number, attempt: number) => sentAt + (attempt === 0 ? 25 : 50 + Math.floor(Math.random() * 200));


/** Promote's options plus `revalidate`: ignore recorded verdicts and validate every artifact afresh. */
export type PromoteRunOptions = PromoteOptions & { revalidate?: boolean };

interface PromoteContext {
  staging: Store;
  production: Store;
  options: PromoteRunOptions;
  report: Reporter;
  /** The admins' key: verdicts are signed with it and only verdicts signed with it are trusted. */
  verdictKey?: VerdictKey | undefined;
  /** Who uploaded: verified from the identity token, or a name given for local use. */
  uploader?: UploaderIdentity | undefined;
  /** Opens the untrusted archives, in a child process that holds no secret. */
  reader: PackageReader;
  /** Log tags read once per run (refreshed lazily). */
  logTags?: Promise<string[]>;
  /** Bytes streamed registry to registry because the registry did not mount them. */
  streamedBytes: number;
  visibility: VisibilityChecker;
  /** Set once staging refused an intent (a read-only staging credential): promotions go on without them. */
  intentsRefused?: boolean;
}

interface Pending {
  ref: ArtifactRef;
  verdict: ArtifactVerdict;
  /** The verified sha256 (hex) production must end up holding. */
  sha256: string;
  /** Validated in this call (a download and a read: long enough for the production tag to change meanwhile). */
  validatedHere: boolean;
}

function failed(ref: ArtifactRef, status: PromotedArtifact['status'], reason: string, extra: Partial<PromotedArtifact> = {}): PromotedArtifact {
  return {
    subdir: ref.subdir,
    filename: ref.filename,
    verdict: 'failed',
    checks: extra.checks ?? [{ name: status === 'rejected' ? 'rejected' : 'error', ok: false, detail: reason }],
    reason: artifactReason(ref, reason),
    status,
    ...extra,
  };
}

/** Where a store cannot delete, the staging copy is left to gc. */
async function removeStaging(repository: Repository, digest: string): Promise<boolean> {
  try {
    await repository.deleteManifest(digest as Descriptor['digest']);
    return true;
  } catch (error) {
    if (error instanceof NotFoundError) return true; // a concurrent promote removed it
    if (error instanceof UnsupportedError) return false;
    throw error;
  }
}

/** Makes a blob present in production: already there, mounted from staging, or streamed. */
async function ensureBlob(ctx: PromoteContext, from: Repository, to: Repository, descriptor: Descriptor, source?: () => Promise<void>): Promise<void> {
  if (await to.statBlob(descriptor.digest)) return;
  if (ctx.staging.key === ctx.production.key && (await to.mountBlob(descriptor.digest, from))) return;
  if (source) {
    await source();
    return;
  }
  const stream = await from.fetchBlob(descriptor.digest, descriptor.size);
  const pushed = await to.pushBlob(streamSource(stream, descriptor.size), { digest: descriptor.digest, size: descriptor.size });
  if (pushed.pushed) ctx.streamedBytes += descriptor.size;
}

/**
 * Decide per artifact whether it may go: its newest SIGNED verdict on the exact staged digest, re-validating when
 * needed. Without a verdict key no recorded verdict is trusted: every artifact is validated here, in this call.
 */
async function admit(
  ctx: PromoteContext,
  ref: ArtifactRef,
  where: StagedLocation,
  staged: PackageManifest,
  /** The newest signed verdict, when it was already asked for (beside the production read). */
  prefetched?: Promise<RecordedVerdict | undefined>,
): Promise<{ ok: true; pending: Pending } | { ok: false; result: PromotedArtifact }> {
  const artifact = formatArtifactRef(ref);
  const layer = staged.view.packages.find((p) => p.filename === ref.filename);
  if (!layer) return { ok: false, result: failed(ref, 'rejected', `staging ${where.repository}:${where.tag} does not hold ${ref.filename}; upload it first`) };
  const declared = normalizeSha256(ref.sha256);
  const stagingRepo = ctx.staging.repository(where.repository);
  // Unsigned, forged (bad MAC) or other-key verdicts are skipped: they count as no verdict at all.
  const recorded = ctx.verdictKey && !ctx.options.revalidate ? await (prefetched ?? newestVerdict(stagingRepo, staged.descriptor.digest, ref.filename, ctx.verdictKey)) : undefined;
  const created = staged.view.annotations['org.opencontainers.image.created'];
  const stale = !recorded || (created !== undefined && recorded.doc.validatedAt < created);
  // A signed verdict proves what was checked, not what this request asks: re-check here what is cheap
  // (declared hash, uploader, ownership) and re-validate whenever the recorded verdict does not cover it.
  const mismatch =
    recorded !== undefined &&
    (recorded.doc.subdir !== ref.subdir ||
      recorded.doc.sha256 !== layer.sha256 ||
      (declared !== undefined && recorded.doc.sha256 !== declared) ||
      (ctx.uploader !== undefined && recorded.doc.uploader !== uploaderLabel(ctx.uploader)) ||
      (ctx.options.owners !== undefined && !recorded.doc.checks.some((c) => c.name === 'owner' && c.ok)) ||
      // Verdicts made before validate compared the staged manifest with the canonical one do not vouch for it.
      !recorded.doc.checks.some((c) => c.name === 'canonical-manifest' && c.ok));
  let verdict: ArtifactVerdict;
  let validatedHere = false;
  if (ctx.options.revalidate || stale || mismatch || recorded.doc.verdict === 'failed') {
    ctx.report(
      recorded || ctx.options.revalidate
        ? 're-validating'
        : ctx.verdictKey
          ? 'validating (no signed verdict yet)'
          : 'validating (no verdict key: recorded verdicts are not trusted)',
      { artifact },
    );
    verdict = await validateOne(ctx, ref);
    validatedHere = true;
  } else {
    verdict = {
      subdir: ref.subdir,
      filename: ref.filename,
      ...(declared ? { sha256: declared } : {}),
      manifestDigest: staged.descriptor.digest,
      size: layer.size,
      verdict: 'passed',
      checks: recorded.doc.checks,
      verdictDigest: recorded.digest,
    };
  }
  if (verdict.verdict !== 'passed') {
    return { ok: false, result: { ...verdict, status: 'rejected', reason: verdict.reason ?? `${artifact}: validation failed` } };
  }
  if (declared !== undefined && declared !== layer.sha256) {
    return { ok: false, result: failed(ref, 'rejected', `declared sha256 ${declared} but staging holds ${layer.sha256}`, verdict) };
  }
  if (ctx.options.owners !== undefined) {
    const owner = await checkOwnership(ctx.options.owners, where.name, ctx.uploader?.name);
    if (!owner.ok) return { ok: false, result: failed(ref, 'rejected', `${owner.detail} (${describeUploader(ctx.uploader)})`, verdict) };
  }
  return { ok: true, pending: { ref, verdict, sha256: layer.sha256, validatedHere } };
}

async function ensureLogged(ctx: PromoteContext, ref: ArtifactRef, where: StagedLocation, manifestDigest: string, manifest?: Uint8Array): Promise<void> {
  ctx.logTags ??= listPromotionTags(ctx.production);
  const tags = await ctx.logTags;
  if (await findPromotion(ctx.production, ref.subdir, ref.filename, tags)) return;
  await appendPromotion(ctx.production, {
    subdir: ref.subdir,
    filename: ref.filename,
    repository: where.repository,
    tag: where.tag,
    manifestDigest,
    ...(manifest ? { manifest } : {}),
    ...(ctx.options.label ? { label: ctx.options.label } : {}),
  });
  ctx.report('logged', { artifact: formatArtifactRef(ref) });
  // The first entry created the log's repository: reindex (and anyone) must be able to read it.
  if (tags.length === 0 && ctx.visibility.enabled) {
    const problem = await ctx.visibility.check(promotionLogRepository(ctx.production).name);
    if (problem) ctx.report(problem.fix);
  }
}

/**
 * Leaves a promotion intent per file in staging, kept fresh until `release()` (records/write-intent.ts). `left` says
 * whether they were left: a staging credential that may not push (read-only) is reported once, and promotions go
 * on without them.
 */
async function leaveIntents(ctx: PromoteContext, stagingRepo: Repository, filenames: string[], configs?: ConfigBlobs): Promise<{ left: boolean; release(): void }> {
  if (ctx.intentsRefused) return NO_INTENTS;
  // Without configs the staging repository is taken to hold the empty blob (a staged package manifest's config).
  const held = await Promise.allSettled(filenames.map((f) => holdIntent(stagingRepo, f, { kind: 'promoting', signal: ctx.options.signal, ...(configs ? { configs } : {}) })));
  const release = () => {
    for (const h of held) if (h.status === 'fulfilled') h.value.release();
  };
  const refused = held.find((h) => h.status === 'rejected');
  if (!refused) return { left: true, release };
  release();
  const error: unknown = refused.reason;
  if (!(error instanceof DeniedError || error instanceof UnauthorizedError)) throw error;
  if (!ctx.intentsRefused) {
    ctx.intentsRefused = true;
    ctx.report(`staging refused a promotion intent (${errorLine(error)}): promoting without them, so two promotions of one build's two formats at once could drop one from its tag; give promote push access to staging`);
  }
  return NO_INTENTS;
}

/** Puts every pending artifact of one tag into production and returns the verified production manifest. */
async function publishGroup(
  ctx: PromoteContext,
  where: StagedLocation,
  staged: PackageManifest,
  pending: Pending[],
  /** Production at this tag as read a moment ago (saves reading it again for the first attempt). */
  production: PackageManifest | undefined,
  /**
   * Read the tag again (a HEAD) right before the copy's PUT: when an artifact was validated in this call, the first
   * read of production is a download and a package read ago. Otherwise it is one round ago (the mounts), and the
   * read-back after the PUT is what catches a concurrent promotion.
   */
  recheckTag: boolean,
  /** Whether promotion intents were left before `production` was read (records/write-intent.ts). */
  intentsLeft: boolean,
): Promise<{ digest: string; manifest: Awaited<ReturnType<typeof fetchPackageManifest>> }> {
  const stagingRepo = ctx.staging.repository(where.repository);
  const productionRepo = ctx.production.repository(where.repository);
  const wanted = new Map(pending.map((p) => [p.ref.filename, p.sha256]));
  const holdsAll = (view: PackageManifest['view']) =>
    [...wanted].every(([filename, sha]) => view.packages.some((p) => p.filename === filename && p.sha256 === sha));

  // The other formats of the build, not promoted here: a concurrent promotion of one may be writing this tag too.
  const others = new OtherWriters(stagingRepo, [...wanted.keys()], 'promoting');
  for (let attempt = 0; attempt < MERGE_ATTEMPTS; attempt++) {
    const current = attempt === 0 ? production : await fetchPackageManifest(ctx.production, where.repository, where.tag);
    if (current) {
      for (const p of current.view.packages) {
        const want = wanted.get(p.filename);
        if (want !== undefined && want !== p.sha256) {
          throw new PipelineError(`production ${productionRepo.display}:${where.tag} already holds a different ${p.filename} (sha256 ${p.sha256}); nothing overwritten`);
        }
      }
      if (holdsAll(current.view)) return { digest: current.descriptor.digest, manifest: current };
    }
    const exact = !current && staged.view.packages.length === pending.length;
    // The validated (canonical) staged manifest with the channel's own source annotation: staging's is never copied.
    const productionBytes = exact ? withChannelSource(staged.manifest, ctx.options.sourceUrl) : undefined;
    // `current` was read after the intents (every later attempt reads it again), so no second read is needed for
    // the protocol; after a validation here it is a download and a package read old: read it again then.
    const tagStillFree = async () => {
      if (recheckTag && attempt === 0 && (await productionRepo.resolve(where.tag))) throw new TagTakenError(`${productionRepo.display}:${where.tag} appeared meanwhile`);
      sentAt = performance.now();
    };
    let sentAt = performance.now();
    if (productionBytes && Buffer.from(productionBytes).equals(Buffer.from(staged.bytes))) {
      // Byte-identical copy by digest: mounts on one registry, streams otherwise.
      const total = staged.view.packages.reduce((sum, p) => sum + p.size, 0);
      const ticker = byteTicker((bytes) => ctx.report('copying to production', { artifact: `${where.repository}:${where.tag}`, bytes, totalBytes: total }));
      // Blobs first, the tag last, and only if it is still free the moment before (registries have no conditional
      // PUT; the re-read below catches what slips through that last moment).
      try {
        const copied = await withConcurrentPushRetry(() =>
          copy(stagingRepo, staged.descriptor.digest, productionRepo, {
            tag: where.tag,
            manifest: { bytes: staged.bytes, mediaType: staged.descriptor.mediaType },
            verify: false,
            beforeManifest: tagStillFree,
            signal: ctx.options.signal,
            onProgress: (b) => ticker.tick(b),
          }),
        );
        // Streamed rather than mounted: ghcr.io never mounts, a registry-to-registry copy cannot.
        ctx.streamedBytes += copied.bytesCopied;
      } catch (error) {
        if (error instanceof TagTakenError) continue;
        throw error;
      }
    } else if (productionBytes) {
      // The same blobs (mounted or streamed), under the staged manifest with the channel's source annotation.
      const manifest = staged.manifest as unknown as ImageManifest;
      for (const descriptor of [manifest.config, ...manifest.layers]) await ensureBlob(ctx, stagingRepo, productionRepo, descriptor);
      try {
        await tagStillFree();
      } catch (error) {
        if (error instanceof TagTakenError) continue;
        throw error;
      }
      await withConcurrentPushRetry(() => productionRepo.pushManifest(productionBytes, MediaType.ImageManifest, where.tag));
    } else {
      // Production has the other format, or staging holds formats not being promoted: build the manifest
      // from the verified package files, merged into what production has.
      const dir = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-promote-'));
      try {
        let manifest: ImageManifest | undefined = current ? (current.manifest as unknown as ImageManifest) : undefined;
        let bytes: Uint8Array | undefined;
        const blobs: Array<{ descriptor: Descriptor; push: () => Promise<void> }> = [];
        for (const p of pending) {
          if (current?.view.packages.some((q) => q.filename === p.ref.filename)) continue;
          const layer = staged.view.packages.find((q) => q.filename === p.ref.filename);
          if (!layer) throw new PipelineError(`staging no longer holds ${p.ref.filename}`);
          const file = path.join(dir, p.ref.filename);
          const artifact = formatArtifactRef(p.ref);
          const ticker = byteTicker((bytes) => ctx.report('downloading to merge with production', { artifact, bytes, totalBytes: layer.size }));
          await downloadBlob(stagingRepo, layer.descriptor.digest, layer.descriptor.size, file, { signal: ctx.options.signal, onProgress: (b) => ticker.tick(b) });
          ctx.report('reading the package to merge its manifest', { artifact, totalBytes: layer.size });
          const pkg = await ctx.reader.read(file, { filename: p.ref.filename });
          const built = buildPackageManifest(pkg, { packagePath: file, existing: manifest, ...(ctx.options.sourceUrl ? { sourceUrl: ctx.options.sourceUrl } : {}) });
          manifest = built.manifest;
          bytes = built.bytes;
          for (const blob of built.blobs) {
            blobs.push({ descriptor: blob.descriptor, push: async () => void (await productionRepo.pushBlob(blob.source, { digest: blob.descriptor.digest, size: blob.descriptor.size })) });
          }
        }
        if (!bytes) throw new PipelineError('nothing to merge');
        for (const blob of blobs) await ensureBlob(ctx, stagingRepo, productionRepo, blob.descriptor, blob.push);
        // Merge only onto what is still there; otherwise start over from the new state.
        const before = await productionRepo.resolve(where.tag);
        if (before?.digest !== current?.descriptor.digest) continue;
        const manifestBytes = bytes;
        sentAt = performance.now();
        await withConcurrentPushRetry(() => productionRepo.pushManifest(manifestBytes, MediaType.ImageManifest, where.tag));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    // Verify what production serves now; a concurrent promote of the other format may have replaced it, or may
    // be about to (its intent is fresh and its file not there yet): then wait for it and read again.
    let after: PackageManifest | undefined;
    others.restart();
    for (let round = 0; ; round++) {
      await pause(readBackAt(sentAt, attempt + round) - performance.now());
      let fresh: string[];
      [after, fresh] = await Promise.all([fetchPackageManifest(ctx.production, where.repository, where.tag), intentsLeft ? others.fresh() : []]);
      const view = after?.view;
      if (!view || !holdsAll(view) || !others.keepWaiting(fresh, (f) => view.packages.some((p) => p.filename === f))) break;
      sentAt = performance.now();
    }
    if (after && holdsAll(after.view)) {
      for (const p of after.view.packages) {
        const want = wanted.get(p.filename);
        if (want !== undefined && p.descriptor.digest !== `sha256:${want}`) throw new PipelineError(`production layer of ${p.filename} is ${p.descriptor.digest}, not sha256:${want}`);
      }
      return { digest: after.descriptor.digest, manifest: after };
    }
  }
  throw new PipelineError(`production ${productionRepo.display}:${where.tag} kept changing under concurrent promotions (${MERGE_ATTEMPTS} attempts); re-run promote`);
}

async function promoteGroup(ctx: PromoteContext, where: StagedLocation, refs: ArtifactRef[]): Promise<PromotedArtifact[]> {
  // The promotion intents first, beside the staged read; production is read after them, so that read is the one a
  // merge is based on (records/write-intent.ts). A request for a file that turns out promoted or refused leaves one
  // too: its file is in the tag, or the other format's promoter waits for it at most a minute.
  const stagingRepo = ctx.staging.repository(where.repository);
  const leaving = leaveIntents(ctx, stagingRepo, refs.map((r) => r.filename));
  // Handled below, after the staged read: a refusal that comes first must not count as unhandled (a crash).
  leaving.catch(() => {});
  let staged: PackageManifest | undefined;
  try {
    staged = await fetchPackageManifest(ctx.staging, where.repository, where.tag);
  } catch (error) {
    leaving.then((i) => i.release(), () => {});
    throw error;
  }
  let intents: { left: boolean; release(): void };
  try {
    intents = await leaving;
  } catch (error) {
    // The intent's manifest needs the empty blob, which a staging repository without the package lacks: then
    // nothing here is promoted (each file is refused as not in staging) and no intent is needed. A staged manifest
    // that appeared meanwhile, or one not made by upload, gets the blob placed and the intents again.
    if (error instanceof UnreachableError) throw error;
    if (!staged) intents = NO_INTENTS;
    else intents = await leaveIntents(ctx, stagingRepo, refs.map((r) => r.filename), new ConfigBlobs());
  }
  try {
    return await promoteStaged(ctx, where, refs, staged, intents.left);
  } finally {
    intents.release();
  }
}

/** The rest of promoteGroup, once the intents are left and the staged manifest read. */
async function promoteStaged(ctx: PromoteContext, where: StagedLocation, refs: ArtifactRef[], staged: PackageManifest | undefined, intentsLeft: boolean): Promise<PromotedArtifact[]> {
  const results: PromotedArtifact[] = [];
  const stagingRepo = ctx.staging.repository(where.repository);
  // The signed verdicts beside the production read: one round, not two.
  const verdicts = new Map<string, Promise<RecordedVerdict | undefined>>();
  if (staged && ctx.verdictKey && !ctx.options.revalidate) {
    for (const ref of refs) {
      if (!staged.view.packages.some((p) => p.filename === ref.filename)) continue;
      const recorded = newestVerdict(stagingRepo, staged.descriptor.digest, ref.filename, ctx.verdictKey);
      recorded.catch(() => {}); // awaited by admit, or not needed (production holds it)
      verdicts.set(ref.filename, recorded);
    }
  }
  const production = await fetchPackageManifest(ctx.production, where.repository, where.tag);
  const pending: Pending[] = [];
  const already: Array<{ ref: ArtifactRef; sha256: string }> = [];

  for (const ref of refs) {
    const artifact = formatArtifactRef(ref);
    const inProduction = production?.view.packages.find((p) => p.filename === ref.filename);
    const inStaging = staged?.view.packages.find((p) => p.filename === ref.filename);
    const declared = normalizeSha256(ref.sha256);
    if (inProduction && (!inStaging || inStaging.sha256 === inProduction.sha256)) {
      if (declared !== undefined && declared !== inProduction.sha256) {
        results.push(failed(ref, 'rejected', `declared sha256 ${declared} but production already holds ${inProduction.sha256}`));
      } else {
        already.push({ ref, sha256: inProduction.sha256 });
      }
      continue;
    }
    if (!staged || !inStaging) {
      results.push(failed(ref, 'rejected', `not found in staging ${stagingRepo.display}:${where.tag}; upload it first`));
      continue;
    }
    // A different artifact in production (or any other failure) is recorded on the staged copy by validation.
    const admitted = inProduction ? { ok: false as const, result: { ...(await validateOne(ctx, ref)), status: 'rejected' as const } } : await admit(ctx, ref, where, staged, verdicts.get(ref.filename));
    if (!admitted.ok) {
      // A concurrent promote may have published this very file and removed the staged copy meanwhile.
      const now = inProduction ? undefined : await fetchPackageManifest(ctx.production, where.repository, where.tag).catch(() => undefined);
      const published = now?.view.packages.find((p) => p.filename === ref.filename);
      if (published && published.sha256 === inStaging.sha256 && (declared === undefined || declared === published.sha256)) {
        already.push({ ref, sha256: published.sha256 });
        continue;
      }
      ctx.report(`rejected: ${withoutSubject(admitted.result.reason ?? '', artifact)}`, { artifact });
      results.push(admitted.result);
      continue;
    }
    pending.push(admitted.pending);
  }

  let productionDigest: string | undefined = production?.descriptor.digest;
  let current = production;
  if (pending.length > 0 && staged) {
    try {
      for (const p of pending) ctx.report('copying to production', { artifact: formatArtifactRef(p.ref), totalBytes: p.verdict.size });
      // A package name production never had: once it exists, check that anonymous clients can read it.
      const newName = ctx.visibility.enabled && !production && (await ctx.production.repository(where.repository).listTags()).length === 0;
      const published = await publishGroup(ctx, where, staged, pending, production, pending.some((p) => p.validatedHere), intentsLeft);
      productionDigest = published.digest;
      current = published.manifest;
      for (const p of pending) ctx.report('copied to production', { artifact: formatArtifactRef(p.ref) });
      if (newName) {
        const problem = await ctx.visibility.check(ctx.production.repository(where.repository).name);
        if (problem) ctx.report(problem.fix, { artifact: `${where.repository}:${where.tag}` });
      }
    } catch (error) {
      // A concurrent promote may have finished the job (and removed staging): then it is promoted.
      const now = await fetchPackageManifest(ctx.production, where.repository, where.tag).catch(() => undefined);
      for (const p of pending) {
        const there = now?.view.packages.find((q) => q.filename === p.ref.filename);
        if (there && there.sha256 === p.sha256) already.push({ ref: p.ref, sha256: p.sha256 });
        else results.push(failed(p.ref, 'failed', errorLine(error), { ...p.verdict }));
      }
      current = now;
      productionDigest = now?.descriptor.digest;
      pending.length = 0;
    }
  }

  const done: Array<{ ref: ArtifactRef; status: 'promoted' | 'already-promoted'; verdict?: ArtifactVerdict; sha256: string }> = [
    ...pending.map((p) => ({ ref: p.ref, status: 'promoted' as const, verdict: p.verdict, sha256: p.sha256 })),
    ...already.map((a) => ({ ref: a.ref, status: 'already-promoted' as const, sha256: a.sha256 })),
  ];
  if (done.length === 0) return results;

  // The log is written only once production is verified, and before staging is touched.
  const logged = new Set<string>();
  for (const d of done) {
    try {
      await ensureLogged(ctx, d.ref, where, productionDigest ?? '', current?.bytes);
      logged.add(d.ref.filename);
    } catch (error) {
      results.push(failed(d.ref, 'failed', `in production but the promotion log could not be written: ${errorLine(error)}; re-run promote`, { productionDigest }));
    }
  }

  // Remove the staged manifest only when production holds every package it carries. It is deleted by the digest
  // read at the start, whose content cannot have changed: an upload that meanwhile moved the staging tag to a
  // manifest with another format made a new digest, which stays.
  let stagingRemoved = false;
  if (!staged) stagingRemoved = true;
  else if (current && staged.view.packages.every((s) => current.view.packages.some((p) => p.filename === s.filename && p.sha256 === s.sha256))) {
    if (logged.size === done.length) {
      try {
        stagingRemoved = await removeStaging(stagingRepo, staged.descriptor.digest);
        if (stagingRemoved) ctx.report('staging copy removed', { artifact: `${where.repository}:${where.tag}` });
      } catch (error) {
        ctx.report(`could not remove the staging copy: ${errorLine(error)}; gc will`, { artifact: `${where.repository}:${where.tag}` });
      }
    }
  }

  for (const d of done) {
    if (!logged.has(d.ref.filename)) continue;
    const declared = normalizeSha256(d.ref.sha256);
    results.push({
      subdir: d.ref.subdir,
      filename: d.ref.filename,
      ...(declared ? { sha256: declared } : { sha256: d.sha256 }),
      ...(d.verdict ? { manifestDigest: d.verdict.manifestDigest, size: d.verdict.size, verdictDigest: d.verdict.verdictDigest } : {}),
      verdict: 'passed',
      checks: d.verdict?.checks ?? [{ name: 'production', ok: true, detail: `already in production with sha256 ${d.sha256}` }],
      status: d.status,
      productionDigest,
      stagingRemoved,
    });
  }
  return results;
}

export async function promote(o: PromoteRunOptions): Promise<PromoteResult> {
  const { report, verdictKey, uploader, refused } = await admitRequest(o, 'promote');
  if (refused) return { ok: false, artifacts: refused.map((a) => ({ ...a, status: 'rejected' as const })) };
  const concurrency = resolveConcurrency(o.concurrency, 'promote');
  const staging = openChannel(o.staging, stagingOptions(o), concurrency);
  const production = openChannel(o.production, productionOptions(o), concurrency);
  const visibility = new VisibilityChecker(o.github, o.visibilityCheck);
  const ctx: PromoteContext = { staging: staging.store, production: production.store, options: o, report, verdictKey, uploader, reader: packageReader(), streamedBytes: 0, visibility };
  const withUploader = (result: PromoteResult): PromoteResult => (uploader ? { ...result, uploader } : result);
  try {
    const results: PromotedArtifact[] = [];
    const groups = new Map<string, { where: StagedLocation; refs: ArtifactRef[] }>();
    for (const ref of o.artifacts) {
      let where: StagedLocation;
      try {
        where = locateArtifact(ref);
      } catch (error) {
        results.push(failed(ref, 'rejected', errorLine(error)));
        continue;
      }
      const key = `${where.repository}:${where.tag}`;
      const group = groups.get(key) ?? { where, refs: [] };
      if (!group.refs.some((r) => r.filename === ref.filename)) group.refs.push(ref);
      groups.set(key, group);
    }

    // Push access to production first: a staging-only token must fail before anything is touched. The promotion
    // log is written by every promotion, so it is the one probe (two requests per package repository cost more
    // than the promotion itself); a token scoped to fewer repositories is refused at that artifact's first blob
    // mount, before its tag is written, and reported for that artifact.
    const limit = pLimit(concurrency);
    try {
      await promotionLogRepository(production.store).checkPushAccess();
    } catch (error) {
      throwIfUnreachable(error);
      const reason =
        error instanceof DeniedError || error instanceof UnauthorizedError
          ? `no push access to production: ${errorLine(error)}; promote needs a token that can write the production channel`
          : `cannot check push access to production: ${errorLine(error)}`;
      for (const g of groups.values()) for (const ref of g.refs) results.push(failed(ref, 'failed', reason));
      return withUploader({ ok: false, artifacts: order(o.artifacts, results) });
    }

    await Promise.all(
      [...groups.values()].map((g) =>
        limit(async () => {
          try {
            results.push(...(await promoteGroup(ctx, g.where, g.refs)));
          } catch (error) {
            throwIfUnreachable(error);
            for (const ref of g.refs) results.push(failed(ref, 'failed', errorLine(error)));
          }
        }),
      ),
    );
    const artifacts = order(o.artifacts, results);
    const privatePackages = visibility.found;
    const promotedAll = artifacts.length > 0 && artifacts.every((a) => a.status === 'promoted' || a.status === 'already-promoted');
    return withUploader({
      ok: promotedAll && !(visibility.mode === 'fail' && privatePackages.length > 0),
      artifacts,
      streamedBytes: ctx.streamedBytes,
      ...(privatePackages.length ? { privatePackages } : {}),
    });
  } finally {
    await Promise.all([staging.release(), production.release()]);
  }
}

function order(refs: ArtifactRef[], results: PromotedArtifact[]): PromotedArtifact[] {
  const index = new Map(refs.map((r, i) => [formatArtifactRef(r), i]));
  return [...results].sort((a, b) => (index.get(formatArtifactRef(a)) ?? 0) - (index.get(formatArtifactRef(b)) ?? 0));
}
