// upload: push packages to a staging channel in the v0 layout. Blobs first (each only when missing), the
// manifest last; a second format of the same build is merged into the manifest at the tag, never replacing it.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import pLimit from 'p-limit';
import { MediaType, type ImageManifest, type Repository, type Store } from '@oci-channel/oci';
import { buildPackageManifest, describePackageManifest, encodeTag, packageRepository, readPackage, type PackageInfo } from '@oci-channel/conda';
import { parseJsonObject } from './artifact-manifest.ts';
import { withConcurrentPushRetry } from './push-retry.ts';
import { errorLine, openChannel } from './open.ts';
import { byteTicker, reporter } from './progress.ts';
import type { UploadedArtifact, UploadOptions, UploadResult } from './types.ts';

/** Rounds of read-merge-push when a concurrent upload of the other format keeps replacing the tag. */
const MERGE_ATTEMPTS = 6;

export class UploadConflictError extends Error {}

async function currentManifest(repository: Repository, tag: string): Promise<{ digest: string; manifest: ImageManifest } | undefined> {
  const descriptor = await repository.resolve(tag);
  if (!descriptor) return undefined;
  const fetched = await repository.fetchManifest(descriptor.digest);
  return { digest: fetched.descriptor.digest, manifest: parseJsonObject(fetched.bytes, `manifest ${repository.display}:${tag}`) as unknown as ImageManifest };
}

function holdsPackage(manifest: ImageManifest, where: string, filename: string): { sha256: string } | undefined {
  const view = describePackageManifest(manifest, where);
  const pkg = view.packages.find((p) => p.filename === filename);
  return pkg ? { sha256: pkg.sha256 } : undefined;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function uploadOne(
  store: Store,
  file: string,
  pkg: PackageInfo,
  options: { sourceUrl?: string; report: ReturnType<typeof reporter>; signal?: AbortSignal },
): Promise<UploadedArtifact> {
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
      if (held && held.sha256 === pkg.sha256) return { ...base, manifestDigest: existing.digest, status: pushedBlobs ? 'uploaded' : 'unchanged' };
      if (held) {
        throw new UploadConflictError(
          `${artifact}: ${where} already holds a different ${pkg.filename} (sha256 ${held.sha256}, this file ${pkg.sha256}); nothing overwritten - bump the build number`,
        );
      }
    }
    // Throws PackageError when `existing` is a different build under the same tag.
    const built = buildPackageManifest(pkg, { packagePath: file, existing: existing?.manifest, ...(options.sourceUrl ? { sourceUrl: options.sourceUrl } : {}) });
    // Every round pushes what its manifest brings (a blob already there costs one HEAD): the manifest to
    // merge into may have changed, and with it which info layers are ours to push.
    for (const blob of built.blobs) {
      const ticker = byteTicker((bytes) => options.report('pushing', { artifact, bytes, totalBytes: blob.descriptor.size }));
      await repository.pushBlob(blob.source, { digest: blob.descriptor.digest, size: blob.descriptor.size }, { onProgress: (b) => ticker.tick(b), signal: options.signal });
    }
    pushedBlobs = true;
    // Someone changed the tag while we pushed blobs: merge again from what is there now.
    const before = await repository.resolve(tag);
    if ((before?.digest ?? undefined) !== existing?.digest) continue;
    const pushed = await withConcurrentPushRetry(() => repository.pushManifest(built.bytes, MediaType.ImageManifest, tag));
    // Re-read after a moment: a concurrent upload of the other format may have replaced our manifest
    // (or we theirs); whoever lost its layer merges again.
    await pause(attempt === 0 ? 50 : 100 + Math.floor(Math.random() * 200));
    const after = await currentManifest(repository, tag);
    if (after && holdsPackage(after.manifest, where, pkg.filename)?.sha256 === pkg.sha256) {
      return { ...base, manifestDigest: after.digest, status: 'uploaded' };
    }
    if (!after) return { ...base, manifestDigest: pushed.digest, status: 'uploaded' };
  }
  throw new Error(`${artifact}: ${where} kept changing under concurrent uploads (${MERGE_ATTEMPTS} attempts); retry the upload`);
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
  const limit = pLimit(o.concurrency ?? 8);
  const artifacts: UploadedArtifact[] = [];
  const errors: UploadResult['errors'] = [];
  try {
    await Promise.all(
      o.files.map((file) =>
        limit(async () => {
          const shown = path.basename(file);
          try {
            const info = await stat(file);
            if (!info.isFile()) throw new Error(`${file} is not a regular file`);
            report('reading', { artifact: shown, totalBytes: info.size });
            const pkg = await readPackage(file);
            const artifact = `${pkg.subdir}/${pkg.filename}`;
            report('uploading', { artifact, totalBytes: pkg.size });
            const key = `${packageRepository(pkg.subdir, pkg.name)}:${encodeTag(pkg.version, pkg.build)}`;
            const result = await serialize(key, () => uploadOne(opened.store, file, pkg, { sourceUrl: o.sourceUrl, report, signal: o.signal }));
            report(result.status, { artifact, bytes: pkg.size, totalBytes: pkg.size });
            artifacts.push(result);
          } catch (error) {
            const line = errorLine(error);
            report(`refused: ${line}`, { artifact: shown });
            errors.push({ file, error: line });
          }
        }),
      ),
    );
  } finally {
    await opened.release();
  }
  // Results in the order the files were given.
  const order = new Map(o.files.map((f, i) => [path.basename(f), i]));
  artifacts.sort((a, b) => (order.get(a.filename) ?? 0) - (order.get(b.filename) ?? 0));
  return { ok: errors.length === 0 && o.files.length > 0, artifacts, errors };
}
