// reindex against a real registry (distribution 2.8): cold, warm, incremental, cold cache, full, races,
// and the --out tree solved by rattler.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import { Readable } from 'node:stream';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { openStore, type Descriptor, type Repository, type Store } from '@oci-channel/oci';
import {
  decodeShard,
  decodeShardIndex,
  readPackage,
  recordFromPackage,
  zstdDecompress,
} from '@oci-channel/conda';
import { reindex } from '../../packages/pipeline/src/steps/reindex.ts';
import { countingStore } from '../../packages/pipeline/src/index/counting.ts';
import { IndexMediaType, PROMOTION_MARK, rewindMark } from '../../packages/pipeline/src/index/names.ts';
import { PROMOTION_ARTIFACT_TYPE, PROMOTION_LOG_REPOSITORY, PromotionAnnotation, promotionLogRepository, promotionLogTag } from '../../packages/pipeline/src/records/promotion-log.ts';
import { appendLogEntry } from '../../packages/pipeline/src/records/append-log.ts';
import { startProxy } from '../harness/proxy.ts';
import { inspectRaw, skopeoCopy, skopeoReference } from '../harness/skopeo.ts';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { makeConda, makeTarBz2, publishPackage } from '../helpers/channel.ts';

let registry: RunningRegistry;
let work: string;

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-reindex-'));
});
afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

let counter = 0;
/** A fresh channel path per test: tests share one registry without seeing each other. */
function channel(): { store: Store; location: string; cache: string } {
  counter++;
  const location = registry.location(`ch${counter}`);
  return { store: openStore(location), location, cache: path.join(work, `cache${counter}`) };
}

async function readBlob(repo: Repository, d: Descriptor): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await repo.fetchBlob(d.digest, d.size)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function latest(store: Store, subdir: string) {
  const repo = store.repository(`${subdir}/repodata.json`);
  const fetched = await repo.fetchManifest('latest');
  const manifest = JSON.parse(Buffer.from(fetched.bytes).toString()) as { config: Descriptor; layers: Descriptor[]; annotations: Record<string, string> };
  const layer = (type: string) => manifest.layers.find((l) => l.mediaType === type)!;
  const plain = await readBlob(repo, layer(IndexMediaType.Repodata));
  const plainShardIndex = await readBlob(repo, layer(IndexMediaType.ShardIndex));
  return { repo, manifest, digest: fetched.descriptor.digest, plain, repodata: JSON.parse(plain.toString()), layer, plainShardIndex };
}

async function pkgFile(spec: Parameters<typeof makeTarBz2>[1]): Promise<string> {
  return makeTarBz2(path.join(work, `pkgs${counter}`), spec);
}

