import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fnmatchRegExp } from '../../packages/pipeline/src/core/fnmatch.ts';
import { checkOwnership, ownersFilePath, OWNERS_GLOBS_FILE } from '../../packages/pipeline/src/identity/owners.ts';

let root: string;

async function register(name: string, body: string): Promise<void> {
  const file = path.join(root, ownersFilePath(name));
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, body);
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'owners-'));
  await register('zlib', JSON.stringify({ feedstocks: ['zlib'] }));
  await register('r', JSON.stringify({ feedstocks: ['r-base'] }));
  await register('_libgcc_mutex', JSON.stringify({ feedstocks: ['ctng-compilers', 'gcc'] }));
  await register('broken', '{not json');
  await register('nolist', JSON.stringify({ owners: ['x'] }));
  await register('libllvm18', JSON.stringify({ feedstocks: ['llvm-legacy'] }));
  // The glob allow-list as conda-forge/feedstock-outputs keeps it (Python fnmatch patterns per feedstock).
  await writeFile(
    path.join(root, OWNERS_GLOBS_FILE),
    '# feedstock -> patterns\nllvmdev:\n- libllvm*\n- llvm-tools-*\ndav1d:\n- libdav1d[0123456789]\nm2-binary-packages:\n- m2-*\nmcpl:\n- "mcpl-?"\nnotglob:\n- "[!a-z]*"\n',
  );
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe('feedstock-outputs paths', () => {
  test('first three letters or digits of the lower-cased name, padded with z', () => {
    expect(ownersFilePath('zlib')).toBe('outputs/z/l/i/zlib.json');
    expect(ownersFilePath('r')).toBe('outputs/r/z/z/r.json');
    expect(ownersFilePath('_libgcc_mutex')).toBe('outputs/l/i/b/_libgcc_mutex.json');
    expect(ownersFilePath('py-2')).toBe('outputs/p/y/2/py-2.json');
  });
});

describe('ownership', () => {
  test('the owning feedstock passes, with or without the -feedstock suffix', async () => {
    expect((await checkOwnership(root, 'zlib', 'zlib')).ok).toBe(true);
    expect((await checkOwnership(root, 'zlib', 'zlib-feedstock')).ok).toBe(true);
    expect((await checkOwnership(root, '_libgcc_mutex', 'gcc')).ok).toBe(true);
  });
  test('another feedstock is refused, naming the owners', async () => {
    const check = await checkOwnership(root, 'zlib', 'evil');
    expect(check.ok).toBe(false);
    expect(check.detail).toMatch(/uploader evil does not own package name zlib \(owners: zlib\)/);
  });
  test('an unknown name is refused', async () => {
    const check = await checkOwnership(root, 'unknownpkg', 'zlib');
    expect(check.ok).toBe(false);
    expect(check.detail).toMatch(/not registered/);
  });
  test('broken files and a missing uploader are refused with a clear reason', async () => {
    expect((await checkOwnership(root, 'broken', 'x')).detail).toMatch(/not valid JSON/);
    expect((await checkOwnership(root, 'nolist', 'x')).detail).toMatch(/no "feedstocks" list/);
    expect((await checkOwnership(root, 'zlib', undefined)).detail).toMatch(/--uploader/);
    expect((await checkOwnership(root, '../etc', 'x')).ok).toBe(false);
  });
});

describe('glob patterns (feedstock_outputs_autoreg_allowlist.yml)', () => {
  test('a name matching a feedstock\'s pattern is owned by it, on top of the per-name files', async () => {
    expect(await checkOwnership(root, 'libllvm19', 'llvmdev')).toMatchObject({ ok: true, detail: `llvmdev owns libllvm19 (a pattern in ${OWNERS_GLOBS_FILE})` });
    expect((await checkOwnership(root, 'libllvm18', 'llvmdev')).ok).toBe(true);
    expect((await checkOwnership(root, 'libllvm18', 'llvm-legacy')).ok).toBe(true);
    expect((await checkOwnership(root, 'libdav1d7', 'dav1d')).ok).toBe(true);
    expect((await checkOwnership(root, 'm2-bash', 'm2-binary-packages-feedstock')).ok).toBe(true);
    expect(await checkOwnership(root, 'libllvm19', 'evil')).toMatchObject({ ok: false, detail: 'uploader evil does not own package name libllvm19 (owners: llvmdev)' });
  });
  test('fnmatch semantics: whole name, case-sensitive, ? one character, [seq] and [!seq]', async () => {
    expect((await checkOwnership(root, 'libdav1d', 'dav1d')).ok).toBe(false);
    expect((await checkOwnership(root, 'libdav1d10', 'dav1d')).ok).toBe(false);
    expect((await checkOwnership(root, 'mcpl-x', 'mcpl')).ok).toBe(true);
    expect((await checkOwnership(root, 'mcpl-xy', 'mcpl')).ok).toBe(false);
    expect((await checkOwnership(root, 'xlibllvm19', 'llvmdev')).ok).toBe(false);
    expect((await checkOwnership(root, '_private', 'notglob')).ok).toBe(true);
    expect(fnmatchRegExp('LIB*').test('libfoo')).toBe(false);
    expect(fnmatchRegExp('a.b+c').test('a.b+c')).toBe(true);
    expect(fnmatchRegExp('a.b').test('axb')).toBe(false);
    expect(fnmatchRegExp('[').test('[')).toBe(true);
  });
  test('a broken allow-list refuses with a clear reason instead of allowing', async () => {
    const other = await mkdtemp(path.join(os.tmpdir(), 'owners-bad-'));
    try {
      await writeFile(path.join(other, OWNERS_GLOBS_FILE), 'llvmdev: libllvm*\n');
      expect((await checkOwnership(other, 'libllvm19', 'llvmdev')).detail).toMatch(/entry of llvmdev is not a list of patterns/);
      await writeFile(path.join(other, OWNERS_GLOBS_FILE), 'x: [unclosed\n');
      expect((await checkOwnership(other, 'libllvm19', 'llvmdev')).detail).toMatch(/is not valid YAML/);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });
});
