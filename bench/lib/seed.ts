// Seeds a production channel fast for the reindex scenario: small generated v0 manifests pushed straight
// through the store (conda's buildPackageManifest makes them; the package layer is a tiny stand-in blob,
// since reindex reads manifests and index.json, never package bytes), plus a promotion-log entry each.
import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import { bytesSource, MediaType, type Store } from '@oci-channel/oci';
import { buildInfoTarGz, buildPackageManifest, encodeTag, packageRepository, type PackageInfo } from '@oci-channel/conda';
import { appendPromotion, PROMOTION_LOG_REPOSITORY } from '@oci-channel/pipeline';

const SUBDIRS = ['linux-64', 'noarch', 'osx-arm64', 'win-64'];

async function seedInfo(i: number, prefix: string): Promise<{ pkg: PackageInfo; bytes: Uint8Array }> {
  const subdir = SUBDIRS[i % SUBDIRS.length]!;
  const name = `${prefix}-${(i % 1000).toString(36)}`;
  const version = `${1 + Math.floor(i / 1000)}.${i % 13}.0`;
  const build = `h${createHash('sha1').update(`${prefix}${i}`).digest('hex').slice(0, 7)}_0`;
  const format = i % 7 === 6 ? 'tar.bz2' : 'conda';
  const filename = `${name}-${version}-${build}.${format}`;
  const noarch = subdir === 'noarch';
  const indexJson: Record<string, unknown> = {
    arch: noarch ? null : subdir.endsWith('arm64') ? 'arm64' : 'x86_64',
    build,
    build_number: 0,
    depends: [`${prefix}-${((i + 1) % 1000).toString(36)} >=1`, 'libzlib >=1.3'],
    license: 'BSD-3-Clause',
    name,
    platform: noarch ? null : subdir.split('-')[0],
    subdir,
    timestamp: 1_700_000_000_000 + i,
    version,
    ...(noarch ? { noarch: 'generic' } : {}),
  };
  const indexJsonBytes = new TextEncoder().encode(JSON.stringify(indexJson, null, 2));
  const about = { summary: `${name}: seeded for the reindex benchmark`, license: 'BSD-3-Clause' };
  const infoTarGz = await buildInfoTarGz(
    new Map([
      ['index.json', { kind: 'file' as const, data: Buffer.from(indexJsonBytes) }],
      ['about.json', { kind: 'file' as const, data: Buffer.from(JSON.stringify(about)) }],
    ]),
  );
  // The stand-in package bytes: distinct per package, a few hundred bytes.
  const bytes = new TextEncoder().encode(`${filename}\n`.repeat(8));
  const pkg: PackageInfo = {
    path: filename,
    filename,
    format,
    name,
    version,
    build,
    subdir,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    md5: createHash('md5').update(bytes).digest('hex'),
    size: bytes.byteLength,
    indexJson,
    indexJsonBytes,
    infoTarGz,
    aboutJson: about,
    channelFields: about,
    infoFiles: ['about.json', 'index.json'],
  };
  return { pkg, bytes };
}

/** Pushes packages `from` .. `from + count - 1` (named by `prefix`) into `store` and logs each promotion. */
export async function seedChannel(store: Store, options: { from: number; count: number; prefix?: string; concurrency?: number }): Promise<void> {
  const prefix = options.prefix ?? 'seed';
  // The log's `{}` blob once, before the parallel appends (concurrent first pushes race on distribution).
  await store.repository(PROMOTION_LOG_REPOSITORY).pushBlob(bytesSource(new TextEncoder().encode('{}')));
  const limit = pLimit(options.concurrency ?? 16);
  await Promise.all(
    Array.from({ length: options.count }, (_, k) =>
      limit(async () => {
        const { pkg, bytes } = await seedInfo(options.from + k, prefix);
        const built = buildPackageManifest(pkg, { created: new Date(1_700_000_000_000) });
        const relative = packageRepository(pkg.subdir, pkg.name);
        const repository = store.repository(relative);
        for (const blob of built.blobs) {
          const source = blob.descriptor.digest === `sha256:${pkg.sha256}` ? bytesSource(bytes) : blob.source;
          await repository.pushBlob(source, { digest: blob.descriptor.digest, size: blob.descriptor.size });
        }
        const tag = encodeTag(pkg.version, pkg.build);
        const pushed = await repository.pushManifest(built.bytes, MediaType.ImageManifest, tag);
        await appendPromotion(store, { subdir: pkg.subdir, filename: pkg.filename, repository: relative, tag, manifestDigest: pushed.digest, manifest: built.bytes });
      }),
    ),
  );
}
