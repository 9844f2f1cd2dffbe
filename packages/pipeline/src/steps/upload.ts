// upload: push packages to a staging channel in the v0 layout. Blobs first (each only when missing), the
// manifest last; a second format of the same build is merged into the manifest at the tag, never replacing it
// (an upload of the other format in another run included: records/write-intent.ts).
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform, pipeline, type TransformCallback } from 'node:stream';
import { createHash, type Hash } from 'node:crypto';
import pLimit from 'p-limit';
import { MediaType, fileSource, type BlobSource, type Descriptor, type ImageManifest, type Repository, type Store } from '@oci-channel/oci';
import {
  buildPackageManifest,
  encodeTag,
  hashPackageFile,
  packageRepository,
  readPackageUnhashed,
  type PackageInfo,
  type UnhashedPackageInfo,
} from '@oci-channel/conda';
import { withConcurrentPushRetry } from '../core/retry.ts';
import { UploadConflictError, PipelineError } from '../errors.ts';
import { withoutSubject } from '../core/artifact-ref.ts';
import { errorLine, openChannel, throwIfUnreachable } from '../core/open.ts';
import { byteTicker, reporter } from '../core/progress.ts';
import type { UploadedArtifact, UploadOptions, UploadResult } from '../types.ts';
import { ATTEMPTS, resolveConcurrency } from '../defaults.ts';
import { fetchPackageManifest, type PackageManifest } from '../core/package-manifest.ts';
import { OtherWriters, holdIntent } from '../records/write-intent.ts';
import { packageReader } from '../core/package-reader.ts';

/** Rounds of read-merge-push when a concurrent upload of the other format keeps replacing the tag. */
const MERGE_ATTEMPTS = ATTEMPTS.merge;
/**
 * .conda files larger than this are hashed in the pass that sends them instead of before: a streamed upload
 * (POST, one PATCH without Content-Range, PUT?digest) needs the digest only at its closing PUT, so the file is read
 * once. Measured on distribution 2.8 with 1 GiB: that PUT does not re-read the upload (10-360 ms), and POST + one
 * PATCH + PUT is as fast as curl's POST + monolithic PUT; ghcr.io takes it too (it refuses only ranged bodies over
 * 4 MiB; docs/reliability.md). Smaller ones are hashed first and go up in one monolithic PUT (one request less; the
 * second read hits the page cache).
 */
const HASH_WHILE_SENDING_ABOVE = 64 * 1024 * 1024;


/** What the tag holds of `filename`, from the manifest fetchPackageManifest read. */
function heldAt(existing: PackageManifest, filename: string): { sha256: string } | undefined {
  return existing.view.packages.find((p) => p.filename === filename);
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
/**
 * Wait before re-reading a tag we wrote, counted from when its PUT was sent (20 ms away, the round trip is most of
 * it): first round short, later ones jittered so racing writers spread out. The caller holds no slot meanwhile.
 */
const settle = (sentAt: number, round: number) => pause(sentAt + (round === 0 ? 50 : 100 + Math.floor(Math.random() * 200)) - performance.now());

interface UploadStepOptions {
  sourceUrl?: string;
  report: ReturnType<typeof reporter>;
  signal?: AbortSignal;
  configs: ConfigBlobs;
}

/**
 * The `{}` config blob every package manifest shares: checked (and pushed when missing) once per repository and
 * run instead of once per package, and mounted (one request) into a new repository from one that has it, instead
 * of HEAD + POST + PUT.
 */
export class ConfigBlobs {
  readonly #present = new Map<string, Promise<void>>();
  /** A repository of this run known to hold the blob. */
  #holder: Repository | undefined;
  /** The first placement of the run: the packages that start meanwhile mount from it instead of pushing it too. */
  #first: Promise<void> | undefined;

  ensure(repository: Repository, blob: { descriptor: Descriptor; source: BlobSource }, signal?: AbortSignal): Promise<void> {
    let present = this.#present.get(repository.name);
    if (!present) {
      present = this.#place(repository, blob, signal);
      this.#present.set(repository.name, present);
      present.catch(() => this.#present.delete(repository.name));
    }
    return present;
  }

  async #place(repository: Repository, blob: { descriptor: Descriptor; source: BlobSource }, signal?: AbortSignal): Promise<void> {
    if (!this.#first) {
      this.#first = this.#push(repository, blob, signal);
      return this.#first;
    }
    await this.#first.catch(() => undefined);
    return this.#push(repository, blob, signal);
  }

  async #push(repository: Repository, blob: { descriptor: Descriptor; source: BlobSource }, signal?: AbortSignal): Promise<void> {
    const holder = this.#holder;
    if (holder && (await repository.mountBlob(blob.descriptor.digest, holder))) return;
    await repository.pushBlob(blob.source, { digest: blob.descriptor.digest, size: blob.descriptor.size }, { signal });
    this.#holder ??= repository;
  }
}

