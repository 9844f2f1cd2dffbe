// gc against a real registry: old staging artifacts (and their verdicts) go, young ones and production stay;
// where the registry has no catalog or DELETE (ghcr.io), the GitHub Packages API lists and deletes.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MediaType, openStore, type ImageManifest, type Store } from '@oci-channel/oci';
import { buildPackageManifest, readPackage } from '@oci-channel/conda';
import { gc } from '../../packages/pipeline/src/steps/gc.ts';
import { recordVerdict } from '../../packages/pipeline/src/records/verdict.ts';
import { startGithubApi, type FakeGithubApi } from '../harness/github-api.ts';
import { startProxy, type RunningProxy } from '../harness/proxy.ts';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { makeTarBz2, publishPackage, type Published } from '../helpers/channel.ts';

const HOUR = 3600_000;
let registry: RunningRegistry;
let work: string;

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-gc-'));
});
afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function stage(store: Store, name: string, ageMs: number, withVerdict = true): Promise<Published & { verdict?: string }> {
  const file = await makeTarBz2(path.join(work, 'pkgs'), { name, version: '1.0', subdir: 'linux-64' });
  const created = new Date(Date.now() - ageMs);
  const published = await publishPackage(store, file, { log: false, created });
  if (!withVerdict) return published;
  const repo = store.repository(published.repository);
  const subject = (await repo.resolve(published.tag))!;
  const verdict = await recordVerdict(repo, subject, {
    verdict: 'passed',
    checks: [{ name: 'sha256', ok: true }],
    validatedAt: created.toISOString(),
    subdir: 'linux-64',
    filename: published.filename,
    manifestDigest: subject.digest,
  });
  return { ...published, verdict: verdict.digest };
}