describe('reindex', () => {
  it('indexes production into v0 repodata, shards, run_exports and channeldata, and a warm rerun pushes nothing', async () => {
    const { store, cache } = channel();
    const foo = await pkgFile({ name: 'foo', version: '1.0', runExports: { weak: ['foo >=1.0'] }, about: { summary: 'Foo!', home: 'https://foo.example', license: 'MIT' } });
    const bar = await pkgFile({ name: '_bar', version: '2.0', build: 'h1_0', subdir: 'linux-64', depends: ['foo >=1'] });
    await publishPackage(store, foo);
    await publishPackage(store, bar);

    const first = await reindex({ channel: store, cacheDir: cache });
    expect(first.ok).toBe(true);
    expect(first.subdirs.map((s) => [s.subdir, s.packages, s.added])).toEqual([
      ['linux-64', 1, 1],
      ['noarch', 1, 1],
    ]);
    for (const s of first.subdirs) expect(s.tags).toEqual([expect.stringMatching(/^\d{4}\.\d{2}\.\d{2}\.\d{2}\.\d{2}\.\d{2}\.\d{3}$/), 'latest']);

    // v0 shape: empty config, plain + zst layers titled repodata.json; the records are conda-index's + indexed_timestamp.
    const noarch = await latest(store, 'noarch');
    expect(noarch.manifest.config).toEqual({ mediaType: 'application/vnd.unknown.config.v1+json', digest: expect.stringMatching(/^sha256:e3b0c442/), size: 0 });
    expect(noarch.manifest.layers.slice(0, 2).map((l) => [l.mediaType, l.annotations?.['org.opencontainers.image.title']])).toEqual([
      ['application/vnd.conda.repodata.v1+json', 'repodata.json'],
      ['application/vnd.conda.repodata.v1+json+zst', 'repodata.json'],
    ]);
    expect(noarch.manifest.annotations[PROMOTION_MARK]).toMatch(/^\d{17}-[0-9a-f]{16}$/);
    const zst = await readBlob(noarch.repo, noarch.layer(IndexMediaType.RepodataZst));
    expect(zstdDecompress(zst).equals(noarch.plain)).toBe(true);
    const fooInfo = await readPackage(foo);
    const record = noarch.repodata.packages['foo-1.0-0.tar.bz2'];
    const { indexed_timestamp: indexedAt, ...rest } = record;
    expect(rest).toEqual(recordFromPackage(fooInfo));
    expect(typeof indexedAt).toBe('number');
    expect(noarch.repodata.info).toEqual({ subdir: 'noarch' });

    // Shards: the index is a layer beside repodata.json; each shard is a blob of the same repository.
    const shardIndex = decodeShardIndex(await readBlob(noarch.repo, noarch.layer(IndexMediaType.ShardIndex)));
    expect(Object.keys(shardIndex.shards)).toEqual(['foo']);
    const hex = Buffer.from(shardIndex.shards.foo!).toString('hex');
    const shardStat = await noarch.repo.statBlob(`sha256:${hex}`);
    const shard = decodeShard(await readBlob(noarch.repo, shardStat!));
    expect(Buffer.from(shard.packages['foo-1.0-0.tar.bz2']!.sha256 as Uint8Array).toString('hex')).toBe(fooInfo.sha256);
    expect(shard.packages['foo-1.0-0.tar.bz2']!.run_exports).toEqual({ weak: ['foo >=1.0'] });
    // Every shard is referenced by a tagged manifest, so registry GC keeps it.
    const shardTags = (await noarch.repo.listTags()).filter((t) => t.startsWith('shards-'));
    const referenced = new Set<string>();
    for (const t of shardTags) {
      const m = JSON.parse(Buffer.from((await noarch.repo.fetchManifest(t)).bytes).toString()) as { layers: Descriptor[] };
      for (const l of m.layers) referenced.add(l.digest);
    }
    expect(referenced.has(`sha256:${hex}`)).toBe(true);

    const runExports = JSON.parse((await readBlob(noarch.repo, noarch.layer(IndexMediaType.RunExports))).toString());
    expect(runExports.packages['foo-1.0-0.tar.bz2']).toEqual({ run_exports: { weak: ['foo >=1.0'] } });

    const cdRepo = store.repository('channeldata.json');
    const cdManifest = JSON.parse(Buffer.from((await cdRepo.fetchManifest('latest')).bytes).toString()) as { layers: Descriptor[] };
    const channeldata = JSON.parse((await readBlob(cdRepo, cdManifest.layers[0]!)).toString());
    expect(channeldata.subdirs).toEqual(['linux-64', 'noarch']);
    expect(channeldata.packages.foo).toMatchObject({ summary: 'Foo!', home: 'https://foo.example', version: '1.0', subdirs: ['noarch'], run_exports: { '1.0': { weak: ['foo >=1.0'] } } });
    expect(channeldata.packages._bar.subdirs).toEqual(['linux-64']);

    // Underscore names live in zzz-prefixed repositories but keep their name in the index.
    const linux = await latest(store, 'linux-64');
    expect(Object.keys(linux.repodata.packages)).toEqual(['_bar-2.0-h1_0.tar.bz2']);

    // Warm, nothing new: no blob downloads, nothing pushed, same latest.
    const counted = countingStore(store);
    const warm = await reindex({ channel: counted.store, cacheDir: cache });
    expect(warm.ok).toBe(true);
    expect(warm.subdirs.every((s) => s.tags.length === 0)).toBe(true);
    expect(counted.calls.get('fetchBlob') ?? 0).toBe(0);
    expect(counted.calls.get('pushManifest') ?? 0).toBe(0);
    expect(counted.calls.get('pushBlob') ?? 0).toBe(0);
    expect(warm.requests).toBe(counted.count());
    expect((await latest(store, 'noarch')).digest).toBe(noarch.digest);
  });

  it('pushes manifests an independent client (skopeo) copies with every blob they reference', async () => {
    const { store, location, cache } = channel();
    await publishPackage(store, await pkgFile({ name: 'checked', version: '1.0', runExports: { weak: ['checked'] } }));
    await reindex({ channel: store, cacheDir: cache });
    const shardTag = (await store.repository('noarch/repodata.json').listTags()).find((t) => t.startsWith('shards-'))!;
    for (const [repository, tag] of [
      ['noarch/repodata.json', 'latest'],
      ['noarch/repodata.json', shardTag],
      ['channeldata.json', 'latest'],
    ] as const) {
      const dest = path.join(work, `skopeo${counter}-${repository.replace(/\W/g, '_')}-${tag}`);
      await skopeoCopy(skopeoReference(location, repository, tag), `oci:${dest}:${tag}`);
      const raw = await inspectRaw(skopeoReference(location, repository, tag));
      expect(createHash('sha256').update(raw).digest('hex')).toBe((await store.repository(repository).resolve(tag))!.digest.slice(7));
    }
  });

  it('costs work proportional to what was promoted, keeps indexed_timestamp, and resumes from latest with a cold cache', async () => {
    const { store, cache } = channel();
    for (let i = 0; i < 6; i++) await publishPackage(store, await pkgFile({ name: `p${i}`, version: '1.0' }));
    const first = await reindex({ channel: store, cacheDir: cache });
    expect(first.subdirs.find((s) => s.subdir === 'noarch')?.added).toBe(6);
    const before = (await latest(store, 'noarch')).repodata;

    const one = await publishPackage(store, await pkgFile({ name: 'q', version: '1.0' }));
    const counted = countingStore(store);
    const second = await reindex({ channel: counted.store, cacheDir: cache });
    expect(second.subdirs.find((s) => s.subdir === 'noarch')).toMatchObject({ packages: 7, added: 1 });
    // One new package: its log entry and its manifest (index.json rides in it) -- not the six others.
    expect(counted.calls.get('fetchBlob') ?? 0).toBe(0);
    expect(counted.calls.get('fetchManifest')).toBeLessThanOrEqual(4);
    // Pushes: the shard of the one new name (+ config), four repodata layers (+ config), channeldata (+ config):
    // no shard of the six other names.
    expect(counted.calls.get('pushBlob')).toBe(9);
    const after = (await latest(store, 'noarch')).repodata;
    for (const [file, rec] of Object.entries(before.packages)) expect(after.packages[file].indexed_timestamp).toBe((rec as { indexed_timestamp: number }).indexed_timestamp);
    expect(after.packages[one.filename]).toBeDefined();

    // A cold cache starts from the published latest + the log after its mark, not a listing of production.
    await publishPackage(store, await pkgFile({ name: 'r', version: '1.0' }));
    const cold = countingStore(store);
    const third = await reindex({ channel: cold.store, cacheDir: path.join(cache, 'elsewhere') });
    expect(third.ok).toBe(true);
    expect(third.subdirs.find((s) => s.subdir === 'noarch')).toMatchObject({ packages: 8, added: 1 });
    expect(cold.calls.get('listTags')).toBe(2); // the promotion and label logs only, no package repository
    const coldAfter = (await latest(store, 'noarch')).repodata;
    for (const [file, rec] of Object.entries(after.packages)) expect(coldAfter.packages[file].indexed_timestamp).toBe((rec as { indexed_timestamp: number }).indexed_timestamp);

    // --full lists production (finds a package that was never logged) and still keeps indexed_timestamp.
    await publishPackage(store, await pkgFile({ name: 'unlogged', version: '1.0' }), { log: false });
    const full = await reindex({ channel: store, cacheDir: cache, full: true });
    expect(full.subdirs.find((s) => s.subdir === 'noarch')).toMatchObject({ packages: 9, added: 1 });
    const fullAfter = (await latest(store, 'noarch')).repodata;
    expect(fullAfter.packages['unlogged-1.0-0.tar.bz2']).toBeDefined();
    for (const [file, rec] of Object.entries(coldAfter.packages)) expect(fullAfter.packages[file].indexed_timestamp).toBe((rec as { indexed_timestamp: number }).indexed_timestamp);
    // A full rebuild of an unchanged channel pushes nothing.
    const again = await reindex({ channel: store, cacheDir: path.join(cache, 'third'), full: true });
    expect(again.subdirs.every((s) => s.tags.length === 0)).toBe(true);
  });

  it('reads only the promotion log past its mark (last=), and the whole log where a registry refuses that', async () => {
    const proxy = await startProxy({ host: '127.0.0.1', port: registry.port });
    try {
      const { store, cache } = channel();
      const location = proxy.location(`ch${counter}`);
      const logLists = () => proxy.log.filter((e) => e.url.includes(`/${PROMOTION_LOG_REPOSITORY}/tags/list`)).map((e) => new URL(e.url, 'http://x').searchParams.get('last'));
      for (const name of ['a', 'b']) await publishPackage(store, await pkgFile({ name, version: '1.0' }));
      expect((await reindex({ channel: location, cacheDir: cache })).subdirs.find((s) => s.subdir === 'noarch')?.added).toBe(2);
      expect(logLists()).toEqual([null]); // a first index reads the whole log
      // ... and pushes the shards of a subdir without an index without asking for them first.
      const shardDigests = Object.values(decodeShardIndex((await latest(store, 'noarch')).plainShardIndex).shards).map((d) => `sha256:${Buffer.from(d).toString('hex')}`);
      expect(shardDigests.length).toBe(2);
      const asked = proxy.log.filter((e) => e.method === 'HEAD' && e.url.includes('/blobs/')).map((e) => e.url.split('/').pop());
      expect(asked.filter((d) => shardDigests.includes(d!))).toEqual([]);
      const mark = (await store.repository(PROMOTION_LOG_REPOSITORY).listTags()).sort().at(-1)!;

      proxy.log.length = 0;
      await publishPackage(store, await pkgFile({ name: 'c', version: '1.0' }));
      expect((await reindex({ channel: location, cacheDir: cache })).subdirs.find((s) => s.subdir === 'noarch')).toMatchObject({ packages: 3, added: 1 });
      // Warm: only the tags after the mark, rewound by the window in which late entries still count.
      expect(logLists()).toEqual([rewindMark(mark)]);

      // A registry that answers 400 to a `last` naming no tag (Harbor): the whole log, and nothing is missed.
      proxy.log.length = 0;
      proxy.handler = (req) =>
        req.url.includes('/tags/list') && req.url.includes('last=')
          ? { respond: { status: 400, headers: { 'content-type': 'application/json' }, body: '{"errors":[{"code":"BAD_REQUEST","message":"the last should be a valid tag name"}]}' } }
          : undefined;
      await publishPackage(store, await pkgFile({ name: 'd', version: '1.0' }));
      const res = await reindex({ channel: location, cacheDir: cache });
      expect(res.ok).toBe(true);
      expect(res.subdirs.find((s) => s.subdir === 'noarch')).toMatchObject({ packages: 4, added: 1 });
      expect(logLists()).toEqual([expect.any(String), null]);
      expect(Object.keys((await latest(store, 'noarch')).repodata.packages).sort()).toEqual(['a-1.0-0.tar.bz2', 'b-1.0-0.tar.bz2', 'c-1.0-0.tar.bz2', 'd-1.0-0.tar.bz2']);
    } finally {
      await proxy.stop();
    }
  });

  it('picks up a promotion logged late with a timestamp before the mark', async () => {
    const { store, cache } = channel();
    await publishPackage(store, await pkgFile({ name: 'early', version: '1.0' }));
    await reindex({ channel: store, cacheDir: cache });
    // A slow promoter stamped its log tag five minutes ago but wrote it only now.
    const late = await publishPackage(store, await pkgFile({ name: 'late', version: '1.0' }), { at: new Date(Date.now() - 5 * 60_000) });
    const res = await reindex({ channel: store, cacheDir: cache });
    expect(res.subdirs.find((s) => s.subdir === 'noarch')).toMatchObject({ packages: 2, added: 1 });
    expect((await latest(store, 'noarch')).repodata.packages[late.filename]).toBeDefined();
  });

  it('indexes both formats of one build under one manifest', async () => {
    const { store, cache } = channel();
    const bz2 = await pkgFile({ name: 'dual', version: '1.0', runExports: { weak: ['dual >=1.0'] } });
    const conda = await makeConda(path.dirname(bz2), { name: 'dual', version: '1.0', runExports: { weak: ['dual >=1.0'] } });
    const first = await publishPackage(store, bz2);
    const second = await publishPackage(store, conda);
    expect(second.repository).toBe(first.repository);
    expect(second.manifestDigest).not.toBe(first.manifestDigest);
    const res = await reindex({ channel: store, cacheDir: cache, subdirs: ['noarch'] });
    expect(res.subdirs.map((s) => [s.subdir, s.packages, s.added])).toEqual([['noarch', 2, 2]]);
    const { repodata } = await latest(store, 'noarch');
    expect(Object.keys(repodata.packages)).toEqual(['dual-1.0-0.tar.bz2']);
    expect(Object.keys(repodata['packages.conda'])).toEqual(['dual-1.0-0.conda']);
    expect(repodata['packages.conda']['dual-1.0-0.conda'].sha256).toBe((await readPackage(conda)).sha256);
    // A run restricted to some subdirs leaves channeldata alone.
    await expect(store.repository('channeldata.json').resolve('latest')).resolves.toBeUndefined();
  });

  it('two reindexes at once end with a latest that has everything either knew', async () => {
    const { store, cache } = channel();
    await publishPackage(store, await pkgFile({ name: 'base', version: '1.0' }));
    await reindex({ channel: store, cacheDir: cache });
    const a = await publishPackage(store, await pkgFile({ name: 'from-a', version: '1.0' }));
    const b = await publishPackage(store, await pkgFile({ name: 'from-b', version: '1.0' }));
    const logTagOf = async (filename: string) => {
      const tags = await store.repository(PROMOTION_LOG_REPOSITORY).listTags();
      const key = createHash('sha256').update(`noarch/${filename}`).digest('hex').slice(0, 16);
      return tags.find((t) => t.endsWith(key))!;
    };
    // Each run saw the log before the other's promotion was written: it only knows its own package.
    const hiding = (hidden: string, gate?: Promise<unknown>): Store =>
      new Proxy(store, {
        get(target, prop) {
          if (prop !== 'repository') return (Reflect.get(target, prop) as (...a: unknown[]) => unknown).bind?.(target) ?? Reflect.get(target, prop);
          return (name: string) => {
            const repo = target.repository(name);
            return new Proxy(repo, {
              get(r, p) {
                const v = Reflect.get(r, p) as unknown;
                if (p === 'listTags' && name === PROMOTION_LOG_REPOSITORY) return async () => (await r.listTags()).filter((t) => t !== hidden);
                // Holds this run just before it moves latest, until the other run has finished.
                if (p === 'pushManifest' && gate && name === 'noarch/repodata.json') {
                  return async (bytes: Uint8Array, mediaType: string, tag?: string) => {
                    if (tag && tag !== 'latest' && !tag.startsWith('shards-')) await gate;
                    return r.pushManifest(bytes, mediaType, tag);
                  };
                }
                return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(r) : v;
              },
            });
          };
        },
      });
    const hideB = await logTagOf(b.filename);
    const hideA = await logTagOf(a.filename);
    let releaseB!: () => void;
    const aDone = new Promise<void>((resolve) => (releaseB = resolve));
    const [ra, rb] = await Promise.all([
      reindex({ channel: hiding(hideB), cacheDir: path.join(cache, 'a') }).finally(() => releaseB()),
      reindex({ channel: hiding(hideA, aDone), cacheDir: path.join(cache, 'b') }),
    ]);
    expect(ra.ok && rb.ok).toBe(true);
    const files = Object.keys((await latest(store, 'noarch')).repodata.packages).sort();
    expect(files).toEqual(['base-1.0-0.tar.bz2', 'from-a-1.0-0.tar.bz2', 'from-b-1.0-0.tar.bz2']);

    // Truly at the same time, several runs: everything ends up in latest.
    const more = [];
    for (let i = 0; i < 3; i++) more.push(await publishPackage(store, await pkgFile({ name: `race${i}`, version: '1.0' })));
    const messages: string[] = [];
    const runs = await Promise.all([0, 1, 2].map((i) => reindex({ channel: store, cacheDir: path.join(cache, `r${i}`), progress: (e) => messages.push(e.message) })));
    if (!runs.every((r) => r.ok)) console.log(messages.join('\n'));
    expect(runs.every((r) => r.ok)).toBe(true);
    const final = Object.keys((await latest(store, 'noarch')).repodata.packages);
    for (const p of more) expect(final).toContain(p.filename);
    expect(final).toHaveLength(6);
  });

  it('works without a registry catalog (ghcr.io): subdirs come from the log, then from channeldata.json', async () => {
    const proxy = await startProxy({ host: '127.0.0.1', port: registry.port });
    proxy.handler = (req) =>
      req.url.startsWith('/v2/_catalog') ? { respond: { status: 404, body: '{"errors":[{"code":"UNSUPPORTED"}]}', headers: { 'content-type': 'application/json' } } } : undefined;
    counter++;
    const store = openStore(proxy.location(`ch${counter}`));
    try {
      await publishPackage(store, await pkgFile({ name: 'tool', version: '1.0', subdir: 'osx-arm64' }));
      const first = await reindex({ channel: store, cacheDir: path.join(work, `nocat${counter}`) });
      expect(first.ok).toBe(true);
      expect(first.subdirs.map((s) => [s.subdir, s.packages])).toEqual([
        ['noarch', 0],
        ['osx-arm64', 1],
      ]);
      // A second machine with an empty cache: the subdir list comes from channeldata.json, the files from latest.
      const second = await reindex({ channel: store, cacheDir: path.join(work, `nocat${counter}b`) });
      expect(second.subdirs.map((s) => [s.subdir, s.packages, s.tags.length])).toEqual([
        ['noarch', 0, 0],
        ['osx-arm64', 1, 0],
      ]);
      expect(proxy.log.filter((l) => l.url.startsWith('/v2/_catalog')).length).toBeGreaterThan(0);
    } finally {
      await store.close();
      await proxy.stop();
    }
  });

  it('reports a package it cannot index, indexes the rest, and retries it next time', async () => {
    const { store, cache } = channel();
    const good = await publishPackage(store, await pkgFile({ name: 'good', version: '1.0' }));
    // A manifest whose package layer lost its md5 annotation (not something promote writes).
    const badFile = await pkgFile({ name: 'bad', version: '1.0' });
    const bad = await publishPackage(store, badFile, { log: false });
    const repo = store.repository(bad.repository);
    const manifest = JSON.parse(Buffer.from((await repo.fetchManifest(bad.tag)).bytes).toString()) as { layers: Descriptor[] };
    delete manifest.layers[0]!.annotations!['org.conda.md5'];
    const broken = await repo.pushManifest(Buffer.from(JSON.stringify(manifest)), 'application/vnd.oci.image.manifest.v1+json', bad.tag);
    const { appendPromotion } = await import('../../packages/pipeline/src/records/promotion-log.ts');
    await appendPromotion(store, { subdir: 'noarch', filename: bad.filename, repository: bad.repository, tag: bad.tag, manifestDigest: broken.digest });

    const res = await reindex({ channel: store, cacheDir: cache });
    expect(res.ok).toBe(false);
    expect(res.errors?.join('\n')).toMatch(/noarch\/bad-1\.0-0\.tar\.bz2 .*lacks the org\.conda\.md5 annotation/);
    expect(Object.keys((await latest(store, 'noarch')).repodata.packages)).toEqual([good.filename]);

    // The log mark stays before the failed entry: the next run tries it again instead of forgetting it.
    const again = await reindex({ channel: store, cacheDir: cache });
    expect(again.errors?.join('\n')).toMatch(/bad-1\.0-0\.tar\.bz2/);
    expect(again.subdirs.every((s) => s.tags.length === 0)).toBe(true);
  });

  it('reads a new package from its log entry when the entry carries its manifest, and fetches the manifest when the copy is not it', async () => {
    const proxy = await startProxy({ host: '127.0.0.1', port: registry.port });
    try {
      counter++;
      const store = openStore(proxy.location(`ch${counter}`));
      const cache = path.join(work, `cache${counter}`);
      const carried = await publishPackage(store, await pkgFile({ name: 'carried', version: '1.0' }));
      const older = await publishPackage(store, await pkgFile({ name: 'older', version: '1.0' }), { inlineManifest: false });
      // An entry whose copy is another package's manifest (edited by hand, or written by something else): its
      // sha256 is not the digest the entry names, so the reader must not take it.
      const real = await publishPackage(store, await pkgFile({ name: 'real', version: '1.0' }), { log: false });
      const decoy = (await store.repository(carried.repository).fetchManifest(carried.manifestDigest)).bytes;
      await appendLogEntry(
        promotionLogRepository(store),
        PROMOTION_ARTIFACT_TYPE,
        {
          [PromotionAnnotation.Subdir]: real.subdir,
          [PromotionAnnotation.Filename]: real.filename,
          [PromotionAnnotation.Repository]: real.repository,
          [PromotionAnnotation.Tag]: real.tag,
          [PromotionAnnotation.ManifestDigest]: real.manifestDigest,
          [PromotionAnnotation.PromotedAt]: new Date().toISOString(),
          [PromotionAnnotation.Manifest]: Buffer.from(decoy).toString('utf8'),
        },
        promotionLogTag(new Date(), real.subdir, real.filename),
      );
      proxy.log.length = 0;
      const result = await reindex({ channel: store, cacheDir: cache });
      expect(result.ok).toBe(true);
      const packageReads = proxy.log
        .filter((e) => e.method === 'GET' && /\/manifests\//.test(e.url) && !e.url.includes('/oci_channel/') && !e.url.includes('/repodata.json/'))
        .map((e) => e.url.replace(/^\/v2\/ch\d+\//, '').replace(/\/manifests\/.*$/, ''));
      // The entry that carries its manifest costs no read of it; the older entry and the edited one do.
      expect(packageReads.sort()).toEqual([older.repository, real.repository].sort());
      const { repodata } = await latest(store, 'noarch');
      const records = { ...repodata.packages, ...repodata['packages.conda'] } as Record<string, { name: string; sha256: string }>;
      expect(Object.keys(records).sort()).toEqual([carried.filename, older.filename, real.filename].sort());
      expect(records[real.filename]).toMatchObject({ name: 'real', sha256: real.sha256 });
      expect(records[carried.filename]).toMatchObject({ name: 'carried', sha256: carried.sha256 });
    } finally {
      await proxy.stop();
    }
  });

  it('rebuilds a latest it cannot read from the promotion log, saying so', async () => {
    const { store, cache } = channel();
    const pkg = await publishPackage(store, await pkgFile({ name: 'solid', version: '1.0' }));
    const repo = store.repository('noarch/repodata.json');
    const junk = Buffer.from('this is not json');
    const digest = `sha256:${createHash('sha256').update(junk).digest('hex')}` as const;
    await repo.pushBlob({ size: junk.length, replayable: true, open: () => (Readable.from([junk])) }, { digest, size: junk.length });
    await repo.pushBlob({ size: 0, replayable: true, open: () => Readable.from([]) }, { digest: 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', size: 0 });
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.unknown.config.v1+json', digest: 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', size: 0 },
      layers: [{ mediaType: 'application/vnd.conda.repodata.v1+json', digest, size: junk.length }],
    };
    await repo.pushManifest(Buffer.from(JSON.stringify(manifest)), 'application/vnd.oci.image.manifest.v1+json', 'latest');
    const res = await reindex({ channel: store, cacheDir: cache });
    expect(res.ok).toBe(false);
    expect(res.errors?.join('\n')).toMatch(/ignoring .*noarch\/repodata\.json:latest: repodata\.json of .* is not valid JSON/);
    expect(Object.keys((await latest(store, 'noarch')).repodata.packages)).toEqual([pkg.filename]);
    expect((await reindex({ channel: store, cacheDir: cache })).ok).toBe(true);
  });

  it('refuses a bad subdir and writes nothing', async () => {
    const { store, cache } = channel();
    await expect(reindex({ channel: store, cacheDir: cache, subdirs: ['Linux_64'] })).rejects.toThrow(/invalid subdir "Linux_64"/);
    await expect(store.repository('noarch/repodata.json').resolve('latest')).resolves.toBeUndefined();
  });

  it('writes a static tree that rattler solves from over http', async () => {
    const { store, cache } = channel();
    const lib = await pkgFile({ name: 'libz', version: '1.3', build: 'h0_0', subdir: 'linux-64' });
    const app = await pkgFile({ name: 'app', version: '2.0', depends: ['libz >=1.2'] });
    await publishPackage(store, lib);
    await publishPackage(store, app);
    const out = path.join(work, `tree${counter}`);
    const res = await reindex({ channel: store, cacheDir: cache, out });
    expect(res.ok).toBe(true);
    const repodata = JSON.parse(await readFile(path.join(out, 'noarch', 'repodata.json'), 'utf8'));
    expect(Object.keys(repodata.packages)).toEqual(['app-2.0-0.tar.bz2']);
    const served = await readFile(path.join(out, 'linux-64', 'libz-1.3-h0_0.tar.bz2'));
    expect(createHash('sha256').update(served).digest('hex')).toBe((await readPackage(lib)).sha256);
    for (const f of ['repodata.json.zst', 'repodata_shards.msgpack.zst', 'run_exports.json', 'index.html']) {
      await expect(readFile(path.join(out, 'noarch', f))).resolves.toBeInstanceOf(Buffer);
    }
    await expect(readFile(path.join(out, 'channeldata.json'), 'utf8')).resolves.toContain('"app"');

    const requested: string[] = [];
    const server = http.createServer(async (req, res) => {
      requested.push(req.url ?? '');
      const file = path.join(out, decodeURIComponent((req.url ?? '/').split('?')[0]!));
      if (!file.startsWith(out)) return void res.writeHead(403).end();
      try {
        res.end(await readFile(file));
      } catch {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const rattler = createRequire(import.meta.url)('@conda-org/rattler') as {
        simpleSolve(specs: string[], channels: string[], platforms: string[], locked: unknown[]): Promise<Array<{ packageName: string; url: string; sha256?: string }>>;
      };
      const solved = await rattler.simpleSolve(['app'], [`http://127.0.0.1:${port}/`], ['linux-64', 'noarch'], []);
      const byName = Object.fromEntries(solved.map((p) => [p.packageName, p]));
      expect(Object.keys(byName).sort()).toEqual(['app', 'libz']);
      expect(byName.libz!.sha256).toBe((await readPackage(lib)).sha256);
      // The package URL the solver got points into the tree and serves the exact file.
      const url = new URL(byName.libz!.url);
      expect(url.pathname).toBe('/linux-64/libz-1.3-h0_0.tar.bz2');
      expect(requested.some((r) => r.includes('repodata_shards.msgpack.zst') || r.includes('repodata.json'))).toBe(true);
    } finally {
      server.close();
    }
  });
});
