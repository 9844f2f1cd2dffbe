// Conformance against real packages and the index files other tools made from them (test/fixtures).
// Skips, and says so, when the fixtures are not there.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import tarStream from 'tar-stream';
import { PackageError, readPackage, recordFromPackage } from '@oci-channel/conda';
import { minimalInfo, rawConda, rawTarBz2, truncatedCopy, type TarMember } from '../helpers/conda-builder.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const describeFixtures = describe;

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(full)));
    else out.push(full);
  }
  return out.sort();
}

const isPackageFile = (f: string) => f.endsWith('.conda') || f.endsWith('.tar.bz2');
/** Archives in the fixtures that are not packages by name (conda-index uses them for other tests). */
const NOT_PACKAGES = new Set(['a.tar.bz2', 'b.tar.bz2', 'subfolder.tar.bz2', 'subfolder2.tar.bz2']);
/** rattler's sparse/ packages are hand-made: their index.json has no subdir. */
const needsSubdir = (f: string) => f.includes(`${path.sep}sparse${path.sep}`);

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'conda-conformance-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describeFixtures('real packages', () => {
  test('every package in the fixtures is read, with hashes equal to the file', async () => {
    const files = (await walk(FIXTURES)).filter(isPackageFile).filter((f) => !NOT_PACKAGES.has(path.basename(f)));
    expect(files.length).toBeGreaterThan(40);
    for (const file of files) {
      const pkg = await readPackage(file, needsSubdir(file) ? { subdir: 'noarch' } : {});
      const bytes = await readFile(file);
      expect([pkg.filename, pkg.sha256, pkg.md5, pkg.size]).toEqual([path.basename(file), createHash('sha256').update(bytes).digest('hex'), createHash('md5').update(bytes).digest('hex'), bytes.length]);
      expect(pkg.infoFiles).toContain('index.json');
    }
  });

  test('archives that are not packages are refused by name', async () => {
    for (const name of NOT_PACKAGES) {
      const file = path.join(FIXTURES, 'conda-index/tests/archives', name);
      expect(existsSync(file)).toBe(true);
      await expect(readPackage(file)).rejects.toThrow(/does not split into name, version and build/);
    }
  });

  test('records equal, field by field and in key order, the repodata.json conda-index made for the same files', async () => {
    const indexes = (await walk(FIXTURES)).filter((f) => /(^|\/)(repodata|repodata_from_packages)\.json$/.test(f));
    let compared = 0;
    for (const index of indexes) {
      const repodata = JSON.parse(await readFile(index, 'utf8')) as Record<string, Record<string, Record<string, unknown>>>;
      for (const key of ['packages', 'packages.conda']) {
        for (const [filename, expected] of Object.entries(repodata[key] ?? {})) {
          const file = path.join(path.dirname(index), filename);
          if (!existsSync(file)) continue;
          const record = recordFromPackage(await readPackage(file));
          expect({ file: `${index}:${filename}`, record }).toEqual({ file: `${index}:${filename}`, record: expected });
          expect(JSON.stringify(record)).toBe(JSON.stringify(expected));
          compared++;
        }
      }
    }
    // index_hotfix_pkgs/osx-64 (repodata + repodata_from_packages) and rattler's test-server repo at least.
    expect(compared).toBeGreaterThanOrEqual(9);
  });

  test('rattler sparse/ edge cases: zip64, symlinks and hard links, info-only, ./ prefixes', async () => {
    const sparse = path.join(FIXTURES, 'rattler/test-data/sparse');
    const read = async (name: string) => readPackage(path.join(sparse, name), { subdir: 'noarch' });
    expect((await read('zip64-test-1.0.0-0.conda')).name).toBe('zip64-test');
    expect((await read('symlink-test-1.0.0-0.conda')).name).toBe('symlink-test');
    expect((await read('info-only-1.0.0-0.conda')).infoFiles).toEqual(['index.json']);
    const dotslash = await read('dotslash-test-1.0.0-0.conda');
    expect(dotslash.infoFiles).toEqual(['index.json']);
    expect(dotslash.indexJson.name).toBe('dotslash-test');
    expect((await read('sparse-test-1.0.0-0.conda')).infoFiles).toEqual(['index.json', 'paths.json']);
    // Without a subdir to assume, the clear refusal.
    await expect(readPackage(path.join(sparse, 'info-only-1.0.0-0.conda'))).rejects.toThrow(/has no "subdir"/);
  });

  test('the .conda and .tar.bz2 of one build give the same info.tar.gz', async () => {
    const dirs = [path.join(FIXTURES, 'conda-index/tests/index_hotfix_pkgs/osx-64'), path.join(FIXTURES, 'conda-index/tests/archives')];
    let pairs = 0;
    for (const dir of dirs) {
      for (const name of (await readdir(dir)).filter((f) => f.endsWith('.conda'))) {
        const twin = path.join(dir, name.replace(/\.conda$/, '.tar.bz2'));
        if (!existsSync(twin)) continue;
        const a = await readPackage(path.join(dir, name));
        const b = await readPackage(twin);
        expect(Buffer.from(a.infoTarGz).equals(Buffer.from(b.infoTarGz))).toBe(true);
        pairs++;
      }
    }
    expect(pairs).toBeGreaterThanOrEqual(5);
  });

  test('corrupt fixtures (and truncated real packages) are refused with clear errors', async () => {
    const real = [
      path.join(FIXTURES, 'conda-index/tests/archives/conda-index-pkg-a-1.0-py27h5e241af_0.conda'),
      path.join(FIXTURES, 'conda-index/tests/archives/conda-index-pkg-a-1.0-py27h5e241af_0.tar.bz2'),
    ];
    for (const file of real) {
      // The shapes of conda-index's corrupt fixtures: a 16-byte stub, and an empty file.
      await expect(readPackage(await truncatedCopy(file, path.join(work, 'stub'), 16))).rejects.toThrow(/corrupt|truncated|not a readable/);
      await expect(readPackage(await truncatedCopy(file, path.join(work, 'empty'), 0))).rejects.toThrow(/the file is empty/);
    }
  });

  test("conda's tar_traversal tarballs, wrapped into packages, are refused", async () => {
    const dir = path.join(FIXTURES, 'conda/tests/data/tar_traversal');
    const tars = (await readdir(dir)).filter((f) => f.endsWith('.tar'));
    expect(tars.length).toBeGreaterThanOrEqual(8);
    for (const tar of tars) {
      const members = await tarMembers(path.join(dir, tar));
      const label = tar.replace(/\.tar$/, '').replace(/[^a-z0-9]/g, '');
      for (const format of ['conda', 'tar.bz2'] as const) {
        const filename = `trav-${label}-1.0-0.${format}`;
        const info = minimalInfo(filename);
        const file = format === 'conda' ? await rawConda(path.join(work, 'trav'), filename, { info, pkg: members }) : await rawTarBz2(path.join(work, 'trav'), filename, [...info, ...members]);
        await expect(readPackage(file)).rejects.toThrow(/unsafe archive member/);
      }
    }
  });
});

/** The members of a tar file exactly as written (names untouched). */
async function tarMembers(file: string): Promise<TarMember[]> {
  const extract = tarStream.extract();
  const members: TarMember[] = [];
  Readable.from([await readFile(file)]).pipe(extract as unknown as NodeJS.WritableStream);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    const { name, type, linkname } = entry.header;
    members.push({ name, type: type as TarMember['type'], data: Buffer.concat(chunks), ...(linkname ? { linkname } : {}) });
  }
  return members;
}
