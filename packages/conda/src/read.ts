// Reads a .conda or .tar.bz2 safely: one streamed pass gives sha256, md5 and size; the archive members are
// checked (traversal, links, duplicates, bombs) while they stream, and only the info/ files are kept.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform, Writable, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32, createZstdDecompress } from 'node:zlib';
import tarStream, { type Header } from 'tar-stream';
import YAML from 'yaml';
import yauzl from 'yauzl';
import { bunzip2 } from './bzip2.ts';
import { PackageError, errorText } from './errors.ts';
import { buildInfoTarGz, type InfoMember } from './info-tar.ts';
import { packageLimits, type PackageLimits } from './limits.ts';
import { MemberGuard, UnsafeMemberError, type CheckedMember } from './members.ts';
import { parsePackageFilename, type PackageFormat } from './names.ts';
import { validateIndexJson } from './validate.ts';

export interface PackageInfo {
  /** The file that was read. */
  path: string;
  filename: string;
  format: PackageFormat;
  name: string;
  version: string;
  build: string;
  subdir: string;
  /** Hex digests and byte size of the whole file. */
  sha256: string;
  md5: string;
  size: number;
  indexJson: Record<string, unknown>;
  /** info/index.json exactly as in the package. */
  indexJsonBytes: Uint8Array;
  /** Deterministic info.tar.gz (see info-tar.ts). */
  infoTarGz: Uint8Array;
  aboutJson?: Record<string, unknown>;
  runExports?: Record<string, unknown>;
  /**
   * What conda-index puts into channeldata besides index.json: about.json's channel fields, `source_url` and
   * `source_git_url` from the recipe, and the post-install flags it derives from paths.json.
   */
  channelFields: Record<string, unknown>;
  /** Paths of the info/ files, without the prefix, sorted. */
  infoFiles: string[];
  /** With the `collect` option: the contents of the members it matched, by path. */
  collected?: Map<string, Buffer>;
}

export interface ReadPackageOptions {
  /** The real file name, when `file` is a temporary path. */
  filename?: string;
  limits?: Partial<PackageLimits>;
  /** Subdir to assume when index.json has none and none can be derived (very old or hand-made packages). */
  subdir?: string;
  /**
   * Upload only: for .conda, read the zip directory, metadata.json and the info member, and skip walking the
   * (large) pkg-*.tar.zst member; the file is still hashed in full. Validate reads the package without this
   * option, so a malformed payload uploaded to staging is refused there, before promotion.
   * .tar.bz2 keeps its single full pass (info/ members may come anywhere in the tar).
   */
  metadataOnly?: boolean;
  /**
   * Members outside info/ to keep (a repodata patches package's `<subdir>/patch_instructions.json`): regular
   * files whose path `match`es, at most `maxBytes` in all, returned in `collected`. Not with `metadataOnly`.
   */
  collect?: { match: (path: string) => boolean; maxBytes: number };
}

const REBUILD = 'rebuild the package or upload the right file';

export async function readPackage(file: string, options: ReadPackageOptions = {}): Promise<PackageInfo> {
  const read = await readPackageFile(file, options, true);
  return read as PackageInfo;
}

/** A package read without hashing the whole file: `sha256`/`md5` are set only when the read needed the full pass anyway (.tar.bz2). */
export type UnhashedPackageInfo = Omit<PackageInfo, 'sha256' | 'md5'> & { sha256?: string; md5?: string };

/**
 * Upload of a large .conda: reads the metadata like `readPackage(file, { metadataOnly: true })` but does not
 * hash the file, so the caller can hash it in the same pass that sends it (see `hashPackageFile` otherwise).
 */
export async function readPackageUnhashed(file: string, options: Omit<ReadPackageOptions, 'metadataOnly'> = {}): Promise<UnhashedPackageInfo> {
  return readPackageFile(file, { ...options, metadataOnly: true }, false);
}

