// The whole flow against a real registry, with real conda packages (test/fixtures) and generated ones:
// upload -> validate -> promote -> reindex; repodata records equal conda-index's for the same files, the +zst
// layer decodes to the same JSON, rattler solves against the published index, skopeo reads every package by
// digest; concurrent overlapping promotions plus concurrent reindexes end with a `latest` holding everything.
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { openStore, type Digest, type Store } from '@oci-channel/oci';
import { CondaMediaType, rattler } from '@oci-channel/conda';
import { promote, reindex, upload, validate, type ArtifactRef } from '@oci-channel/pipeline';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { hashLayoutBlobs, inspectRaw, skopeoCopy, skopeoReference } from '../harness/skopeo.ts';
import { buildPackage } from '../helpers/conda-builder.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures');
const HOTFIX = path.join(FIXTURES, 'conda-index/tests/index_hotfix_pkgs/osx-64');
const RATTLER_REPO = path.join(FIXTURES, 'rattler/test-data/test-server/repo/noarch');

let dir: string;
let registry: RunningRegistry;
let staging: Store;
let production: Store;
const stagingLocation = () => registry.location('e2e/staging');
const productionLocation = () => registry.location('e2e/production');

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'e2e-'));
  registry = await startRegistry();
  staging = openStore(stagingLocation());
  production = openStore(productionLocation());
});
afterAll(async () => {
  await staging.close();
  await production.close();
  await registry.stop();
  await rm(dir, { recursive: true, force: true });
});

function packagesIn(d: string): string[] {
  return readdirSync(d)
    .filter((f) => f.endsWith('.conda') || f.endsWith('.tar.bz2'))
    .map((f) => path.join(d, f));
}

async function latestRepodata(subdir: string): Promise<{ plain: Record<string, any>; zst: Record<string, any> }> {
  const repo = production.repository(`${subdir}/repodata.json`);
  const manifest = JSON.parse(Buffer.from((await repo.fetchManifest('latest')).bytes).toString());
  const read = async (mediaType: string) => {
    const layer = manifest.layers.find((l: { mediaType: string }) => l.mediaType === mediaType);
    expect(layer).toBeDefined();
    const chunks: Buffer[] = [];
    for await (const c of await repo.fetchBlob(layer.digest as Digest, layer.size)) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };
  const plain = JSON.parse((await read(CondaMediaType.Repodata)).toString());
  const zst = JSON.parse(zlib.zstdDecompressSync(await read(CondaMediaType.RepodataZst)).toString());
  return { plain, zst };
}

async function publish(files: string[], label: string): Promise<ArtifactRef[]> {
  const uploaded = await upload({ to: staging, files });
  expect(uploaded.errors).toEqual([]);
  const refs = uploaded.artifacts.map((a) => ({ subdir: a.subdir, filename: a.filename, sha256: a.sha256 }));
  const validated = await validate({ staging, production, artifacts: refs });
  expect(validated.artifacts.filter((a) => a.verdict !== 'passed').map((a) => a.reason)).toEqual([]);
  const promoted = await promote({ staging, production, artifacts: refs });
  expect(promoted.artifacts.filter((a) => a.status !== 'promoted').map((a) => `${label}: ${a.reason}`)).toEqual([]);
  return refs;
}

const generated: string[] = [];

