import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { PackageError, readPackage, recordFromPackage, type PackageInfo } from '@oci-channel/conda';
import { sha256Digest } from '@oci-channel/oci';
import {
  bombPackage,
  buildPackage,
  corruptedCopy,
  minimalInfo,
  rawConda,
  rawTarBz2,
  truncatedCopy,
  type PackageSpec,
} from '../helpers/conda-builder.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'conda-read-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
function sub(): string {
  return path.join(dir, String(counter++));
}

/** Expects a one-line PackageError naming the file, with `reason` matching. */
async function refused(file: string, reason: RegExp, options: Parameters<typeof readPackage>[1] = {}): Promise<PackageError> {
  let error: unknown;
  try {
    await readPackage(file, options);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(PackageError);
  const pe = error as PackageError;
  expect(pe.file).toBe(options.filename ?? path.basename(file));
  expect(pe.message.startsWith(`${pe.file}: `)).toBe(true);
  expect(pe.message).not.toMatch(/\n/);
  expect(pe.reason).toMatch(reason);
  return pe;
}

async function hashes(file: string) {
  const bytes = await readFile(file);
  return { sha256: createHash('sha256').update(bytes).digest('hex'), md5: createHash('md5').update(bytes).digest('hex'), size: bytes.length };
}

function untarNames(infoTarGz: Uint8Array): string[] {
  // ustar names at 512-byte headers; enough to list a small archive.
  const tar = gunzipSync(infoTarGz);
  const names: string[] = [];
  for (let offset = 0; offset + 512 <= tar.length; ) {
    const name = tar.subarray(offset, offset + 100).toString('utf8').replace(/\0.*$/s, '');
    if (!name) break;
    const size = parseInt(tar.subarray(offset + 124, offset + 136).toString('utf8').replace(/\0.*$/s, '').trim() || '0', 8);
    names.push(name);
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return names;
}

const spec: PackageSpec = {
  name: 'demo-pkg',
  version: '1.2.3',
  build: 'h0123abc_1',
  buildNumber: 1,
  subdir: 'linux-64',
  depends: ['libzlib >=1.3'],
  runExports: { weak: ['demo-pkg >=1.2.3,<2'] },
  license: 'MIT',
  files: { 'bin/demo': '#!/bin/sh\necho demo\n', 'lib/libdemo.so': new Uint8Array([1, 2, 3]) },
  payloadBytes: 300_000,
  extraInfo: { 'recipe/meta.yaml': 'package: {name: demo-pkg}\nsource:\n  url: https://example.invalid/demo.tar.gz\n' },
};

describe('reading packages the builder made', () => {
  const read: Partial<Record<'conda' | 'tar.bz2', PackageInfo>> = {};

  test.each(['conda', 'tar.bz2'] as const)('%s: hashes from one pass, metadata, info members', async (format) => {
    const file = await buildPackage(sub(), spec, format);
    const pkg = await readPackage(file);
    read[format] = pkg;
    expect({ sha256: pkg.sha256, md5: pkg.md5, size: pkg.size }).toEqual(await hashes(file));
    expect(pkg).toMatchObject({ name: 'demo-pkg', version: '1.2.3', build: 'h0123abc_1', subdir: 'linux-64', format, filename: path.basename(file), path: file });
    expect(pkg.indexJson).toMatchObject({ name: 'demo-pkg', build_number: 1, depends: ['libzlib >=1.3'] });
    expect(JSON.parse(Buffer.from(pkg.indexJsonBytes).toString())).toEqual(pkg.indexJson);
    expect(pkg.runExports).toEqual({ weak: ['demo-pkg >=1.2.3,<2'] });
    expect(pkg.aboutJson).toMatchObject({ license: 'MIT' });
    expect(pkg.channelFields).toMatchObject({ license: 'MIT', source_url: 'https://example.invalid/demo.tar.gz', binary_prefix: false, 'activate.d': false });
    expect(pkg.infoFiles).toEqual(['about.json', 'files', 'index.json', 'paths.json', 'recipe/meta.yaml', 'run_exports.json']);
    expect(untarNames(pkg.infoTarGz)).toEqual(pkg.infoFiles);
    expect(recordFromPackage(pkg)).toEqual({
      build: 'h0123abc_1',
      build_number: 1,
      depends: ['libzlib >=1.3'],
      license: 'MIT',
      md5: pkg.md5,
      name: 'demo-pkg',
      sha256: pkg.sha256,
      size: pkg.size,
      subdir: 'linux-64',
      timestamp: 1_700_000_000_000,
      version: '1.2.3',
    });
  });

  test('both formats of one build give the same info.tar.gz, and reading again gives the same bytes', async () => {
    expect(read.conda && read['tar.bz2']).toBeTruthy();
    expect(sha256Digest(read.conda!.infoTarGz)).toBe(sha256Digest(read['tar.bz2']!.infoTarGz));
    const again = await readPackage(read.conda!.path);
    expect(Buffer.from(again.infoTarGz).equals(Buffer.from(read.conda!.infoTarGz))).toBe(true);
    // gzip header: no name, mtime 0, fixed OS byte.
    const gz = Buffer.from(read.conda!.infoTarGz);
    expect(gz.readUInt32LE(4)).toBe(0);
    expect(gz[3]! & 0x08).toBe(0);
    expect(gz[9]).toBe(3);
  });

  test('the pure JavaScript bzip2 decoder gives the same result as the native one', async () => {
    const previous = process.env.OCI_CHANNEL_BZIP2;
    process.env.OCI_CHANNEL_BZIP2 = 'js';
    try {
      const pkg = await readPackage(read['tar.bz2']!.path);
      expect(pkg.sha256).toBe(read['tar.bz2']!.sha256);
      expect(sha256Digest(pkg.infoTarGz)).toBe(sha256Digest(read['tar.bz2']!.infoTarGz));
      const cut = await truncatedCopy(read['tar.bz2']!.path, sub(), Math.floor(read['tar.bz2']!.size / 2));
      await refused(cut, /bzip2 stream is corrupt or truncated|tar archive is corrupt or truncated/);
    } finally {
      if (previous === undefined) delete process.env.OCI_CHANNEL_BZIP2;
      else process.env.OCI_CHANNEL_BZIP2 = previous;
    }
  });

  test('a temp path is read under its real file name', async () => {
    const file = await buildPackage(sub(), { name: 'tmpname', version: '1', build: '0' }, 'conda', { filename: 'upload-1234.tmp.conda' });
    const pkg = await readPackage(file, { filename: 'tmpname-1-0.conda' });
    expect(pkg.filename).toBe('tmpname-1-0.conda');
    await refused(file, /the file name says tmpname 1 1 but info\/index.json says tmpname 1 0/, { filename: 'tmpname-1-1.conda' });
  });

  test('noarch packages, info-only .conda, zip64 .conda', async () => {
    const noarch = await readPackage(await buildPackage(sub(), { name: 'pure', version: '0.1', noarch: 'python' }, 'tar.bz2'));
    expect(noarch.subdir).toBe('noarch');
    const infoOnly = await rawConda(sub(), 'meta-1.0-0.conda', { info: minimalInfo('meta-1.0-0.conda') });
    expect((await readPackage(infoOnly)).infoFiles).toEqual(['index.json']);
    const zip64 = await rawConda(sub(), 'z64-1.0-0.conda', { info: minimalInfo('z64-1.0-0.conda'), pkg: [{ name: 'bin/x', data: 'x' }], zip64: true });
    expect((await readPackage(zip64)).name).toBe('z64');
  });
});

describe('refusing hostile or broken packages', () => {
  test('empty, garbage and truncated files', async () => {
    const d = sub();
    const empty = path.join(d, 'empty-1.0-0.conda');
    await rawTarBz2(d, 'x-1-0.tar.bz2', []); // creates d
    await writeFile(empty, '');
    await refused(empty, /the file is empty/);
    const garbage = path.join(d, 'garbage-1.0-0.tar.bz2');
    await writeFile(garbage, 'BZh91AY&SY this is not bzip2 data');
    await refused(garbage, /bzip2 stream is corrupt or truncated/);
    const notZip = path.join(d, 'notzip-1.0-0.conda');
    await writeFile(notZip, 'PK\x03\x04 not really a zip');
    await refused(notZip, /not a readable \.conda/);
    for (const format of ['conda', 'tar.bz2'] as const) {
      const file = await buildPackage(sub(), { name: 'cut', version: '1', payloadBytes: 200_000 }, format);
      const size = (await readFile(file)).length;
      await refused(await truncatedCopy(file, sub(), size - 100), format === 'conda' ? /not a readable \.conda/ : /corrupt or truncated/);
      await refused(await truncatedCopy(file, sub(), 16), format === 'conda' ? /not a readable \.conda/ : /corrupt or truncated/);
      await refused(await corruptedCopy(file, sub(), Math.floor(size * 0.6)), /corrupt/);
    }
  });

  test('index.json that lies, is missing, invalid, not UTF-8, or too large', async () => {
    const lying = await buildPackage(sub(), { name: 'honest', version: '1.0', build: '0', index: { name: 'other' } }, 'conda');
    await refused(lying, /file name says honest 1.0 0 but info\/index.json says other 1.0 0/);
    const lyingVersion = await buildPackage(sub(), { name: 'honest', version: '1.0', build: '0', index: { version: '2.0' } }, 'tar.bz2');
    await refused(lyingVersion, /info\/index.json says honest 2.0 0/);
    const noBuildNumber = await buildPackage(sub(), { name: 'nobn', version: '1.0', build: '0', index: { build_number: undefined } }, 'conda');
    await refused(noBuildNumber, /build_number/);
    const badSubdir = await buildPackage(sub(), { name: 'bad', version: '1.0', build: '0', subdir: 'Linux_64' }, 'conda');
    await refused(badSubdir, /not a conda subdir/);
    const noarchWrong = await buildPackage(sub(), { name: 'nw', version: '1.0', build: '0', noarch: 'python', subdir: 'linux-64' }, 'conda');
    await refused(noarchWrong, /noarch: python package must have subdir "noarch"/);
    const badDepends = await buildPackage(sub(), { name: 'bd', version: '1.0', build: '0', index: { depends: 'zlib' } }, 'conda');
    await refused(badDepends, /"depends" is not a list of strings/);
    const badVersion = await buildPackage(sub(), { name: 'bv', version: '1..0', build: '0' }, 'conda');
    await refused(badVersion, /rattler refuses version/);
    const upper = await rawConda(sub(), 'Upper-1.0-0.conda', { info: minimalInfo('Upper-1.0-0.conda') });
    await refused(upper, /breaks CEP 26/);

    const noIndex = await rawConda(sub(), 'noindex-1.0-0.conda', { info: [{ name: 'info/about.json', data: '{}' }] });
    await refused(noIndex, /no info\/index.json/);
    const noIndexBz2 = await rawTarBz2(sub(), 'noindex-1.0-0.tar.bz2', [{ name: 'bin/x', data: 'x' }]);
    await refused(noIndexBz2, /no info\/index.json/);
    const invalid = await rawConda(sub(), 'invalid-1.0-0.conda', { info: [{ name: 'info/index.json', data: '{"name": "invalid",' }] });
    await refused(invalid, /info\/index.json is not valid JSON/);
    const latin1 = await rawTarBz2(sub(), 'latin-1.0-0.tar.bz2', [{ name: 'info/index.json', data: Buffer.from('{"name": "latin", "x": "\xe9"}', 'latin1') }]);
    await refused(latin1, /info\/index.json is not UTF-8/);
    const badAbout = await rawConda(sub(), 'about-1.0-0.conda', { info: minimalInfo('about-1.0-0.conda', 'noarch', [{ name: 'info/about.json', data: '[1,' }]) });
    await refused(badAbout, /info\/about.json is not valid JSON/);
    const huge = await rawConda(sub(), 'huge-1.0-0.conda', { info: [{ name: 'info/index.json', data: `{"pad": "${'x'.repeat(5000)}"}` }] });
    await refused(huge, /info\/index.json has \d+ bytes, over the 4096-byte limit/, { limits: { maxIndexJsonBytes: 4096 } });
  });

  test('a subdir is derived for old packages, or taken from the caller', async () => {
    const old = await rawTarBz2(sub(), 'old-2.4.1-0.tar.bz2', [{ name: 'info/index.json', data: JSON.stringify({ name: 'old', version: '2.4.1', build: '0', build_number: 0, platform: 'osx', arch: 'x86_64' }) }]);
    expect((await readPackage(old)).subdir).toBe('osx-64');
    const bare = await rawConda(sub(), 'bare-1.0-0.conda', { info: [{ name: 'info/index.json', data: JSON.stringify({ name: 'bare', version: '1.0', build: '0', build_number: 0 }) }] });
    await refused(bare, /has no "subdir"/);
    expect((await readPackage(bare, { subdir: 'noarch' })).subdir).toBe('noarch');
  });

  test.each(['conda', 'tar.bz2'] as const)('%s: traversal, absolute paths, link escapes, duplicates, devices', async (format) => {
    const cases: Array<[string, Array<{ name: string; type?: 'file' | 'symlink' | 'link' | 'directory' | 'fifo'; data?: string; linkname?: string }>, RegExp]> = [
      ['relative', [{ name: '../moo', data: 'x' }], /climbs out with '\.\.'/],
      ['nested', [{ name: 'tmp/../../moo', data: 'x' }], /climbs out/],
      ['absolute', [{ name: '/tmp/moo', data: 'x' }], /absolute path/],
      ['winabs', [{ name: 'C:/Windows/moo', data: 'x' }], /absolute path/],
      ['backslash', [{ name: 'a\\..\\..\\moo', data: 'x' }], /climbs out/],
      ['abslink', [{ name: 'moo', type: 'symlink', linkname: '/etc/passwd' }], /points to the absolute path/],
      ['uplink', [{ name: 'lib/moo', type: 'symlink', linkname: '../../moo' }], /escapes the package/],
      ['chain', [{ name: 'cur', type: 'symlink', linkname: '.' }, { name: 'par', type: 'symlink', linkname: 'cur/..' }], /goes through another symlink/],
      ['through', [{ name: 'tmp', type: 'symlink', linkname: 'lib' }, { name: 'tmp/moo', data: 'x' }], /written through the symlink "tmp"/],
      ['dup', [{ name: 'bin/moo', data: 'a' }, { name: 'bin/moo', data: 'b' }], /appears twice/],
      ['dupdot', [{ name: 'bin/moo', data: 'a' }, { name: './bin/moo', data: 'b' }], /appears twice/],
      ['hardlink', [{ name: 'bin/moo', type: 'link', linkname: '../../etc/passwd' }], /climbs out|does not point to an earlier file/],
      ['fifo', [{ name: 'bin/pipe', type: 'fifo' }], /is a fifo/],
      ['infolink', [{ name: 'share/x', data: 'x' }, { name: 'info/LICENSE', type: 'symlink', linkname: '../share/x' }], /points outside info\//],
    ];
    for (const [label, members, reason] of cases) {
      const filename = `evil-${label}-1.0-0.${format}`;
      const info = minimalInfo(filename);
      // In a .conda, info/ members go to the info archive, the rest to the pkg archive.
      const infoMembers = members.filter((m) => m.name.startsWith('info/'));
      const pkgMembers = members.filter((m) => !m.name.startsWith('info/'));
      const file =
        format === 'conda'
          ? await rawConda(sub(), filename, { info: [...info, ...infoMembers], pkg: pkgMembers })
          : await rawTarBz2(sub(), filename, [...info, ...members]);
      const error = await refused(file, reason);
      expect(error.message).toMatch(/unsafe archive member/);
    }
  });

  test('a .conda keeps info and pkg apart and holds nothing else', async () => {
    const noInfo = await rawConda(sub(), 'noinfo-1.0-0.conda', { info: null, pkg: [{ name: 'bin/x', data: 'x' }] });
    await refused(noInfo, /no info-\*\.tar\.zst member/);
    const extra = await rawConda(sub(), 'extra-1.0-0.conda', { info: minimalInfo('extra-1.0-0.conda'), extra: [{ name: 'evil.sh', data: 'rm -rf /' }] });
    await refused(extra, /"evil.sh", which a \.conda does not have/);
    const twice = await rawConda(sub(), 'twice-1.0-0.conda', { info: minimalInfo('twice-1.0-0.conda'), extra: [{ name: 'metadata.json', data: '{}' }] });
    await refused(twice, /"metadata.json" twice/);
    const infoInPkg = await rawConda(sub(), 'iip-1.0-0.conda', { info: minimalInfo('iip-1.0-0.conda'), pkg: [{ name: 'info/index.json', data: '{}' }] });
    await refused(infoInPkg, /appears twice|belong in the info archive/);
    const pkgInInfo = await rawConda(sub(), 'pii-1.0-0.conda', { info: [...minimalInfo('pii-1.0-0.conda'), { name: 'bin/x', data: 'x' }] });
    await refused(pkgInInfo, /outside info\//);
    const badMeta = await rawConda(sub(), 'meta-1.0-0.conda', { info: minimalInfo('meta-1.0-0.conda'), metadata: '{"conda_pkg_format_version": 3}' });
    await refused(badMeta, /conda_pkg_format_version 3/);
  });

  test('bombs stop at the cap while streaming (bzip2, zstd, deflate in zip)', async () => {
    const limits = { maxUnpackedBytes: 8 * 2 ** 20 };
    const bz = await bombPackage(sub(), 'bomb-1.0-0.tar.bz2', 64 * 2 ** 20);
    const zst = await bombPackage(sub(), 'bomb-1.0-0.conda', 64 * 2 ** 20);
    const zip = await bombPackage(sub(), 'zbomb-1.0-0.conda', 64 * 2 ** 20, { compress: true });
    for (const file of [bz, zst, zip]) {
      expect((await readFile(file)).length).toBeLessThan(200_000);
      const error = await refused(file, /unpacks to more than 8388608 bytes/, { limits });
      expect(error.message).toMatch(/decompression bomb/);
    }
    // The ratio rule catches bombs under the absolute cap.
    await refused(zst, /unpacks to over 10 times its size/, { limits: { maxCompressionRatio: 10, ratioFloorBytes: 2 ** 20 } });
    // Info files are held in memory, so they have their own cap.
    const bigInfo = await rawConda(sub(), 'biginfo-1.0-0.conda', { info: minimalInfo('biginfo-1.0-0.conda', 'noarch', [{ name: 'info/paths.json', zeroBytes: 2 ** 20 }]) });
    await refused(bigInfo, /info\/ files are over the 65536-byte limit/, { limits: { maxInfoBytes: 65536 } });
  });
});

describe('metadataOnly (upload)', () => {
  test('a .conda gives the same metadata and hashes without walking its pkg member; checks of the zip and info stay', async () => {
    const file = await buildPackage(sub(), spec, 'conda');
    const full = await readPackage(file);
    const lean = await readPackage(file, { metadataOnly: true });
    expect(lean).toEqual(full);
    // A pkg member that is a zstd bomb is refused by the full read (validate) but not walked for upload.
    const bomb = await bombPackage(sub(), 'bomb-1.0-0.conda', 64 * 2 ** 20);
    const limits = { maxUnpackedBytes: 8 * 2 ** 20 };
    await refused(bomb, /unpacks to more than 8388608 bytes/, { limits });
    const skipped = await readPackage(bomb, { limits, metadataOnly: true });
    expect(skipped.sha256).toBe((await hashes(bomb)).sha256);
    // The zip layout and the info member are still checked.
    const extra = await rawConda(sub(), 'extra2-1.0-0.conda', { info: minimalInfo('extra2-1.0-0.conda'), extra: [{ name: 'evil.sh', data: 'x' }] });
    await refused(extra, /"evil.sh", which a \.conda does not have/, { metadataOnly: true });
    const pkgInInfo = await rawConda(sub(), 'pii2-1.0-0.conda', { info: [...minimalInfo('pii2-1.0-0.conda'), { name: 'bin/x', data: 'x' }] });
    await refused(pkgInInfo, /outside info\//, { metadataOnly: true });
  });

  test('a .tar.bz2 is still read in full', async () => {
    const bomb = await bombPackage(sub(), 'bomb2-1.0-0.tar.bz2', 64 * 2 ** 20);
    await refused(bomb, /unpacks to more than 8388608 bytes/, { limits: { maxUnpackedBytes: 8 * 2 ** 20 }, metadataOnly: true });
  });
});