/** sha256, md5 and size of a whole file, in one pass through one reused buffer. */
export async function hashPackageFile(file: string, signal?: AbortSignal): Promise<{ sha256: string; md5: string; size: number }> {
  return hashFile(file, signal ?? new AbortController().signal);
}

async function readPackageFile(file: string, options: ReadPackageOptions, hash: boolean): Promise<UnhashedPackageInfo> {
  const filename = options.filename ?? path.basename(file);
  const parsed = parsePackageFilename(filename);
  const limits = packageLimits(options.limits);
  let size: number;
  try {
    const stats = await stat(file);
    if (!stats.isFile()) throw new PackageError(filename, `${file} is not a regular file`, 'pass the package file');
    size = stats.size;
  } catch (error) {
    if (error instanceof PackageError) throw error;
    throw new PackageError(filename, `cannot read ${file}: ${errorText(error)}`, 'check the path');
  }
  if (size === 0) throw new PackageError(filename, 'the file is empty', REBUILD);
  if (size > limits.maxPackageBytes) throw new PackageError(filename, `the file has ${size} bytes, over the ${limits.maxPackageBytes}-byte limit`, 'raise the limit if this package is real');

  const state = new ReadState(filename, size, limits, options.collect);
  const hashes = parsed.format === 'tar.bz2' ? await readTarBz2(file, state) : await readConda(file, state, options.metadataOnly === true, hash);
  if (hashes && hashes.size !== size) throw new PackageError(filename, `the file changed while it was read (${size} then ${hashes.size} bytes)`, 'retry once nothing writes to it');

  const info = state.info;
  const indexMember = info.get('index.json');
  if (!indexMember || indexMember.kind !== 'file' || !indexMember.data) {
    throw new PackageError(filename, parsed.format === 'conda' ? 'the info archive has no info/index.json' : 'the package has no info/index.json', REBUILD);
  }
  const indexJson = parseJsonObject(filename, 'info/index.json', indexMember.data);
  const subdir = validateIndexJson(indexJson, parsed, options.subdir);
  const aboutJson = optionalJson(state, 'about.json');
  const runExports = optionalJson(state, 'run_exports.json');
  const pathsJson = optionalJson(state, 'paths.json');
  const infoTarGz = await buildInfoTarGz(info);
  return {
    path: file,
    filename,
    format: parsed.format,
    name: parsed.name,
    version: parsed.version,
    build: parsed.build,
    subdir,
    ...(hashes ? { sha256: hashes.sha256, md5: hashes.md5 } : {}),
    size,
    indexJson,
    indexJsonBytes: new Uint8Array(indexMember.data),
    infoTarGz,
    ...(aboutJson ? { aboutJson } : {}),
    ...(runExports ? { runExports } : {}),
    channelFields: channelFields(aboutJson, recipeSource(state), postInstallFlags(pathsJson)),
    infoFiles: [...info.keys()].sort(),
    ...(options.collect ? { collected: state.collected } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------------

/** Everything one read accumulates: info members, counts, caps. */
class ReadState {
  readonly info = new Map<string, InfoMember>();
  infoBytes = 0;
  members = 0;
  unpacked = 0;
  readonly filename: string;
  readonly fileSize: number;
  readonly limits: PackageLimits;
  readonly collect: ReadPackageOptions['collect'];
  readonly collected = new Map<string, Buffer>();
  collectedBytes = 0;

  constructor(filename: string, fileSize: number, limits: PackageLimits, collect?: ReadPackageOptions['collect']) {
    this.filename = filename;
    this.fileSize = fileSize;
    this.limits = limits;
    this.collect = collect;
  }

  fail(reason: string, action = REBUILD): PackageError {
    return new PackageError(this.filename, reason, action);
  }

  /** Counts decompressed bytes as they stream, stopping at the caps (bombs never reach memory or disk). */
  counter(): Transform {
    return new Transform({
      transform: (chunk: Buffer, _encoding, callback: TransformCallback) => {
        this.unpacked += chunk.length;
        const { maxUnpackedBytes, maxCompressionRatio, ratioFloorBytes } = this.limits;
        if (this.unpacked > maxUnpackedBytes) {
          callback(this.fail(`it unpacks to more than ${maxUnpackedBytes} bytes`, 'refused as a decompression bomb; raise the limit if this package is real'));
        } else if (this.unpacked > ratioFloorBytes && this.unpacked > this.fileSize * maxCompressionRatio) {
          callback(this.fail(`it unpacks to over ${maxCompressionRatio} times its size`, 'refused as a decompression bomb; raise the limit if this package is real'));
        } else {
          callback(null, chunk);
        }
      },
    });
  }
}

class FileHasher extends Writable {
  readonly #sha256: Hash = createHash('sha256');
  readonly #md5: Hash = createHash('md5');
  size = 0;

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#sha256.update(chunk);
    this.#md5.update(chunk);
    this.size += chunk.length;
    callback();
  }

  result(): { sha256: string; md5: string; size: number } {
    return { sha256: this.#sha256.digest('hex'), md5: this.#md5.digest('hex'), size: this.size };
  }
}

/** A pass-through that also feeds a FileHasher: hashing and unpacking share one read of the file. */
function tap(hasher: FileHasher): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hasher.write(chunk);
      callback(null, chunk);
    },
  });
}

