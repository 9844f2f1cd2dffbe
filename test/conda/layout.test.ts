import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Annotation, CondaMediaType, PackageError, buildPackageManifest, describePackageManifest, readPackage, recordFromIndexJson, type PackageInfo } from '@oci-channel/conda';
import { EMPTY_SHA256, MediaType, sha256Digest, type ImageManifest } from '@oci-channel/oci';
import { buildPackage } from '../helpers/conda-builder.ts';

let dir: string;
let conda: PackageInfo;
let bz2: PackageInfo;
const created = new Date(Date.UTC(2024, 4, 6, 7, 8, 9));

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'conda-layout-'));
  const spec = {
    name: '_private-pkg',
    version: '1.0+local',
    build: 'h1_0',
    subdir: 'linux-64',
    runExports: { strong: ['_private-pkg >=1.0'] },
    files: { 'etc/conda/activate.d/x.sh': 'true', 'bin/.private-pkg-post-link.sh': 'true' },
    extraInfo: { 'about.json': JSON.stringify({ summary: 'S', description: 'D', home: 'H', dev_url: 'DV', license: 'MIT', license_family: 'MIT', icon_url: 'no' }) },
  };
  conda = await readPackage(await buildPackage(dir, spec, 'conda'));
  bz2 = await readPackage(await buildPackage(dir, spec, 'tar.bz2'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the package manifest', () => {
  test('v0 shape: empty config, package layer byte for byte, info.tar.gz, index.json, annotations', async () => {
    const built = buildPackageManifest(conda, { created, sourceUrl: 'https://github.com/o/r' });
    const m = built.manifest;
    expect(m.schemaVersion).toBe(2);
    expect(m.mediaType).toBe(MediaType.ImageManifest);
    expect(m.config).toEqual({ mediaType: 'application/vnd.unknown.config.v1+json', digest: EMPTY_SHA256, size: 0 });
    expect(m.layers.map((l) => l.mediaType)).toEqual([CondaMediaType.PackageV2, CondaMediaType.InfoTarGz, CondaMediaType.IndexJson]);
    const [pkgLayer, infoLayer, indexLayer] = m.layers;
    expect(pkgLayer).toEqual({
      mediaType: 'application/vnd.conda.package.v2',
      digest: `sha256:${conda.sha256}`,
      size: conda.size,
      annotations: { 'org.opencontainers.image.title': conda.filename, 'org.conda.md5': conda.md5, creationTime: '2024.05.06.07.08' },
    });
    expect(infoLayer!.digest).toBe(sha256Digest(conda.infoTarGz));
    expect(infoLayer!.annotations![Annotation.Title]).toBe('_private-pkg-1.0+local-h1_0/info.tar.gz');
    expect(indexLayer!.digest).toBe(sha256Digest(conda.indexJsonBytes));
    expect(indexLayer!.annotations![Annotation.Title]).toBe('_private-pkg-1.0+local-h1_0/info/index.json');
    // index.json also rides inline (OCI 1.1 `data`): the manifest alone holds the record reindex needs.
    expect(Buffer.from(indexLayer!.data!, 'base64').equals(Buffer.from(conda.indexJsonBytes))).toBe(true);
    expect(m.annotations).toMatchObject({
      'org.conda.package.name': '_private-pkg',
      'org.conda.package.version': '1.0+local',
      'org.conda.package.build': 'h1_0',
      'org.conda.package.subdir': 'linux-64',
      'org.conda.package.conda.sha256': conda.sha256,
      'org.conda.package.conda.md5': conda.md5,
      'org.conda.package.conda.size': String(conda.size),
      'org.opencontainers.image.created': '2024-05-06T07:08:09.000Z',
      'org.opencontainers.image.source': 'https://github.com/o/r',
    });
    expect(JSON.parse(m.annotations![Annotation.RunExports]!)).toEqual({ strong: ['_private-pkg >=1.0'] });
    const about = JSON.parse(m.annotations![Annotation.About]!);
    expect(about).toMatchObject({ summary: 'S', description: 'D', home: 'H', dev_url: 'DV', license: 'MIT', license_family: 'MIT', 'activate.d': true, post_link: true, binary_prefix: false });
    expect(about.icon_url).toBeUndefined();
    expect(JSON.parse(Buffer.from(built.bytes).toString())).toEqual(m);
    // Every blob to push, with a source whose bytes hash to its descriptor.
    expect(built.blobs.map((b) => b.descriptor.mediaType)).toEqual([CondaMediaType.Config, CondaMediaType.PackageV2, CondaMediaType.InfoTarGz, CondaMediaType.IndexJson]);
    for (const { descriptor, source } of built.blobs) {
      const chunks: Buffer[] = [];
      for await (const chunk of source.open(0)) chunks.push(chunk as Buffer);
      expect(sha256Digest(Buffer.concat(chunks))).toBe(descriptor.digest);
    }
    expect(sha256Digest(await readFile(conda.path))).toBe(`sha256:${conda.sha256}`);
  });

  test('the second format joins the first under one tag; both package layers stay', () => {
    const first = buildPackageManifest(bz2, { created, sourceUrl: 'https://github.com/o/r' });
    const merged = buildPackageManifest(conda, { created, existing: first.manifest });
    expect(merged.unchanged).toBe(false);
    expect(merged.manifest.layers.map((l) => l.mediaType)).toEqual([CondaMediaType.PackageV2, CondaMediaType.PackageV1, CondaMediaType.InfoTarGz, CondaMediaType.IndexJson]);
    expect(merged.manifest.annotations).toMatchObject({
      'org.conda.package.tar.bz2.sha256': bz2.sha256,
      'org.conda.package.conda.sha256': conda.sha256,
      'org.opencontainers.image.source': 'https://github.com/o/r',
    });
    // Only the new package (and the empty config) need pushing; the info layers are shared.
    expect(merged.blobs.map((b) => b.descriptor.mediaType)).toEqual([CondaMediaType.Config, CondaMediaType.PackageV2]);
    const view = describePackageManifest(merged.manifest);
    expect(view.packages.map((p) => [p.format, p.filename, p.sha256, p.md5, p.size])).toEqual([
      ['conda', conda.filename, conda.sha256, conda.md5, conda.size],
      ['tar.bz2', bz2.filename, bz2.sha256, bz2.md5, bz2.size],
    ]);
    expect(view).toMatchObject({ name: '_private-pkg', version: '1.0+local', build: 'h1_0', subdir: 'linux-64' });
    expect(view.runExports).toEqual({ strong: ['_private-pkg >=1.0'] });
    expect(view.about).toMatchObject({ summary: 'S' });
    // Publishing either file again changes nothing.
    const again = buildPackageManifest(bz2, { created: new Date(), existing: merged.manifest });
    expect(again.unchanged).toBe(true);
    expect(again.manifest).toBe(merged.manifest);
    expect(again.blobs).toEqual([]);
  });

  test('a different file of the same name, or another build, is refused', () => {
    const first = buildPackageManifest(conda, { created });
    const tampered: PackageInfo = { ...conda, sha256: 'f'.repeat(64) };
    expect(() => buildPackageManifest(tampered, { existing: first.manifest })).toThrow(/already holds a different _private-pkg-1.0\+local-h1_0.conda.*bump the build number/);
    const other: PackageInfo = { ...bz2, build: 'h2_0', filename: '_private-pkg-1.0+local-h2_0.tar.bz2' };
    expect(() => buildPackageManifest(other, { existing: first.manifest })).toThrow(PackageError);
    const otherInfo: PackageInfo = { ...bz2, infoTarGz: new Uint8Array([1, 2, 3]) };
    expect(() => buildPackageManifest(otherInfo, { existing: first.manifest })).toThrow(/info\/ files differ/);
  });
});

