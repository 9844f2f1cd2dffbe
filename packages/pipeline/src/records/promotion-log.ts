// The promotion log: an append-only record of what was promoted, so reindex reads only what is new.
// Repository `<channel>/oci_channel/promotions` (`oci_channel` can be neither a subdir nor a package name
// repository: subdirs have one '-', package repositories sit under a subdir). One tiny artifact per
// promotion, tagged `<UTC yyyymmddHHMMSSmmm>-<16 hex of sha256(subdir/filename)>`: tags sort by time and
// two promotions never write the same tag (different files differ in the hash, one file twice in the time).
import { createHash } from 'node:crypto';
import { OciError, type Repository, type Store } from '@oci-channel/oci';
import { parseJsonObject } from '../core/json.ts';
import { artifactManifest, pushEmptyJson } from './artifact-manifest.ts';
import { withConcurrentPushRetry } from '../core/retry.ts';

export const PROMOTION_LOG_REPOSITORY = 'oci_channel/promotions';
export const PROMOTION_ARTIFACT_TYPE = 'application/vnd.oci-channel.promotion.v1';

export const PromotionAnnotation = {
  Subdir: 'org.oci-channel.subdir',
  Filename: 'org.oci-channel.filename',
  Repository: 'org.oci-channel.repository',
  Tag: 'org.oci-channel.tag',
  ManifestDigest: 'org.oci-channel.manifest-digest',
  PromotedAt: 'org.oci-channel.promoted-at',
} as const;

export interface PromotionEntry {
  subdir: string;
  filename: string;
  /** Package repository relative to the channel path. */
  repository: string;
  tag: string;
  /** The production manifest digest at the time of promotion. */
  manifestDigest: string;
  /** RFC 3339. */
  promotedAt: string;
}

export interface LoggedPromotion extends PromotionEntry {
  /** The log tag (sortable). */
  logTag: string;
  logDigest: string;
}

const LOG_TAG_RE = /^(\d{17})-([0-9a-f]{16})$/;

export function promotionLogRepository(store: Store): Repository {
  return store.repository(PROMOTION_LOG_REPOSITORY);
}

export function fileKey(subdir: string, filename: string): string {
  return createHash('sha256').update(`${subdir}/${filename}`).digest('hex').slice(0, 16);
}

export function promotionLogTag(at: Date, subdir: string, filename: string): string {
  const iso = at.toISOString(); // 2026-11-22T19:23:30.123Z
  const stamp = iso.slice(0, 23).replace(/[-:T.]/g, '');
  return `${stamp}-${fileKey(subdir, filename)}`;
}

export async function appendPromotion(store: Store, entry: Omit<PromotionEntry, 'promotedAt'>, at = new Date()): Promise<LoggedPromotion> {
  const repository = promotionLogRepository(store);
  await pushEmptyJson(repository);
  const promotedAt = at.toISOString();
  const { bytes } = artifactManifest({
    artifactType: PROMOTION_ARTIFACT_TYPE,
    annotations: {
      [PromotionAnnotation.Subdir]: entry.subdir,
      [PromotionAnnotation.Filename]: entry.filename,
      [PromotionAnnotation.Repository]: entry.repository,
      [PromotionAnnotation.Tag]: entry.tag,
      [PromotionAnnotation.ManifestDigest]: entry.manifestDigest,
      [PromotionAnnotation.PromotedAt]: promotedAt,
    },
  });
  const logTag = promotionLogTag(at, entry.subdir, entry.filename);
  const descriptor = await withConcurrentPushRetry(() => repository.pushManifest(bytes, 'application/vnd.oci.image.manifest.v1+json', logTag));
  return { ...entry, promotedAt, logTag, logDigest: descriptor.digest };
}

/**
 * Log tags in time order, optionally only those after `after` (a log tag or a prefix of one: the reader's
 * high-water mark). `after` goes to the registry as `last=`, so where it is honoured a reader that keeps its
 * place pays for what is new, not for the whole log.
 */
export async function listPromotionTags(store: Store, after?: string): Promise<string[]> {
  const repository = promotionLogRepository(store);
  let listed: string[];
  try {
    listed = await repository.listTags(after ? { after } : {});
  } catch (error) {
    // Some registries (Harbor) refuse a `last` that is not an existing tag; the mark rewound is not one.
    if (!after || !(error instanceof OciError) || error.status !== 400) throw error;
    listed = await repository.listTags();
  }
  const tags = listed.filter((t) => LOG_TAG_RE.test(t) && (!after || t > after));
  tags.sort();
  return tags;
}

export async function readPromotion(store: Store, logTag: string): Promise<LoggedPromotion> {
  const repository = promotionLogRepository(store);
  const fetched = await repository.fetchManifest(logTag);
  const manifest = parseJsonObject(fetched.bytes, `promotion log entry ${repository.display}:${logTag}`);
  const a = (manifest.annotations ?? {}) as Record<string, unknown>;
  const field = (key: string): string => {
    const value = a[key];
    if (typeof value !== 'string' || !value) {
      throw new Error(`promotion log entry ${repository.display}:${logTag} lacks annotation ${key}; it was not written by oci-channel`);
    }
    return value;
  };
  return {
    subdir: field(PromotionAnnotation.Subdir),
    filename: field(PromotionAnnotation.Filename),
    repository: field(PromotionAnnotation.Repository),
    tag: field(PromotionAnnotation.Tag),
    manifestDigest: field(PromotionAnnotation.ManifestDigest),
    promotedAt: field(PromotionAnnotation.PromotedAt),
    logTag,
    logDigest: fetched.descriptor.digest,
  };
}

/** Entries after `after`, in log order (entries that are not ours are skipped). */
export async function readPromotions(store: Store, after?: string): Promise<LoggedPromotion[]> {
  const tags = await listPromotionTags(store, after);
  const entries: LoggedPromotion[] = [];
  // Small manifests; a handful in flight keeps a long log quick without flooding the registry.
  const batch = 8;
  for (let i = 0; i < tags.length; i += batch) {
    const read = await Promise.allSettled(tags.slice(i, i + batch).map((t) => readPromotion(store, t)));
    for (const r of read) if (r.status === 'fulfilled') entries.push(r.value);
  }
  return entries;
}

/**
 * The newest log entry for `subdir/filename` (from a tag listing, when given). Production never holds two
 * different artifacts under one filename, so any entry for it records this artifact (the manifest digest
 * may be older when the other format was merged in later).
 */
export async function findPromotion(store: Store, subdir: string, filename: string, tags?: string[]): Promise<LoggedPromotion | undefined> {
  const key = fileKey(subdir, filename);
  const all = tags ?? (await listPromotionTags(store));
  for (const tag of all.filter((t) => t.endsWith(`-${key}`)).reverse()) {
    const entry = await readPromotion(store, tag).catch(() => undefined);
    if (entry && entry.subdir === subdir && entry.filename === filename) return entry;
  }
  return undefined;
}
