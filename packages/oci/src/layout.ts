// The on-disk store: one OCI image layout (image-spec "image-layout") per repository under DIR/<repository>/.
// skopeo, crane and oras read these directories directly (`skopeo inspect oci:DIR/<repository>:<tag>`).
//
// Safety rules:
// - blobs are written to a temp file inside the repository while hashing, fsync'd, and renamed into
//   blobs/<alg>/<hex> only when digest and size match: a crash never leaves a half blob under a digest name;
// - index.json is only ever replaced whole (temp file + rename) while holding a lock FILE, so several
//   processes (parallel CLI runs) can write one layout; a lock left by a dead process is recovered;
// - deleting a manifest only drops its index.json entries: blobs stay until a garbage collection.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { access, constants, copyFile, link, lstat, mkdir, open, readFile, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestingStream, VerifyingStream, digestHex, sha256Digest, verifyBytes } from './digest.ts';
import {
  DeniedError,
  DigestMismatchError,
  InvalidReferenceError,
  NotFoundError,
  OciError,
  ProtocolError,
  TooLargeError,
  type OciErrorContext,
} from './errors.ts';
import type { StoreOptions } from './options.ts';
import { isDigest, isTag, parseDigest, parseManifestReference, parseTag, repositoryName, type Digest, type Location } from './reference.ts';
import {
  MediaType,
  type BlobSource,
  type Descriptor,
  type FetchedManifest,
  type ListTagsOptions,
  type Repository,
  type Store,
  type TransferOptions,
} from './store.ts';

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
/** Registries must accept manifests up to 4 MiB; we refuse to write bigger ones, and read at most 8 MiB. */
export const MAX_MANIFEST_PUSH = 4 * 1024 * 1024;
export const MAX_MANIFEST_FETCH = 8 * 1024 * 1024;
/** A lock older than this is taken as abandoned even when its owner cannot be checked (another host). */
const STALE_LOCK_MS = 60_000;
/** How long a writer waits for the lock before giving up. */
const LOCK_WAIT_MS = 120_000;
/** Names inside a layout directory: a nested repository may not use them as its last component. */
const RESERVED_COMPONENTS = new Set(['blobs', 'index.json', 'oci-layout']);
const TEMP_DIR = '.tmp';
const LOCK_FILE = '.index.json.lock';

const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const MANIFEST_MEDIA_TYPES = new Set<string>([MediaType.ImageManifest, MediaType.ImageIndex, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST]);
const INDEX_MEDIA_TYPES = new Set<string>([MediaType.ImageIndex, DOCKER_MANIFEST_LIST]);

interface LayoutIndex {
  schemaVersion: 2;
  mediaType?: string;
  /** Every entry as found (rewrites keep entries other tools wrote, even ones this store cannot use). */
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

/** The entries lookups may use: a well-formed digest (it becomes a file path), media type and size. */
function usable(index: LayoutIndex): Descriptor[] {
  return index.manifests.filter(
    (m) => isObject(m) && typeof m.digest === 'string' && isDigest(m.digest) && typeof m.mediaType === 'string' && typeof m.size === 'number',
  );
}

/** What the store remembers about a manifest blob (content-addressed, so valid forever). */
interface ManifestFacts {
  mediaType: string;
  artifactType?: string;
  subject?: Digest;
  annotations?: Record<string, string>;
  /** Child manifests of an image index. */
  children?: Digest[];
}

const FACTS_CACHE_LIMIT = 10_000;

export function createLayoutStore(location: Extract<Location, { kind: 'layout' }>, _options: StoreOptions = {}): Store {
  return new LayoutStore(location);
}

class LayoutStore implements Store {
  readonly location: Extract<Location, { kind: 'layout' }>;
  readonly display: string;
  readonly key: string;
  readonly root: string;
  /** Manifest facts by digest, so referrers() does not re-read every manifest each time. */
  readonly facts = new Map<Digest, ManifestFacts>();
  /** In-process queue per repository in front of the lock file, so one process does not spin on itself. */
  readonly queues = new Map<string, Promise<unknown>>();