type Hashes = { sha256: string; md5: string; size: number };

async function readTarBz2(file: string, state: ReadState): Promise<Hashes> {
  const hasher = new FileHasher();
  const bz = bunzip2();
  const guard = new MemberGuard();
  const extract = tarExtract(state, guard, 'tar.bz2');
  let stage: 'bzip2' | 'tar' | undefined;
  bz.output.once('error', () => (stage ??= 'bzip2'));
  extract.once('error', () => (stage ??= 'tar'));
  const input = createReadStream(file, { highWaterMark: 1 << 20 });
  try {
    await Promise.all([pipeline(input, tap(hasher), bz.input), pipeline(bz.output, state.counter(), extract)]);
  } catch (error) {
    bz.abort();
    input.destroy();
    extract.destroy();
    throw explain(state, error, stage === 'bzip2' ? 'the bzip2 stream is corrupt or truncated' : 'the tar archive is corrupt or truncated');
  }
  return hasher.result();
}

const HASH_BUFFER = 1 << 20;

async function hashFile(file: string, signal: AbortSignal, sizeHint?: number): Promise<Hashes> {
  // One buffer read into again and again: a stream would allocate a new buffer per read, and V8 frees those
  // late (a 1 GiB file then costs ~70 MB of RSS in garbage buffers).
  const sha256 = createHash('sha256');
  const md5 = createHash('md5');
  // A small package needs no 1 MiB buffer (one more byte than the file, so its end is seen in one read).
  const buffer = Buffer.allocUnsafe(sizeHint !== undefined && sizeHint < HASH_BUFFER ? sizeHint + 1 : HASH_BUFFER);
  let size = 0;
  const handle = await open(file, 'r');
  try {
    for (;;) {
      signal.throwIfAborted();
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, size);
      if (bytesRead === 0) break;
      const piece = buffer.subarray(0, bytesRead);
      sha256.update(piece);
      md5.update(piece);
      size += bytesRead;
    }
  } finally {
    await handle.close();
  }
  return { sha256: sha256.digest('hex'), md5: md5.digest('hex'), size };
}

const MAX_ZIP_ENTRIES = 16;

