import { isTag } from '@oci-channel/oci';
import { createRequire } from 'node:module';
import { KNOWN_SUBDIRS, PackageError, decodeTag, encodeTag, isKnownSubdir, isValidSubdir, packageRepository, parsePackageFilename, subdirFromIndex } from '@oci-channel/conda';

describe('file names', () => {
  test('rsplit on "-" into name, version, build', () => {
    expect(parsePackageFilename('python-dateutil-2.9.0-pyhd8ed1ab_0.conda')).toEqual({
      name: 'python-dateutil',
      version: '2.9.0',
      build: 'pyhd8ed1ab_0',
      format: 'conda',
      filename: 'python-dateutil-2.9.0-pyhd8ed1ab_0.conda',
    });
    expect(parsePackageFilename('_libgcc_mutex-0.1-conda_forge.tar.bz2')).toMatchObject({ name: '_libgcc_mutex', format: 'tar.bz2' });
  });
  test.each(['a.tar.bz2', 'x-1.conda', 'pkg-1.0-0.zip', 'pkg-1.0-0.tar.gz', '-1.0-0.conda', 'a/b-1.0-0.conda', 'b-1.0-.conda'])('refuses %s with a one-line PackageError', (name) => {
    let error: unknown;
    try {
      parsePackageFilename(name);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PackageError);
    expect((error as PackageError).file).toBe(name);
    expect((error as Error).message).toMatch(/NAME-VERSION-BUILD/);
    expect((error as Error).message).not.toMatch(/\n/);
  });
});

describe('subdirs and repositories', () => {
  test('CEP 26 subdirs', () => {
    for (const ok of ['noarch', 'linux-64', 'osx-arm64', 'win-64', 'linux-aarch64', 'emscripten-wasm32', 'zos-z']) expect(isValidSubdir(ok)).toBe(true);
    for (const bad of ['', 'Linux-64', 'linux_64', 'linux', 'linux-64-x', '../x', 'noarch/']) expect(isValidSubdir(bad)).toBe(false);
  });
  test('subdir derived for old packages without one', () => {
    expect(subdirFromIndex({ platform: 'osx', arch: 'x86_64' })).toBe('osx-64');
    expect(subdirFromIndex({ platform: 'linux', arch: 'aarch64' })).toBe('linux-aarch64');
    expect(subdirFromIndex({ platform: 'win', arch: 'x86' })).toBe('win-32');
    expect(subdirFromIndex({ noarch: 'python', platform: null, arch: null })).toBe('noarch');
    expect(subdirFromIndex({})).toBeUndefined();
  });
  test('repository is <subdir>/<name>, names starting with _ get zzz', () => {
    expect(packageRepository('linux-64', '_libgcc_mutex')).toBe('linux-64/zzz_libgcc_mutex');
    expect(packageRepository('noarch', 'python-dateutil')).toBe('noarch/python-dateutil');
    expect(() => packageRepository('linux-64', 'Bad')).toThrow(PackageError);
    expect(() => packageRepository('linux/64', 'zlib')).toThrow(/not a conda subdir/);
  });
});

describe('tags', () => {
  test('the v0 encoding', () => {
    expect(encodeTag('1.0+cuda', 'h1_0')).toBe('1.0__p__cuda-h1_0');
    expect(encodeTag('1!2.0', 'py_0')).toBe('1__e__2.0-py_0');
    expect(encodeTag('2.0', 'a=b')).toBe('2.0-a__eq__b');
    expect(decodeTag('1.0__p__cuda-h1_0')).toEqual({ version: '1.0+cuda', build: 'h1_0' });
    expect(decodeTag('1__e__2.0-py_0')).toEqual({ version: '1!2.0', build: 'py_0' });
    expect(decodeTag('2.0-a__eq__b')).toEqual({ version: '2.0', build: 'a=b' });
    expect(decodeTag('latest')).toBeUndefined();
  });

  test('round-trips generated version/build strings (property loop)', () => {
    // A small deterministic generator: the same cases every run.
    let seed = 42;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    const versionChars = '0123456789abcz._+!';
    const buildChars = 'abcXYZ0189_.+';
    const pick = (chars: string, min: number, max: number) => {
      const n = min + (next() % (max - min + 1));
      let s = '';
      for (let i = 0; i < n; i++) s += chars[next() % chars.length];
      return s;
    };
    let fallbacks = 0;
    for (let i = 0; i < 2000; i++) {
      const version = pick(versionChars, 1, i % 10 === 0 ? 90 : 20);
      const build = pick(buildChars, 1, i % 10 === 0 ? 70 : 15);
      const tag = encodeTag(version, build);
      expect(isTag(tag)).toBe(true);
      expect(encodeTag(version, build)).toBe(tag);
      const decoded = decodeTag(tag);
      if (decoded) expect(decoded).toEqual({ version, build });
      else fallbacks++;
    }
    // Only the long ones (and ambiguous '__p__'-like runs) fall back.
    expect(fallbacks).toBeGreaterThan(0);
    expect(fallbacks).toBeLessThan(400);
  });

  test('the long-tag fallback is stable, valid, readable and distinct', () => {
    const version = `1.${'2'.repeat(130)}`;
    const tagA = encodeTag(version, 'h1234_0');
    const tagB = encodeTag(version, 'h1234_1');
    expect(tagA).toBe(encodeTag(version, 'h1234_0'));
    expect(tagA).not.toBe(tagB);
    for (const tag of [tagA, tagB]) {
      expect(isTag(tag)).toBe(true);
      expect(tag.length).toBeLessThanOrEqual(128);
      expect(tag.startsWith('1.222')).toBe(true);
      expect(tag).toMatch(/--[0-9a-f]{20}$/);
      expect(decodeTag(tag)).toBeUndefined();
    }
    // Pinned: changing the fallback would orphan published tags.
    expect(encodeTag('1.0', 'x'.repeat(130))).toBe(`1.0-${'x'.repeat(96)}--332fae643a464860ec8f`);
    expect(encodeTag(`1.0+${'2'.repeat(130)}`, 'h1_0')).toBe(`1.0__p__${'2'.repeat(92)}--d5cfda50876f9ec40eb4`);
    // A version that is ambiguous when decoded also falls back instead of decoding wrong.
    expect(decodeTag(encodeTag('1__p__2', '0'))).toBeUndefined();
  });
});

describe('known subdirs', () => {
  test('are the platforms of the rattler in use (without "unknown"), noarch included; a typo is not one', () => {
    const rattler = createRequire(import.meta.url)('@conda-org/rattler') as { platformNames: readonly string[] };
    expect([...KNOWN_SUBDIRS].sort()).toEqual(rattler.platformNames.filter((p) => p !== 'unknown').sort());
    expect(isKnownSubdir('linux-64')).toBe(true);
    expect(isKnownSubdir('noarch')).toBe(true);
    expect(isKnownSubdir('linux-46')).toBe(false);
    expect(isValidSubdir('linux-46')).toBe(true);
  });
});
