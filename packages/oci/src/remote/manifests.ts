// Manifests: HEAD and GET (digest-verified, capped), PUT (keeping the referrers fallback tag where the registry
// has no referrers API), DELETE, and the referrers list (API or fallback tag).
import { sha256Digest, verifyBytes } from '../digest.ts';
import { DigestMismatchError, NotFoundError, ProtocolError, TooLargeError, UnsupportedError, where } from '../errors.ts';
import { discard, header, readCapped, readRegistryError, responseError } from '../http.ts';
import { parseDigest, parseManifestReference, parseTag, type Digest } from '../reference.ts';
import { referrersTag, updateReferrersIndex } from '../referrers.ts';
import { MediaType, type Descriptor, type FetchedManifest, type ImageIndex } from '../store.ts';
import type { RepositoryTarget } from './client.ts';

/** Registries must accept manifests up to 4 MiB: refuse larger before sending. */
export const MAX_MANIFEST_PUSH = 4 * 1024 * 1024;
/** Manifests read are capped here. */
export const MAX_MANIFEST_FETCH = 8 * 1024 * 1024;

const MANIFEST_ACCEPT = [
  MediaType.ImageManifest,
  MediaType.ImageIndex,
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

export async function resolve(t: RepositoryTarget, reference: string): Promise<Descriptor | undefined> {
  parseManifestReference(reference);
  const context = t.context(reference);
  const res = await t.client.request(
    { method: 'HEAD', url: t.url(`manifests/${reference}`), headers: { accept: MANIFEST_ACCEPT }, scopes: t.pull },
    context,
  );
  await discard(res);
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw await responseError(res, 'HEAD manifest', context);
  const sent = header(res, 'docker-content-digest');
  const size = Number(header(res, 'content-length'));
  const mediaType = (header(res, 'content-type') ?? '').split(';')[0]!.trim();
  if (reference.includes(':') && sent && sent !== reference) {
    throw new DigestMismatchError(`HEAD manifest ${where(context)} answered digest ${sent}; refused`, context);
  }
  const digest = reference.includes(':') ? (reference as Digest) : sent && /^sha(256|512):[a-f0-9]+$/.test(sent) ? (sent as Digest) : undefined;
  if (!digest || !Number.isSafeInteger(size) || !mediaType) {
    // Some registries answer HEAD without the headers: fall back to reading it.
    const fetched = await fetchManifest(t, reference);
    return fetched.descriptor;
  }
  return { mediaType, digest, size };
}

export async function fetchManifest(t: RepositoryTarget, reference: string): Promise<FetchedManifest> {
  parseManifestReference(reference);
  const context = t.context(reference);
  const { res, bytes } = await t.client.requestBytes(
    { method: 'GET', url: t.url(`manifests/${reference}`), headers: { accept: MANIFEST_ACCEPT }, scopes: t.pull },
    context,
    MAX_MANIFEST_FETCH,
    'manifest',
  );
  if (!bytes) throw await responseError(res, 'GET manifest', context);
  const sent = header(res, 'docker-content-digest');
  let digest: Digest;
  if (reference.includes(':')) {
    digest = reference as Digest;
    verifyBytes(bytes, digest, context);
  } else if (sent && /^sha(256|512):[a-f0-9]+$/.test(sent)) {
    digest = parseDigest(sent, 'Docker-Content-Digest');
    verifyBytes(bytes, digest, context);
  } else {
    digest = sha256Digest(bytes);
  }
  let mediaType = (header(res, 'content-type') ?? '').split(';')[0]!.trim();
  let artifactType: string | undefined;
  try {
    const parsed = JSON.parse(Buffer.from(bytes).toString('utf8')) as { mediaType?: unknown; artifactType?: unknown };
    if (typeof parsed.mediaType === 'string') mediaType = parsed.mediaType;
    if (typeof parsed.artifactType === 'string') artifactType = parsed.artifactType;
  } catch {
    throw new ProtocolError(`manifest ${where(context)} is not JSON`, context);
  }
  const descriptor: Descriptor = { mediaType, digest, size: bytes.length };
  if (artifactType) descriptor.artifactType = artifactType;
  return { descriptor, bytes };
}

export async function pushManifest(t: RepositoryTarget, bytes: Uint8Array, mediaType: string, tag?: string): Promise<Descriptor> {
  const digest = sha256Digest(bytes);
  const reference = tag === undefined ? digest : parseTag(tag);
  const context = t.context(reference);
  if (bytes.byteLength > MAX_MANIFEST_PUSH) {
    throw new TooLargeError(
      `manifest for ${where(context)} is ${bytes.byteLength} bytes, over the ${MAX_MANIFEST_PUSH}-byte limit registries accept; not sent`,
      context,
    );
  }
  let parsed: { subject?: Descriptor; artifactType?: string; config?: Descriptor; annotations?: Record<string, string> };
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8')) as typeof parsed;
  } catch {
    throw new ProtocolError(`manifest for ${where(context)} is not JSON; not sent`, context);
  }
  const res = await t.client.request(
    {
      method: 'PUT',
      url: t.url(`manifests/${reference}`),
      headers: { 'content-type': mediaType },
      body: () => Buffer.from(bytes),
      replayable: true,
      scopes: t.push,
    },
    context,
  );
  if (res.status !== 201) throw await responseError(res, 'PUT manifest', context);
  await discard(res);
  const sent = header(res, 'docker-content-digest');
  if (sent && sent !== digest) {
    throw new DigestMismatchError(`registry stored manifest ${where(context)} as ${sent}, not ${digest}`, context);
  }
  const descriptor: Descriptor = { mediaType, digest, size: bytes.byteLength };
  const artifactType = parsed.artifactType ?? (mediaType === MediaType.ImageManifest ? parsed.config?.mediaType : undefined);
  if (parsed.artifactType) descriptor.artifactType = parsed.artifactType;
  if (parsed.subject && typeof parsed.subject.digest === 'string' && !header(res, 'oci-subject')) {
    const subject = parseDigest(parsed.subject.digest, 'subject digest');
    const entry: Descriptor = { mediaType, digest, size: bytes.byteLength };
    if (artifactType) entry.artifactType = artifactType;
    if (parsed.annotations) entry.annotations = parsed.annotations;
    await updateReferrersIndex(t.repository, subject, entry);
  }
  return descriptor;
}