async function readConda(file: string, state: ReadState, metadataOnly: boolean, hash: boolean): Promise<Hashes | undefined> {
  if (!hash) {
    await readCondaMembers(file, state, metadataOnly);
    return undefined;
  }
  // Hashing and reading the zip run side by side; the second read of the small info member hits the page cache.
  // A refused package stops the hashing too, instead of reading a large file to its end for nothing.
  const abort = new AbortController();
  const hashing = hashFile(file, abort.signal, state.fileSize);
  hashing.catch(() => undefined);
  try {
    await readCondaMembers(file, state, metadataOnly);
  } catch (error) {
    abort.abort();
    throw error;
  }
  return hashing;
}

async function readCondaMembers(file: string, state: ReadState, metadataOnly: boolean): Promise<void> {
  let zip: yauzl.ZipFile;
  try {
    zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
      yauzl.open(file, { lazyEntries: true, autoClose: false, strictFileNames: true, validateEntrySizes: true, decodeStrings: true }, (error, z) => (error ? reject(error) : resolve(z))),
    );
  } catch (error) {
    throw state.fail(`not a readable .conda (zip) archive: ${errorText(error)}`);
  }
  try {
    const entries = await zipEntries(zip, state);
    const byName = new Map<string, yauzl.Entry>();
    for (const entry of entries) {
      if (byName.has(entry.fileName)) throw state.fail(`the zip holds ${JSON.stringify(entry.fileName)} twice`);
      byName.set(entry.fileName, entry);
    }
    const infos = entries.filter((e) => /^info-[^/]+\.tar\.zst$/.test(e.fileName));
    const pkgs = entries.filter((e) => /^pkg-[^/]+\.tar\.zst$/.test(e.fileName));
    const others = entries.filter((e) => e.fileName !== 'metadata.json' && !infos.includes(e) && !pkgs.includes(e));
    if (others.length > 0) throw state.fail(`the zip holds ${JSON.stringify(others[0]!.fileName)}, which a .conda does not have (only metadata.json, info-*.tar.zst, pkg-*.tar.zst)`);
    if (infos.length !== 1) throw state.fail(infos.length === 0 ? 'the .conda has no info-*.tar.zst member' : 'the .conda has more than one info-*.tar.zst member');
    if (pkgs.length > 1) throw state.fail('the .conda has more than one pkg-*.tar.zst member');
    const metadata = byName.get('metadata.json');
    if (metadata) await checkCondaMetadata(zip, metadata, state);
    // One guard for both: conda unpacks info and pkg into one directory.
    const guard = new MemberGuard();
    await readTarZst(zip, infos[0]!, state, guard, 'info');
    if (pkgs[0] && !metadataOnly) await readTarZst(zip, pkgs[0], state, guard, 'pkg');
  } finally {
    zip.close();
  }
}

function zipEntries(zip: yauzl.ZipFile, state: ReadState): Promise<yauzl.Entry[]> {
  return new Promise((resolve, reject) => {
    const entries: yauzl.Entry[] = [];
    zip.on('entry', (entry: yauzl.Entry) => {
      entries.push(entry);
      if (entries.length > MAX_ZIP_ENTRIES) {
        reject(state.fail(`the zip has more than ${MAX_ZIP_ENTRIES} members`));
        return;
      }
      zip.readEntry();
    });
    zip.on('end', () => resolve(entries));
    zip.on('error', (error: unknown) => reject(state.fail(`the zip is corrupt: ${errorText(error)}`)));
    zip.readEntry();
  });
}

async function openEntry(zip: yauzl.ZipFile, entry: yauzl.Entry, state: ReadState): Promise<Readable> {
  if (entry.isEncrypted()) throw state.fail(`zip member ${entry.fileName} is encrypted`);
  try {
    return await zip.openReadStreamPromise(entry);
  } catch (error) {
    throw state.fail(`cannot read zip member ${entry.fileName}: ${errorText(error)}`);
  }
}

