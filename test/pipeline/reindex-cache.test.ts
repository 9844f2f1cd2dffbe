// The reindex cache on disk: append-only entries, torn lines from a crash, full rewrites, atomic state.
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { IndexCache, defaultCacheDir } from '../../packages/pipeline/src/index/cache.ts';
import { countingStore } from '../../packages/pipeline/src/index/counting.ts';
import { rewindMark, timestampTag } from '../../packages/pipeline/src/index/names.ts';
import { openStore } from '@oci-channel/oci';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-cache-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const pkg = (name: string) => ({
  filename: `${name}-1-0.conda`,
  record: { name, version: '1', build: '0', build_number: 0, md5: '0'.repeat(32), sha256: '1'.repeat(64), size: 1, indexed_timestamp: 1 },
});

describe('reindex cache', () => {
  it('keeps what was learnt, skips a torn last line, and lets the first record of a file win', async () => {
    const cache = new IndexCache(dir, 'oci://example.test/chan');
    await cache.load();
    expect(cache.warm).toBe(false);
    expect(cache.add({ subdir: 'noarch', manifestDigest: 'sha256:aa', pkg: pkg('a') })).toBe(true);
    expect(cache.add({ subdir: 'noarch', pkg: { ...pkg('a'), record: { ...pkg('a').record, size: 2 } } })).toBe(false);
    cache.add({ subdir: 'linux-64', pkg: pkg('b') });
    cache.state.mark = '20260101000000000-0123456789abcdef';
    await cache.save();
    await appendFile(path.join(cache.dir!, 'entries.jsonl'), '{"s":"noarch","p":{"filen');

    const again = new IndexCache(dir, 'oci://example.test/chan');
    await again.load();
    expect(again.warm).toBe(true);
    expect(again.state.mark).toBe('20260101000000000-0123456789abcdef');
    expect([...again.subdirEntries('noarch').keys()]).toEqual(['a-1-0.conda']);
    expect(again.subdirEntries('noarch').get('a-1-0.conda')!.pkg.record.size).toBe(1);
    expect(again.byManifest.get('sha256:aa')?.map((p) => p.filename)).toEqual(['a-1-0.conda']);
    expect(again.has('linux-64', 'b-1-0.conda')).toBe(true);

    // Another channel never sees these entries.
    const other = new IndexCache(dir, 'oci://example.test/other');
    await other.load();
    expect(other.warm).toBe(false);
    expect(other.entries.size).toBe(0);
  });

  it('rewrites the file when a full listing replaces a subdir', async () => {
    const cache = new IndexCache(dir, 'oci://example.test/full');
    cache.add({ subdir: 'noarch', pkg: pkg('gone') });
    cache.add({ subdir: 'linux-64', pkg: pkg('kept') });
    await cache.save();
    cache.replaceSubdir('noarch', [{ subdir: 'noarch', pkg: pkg('new') }]);
    await cache.save();
    const lines = (await readFile(path.join(cache.dir!, 'entries.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l).p.filename);
    expect(lines.sort()).toEqual(['kept-1-0.conda', 'new-1-0.conda']);
  });

  it('defaults under XDG_CACHE_HOME, else ~/.cache', () => {
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/x/cache' })).toBe('/x/cache/oci-channel');
    expect(defaultCacheDir({})).toBe(path.join(os.homedir(), '.cache', 'oci-channel'));
  });

  it('makes v0 timestamp tags that sort by time and counts store calls', async () => {
    expect(timestampTag(new Date('2026-03-04T05:06:07.089Z'))).toBe('2026.03.04.05.06.07.089');
    expect(rewindMark('20260304050607089-0123456789abcdef')).toBe('20260304045607089');
    const counted = countingStore(openStore(`oci-layout:${dir}/layout`));
    await counted.store.repository('noarch/x').listTags();
    await counted.store.repository('noarch/x').resolve('latest');
    expect(counted.count()).toBe(2);
    expect(counted.calls.get('listTags')).toBe(1);
    expect(counted.blobFetches()).toBe(0);
  });
});