  constructor(location: Extract<Location, { kind: 'layout' }>) {
    this.location = location;
    this.root = path.resolve(location.dir);
    this.display = `oci-layout:${this.root}`;
    this.key = `layout:${this.root}`;
  }

  repository(relativeName: string): Repository {
    const name = repositoryName(this.location, relativeName);
    const components = name.split('/');
    if (components.slice(1).some((c) => RESERVED_COMPONENTS.has(c))) {
      throw new InvalidReferenceError(
        `invalid repository name ${JSON.stringify(name)} for ${this.display}: 'blobs', 'index.json' and 'oci-layout' are file names of an OCI layout and cannot be nested repository names; rename it`,
        { registry: this.display, repository: name },
      );
    }
    return new LayoutRepository(this, name);
  }

  async listRepositories(prefix = ''): Promise<string[]> {
    const wanted = prefix.replace(/^\/+|\/+$/g, '');
    const found: string[] = [];
    const walk = async (dir: string, relative: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (error) {
        if (isCode(error, 'ENOENT') || isCode(error, 'ENOTDIR')) return;
        throw new OciError(`cannot list ${dir} in ${this.display}: ${errorText(error)}; check the directory's permissions`, {
          registry: this.display,
        });
      }
      if (relative && entries.some((e) => e.isFile() && e.name === 'oci-layout')) found.push(relative);
      for (const entry of entries) {
        if (!entry.isDirectory() || entry.name.startsWith('.') || entry.name === 'blobs') continue;
        const child = relative ? `${relative}/${entry.name}` : entry.name;
        // Only descend where a repository under the prefix can be.
        if (wanted && !(wanted === child || wanted.startsWith(`${child}/`) || child.startsWith(`${wanted}/`))) continue;
        await walk(path.join(dir, entry.name), child);
      }
    };
    await walk(this.root, '');
    return found.filter((name) => !wanted || name === wanted || name.startsWith(`${wanted}/`)).sort();
  }

  async close(): Promise<void> {}

  remember(digest: Digest, facts: ManifestFacts): void {
    if (this.facts.size >= FACTS_CACHE_LIMIT) this.facts.clear();
    this.facts.set(digest, facts);
  }

  /** Runs `task` after the previous task for `key` in this process settled. */
  serialize<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(key, settled);
    void settled.then(() => {
      if (this.queues.get(key) === settled) this.queues.delete(key);
    });
    return result;
  }
}

class LayoutRepository implements Repository {
  readonly store: LayoutStore;
  readonly name: string;
  readonly display: string;
  readonly dir: string;
  readonly #context: OciErrorContext;

  constructor(store: LayoutStore, name: string) {
    this.store = store;
    this.name = name;
    this.dir = path.join(store.root, ...name.split('/'));
    this.display = `${store.display}/${name}`;
    this.#context = { registry: store.display, repository: name };
  }

  // ---- blobs ----

