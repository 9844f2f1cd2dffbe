// The mirror's small parts: package name globs (fnmatch), the status line (counts, bytes, rate, ETA) and what
// printed output keeps of a large result.
import { globToRegExp, MirrorProgress, patchLine, printedMirrorResult, type MirroredArtifact, type MirrorResult } from '@oci-channel/pipeline';
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

test('printed output of a large result: counts, at most N files with problems first, no patch instructions', () => {
  const artifact = (i: number, status: MirroredArtifact['status']): MirroredArtifact => ({ subdir: 'linux-64', filename: `p${String(i).padStart(4, '0')}-1-0.conda`, sha256: '', size: 1, status });
  const artifacts = Array.from({ length: 250 }, (_, i) => artifact(i, i === 200 || i === 240 ? 'refused' : 'mirrored'));
  const instructions = { patch_instructions_version: 1, packages: {}, 'packages.conda': { 'p0000-1-0.conda': { license: 'MIT' } }, remove: [], revoke: [] };
  const result: MirrorResult = {
    ok: false,
    artifacts,
    removedUpstream: [],
    patches: [{ subdir: 'linux-64', status: 'not-written', patched: 1, changed: 0, instructions, unrepresentable: [] }],
    subdirs: [{ subdir: 'linux-64', format: 'shards', selected: 250 }],
    summary: { selected: 250, mirrored: 248, alreadyThere: 0, refused: 2, failed: 0, removedUpstream: 0, bytes: 248 },
    errors: [],
  };
  const printed = printedMirrorResult(result, 100);
  expect(printed.artifacts).toHaveLength(100);
  expect(printed.artifacts.slice(0, 3).map((a) => `${a.status} ${a.filename}`)).toEqual(['refused p0200-1-0.conda', 'refused p0240-1-0.conda', 'mirrored p0000-1-0.conda']);
  expect(printed.artifactsNotListed).toBe(150);
  expect(printed.summary).toEqual(result.summary);
  expect(printed.patches).toEqual([{ subdir: 'linux-64', status: 'not-written', patched: 1, changed: 0, unrepresentable: [] }]);
  // The result itself is left whole.
  expect(result.artifacts).toHaveLength(250);
  expect(result.patches[0]!.instructions).toBe(instructions);

  expect(patchLine({ subdir: 'osx-64', status: 'written', patched: 4, changed: 1, records: 12, digest: 'sha256:x', unrepresentable: ['a-1-0.conda: version'] })).toBe(
    "osx-64: 4 record(s) compared differ from their package's, 1 difference(s) patches cannot express; patch instructions updated (1 entry changed, 12 record(s) patched)",
  );
  expect(patchLine(result.patches[0]!)).toBe("linux-64: 1 record(s) compared differ from their package's; patch instructions not written (staging, dry run or patches off)");
});