describe('gc', () => {
  it('dry-run lists old staging artifacts; a real run deletes them with their verdicts, keeping young ones and production', async () => {
    const staging = openStore(registry.location('one/staging'));
    const production = openStore(registry.location('one/prod'));
    const old = await stage(staging, 'old', 3 * HOUR);
    const young = await stage(staging, 'young', 10 * 60_000);
    const prodOld = await publishPackage(production, await makeTarBz2(path.join(work, 'pkgs'), { name: 'shipped', version: '1.0', subdir: 'linux-64' }), {
      created: new Date(Date.now() - 30 * HOUR),
    });
    // A manifest without a created annotation nor verdict: its age is unknown, so it stays.
    const file = await makeTarBz2(path.join(work, 'pkgs'), { name: 'ageless', version: '1.0', subdir: 'linux-64' });
    const built = buildPackageManifest(await readPackage(file));
    const ageless = structuredClone(built.manifest) as ImageManifest;
    delete ageless.annotations!['org.opencontainers.image.created'];
    const agelessRepo = staging.repository('linux-64/ageless');
    for (const blob of built.blobs) await agelessRepo.pushBlob(blob.source, { digest: blob.descriptor.digest, size: blob.descriptor.size });
    await agelessRepo.pushManifest(Buffer.from(JSON.stringify(ageless)), MediaType.ImageManifest, '1.0-0');

    const oldRepo = staging.repository(old.repository);
    const fallbackTag = `sha256-${old.manifestDigest.slice(7)}`;
    expect(await oldRepo.listTags()).toContain(fallbackTag);

    const dry = await gc({ channel: staging, olderThanMs: 2 * HOUR, dryRun: true });
    expect(dry.ok).toBe(true);
    // In the order they would go: the verdict, the referrers fallback index, the manifest.
    expect(dry.deleted.map((d) => [d.repository, d.tag, d.digest, d.dryRun])).toEqual([
      ['one/staging/linux-64/old', undefined, old.verdict, true],
      ['one/staging/linux-64/old', fallbackTag, expect.stringMatching(/^sha256:/), true],
      ['one/staging/linux-64/old', '1.0-0', old.manifestDigest, true],
    ]);
    expect(dry.deleted[2]!.ageMs).toBeGreaterThanOrEqual(3 * HOUR);
    expect(await oldRepo.resolve('1.0-0')).toBeDefined();

    const real = await gc({ channel: registry.location('one/staging'), olderThanMs: 2 * HOUR });
    expect(real.ok).toBe(true);
    expect(real.deleted.map((d) => [d.tag, d.digest, d.dryRun])).toEqual([
      [undefined, old.verdict, false],
      [fallbackTag, dry.deleted[1]!.digest, false],
      ['1.0-0', old.manifestDigest, false],
    ]);
    expect(await oldRepo.resolve('1.0-0')).toBeUndefined();
    expect(await oldRepo.resolve(old.verdict!)).toBeUndefined();
    expect(await oldRepo.listTags()).toEqual([]);
    expect(await staging.repository(young.repository).resolve('1.0-0')).toBeDefined();
    expect(await agelessRepo.resolve('1.0-0')).toBeDefined();
    expect((await production.repository(prodOld.repository).resolve('1.0-0'))?.digest).toBe(prodOld.manifestDigest);

    // Nothing left to do: a second run deletes nothing.
    expect((await gc({ channel: staging, olderThanMs: 2 * HOUR })).deleted).toEqual([]);
  });

  it('removes old verdicts left behind when promote deleted their staging manifest', async () => {
    const staging = openStore(registry.location('two/staging'));
    const promoted = await stage(staging, 'promoted', 3 * HOUR);
    const repo = staging.repository(promoted.repository);
    await repo.deleteManifest(promoted.manifestDigest as `sha256:${string}`);
    const fallbackTag = `sha256-${promoted.manifestDigest.slice(7)}`;
    expect(await repo.listTags()).toEqual([fallbackTag]);

    const dry = await gc({ channel: staging, olderThanMs: 2 * HOUR, dryRun: true });
    expect(dry.deleted.map((d) => [d.tag, d.digest])).toEqual([
      [undefined, promoted.verdict],
      [fallbackTag, expect.stringMatching(/^sha256:/)],
    ]);
    expect(await repo.listTags()).toEqual([fallbackTag]);
    // Younger than the cutoff: kept.
    expect((await gc({ channel: staging, olderThanMs: 4 * HOUR })).deleted).toEqual([]);

    const real = await gc({ channel: staging, olderThanMs: 2 * HOUR });
    expect(real.ok).toBe(true);
    expect(real.deleted).toHaveLength(2);
    expect(await repo.listTags()).toEqual([]);
    expect(await repo.resolve(promoted.verdict!)).toBeUndefined();
  });

  it('refuses a nonsense age before touching anything', async () => {
    await expect(gc({ channel: registry.location('one/staging'), olderThanMs: -1 })).rejects.toThrow(/invalid gc age -1/);
  });

  describe('where the registry has no catalog and no DELETE (like ghcr.io)', () => {
    let proxy: RunningProxy;
    let api: FakeGithubApi;
    beforeAll(async () => {
      proxy = await startProxy({ host: '127.0.0.1', port: registry.port });
      proxy.handler = (req) => {
        if (req.url.startsWith('/v2/_catalog')) return { respond: { status: 404, body: '{"errors":[{"code":"UNSUPPORTED"}]}', headers: { 'content-type': 'application/json' } } };
        if (req.method === 'DELETE') return { respond: { status: 405, body: '{"errors":[{"code":"UNSUPPORTED"}]}', headers: { 'content-type': 'application/json' } } };
        return undefined;
      };
      api = await startGithubApi({ token: 'gh-secret-token' });
    });
    afterAll(async () => {
      await proxy?.stop();
      await api?.stop();
    });

    it('lists and deletes through the GitHub Packages API', async () => {
      const staging = openStore(proxy.location('acme/staging'));
      const old = await stage(staging, 'gone', 5 * HOUR, false);
      const young = await stage(staging, 'fresh', 60_000, false);
      api.addPackage('acme', 'staging/linux-64/gone', [{ id: 11, name: old.manifestDigest, tags: ['1.0-0'], createdAt: new Date().toISOString() }]);
      api.addPackage('acme', 'staging/linux-64/fresh', [{ id: 12, name: young.manifestDigest, tags: ['1.0-0'], createdAt: new Date().toISOString() }]);
      api.addPackage('acme', 'elsewhere/linux-64/gone', [{ id: 13, name: old.manifestDigest, tags: ['1.0-0'], createdAt: new Date().toISOString() }]);

      const result = await gc({
        channel: staging,
        olderThanMs: 2 * HOUR,
        github: { token: 'gh-secret-token', apiUrl: api.url, owner: 'acme' },
      });
      expect(result.errors).toEqual([]);
      expect(result.deleted.map((d) => [d.repository, d.digest])).toEqual([['acme/staging/linux-64/gone', old.manifestDigest]]);
      // Its only version cannot be deleted on its own (GitHub refuses the last version): the package goes instead.
      expect(api.requests.filter((r) => r.method === 'DELETE').map((r) => r.path)).toEqual(['/orgs/acme/packages/container/staging%2Flinux-64%2Fgone']);
      expect(api.packages.get('acme')!.has('staging/linux-64/gone')).toBe(false);
      expect(api.packages.get('acme')!.get('staging/linux-64/fresh')).toHaveLength(1);
      expect(JSON.stringify(result)).not.toContain('gh-secret-token');
      await staging.close();
    });
  });
});