function isHashed(pkg: UnhashedPackageInfo): pkg is PackageInfo {
  return pkg.sha256 !== undefined && pkg.md5 !== undefined;
}

/** Hashes the whole file now (the tag already names this file: unchanged or a conflict is decided by its sha256). */
async function hashNow(file: string, pkg: UnhashedPackageInfo, signal?: AbortSignal): Promise<PackageInfo> {
  const hashes = await hashPackageFile(file, signal);
  if (hashes.size !== pkg.size) throw new PipelineError(`${pkg.subdir}/${pkg.filename}: the file changed while it was read (${pkg.size} then ${hashes.size} bytes); retry once nothing writes to it`);
  return { ...pkg, sha256: hashes.sha256, md5: hashes.md5 };
}

/**
 * md5 of a file computed from the bytes an upload reads anyway. The upload may reopen the file at an earlier
 * offset to resume: bytes already hashed are skipped, so each byte counts once; a gap (never expected) leaves
 * the hash incomplete and the caller hashes the file again.
 */
class TappedMd5 {
  readonly #hash: Hash = createHash('md5');
  /** Bytes hashed, from the start of the file. */
  hashed = 0;
  gap = false;

  tap(offset: number): Transform {
    let position = offset;
    return new Transform({
      transform: (chunk: Buffer, _encoding, callback: TransformCallback) => {
        const end = position + chunk.length;
        if (position > this.hashed) this.gap = true;
        else if (end > this.hashed) {
          this.#hash.update(this.hashed === position ? chunk : chunk.subarray(this.hashed - position));
          this.hashed = end;
        }
        position = end;
        callback(null, chunk);
      },
    });
  }

  digest(): string {
    return this.#hash.digest('hex');
  }
}

/** Sends a large package without hashing it first: sha256 comes back from the upload, md5 is computed on the way. */
async function sendHashing(repository: Repository, file: string, pkg: UnhashedPackageInfo, artifact: string, options: UploadStepOptions): Promise<PackageInfo> {
  const md5 = new TappedMd5();
  const plain = fileSource(file, pkg.size);
  const source: BlobSource = {
    size: pkg.size,
    replayable: true,
    open: (offset) => pipeline(plain.open(offset), md5.tap(offset), () => {}),
  };
  const ticker = byteTicker((bytes) => options.report('pushing', { artifact, bytes, totalBytes: pkg.size }));
  const pushed = await repository.pushBlob(source, { size: pkg.size }, { onProgress: (b) => ticker.tick(b), signal: options.signal });
  if (!pushed.digest.startsWith('sha256:')) throw new PipelineError(`${artifact}: the upload answered a ${pushed.digest.split(':')[0]} digest, not sha256`);
  const sha256 = pushed.digest.slice('sha256:'.length);
  if (md5.gap || md5.hashed !== pkg.size) {
    const again = await hashNow(file, pkg, options.signal);
    if (again.sha256 !== sha256) throw new PipelineError(`${artifact}: the file changed while it was uploaded; retry once nothing writes to it`);
    return again;
  }
  return { ...pkg, sha256, md5: md5.digest() };
}