export async function deleteManifest(t: RepositoryTarget, digest: Digest): Promise<void> {
  parseDigest(digest);
  const context = t.context(digest);
  const res = await t.client.request({ method: 'DELETE', url: t.url(`manifests/${digest}`), scopes: t.push.map((s) => `${s},delete`) }, context);
  if (res.status === 202 || res.status === 200 || res.status === 204) {
    await discard(res);
    return;
  }
  const error = await responseError(res, 'DELETE manifest', context);
  if (res.status === 400 && error.code === 'UNSUPPORTED') {
    throw new UnsupportedError(`DELETE manifest ${where(context)}: the registry does not allow deleting (UNSUPPORTED)`, error);
  }
  throw error;
}

export async function referrers(t: RepositoryTarget, subject: Digest, artifactType?: string): Promise<Descriptor[]> {
  parseDigest(subject);
  const context = t.context(subject);
  const url = t.url(`referrers/${subject}`);
  if (artifactType) url.searchParams.set('artifactType', artifactType);
  const res = t.store.referrersApiMissing
    ? undefined
    : await t.client.request({ method: 'GET', url, headers: { accept: MediaType.ImageIndex }, scopes: t.pull }, context);
  let manifests: Descriptor[];
  if (res && res.status === 200 && (header(res, 'content-type') ?? '').startsWith(MediaType.ImageIndex)) {
    const index = JSON.parse((await readCapped(res, MAX_MANIFEST_FETCH, 'referrers index', context)).toString('utf8')) as ImageIndex;
    manifests = Array.isArray(index.manifests) ? index.manifests : [];
  } else if (!res || res.status === 404 || res.status === 200) {
    // No referrers API (distribution 2.8, ghcr.io): the tag schema fallback.
    if (res?.status === 404) {
      // A registry with the API answers 200 for any subject; a 404 that is not an OCI error (NAME_UNKNOWN ...)
      // means the route is not there, so later lookups go straight to the fallback tag.
      if ((await readRegistryError(res)).code === undefined) t.store.referrersApiMissing = true;
    } else if (res) {
      await discard(res);
    }
    try {
      const { bytes } = await fetchManifest(t, referrersTag(subject));
      const index = JSON.parse(Buffer.from(bytes).toString('utf8')) as ImageIndex;
      manifests = Array.isArray(index.manifests) ? index.manifests : [];
    } catch (error) {
      if (error instanceof NotFoundError) return [];
      throw error;
    }
  } else {
    throw await responseError(res, 'listing referrers of', context);
  }
  // Registries may ignore the filter (no OCI-Filters-Applied): filter here too.
  return artifactType ? manifests.filter((m) => m.artifactType === artifactType) : manifests;
}

