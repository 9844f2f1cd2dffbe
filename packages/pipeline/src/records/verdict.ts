// Verdicts: the result of validating one staged artifact, recorded ON the staging manifest as an OCI referrer
// (subject = the staging manifest), so promote can trust exactly the bytes that were checked.
// Staging is writable by every uploader, so a verdict only counts when it carries an HMAC-SHA256 made with the
// channel admins' verdict key (verdict-key.ts); anyone can push a referrer, nobody without the key can sign one.
import { bytesSource, MediaType, sha256Digest, type Descriptor, type Digest, type Repository } from '@oci-channel/oci';
import { parseJsonObject } from '../core/json.ts';
import { artifactManifest, pushEmptyJson } from './artifact-manifest.ts';
import { readSmallBlob } from '../core/blobs.ts';
import { withConcurrentPushRetry } from '../core/retry.ts';
import type { Check, VerdictStatus } from '../types.ts';
import type { VerdictKey } from './verdict-key.ts';

export const VERDICT_ARTIFACT_TYPE = 'application/vnd.oci-channel.verdict.v1+json';
export const VERDICT_MEDIA_TYPE = 'application/vnd.oci-channel.verdict.v1+json';
export const VerdictAnnotation = {
  Verdict: 'org.oci-channel.verdict',
  Filename: 'org.oci-channel.filename',
  Created: 'org.opencontainers.image.created',
  /**
   * The (signed) verdict document itself. Registries copy a referrer's annotations into its descriptor in the
   * referrers list (and so does the fallback tag), so promote reads a verdict in one request, not three.
   */
  Document: 'org.oci-channel.verdict.document',
} as const;

export interface VerdictDocument {
  verdict: VerdictStatus;
  checks: Check[];
  uploader?: string;
  /** RFC 3339. */
  validatedAt: string;
  subdir: string;
  filename: string;
  /** The package's sha256 as computed while validating (hex). */
  sha256?: string;
  manifestDigest: string;
  /** `hmac-sha256:<hex>` over canonicalVerdict(doc), made with the verdict key; absent when validate had no key. */
  hmac?: string;
}

/** How many verdicts about one subject promote reads at most looking for a signed one (forged ones cost reads). */
const MAX_VERDICTS_READ = 32;

/**
 * The bytes a verdict's HMAC covers: every field promote relies on, in a fixed order, as a JSON array (so key
 * order and absent-vs-undefined cannot change them), after a label that keeps this MAC from meaning anything else.
 */
export function canonicalVerdict(doc: VerdictDocument): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify([
      'oci-channel verdict v1',
      doc.verdict,
      doc.manifestDigest,
      doc.subdir,
      doc.filename,
      doc.sha256 ?? null,
      doc.validatedAt,
      doc.uploader ?? null,
      doc.checks.map((c) => [c.name, c.ok, c.detail ?? null]),
    ]),
  );
}

/** The document with its HMAC (any HMAC it had is replaced). */
export function signVerdict(doc: VerdictDocument, key: VerdictKey): VerdictDocument {
  const { hmac: _old, ...unsigned } = doc;
  return { ...unsigned, hmac: key.sign(canonicalVerdict(unsigned)) };
}

/** Whether the document carries an HMAC made with this key over exactly these fields. */
export function verdictSignedWith(doc: VerdictDocument, key: VerdictKey): boolean {
  return typeof doc.hmac === 'string' && key.verify(canonicalVerdict(doc), doc.hmac);
}

/** Records `doc` on `subject`, signed when a key is given (validate signs whenever the admins' key is configured). */
export async function recordVerdict(repository: Repository, subject: Descriptor, doc: VerdictDocument, key?: VerdictKey): Promise<Descriptor> {
  const text = JSON.stringify(key ? signVerdict(doc, key) : doc);
  const body = new TextEncoder().encode(text);
  const layer: Descriptor = { mediaType: VERDICT_MEDIA_TYPE, digest: sha256Digest(body), size: body.byteLength };
  await pushEmptyJson(repository);
  await repository.pushBlob(bytesSource(body), { digest: layer.digest, size: layer.size });
  const { bytes } = artifactManifest({
    artifactType: VERDICT_ARTIFACT_TYPE,
    layer,
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: {
      [VerdictAnnotation.Verdict]: doc.verdict,
      [VerdictAnnotation.Filename]: doc.filename,
      [VerdictAnnotation.Created]: doc.validatedAt,
      [VerdictAnnotation.Document]: text,
    },
  });
  return withConcurrentPushRetry(() => repository.pushManifest(bytes, MediaType.ImageManifest));
}