test('generated packages: upload -> validate -> promote -> reindex, then rattler solves against the index', async () => {
  const build = (spec: Parameters<typeof buildPackage>[1], format: 'conda' | 'tar.bz2' = 'conda') => buildPackage(path.join(dir, 'gen'), spec, format);
  generated.push(
    await build({ name: '_e2e_mutex', version: '1.0', build: 'main', subdir: 'linux-64' }),
    await build({ name: 'libe2e', version: '3.1+post', build: 'h0_0', subdir: 'linux-64', depends: ['_e2e_mutex 1.0 main'] }),
    await build({ name: 'libe2e', version: '3.1+post', build: 'h0_0', subdir: 'linux-64', depends: ['_e2e_mutex 1.0 main'] }, 'tar.bz2'),
    await build({ name: 'e2etool', version: '0.9', build: 'h1_0', subdir: 'linux-64', depends: ['libe2e >=3', 'e2e-data'] }),
    await build({ name: 'e2e-data', version: '1', build: 'pyh0_0', subdir: 'noarch', noarch: 'generic' }),
  );
  const refs = await publish(generated, 'generated');
  const out = path.join(dir, 'static');
  const indexed = await reindex({ channel: production, out, cacheDir: path.join(dir, 'cache1') });
  expect(indexed.ok).toBe(true);
  const { plain, zst } = await latestRepodata('linux-64');
  expect(zst).toEqual(plain);
  expect(Object.keys(plain.packages).sort()).toEqual(['libe2e-3.1+post-h0_0.tar.bz2']);
  expect(Object.keys(plain['packages.conda']).sort()).toEqual(['_e2e_mutex-1.0-main.conda', 'e2etool-0.9-h1_0.conda', 'libe2e-3.1+post-h0_0.conda']);
  for (const ref of refs.filter((r) => r.subdir === 'linux-64')) {
    const record = plain[ref.filename.endsWith('.conda') ? 'packages.conda' : 'packages'][ref.filename];
    expect(record.sha256).toBe(ref.sha256);
  }

  // Serve the static tree on loopback and solve.
  const server = http.createServer((req, res) => {
    const file = path.join(out, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    readFile(file).then(
      (data) => res.end(data),
      () => {
        res.statusCode = 404;
        res.end();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const solution = await rattler().simpleSolve(['e2etool'], [url], ['linux-64', 'noarch'], []);
    expect(solution.map((p) => `${p.packageName}=${p.version}`).sort()).toEqual(['_e2e_mutex=1.0', 'e2e-data=1', 'e2etool=0.9', 'libe2e=3.1+post']);
    const tool = solution.find((p) => p.packageName === 'e2etool');
    expect(tool?.sha256).toBe(refs.find((r) => r.filename === 'e2etool-0.9-h1_0.conda')?.sha256);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test('real packages: records equal conda-index\'s, skopeo reads each package by digest', async () => {
  const files = [...packagesIn(HOTFIX), ...packagesIn(RATTLER_REPO)];
  const refs = await publish(files, 'fixtures');
  const indexed = await reindex({ channel: production, cacheDir: path.join(dir, 'cache2') });
  expect(indexed.ok).toBe(true);

  const expectations: Array<[string, string]> = [
    ['osx-64', path.join(HOTFIX, 'repodata_from_packages.json')],
    ['noarch', path.join(RATTLER_REPO, 'repodata.json')],
  ];
  let compared = 0;
  for (const [subdir, file] of expectations) {
    const expected = JSON.parse(readFileSync(file, 'utf8'));
    const { plain, zst } = await latestRepodata(subdir);
    expect(zst).toEqual(plain);
    expect(plain.info.subdir).toBe(subdir);
    for (const key of ['packages', 'packages.conda'] as const) {
      for (const [filename, record] of Object.entries(expected[key] ?? {}) as Array<[string, Record<string, unknown>]>) {
        const ours = plain[key][filename];
        expect({ filename, ...ours }).toMatchObject({ filename, ...record });
        compared++;
      }
    }
  }
  expect(compared).toBeGreaterThanOrEqual(5);

  // skopeo, an independent client, reads each promoted package: the manifest as stored, and the package
  // layer (fetched by digest) hashes to the sha256 in repodata.
  const byTag = new Map<string, ArtifactRef[]>();
  for (const ref of refs) {
    const m = /^(.+)-([^-]+)-([^-]+)\.(conda|tar\.bz2)$/.exec(ref.filename)!;
    const key = `${ref.subdir}/${m[1]}:${m[2]}-${m[3]}`;
    byTag.set(key, [...(byTag.get(key) ?? []), ref]);
  }
  for (const [key, group] of byTag) {
    const [repository, tag] = key.split(':') as [string, string];
    const reference = skopeoReference(productionLocation(), repository, tag);
    const raw = await inspectRaw(reference);
    const manifest = JSON.parse(raw.toString());
    const layout = path.join(dir, 'skopeo', repository.replace(/\//g, '_'));
    await mkdir(path.dirname(layout), { recursive: true });
    await skopeoCopy(reference, `oci:${layout}:${tag}`);
    const blobs = await hashLayoutBlobs(layout);
    for (const ref of group) {
      const layer = manifest.layers.find((l: { annotations?: Record<string, string> }) => l.annotations?.['org.opencontainers.image.title'] === ref.filename);
      expect(layer?.digest).toBe(`sha256:${ref.sha256}`);
      expect(blobs.get(ref.sha256!)).toBe(ref.sha256);
    }
  }
});

test('concurrent overlapping promotions and concurrent reindexes: latest holds every artifact once', async () => {
  const files = [];
  for (let i = 0; i < 6; i++) {
    files.push(await buildPackage(path.join(dir, 'conc'), { name: `conc${i}`, version: '1.0', build: 'h0_0', subdir: i % 2 ? 'noarch' : 'linux-64', ...(i % 2 ? { noarch: 'generic' as const } : {}) }, 'conda'));
  }
  const uploaded = await upload({ to: staging, files });
  expect(uploaded.ok).toBe(true);
  const refs = uploaded.artifacts.map((a) => ({ subdir: a.subdir, filename: a.filename, sha256: a.sha256 }));
  const results = await Promise.all([promote({ staging, production, artifacts: refs.slice(0, 4) }), promote({ staging, production, artifacts: refs.slice(2) })]);
  for (const r of results) expect(r.artifacts.filter((a) => a.status !== 'promoted' && a.status !== 'already-promoted')).toEqual([]);
  const indexes = await Promise.all([
    reindex({ channel: productionLocation(), cacheDir: path.join(dir, 'cache-a') }),
    reindex({ channel: productionLocation(), cacheDir: path.join(dir, 'cache-b') }),
  ]);
  for (const r of indexes) expect(r.ok).toBe(true);
  for (const subdir of ['linux-64', 'noarch']) {
    const { plain } = await latestRepodata(subdir);
    const names = Object.keys(plain['packages.conda']);
    for (const ref of refs.filter((r) => r.subdir === subdir)) {
      expect(names.filter((n) => n === ref.filename)).toHaveLength(1);
      expect(plain['packages.conda'][ref.filename].sha256).toBe(ref.sha256);
    }
    // Earlier promotions are still there: latest never went back.
    if (subdir === 'linux-64') expect(names).toEqual(expect.arrayContaining(['e2etool-0.9-h1_0.conda', '_e2e_mutex-1.0-main.conda']));
  }
});
