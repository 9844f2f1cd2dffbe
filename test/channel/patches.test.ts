// Repodata patches applied as conda-index applies them: conda-index's own hotfix test (its packages and the
// instructions its test_gen_patch_py generates), and the real conda-forge-repodata-patches-20180828-0 package
// applied to records crafted with the file names it patches and removes, checked record by record.
import { copyFile, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { readPackage, recordFromPackage } from '../../packages/conda/src/index.ts';
import { readPatchesPackage } from '../../packages/conda/src/patches-package.ts';
import {
  applyPatches,
  buildSubdirIndex,
  decodeShard,
  decodeShardIndex,
  parsePatchInstructions,
  PatchError,
  repodataJson,
  type ChannelRecord,
  type IndexedPackage,
  type PatchInstructions,
} from '../../packages/conda/src/channel/index.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/conda-index/tests');
const HOTFIX = path.join(FIXTURES, 'index_hotfix_pkgs/osx-64');
const PATCHES = path.join(FIXTURES, 'archives/conda-forge-repodata-patches-20180828-0.tar.bz2');

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-patches-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const byName = (packages: IndexedPackage[]) => Object.fromEntries(packages.map((p) => [p.filename, p.record]));

/** conda-index's rule for one record and one fix: keys replaced or added, lists replaced, null deletes a present key. */
function expectedRecord(record: Record<string, unknown>, fix: Record<string, unknown>): Record<string, unknown> {
  const out = { ...record };
  for (const [key, value] of Object.entries(fix)) {
    if (value === null && key in out) delete out[key];
    else out[key] = value;
  }
  return out;
}

describe('conda-index hotfix conformance (tests/index_hotfix_pkgs + test_gen_patch_py)', () => {
  it('patches both formats, revokes, removes and lists removals like conda-index', async () => {
    const files = ['hotfix_depends_test-1.0-dummy_0', 'remove_test-1.0-0', 'revoke_test-1.0-0', 'track_features_test-1.0-0'].flatMap((stem) => [`${stem}.tar.bz2`, `${stem}.conda`]);
    const packages: IndexedPackage[] = [];
    for (const f of files) packages.push({ filename: f, record: recordFromPackage(await readPackage(path.join(HOTFIX, f))) as ChannelRecord });
    // What conda-index's test generator returns for these packages.
    const instructions = parsePatchInstructions(
      {
        patch_instructions_version: 1,
        packages: {
          'track_features_test-1.0-0.tar.bz2': { track_features: null },
          'hotfix_depends_test-1.0-dummy_0.tar.bz2': { depends: ['zlib', 'dummy'], features: null },
        },
        revoke: ['revoke_test-1.0-0.tar.bz2'],
        remove: ['remove_test-1.0-0.tar.bz2'],
      },
      'test_gen_patch_py',
    );
    const patched = applyPatches(packages, [instructions]);
    const got = byName(patched.packages);
    for (const ext of ['.tar.bz2', '.conda']) {
      expect(got[`track_features_test-1.0-0${ext}`]).not.toHaveProperty('track_features');
      expect(got[`hotfix_depends_test-1.0-dummy_0${ext}`]).not.toHaveProperty('features');
      expect(got[`hotfix_depends_test-1.0-dummy_0${ext}`]!.depends).toEqual(['zlib', 'dummy']);
      expect(got[`revoke_test-1.0-0${ext}`]).toMatchObject({ revoked: true, depends: ['zlib', 'package_has_been_revoked'] });
      expect(got[`remove_test-1.0-0${ext}`]).toBeUndefined();
    }
    expect(patched.removed).toEqual(['remove_test-1.0-0.conda', 'remove_test-1.0-0.tar.bz2']);
    // Everything else is untouched, and the input records were not changed.
    const original = byName(packages);
    expect(got['track_features_test-1.0-0.tar.bz2']).toEqual(expectedRecord(original['track_features_test-1.0-0.tar.bz2']!, { track_features: null }));
    expect(original['track_features_test-1.0-0.tar.bz2']!.track_features).toBe('dummy');
    expect(original['revoke_test-1.0-0.conda']!.depends).toEqual(['zlib']);
    // Patched records carry a fingerprint (shards are keyed by it); unpatched ones are the same objects.
    expect(patched.packages.find((p) => p.filename === 'track_features_test-1.0-0.conda')!.patch).toMatch(/^[0-9a-f]{16}$/);

    // The repodata conda-index writes: removed sorted, the same serialization.
    const text = repodataJson('osx-64', patched.packages, { removed: patched.removed });
    const parsed = JSON.parse(text);
    expect(parsed.removed).toEqual(['remove_test-1.0-0.conda', 'remove_test-1.0-0.tar.bz2']);
    expect(Object.keys(parsed.packages).sort()).toEqual(['hotfix_depends_test-1.0-dummy_0.tar.bz2', 'revoke_test-1.0-0.tar.bz2', 'track_features_test-1.0-0.tar.bz2']);
  });
});

