// upload: push packages to a staging channel in the v0 layout. Blobs first (each only when missing), the
// manifest last; a second format of the same build is merged into the manifest at the tag, never replacing it.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import pLimit from 'p-limit';
import { MediaType, NotFoundError, type ImageManifest, type Repository, type Store } from '@oci-channel/oci';
import { buildPackageManifest, describePackageManifest, encodeTag, packageRepository, readPackage, type PackageInfo } from '@oci-channel/conda';
import { parseJsonObject } from './artifact-manifest.ts';
import { withConcurrentPushRetry } from './push-retry.ts';
import { errorLine, openChannel } from './open.ts';
import { byteTicker, reporter } from './progress.ts';
import type { UploadedArtifact, UploadOptions, UploadResult } from './types.ts';

/** Rounds of read-merge-push when a concurrent upload of the other format keeps replacing the tag. */
const MERGE_ATTEMPTS = 6;
/** Files uploaded at once when not told. */
const DEFAULT_CONCURRENCY = 8;

export class UploadConflictError extends Error {}

async function currentManifest(repository: Repository, tag: string): Promise<{ digest: string; manifest: ImageManifest } | undefined> {
  // One GET by tag (the digest is checked against Docker-Content-Digest) instead of HEAD + GET.
  let fetched;
  try {
    fetched = await repository.fetchManifest(tag);
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
  return { digest: fetched.descriptor.digest, manifest: parseJsonObject(fetched.bytes, `manifest ${repository.display}:${tag}`) as unknown as ImageManifest };
}

function holdsPackage(manifest: ImageManifest, where: string, filename: string): { sha256: string } | undefined {
  const view = describePackageManifest(manifest, where);
  const pkg = view.packages.find((p) => p.filename === filename);
  return pkg ? { sha256: pkg.sha256 } : undefined;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Wait before re-reading a tag we wrote: first round short, later ones jittered so racing writers spread out. */
const settle = (round: number) => pause(round === 0 ? 50 : 100 + Math.floor(Math.random() * 200));

interface UploadStepOptions {
  sourceUrl?: string;
  report: ReturnType<typeof reporter>;
  signal?: AbortSignal;
}

/**
 * Pushes one package's blobs and merges it into the manifest at its tag, once. `unverified` says the
 * manifest was written and must be re-read later: a concurrent upload of the other format may replace it.
 */
async function pushToTag(store: Store, file: string, pkg: PackageInfo, options: UploadStepOptions): Promise<{ result: UploadedArtifact; unverified: boolean }> {
  const relative = packageRepository(pkg.subdir, pkg.name);
  const tag = encodeTag(pkg.version, pkg.build);
  const repository = store.repository(relative);
  const artifact = `${pkg.subdir}/${pkg.filename}`;
  const where = `${repository.display}:${tag}`;
  const base = { subdir: pkg.subdir, filename: pkg.filename, sha256: pkg.sha256, md5: pkg.md5, size: pkg.size, repository: relative, tag };

  let pushedBlobs = false;
  for (let attempt = 0; attempt < MERGE_ATTEMPTS; attempt++) {
    const existing = await currentManifest(repository, tag);
    if (existing) {
      const held = holdsPackage(existing.manifest, where, pkg.filename);
      if (held && held.sha256 === pkg.sha256) {
        return { result: { ...base, manifestDigest: existing.digest, status: pushedBlobs ? 'uploaded' : 'unchanged' }, unverified: false };
      }
      if (held) {
        throw new UploadConflictError(
          `${artifact}: ${where} already holds a different ${pkg.filename} (sha256 ${held.sha256}, this file ${pkg.sha256}); nothing overwritten - bump the build number`,
        );
      }
    }
    // Throws PackageError when `existing` is a different build under the same tag.
    const built = buildPackageManifest(pkg, { packagePath: file, existing: existing?.manifest, ...(options.sourceUrl ? { sourceUrl: options.sourceUrl } : {}) });
    // Every round pushes what its manifest brings (a blob already there costs one HEAD): the manifest to
    // merge into may have changed, and with it which info layers are ours to push. The blobs are independent,
    // so they go at once: the small ones cost no extra wait beside the package.
    await Promise.all(
      built.blobs.map((blob) => {
        const ticker = byteTicker((bytes) => options.report('pushing', { artifact, bytes, totalBytes: blob.descriptor.size }));
        return repository.pushBlob(blob.source, { digest: blob.descriptor.digest, size: blob.descriptor.size }, { onProgress: (b) => ticker.tick(b), signal: options.signal });
      }),
    );
    pushedBlobs = true;
    // Someone changed the tag while we pushed blobs: merge again from what is there now.
    const before = await repository.resolve(tag);
    if ((before?.digest ?? undefined) !== existing?.digest) continue;
    const pushed = await withConcurrentPushRetry(() => repository.pushManifest(built.bytes, MediaType.ImageManifest, tag));
    return { result: { ...base, manifestDigest: pushed.digest, status: 'uploaded' }, unverified: true };
  }
  throw new Error(`${artifact}: ${where} kept changing under concurrent uploads (${MERGE_ATTEMPTS} attempts); retry the upload`);
}

/**
 * Re-reads the tag we wrote. Returns the result to keep, or undefined when a concurrent upload of the other
 * format replaced our manifest (or we theirs) and this package must be merged again.
 */
async function verifyAtTag(store: Store, pkg: PackageInfo, pushed: UploadedArtifact): Promise<UploadedArtifact | undefined> {
  const repository = store.repository(pushed.repository);
  const after = await currentManifest(repository, pushed.tag);
  if (!after) return pushed;
  if (holdsPackage(after.manifest, `${repository.display}:${pushed.tag}`, pkg.filename)?.sha256 === pkg.sha256) {
    return { ...pushed, manifestDigest: after.digest };
  }
  return undefined;
}

/** Uploads one package and checks, after a moment, that a concurrent upload did not drop it from the tag. */
export async function uploadOne(store: Store, file: string, pkg: PackageInfo, options: UploadStepOptions): Promise<UploadedArtifact> {
  for (let round = 0; round < MERGE_ATTEMPTS; round++) {
    const { result, unverified } = await pushToTag(store, file, pkg, options);
    if (!unverified) return result;
    await settle(round);
    const kept = await verifyAtTag(store, pkg, result);
    if (kept) return kept;
  }
  throw new Error(`${pkg.subdir}/${pkg.filename}: ${pkg.subdir}/${pkg.name} kept changing under concurrent uploads (${MERGE_ATTEMPTS} attempts); retry the upload`);
}

/** Runs tasks with the same key one after another (the two formats of one build share a tag). */
function keyedSerializer() {
  const tails = new Map<string, Promise<unknown>>();
  return async <T>(key: string, task: () => Promise<T>): Promise<T> => {
    const previous = tails.get(key) ?? Promise.resolve();
    const run = previous.then(task, task);
    const tail = run.catch(() => undefined);
    tails.set(key, tail);
    try {
      return await run;
    } finally {
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
}

export async function upload(o: UploadOptions): Promise<UploadResult> {
  const opened = openChannel(o.to, o.storeOptions);
  // Within one run, files that land under the same tag merge one after the other instead of racing.
  const serialize = keyedSerializer();
  const report = reporter(o.progress, 'upload');
  const limit = pLimit(o.concurrency ?? DEFAULT_CONCURRENCY);
  const artifacts: UploadedArtifact[] = [];
  const errors: UploadResult['errors'] = [];
  // Manifests we wrote, re-read once for the whole batch (not after a pause per package).
  let unverified: Array<{ file: string; pkg: PackageInfo; result: UploadedArtifact }> = [];
  const step = { sourceUrl: o.sourceUrl, report, signal: o.signal };
  const tagKey = (pkg: PackageInfo) => `${packageRepository(pkg.subdir, pkg.name)}:${encodeTag(pkg.version, pkg.build)}`;
  const refuse = (file: string, shown: string, error: unknown) => {
    const line = errorLine(error);
    report(`refused: ${line}`, { artifact: shown });
    errors.push({ file, error: line });
  };
  const push = async (file: string, pkg: PackageInfo) => {
    const outcome = await serialize(tagKey(pkg), () => pushToTag(opened.store, file, pkg, step));
    if (outcome.unverified) unverified.push({ file, pkg, result: outcome.result });
    else finish(outcome.result);
  };
  const finish = (result: UploadedArtifact) => {
    report(result.status, { artifact: `${result.subdir}/${result.filename}`, bytes: result.size, totalBytes: result.size });
    artifacts.push(result);
  };
  try {
    await Promise.all(
      o.files.map((file) =>
        limit(async () => {
          const shown = path.basename(file);
          try {
            const info = await stat(file);
            if (!info.isFile()) throw new Error(`${file} is not a regular file`);
            report('reading', { artifact: shown, totalBytes: info.size });
            // Metadata only: validate reads the staged package in full before anything is promoted.
            const pkg = await readPackage(file, { metadataOnly: true });
            report('uploading', { artifact: `${pkg.subdir}/${pkg.filename}`, totalBytes: pkg.size });
            await push(file, pkg);
          } catch (error) {
            refuse(file, shown, error);
          }
        }),
      ),
    );
    for (let round = 0; unverified.length > 0; round++) {
      const pending = unverified;
      unverified = [];
      if (round >= MERGE_ATTEMPTS) {
        for (const { file, pkg } of pending) {
          refuse(file, path.basename(file), new Error(`${pkg.subdir}/${pkg.filename}: its tag kept changing under concurrent uploads (${MERGE_ATTEMPTS} attempts); retry the upload`));
        }
        break;
      }
      // A concurrent upload of the other format may have replaced a manifest we wrote; give it a moment to land.
      await settle(round);
      await Promise.all(
        pending.map(({ file, pkg, result }) =>
          limit(async () => {
            try {
              const kept = await verifyAtTag(opened.store, pkg, result);
              if (kept) finish(kept);
              else await push(file, pkg);
            } catch (error) {
              refuse(file, path.basename(file), error);
            }
          }),
        ),
      );
    }
  } finally {
    await opened.release();
  }
  // Results in the order the files were given.
  const order = new Map(o.files.map((f, i) => [path.basename(f), i]));
  artifacts.sort((a, b) => (order.get(a.filename) ?? 0) - (order.get(b.filename) ?? 0));
  return { ok: errors.length === 0 && o.files.length > 0, artifacts, errors };
}
