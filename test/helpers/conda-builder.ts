// Test packages: the normal builder (product code, also used by the demo) plus hostile constructors that
// make archives a real tool never would: lying metadata, traversal, link escapes, duplicates, bombs, truncation.
import { copyFile, mkdir, open, rm, truncate } from 'node:fs/promises';
import path from 'node:path';
import {
  buildPackage,
  tarStreamOf,
  writeConda,
  writeTarBz2,
  writeZip,
  zstdTo,
  type PackageFormat,
  type TarMember,
  type ZipMember,
} from '@oci-channel/conda';

export { buildPackage, tarStreamOf, writeConda, writeTarBz2, writeZip, zstdTo, type TarMember, type ZipMember };
export type { PackageSpec, PackageFormat } from '@oci-channel/conda';

/** The smallest valid info/ of a package (index.json only, plus `extra`). */
export function minimalInfo(filename: string, subdir = 'noarch', extra: TarMember[] = []): TarMember[] {
  const stem = filename.replace(/\.(conda|tar\.bz2)$/, '');
  const [build, version, ...rest] = stem.split('-').reverse();
  const index = { build, build_number: 0, depends: [], name: rest.reverse().join('-'), subdir, version };
  return [{ name: 'info/index.json', data: JSON.stringify(index) }, ...extra];
}

/** A .tar.bz2 holding exactly `members`. */
export async function rawTarBz2(dir: string, filename: string, members: TarMember[]): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, filename);
  await writeTarBz2(file, members);
  return file;
}

/** A .conda whose info and pkg archives hold exactly the given members; `info: null` leaves the info archive out. */
export async function rawConda(
  dir: string,
  filename: string,
  parts: { info: TarMember[] | null; pkg?: TarMember[] | null; extra?: ZipMember[]; zip64?: boolean; metadata?: string; compress?: boolean },
): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, filename);
  const stem = filename.replace(/\.conda$/, '');
  const members: ZipMember[] = [{ name: 'metadata.json', data: parts.metadata ?? '{"conda_pkg_format_version": 2}' }];
  if (parts.info) {
    await zstdTo(tarStreamOf(parts.info), `${file}.info`);
    members.push({ name: `info-${stem}.tar.zst`, file: `${file}.info`, compress: parts.compress ?? false });
  }
  if (parts.pkg) {
    await zstdTo(tarStreamOf(parts.pkg), `${file}.pkg`);
    members.push({ name: `pkg-${stem}.tar.zst`, file: `${file}.pkg`, compress: parts.compress ?? false });
  }
  members.push(...(parts.extra ?? []));
  await writeZip(file, members, { zip64: parts.zip64 ?? false });
  await rm(`${file}.info`, { force: true });
  await rm(`${file}.pkg`, { force: true });
  return file;
}

/** A copy of `file` cut to `keep` bytes, under the same name in `dir`. */
export async function truncatedCopy(file: string, dir: string, keep: number): Promise<string> {
  await mkdir(dir, { recursive: true });
  const out = path.join(dir, path.basename(file));
  await copyFile(file, out);
  await truncate(out, keep);
  return out;
}

/** Flips one byte in the middle of a copy of `file`. */
export async function corruptedCopy(file: string, dir: string, at?: number): Promise<string> {
  await mkdir(dir, { recursive: true });
  const out = path.join(dir, path.basename(file));
  await copyFile(file, out);
  const handle = await open(out, 'r+');
  try {
    const { size } = await handle.stat();
    const offset = at ?? Math.floor(size / 2);
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, offset);
    byte[0] = byte[0]! ^ 0xff;
    await handle.write(byte, 0, 1, offset);
  } finally {
    await handle.close();
  }
  return out;
}

/** A package whose payload is `bytes` zeros: a few KB on disk, `bytes` unpacked. */
export async function bombPackage(dir: string, filename: string, bytes: number, options: { compress?: boolean } = {}): Promise<string> {
  const format: PackageFormat = filename.endsWith('.conda') ? 'conda' : 'tar.bz2';
  const info = minimalInfo(filename);
  const payload: TarMember[] = [{ name: 'share/zeros.bin', zeroBytes: bytes }];
  if (format === 'tar.bz2') return rawTarBz2(dir, filename, [...info, ...payload]);
  return rawConda(dir, filename, { info, pkg: payload, ...(options.compress ? { compress: true } : {}) });
}

export { buildPackage as buildTestPackage };
