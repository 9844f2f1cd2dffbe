// Append-only logs kept in the registry (the promotion log, the label log): one tiny artifact per entry,
// its data in annotations, tagged `<UTC yyyymmddHHMMSSmmm>-<16 hex of sha256(subdir/filename)>[-<more>]` so tags
// sort by time and two entries never share a tag. Nothing is ever rewritten: a reader lists the tags and reads
// the entries it has not seen.
import { createHash } from 'node:crypto';
import { MediaType, OciError, type Repository } from '@oci-channel/oci';
import { parseJsonObject } from '../core/json.ts';
import { withConcurrentPushRetry } from '../core/retry.ts';
import { artifactManifest, pushEmptyJson } from './artifact-manifest.ts';
import { PipelineError } from '../errors.ts';

/** 16 hex digits of sha256("subdir/filename"): which file an entry is about, readable from its tag alone. */
export function fileKey(subdir: string, filename: string): string {
  return createHash('sha256').update(`${subdir}/${filename}`).digest('hex').slice(0, 16);
}

/** `yyyymmddHHMMSSmmm` in UTC: the time prefix of every log tag. */
export function logStamp(at: Date): string {
  return at.toISOString().slice(0, 23).replace(/[-:T.]/g, '');
}

/** Pushes one entry (empty config and layer, `annotations` holding the data) under `tag`; returns its digest. */
export async function appendLogEntry(repository: Repository, artifactType: string, annotations: Record<string, string>, tag: string): Promise<string> {
  await pushEmptyJson(repository);
  const { bytes } = artifactManifest({ artifactType, annotations });
  const descriptor = await withConcurrentPushRetry(() => repository.pushManifest(bytes, MediaType.ImageManifest, tag));
  return descriptor.digest;
}

/** Reads the entry at `tag` and returns a getter for its required string annotations (a missing one throws). */
export async function readLogEntry(
  repository: Repository,
  tag: string,
  what: string,
): Promise<{ digest: string; field(key: string): string; optional(key: string): string | undefined }> {
  const fetched = await repository.fetchManifest(tag);
  const manifest = parseJsonObject(fetched.bytes, `${what} ${repository.display}:${tag}`);
  const annotations = (manifest.annotations ?? {}) as Record<string, unknown>;
  const optional = (key: string) => {
    const value = annotations[key];
    return typeof value === 'string' && value ? value : undefined;
  };
  return {
    digest: fetched.descriptor.digest,
    optional,
    field(key: string): string {
      const value = optional(key);
      if (value === undefined) throw new PipelineError(`${what} ${repository.display}:${tag} lacks annotation ${key}; it was not written by oci-channel`);
      return value;
    },
  };
}

/**
 * A log's tags matching `pattern`, in time order; with `after` (the reader's high-water mark, a tag or a prefix of
 * one) only the newer ones. `after` goes to the registry as `last=`, so where it is honoured a reader that keeps
 * its place pays for what is new, not for the whole log.
 */
export async function listLogTags(repository: Repository, pattern: RegExp, after?: string): Promise<string[]> {
  let listed: string[];
  try {
    listed = await repository.listTags(after ? { after } : {});
  } catch (error) {
    // Some registries (Harbor) refuse a `last` that is not an existing tag; a rewound mark is not one.
    if (!after || !(error instanceof OciError) || error.status !== 400) throw error;
    listed = await repository.listTags();
  }
  return listed.filter((t) => pattern.test(t) && (!after || t > after)).sort();
}
