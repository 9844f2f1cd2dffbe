// The promotion log and verdict referrers, on both store kinds.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { bytesSource, MediaType, openStore, sha256Digest, type Descriptor, type Store } from '@oci-channel/oci';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { appendPromotion, findPromotion, listPromotionTags, promotionLogTag, readPromotions } from '../../packages/pipeline/src/records/promotion-log.ts';
import { newestVerdict, recordVerdict } from '../../packages/pipeline/src/records/verdict.ts';
import { EMPTY_JSON_DESCRIPTOR, pushEmptyJson } from '../../packages/pipeline/src/records/artifact-manifest.ts';

let dir: string;
let registry: RunningRegistry | undefined;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'promote-log-'));
  registry = await startRegistry();
});
afterAll(async () => {
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});

function remoteWorks(): boolean {
  try {
    openStore('oci+http://127.0.0.1:1/x');
    return true;
  } catch (error) {
    return !/not implemented/.test(String(error));
  }
}

const kinds: Array<['layout' | 'registry']> = [['layout'], ['registry']];

describe.each(kinds)('%s store', (kind) => {
  let store: Store;
  beforeAll(() => {
    if (kind === 'registry' && !remoteWorks()) return;
    store = kind === 'layout' ? openStore(`oci-layout:${path.join(dir, 'layout')}`) : openStore(registry!.location('chan'));
  });
  afterAll(() => store?.close());
  const maybe = (name: string, fn: () => Promise<void>) =>
    test(name, async () => {
      if (!store) {
        console.warn(`skipped on ${kind}: the remote store is not implemented yet`);
        return;
      }
      await fn();
    });

  maybe('log tags sort by time and never collide across files', async () => {
    const at = new Date('2026-01-02T03:04:05.678Z');
    expect(promotionLogTag(at, 'linux-64', 'a-1-0.conda')).toMatch(/^20260102030405678-[0-9a-f]{16}$/);
    expect(promotionLogTag(at, 'linux-64', 'a-1-0.conda')).not.toBe(promotionLogTag(at, 'linux-64', 'b-1-0.conda'));
    const base = { repository: 'linux-64/a', tag: '1-0', manifestDigest: sha256Digest('m') };
    const first = await appendPromotion(store, { ...base, subdir: 'linux-64', filename: 'a-1-0.conda' }, new Date('2026-01-01T00:00:00.000Z'));
    const second = await appendPromotion(store, { ...base, subdir: 'linux-64', filename: 'b-1-0.conda' }, new Date('2026-01-01T00:00:01.000Z'));
    expect(await listPromotionTags(store)).toEqual([first.logTag, second.logTag]);
    expect(await listPromotionTags(store, first.logTag)).toEqual([second.logTag]);
    const entries = await readPromotions(store);
    expect(entries.map((e) => e.filename)).toEqual(['a-1-0.conda', 'b-1-0.conda']);
    expect(entries[0]).toMatchObject({ subdir: 'linux-64', repository: 'linux-64/a', tag: '1-0', manifestDigest: base.manifestDigest, promotedAt: '2026-01-01T00:00:00.000Z' });
    expect((await findPromotion(store, 'linux-64', 'b-1-0.conda'))?.logTag).toBe(second.logTag);
    expect(await findPromotion(store, 'linux-64', 'c-1-0.conda')).toBeUndefined();
    // The entry is an OCI artifact of its own type with the empty config.
    const fetched = await store.repository('oci_channel/promotions').fetchManifest(first.logTag);
    const manifest = JSON.parse(Buffer.from(fetched.bytes).toString());
    expect(manifest.artifactType).toBe('application/vnd.oci-channel.promotion.v1');
    expect(manifest.config).toEqual(EMPTY_JSON_DESCRIPTOR);
  });

  maybe('the newest verdict about the exact subject wins', async () => {
    const repo = store.repository('linux-64/pkg');
    await pushEmptyJson(repo);
    const subjectBytes = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ImageManifest, config: EMPTY_JSON_DESCRIPTOR, layers: [EMPTY_JSON_DESCRIPTOR] }));
    await repo.pushBlob(bytesSource(new TextEncoder().encode('{}')));
    const subject: Descriptor = await repo.pushManifest(subjectBytes, MediaType.ImageManifest, '1-0');
    const doc = (verdict: 'passed' | 'failed', validatedAt: string, filename = 'pkg-1-0.conda') => ({
      verdict,
      checks: [{ name: 'sha256', ok: verdict === 'passed' }],
      validatedAt,
      subdir: 'linux-64',
      filename,
      sha256: 'ab'.repeat(32),
      manifestDigest: subject.digest,
    });
    expect(await newestVerdict(repo, subject.digest, 'pkg-1-0.conda')).toBeUndefined();
    await recordVerdict(repo, subject, doc('failed', '2026-01-01T00:00:00.000Z'));
    const passed = await recordVerdict(repo, subject, doc('passed', '2026-01-01T00:00:05.000Z'));
    await recordVerdict(repo, subject, doc('failed', '2026-01-01T00:00:09.000Z', 'pkg-1-0.tar.bz2'));
    const newest = await newestVerdict(repo, subject.digest, 'pkg-1-0.conda');
    expect(newest?.digest).toBe(passed.digest);
    expect(newest?.doc.verdict).toBe('passed');
    expect((await newestVerdict(repo, subject.digest, 'pkg-1-0.tar.bz2'))?.doc.verdict).toBe('failed');
  });
});