  #blobPath(digest: Digest): string {
    return path.join(this.dir, 'blobs', digest.slice(0, digest.indexOf(':')), digestHex(digest));
  }

  async statBlob(digest: Digest): Promise<Descriptor | undefined> {
    parseDigest(digest);
    try {
      const info = await stat(this.#blobPath(digest));
      return info.isFile() ? { mediaType: MediaType.OctetStream, digest, size: info.size } : undefined;
    } catch (error) {
      if (isCode(error, 'ENOENT') || isCode(error, 'ENOTDIR')) return undefined;
      throw this.#ioError(`cannot read blob ${digest}`, error, digest);
    }
  }

  async fetchBlob(digest: Digest, size?: number, options: TransferOptions = {}): Promise<Readable> {
    parseDigest(digest);
    let handle;
    try {
      handle = await open(this.#blobPath(digest), 'r');
    } catch (error) {
      if (isCode(error, 'ENOENT') || isCode(error, 'ENOTDIR')) {
        throw new NotFoundError(`blob ${digest} not found in ${this.display}; push it first`, { ...this.#context, reference: digest });
      }
      throw this.#ioError(`cannot open blob ${digest}`, error, digest);
    }
    const file = handle.createReadStream({ highWaterMark: 1 << 20 });
    // Files on disk can rot or be edited by hand: verify them like any download.
    const verifier = new VerifyingStream(digest, size, this.#context);
    let moved = 0;
    const onProgress = options.onProgress;
    if (onProgress) {
      file.on('data', (chunk: string | Buffer) => {
        moved += chunk.length;
        onProgress(moved);
      });
    }
    pipelineDetached(file, verifier, options.signal);
    return verifier;
  }

  async pushBlob(
    source: BlobSource,
    expected: { digest?: Digest; size?: number } = {},
    options: TransferOptions = {},
  ): Promise<{ digest: Digest; size: number; pushed: boolean }> {
    if (expected.digest !== undefined) parseDigest(expected.digest, 'expected digest');
    if (expected.size !== undefined && (!Number.isSafeInteger(expected.size) || expected.size < 0)) {
      throw new InvalidReferenceError(`invalid expected size ${expected.size} for a blob pushed to ${this.display}`, this.#context);
    }
    if (expected.digest) {
      const existing = await this.statBlob(expected.digest);
      if (existing && (expected.size === undefined || existing.size === expected.size)) {
        return { digest: expected.digest, size: existing.size, pushed: false };
      }
    }
    await this.#ensureLayout();
    const algorithm = expected.digest?.startsWith('sha512:') ? 'sha512' : 'sha256';
    const hasher = new DigestingStream(algorithm);
    const temp = this.#tempPath('blob');
    let moved = 0;
    const onProgress = options.onProgress;
    const counter = new Transform({
      transform: (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) => {
        moved += chunk.length;
        if (expected.size !== undefined && moved > expected.size) {
          callback(this.#mismatch(expected.digest, `more than the expected ${expected.size} bytes`));
          return;
        }
        onProgress?.(moved);
        callback(null, chunk);
      },
    });
    try {
      const input = source.open(0);
      // flush: fsync before close, so the rename below never publishes a file whose bytes are not on disk.
      const output = createWriteStream(temp, { flags: 'wx', flush: true });
      await pipeline(input, counter, hasher, output, { signal: options.signal });
      const digest = hasher.digest();
      if (expected.size !== undefined && hasher.bytes !== expected.size) {
        throw this.#mismatch(expected.digest, `${hasher.bytes} bytes instead of ${expected.size}`);
      }
      if (expected.digest && digest !== expected.digest) {
        throw this.#mismatch(expected.digest, `content hashes to ${digest}`);
      }
      const target = this.#blobPath(digest);
      await mkdir(path.dirname(target), { recursive: true });
      await rename(temp, target);
      // The rename itself must be durable before an index.json that points at the blob is.
      await syncDirectory(path.dirname(target));
      return { digest, size: hasher.bytes, pushed: true };
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      if (error instanceof OciError) throw error;
      if (isAbort(error)) throw error;
      throw new OciError(
        `blob upload to ${this.display} failed: ${errorText(error)}; nothing was stored, retry (check the source and free space)`,
        { ...this.#context, reference: expected.digest },
        { cause: error },
      );
    }
  }

  async mountBlob(digest: Digest, from: Repository): Promise<boolean> {
    parseDigest(digest);
    if (!(from instanceof LayoutRepository) || from.store.key !== this.store.key) return false;
    try {
      const sourceInfo = await from.statBlob(digest);
      if (!sourceInfo) return false;
      if (await this.statBlob(digest)) return true;
      await this.#ensureLayout();
      const target = this.#blobPath(digest);
      await mkdir(path.dirname(target), { recursive: true });
      const temp = this.#tempPath('mount');
      try {
        // A hard link shares the bytes; a copy where links are not possible (another file system).
        await link(from.#blobPath(digest), temp).catch(() => copyFile(from.#blobPath(digest), temp));
        await rename(temp, target);
      } finally {
        await unlink(temp).catch(() => undefined);
      }
      return true;
    } catch {
      return false;
    }
  }

  // ---- manifests ----

  async resolve(reference: string): Promise<Descriptor | undefined> {
    parseManifestReference(reference);
    const index = usable(await this.#readIndex());
    if (!reference.includes(':')) {
      const entry = index.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === reference);
      return entry ? plainDescriptor(entry) : undefined;
    }
    const digest = reference as Digest;
    const entry = index.find((m) => m.digest === digest);
    if (entry) return plainDescriptor(entry);
    // Child manifests of an image index are reachable through it without an index.json entry of their own.
    for (const parent of index) {
      if (!INDEX_MEDIA_TYPES.has(parent.mediaType)) continue;
      const facts = await this.#facts(parent.digest).catch(() => undefined);
      if (!facts?.children?.includes(digest)) continue;
      const childFacts = await this.#facts(digest).catch(() => undefined);
      const info = await this.statBlob(digest);
      if (childFacts && info) return { mediaType: childFacts.mediaType, digest, size: info.size };
    }
    return undefined;
  }

  async fetchManifest(reference: string): Promise<FetchedManifest> {
    const descriptor = await this.resolve(reference);
    if (!descriptor) {
      throw new NotFoundError(`manifest ${reference} not found in ${this.display}; check the tag or digest`, {
        ...this.#context,
        reference,
      });
    }
    const bytes = await this.#readManifestBlob(descriptor.digest);
    return { descriptor: { ...descriptor, size: bytes.byteLength }, bytes };
  }

  async pushManifest(bytes: Uint8Array, mediaType: string, tag?: string): Promise<Descriptor> {
    if (tag !== undefined) parseTag(tag);
    if (bytes.byteLength > MAX_MANIFEST_PUSH) {
      throw new TooLargeError(
        `manifest of ${bytes.byteLength} bytes for ${this.display}${tag ? `:${tag}` : ''} is larger than the ${MAX_MANIFEST_PUSH}-byte limit registries accept; split it`,
        { ...this.#context, reference: tag },
      );
    }
    const digest = sha256Digest(bytes);
    const facts = parseManifest(bytes, mediaType, { ...this.#context, reference: tag ?? digest });
    await this.#checkReferencedBlobs(bytes, facts, digest);
    await this.pushBlob(bytesSourceOf(bytes), { digest, size: bytes.byteLength });
    this.store.remember(digest, facts);
    const descriptor: Descriptor = { mediaType, digest, size: bytes.byteLength };
    await this.#updateIndex((manifests) => {
      if (tag === undefined) {
        // By digest: an untagged entry, unless the manifest is already listed.
        return manifests.some((m) => m.digest === digest) ? manifests : [...manifests, { ...descriptor }];
      }
      // Re-tagging replaces the tag's entry; an untagged entry of the same manifest becomes redundant.
      const kept = manifests.filter(
        (m) => m.annotations?.[REF_NAME_ANNOTATION] !== tag && !(m.digest === digest && !m.annotations?.[REF_NAME_ANNOTATION]),
      );
      return [...kept, { ...descriptor, annotations: { [REF_NAME_ANNOTATION]: tag } }];
    });
    return descriptor;
  }

  async deleteManifest(digest: Digest): Promise<void> {
    parseDigest(digest);
    let removed = 0;
    // Blobs (the manifest's and its layers') stay on disk: other manifests may share them; a gc removes them.
    await this.#updateIndex((manifests) => {
      const kept = manifests.filter((m) => m.digest !== digest);
      removed = manifests.length - kept.length;
      return kept;
    }, false);
    if (removed === 0) {
      throw new NotFoundError(`manifest ${digest} not found in ${this.display}; nothing was deleted`, { ...this.#context, reference: digest });
    }
  }

  async listTags(options: ListTagsOptions = {}): Promise<string[]> {
    const tags = new Set<string>();
    const { after } = options;
    for (const entry of usable(await this.#readIndex())) {
      const tag = entry.annotations?.[REF_NAME_ANNOTATION];
      if (tag !== undefined && isTag(tag) && (after === undefined || tag > after)) tags.add(tag);
    }
    return [...tags].sort();
  }

  async referrers(subject: Digest, artifactType?: string): Promise<Descriptor[]> {
    parseDigest(subject, 'subject digest');
    const seen = new Set<Digest>();
    const found: Descriptor[] = [];
    for (const entry of usable(await this.#readIndex())) {
      if (seen.has(entry.digest)) continue;
      seen.add(entry.digest);
      const facts = await this.#facts(entry.digest).catch(() => undefined);
      if (!facts || facts.subject !== subject) continue;
      if (artifactType !== undefined && facts.artifactType !== artifactType) continue;
      const descriptor: Descriptor = { mediaType: facts.mediaType, digest: entry.digest, size: entry.size };
      if (facts.artifactType !== undefined) descriptor.artifactType = facts.artifactType;
      if (facts.annotations) descriptor.annotations = facts.annotations;
      found.push(descriptor);
    }
    return found;
  }

  async checkPushAccess(): Promise<void> {
    // The nearest existing directory on the way to the repository must be writable.
    let dir = this.dir;
    for (;;) {
      try {
        const info = await stat(dir);
        if (!info.isDirectory()) {
          throw new DeniedError(`cannot push to ${this.display}: ${dir} is not a directory; choose another layout directory`, this.#context);
        }
        break;
      } catch (error) {
        if (error instanceof OciError) throw error;
        const parent = path.dirname(dir);
        if (!isCode(error, 'ENOENT') || parent === dir) throw this.#denied(dir, error);
        dir = parent;
      }
    }
    try {
      await access(dir, constants.W_OK | constants.X_OK);
    } catch (error) {
      throw this.#denied(dir, error);
    }
  }

  // ---- internals ----

  #denied(dir: string, error: unknown): DeniedError {
    return new DeniedError(`cannot push to ${this.display}: ${dir} is not writable (${errorText(error)}); fix its permissions`, this.#context);
  }

  #tempPath(kind: string): string {
    return path.join(this.dir, TEMP_DIR, `${kind}-${process.pid}-${randomBytes(8).toString('hex')}`);
  }

  #mismatch(digest: Digest | undefined, why: string): DigestMismatchError {
    return new DigestMismatchError(
      `blob pushed to ${this.display}${digest ? ` as ${digest}` : ''} does not match: ${why}; nothing was stored, check the source`,
      { ...this.#context, reference: digest },
    );
  }

  #ioError(what: string, error: unknown, reference?: string): OciError {
    return new OciError(`${what} in ${this.display}: ${errorText(error)}; check the directory and free space`, { ...this.#context, reference });
  }

  /** Creates `oci-layout`, `index.json` and the temp directory when missing, without ever exposing a partial file. */
  async #ensureLayout(): Promise<void> {
    try {
      await mkdir(path.join(this.dir, TEMP_DIR), { recursive: true });
      await mkdir(path.join(this.dir, 'blobs', 'sha256'), { recursive: true });
      await this.#createOnce('oci-layout', `${JSON.stringify({ imageLayoutVersion: '1.0.0' })}\n`);
      await this.#createOnce('index.json', `${JSON.stringify(emptyIndex())}\n`);
    } catch (error) {
      if (isCode(error, 'EACCES') || isCode(error, 'EPERM') || isCode(error, 'EROFS')) throw this.#denied(this.dir, error);
      throw this.#ioError('cannot create the layout', error);
    }
  }

  async #createOnce(file: string, content: string): Promise<void> {
    const target = path.join(this.dir, file);
    if (await exists(target)) return;
    const temp = this.#tempPath(file);
    await writeFile(temp, content, { flush: true });
    try {
      // link() fails when the target exists: exactly one writer creates it, readers never see it half written.
      await link(temp, target);
    } catch (error) {
      if (!isCode(error, 'EEXIST')) throw error;
    } finally {
      await unlink(temp).catch(() => undefined);
    }
  }

  async #readIndex(): Promise<LayoutIndex> {
    const file = path.join(this.dir, 'index.json');
    let text: string;
    try {
      const info = await stat(file);
      if (info.size > MAX_MANIFEST_FETCH * 4) {
        throw new TooLargeError(`index.json of ${this.display} is ${info.size} bytes, over the ${MAX_MANIFEST_FETCH * 4}-byte cap; prune it`, this.#context);
      }
      text = await readFile(file, 'utf8');
    } catch (error) {
      if (error instanceof OciError) throw error;
      if (isCode(error, 'ENOENT') || isCode(error, 'ENOTDIR')) return emptyIndex();
      throw this.#ioError('cannot read index.json', error);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new ProtocolError(`index.json of ${this.display} is not JSON (${errorText(error)}); restore or remove it`, this.#context);
    }
    if (!isObject(parsed) || !Array.isArray(parsed.manifests)) {
      throw new ProtocolError(`index.json of ${this.display} has no manifests list; restore or remove it`, this.#context);
    }
    const manifests = (parsed.manifests as unknown[]).filter(isObject) as unknown as Descriptor[];
    return { ...(parsed as object), schemaVersion: 2, manifests } as LayoutIndex;
  }

  /** Applies `change` to index.json's manifests under the repository lock and replaces the file atomically. */
  async #updateIndex(change: (manifests: Descriptor[]) => Descriptor[], create = true): Promise<void> {
    if (!create && !(await exists(path.join(this.dir, 'index.json')))) {
      change([]);
      return;
    }
    await this.#ensureLayout();
    await this.store.serialize(this.dir, async () => {
      const release = await acquireLock(path.join(this.dir, LOCK_FILE), this.display);
      try {
        const index = await this.#readIndex();
        const manifests = change(index.manifests);
        if (manifests === index.manifests) return;
        const next: LayoutIndex = { ...index, schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests };
        const temp = this.#tempPath('index.json');
        try {
          await writeFile(temp, `${JSON.stringify(next)}\n`, { flush: true });
          await rename(temp, path.join(this.dir, 'index.json'));
          await syncDirectory(this.dir);
        } catch (error) {
          await unlink(temp).catch(() => undefined);
          throw this.#ioError('cannot write index.json', error);
        }
      } finally {
        await release();
      }
    });
  }

  async #readManifestBlob(digest: Digest): Promise<Uint8Array> {
    const file = this.#blobPath(digest);
    let bytes: Buffer;
    try {
      const info = await stat(file);
      if (info.size > MAX_MANIFEST_FETCH) {
        throw new TooLargeError(`manifest ${digest} in ${this.display} is ${info.size} bytes, over the ${MAX_MANIFEST_FETCH}-byte cap; refused`, {
          ...this.#context,
          reference: digest,
        });
      }
      bytes = await readFile(file);
    } catch (error) {
      if (error instanceof OciError) throw error;
      if (isCode(error, 'ENOENT') || isCode(error, 'ENOTDIR')) {
        throw new NotFoundError(`manifest ${digest} is listed in ${this.display} but its blob is missing; push it again`, {
          ...this.#context,
          reference: digest,
        });
      }
      throw this.#ioError(`cannot read manifest ${digest}`, error, digest);
    }
    if (bytes.byteLength > MAX_MANIFEST_FETCH) {
      throw new TooLargeError(`manifest ${digest} in ${this.display} is over the ${MAX_MANIFEST_FETCH}-byte cap; refused`, { ...this.#context, reference: digest });
    }
    verifyBytes(bytes, digest, this.#context);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  async #facts(digest: Digest): Promise<ManifestFacts> {
    const known = this.store.facts.get(digest);
    if (known) return known;
    const bytes = await this.#readManifestBlob(digest);
    const facts = parseManifest(bytes, undefined, { ...this.#context, reference: digest });
    this.store.remember(digest, facts);
    return facts;
  }

  /** Registries refuse a manifest whose blobs are missing (MANIFEST_BLOB_UNKNOWN): so does the layout. */
  async #checkReferencedBlobs(bytes: Uint8Array, facts: ManifestFacts, digest: Digest): Promise<void> {
    const manifest = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
    const needed: unknown[] = INDEX_MEDIA_TYPES.has(facts.mediaType)
      ? (manifest.manifests as unknown[])
      : [manifest.config, ...((manifest.layers as unknown[] | undefined) ?? [])];
    for (const item of needed) {
      if (!isObject(item) || typeof item.digest !== 'string') continue;
      const child = parseDigest(item.digest, 'digest in the manifest');
      if (!(await this.statBlob(child))) {
        throw new NotFoundError(
          `manifest ${digest} refers to ${child}, which ${this.display} does not have; push the blobs and child manifests first`,
          { ...this.#context, reference: child },
        );
      }
    }
  }
}

// ---- helpers ----

function emptyIndex(): LayoutIndex {
  return { schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: [] };
}

function plainDescriptor(entry: Descriptor): Descriptor {
  return { mediaType: entry.mediaType, digest: entry.digest, size: entry.size };
}

function bytesSourceOf(bytes: Uint8Array): BlobSource {
  return { size: bytes.byteLength, replayable: true, open: () => Readable.from([Buffer.from(bytes)]) };
}

/** Checks a manifest's shape and returns what the store indexes about it. */
function parseManifest(bytes: Uint8Array, mediaType: string | undefined, context: OciErrorContext): ManifestFacts {
  const where = [context.registry, context.repository].filter(Boolean).join('/');
  const bad = (why: string) => new ProtocolError(`manifest ${context.reference ?? ''} for ${where} is invalid: ${why}; fix the manifest`, context);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw bad('not JSON');
  }
  if (!isObject(value)) throw bad('not a JSON object');
  if (value.schemaVersion !== 2) throw bad('schemaVersion is not 2');
  const declared = typeof value.mediaType === 'string' ? value.mediaType : undefined;
  if (mediaType !== undefined && declared !== undefined && declared !== mediaType) {
    throw bad(`its mediaType ${declared} differs from the given ${mediaType}`);
  }
  const type = mediaType ?? declared ?? (Array.isArray(value.manifests) ? MediaType.ImageIndex : MediaType.ImageManifest);
  if (!MANIFEST_MEDIA_TYPES.has(type)) throw bad(`unsupported media type ${type}`);
  const facts: ManifestFacts = { mediaType: type };
  if (INDEX_MEDIA_TYPES.has(type)) {
    if (!Array.isArray(value.manifests)) throw bad('an image index needs a manifests list');
    facts.children = [];
    for (const child of value.manifests as unknown[]) {
      if (!isObject(child) || typeof child.digest !== 'string') throw bad('a manifests entry has no digest');
      facts.children.push(parseDigest(child.digest, 'child manifest digest'));
    }
  } else {
    if (!isObject(value.config) || typeof value.config.digest !== 'string') throw bad('an image manifest needs a config descriptor');
    parseDigest(value.config.digest, 'config digest');
    if (value.layers !== undefined && !Array.isArray(value.layers)) throw bad('layers is not a list');
    for (const layer of (value.layers as unknown[] | undefined) ?? []) {
      if (!isObject(layer) || typeof layer.digest !== 'string') throw bad('a layer has no digest');
      parseDigest(layer.digest, 'layer digest');
    }
  }
  if (isObject(value.subject) && typeof value.subject.digest === 'string') facts.subject = parseDigest(value.subject.digest, 'subject digest');
  // As the referrers API reports it: the artifactType, else the config's media type (image manifests).
  if (typeof value.artifactType === 'string') facts.artifactType = value.artifactType;
  else if (isObject(value.config) && typeof value.config.mediaType === 'string') facts.artifactType = value.config.mediaType;
  if (isObject(value.annotations)) facts.annotations = value.annotations as Record<string, string>;
  return facts;
}

/**
 * An exclusive lock file (created with O_EXCL) holding `pid host time token`. A lock whose owner process is
 * gone (same host) or that is older than STALE_LOCK_MS is removed and retaken.
 */
async function acquireLock(file: string, display: string): Promise<() => Promise<void>> {
  const token = randomBytes(8).toString('hex');
  const host = os.hostname();
  const deadline = Date.now() + LOCK_WAIT_MS;
  let delay = 5;
  for (;;) {
    try {
      const handle = await open(file, 'wx');
      try {
        await handle.writeFile(`${process.pid} ${host} ${Date.now()} ${token}\n`);
      } finally {
        await handle.close();
      }
      return async () => {
        // Only remove the lock if it is still ours (it may have been taken over as stale).
        const content = await readFile(file, 'utf8').catch(() => '');
        if (content.includes(token)) await unlink(file).catch(() => undefined);
      };
    } catch (error) {
      if (!isCode(error, 'EEXIST')) throw error;
    }
    const content = await readFile(file, 'utf8').catch(() => undefined);
    if (content !== undefined && (await lockIsStale(file, content, host))) {
      // Re-check just before removing: another waiter may already have replaced the stale lock.
      const again = await readFile(file, 'utf8').catch(() => undefined);
      if (again === content) await unlink(file).catch(() => undefined);
      continue;
    }
    if (Date.now() > deadline) {
      const owner = content?.split(' ').slice(0, 2).join(' on ') ?? 'unknown';
      throw new OciError(
        `timed out waiting for the lock ${file} of ${display} (held by pid ${owner}); if no oci-channel process is running, remove the file`,
        { registry: display },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, delay + Math.random() * delay));
    delay = Math.min(delay * 2, 100);
  }
}

async function lockIsStale(file: string, content: string, host: string): Promise<boolean> {
  const [pidText, owner, timeText] = content.trim().split(' ');
  const pid = Number(pidText);
  if (owner === host && Number.isSafeInteger(pid) && pid > 0) {
    try {
      process.kill(pid, 0);
    } catch (error) {
      if (isCode(error, 'ESRCH')) return true;
    }
  }
  const since = Number(timeText);
  if (Number.isFinite(since)) return Date.now() - since > STALE_LOCK_MS;
  // Unreadable content (a writer died between create and write): judge by the file's age.
  const info = await lstat(file).catch(() => undefined);
  return info !== undefined && Date.now() - info.mtimeMs > STALE_LOCK_MS;
}

/** Connects two streams; errors of either destroy both, and reach the consumer of `to`. */
function pipelineDetached(from: Readable, to: Transform, signal?: AbortSignal): void {
  pipeline(from, to, { signal, end: true }).catch(() => undefined);
}

/** fsync of a directory: makes the renames inside it durable. Best effort where the platform refuses. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => undefined);
  if (!handle) return;
  try {
    await handle.sync();
  } catch {
    // some file systems do not fsync directories (EINVAL): nothing more can be done
  } finally {
    await handle.close();
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || isCode(error, 'ABORT_ERR'));
}

function errorText(error: unknown): string {
  return error instanceof Error ? ((error as { code?: string }).code ?? error.message) : String(error);
}

