// Write intents: how two runs writing the two formats of one build into one tag avoid losing either.
//
// Upload (into the staging tag) and promote (into the production tag) both merge a file into the manifest at one
// tag, and registries have no conditional PUT, so a writer whose read of the tag came before the other's PUT can
// overwrite it after the other has checked its own write. Each writer first leaves a small manifest at a tag
// derived from its file name (the intent, in staging), then reads the tag it merges into; after its PUT it reads
// the tag and the other format's intent together. Of two racing writers, whichever reads second sees the other's
// intent; while that intent is fresh and the tag lacks the other's file, it waits and reads again, so a late PUT
// that dropped its own file is seen and merged again. Intents are never promoted; gc-staging deletes them by age
// like anything else in staging.
import { createHash } from 'node:crypto';
import { MediaType, NotFoundError, bytesSource, type Repository } from '@oci-channel/oci';
import { Annotation, PACKAGE_CONFIG } from '@oci-channel/conda';
import { parseJsonObject } from '../core/json.ts';
import type { ConfigBlobs } from '../steps/upload.ts';

/** An intent older than this is a writer that stopped (crashed, or refused before its PUT): not waited for. */
const INTENT_FRESH_MS = 2 * 60 * 1000;
/** The longest a writer waits for the other format's fresh intent to land in the tag before it stops waiting. */
const SIBLING_WAIT_MS = 60 * 1000;
/**
 * A writer still at work after this long (a large file sending, a merge downloading packages) writes its intent
 * again, so that it never looks stopped to the other format's writer while its PUT is still to come.
 */
const INTENT_REFRESH_MS = INTENT_FRESH_MS / 4;

/** Whose intent: an upload's (into the staging tag) or a promotion's (into the production tag). */
export type IntentKind = 'uploading' | 'promoting';

/**
 * The intent tag of a package file. No `-`: a package tag always has one (VERSION-BUILD), so an intent is never
 * read as a build; hashed, so any file name fits a tag.
 */
export function intentTag(filename: string, kind: IntentKind = 'uploading'): string {
  return `_${kind}.${createHash('sha256').update(filename).digest('hex').slice(0, 40)}`;
}

/** Whether a tag is an intent's. */
export function isIntentTag(tag: string): boolean {
  return /^_(uploading|promoting)\.[0-9a-f]{40}$/.test(tag);
}

/** The other format's file name of the same build. */
export function otherFormat(filename: string): string {
  if (filename.endsWith('.conda')) return `${filename.slice(0, -'.conda'.length)}.tar.bz2`;
  if (filename.endsWith('.tar.bz2')) return `${filename.slice(0, -'.tar.bz2'.length)}.conda`;
  return filename;
}

/**
 * Leaves the intent to merge `filename` into its tag (the empty blob of package manifests is its config and only
 * layer). `repository` is the file's repository in staging, whatever the tag written is. `configs` places that
 * blob first; without it the repository holds it already (a staged package manifest has it as its config).
 */
export async function writeIntent(
  repository: Repository,
  filename: string,
  options: { kind: IntentKind; configs?: ConfigBlobs; signal?: AbortSignal; at?: Date },
): Promise<void> {
  await options.configs?.ensure(repository, { descriptor: PACKAGE_CONFIG, source: bytesSource(new Uint8Array()) }, options.signal);
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ImageManifest,
    config: PACKAGE_CONFIG,
    layers: [PACKAGE_CONFIG],
    annotations: { [Annotation.Title]: filename, [Annotation.Created]: (options.at ?? new Date()).toISOString() },
  };
  await repository.pushManifest(new TextEncoder().encode(JSON.stringify(manifest)), MediaType.ImageManifest, intentTag(filename, options.kind));
}

/**
 * Leaves the intent and keeps it fresh until `release()` (written again every `refreshMs` while the writer works;
 * a refresh that fails is left to the next one). The timer does not keep the process alive.
 */
export async function holdIntent(
  repository: Repository,
  filename: string,
  options: { kind: IntentKind; configs?: ConfigBlobs; signal?: AbortSignal; refreshMs?: number },
): Promise<{ release(): void }> {
  await writeIntent(repository, filename, options);
  const timer = setInterval(() => {
    writeIntent(repository, filename, { kind: options.kind, ...(options.signal ? { signal: options.signal } : {}) }).catch(() => undefined);
  }, options.refreshMs ?? INTENT_REFRESH_MS);
  timer.unref();
  return { release: () => clearInterval(timer) };
}

/**
 * Whether another writer of `filename` may still be about to write its tag: its intent is there and younger than
 * INTENT_FRESH_MS. Anything unreadable in it counts as no intent (staging is the uploader's, and an intent only
 * ever makes a writer wait).
 */
async function freshIntent(repository: Repository, filename: string, kind: IntentKind): Promise<boolean> {
  let bytes: Uint8Array;
  try {
    bytes = (await repository.fetchManifest(intentTag(filename, kind))).bytes;
  } catch (error) {
    if (error instanceof NotFoundError) return false;
    throw error;
  }
  try {
    const annotations = (parseJsonObject(bytes, 'a write intent').annotations ?? {}) as Record<string, unknown>;
    const created = Date.parse(String(annotations[Annotation.Created]));
    return annotations[Annotation.Title] === filename && Number.isFinite(created) && Date.now() - created < INTENT_FRESH_MS;
  } catch {
    return false;
  }
}

/**
 * The writers of the other formats of a build, as seen by one that writes `filenames` into its tag: after its PUT
 * it reads their intents beside the tag (`fresh`), and reads again while one is fresh and its file is not in the
 * tag yet (`keepWaiting`), for at most SIBLING_WAIT_MS from the first time it waited (`restart` after a new PUT).
 */
export class OtherWriters {
  readonly #repository: Repository;
  readonly #kind: IntentKind;
  readonly #others: string[];
  #waitingSince: number | undefined;

  constructor(repository: Repository, filenames: string[], kind: IntentKind) {
    this.#repository = repository;
    this.#kind = kind;
    this.#others = [...new Set(filenames.map(otherFormat))].filter((f) => !filenames.includes(f));
  }

  /** The other formats whose writer left a fresh intent. */
  async fresh(): Promise<string[]> {
    const fresh = await Promise.all(this.#others.map((f) => freshIntent(this.#repository, f, this.#kind)));
    return this.#others.filter((_, i) => fresh[i]);
  }

  /** Whether to read the tag again: a fresh intent's file is not in it yet, and the wait has not run out. */
  keepWaiting(fresh: string[], inTag: (filename: string) => boolean): boolean {
    if (fresh.every(inTag)) return false;
    this.#waitingSince ??= Date.now();
    // A writer stalled longer than any intent-to-PUT: it stopped; stop waiting for it.
    return Date.now() - this.#waitingSince < SIBLING_WAIT_MS;
  }

  restart(): void {
    this.#waitingSince = undefined;
  }
}
