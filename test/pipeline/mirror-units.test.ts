// The mirror's small parts: package name globs (fnmatch) and the status line (counts, bytes, rate, ETA).
import { globToRegExp, MirrorProgress } from '@oci-channel/pipeline';
import { openUpstream } from '../../packages/pipeline/src/upstream/index.ts';

test('globs match package names as fnmatch does', () => {
  const matches = (glob: string, names: string[]) => names.filter((n) => globToRegExp(glob).test(n));
  const names = ['numpy', 'numpy-base', 'numba', 'python', 'python_abi', '_libgcc_mutex', 'r-base', 'r.utils'];
  expect(matches('num*', names)).toEqual(['numpy', 'numpy-base', 'numba']);
  expect(matches('numpy', names)).toEqual(['numpy']);
  expect(matches('python?abi', names)).toEqual(['python_abi']);
  expect(matches('[_r]*', names)).toEqual(['_libgcc_mutex', 'r-base', 'r.utils']);
  expect(matches('[!nr_]*', names)).toEqual(['python', 'python_abi']);
  // Regex characters are literal: '.' is a dot, '+' a plus.
  expect(matches('r.*', names)).toEqual(['r.utils']);
  expect(globToRegExp('a+b').test('a+b')).toBe(true);
  expect(globToRegExp('a+b').test('aab')).toBe(false);
  expect(globToRegExp('[abc').test('[abc')).toBe(true);
});

test('the status line: packages and bytes done of the total, rate and ETA, at most once a second', () => {
  let now = 0;
  const lines: string[] = [];
  const progress = new MirrorProgress((line) => lines.push(line), { now: () => now });
  progress.plan(10, 100 * 1024 * 1024);
  progress.already(10 * 1024 * 1024); // 1 done, 90 MiB still to come
  expect(lines).toEqual(['1/10 packages (1 already there), 0 B of 90 MiB']);
  progress.fetched(30 * 1024 * 1024 - 1); // the clock starts at the first byte
  now = 500;
  progress.fetched(1); // too soon for another line
  expect(lines).toHaveLength(1);
  now = 3000;
  progress.done();
  progress.dropped('refused', 10 * 1024 * 1024, 0);
  progress.tick(true);
  expect(lines.at(-1)).toBe('3/10 packages (1 already there, 1 refused), 30 MiB of 80 MiB, 10 MiB/s, ETA 5 s');
  for (let i = 0; i < 7; i++) progress.done();
  progress.fetched(50 * 1024 * 1024);
  now = 8000;
  progress.tick(true);
  expect(lines.at(-1)).toBe('10/10 packages (1 already there, 1 refused), 80 MiB of 80 MiB, 10 MiB/s');
});

test('an upstream URL carrying credentials is refused without echoing them', () => {
  for (const url of ['https://user:s3cr3t-pass@conda.example/channel', 'https://conda.anaconda.org/t/ab-12345678secret/private-owner']) {
    let message = '';
    try {
      openUpstream(url);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/holds credentials/);
    expect(message).not.toMatch(/s3cr3t|12345678secret/);
  }
  // A public channel whose name merely starts with t is fine.
  expect(openUpstream('https://conda.example/t/').display).toBe('https://conda.example/t/');
});
