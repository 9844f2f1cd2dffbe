// Verdicts: the result of validating one staged artifact, recorded ON the staging manifest as an OCI referrer
// (subject = the staging manifest), so promote can trust exactly the bytes that were checked.
import { bytesSource, MediaType, sha256Digest, type Descriptor, type Digest, type Repository } from '@oci-channel/oci';
import { artifactManifest, parseJsonObject, pushEmptyJson, withConcurrentPushRetry } from './artifact-manifest.ts';
import { readSmallBlob } from './blob-read.ts';
import type { Check, VerdictStatus } from './types.ts';

export const VERDICT_ARTIFACT_TYPE = 'application/vnd.oci-channel.verdict.v1+json';
export const VERDICT_MEDIA_TYPE = 'application/vnd.oci-channel.verdict.v1+json';
export const VerdictAnnotation = {
  Verdict: 'org.oci-channel.verdict',
  Filename: 'org.oci-channel.filename',
  Created: 'org.opencontainers.image.created',
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
}

export async function recordVerdict(repository: Repository, subject: Descriptor, doc: VerdictDocument): Promise<Descriptor> {
  const body = new TextEncoder().encode(JSON.stringify(doc));
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
    },
  });
  return withConcurrentPushRetry(() => repository.pushManifest(bytes, MediaType.ImageManifest));
}

function asVerdict(value: Record<string, unknown>): VerdictDocument | undefined {
  if ((value.verdict !== 'passed' && value.verdict !== 'failed') || !Array.isArray(value.checks)) return undefined;
  if (typeof value.validatedAt !== 'string' || typeof value.filename !== 'string' || typeof value.manifestDigest !== 'string') return undefined;
  if (typeof value.subdir !== 'string') return undefined;
  return value as unknown as VerdictDocument;
}

/**
 * The newest verdict about `filename` whose subject is exactly `subject` (the staging manifest digest) and whose
 * document names the same manifest digest. Verdicts that cannot be read are ignored.
 */
export async function newestVerdict(
  repository: Repository,
  subject: Digest,
  filename: string,
): Promise<{ doc: VerdictDocument; digest: Digest } | undefined> {
  const referrers = await repository.referrers(subject, VERDICT_ARTIFACT_TYPE);
  // Newest first by the created annotation (copied into referrer descriptors), so a long history costs one read.
  const created = (d: Descriptor) => d.annotations?.[VerdictAnnotation.Created];
  const sortable = referrers.every((d) => created(d) !== undefined);
  if (sortable) referrers.sort((a, b) => (created(a)! < created(b)! ? 1 : created(a)! > created(b)! ? -1 : 0));
  let best: { doc: VerdictDocument; digest: Digest } | undefined;
  for (const descriptor of referrers) {
    if (sortable && best) break;
    const annotatedFile = descriptor.annotations?.[VerdictAnnotation.Filename];
    if (annotatedFile !== undefined && annotatedFile !== filename) continue;
    try {
      const fetched = await repository.fetchManifest(descriptor.digest);
      const manifest = parseJsonObject(fetched.bytes, `verdict ${descriptor.digest}`);
      const manifestSubject = manifest.subject as Descriptor | undefined;
      if (manifestSubject?.digest !== subject || manifest.artifactType !== VERDICT_ARTIFACT_TYPE) continue;
      const layer = (manifest.layers as Descriptor[] | undefined)?.find((l) => l.mediaType === VERDICT_MEDIA_TYPE);
      if (!layer) continue;
      const doc = asVerdict(parseJsonObject(await readSmallBlob(repository, layer.digest, layer.size, 1 << 20), 'verdict'));
      if (!doc || doc.filename !== filename || doc.manifestDigest !== subject) continue;
      if (!best || doc.validatedAt > best.doc.validatedAt) best = { doc, digest: descriptor.digest };
    } catch {
      // an unreadable verdict proves nothing: skip it
    }
  }
  return best;
}
