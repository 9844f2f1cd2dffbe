// Production content for index tests without upload/promote: tiny .tar.bz2 packages made with tar, pushed
// in the v0 shape with @oci-channel/conda's manifest builder, and logged like promote logs them.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MediaType, NotFoundError, type ImageManifest, type Store } from '@oci-channel/oci';
import { buildPackageManifest, encodeTag, packageRepository, readPackage } from '@oci-channel/conda';
import { appendPromotion } from '../../packages/pipeline/src/records/promotion-log.ts';

export interface TestPackageSpec {
  name: string;
  version: string;
  build?: string;
  subdir?: string;
  depends?: string[];
  runExports?: Record<string, string[]>;
  about?: Record<string, unknown>;
  timestamp?: number;
  /** Extra bytes so two builds differ. */
  payload?: string;
}

/** Builds NAME-VERSION-BUILD.tar.bz2 in `dir` and returns its path. */
export async function makeTarBz2(dir: string, spec: TestPackageSpec): Promise<string> {
  return makePackage(dir, spec, 'tar.bz2');
}

/** Builds NAME-VERSION-BUILD.conda (zip of metadata.json, info and pkg tar.zst) in `dir`. */
export async function makeConda(dir: string, spec: TestPackageSpec): Promise<string> {
  return makePackage(dir, spec, 'conda');
}

async function makePackage(dir: string, spec: TestPackageSpec, format: 'conda' | 'tar.bz2'): Promise<string> {
  const build = spec.build ?? '0';
  const subdir = spec.subdir ?? 'noarch';
  const root = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-pkg-'));
  try {
    await mkdir(path.join(root, 'info'), { recursive: true });
    await mkdir(path.join(root, 'share'), { recursive: true });
    const index: Record<string, unknown> = {
      name: spec.name,
      version: spec.version,
      build,
      build_number: Number(/(\d+)$/.exec(build)?.[1] ?? 0),
      depends: spec.depends ?? [],
      subdir,
      timestamp: spec.timestamp ?? 1700000000000,
      license: 'MIT',
      ...(subdir === 'noarch' ? { noarch: 'generic' } : { arch: 'x86_64', platform: subdir.split('-')[0] }),
    };
    await writeFile(path.join(root, 'info', 'index.json'), JSON.stringify(index, null, 2));
    await writeFile(path.join(root, 'info', 'about.json'), JSON.stringify(spec.about ?? { summary: `${spec.name} for tests`, license: 'MIT' }));
    if (spec.runExports) await writeFile(path.join(root, 'info', 'run_exports.json'), JSON.stringify(spec.runExports));
    const file = `share/${spec.name}.txt`;
    await writeFile(path.join(root, file), spec.payload ?? `${spec.name} ${spec.version} ${build}\n`);
    await writeFile(path.join(root, 'info', 'files'), `${file}\n`);
    await writeFile(
      path.join(root, 'info', 'paths.json'),
      JSON.stringify({ paths: [{ _path: file, path_type: 'hardlink', sha256: '0'.repeat(64), size_in_bytes: 1 }], paths_version: 1 }),
    );
    await mkdir(dir, { recursive: true });
    const stem = `${spec.name}-${spec.version}-${build}`;
    const out = path.join(dir, `${stem}.${format}`);
    const tarFlags = ['--owner=0', '--group=0', '--mtime=@0', '--sort=name'];
    if (format === 'tar.bz2') {
      execFileSync('tar', ['-cjf', out, ...tarFlags, '-C', root, 'info', 'share']);
      return out;
    }
    const parts = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-conda-'));
    try {
      await writeFile(path.join(parts, 'metadata.json'), JSON.stringify({ conda_pkg_format_version: 2 }));
      execFileSync('tar', ['--zstd', '-cf', path.join(parts, `info-${stem}.tar.zst`), ...tarFlags, '-C', root, 'info']);
      execFileSync('tar', ['--zstd', '-cf', path.join(parts, `pkg-${stem}.tar.zst`), ...tarFlags, '-C', root, 'share']);
      await rm(out, { force: true });
      execFileSync('zip', ['-q', '-0', '-X', out, 'metadata.json', `info-${stem}.tar.zst`, `pkg-${stem}.tar.zst`], { cwd: parts });
      return out;
    } finally {
      await rm(parts, { recursive: true, force: true });
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

export interface Published {
  subdir: string;
  filename: string;
  repository: string;
  tag: string;
  manifestDigest: string;
  sha256: string;
}

/** Pushes a package into production the way promote leaves it, and (unless `log: false`) logs it. */
export async function publishPackage(
  store: Store,
  file: string,
  /** `inlineManifest: false` writes the log entry as before the manifest rode in it (as mirror and older promotions did). */
  options: { log?: boolean; at?: Date; created?: Date; label?: string; inlineManifest?: boolean } = {},
): Promise<Published> {
  const pkg = await readPackage(file);
  const repository = packageRepository(pkg.subdir, pkg.name);
  const tag = encodeTag(pkg.version, pkg.build);
  const repo = store.repository(repository);
  let existing: ImageManifest | undefined;
  try {
    existing = JSON.parse(Buffer.from((await repo.fetchManifest(tag)).bytes).toString('utf8')) as ImageManifest;
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
  }
  const built = buildPackageManifest(pkg, { ...(existing ? { existing } : {}), ...(options.created ? { created: options.created } : {}) });
  for (const blob of built.blobs) await repo.pushBlob(blob.source, { digest: blob.descriptor.digest, size: blob.descriptor.size });
  const descriptor = await repo.pushManifest(built.bytes, MediaType.ImageManifest, tag);
  if (options.log !== false) {
    await appendPromotion(
      store,
      {
        subdir: pkg.subdir,
        filename: pkg.filename,
        repository,
        tag,
        manifestDigest: descriptor.digest,
        ...(options.inlineManifest !== false ? { manifest: built.bytes } : {}),
        ...(options.label ? { label: options.label } : {}),
      },
      options.at ?? new Date(),
    );
  }
  return { subdir: pkg.subdir, filename: pkg.filename, repository, tag, manifestDigest: descriptor.digest, sha256: pkg.sha256 };
}
