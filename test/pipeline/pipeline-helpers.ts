// Shared by the upload/validate/promote/e2e tests: owners checkouts, reading manifests back, staging a
// package whose layer bytes are corrupt (upload would refuse it, so it is pushed by hand).
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { bytesSource, fileSource, MediaType, NotFoundError, sha256Digest, type Store } from '@oci-channel/oci';
import { Annotation, buildPackageManifest, CondaMediaType, describePackageManifest, encodeTag, packageRepository, readPackage, type PackageManifestView } from '@oci-channel/conda';
import { ownersFilePath } from '@oci-channel/pipeline';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { buildPackage, type PackageFormat, type PackageSpec } from '../helpers/conda-builder.ts';

/** A generated package (test/helpers/conda-builder.ts) with the format in the spec. */
export function makePackage(dir: string, spec: PackageSpec & { format: PackageFormat }): Promise<string> {
  const { format, ...rest } = spec;
  return buildPackage(dir, rest, format);
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

export async function writeOwners(root: string, owners: Record<string, string[]>): Promise<string> {
  for (const [name, feedstocks] of Object.entries(owners)) {
    const file = path.join(root, ownersFilePath(name));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, JSON.stringify({ feedstocks }));
  }
  return root;
}

export async function manifestAt(store: Store, repository: string, tag: string): Promise<{ digest: string; view: PackageManifestView } | undefined> {
  try {
    const fetched = await store.repository(repository).fetchManifest(tag);
    return { digest: fetched.descriptor.digest, view: describePackageManifest(JSON.parse(Buffer.from(fetched.bytes).toString())) };
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
}

/** Stages `good`'s manifest with `corrupt`'s bytes as its package layer (annotations made consistent). */
export async function stageCorrupt(store: Store, good: string, corrupt: string): Promise<{ repository: string; tag: string; sha256: string }> {
  return stageTampered(store, good, { packageFile: corrupt });
}

/** Stages `good`'s manifest with its package layer and/or its index.json layer replaced. */
export async function stageTampered(
  store: Store,
  good: string,
  replace: { packageFile?: string; indexJson?: Uint8Array },
): Promise<{ repository: string; tag: string; sha256: string }> {
  const pkg = await readPackage(good);
  const built = buildPackageManifest(pkg);
  const manifest = structuredClone(built.manifest);
  const repository = packageRepository(pkg.subdir, pkg.name);
  const tag = encodeTag(pkg.version, pkg.build);
  const repo = store.repository(repository);
  let sha256 = pkg.sha256;
  for (const blob of built.blobs) await repo.pushBlob(blob.source, { digest: blob.descriptor.digest, size: blob.descriptor.size });
  if (replace.packageFile) {
    sha256 = await sha256File(replace.packageFile);
    const size = (await stat(replace.packageFile)).size;
    const layer = manifest.layers.find((l) => l.annotations?.[Annotation.Title] === pkg.filename)!;
    layer.digest = `sha256:${sha256}`;
    layer.size = size;
    manifest.annotations![Annotation.perFormat(pkg.format, 'sha256')] = sha256;
    manifest.annotations![Annotation.perFormat(pkg.format, 'size')] = String(size);
    await repo.pushBlob(fileSource(replace.packageFile, size), { digest: `sha256:${sha256}`, size });
  }
  if (replace.indexJson) {
    const layer = manifest.layers.find((l) => l.mediaType === CondaMediaType.IndexJson)!;
    layer.digest = sha256Digest(replace.indexJson);
    layer.size = replace.indexJson.byteLength;
    // A consistent lie: the inline copy says the same as the blob.
    if (layer.data !== undefined) layer.data = Buffer.from(replace.indexJson).toString('base64');
    await repo.pushBlob(bytesSource(replace.indexJson), { digest: layer.digest, size: layer.size });
  }
  await repo.pushManifest(new TextEncoder().encode(JSON.stringify(manifest)), MediaType.ImageManifest, tag);
  return { repository, tag, sha256 };
}

/** `inner` with every manifest PUT to `tag` held back `ms` before it is sent (a slow writer, on purpose). */
export function latePuts(inner: Store, tag: string, ms: number): Store {
  return lateCalls(inner, 'pushManifest', tag, ms);
}

/** `inner` with every `method` call about `tag` (a manifest PUT or GET by that tag) answered `ms` late. */
export function lateCalls(inner: Store, method: 'pushManifest' | 'fetchManifest', tag: string, ms: number): Store {
  return new Proxy(inner, {
    get(target, property) {
      if (property !== 'repository') {
        const value = Reflect.get(target, property) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      }
      return (name: string) => {
        const repository = target.repository(name);
        return new Proxy(repository, {
          get(r, key) {
            const value = Reflect.get(r, key) as unknown;
            if (typeof value !== 'function') return value;
            if (key !== method) return (value as (...a: unknown[]) => unknown).bind(r);
            return async (...args: unknown[]) => {
              const reference = method === 'pushManifest' ? args[2] : args[0];
              if (reference === tag) await new Promise((resolve) => setTimeout(resolve, ms));
              return (value as (...a: unknown[]) => unknown).apply(r, args);
            };
          },
        });
      };
    },
  });
}