/** yauzl does not check CRC-32s; a flipped bit in a stored member would otherwise go unnoticed. */
function crcCheck(entry: yauzl.Entry, state: ReadState): Transform {
  let crc = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      crc = crc32(chunk, crc);
      callback(null, chunk);
    },
    flush(callback) {
      callback(crc >>> 0 === entry.crc32 >>> 0 ? null : state.fail(`zip member ${entry.fileName} fails its CRC-32 check (the file is corrupt)`));
    },
  });
}

async function checkCondaMetadata(zip: yauzl.ZipFile, entry: yauzl.Entry, state: ReadState): Promise<void> {
  const cap = 64 * 1024;
  if (entry.uncompressedSize > cap) throw state.fail(`metadata.json has ${entry.uncompressedSize} bytes, over ${cap}`);
  const stream = await openEntry(zip, entry, state);
  let bytes: Buffer;
  try {
    bytes = await readCapped(stream.pipe(crcCheck(entry, state)), cap, () => state.fail(`metadata.json is over ${cap} bytes`));
  } catch (error) {
    throw explain(state, error, 'cannot read metadata.json');
  }
  const metadata = parseJsonObject(state.filename, 'metadata.json', bytes);
  const version = metadata.conda_pkg_format_version;
  if (version !== undefined && version !== 2) throw state.fail(`metadata.json says conda_pkg_format_version ${JSON.stringify(version)}; only 2 is known`);
}

async function readTarZst(zip: yauzl.ZipFile, entry: yauzl.Entry, state: ReadState, guard: MemberGuard, part: 'info' | 'pkg'): Promise<void> {
  const stream = await openEntry(zip, entry, state);
  const zstd = createZstdDecompress();
  const extract = tarExtract(state, guard, part);
  let stage: 'zip' | 'zstd' | 'tar' | undefined;
  stream.once('error', () => (stage ??= 'zip'));
  zstd.once('error', () => (stage ??= 'zstd'));
  extract.once('error', () => (stage ??= 'tar'));
  try {
    await pipeline(stream, crcCheck(entry, state), zstd, state.counter(), extract);
  } catch (error) {
    const what = stage === 'zip' ? `zip member ${entry.fileName} is corrupt` : stage === 'zstd' ? `the zstd data of ${entry.fileName} is corrupt or truncated` : `the tar archive in ${entry.fileName} is corrupt or truncated`;
    throw explain(state, error, what);
  }
}

/**
 * A tar extractor that checks every member and keeps the info/ files. `part` says which archive this is:
 * a .tar.bz2 holds everything, a .conda's info archive only info/, its pkg archive everything else.
 */
function tarExtract(state: ReadState, guard: MemberGuard, part: 'tar.bz2' | 'info' | 'pkg'): Writable {
  // tar-stream 3 streams are streamx streams; Node's pipeline drives them like its own.
  const extract = tarStream.extract();
  extract.on('entry', (header, body, next) => {
    // A member refused before its body was read is destroyed with the extractor's error: that error is
    // reported through the pipeline, so the body's own copy must not become an uncaught 'error' event.
    body.on('error', () => {});
    handleMember(state, guard, part, header, body as unknown as AsyncIterable<Buffer>).then(
      () => next(),
      (error: unknown) => extract.destroy(error instanceof Error ? error : new Error(String(error))),
    );
  });
  return extract as unknown as Writable;
}