/** A placeholder hash, to check a manifest merge before a large file is sent (the real one is known only after). */
const UNKNOWN_SHA256 = '0'.repeat(64);
const UNKNOWN_MD5 = '0'.repeat(32);

/**
 * Pushes one package's blobs and merges it into the manifest at its tag, once. `unverified` says the
 * manifest was written and must be re-read later: a concurrent upload of the other format may replace it.
 * `pkg` comes back hashed.
 */
async function mergeIntoTag(
  store: Store,
  file: string,
  input: UnhashedPackageInfo,
  options: UploadStepOptions,
): Promise<PushOutcome> {
  let pkg = input;
  const relative = packageRepository(pkg.subdir, pkg.name);
  const tag = encodeTag(pkg.version, pkg.build);
  const repository = store.repository(relative);
  const artifact = `${pkg.subdir}/${pkg.filename}`;
  const where = `${repository.display}:${tag}`;
  const base = (p: PackageInfo) => ({ subdir: p.subdir, filename: p.filename, sha256: p.sha256, md5: p.md5, size: p.size, repository: relative, tag });
  const manifestOptions = (existing: ImageManifest | undefined) => ({ packagePath: file, existing, ...(options.sourceUrl ? { sourceUrl: options.sourceUrl } : {}) });

  let pushedBlobs = false;
  for (let attempt = 0; attempt < MERGE_ATTEMPTS; attempt++) {
    // One GET by tag (the digest is checked against Docker-Content-Digest) instead of HEAD + GET.
    const existing = await fetchPackageManifest(store, relative, tag);
    const existingManifest = existing?.manifest as unknown as ImageManifest | undefined;
    if (existing) {
      const held = heldAt(existing, pkg.filename);
      if (held && !isHashed(pkg)) pkg = await hashNow(file, pkg, options.signal);
      if (held && held.sha256 === pkg.sha256) {
        const hashed = pkg as PackageInfo;
        return {
          result: { ...base(hashed), manifestDigest: existing.descriptor.digest, status: pushedBlobs ? 'uploaded' : 'unchanged' },
          manifest: existing.bytes,
          unverified: false,
          pkg: hashed,
          sentAt: 0,
        };
      }
      if (held) {
        throw new UploadConflictError(
          `${artifact}: ${where} already holds a different ${pkg.filename} (sha256 ${held.sha256}, this file ${pkg.sha256}); nothing overwritten - bump the build number`,
        );
      }
    }
    // The first round's own layers are new (the tag does not hold this file): no HEAD before sending them.
    const likelyMissing = !pushedBlobs;
    let sentPackage = false;
    if (!isHashed(pkg)) {
      // Refuse a clash with the manifest at the tag (a different build, other info/) before sending a large file.
      buildPackageManifest({ ...pkg, sha256: UNKNOWN_SHA256, md5: UNKNOWN_MD5 }, manifestOptions(existingManifest));
      pkg = await sendHashing(repository, file, pkg, artifact, options);
      sentPackage = true;
    }
    const hashed = pkg as PackageInfo;
    // Throws PackageError when `existing` is a different build under the same tag.
    const built = buildPackageManifest(hashed, manifestOptions(existingManifest));
    // Every round pushes what its manifest brings (a blob already there costs one HEAD): the manifest to
    // merge into may have changed, and with it which info layers are ours to push. The blobs are independent,
    // so they go at once: the small ones cost no extra wait beside the package.
    const packageDigest = `sha256:${hashed.sha256}`;
    await Promise.all(
      built.blobs.map((blob) => {
        if (blob.descriptor.digest === built.manifest.config.digest) return options.configs.ensure(repository, blob, options.signal);
        if (sentPackage && blob.descriptor.digest === packageDigest) return undefined;
        const ticker = byteTicker((bytes) => options.report('pushing', { artifact, bytes, totalBytes: blob.descriptor.size }));
        return repository.pushBlob(
          blob.source,
          { digest: blob.descriptor.digest, size: blob.descriptor.size },
          { onProgress: (b) => ticker.tick(b), signal: options.signal, likelyMissing },
        );
      }),
    );
    pushedBlobs = true;
    // A large file took a while to send: merge again if the tag moved meanwhile (the read-back would catch it too,
    // one more round later).
    if (sentPackage && (await repository.resolve(tag))?.digest !== existing?.descriptor.digest) continue;
    const sentAt = performance.now();
    const pushed = await withConcurrentPushRetry(() => repository.pushManifest(built.bytes, MediaType.ImageManifest, tag));
    return { result: { ...base(hashed), manifestDigest: pushed.digest, status: 'uploaded' }, manifest: built.bytes, unverified: true, pkg: hashed, sentAt };
  }
  throw new PipelineError(`${artifact}: ${where} kept changing under concurrent uploads (${MERGE_ATTEMPTS} attempts); retry the upload`);
}

