// Guards against mistakes that would lose data or publish nonsense, against a real registry: each is refused
// with an OptionsError saying what to do, and nothing is deleted or written.
//   promote/validate: staging and production that are one place (any spelling) or nested
//   validate/promote: an owners directory that does not exist (every ownership check would fail and be recorded)
//   gc: a production channel (promotion log or channel index)
//   reindex: an unknown subdir, a channel holding nothing; removing a subdir's index that should not be there
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openStore } from '@oci-channel/oci';
import { gc, OptionsError, promote, readPromotions, reindex, removeSubdirIndex, upload, validate, type UploadedArtifact } from '@oci-channel/pipeline';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { makeTarBz2, publishPackage } from '../helpers/channel.ts';
import { makePackage } from './pipeline-helpers.ts';

let dir: string;
let registry: RunningRegistry;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'guards-'));
  registry = await startRegistry();
});
afterAll(async () => {
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Every repository of the registry with its tags: what "nothing was written or deleted" is checked against. */
async function snapshot(): Promise<Record<string, string[]>> {
  const root = openStore(registry.url.replace(/^http:/, 'oci+http:'));
  try {
    const out: Record<string, string[]> = {};
    for (const name of (await root.listRepositories()).sort()) out[name] = (await root.repository(name).listTags()).sort();
    return out;
  } finally {
    await root.close();
  }
}

async function refused(run: () => Promise<unknown>, message: RegExp): Promise<void> {
  const error = await run().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OptionsError);
  expect((error as Error).message).toMatch(message);
  expect((error as Error).message).not.toMatch(/\n/);
}

describe('promote and validate refuse overlapping channels before touching anything', () => {
  let artifact: UploadedArtifact;
  const base = () => registry.location('same/chan');
  beforeAll(async () => {
    const file = await makePackage(path.join(dir, 'same'), { name: 'only-copy', version: '1.0', build: 'h0_0', subdir: 'linux-64', format: 'conda' });
    const up = await upload({ to: base(), files: [file] });
    expect(up.ok).toBe(true);
    artifact = up.artifacts[0]!;
  });

  test.each([
    ['the same string', (c: string) => c, /are the same channel/],
    ['a trailing slash', (c: string) => `${c}/`, /are the same channel/],
    ['another spelling (localhost, ./, %2F)', (c: string) => c.replace('127.0.0.1', 'localhost').replace('/same/chan', '/same/./x/../chan'), /are the same channel/],
    ['production inside staging', (c: string) => `${c}/production`, /production lies inside staging/],
    ['staging inside production', (c: string) => c.replace('/same/chan', '/same'), /staging lies inside production/],
  ])('%s', async (_what, production, message) => {
    const before = await snapshot();
    const refs = [{ subdir: 'linux-64', filename: artifact.filename, sha256: artifact.sha256 }];
    await refused(() => promote({ staging: base(), production: production(base()), artifacts: refs }), message);
    await refused(() => validate({ staging: base(), production: production(base()), artifacts: refs }), message);
    // Stores passed in are compared by their locations too.
    const a = openStore(base());
    const b = openStore(production(base()));
    try {
      await refused(() => promote({ staging: a, production: b, artifacts: refs }), message);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    // The only copy is still there, no verdict, no promotion log.
    expect(await snapshot()).toEqual(before);
    expect(before['same/chan/linux-64/only-copy']!.filter((t) => !t.startsWith('_uploading.'))).toEqual(['1.0-h0_0']);
  });

  test('an owners directory that does not exist is refused before any verdict is recorded', async () => {
    const before = await snapshot();
    const refs = [{ subdir: 'linux-64', filename: artifact.filename }];
    const owners = path.join(dir, 'no-such-checkout');
    await refused(() => validate({ staging: base(), production: registry.location('same/prod'), artifacts: refs, owners, uploader: 'x' }), /owners ".*no-such-checkout" is not a directory/);
    await refused(() => promote({ staging: base(), production: registry.location('same/prod'), artifacts: refs, owners, uploader: 'x' }), /is not a directory/);
    expect(await snapshot()).toEqual(before);
  });
});

describe('gc refuses a production channel', () => {
  test('a channel holding a promotion log, or only an index, is refused (dry run too); the override flag admits it', async () => {
    const work = path.join(dir, 'gc');
    const logged = openStore(registry.location('gcprod/channel'));
    const indexed = openStore(registry.location('gcindex/channel'));
    try {
      await publishPackage(logged, await makeTarBz2(work, { name: 'shipped', version: '1.0', subdir: 'linux-64' }), { created: new Date(Date.now() - 48 * 3600_000) });
      // Published without a log entry, then indexed from a listing: a channel index is the only mark.
      await publishPackage(indexed, await makeTarBz2(work, { name: 'listed', version: '1.0', subdir: 'linux-64' }), { log: false, created: new Date(Date.now() - 48 * 3600_000) });
      expect((await reindex({ channel: indexed, full: true })).ok).toBe(true);
      const before = await snapshot();

      await refused(() => gc({ channel: registry.location('gcprod/channel'), olderThanMs: 60_000 }), /holds a promotion log \(oci_channel\/promotions\): it is a production channel.*Nothing was deleted/);
      await refused(() => gc({ channel: registry.location('gcprod/channel'), olderThanMs: 60_000, dryRun: true }), /production channel/);
      await refused(() => gc({ channel: indexed, olderThanMs: 60_000 }), /holds a channel index \((channeldata\.json|linux-64\/repodata\.json)\)/);
      expect(await snapshot()).toEqual(before);

      // The explicit override: a dry run then lists what would go, and why.
      const dry = await gc({ channel: logged, olderThanMs: 60_000, dryRun: true, allowProduction: true });
      expect(dry.deleted).toEqual([expect.objectContaining({ repository: 'gcprod/channel/linux-64/shipped', tag: '1.0-0', dryRun: true, reason: "never promoted, 2 d old (limit 1 min)" })]);
      expect(await snapshot()).toEqual(before);
    } finally {
      await Promise.all([logged.close(), indexed.close()]);
    }
  });
});

describe('reindex refuses what would publish nonsense, and removes an index that should not be there', () => {
  const channel = () => registry.location('idx/channel');
  beforeAll(async () => {
    const store = openStore(channel());
    try {
      await publishPackage(store, await makeTarBz2(path.join(dir, 'idx'), { name: 'real', version: '1.0', subdir: 'linux-64' }));
    } finally {
      await store.close();
    }
  });

  test('an unknown subdir (a typo) and a channel holding nothing (a wrong path) write nothing', async () => {
    const before = await snapshot();
    await refused(() => reindex({ channel: channel(), subdirs: ['linux-46'] }), /unknown subdir "linux-46": conda and rattler know noarch, .*linux-64.*--allow-subdir linux-46/);
    await refused(() => reindex({ channel: registry.location('idx/chanel') }), /^nothing at oci\+http:\/\/127\.0\.0\.1:\d+\/idx\/chanel: it holds no packages and no promotion log; check the path/);
    await refused(() => reindex({ channel: registry.location('idx/chanel'), full: true }), /^nothing at/);
    expect(await snapshot()).toEqual(before);
    expect(Object.keys(before).filter((n) => n.startsWith('idx/chanel'))).toEqual([]);
  });

  test('--allow-subdir admits a new platform; --remove-subdir deletes its index and channeldata stops listing it', async () => {
    const first = await reindex({ channel: channel() });
    expect(first.ok).toBe(true);
    const made = await reindex({ channel: channel(), subdirs: ['linux-46'], allowSubdirs: ['linux-46'] });
    expect(made.subdirs).toEqual([expect.objectContaining({ subdir: 'linux-46', packages: 0 })]);
    // An unrestricted reindex now lists it in channeldata.json (this is what the mistake leaves behind).
    const cacheDir = path.join(dir, 'cache-idx');
    await reindex({ channel: channel(), cacheDir, full: true });
    expect(await channelDataSubdirs()).toContain('linux-46');

    // Removing a subdir that holds packages is refused.
    const before = await snapshot();
    await refused(() => removeSubdirIndex({ channel: channel(), subdir: 'linux-64', cacheDir }), /linux-64 lists 1 package\(s\) in its index: it should be there; nothing was removed/);
    expect(await snapshot()).toEqual(before);

    const removed = await removeSubdirIndex({ channel: channel(), subdir: 'linux-46', cacheDir });
    expect(removed.ok).toBe(true);
    expect(removed.removed.length).toBeGreaterThanOrEqual(1);
    expect((await snapshot())['idx/channel/linux-46/repodata.json']).toEqual([]);
    expect(await channelDataSubdirs()).toEqual(['linux-64', 'noarch']);
    // A later reindex (cache or not) does not bring it back.
    const again = await reindex({ channel: channel(), cacheDir });
    expect(again.subdirs.map((s) => s.subdir)).toEqual(['linux-64', 'noarch']);
    expect((await reindex({ channel: channel(), full: true })).subdirs.map((s) => s.subdir)).toEqual(['linux-64', 'noarch']);
    expect((await snapshot())['idx/channel/linux-46/repodata.json']).toEqual([]);
    // The packages and the log are untouched.
    const store = openStore(channel());
    try {
      expect((await readPromotions(store)).map((p) => p.filename)).toEqual(['real-1.0-0.tar.bz2']);
    } finally {
      await store.close();
    }
  });

  async function channelDataSubdirs(): Promise<string[]> {
    const store = openStore(channel());
    try {
      const repo = store.repository('channeldata.json');
      const manifest = JSON.parse(Buffer.from((await repo.fetchManifest('latest')).bytes).toString('utf8')) as { layers: Array<{ digest: `sha256:${string}`; size: number }> };
      const layer = manifest.layers[0]!;
      const chunks: Buffer[] = [];
      for await (const c of await repo.fetchBlob(layer.digest, layer.size)) chunks.push(c as Buffer);
      return (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { subdirs: string[] }).subdirs.sort();
    } finally {
      await store.close();
    }
  }
});
