// The promotion log: an append-only record of what was promoted, so reindex reads only what is new.
// Repository `<channel>/oci_channel/promotions` (`oci_channel` can be neither a subdir nor a package name
// repository: subdirs have one '-', package repositories sit under a subdir). One tiny artifact per
// promotion, tagged `<UTC yyyymmddHHMMSSmmm>-<16 hex of sha256(subdir/filename)>`: tags sort by time and
// two promotions never write the same tag (different files differ in the hash, one file twice in the time).
import { sha256Digest, type Repository, type Store } from '@oci-channel/oci';
import { isLabel, MAIN_LABEL } from '@oci-channel/conda';
import { appendLogEntry, fileKey, listLogTags, logStamp, readLogEntry } from './append-log.ts';
import { PipelineError } from '../errors.ts';

export { fileKey } from './append-log.ts';

export const PROMOTION_LOG_REPOSITORY = 'oci_channel/promotions';
export const PROMOTION_ARTIFACT_TYPE = 'application/vnd.oci-channel.promotion.v1';

export const PromotionAnnotation = {
  Subdir: 'org.oci-channel.subdir',
  Filename: 'org.oci-channel.filename',
  Repository: 'org.oci-channel.repository',
  Tag: 'org.oci-channel.tag',
  ManifestDigest: 'org.oci-channel.manifest-digest',
  PromotedAt: 'org.oci-channel.promoted-at',
  /** The label the promotion asked for (`main` when the entry has none: older entries). */
  Label: 'org.oci-channel.label',
  /**
   * The production manifest itself (its JSON text), when small: reindex then reads a new package from the entry
   * alone. Used only when its sha256 is the entry's manifest digest; older entries have none.
   */
  Manifest: 'org.oci-channel.manifest',
} as const;

/** Production manifests up to this size ride in their log entry (a registry caps a manifest at about 4 MiB). */
const INLINE_MANIFEST_BYTES = 64 * 1024;

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
  /** The label it was promoted to (default `main`). */
  label?: string;
}

export interface LoggedPromotion extends PromotionEntry {
  /** The production manifest's bytes, when the entry carries them (checked against manifestDigest). */
  manifest?: Uint8Array;
  /** The log tag (sortable). */
  logTag: string;
  logDigest: string;
}

const LOG_TAG_RE = /^(\d{17})-([0-9a-f]{16})$/;

export function promotionLogRepository(store: Store): Repository {
  return store.repository(PROMOTION_LOG_REPOSITORY);
}

export function promotionLogTag(at: Date, subdir: string, filename: string): string {
  return `${logStamp(at)}-${fileKey(subdir, filename)}`;
}

/**
 * Appends an entry. `manifest` is the production manifest at `manifestDigest` (its bytes); it rides in the entry
 * when it is that manifest and small enough.
 */
export async function appendPromotion(store: Store, entry: Omit<PromotionEntry, 'promotedAt'> & { manifest?: Uint8Array }, at = new Date()): Promise<LoggedPromotion> {
  const promotedAt = at.toISOString();
  const inline = entry.manifest && entry.manifest.byteLength <= INLINE_MANIFEST_BYTES && manifestMatches(entry.manifest, entry.manifestDigest) ? entry.manifest : undefined;
  const label = entry.label ?? MAIN_LABEL;
  const logTag = promotionLogTag(at, entry.subdir, entry.filename);
  const logDigest = await appendLogEntry(
    promotionLogRepository(store),
    PROMOTION_ARTIFACT_TYPE,
    {
      [PromotionAnnotation.Subdir]: entry.subdir,
      [PromotionAnnotation.Filename]: entry.filename,
      [PromotionAnnotation.Repository]: entry.repository,
      [PromotionAnnotation.Tag]: entry.tag,
      [PromotionAnnotation.ManifestDigest]: entry.manifestDigest,
      [PromotionAnnotation.PromotedAt]: promotedAt,
      [PromotionAnnotation.Label]: label,
      ...(inline ? { [PromotionAnnotation.Manifest]: Buffer.from(inline).toString('utf8') } : {}),
    },
    logTag,
  );
  const { manifest: _, ...rest } = entry;
  return { ...rest, label, promotedAt, logTag, logDigest, ...(inline ? { manifest: inline } : {}) };
}

function manifestMatches(bytes: Uint8Array, digest: string): boolean {
  return sha256Digest(bytes) === digest;
}

/**
 * Log tags in time order, optionally only those after `after` (a log tag or a prefix of one: the reader's
 * high-water mark). `after` goes to the registry as `last=`, so where it is honoured a reader that keeps its
 * place pays for what is new, not for the whole log.
 */
export async function listPromotionTags(store: Store, after?: string): Promise<string[]> {
  return listLogTags(promotionLogRepository(store), LOG_TAG_RE, after);
}

export async function readPromotion(store: Store, logTag: string): Promise<LoggedPromotion> {
  const entry = await readLogEntry(promotionLogRepository(store), logTag, 'promotion log entry');
  const { field } = entry;
  const label = entry.optional(PromotionAnnotation.Label) ?? MAIN_LABEL;
  if (!isLabel(label)) throw new PipelineError(`promotion log entry ${logTag} has label ${JSON.stringify(label.slice(0, 70))}, which is not a label; it was not written by oci-channel`);
  const manifestDigest = field(PromotionAnnotation.ManifestDigest);
  // Not its manifest (edited, or not UTF-8 JSON any more): ignored, the reader fetches the manifest instead.
  const text = entry.optional(PromotionAnnotation.Manifest);
  const manifest = text !== undefined ? Buffer.from(text, 'utf8') : undefined;
  return {
    subdir: field(PromotionAnnotation.Subdir),
    filename: field(PromotionAnnotation.Filename),
    repository: field(PromotionAnnotation.Repository),
    tag: field(PromotionAnnotation.Tag),
    manifestDigest,
    promotedAt: field(PromotionAnnotation.PromotedAt),
    label,
    logTag,
    logDigest: entry.digest,
    ...(manifest && manifestMatches(manifest, manifestDigest) ? { manifest } : {}),
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
