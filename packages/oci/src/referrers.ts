// The referrers tag schema (OCI distribution 1.1 fallback): where a registry has no referrers API, the client
// keeps an image index tagged `<alg>-<hex of the subject>` listing the manifests that refer to the subject.
import { NotFoundError } from './errors.ts';
import { digestHex } from './digest.ts';
import type { Digest } from './reference.ts';
import { MediaType, type Descriptor, type ImageIndex, type Repository } from './store.ts';

/** `sha256:abc...` -> `sha256-abc...` (tags are at most 128 characters). */
export function referrersTag(subject: Digest): string {
  return `${subject.slice(0, subject.indexOf(':'))}-${digestHex(subject)}`.slice(0, 128);
}

async function readIndex(repository: Repository, tag: string): Promise<ImageIndex | undefined> {
  try {
    const { bytes } = await repository.fetchManifest(tag);
    const index = JSON.parse(Buffer.from(bytes).toString('utf8')) as ImageIndex;
    return Array.isArray(index.manifests) ? index : { ...index, manifests: [] };
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
}

// Writers in one process take turns per subject: a run that records several referrers on one manifest at once
// (validate signs a verdict per format of a build) must never lose its own entries to itself.
const queues = new Map<string, Promise<void>>();

/**
 * Adds `entry` to the fallback index of `subject`.
 *
 * Race: the read-modify-write is not atomic. Within this process, updates of one subject are serialized (above).
 * Across processes two writers can still each push an index without the other's entry; we re-read after writing
 * and, when our entry is missing, add it again once; a writer losing twice in a row still loses its entry
 * (re-running the publish step repairs it).
 */
export async function updateReferrersIndex(repository: Repository, subject: Digest, entry: Descriptor): Promise<void> {
  const key = `${repository.store.key}\u0000${repository.name}\u0000${subject}`;
  const run = (queues.get(key) ?? Promise.resolve()).then(() => addEntry(repository, subject, entry));
  const tail = run.catch(() => undefined);
  queues.set(key, tail);
  try {
    await run;
  } finally {
    if (queues.get(key) === tail) queues.delete(key);
  }
}

async function addEntry(repository: Repository, subject: Digest, entry: Descriptor): Promise<void> {
  const tag = referrersTag(subject);
  for (let attempt = 0; attempt < 2; attempt++) {
    const current = await readIndex(repository, tag);
    if (current?.manifests.some((m) => m.digest === entry.digest)) return;
    const index: ImageIndex = {
      schemaVersion: 2,
      mediaType: MediaType.ImageIndex,
      manifests: [...(current?.manifests ?? []), entry],
    };
    await repository.pushManifest(Buffer.from(JSON.stringify(index)), MediaType.ImageIndex, tag);
    const after = await readIndex(repository, tag);
    if (after?.manifests.some((m) => m.digest === entry.digest)) return;
  }
}
