// Generated conda packages for the benchmarks, streamed to disk (a 1 GiB package is never in memory).
// Payloads are random bytes, so packages are as large on disk as asked for and do not compress.
// (@oci-channel/conda had no package builder yet when this was written; this one makes valid .conda and
// .tar.bz2 files with the usual info/ members.)
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import yazl from 'yazl';
import { prng } from './records.ts';

export type Format = 'conda' | 'tar.bz2';

export interface GeneratedPackage {
  file: string;
  subdir: string;
  filename: string;
  name: string;
  version: string;
  build: string;
  format: Format;
}

interface PackageSpec {
  name: string;
  version: string;
  build: string;
  buildNumber: number;
  subdir: string;
  format: Format;
  /** Random payload bytes. */
  payloadBytes: number;
  depends?: string[];
}

/** `size` random bytes in 1 MiB chunks. */
function randomStream(size: number): Readable {
  return Readable.from(
    (function* () {
      let left = size;
      while (left > 0) {
        const chunk = Buffer.allocUnsafe(Math.min(left, 1 << 20));
        randomFillSync(chunk);
        left -= chunk.length;
        yield chunk;
      }
    })(),
  );
}

function indexJson(spec: PackageSpec): Buffer {
  const noarch = spec.subdir === 'noarch';
  const [platform, arch] = noarch ? [null, null] : (spec.subdir.split('-') as [string, string]);
  return Buffer.from(
    JSON.stringify(
      {
        arch: arch === '64' ? 'x86_64' : arch,
        build: spec.build,
        build_number: spec.buildNumber,
        depends: spec.depends ?? [],
        license: 'BSD-3-Clause',
        name: spec.name,
        platform,
        subdir: spec.subdir,
        timestamp: 1_700_000_000_000,
        version: spec.version,
        ...(noarch ? { noarch: 'generic' } : {}),
      },
      null,
      2,
    ),
  );
}

type Member = { name: string; bytes: Buffer } | { name: string; size: number; stream: () => Readable };

function infoMembers(spec: PackageSpec): Member[] {
  const payload = `share/${spec.name}/payload.bin`;
  const paths = { paths: [{ _path: payload, path_type: 'hardlink', sha256: '0'.repeat(64), size_in_bytes: spec.payloadBytes }], paths_version: 1 };
  return [
    { name: 'info/index.json', bytes: indexJson(spec) },
    { name: 'info/paths.json', bytes: Buffer.from(JSON.stringify(paths)) },
    { name: 'info/about.json', bytes: Buffer.from(JSON.stringify({ summary: `${spec.name}: generated for oci-channel benchmarks`, license: 'BSD-3-Clause' })) },
  ];
}

function payloadMembers(spec: PackageSpec): Member[] {
  return [{ name: `share/${spec.name}/payload.bin`, size: spec.payloadBytes, stream: () => randomStream(spec.payloadBytes) }];
}

async function writeTar(members: Member[], compress: 'zstd' | 'bzip2', out: string): Promise<void> {
  const pack = tar.pack();
  const sink = createWriteStream(out);
  const done =
    compress === 'zstd'
      ? pipeline(pack, zlib.createZstdCompress({ params: { [zlib.constants.ZSTD_c_compressionLevel]: 1 } }), sink)
      : bzip2(pack as unknown as Readable, sink);
  for (const member of members) {
    if ('bytes' in member) {
      pack.entry({ name: member.name, size: member.bytes.length, mode: 0o644, mtime: new Date(1_700_000_000_000) }, member.bytes);
      continue;
    }
    await new Promise<void>((resolve, reject) => {
      const entry = pack.entry({ name: member.name, size: member.size, mode: 0o644, mtime: new Date(1_700_000_000_000) }, (error) =>
        error ? reject(error) : resolve(),
      );
      pipeline(member.stream(), entry as unknown as Writable).catch(reject);
    });
  }
  pack.finalize();
  await done;
}