async function handleMember(state: ReadState, guard: MemberGuard, part: 'tar.bz2' | 'info' | 'pkg', header: Header, body: AsyncIterable<Buffer>): Promise<void> {
  state.members += 1;
  if (state.members > state.limits.maxMembers) throw state.fail(`it has more than ${state.limits.maxMembers} archive members`);
  let member: CheckedMember | undefined;
  try {
    member = guard.check(header);
  } catch (error) {
    if (error instanceof UnsafeMemberError) throw state.fail(`unsafe archive member: ${error.message}`, 'refused; rebuild the package without it');
    throw error;
  }
  const isInfo = member !== undefined && (member.path === 'info' || member.path.startsWith('info/'));
  if (member && part === 'info' && !isInfo) throw state.fail(`the info archive holds ${JSON.stringify(member.path)}, outside info/`);
  if (member && part === 'pkg' && isInfo) throw state.fail(`the pkg archive holds ${JSON.stringify(member.path)}; info/ files belong in the info archive`);
  if (member && !isInfo && member.kind === 'file' && state.collect?.match(member.path)) {
    const declared = header.size ?? 0;
    const room = state.collect.maxBytes - state.collectedBytes;
    if (declared > room) throw state.fail(`member ${member.path} has ${declared} bytes, over the ${state.collect.maxBytes}-byte limit for what is read from it`);
    const data = await readCapped(body, declared, () => state.fail(`member ${member.path} is longer than its header says`));
    state.collectedBytes += data.length;
    state.collected.set(member.path, data);
    return;
  }
  if (!member || !isInfo || member.kind === 'directory') {
    await drain(body);
    return;
  }
  const relative = member.path.slice('info/'.length);
  if (member.kind === 'symlink') {
    // info.tar.gz drops the 'info/' prefix, so a link out of info/ would point out of that archive.
    const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(member.path), member.linkTarget!.replace(/\\/g, '/')));
    if (!resolved.startsWith('info/')) throw state.fail(`unsafe archive member: symlink ${JSON.stringify(member.path)} points outside info/`, 'refused; rebuild the package without it');
    state.info.set(relative, { kind: 'symlink', linkTarget: member.linkTarget! });
    await drain(body);
    return;
  }
  if (member.kind === 'link') {
    // A hard link inside info/ becomes a copy of its target, which was read before it.
    const target = member.linkTarget!.startsWith('info/') ? state.info.get(member.linkTarget!.slice('info/'.length)) : undefined;
    if (!target || target.kind !== 'file') throw state.fail(`info member ${member.path} is a hard link to ${member.linkTarget}, outside info/`);
    state.info.set(relative, { ...target });
    await drain(body);
    return;
  }
  const declared = header.size ?? 0;
  if (relative === 'index.json' && declared > state.limits.maxIndexJsonBytes) {
    throw state.fail(`info/index.json has ${declared} bytes, over the ${state.limits.maxIndexJsonBytes}-byte limit`);
  }
  if (state.infoBytes + declared > state.limits.maxInfoBytes) {
    throw state.fail(`its info/ files are over the ${state.limits.maxInfoBytes}-byte limit`, 'raise the limit if this package is real');
  }
  const data = await readCapped(body, declared, () => state.fail(`info member ${member.path} is longer than its header says`));
  state.infoBytes += data.length;
  state.info.set(relative, { kind: 'file', data });
}

async function drain(body: AsyncIterable<Buffer>): Promise<void> {
  for await (const _chunk of body) {
    // only counted (by the counter upstream) and checked, never kept
  }
}

async function readCapped(stream: AsyncIterable<Buffer>, cap: number, tooLong: () => Error): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += chunk.length;
    if (total > cap) throw tooLong();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}

