// Conda packages built on the fly for the reliability tests: valid ones (many small distinct packages), and a
// corpus of hostile ones (corrupt, truncated, traversal, link escapes, bombs, lying or oversized metadata,
// duplicate members). Everything is streamed to disk; bombs are never held in memory.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import yazl from 'yazl';

export type PackageFormat = 'conda' | 'tar.bz2';

export interface TarMember {
  name: string;
  type?: 'file' | 'symlink' | 'link' | 'directory';
  linkname?: string;
  /** Bytes, or a size and a stream factory for members too big to build in memory. */
  body?: Buffer | string | { size: number; stream: () => Readable };
  mode?: number;
}

export interface PackageSpec {
  name: string;
  version: string;
  build: string;
  buildNumber?: number;
  subdir?: string;
  depends?: string[];
  format: PackageFormat;
  /** Payload files (relative paths) and contents. */
  files?: Record<string, string>;
  /** Replaces fields of the generated index.json (a lie, a wrong type, ...). */
  indexOverrides?: Record<string, unknown>;
  /** Exact bytes of info/index.json instead of the generated one. */
  indexBytes?: Buffer;
  /** File name instead of `name-version-build.<ext>`. */
  filename?: string;
  /** Members appended to the info tar (after the generated ones). */
  extraInfoMembers?: TarMember[];
  /** Members appended to the payload tar. */
  extraPkgMembers?: TarMember[];
}

export function packageFilename(spec: Pick<PackageSpec, 'name' | 'version' | 'build' | 'format'>): string {
  return `${spec.name}-${spec.version}-${spec.build}.${spec.format}`;
}

export function indexJson(spec: PackageSpec): Buffer {
  if (spec.indexBytes) return spec.indexBytes;
  const subdir = spec.subdir ?? 'noarch';
  const [platform, arch] = subdir === 'noarch' ? [null, null] : (subdir.split('-') as [string, string]);
  const index: Record<string, unknown> = {
    arch: arch === '64' ? 'x86_64' : arch,
    build: spec.build,
    build_number: spec.buildNumber ?? 0,
    depends: spec.depends ?? [],
    license: 'BSD-3-Clause',
    name: spec.name,
    platform,
    subdir,
    timestamp: 1700000000000,
    version: spec.version,
    ...(subdir === 'noarch' ? { noarch: 'generic' } : {}),
    ...spec.indexOverrides,
  };
  return Buffer.from(JSON.stringify(index, null, 2));
}

function memberBody(member: TarMember): { size: number; stream?: () => Readable; bytes?: Buffer } {
  const body = member.body ?? '';
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    const bytes = Buffer.from(body);
    return { size: bytes.length, bytes };
  }
  return body;
}

/** Streams a tar of `members` through `compress` into `out`. */
async function writeTar(members: TarMember[], compress: 'zstd' | 'bzip2' | 'none', out: string): Promise<void> {
  const pack = tar.pack();
  const sink = createWriteStream(out);
  const done =
    compress === 'bzip2'
      ? bzip2To(pack as unknown as Readable, sink)
      : compress === 'zstd'
        ? pipeline(pack, zlib.createZstdCompress({ params: { [zlib.constants.ZSTD_c_compressionLevel]: 3 } }), sink)
        : pipeline(pack, sink);
  for (const member of members) {
    const type = member.type ?? 'file';
    if (type !== 'file') {
      pack.entry({ name: member.name, type, linkname: member.linkname, mode: member.mode ?? 0o755 });
      continue;
    }
    const body = memberBody(member);
    if (body.bytes) {
      pack.entry({ name: member.name, size: body.size, mode: member.mode ?? 0o644 }, body.bytes);
    } else {
      await new Promise<void>((resolve, reject) => {
        const entry = pack.entry({ name: member.name, size: body.size, mode: member.mode ?? 0o644 }, (error) =>
          error ? reject(error) : resolve(),
        );
        pipeline(body.stream!(), entry as unknown as Writable).catch(reject);
      });
    }
  }
  pack.finalize();
  await done;
}

/** bzip2 through the system `bzip2` (Node has no bzip2 compressor). */
async function bzip2To(source: Readable, sink: Writable): Promise<void> {
  const child = spawn('bzip2', ['-c', '-9'], { stdio: ['pipe', 'pipe', 'ignore'] });
  const exited = new Promise<void>((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`bzip2 exited ${code}`)))).on('error', reject),
  );
  await Promise.all([pipeline(source, child.stdin), pipeline(child.stdout, sink), exited]);
}