const optionalString = (v: unknown) => v === undefined || typeof v === 'string';
const isCheck = (c: unknown) =>
  typeof c === 'object' && c !== null && typeof (c as Check).name === 'string' && typeof (c as Check).ok === 'boolean' && optionalString((c as Check).detail);

/** The document when every field has its type (so the canonical form of what was read is what was signed). */
function asVerdict(value: Record<string, unknown>): VerdictDocument | undefined {
  if ((value.verdict !== 'passed' && value.verdict !== 'failed') || !Array.isArray(value.checks) || !value.checks.every(isCheck)) return undefined;
  if (typeof value.validatedAt !== 'string' || typeof value.filename !== 'string' || typeof value.manifestDigest !== 'string') return undefined;
  if (typeof value.subdir !== 'string' || !optionalString(value.uploader) || !optionalString(value.sha256) || !optionalString(value.hmac)) return undefined;
  return value as unknown as VerdictDocument;
}

function parseDocument(text: string): VerdictDocument | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? asVerdict(value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The newest verdict about `filename` whose subject is exactly `subject` (the staging manifest digest) and whose
 * document names the same manifest digest. Verdicts that cannot be read are ignored. With `key`, only verdicts
 * signed with it count (what promote uses); without, any readable one (for reports and tests; never trust it).
 */
export async function newestVerdict(
  repository: Repository,
  subject: Digest,
  filename: string,
  key?: VerdictKey,
): Promise<{ doc: VerdictDocument; digest: Digest } | undefined> {
  const referrers = await repository.referrers(subject, VERDICT_ARTIFACT_TYPE);
  // Newest first by the created annotation (copied into referrer descriptors), so a long history costs one read.
  // The annotation is only a hint (the fallback tag's index is writable by uploaders): a signed verdict counts
  // only when its descriptor's annotation is its signed validatedAt, so the order it was read in is the true one.
  const created = (d: Descriptor) => d.annotations?.[VerdictAnnotation.Created];
  const sortable = referrers.every((d) => created(d) !== undefined);
  if (sortable) referrers.sort((a, b) => (created(a)! < created(b)! ? 1 : created(a)! > created(b)! ? -1 : 0));
  let best: { doc: VerdictDocument; digest: Digest } | undefined;
  let read = 0;
  for (const descriptor of referrers) {
    if (sortable && best) break;
    if (key && read >= MAX_VERDICTS_READ) break;
    const annotatedFile = descriptor.annotations?.[VerdictAnnotation.Filename];
    if (annotatedFile !== undefined && annotatedFile !== filename) continue;
    read++;
    const annotated = descriptor.annotations?.[VerdictAnnotation.Document];
    if (annotated !== undefined) {
      // Whoever can write staging can write this annotation: it counts exactly like a fetched document would.
      const doc = parseDocument(annotated);
      if (doc && doc.filename === filename && doc.manifestDigest === subject && (!key || (verdictSignedWith(doc, key) && (!sortable || created(descriptor) === doc.validatedAt)))) {
        if (!best || doc.validatedAt > best.doc.validatedAt) best = { doc, digest: descriptor.digest };
        continue;
      }
      // An unusable annotation: read the verdict itself, as for one without it.
    }
    try {
      const fetched = await repository.fetchManifest(descriptor.digest);
      const manifest = parseJsonObject(fetched.bytes, `verdict ${descriptor.digest}`);
      const manifestSubject = manifest.subject as Descriptor | undefined;
      if (manifestSubject?.digest !== subject || manifest.artifactType !== VERDICT_ARTIFACT_TYPE) continue;
      const layer = (manifest.layers as Descriptor[] | undefined)?.find((l) => l.mediaType === VERDICT_MEDIA_TYPE);
      if (!layer) continue;
      const doc = asVerdict(parseJsonObject(await readSmallBlob(repository, layer.digest, layer.size, 1 << 20), 'verdict'));
      if (!doc || doc.filename !== filename || doc.manifestDigest !== subject) continue;
      if (key && (!verdictSignedWith(doc, key) || (sortable && created(descriptor) !== doc.validatedAt))) continue;
      if (!best || doc.validatedAt > best.doc.validatedAt) best = { doc, digest: descriptor.digest };
    } catch {
      // an unreadable verdict proves nothing: skip it
    }
  }
  return best;
}
