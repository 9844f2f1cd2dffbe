// A small conda package builder (.conda and .tar.bz2) for the demo, tests and benchmarks. It streams: a
// large payload never sits in memory. .tar.bz2 compression uses the `bzip2` program (no maintained npm
// package compresses bzip2); .conda uses Node's zstd and yazl.
import { spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createZstdCompress } from 'node:zlib';
import tarStream from 'tar-stream';
import yazl from 'yazl';
import { packageFilename, type PackageFormat } from './names.ts';

export interface PackageSpec {
  name: string;
  version: string;
  /** Defaults to `h<8 hex of name-version>_<buildNumber>`. */
  build?: string;
  buildNumber?: number;
  /** Defaults to `noarch` when `noarch` is set, else `linux-64`. */
  subdir?: string;
  noarch?: 'python' | 'generic';
  depends?: string[];
  constrains?: string[];
  runExports?: Record<string, unknown>;
  license?: string;
  /** ms since the epoch; default 1700000000000 so builds are reproducible. */
  timestamp?: number;
  /** Size of an incompressible payload file (`share/<name>/payload.bin`), deterministic bytes. */
  payloadBytes?: number;
  /** Payload files by path. */
  files?: Record<string, string | Uint8Array>;
  /** Merged over the generated index.json; `undefined` values delete a field (to make lying packages). */
  index?: Record<string, unknown>;
  /** More info/ files by path relative to info/ (e.g. `about.json`, `recipe/meta.yaml`). */
  extraInfo?: Record<string, string | Uint8Array>;
}

export interface BuildOptions {
  /** File name to write instead of NAME-VERSION-BUILD.<format>. */
  filename?: string;
}

/** One member of a tar archive, as raw as a test needs it. */
export interface TarMember {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'fifo';
  data?: string | Uint8Array;
  linkname?: string;
  mode?: number;
  /** A deterministic incompressible stream of this many bytes instead of `data`. */
  randomBytes?: number;
  /** This many zero bytes instead of `data` (compresses to almost nothing: bombs). */
  zeroBytes?: number;
}

const EPOCH = new Date(0);

export function defaultBuild(spec: Pick<PackageSpec, 'name' | 'version' | 'buildNumber'>): string {
  const hash = createHash('sha256').update(`${spec.name}-${spec.version}`).digest('hex').slice(0, 8);
  return `h${hash}_${spec.buildNumber ?? 0}`;
}

/** Builds a package into `dir` and returns its path. */
export async function buildPackage(dir: string, spec: PackageSpec, format: PackageFormat, options: BuildOptions = {}): Promise<string> {
  const build = spec.build ?? defaultBuild(spec);
  const filename = options.filename ?? packageFilename(spec.name, spec.version, build, format);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, filename);
  const { info, payload } = packageMembers({ ...spec, build });
  if (format === 'tar.bz2') await writeTarBz2(file, [...info, ...payload]);
  else await writeConda(file, { info, payload, stem: filename.slice(0, -'.conda'.length) });
  return file;
}

function packageMembers(spec: PackageSpec & { build: string }): { info: TarMember[]; payload: TarMember[] } {
  const subdir = spec.subdir ?? (spec.noarch ? 'noarch' : 'linux-64');
  const index: Record<string, unknown> = {
    build: spec.build,
    build_number: spec.buildNumber ?? 0,
    depends: spec.depends ?? [],
    name: spec.name,
    subdir,
    timestamp: spec.timestamp ?? 1_700_000_000_000,
    version: spec.version,
  };
  if (spec.constrains) index.constrains = spec.constrains;
  if (spec.license) index.license = spec.license;
  if (spec.noarch) index.noarch = spec.noarch;
  for (const [key, value] of Object.entries(spec.index ?? {})) {
    if (value === undefined) delete index[key];
    else index[key] = value;
  }
  const payload: TarMember[] = Object.entries(spec.files ?? {}).map(([name, data]) => ({ name, data }));
  if (spec.payloadBytes) payload.push({ name: `share/${spec.name}/payload.bin`, randomBytes: spec.payloadBytes });
  const paths = payload.map((m) => ({ _path: m.name, path_type: 'hardlink', size_in_bytes: memberSize(m) }));
  const info: TarMember[] = [
    { name: 'info/index.json', data: `${JSON.stringify(sortedObject(index), null, 2)}\n` },
    { name: 'info/about.json', data: JSON.stringify({ summary: `${spec.name} test package`, license: spec.license ?? 'BSD-3-Clause', home: 'https://example.invalid/' }, null, 2) },
    { name: 'info/paths.json', data: JSON.stringify({ paths, paths_version: 1 }, null, 2) },
    { name: 'info/files', data: payload.map((m) => `${m.name}\n`).join('') },
  ];
  if (spec.runExports) info.push({ name: 'info/run_exports.json', data: JSON.stringify(spec.runExports) });
  for (const [name, data] of Object.entries(spec.extraInfo ?? {})) {
    const full = `info/${name}`;
    const at = info.findIndex((m) => m.name === full);
    if (at >= 0) info[at] = { name: full, data };
    else info.push({ name: full, data });
  }
  return { info, payload };
}