test('a huge description is dropped from the about annotation, the rest stays', () => {
  const big: PackageInfo = { ...conda, channelFields: { ...conda.channelFields, description: 'x'.repeat(100_000) } };
  const about = JSON.parse(buildPackageManifest(big, { created }).manifest.annotations![Annotation.About]!);
  expect(about.description).toBeUndefined();
  expect(about.summary).toBe('S');
});

describe('describePackageManifest', () => {
  const good = (): ImageManifest => structuredClone(buildPackageManifest(conda, { created }).manifest);

  test('accepts what conda-oci-mirror writes (no conda annotations at all)', () => {
    const m = good();
    delete m.annotations;
    const view = describePackageManifest(m);
    expect(view).toMatchObject({ name: '_private-pkg', version: '1.0+local', build: 'h1_0', subdir: '' });
    expect(view.runExports).toBeUndefined();
  });

  const breakers: Array<[string, (m: ImageManifest) => void, RegExp]> = [
    ['schema', (m) => ((m as { schemaVersion: number }).schemaVersion = 1), /schemaVersion/],
    ['index', (m) => ((m as { mediaType: string }).mediaType = MediaType.ImageIndex), /not an OCI image manifest/],
    ['config', (m) => (m.config.mediaType = 'application/vnd.oci.image.config.v1+json'), /config media type/],
    ['no package', (m) => (m.layers = m.layers.slice(1)), /no package layer/],
    ['no info', (m) => (m.layers = m.layers.filter((l) => l.mediaType !== CondaMediaType.InfoTarGz)), /no info.tar.gz/],
    ['no md5', (m) => delete m.layers[0]!.annotations![Annotation.Md5], /org.conda.md5/],
    ['no title', (m) => delete m.layers[1]!.annotations![Annotation.Title], /has no org.opencontainers.image.title/],
    ['bad title', (m) => (m.layers[0]!.annotations![Annotation.Title] = 'x.conda'), /package layer title/],
    ['wrong type', (m) => (m.layers[0]!.mediaType = CondaMediaType.PackageV1), /has media type/],
    ['other build', (m) => (m.layers[2]!.annotations![Annotation.Title] = 'x-1-0/info/index.json'), /names another build/],
    ['lying annotation', (m) => (m.annotations![Annotation.Version] = '9'), /annotation org.conda.package.version/],
    ['bad digest', (m) => (m.layers[0]!.digest = 'sha256:xyz' as never), /no valid digest/],
    ['extra layer', (m) => m.layers.push({ mediaType: 'text/plain', digest: EMPTY_SHA256, size: 0, annotations: { [Annotation.Title]: 'x' } }), /unexpected layer media type/],
    ['bad run_exports', (m) => (m.annotations![Annotation.RunExports] = '[1'), /run_exports is not a JSON object/],
    ['inline data not the blob', (m) => (m.layers[2]!.data = Buffer.from('{"name":"evil"}').toString('base64')), /carries data that is not its blob/],
    ['inline data not base64', (m) => (m.layers[2]!.data = '%%%'), /carries data that is not its blob/],
  ];
  test.each(breakers)('refuses: %s', (_label, breakIt, reason) => {
    const m = good();
    breakIt(m);
    expect(() => describePackageManifest(m, 'oci://r/c/linux-64/x:1')).toThrow(PackageError);
    expect(() => describePackageManifest(m, 'oci://r/c/linux-64/x:1')).toThrow(reason);
    expect(() => describePackageManifest(m, 'oci://r/c/linux-64/x:1')).toThrow(/^oci:\/\/r\/c\/linux-64\/x:1: not a conda v0 package manifest/);
  });
});

describe('records', () => {
  test('index.json minus the stripped fields, plus md5/sha256/size, keys sorted', () => {
    const record = recordFromIndexJson(
      { version: '1', name: 'a', arch: 'x86_64', platform: 'linux', build: '0', build_number: 0, has_prefix: true, binstar: {}, 'target-triplet': 'x', machine: 'm', operatingsystem: 'o', ucs: 4, mtime: 1, requires_features: {}, depends: [] },
      { sha256: 's', md5: 'm', size: 3 },
    );
    expect(Object.keys(record)).toEqual(['build', 'build_number', 'depends', 'md5', 'name', 'sha256', 'size', 'version']);
  });
});