interface ZipMember {
  name: string;
  file?: string;
  bytes?: Buffer;
  /** Deflate the member (conda packages store members uncompressed). */
  compress?: boolean;
}

async function writeZip(members: ZipMember[], out: string): Promise<void> {
  const zip = new yazl.ZipFile();
  for (const member of members) {
    const options = { compress: member.compress ?? false, mtime: new Date(1700000000000) };
    if (member.file) zip.addFile(member.file, member.name, options);
    else zip.addBuffer(member.bytes ?? Buffer.alloc(0), member.name, options);
  }
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(out));
}

function infoMembers(spec: PackageSpec): TarMember[] {
  const files = Object.keys(spec.files ?? { [`share/${spec.name}/README`]: '' });
  const paths = { paths: files.map((p) => ({ _path: p, path_type: 'hardlink', sha256: '0'.repeat(64), size_in_bytes: 0 })), paths_version: 1 };
  return [
    { name: 'info/index.json', body: indexJson(spec) },
    { name: 'info/paths.json', body: JSON.stringify(paths) },
    { name: 'info/about.json', body: JSON.stringify({ summary: `${spec.name} test package` }) },
    ...(spec.extraInfoMembers ?? []),
  ];
}

function pkgMembers(spec: PackageSpec): TarMember[] {
  const files = spec.files ?? { [`share/${spec.name}/README`]: `${spec.name} ${spec.version} ${spec.build}\n` };
  return [...Object.entries(files).map(([name, body]) => ({ name, body })), ...(spec.extraPkgMembers ?? [])];
}