function sortedObject(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function memberSize(member: TarMember): number {
  if (member.randomBytes !== undefined) return member.randomBytes;
  if (member.zeroBytes !== undefined) return member.zeroBytes;
  if (member.data === undefined) return 0;
  return typeof member.data === 'string' ? Buffer.byteLength(member.data) : member.data.byteLength;
}

/** Deterministic incompressible bytes (AES-CTR of zeros keyed by `seed`), streamed. */
export function randomStream(bytes: number, seed: string): Readable {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return blockStream(bytes, (zeros) => cipher.update(zeros));
}

function zeroStream(bytes: number): Readable {
  return blockStream(bytes, (zeros) => zeros);
}

/** `bytes` bytes made on demand from 1 MiB pieces of zeros, so no size ever sits in memory. */
function blockStream(bytes: number, piece: (zeros: Buffer) => Buffer): Readable {
  const block = Buffer.alloc(1 << 20);
  let left = bytes;
  return new Readable({
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const n = Math.min(left, block.length);
      left -= n;
      this.push(piece(block.subarray(0, n)));
    },
  });
}

/** A tar stream of `members`, in order, exactly as given (no checks: tests build hostile archives with it). */
export function tarStreamOf(members: TarMember[]): Readable {
  const pack = tarStream.pack();
  (async () => {
    for (const member of members) {
      const type = member.type ?? 'file';
      const header = {
        name: member.name,
        type,
        mode: member.mode ?? (type === 'directory' ? 0o755 : type === 'symlink' ? 0o777 : 0o644),
        mtime: EPOCH,
        uid: 0,
        gid: 0,
        uname: '',
        gname: '',
        ...(member.linkname !== undefined ? { linkname: member.linkname } : {}),
      };
      if (type !== 'file') {
        await new Promise<void>((resolve, reject) => pack.entry({ ...header, size: 0 }, (error) => (error ? reject(error) : resolve())));
        continue;
      }
      if (member.randomBytes === undefined && member.zeroBytes === undefined) {
        const data = typeof member.data === 'string' ? Buffer.from(member.data) : Buffer.from(member.data ?? new Uint8Array(0));
        await new Promise<void>((resolve, reject) => pack.entry({ ...header, size: data.length }, data, (error) => (error ? reject(error) : resolve())));
        continue;
      }
      const size = memberSize(member);
      const source = member.randomBytes !== undefined ? randomStream(size, member.name) : zeroStream(size);
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry({ ...header, size }, (error) => (error ? reject(error) : resolve()));
        source.on('error', reject);
        // tar-stream's entry sink is a streamx writable: feed it with backpressure by hand.
        source.on('data', (chunk: Buffer) => {
          if (!sink.write(chunk)) {
            source.pause();
            sink.once('drain', () => source.resume());
          }
        });
        source.on('end', () => (sink as unknown as { end(): void }).end());
      });
    }
    pack.finalize();
  })().catch((error: unknown) => pack.destroy(error instanceof Error ? error : new Error(String(error))));
  return pack as unknown as Readable;
}

/** Compresses with the `bzip2` program into `file`. */
export async function bzip2To(source: Readable, file: string, level = 9): Promise<void> {
  const child = spawn('bzip2', ['-c', `-${level}`], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<void>((resolve, reject) => {
    child.on('error', (error) => reject(new Error(`cannot run bzip2 (install it, e.g. apt-get install bzip2): ${error.message}`)));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`bzip2 failed: ${stderr.trim() || `exit ${code}`}`))));
  });
  await Promise.all([pipeline(source, child.stdin), pipeline(child.stdout, createWriteStream(file)), exited]);
}

export async function writeTarBz2(file: string, members: TarMember[]): Promise<void> {
  await bzip2To(tarStreamOf(members), file);
}

export async function zstdTo(source: Readable, file: string): Promise<void> {
  await pipeline(source, createZstdCompress(), createWriteStream(file));
}

/** One zip member of a raw .conda: a file on disk or bytes, stored (as conda does) unless `compress`. */
export interface ZipMember {
  name: string;
  file?: string;
  data?: string | Uint8Array;
  compress?: boolean;
}

/** Writes a zip of exactly these members (tests use it for hostile .conda files too). */
export async function writeZip(file: string, members: ZipMember[], options: { zip64?: boolean } = {}): Promise<void> {
  const zip = new yazl.ZipFile();
  const mtime = new Date(Date.UTC(2020, 0, 1));
  for (const member of members) {
    const entryOptions = { compress: member.compress ?? false, mtime, mode: 0o100644, forceZip64Format: options.zip64 ?? false };
    if (member.file) zip.addFile(member.file, member.name, entryOptions);
    else zip.addBuffer(Buffer.from(typeof member.data === 'string' ? Buffer.from(member.data) : (member.data ?? new Uint8Array(0))), member.name, entryOptions);
  }
  zip.end({ forceZip64Format: options.zip64 ?? false } as never);
  await pipeline(zip.outputStream, createWriteStream(file) as Writable);
}

/** A .conda from info and payload members: metadata.json, info-<stem>.tar.zst, pkg-<stem>.tar.zst. */
export async function writeConda(file: string, parts: { info: TarMember[]; payload: TarMember[]; stem: string; zip64?: boolean; metadata?: string }): Promise<void> {
  const infoFile = `${file}.info.tmp`;
  const pkgFile = `${file}.pkg.tmp`;
  try {
    await zstdTo(tarStreamOf(parts.info), infoFile);
    await zstdTo(tarStreamOf(parts.payload), pkgFile);
    await writeZip(
      file,
      [
        { name: 'metadata.json', data: parts.metadata ?? JSON.stringify({ conda_pkg_format_version: 2 }) },
        { name: `pkg-${parts.stem}.tar.zst`, file: pkgFile },
        { name: `info-${parts.stem}.tar.zst`, file: infoFile },
      ],
      { zip64: parts.zip64 ?? false },
    );
  } finally {
    await rm(infoFile, { force: true });
    await rm(pkgFile, { force: true });
  }
}

