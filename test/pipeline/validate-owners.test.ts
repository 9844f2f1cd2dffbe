import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { checkOwnership, ownersFilePath } from '../../packages/pipeline/src/identity/owners.ts';

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
