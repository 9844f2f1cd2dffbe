// Where a package lives in a channel (v0: repository `<subdir>/<name>`, tag from version and build) and the
// package manifest at that tag, read and described. Every step that looks at a staged or promoted package
// starts here.
import { NotFoundError, type Descriptor, type Store } from '@oci-channel/oci';
import { describePackageManifest, encodeTag, isValidSubdir, packageRepository, parsePackageFilename, type PackageManifestView } from '@oci-channel/conda';
import { formatArtifactRef } from './artifact-ref.ts';
import { parseJsonObject } from './json.ts';
import type { ArtifactRef } from '../types.ts';
import { PipelineError } from '../errors.ts';

export interface StagedLocation {
  name: string;
  version: string;
  build: string;
  repository: string;
  tag: string;
}

/** Where `subdir/filename` lives in a channel (throws with a one-line reason for bad names). */
export function locateArtifact(ref: ArtifactRef): StagedLocation {
  if (!isValidSubdir(ref.subdir)) throw new PipelineError(`${formatArtifactRef(ref)}: ${JSON.stringify(ref.subdir)} is not a conda subdir (noarch or like linux-64)`);
  const parsed = parsePackageFilename(ref.filename);
  return {
    name: parsed.name,
    version: parsed.version,
    build: parsed.build,
    repository: packageRepository(ref.subdir, parsed.name),
    tag: encodeTag(parsed.version, parsed.build),
  };
}

/** The manifest at a tag, described, or undefined when the tag does not exist. */
export async function fetchPackageManifest(
  store: Store,
  repository: string,
  tag: string,
): Promise<{ descriptor: Descriptor; bytes: Uint8Array; manifest: Record<string, unknown>; view: PackageManifestView } | undefined> {
  const repo = store.repository(repository);
  let fetched;
  try {
    fetched = await repo.fetchManifest(tag);
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
  const manifest = parseJsonObject(fetched.bytes, `manifest ${repo.display}:${tag}`);
  return { descriptor: fetched.descriptor, bytes: fetched.bytes, manifest, view: describePackageManifest(manifest, `${repo.display}:${tag}`) };
}

/** A package manifest as read from a store: what fetchPackageManifest returns when the tag exists. */
export type PackageManifest = NonNullable<Awaited<ReturnType<typeof fetchPackageManifest>>>;
