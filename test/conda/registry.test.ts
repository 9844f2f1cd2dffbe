// The v0 layout against a real registry, read back by an independent client (skopeo).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CondaMediaType, PackageError, buildPackageManifest, describePackageManifest, encodeTag, packageRepository, readPackage, type PackageInfo } from '@oci-channel/conda';
import { MediaType, NotFoundError, openStore, sha256Digest, type ImageManifest, type Repository, type Store } from '@oci-channel/oci';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { buildPackage, minimalInfo, rawConda } from '../helpers/conda-builder.ts';

const run = promisify(execFile);

let registry: RunningRegistry | undefined;
let store: Store | undefined;
let dir: string;
let unavailable: string | undefined;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'conda-registry-'));
  registry = await startRegistry();
  try {
    store = openStore(registry.location('c'));
  } catch (error) {
    if (!/not implemented/i.test(String(error))) throw error;
    unavailable = String(error);
    console.warn(`conda registry test SKIPPED: the remote store is not there yet (${unavailable})`);
  }
});
afterAll(async () => {
  await store?.close();
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** What upload does, minimally: read, build the manifest (merging with the tag's), push blobs then the manifest. */
async function publish(file: string): Promise<{ pkg: PackageInfo; repo: Repository; tag: string }> {
  const pkg = await readPackage(file);
  const repo = store!.repository(packageRepository(pkg.subdir, pkg.name));
  const tag = encodeTag(pkg.version, pkg.build);
  let existing: ImageManifest | undefined;
  try {
    existing = JSON.parse(Buffer.from((await repo.fetchManifest(tag)).bytes).toString()) as ImageManifest;
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
  }
  const built = buildPackageManifest(pkg, existing ? { existing } : {});
  for (const blob of built.blobs) await repo.pushBlob(blob.source, { digest: blob.descriptor.digest, size: blob.descriptor.size });
  if (!built.unchanged) await repo.pushManifest(built.bytes, MediaType.ImageManifest, tag);
  return { pkg, repo, tag };
}

async function skopeo(...args: string[]): Promise<string> {
  const { stdout } = await run('skopeo', args, { maxBuffer: 64 * 2 ** 20 });
  return stdout;
}

test('a package pushed with the v0 layout reads back through skopeo, layer for layer', async () => {
  if (unavailable) return;
  const spec = { name: '_priv-lib', version: '2.0+cuda', build: 'h1_0', subdir: 'linux-64', payloadBytes: 100_000, runExports: { weak: ['_priv-lib >=2'] } };
  const bz2 = await publish(await buildPackage(path.join(dir, 'a'), spec, 'tar.bz2'));
  const conda = await publish(await buildPackage(path.join(dir, 'a'), spec, 'conda'));
  expect(conda.repo.name).toBe('c/linux-64/zzz_priv-lib');
  expect(conda.tag).toBe('2.0__p__cuda-h1_0');

  const ref = `docker://${registry!.host}/${conda.repo.name}:${conda.tag}`;
  const raw = JSON.parse(await skopeo('inspect', '--tls-verify=false', '--raw', ref)) as ImageManifest;
  const view = describePackageManifest(raw, ref);
  expect(view.packages.map((p) => p.filename)).toEqual([conda.pkg.filename, bz2.pkg.filename]);
  expect(raw.layers.map((l) => l.mediaType)).toEqual([CondaMediaType.PackageV2, CondaMediaType.PackageV1, CondaMediaType.InfoTarGz, CondaMediaType.IndexJson]);

  const out = path.join(dir, 'skopeo-out');
  await skopeo('copy', '--src-tls-verify=false', '--preserve-digests', ref, `dir:${out}`);
  const blob = (digest: string) => readFile(path.join(out, digest.slice('sha256:'.length)));
  for (const { pkg } of [conda, bz2]) {
    const layer = view.packages.find((p) => p.filename === pkg.filename)!;
    // The layer digest IS the file's sha256 (clients fetch it by the sha256 from repodata).
    expect(layer.descriptor.digest).toBe(`sha256:${pkg.sha256}`);
    expect((await blob(layer.descriptor.digest)).equals(await readFile(pkg.path))).toBe(true);
  }
  expect((await blob(view.infoTarGz.digest)).equals(Buffer.from(conda.pkg.infoTarGz))).toBe(true);
  expect((await blob(view.indexJson.digest)).equals(Buffer.from(conda.pkg.indexJsonBytes))).toBe(true);
  expect(sha256Digest(bz2.pkg.infoTarGz)).toBe(view.infoTarGz.digest);
  expect(view.runExports).toEqual({ weak: ['_priv-lib >=2'] });

  // Publishing the same file again changes nothing.
  const before = await conda.repo.resolve(conda.tag);
  await publish(conda.pkg.path);
  expect((await conda.repo.resolve(conda.tag))?.digest).toBe(before?.digest);
});

test('bad packages are refused with a clear error and nothing is published', async () => {
  if (unavailable) return;
  const evil = await rawConda(path.join(dir, 'evil'), 'evil-1.0-0.conda', { info: minimalInfo('evil-1.0-0.conda'), pkg: [{ name: '../../etc/cron.d/x', data: 'x' }] });
  await expect(publish(evil)).rejects.toThrow(/evil-1.0-0.conda: unsafe archive member: member "..\/..\/etc\/cron.d\/x" climbs out/);
  expect(await store!.repository('noarch/evil').listTags()).toEqual([]);

  // A different file under an existing name: refused, the published manifest stays as it was.
  const first = await publish(await buildPackage(path.join(dir, 'v1'), { name: 'same', version: '1', build: '0', noarch: 'generic', files: { a: '1' } }, 'conda'));
  const published = await first.repo.resolve(first.tag);
  const second = await buildPackage(path.join(dir, 'v2'), { name: 'same', version: '1', build: '0', noarch: 'generic', files: { a: '2' } }, 'conda');
  await expect(publish(second)).rejects.toThrow(PackageError);
  await expect(publish(second)).rejects.toThrow(/already holds a different same-1-0.conda/);
  expect((await first.repo.resolve(first.tag))?.digest).toBe(published?.digest);
  expect(await first.repo.listTags()).toEqual([first.tag]);
});
