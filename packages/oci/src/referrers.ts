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

/**
 * Adds `entry` to the fallback index of `subject`.
 *
 * Race: the read-modify-write is not atomic, so two writers updating the same subject at once can each push an
 * index without the other's entry. We re-read after writing and, when our entry is missing, add it again once;
 * a writer losing twice in a row still loses its entry (re-running the publish step repairs it).
 */
export async function updateReferrersIndex(repository: Repository, subject: Digest, entry: Descriptor): Promise<void> {
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