/** Node has no bzip2 compressor: the system `bzip2`, fastest level (random payloads do not compress anyway). */
async function bzip2(source: Readable, sink: Writable): Promise<void> {
  const child = spawn('bzip2', ['-c', '-1'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`bzip2 exited ${code}`))));
  });
  await Promise.all([pipeline(source, child.stdin), pipeline(child.stdout, sink), exited]);
}

async function buildPackage(dir: string, spec: PackageSpec): Promise<GeneratedPackage> {
  const subdirDir = path.join(dir, spec.subdir);
  await mkdir(subdirDir, { recursive: true });
  const stem = `${spec.name}-${spec.version}-${spec.build}`;
  const filename = `${stem}.${spec.format}`;
  const file = path.join(subdirDir, filename);
  if (spec.format === 'tar.bz2') {
    await writeTar([...infoMembers(spec), ...payloadMembers(spec)], 'bzip2', file);
  } else {
    const info = `${file}.info.tar.zst`;
    const pkg = `${file}.pkg.tar.zst`;
    await writeTar(infoMembers(spec), 'zstd', info);
    await writeTar(payloadMembers(spec), 'zstd', pkg);
    const zip = new yazl.ZipFile();
    const options = { compress: false, mtime: new Date(1_700_000_000_000) };
    zip.addBuffer(Buffer.from(JSON.stringify({ conda_pkg_format_version: 2 })), 'metadata.json', options);
    zip.addFile(pkg, `pkg-${stem}.tar.zst`, options);
    zip.addFile(info, `info-${stem}.tar.zst`, options);
    zip.end();
    await pipeline(zip.outputStream, createWriteStream(file));
    await rm(info);
    await rm(pkg);
  }
  return { file, subdir: spec.subdir, filename, name: spec.name, version: spec.version, build: spec.build, format: spec.format };
}

/** One big .conda whose payload is `bytes` of random data. */
export async function buildLargePackage(dir: string, bytes: number, name = 'bench-large'): Promise<GeneratedPackage> {
  return buildPackage(dir, { name, version: '1.0.0', build: 'h0000000_0', buildNumber: 0, subdir: 'linux-64', format: 'conda', payloadBytes: bytes });
}

/**
 * `count` distinct packages like a busy channel gets them: several subdirs, a few builds per name, mostly
 * .conda with some .tar.bz2, payloads log-uniform between 20 KB and 2 MB. Deterministic for a seed.
 */
export async function buildSmallPackages(dir: string, count: number, options: { prefix?: string; seed?: number; minBytes?: number; maxBytes?: number } = {}): Promise<GeneratedPackage[]> {
  const rand = prng(options.seed ?? 7);
  const prefix = options.prefix ?? 'bench';
  const min = options.minBytes ?? 20_000;
  const max = options.maxBytes ?? 2_000_000;
  const subdirs = ['linux-64', 'noarch', 'osx-arm64', 'linux-aarch64', 'win-64'];
  const names = Math.max(1, Math.ceil(count / 3));
  const specs: PackageSpec[] = [];
  for (let i = 0; i < count; i++) {
    const subdir = subdirs[i % subdirs.length]!;
    const payloadBytes = Math.round(min * (max / min) ** rand());
    specs.push({
      name: `${prefix}-${(i % names).toString(36)}`,
      version: `1.${Math.floor(i / names)}.${i % 7}`,
      build: `h${((i * 2654435761) >>> 0).toString(16).padStart(8, '0').slice(0, 7)}_${i % 3}`,
      buildNumber: i % 3,
      subdir,
      format: i % 5 === 4 ? 'tar.bz2' : 'conda',
      payloadBytes,
      depends: [`${prefix}-dep-${i % 11} >=1.0`],
    });
  }
  // Two at a time: bzip2 runs as its own process.
  const out: GeneratedPackage[] = new Array(count);
  let next = 0;
  await Promise.all(
    [0, 1].map(async () => {
      while (next < specs.length) {
        const i = next++;
        out[i] = await buildPackage(dir, specs[i]!);
      }
    }),
  );
  return out;
}