describe('the real conda-forge-repodata-patches-20180828-0 package', () => {
  let osx: PatchInstructions;
  beforeAll(async () => {
    const pkg = await readPatchesPackage(PATCHES);
    expect([...pkg.subdirs.keys()].sort()).toEqual(['linux-64', 'linux-armv7l', 'linux-ppc64le', 'noarch', 'osx-64', 'win-32', 'win-64']);
    expect(pkg.subdirs.get('noarch')!.instructions().remove).toEqual(['sendgrid-5.3.0-py_0.tar.bz2']);
    expect(pkg.subdirs.get('linux-armv7l')!.instructions()).toEqual({ patch_instructions_version: 1, packages: {}, 'packages.conda': {}, remove: [], revoke: [] });
    osx = pkg.subdirs.get('osx-64')!.instructions();
    expect(Object.keys(osx.packages)).toHaveLength(1259);
  });

  /** A record the way index.json + repodata would give it, for a file name the patches mention. */
  function crafted(filename: string, extra: Record<string, unknown> = {}): IndexedPackage {
    const stem = filename.replace(/\.(conda|tar\.bz2)$/, '');
    const [build, version] = [stem.slice(stem.lastIndexOf('-') + 1), stem.slice(0, stem.lastIndexOf('-')).split('-').at(-1)!];
    const name = stem.slice(0, stem.length - build.length - version.length - 2);
    return {
      filename,
      record: { name, version, build, build_number: 0, depends: ['python'], subdir: 'osx-64', md5: '0'.repeat(32), sha256: '1'.repeat(64), size: 1, ...extra },
    };
  }

  it('patches and removes the crafted files record by record as conda-index does', () => {
    const features = Object.keys(osx.packages).find((f) => osx.packages[f]!.features === null && !('depends' in osx.packages[f]!))!;
    const dependsAndFeatures = 'petsc-3.9.2-blas_openblash1308f21_3.tar.bz2';
    const depends = 'airflow-with-async-1.9.0-1.tar.bz2';
    const trackFeatures = 'blas-1.0-openblas.tar.bz2';
    const removedOne = 'cookiecutter-1.4.0-0.tar.bz2';
    const packages = [
      crafted(features, { features: 'blas_openblas' }),
      crafted(features.replace('.tar.bz2', '.conda')), // the .conda twin, without the key: gets `features: null`
      crafted(dependsAndFeatures, { features: 'blas_openblas' }),
      crafted(depends),
      crafted(depends.replace('.tar.bz2', '.conda')),
      crafted(trackFeatures, { track_features: 'blas_openblas' }),
      crafted(removedOne),
      crafted(removedOne.replace('.tar.bz2', '.conda')),
      crafted('untouched-1.0-0.tar.bz2'),
    ];
    const patched = applyPatches(packages, [osx]);
    const got = byName(patched.packages);

    // Every crafted record against the rule, with the fix conda-index takes for it (a .conda takes its .tar.bz2's).
    for (const pkg of packages) {
      const fix = osx.packages[pkg.filename.replace('.conda', '.tar.bz2')];
      if (osx.remove.includes(pkg.filename.replace('.conda', '.tar.bz2'))) {
        expect(got[pkg.filename]).toBeUndefined();
        continue;
      }
      expect({ file: pkg.filename, record: got[pkg.filename] }).toEqual({ file: pkg.filename, record: fix ? expectedRecord(pkg.record, fix) : pkg.record });
    }
    // The cases spelled out.
    expect(got[features]).not.toHaveProperty('features');
    expect(got[features.replace('.tar.bz2', '.conda')]!.features).toBeNull();
    expect(got[dependsAndFeatures]!.depends).toEqual(osx.packages[dependsAndFeatures]!.depends);
    expect(got[dependsAndFeatures]).not.toHaveProperty('features');
    expect(got[depends.replace('.tar.bz2', '.conda')]!.depends).toEqual(['airflow 1.9.0 py27_1', 'eventlet >=0.9.7', 'gevent >=0.13', 'greenlet >=0.4.9']);
    expect(got[trackFeatures]).not.toHaveProperty('track_features');
    expect(patched.removed).toEqual(['cookiecutter-1.4.0-0.conda', 'cookiecutter-1.4.0-0.tar.bz2']);
    expect(patched.packages.find((p) => p.filename === 'untouched-1.0-0.tar.bz2')).toBe(packages.at(-1));

    // The shards carry the patched records and, in the name's shard, what was removed.
    const built = buildSubdirIndex('osx-64', patched.packages, { createdAt: '2026-01-01T00:00:00Z', removed: patched.removed });
    const index = decodeShardIndex(built.shardIndex);
    expect(Object.keys(index.shards)).toContain('cookiecutter');
    const shardOf = (name: string) => decodeShard([...built.shards.values()].find((s) => s.name === name)!.bytes);
    expect(shardOf('cookiecutter')).toEqual({ packages: {}, 'packages.conda': {}, removed: ['cookiecutter-1.4.0-0.conda', 'cookiecutter-1.4.0-0.tar.bz2'] });
    expect(shardOf('airflow-with-async')['packages.conda'][depends.replace('.tar.bz2', '.conda')]!.depends).toEqual(osx.packages[depends]!.depends);
    // A shard is re-encoded when only its patch changed (same files, same sha256).
    const unpatched = buildSubdirIndex('osx-64', packages, { createdAt: '2026-01-01T00:00:00Z' });
    const again = buildSubdirIndex('osx-64', patched.packages, { createdAt: '2026-01-01T00:00:00Z', removed: patched.removed, previousShards: unpatched.shardKeys });
    const touched = [...new Set([...patched.packages.filter((p) => p.patch).map((p) => p.record.name), 'cookiecutter'])].sort();
    expect(touched).toHaveLength(5);
    expect([...again.shards.keys()].sort()).toEqual(touched);
    expect(again.shards.has('untouched')).toBe(false);
  });

  it('applies sets in order: a channel fix after the package, packages.conda after the .tar.bz2 twin fix', () => {
    const packages = [crafted('airflow-with-async-1.9.0-1.tar.bz2'), crafted('airflow-with-async-1.9.0-1.conda')];
    const channel = parsePatchInstructions({ 'packages.conda': { 'airflow-with-async-1.9.0-1.conda': { depends: ['airflow'], license: 'Apache-2.0' } }, revoke: ['airflow-with-async-1.9.0-1.conda'] }, 'channel');
    const got = byName(applyPatches(packages, [osx, channel]).packages);
    expect(got['airflow-with-async-1.9.0-1.tar.bz2']!.depends).toEqual(osx.packages['airflow-with-async-1.9.0-1.tar.bz2']!.depends);
    expect(got['airflow-with-async-1.9.0-1.conda']).toMatchObject({ depends: ['airflow', 'package_has_been_revoked'], license: 'Apache-2.0', revoked: true });
    expect(got['airflow-with-async-1.9.0-1.tar.bz2']).not.toHaveProperty('revoked');
  });
});