/** An upload's result and the bytes of the manifest at `result.manifestDigest` (mirror logs them with the file). */
export interface Uploaded {
  result: UploadedArtifact;
  manifest?: Uint8Array;
}

type PushOutcome = Uploaded & { unverified: boolean; pkg: PackageInfo; sentAt: number };

/**
 * The intent first, then the merge: the read of the tag every merge is based on comes after it
 * (records/write-intent.ts), so no second read is needed before the PUT. A re-run of an unchanged file leaves one too
 * (harmless: its file is in the tag). The intent is kept fresh while a large file is sent.
 */
async function pushToTag(store: Store, file: string, pkg: UnhashedPackageInfo, options: UploadStepOptions): Promise<PushOutcome> {
  const repository = store.repository(packageRepository(pkg.subdir, pkg.name));
  const intent = await holdIntent(repository, pkg.filename, { kind: 'uploading', configs: options.configs, signal: options.signal });
  try {
    return await mergeIntoTag(store, file, pkg, options);
  } finally {
    intent.release();
  }
}

/**
 * Reads back the tag we wrote until it holds our file and no fresh intent of the other format is missing from it
 * (records/write-intent.ts): a concurrent upload of the other format that read the tag before our PUT may still
 * replace it. When our file was dropped, `again` merges it once more.
 */
async function confirmAtTag(store: Store, first: PushOutcome, again: (pkg: PackageInfo) => Promise<PushOutcome>): Promise<Uploaded> {
  let outcome = first;
  let merges = 1;
  const { repository: relative, tag, filename } = first.result;
  const others = new OtherWriters(store.repository(relative), [filename], 'uploading');
  for (let round = 0; ; round++) {
    await settle(outcome.sentAt, round);
    const [after, fresh] = await Promise.all([fetchPackageManifest(store, relative, tag), others.fresh()]);
    // Gone meanwhile (promoted and removed from staging, or deleted by hand): nothing of ours left to confirm.
    if (!after) return { result: outcome.result };
    if (heldAt(after, filename)?.sha256 !== outcome.pkg.sha256) {
      if (merges >= MERGE_ATTEMPTS) {
        throw new PipelineError(`${outcome.pkg.subdir}/${filename}: its tag kept changing under concurrent uploads (${MERGE_ATTEMPTS} attempts); retry the upload`);
      }
      merges++;
      outcome = await again(outcome.pkg);
      if (!outcome.unverified) outcome = { ...outcome, sentAt: performance.now() };
      others.restart();
      continue;
    }
    if (others.keepWaiting(fresh, (f) => heldAt(after, f) !== undefined)) {
      outcome = { ...outcome, sentAt: performance.now() }; // the next read a jittered pause from now
      continue;
    }
    return { result: { ...outcome.result, manifestDigest: after.descriptor.digest }, manifest: after.bytes };
  }
}

/**
 * Uploads one package and checks, after a moment, that a concurrent upload did not drop it from the tag.
 * Callers pushing many packages pass one `configs` for all of them (the shared config blob is then placed once
 * per repository).
 */