/** Our own errors pass through; anything else (a codec, yauzl, tar-stream) becomes one clear line. */
function explain(state: ReadState, error: unknown, what: string): PackageError {
  if (error instanceof PackageError) return error;
  return state.fail(`${what}: ${errorText(error)}`);
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function parseJsonObject(filename: string, member: string, bytes: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    throw new PackageError(filename, `${member} is not UTF-8`, REBUILD);
  }
  let value: unknown;
  try {
    value = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (error) {
    throw new PackageError(filename, `${member} is not valid JSON: ${errorText(error)}`, REBUILD);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new PackageError(filename, `${member} is not a JSON object`, REBUILD);
  return value as Record<string, unknown>;
}

function optionalJson(state: ReadState, relative: string): Record<string, unknown> | undefined {
  const member = state.info.get(relative);
  if (!member || member.kind !== 'file' || !member.data) return undefined;
  if (member.data.length > state.limits.maxMetadataBytes) throw state.fail(`info/${relative} is over the ${state.limits.maxMetadataBytes}-byte limit`);
  return parseJsonObject(state.filename, `info/${relative}`, member.data);
}

/** `source.url` / `source.git_url` of the recipe, as conda-index reads them (first recipe file found; errors ignored like it does). */
function recipeSource(state: ReadState): Record<string, unknown> {
  for (const candidate of ['recipe/meta.yaml', 'recipe/meta.yaml.rendered', 'meta.yaml']) {
    const member = state.info.get(candidate);
    if (!member || member.kind !== 'file' || !member.data) continue;
    if (member.data.length > state.limits.maxMetadataBytes) return {};
    try {
      const recipe: unknown = YAML.parse(member.data.toString('utf8'), { maxAliasCount: 100, strict: false, uniqueKeys: false, logLevel: 'silent' });
      const source = recipe && typeof recipe === 'object' ? (recipe as Record<string, unknown>).source : undefined;
      if (!source || typeof source !== 'object' || Array.isArray(source)) return {};
      const out: Record<string, unknown> = {};
      for (const key of ['url', 'git_url'] as const) {
        const value = (source as Record<string, unknown>)[key];
        if (value !== undefined && value !== null) out[`source_${key}`] = value;
      }
      return out;
    } catch {
      return {};
    }
  }
  return {};
}

/** about.json fields conda-index carries into channeldata.json (icons excluded: we do not store them). */
export const CHANNEL_ABOUT_FIELDS = [
  'description',
  'dev_url',
  'doc_source_url',
  'doc_url',
  'home',
  'identifiers',
  'keywords',
  'license',
  'license_family',
  'recipe_origin',
  'source_git_url',
  'source_url',
  'summary',
  'tags',
] as const;

export const POST_INSTALL_FLAGS = ['binary_prefix', 'text_prefix', 'activate.d', 'deactivate.d', 'pre_link', 'post_link', 'pre_unlink'] as const;

/** conda-index's post-install flags from paths.json: prefix placeholders, activation and link scripts. */
function postInstallFlags(pathsJson: Record<string, unknown> | undefined): Record<string, boolean> {
  const flags: Record<string, boolean> = Object.fromEntries(POST_INSTALL_FLAGS.map((f) => [f, false]));
  const paths = pathsJson?.paths;
  if (!Array.isArray(paths)) return flags;
  for (const entry of paths) {
    if (!entry || typeof entry !== 'object') continue;
    const { prefix_placeholder: placeholder, file_mode: mode, _path: p } = entry as Record<string, unknown>;
    if (placeholder) {
      if (mode === 'binary') flags.binary_prefix = true;
      else if (mode === 'text') flags.text_prefix = true;
    }
    if (typeof p !== 'string') continue;
    if (p.startsWith('etc/conda/activate.d')) flags['activate.d'] = true;
    if (p.startsWith('etc/conda/deactivate.d')) flags['deactivate.d'] = true;
    // fnmatch '*/.*-pre-link.*' and friends: a hidden file named like .NAME-pre-link.sh in some directory.
    for (const [pattern, flag] of [['pre-link', 'pre_link'], ['post-link', 'post_link'], ['pre-unlink', 'pre_unlink']] as const) {
      if (new RegExp(`^.*/\\..*-${pattern}\\..*$`, 's').test(p)) flags[flag] = true;
    }
  }
  return flags;
}

function channelFields(about: Record<string, unknown> | undefined, source: Record<string, unknown>, flags: Record<string, boolean>): Record<string, unknown> {
  // conda-index's order: recipe first, about.json over it, then the flags.
  const out: Record<string, unknown> = { ...source };
  if (about) {
    for (const field of CHANNEL_ABOUT_FIELDS) if (about[field] !== undefined) out[field] = about[field];
  }
  Object.assign(out, flags);
  return out;
}