describe('refused patches', () => {
  it('an unknown version, a malformed shape or a fix to a field that says which file it is', () => {
    expect(() => parsePatchInstructions({ patch_instructions_version: 2 }, 'x.json')).toThrow(/x\.json has patch_instructions_version 2; only version 1 is known/);
    expect(() => parsePatchInstructions({ packages: [] }, 'x.json')).toThrow(PatchError);
    expect(() => parsePatchInstructions({ remove: 'a.conda' }, 'x.json')).toThrow(/"remove" is not a list of filenames/);
    expect(() => parsePatchInstructions({ packages: { 'a-1-0.tar.bz2': { sha256: '0'.repeat(64) } } }, 'x.json')).toThrow(/changes "sha256"/);
    expect(parsePatchInstructions({ patch_instructions_version: 0 }, 'x.json')).toEqual({ patch_instructions_version: 0, packages: {}, 'packages.conda': {}, remove: [], revoke: [] });
  });

  it('a corrupt package, one with an unknown version, and one with no instructions, each with a one-line reason', async () => {
    const truncated = path.join(work, 'conda-forge-repodata-patches-20180828-0.tar.bz2');
    await copyFile(PATCHES, truncated);
    await truncate(truncated, 4000);
    await expect(readPatchesPackage(truncated)).rejects.toThrow(/^patches package conda-forge-repodata-patches-20180828-0\.tar\.bz2: .*(corrupt|truncated)/);

    // The same package with osx-64's instructions claiming version 2.
    const tree = path.join(work, 'v2');
    execFileSync('mkdir', ['-p', tree]);
    execFileSync('tar', ['-xjf', PATCHES, '-C', tree]);
    const osx = JSON.parse(await readFile(path.join(tree, 'osx-64/patch_instructions.json'), 'utf8'));
    await writeFile(path.join(tree, 'osx-64/patch_instructions.json'), JSON.stringify({ ...osx, patch_instructions_version: 2 }));
    const index = JSON.parse(await readFile(path.join(tree, 'info/index.json'), 'utf8'));
    const repack = async (version: string, members: string[]) => {
      await writeFile(path.join(tree, 'info/index.json'), JSON.stringify({ ...index, version }));
      const file = path.join(work, `conda-forge-repodata-patches-${version}-0.tar.bz2`);
      execFileSync('tar', ['-cjf', file, '-C', tree, ...members]);
      return file;
    };
    const v2 = await repack('20990101', ['info', 'noarch', 'osx-64']);
    const error = await readPatchesPackage(v2).catch((e: Error) => e);
    expect(error).toBeInstanceOf(PatchError);
    expect((error as Error).message).toBe(
      'osx-64/patch_instructions.json of conda-forge-repodata-patches-20990101-0.tar.bz2 has patch_instructions_version 2; only version 1 is known (conda-index\'s), so it is refused',
    );

    const none = await repack('20990102', ['info']);
    await expect(readPatchesPackage(none)).rejects.toThrow(/holds no <subdir>\/patch_instructions\.json/);
  });
});

describe('CEP 15 base_url', () => {
  it('makes repodata_version 2 with info.base_url, and the shard index points there too', () => {
    const pkg: IndexedPackage = { filename: 'a-1-0.conda', record: { name: 'a', version: '1', build: '0', build_number: 0, md5: '0'.repeat(32), sha256: '1'.repeat(64), size: 1 } };
    const built = buildSubdirIndex('noarch', [pkg], { createdAt: '2026-01-01T00:00:00Z', baseUrl: '../../../noarch/' });
    const repodata = JSON.parse(built.repodataJson.toString());
    expect(repodata.info).toEqual({ base_url: '../../../noarch/', subdir: 'noarch' });
    expect(repodata.repodata_version).toBe(2);
    expect(built.repodataJson.toString()).toMatch(/^\{\n {2}"info": \{\n {4}"base_url": "\.\.\/\.\.\/\.\.\/noarch\/",\n {4}"subdir": "noarch"\n {2}\},/);
    expect(decodeShardIndex(built.shardIndex).info.base_url).toBe('../../../noarch/');
    expect(JSON.parse(buildSubdirIndex('noarch', [pkg], { createdAt: '2026-01-01T00:00:00Z' }).repodataJson.toString()).repodata_version).toBe(1);
  });
});