export async function uploadOne(
  store: Store,
  file: string,
  input: UnhashedPackageInfo,
  options: Omit<UploadStepOptions, 'configs'> & { configs?: ConfigBlobs },
): Promise<Uploaded> {
  const step = { ...options, configs: options.configs ?? new ConfigBlobs() };
  const outcome = await pushToTag(store, file, input, step);
  if (!outcome.unverified) return { result: outcome.result, ...(outcome.manifest ? { manifest: outcome.manifest } : {}) };
  return confirmAtTag(store, outcome, (pkg) => pushToTag(store, file, pkg, step));
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
  const concurrency = resolveConcurrency(o.concurrency, 'upload');
  const opened = openChannel(o.to, o.storeOptions, concurrency);
  // Within one run, files that land under the same tag merge one after the other instead of racing.
  const serialize = keyedSerializer();
  const report = reporter(o.progress, 'upload');
  const limit = pLimit(concurrency);
  const artifacts: UploadedArtifact[] = [];
  const errors: UploadResult['errors'] = [];
  const step: UploadStepOptions = { sourceUrl: o.sourceUrl, report, signal: o.signal, configs: new ConfigBlobs() };
  const tagKey = (pkg: UnhashedPackageInfo) => `${packageRepository(pkg.subdir, pkg.name)}:${encodeTag(pkg.version, pkg.build)}`;
  const refuse = (file: string, shown: string, error: unknown) => {
    const line = errorLine(error);
    report(`refused: ${withoutSubject(line, shown, path.basename(file))}`, { artifact: shown });
    errors.push({ file, error: line });
  };
  const push = (file: string, pkg: UnhashedPackageInfo) => serialize(tagKey(pkg), () => pushToTag(opened.store, file, pkg, step));
  const finish = (result: UploadedArtifact) => {
    report(result.status, { artifact: `${result.subdir}/${result.filename}`, bytes: result.size, totalBytes: result.size });
    artifacts.push(result);
  };
  /**
   * One file: read and push it in a slot, then, holding no slot, wait a moment and read its tag back (a concurrent
   * upload of the other format may have replaced our manifest; then it is merged again, in a slot). Each package
   * is read back on its own, right after its own PUT: no package waits for the others.
   */
  const one = async (file: string) => {
    const shown = path.basename(file);
    try {
      const outcome = await limit(async () => {
        const info = await stat(file);
        if (!info.isFile()) throw new PipelineError(`${file} is not a regular file`);
        report('reading', { artifact: shown, totalBytes: info.size });
        // Metadata only: validate reads the staged package in full before anything is promoted. A small package is
        // read (and hashed) in the reader process: the archive work then runs beside this process's requests
        // instead of between them, and bzip2 is started from a small process (a fork of this one costs ~20 ms).
        const pkg = info.size > (o.hashWhileSendingAboveBytes ?? HASH_WHILE_SENDING_ABOVE) ? await readPackageUnhashed(file) : await packageReader().read(file, { metadataOnly: true });
        report('uploading', { artifact: `${pkg.subdir}/${pkg.filename}`, totalBytes: pkg.size });
        return push(file, pkg);
      });
      // Holding no slot while it waits; a merge again takes one.
      finish(outcome.unverified ? (await confirmAtTag(opened.store, outcome, (pkg) => limit(() => push(file, pkg)))).result : outcome.result);
    } catch (error) {
      throwIfUnreachable(error);
      refuse(file, shown, error);
    }
  };
  try {
    await Promise.all(o.files.map(one));
  } finally {
    await opened.release();
  }
  // Results in the order the files were given.
  const order = new Map(o.files.map((f, i) => [path.basename(f), i]));
  artifacts.sort((a, b) => (order.get(a.filename) ?? 0) - (order.get(b.filename) ?? 0));
  return { ok: errors.length === 0 && o.files.length > 0, artifacts, errors };
}
