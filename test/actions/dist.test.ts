// dist/ must be what `npm run build` makes from the committed sources: rebuild into a temp dir and compare
// byte for byte, and require dist/ and the generated READMEs to have no uncommitted or untracked change.
import { afterAll, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ACTIONS, HELPERS } from '../../scripts/build-dist.ts';
import { NODE24, ROOT } from './run-action.ts';

const FIX = 'run `npm run build` and commit dist/ and actions/*/README.md';
let out: string | undefined;

afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

async function files(dir: string, base = dir): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const nested = await Promise.all(
    entries.map((e) => (e.isDirectory() ? files(path.join(dir, e.name), base) : Promise.resolve([path.relative(base, path.join(dir, e.name))]))),
  );
  return nested.flat().sort();
}

test('dist/ and the action READMEs match a fresh build and are committed', async () => {
  out = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-dist-'));
  const build = spawnSync(NODE24, [path.join(ROOT, 'scripts', 'build-dist.ts'), '--out', out], { cwd: ROOT, encoding: 'utf8' });
  expect(build.stderr.slice(-2000)).toBe('');
  expect(build.status).toBe(0);

  const fresh = await files(path.join(out, 'dist'));
  const current = await files(path.join(ROOT, 'dist'));
  expect(fresh).toEqual(expect.arrayContaining([...ACTIONS, ...Object.keys(HELPERS)].flatMap((a) => [`${a}/index.js`, `${a}/licenses.txt`, `${a}/package.json`])));
  expect(fresh).toContain('node_modules/@conda-org/rattler/dist/js_rattler_bg.wasm');
  const stale: string[] = [];
  for (const file of new Set([...fresh, ...current])) {
    const [a, b] = await Promise.all([readFile(path.join(out, 'dist', file)).catch(() => null), readFile(path.join(ROOT, 'dist', file)).catch(() => null)]);
    if (!a || !b || !a.equals(b)) stale.push(`dist/${file}`);
  }
  for (const name of ACTIONS) {
    const readme = `actions/${name}/README.md`;
    const [a, b] = await Promise.all([readFile(path.join(out, readme), 'utf8'), readFile(path.join(ROOT, readme), 'utf8').catch(() => '')]);
    if (a !== b) stale.push(readme);
  }
  expect({ stale, fix: stale.length ? FIX : '' }).toEqual({ stale: [], fix: '' });

  // What is on disk is also what is committed (untracked files count too).
  const status = spawnSync('git', ['status', '--porcelain', '--untracked-files=all', '--', 'dist', ...ACTIONS.map((a) => `actions/${a}/README.md`)], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  expect(status.status).toBe(0);
  expect({ uncommitted: status.stdout.trim().split('\n').filter(Boolean), fix: status.stdout.trim() ? FIX : '' }).toEqual({ uncommitted: [], fix: '' });
  // Five ncc builds: 60-90 s on an idle 2-core machine, more under load.
}, 600_000);