/** Writes a package (valid unless the spec says otherwise) into `dir`; returns its path. */
export async function buildPackage(dir: string, spec: PackageSpec): Promise<string> {
  await mkdir(dir, { recursive: true });
  const filename = spec.filename ?? packageFilename(spec);
  const out = path.join(dir, filename);
  if (spec.format === 'tar.bz2') {
    await writeTar([...infoMembers(spec), ...pkgMembers(spec)], 'bzip2', out);
    return out;
  }
  const stem = filename.replace(/\.conda$/, '');
  const info = `${out}.info.tar.zst`;
  const pkg = `${out}.pkg.tar.zst`;
  await writeTar(infoMembers(spec), 'zstd', info);
  await writeTar(pkgMembers(spec), 'zstd', pkg);
  await writeZip(
    [
      { name: 'metadata.json', bytes: Buffer.from(JSON.stringify({ conda_pkg_format_version: 2 })) },
      { name: `pkg-${stem}.tar.zst`, file: pkg },
      { name: `info-${stem}.tar.zst`, file: info },
    ],
    out,
  );
  await rm(info, { force: true });
  await rm(pkg, { force: true });
  return out;
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** `count` distinct small valid packages over a few subdirs and both formats, deterministic by index. */
export interface BuiltPackage {
  file: string;
  subdir: string;
  filename: string;
  name: string;
  version: string;
  build: string;
  sha256: string;
  md5: string;
  size: number;
}

export async function hashFile(file: string): Promise<{ sha256: string; md5: string; size: number }> {
  const sha256 = createHash('sha256');
  const md5 = createHash('md5');
  let size = 0;
  for await (const chunk of createReadStream(file)) {
    sha256.update(chunk as Buffer);
    md5.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: sha256.digest('hex'), md5: md5.digest('hex'), size };
}

export async function buildValidPackages(dir: string, count: number, prefix = 'rel'): Promise<BuiltPackage[]> {
  const subdirs = ['noarch', 'linux-64', 'osx-arm64'];
  const out: BuiltPackage[] = [];
  for (let i = 0; i < count; i++) {
    const subdir = subdirs[i % subdirs.length]!;
    const spec: PackageSpec = {
      name: `${prefix}-pkg${i % Math.max(1, Math.ceil(count / 3))}`,
      version: `1.${i}.0`,
      build: `h${(i * 7919).toString(16).padStart(6, '0')}_${i % 3}`,
      buildNumber: i % 3,
      subdir,
      format: i % 4 === 3 ? 'tar.bz2' : 'conda',
      files: { [`share/${prefix}/${i}.txt`]: `package ${i}\n`.repeat(1 + (i % 50)) },
    };
    const file = await buildPackage(path.join(dir, subdir), spec);
    out.push({ file, subdir, filename: path.basename(file), name: spec.name, version: spec.version, build: spec.build, ...(await hashFile(file)) });
  }
  return out;
}

/** A stream of `size` bytes: `head`, then spaces (compresses to almost nothing). */
function paddedStream(head: Buffer, size: number): () => Readable {
  return () =>
    Readable.from(
      (function* () {
        yield head;
        const block = Buffer.alloc(1 << 20, 0x20);
        let left = size - head.length;
        while (left > 0) {
          const n = Math.min(left, block.length);
          yield n === block.length ? block : block.subarray(0, n);
          left -= n;
        }
      })(),
    );
}

export interface HostileCase {
  id: string;
  /** What is wrong with it. */
  why: string;
  file: string;
  /** The refusal must match (the reader's wording is free; the subject is not). */
  expect: RegExp;
  /** The artifact ref a promote request would name (for packages whose file exists in staging by other means). */
  subdir?: string;
}

export interface CorpusOptions {
  /** Decompressed size of the bombs (default 256 MiB). */
  bombBytes?: number;
}

/**
 * The hostile package corpus. Each case is one thing wrong with an otherwise plausible package named
 * `hostile-<id>`, so a refusal can be told apart from an unrelated failure.
 */
export async function buildHostileCorpus(dir: string, options: CorpusOptions = {}): Promise<HostileCase[]> {
  await mkdir(dir, { recursive: true });
  const bomb = options.bombBytes ?? 256 * 1024 * 1024;
  const cases: HostileCase[] = [];
  const base = (id: string, format: PackageFormat = 'conda'): PackageSpec => ({
    name: `hostile-${id}`,
    version: '1.0',
    build: 'h0_0',
    subdir: 'linux-64',
    format,
  });
  const add = async (id: string, why: string, expect: RegExp, spec: PackageSpec) => {
    cases.push({ id, why, expect, file: await buildPackage(path.join(dir, id), spec) });
  };
  const raw = async (id: string, why: string, expect: RegExp, filename: string, bytes: Buffer) => {
    await mkdir(path.join(dir, id), { recursive: true });
    const file = path.join(dir, id, filename);
    await writeFile(file, bytes);
    cases.push({ id, why, expect, file });
  };

  const corrupt = /empty|corrupt|invalid|not a|truncat|unexpected end|end of|damaged|cannot read|could not read|bad|malformed|zip|bzip2|tar|zstd|archive/i;

  // Corrupt, truncated, empty archives.
  await raw('empty-conda', 'a zero-byte .conda', corrupt, 'hostile-empty-1.0-h0_0.conda', Buffer.alloc(0));
  await raw('empty-bz2', 'a zero-byte .tar.bz2', corrupt, 'hostile-empty-1.0-h0_0.tar.bz2', Buffer.alloc(0));
  await raw('garbage-conda', 'random bytes named .conda', corrupt, 'hostile-garbage-1.0-h0_0.conda', createHash('sha512').update('garbage').digest());
  await raw('garbage-bz2', 'a valid bzip2 stream of garbage (not a tar)', corrupt, 'hostile-garbage-1.0-h0_0.tar.bz2', await bzip2Buffer(Buffer.from('this is not a tar file at all\n'.repeat(40))));
  for (const format of ['conda', 'tar.bz2'] as const) {
    const id = `truncated-${format === 'conda' ? 'conda' : 'bz2'}`;
    const file = await buildPackage(path.join(dir, id), { ...base(id, format), files: { 'share/big.txt': randomText(200_000) } });
    await truncate(file, Math.floor((await stat(file)).size / 2));
    cases.push({ id, why: `a ${format} cut in half`, expect: corrupt, file });
  }
  // A .conda whose info archive is missing.
  {
    const id = 'no-info';
    const spec = base(id);
    const out = path.join(dir, id);
    await mkdir(out, { recursive: true });
    const pkg = path.join(out, 'pkg.tar.zst');
    await writeTar(pkgMembers(spec), 'zstd', pkg);
    const file = path.join(out, packageFilename(spec));
    await writeZip([{ name: 'metadata.json', bytes: Buffer.from('{"conda_pkg_format_version": 2}') }, { name: `pkg-${path.basename(file, '.conda')}.tar.zst`, file: pkg }], file);
    cases.push({ id, why: 'a .conda without info-*.tar.zst', expect: /info/i, file });
  }

  // Path traversal and link escapes, in the metadata and in the payload.
  const traversal = /travers|outside|escape|unsafe|absolute|\.\.|not allowed|invalid (member|path|entry)|link/i;
  for (const format of ['conda', 'tar.bz2'] as const) {
    const f = format === 'conda' ? 'conda' : 'bz2';
    await add(`traversal-info-${f}`, `info member ../../etc/evil (${format})`, traversal, {
      ...base(`traversal-info-${f}`, format),
      extraInfoMembers: [{ name: 'info/../../etc/evil', body: 'pwned' }],
    });
    await add(`traversal-pkg-${f}`, `payload member ../../../tmp/evil (${format})`, traversal, {
      ...base(`traversal-pkg-${f}`, format),
      extraPkgMembers: [{ name: '../../../tmp/evil', body: 'pwned' }],
    });
    await add(`absolute-pkg-${f}`, `payload member /etc/evil (${format})`, traversal, {
      ...base(`absolute-pkg-${f}`, format),
      extraPkgMembers: [{ name: '/etc/evil', body: 'pwned' }],
    });
    await add(`symlink-escape-${f}`, `info symlink to /etc/passwd (${format})`, traversal, {
      ...base(`symlink-escape-${f}`, format),
      extraInfoMembers: [{ name: 'info/recipe', type: 'symlink', linkname: '/etc/passwd' }],
    });
    await add(`symlink-relative-${f}`, `payload symlink to ../../../../etc (${format})`, traversal, {
      ...base(`symlink-relative-${f}`, format),
      extraPkgMembers: [{ name: 'share/escape', type: 'symlink', linkname: '../../../../etc' }],
    });
    await add(`hardlink-escape-${f}`, `payload hard link to ../../etc/passwd (${format})`, traversal, {
      ...base(`hardlink-escape-${f}`, format),
      extraPkgMembers: [{ name: 'share/hard', type: 'link', linkname: '../../etc/passwd' }],
    });
  }
  // A zip member whose own name climbs out.
  {
    const id = 'zip-member-traversal';
    const spec = base(id);
    const out = path.join(dir, id);
    await mkdir(out, { recursive: true });
    const stem = `${spec.name}-${spec.version}-${spec.build}`;
    const info = path.join(out, 'i.tar.zst');
    const pkg = path.join(out, 'p.tar.zst');
    await writeTar(infoMembers(spec), 'zstd', info);
    await writeTar(pkgMembers(spec), 'zstd', pkg);
    const file = path.join(out, `${stem}.conda`);
    await writeZip(
      [
        { name: 'metadata.json', bytes: Buffer.from('{"conda_pkg_format_version": 2}') },
        { name: `pkg-${stem}.tar.zst`, file: pkg },
        { name: `info-${stem}.tar.zst`, file: info },
        // yazl refuses `..`: write a same-length placeholder, then patch the name in both zip headers.
        { name: 'zz/zz/evil.sh', bytes: Buffer.from('#!/bin/sh\n') },
      ],
      file,
    );
    const bytes = await readFile(file);
    const placeholder = Buffer.from('zz/zz/evil.sh');
    for (let at = bytes.indexOf(placeholder); at >= 0; at = bytes.indexOf(placeholder, at + 1)) Buffer.from('../../evil.sh').copy(bytes, at);
    await writeFile(file, bytes);
    cases.push({ id, why: 'a .conda zip member named ../../evil.sh', expect: traversal, file });
  }

  // Bombs: metadata that decompresses to far more than any reader should accept.
  const tooBig = /too large|larger than|exceeds|limit|too big|size|bomb|cap/i;
  const hugeIndex = (id: string): TarMember => ({
    name: 'info/index.json',
    body: { size: bomb, stream: paddedStream(indexJson({ ...base(id) }), bomb) },
  });
  {
    const id = 'zstd-bomb';
    const spec = base(id);
    const out = path.join(dir, id);
    await mkdir(out, { recursive: true });
    const stem = `${spec.name}-${spec.version}-${spec.build}`;
    const info = path.join(out, 'i.tar.zst');
    const pkg = path.join(out, 'p.tar.zst');
    await writeTar([hugeIndex(id)], 'zstd', info);
    await writeTar(pkgMembers(spec), 'zstd', pkg);
    const file = path.join(out, `${stem}.conda`);
    await writeZip(
      [
        { name: 'metadata.json', bytes: Buffer.from('{"conda_pkg_format_version": 2}') },
        { name: `pkg-${stem}.tar.zst`, file: pkg },
        { name: `info-${stem}.tar.zst`, file: info },
      ],
      file,
    );
    cases.push({ id, why: `info/index.json of ${bomb} bytes inside a tiny zstd stream`, expect: tooBig, file });
  }
  {
    const id = 'bzip2-bomb';
    const spec = base(id, 'tar.bz2');
    const out = path.join(dir, id);
    await mkdir(out, { recursive: true });
    const file = path.join(out, packageFilename(spec));
    await writeTar([hugeIndex(id), ...pkgMembers(spec)], 'bzip2', file);
    cases.push({ id, why: `info/index.json of ${bomb} bytes inside a tiny bzip2 stream`, expect: tooBig, file });
  }
  {
    // metadata.json deflated inside the zip: a few hundred KiB that inflate to `bomb` bytes of JSON.
    const id = 'zip-bomb';
    const spec = base(id);
    const out = path.join(dir, id);
    await mkdir(out, { recursive: true });
    const stem = `${spec.name}-${spec.version}-${spec.build}`;
    const info = path.join(out, 'i.tar.zst');
    const pkg = path.join(out, 'p.tar.zst');
    await writeTar(infoMembers(spec), 'zstd', info);
    await writeTar(pkgMembers(spec), 'zstd', pkg);
    const file = path.join(out, `${stem}.conda`);
    const head = Buffer.from('{"conda_pkg_format_version": 2');
    const zip = new yazl.ZipFile();
    const options = { compress: true, mtime: new Date(1700000000000) };
    zip.addReadStream(Readable.from((async function* () {
      yield* paddedStream(head, bomb - 1)();
      yield Buffer.from('}');
    })()), 'metadata.json', options);
    zip.addFile(pkg, `pkg-${stem}.tar.zst`, { compress: false });
    zip.addFile(info, `info-${stem}.tar.zst`, { compress: false });
    zip.end();
    await pipeline(zip.outputStream, createWriteStream(file));
    cases.push({ id, why: `metadata.json deflated inside the zip, expanding to ${bomb} bytes`, expect: tooBig, file });
  }

  // Metadata that lies, or disagrees with the file name.
  const lie = /name|version|build|subdir|match|disagree|differ|mismatch|expected/i;
  await add('lie-name', 'index.json name differs from the file name', lie, { ...base('lie-name'), indexOverrides: { name: 'numpy' } });
  await add('lie-version', 'index.json version differs from the file name', lie, { ...base('lie-version'), indexOverrides: { version: '9.9' } });
  await add('lie-build', 'index.json build differs from the file name', lie, { ...base('lie-build'), indexOverrides: { build: 'evil_0' } });
  await add('lie-subdir', 'index.json subdir is a path', /subdir|invalid|\.\./i, { ...base('lie-subdir'), indexOverrides: { subdir: '../linux-64' } });
  await add('renamed-file', 'a valid package renamed to another package\'s file name', lie, { ...base('renamed-file'), filename: 'zlib-1.3-h0_0.conda' });
  await add('wrong-types', 'index.json with a numeric version and a string build_number', /version|build_number|type|string|number|invalid/i, {
    ...base('wrong-types'),
    indexBytes: Buffer.from(JSON.stringify({ name: 'hostile-wrong-types', version: 1.0, build: 'h0_0', build_number: 'zero', subdir: 'linux-64', depends: 'python' })),
    filename: 'hostile-wrong-types-1-h0_0.conda',
  });
  await add('not-json', 'index.json that is not JSON', /json|parse|invalid|unexpected/i, { ...base('not-json'), indexBytes: Buffer.from('{"name": "hostile-not-json", ') });
  await add('json-array', 'index.json that is a JSON array', /object|json|invalid|name/i, { ...base('json-array'), indexBytes: Buffer.from('["hostile-json-array"]') });
  await add('non-utf8', 'index.json with bytes that are not UTF-8', /utf-?8|encoding|invalid|name|json/i, {
    ...base('non-utf8'),
    indexBytes: Buffer.concat([Buffer.from('{"name": "hostile-non-utf8", "version": "1.0", "build": "h0_0", "build_number": 0, "subdir": "linux-64", "depends": [], "license": "'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')]),
  });
  // An index.json of 40 MiB of real JSON (a dependency list), streamed into the info archive.
  {
    const id = 'oversized-index';
    const out = path.join(dir, id);
    await mkdir(out, { recursive: true });
    const spec = base(id);
    const head = Buffer.from(`{"name":"${spec.name}","version":"1.0","build":"h0_0","build_number":0,"subdir":"linux-64","license":"MIT","depends":[`);
    const size = 40 * 1024 * 1024;
    const dep = Buffer.from('"libfoo >=1.0",');
    const stream = () =>
      Readable.from(
        (function* () {
          yield head;
          let left = size - head.length - 16;
          const block = Buffer.concat(Array.from({ length: 4096 }, () => dep));
          while (left >= block.length) {
            yield block;
            left -= block.length;
          }
          const tail = Buffer.from(`"x"]}`);
          yield Buffer.concat([Buffer.alloc(left + 16 - tail.length, 0x20), tail]);
        })(),
      );
    const stem = `${spec.name}-${spec.version}-${spec.build}`;
    const info = path.join(out, 'i.tar.zst');
    const pkg = path.join(out, 'p.tar.zst');
    await writeTar([{ name: 'info/index.json', body: { size, stream } }], 'zstd', info);
    await writeTar(pkgMembers(spec), 'zstd', pkg);
    const file = path.join(out, `${stem}.conda`);
    await writeZip(
      [
        { name: 'metadata.json', bytes: Buffer.from('{"conda_pkg_format_version": 2}') },
        { name: `pkg-${stem}.tar.zst`, file: pkg },
        { name: `info-${stem}.tar.zst`, file: info },
      ],
      file,
    );
    cases.push({ id, why: 'info/index.json of 40 MiB (a real dependency list)', expect: tooBig, file });
  }

  // Duplicate members: which copy counts would be up to the reader - refuse instead.
  const duplicate = /duplicate|twice|more than one|multiple|ambiguous/i;
  await add('duplicate-index', 'info/index.json twice, the second one lying', duplicate, {
    ...base('duplicate-index'),
    extraInfoMembers: [{ name: 'info/index.json', body: indexJson({ ...base('duplicate-index'), indexOverrides: { name: 'numpy', depends: ['evil'] } }) }],
  });
  await add('duplicate-index-bz2', 'info/index.json twice in a .tar.bz2, the second one lying', duplicate, {
    ...base('duplicate-index-bz2', 'tar.bz2'),
    extraInfoMembers: [{ name: 'info/index.json', body: indexJson({ ...base('duplicate-index-bz2', 'tar.bz2'), indexOverrides: { depends: ['evil'] } }) }],
  });
  {
    const id = 'duplicate-zip-member';
    const spec = base(id);
    const out = path.join(dir, id);
    await mkdir(out, { recursive: true });
    const stem = `${spec.name}-${spec.version}-${spec.build}`;
    const info = path.join(out, 'i.tar.zst');
    const liar = path.join(out, 'l.tar.zst');
    const pkg = path.join(out, 'p.tar.zst');
    await writeTar(infoMembers(spec), 'zstd', info);
    await writeTar(infoMembers({ ...spec, indexOverrides: { depends: ['evil'] } }), 'zstd', liar);
    await writeTar(pkgMembers(spec), 'zstd', pkg);
    const file = path.join(out, `${stem}.conda`);
    await writeZip(
      [
        { name: 'metadata.json', bytes: Buffer.from('{"conda_pkg_format_version": 2}') },
        { name: `pkg-${stem}.tar.zst`, file: pkg },
        { name: `info-${stem}.tar.zst`, file: info },
        { name: `info-${stem}.tar.zst`, file: liar },
      ],
      file,
    );
    cases.push({ id, why: 'the info-*.tar.zst zip member twice, with different contents', expect: duplicate, file });
  }
  // Names a package can not have.
  await add('bad-filename', 'a file name with a space and no build string', /name|file|invalid|expected/i, { ...base('bad-filename'), filename: 'hostile bad.conda' });
  // Intermediate archives (the bomb's plain tar is as large as the bomb) go; only the cases stay.
  const keep = new Set(cases.map((c) => c.file));
  for (const c of cases) {
    for (const entry of await readdir(path.dirname(c.file))) {
      const full = path.join(path.dirname(c.file), entry);
      if (!keep.has(full)) await rm(full, { force: true, recursive: true });
    }
  }
  return cases;
}

async function bzip2Buffer(data: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const sink = new (await import('node:stream')).Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  await bzip2To(Readable.from([data]), sink);
  return Buffer.concat(chunks);
}

function randomText(size: number): string {
  const hash = createHash('sha256');
  let out = '';
  let i = 0;
  while (out.length < size) out += hash.copy().update(String(i++)).digest('base64');
  return out.slice(0, size);
}

/** Reads a whole small file (test helper for comparing bytes). */
export const readBytes = (file: string) => readFile(file);
