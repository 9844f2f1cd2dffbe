import { InvalidReferenceError, parseDigest, parseLocation, parseRepositoryName, parseTag, repositoryName } from '@oci-channel/oci';

describe('locations', () => {
  test('oci:// is https, oci+http:// is http, oci-layout: is a directory', () => {
    expect(parseLocation('oci://ghcr.io/conda-forge/staging')).toEqual({ kind: 'registry', scheme: 'https', host: 'ghcr.io', path: 'conda-forge/staging' });
    expect(parseLocation('oci+http://127.0.0.1:5000/c')).toEqual({ kind: 'registry', scheme: 'http', host: '127.0.0.1:5000', path: 'c' });
    expect(parseLocation('oci-layout:/tmp/x')).toMatchObject({ kind: 'layout', dir: '/tmp/x' });
  });
  test.each(['http://ghcr.io/x', 'oci://', 'oci://ghcr.io/UPPER', 'oci://bad host/x', 'oci://h:99999/x', 'oci-layout:'])('refuses %s', (value) => {
    expect(() => parseLocation(value)).toThrow(InvalidReferenceError);
  });
  test('a location plus a relative name gives a validated repository', () => {
    expect(repositoryName(parseLocation('oci://h/chan'), 'linux-64/zlib')).toBe('chan/linux-64/zlib');
    expect(() => repositoryName(parseLocation('oci://h/chan'), '../x')).toThrow(/invalid repository name/);
  });
});

describe('grammar', () => {
  test('tags', () => {
    expect(parseTag('1.2.3-h0_0')).toBe('1.2.3-h0_0');
    expect(() => parseTag('.x')).toThrow(InvalidReferenceError);
    expect(() => parseTag('a'.repeat(129))).toThrow(/1-128/);
    expect(() => parseTag('1.0+x')).toThrow(InvalidReferenceError);
  });
  test('digests', () => {
    expect(parseDigest(`sha256:${'a'.repeat(64)}`)).toBe(`sha256:${'a'.repeat(64)}`);
    expect(() => parseDigest(`sha256:${'A'.repeat(64)}`)).toThrow(InvalidReferenceError);
    expect(() => parseDigest('sha256:../../etc/passwd')).toThrow(InvalidReferenceError);
  });
  test('names', () => {
    expect(parseRepositoryName('a/b-c/d__e')).toBe('a/b-c/d__e');
    for (const bad of ['A', 'a//b', '-a', 'a/', 'a/../b', 'x'.repeat(256)]) expect(() => parseRepositoryName(bad)).toThrow(InvalidReferenceError);
  });
});
