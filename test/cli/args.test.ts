import { parseArtifactRef } from '../../packages/pipeline/src/core/artifact-ref.ts';
import { parseDuration } from '../../packages/cli/src/usage.ts';
import { table } from '../../packages/cli/src/output.ts';
import { redact } from '../../packages/cli/src/main.ts';

describe('artifact references', () => {
  test('SUBDIR/FILENAME with an optional sha256', () => {
    expect(parseArtifactRef('linux-64/zlib-1.3-h0_0.conda')).toEqual({ subdir: 'linux-64', filename: 'zlib-1.3-h0_0.conda' });
    const hex = 'a'.repeat(64);
    expect(parseArtifactRef(`noarch/x-1-0.tar.bz2@sha256:${hex}`)).toEqual({ subdir: 'noarch', filename: 'x-1-0.tar.bz2', sha256: hex });
  });
  test.each(['zlib-1.3-h0_0.conda', 'a/b/c.conda', 'linux-64/zlib.zip', `linux-64/x-1-0.conda@sha256:zz`, '/x-1-0.conda'])('refuses %s', (value) => {
    expect(() => parseArtifactRef(value)).toThrow(/invalid artifact .*expected SUBDIR\/FILENAME/);
  });
});

describe('durations', () => {
  test('units', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('1w')).toBe(604_800_000);
    expect(parseDuration('250')).toBe(250);
    expect(() => parseDuration('soon')).toThrow(/invalid duration/);
  });
});

describe('output', () => {
  test('tables pad columns', () => {
    expect(table(['A', 'LONG'], [['xyz', '1']])).toBe('A    LONG\n---  ----\nxyz  1\n');
  });
  test('secrets from the environment are scrubbed', () => {
    expect(redact('token s3cr3t-value here', ['s3cr3t-value'])).toBe('token *** here');
  });
});
