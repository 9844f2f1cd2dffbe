import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  InvalidReferenceError,
  locationOverlap,
  parseChannelLocation,
  parseDigest,
  parseLocation,
  parseRepositoryName,
  parseTag,
  repositoryName,
  sameOrNested,
} from '@oci-channel/oci';

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

describe('locations are normalised before they are compared', () => {
  test.each([
    ['oci://ghcr.io/conda-forge/staging', 'oci://GHCR.IO/conda-forge/staging/'],
    ['oci://ghcr.io/a/b', 'OCI://ghcr.io.:443/a//b'],
    ['oci://ghcr.io/a/b', 'oci://ghcr.io/a/./c/../b'],
    ['oci://ghcr.io/a/b', 'oci://ghcr.io/a%2Fb'],
    ['oci://ghcr.io/a/b', 'oci://ghcr.io/%61/b'],
    ['oci+http://127.0.0.1:5000/c', 'oci+http://localhost:5000/c'],
    ['oci+http://h/c', 'oci+http://h:80/c'],
    ['oci://h/c', 'oci+http://h/c'],
  ])('%s and %s are the same channel', (a, b) => {
    expect(locationOverlap(a, b)).toBe('same');
    expect(sameOrNested(b, a)).toBe(true);
  });
  test('nesting is by whole path components, both ways; other hosts, ports and kinds are apart', () => {
    expect(locationOverlap('oci://h/org/chan', 'oci://h/org/chan/staging')).toBe('first-contains-second');
    expect(locationOverlap('oci://h/org/chan/staging/', 'oci://H/org/chan')).toBe('second-contains-first');
    expect(sameOrNested('oci://h/org/chan', 'oci://h/org/channel')).toBe(false);
    expect(sameOrNested('oci://h/org/chan', 'oci://h:8443/org/chan')).toBe(false);
    expect(sameOrNested('oci://h/org/chan', 'oci://other/org/chan')).toBe(false);
    expect(sameOrNested('oci-layout:/tmp/org/chan', 'oci://h/tmp/org/chan')).toBe(false);
  });
  test('layout directories: relative spellings and symlinks resolve to the same place', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'overlap-'));
    try {
      mkdirSync(path.join(dir, 'real', 'prod'), { recursive: true });
      symlinkSync(path.join(dir, 'real'), path.join(dir, 'link'));
      expect(locationOverlap(`oci-layout:${dir}/real`, `oci-layout:${dir}/link/`)).toBe('same');
      expect(locationOverlap(`oci-layout:${dir}/real`, `oci-layout:${dir}/link/prod/../prod/new`)).toBe('first-contains-second');
      expect(locationOverlap(`oci-layout:${dir}/real/prod`, `oci-layout:${dir}/real/production`)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test('a path above the root or badly encoded is refused; a web address says what to write instead', () => {
    expect(() => parseLocation('oci://h/a/../../b')).toThrow(/climbs above the registry root/);
    expect(() => parseLocation('oci://h/%zz')).toThrow(InvalidReferenceError);
    expect(() => parseLocation('http://127.0.0.1:5000/c')).toThrow(/write oci\+http:\/\/127\.0\.0\.1:5000\/c for a registry over plain http/);
    expect(() => parseLocation('https://ghcr.io/o/c')).toThrow(/write oci:\/\/ghcr\.io\/o\/c for a registry/);
  });
  test('a channel names a path: a whole registry is refused', () => {
    expect(() => parseChannelLocation('oci://ghcr.io')).toThrow(/names a whole registry, not a channel; add the channel's path, e.g. oci:\/\/ghcr\.io\/my-org\/channel/);
    expect(() => parseChannelLocation('oci+http://127.0.0.1:5000/')).toThrow(/whole registry/);
    expect(parseChannelLocation('oci://ghcr.io/o/c')).toMatchObject({ path: 'o/c' });
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
