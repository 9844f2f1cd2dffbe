// A fresh clone runs its own tests: nothing in the tests, their harness or CI reads files from outside the
// repository (the team's shared reference folder beside the checkout exists only on our machines).
import { expect, test } from '@jest/globals';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');
// Spelled in pieces so this file does not match itself.
const OUTSIDE = [['..', 'shared'].join('/'), ['', 'work', 'shared'].join('/'), ['..', '..', 'shared'].join('/')];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (name === 'node_modules' || name === 'fixtures') return [];
    return statSync(full).isDirectory() ? files(full) : [full];
  });
}

test('no test, harness, CI script or test config mentions a folder outside the repository', () => {
  const scanned = [...files(path.join(ROOT, 'test')), ...files(path.join(ROOT, '.ci')), path.join(ROOT, 'jest.config.js'), path.join(ROOT, 'package.json')];
  expect(scanned.length).toBeGreaterThan(50);
  const offenders = scanned.filter((file) => OUTSIDE.some((needle) => readFileSync(file, 'utf8').includes(needle))).map((f) => path.relative(ROOT, f));
  expect(offenders).toEqual([]);
});

test('every fixture directory the tests use is in the repository, with its source and licence named', () => {
  const notice = readFileSync(path.join(ROOT, 'test', 'fixtures', 'NOTICE.md'), 'utf8');
  for (const dir of readdirSync(path.join(ROOT, 'test', 'fixtures')).filter((d) => statSync(path.join(ROOT, 'test', 'fixtures', d)).isDirectory())) {
    expect({ dir, named: notice.includes(dir) }).toEqual({ dir, named: true });
  }
  expect(notice).toMatch(/BSD 3-Clause/);
});
