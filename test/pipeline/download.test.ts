// download against a real registry: through the latest repodata (shards), the tag fallback, digest checks.
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openStore, type Store } from '@oci-channel/oci';
import { readPackage } from '@oci-channel/conda';
import { download } from '../../packages/pipeline/src/steps/download.ts';
import { reindex } from '../../packages/pipeline/src/steps/reindex.ts';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { makeTarBz2, publishPackage } from '../helpers/channel.ts';

let registry: RunningRegistry;
let work: string;
let store: Store;
let indexed: string;
let unindexed: string;

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-download-'));
  store = openStore(registry.location('chan'));
  indexed = await makeTarBz2(path.join(work, 'pkgs'), { name: 'zlib', version: '1.3', build: 'h0_0', subdir: 'linux-64' });
  await publishPackage(store, indexed);
  await reindex({ channel: store, cacheDir: path.join(work, 'cache') });
  unindexed = await makeTarBz2(path.join(work, 'pkgs'), { name: 'late', version: '0.1', subdir: 'linux-64' });
  await publishPackage(store, unindexed);
});
afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

describe('download', () => {
  it('fetches a package found through the latest repodata, digest-verified, into a directory', async () => {
    const info = await readPackage(indexed);
    const outDir = await mkdtemp(path.join(work, 'out-'));
    const messages: string[] = [];
    const result = await download({
      channel: store,
      artifact: { subdir: 'linux-64', filename: 'zlib-1.3-h0_0.tar.bz2', sha256: info.sha256 },
      output: outDir,
      progress: (e) => messages.push(e.message),
    });
    expect(result).toEqual({ path: path.join(outDir, 'zlib-1.3-h0_0.tar.bz2'), sha256: info.sha256, size: info.size });
    expect(await sha256(result.path)).toBe(info.sha256);
    expect(messages.join('\n')).toMatch(/shard of zlib/);
    expect(await readdir(outDir)).toEqual(['zlib-1.3-h0_0.tar.bz2']);
  });

  it('falls back to the tag for a file not indexed yet', async () => {
    const out = path.join(work, 'late.tar.bz2');
    const result = await download({ channel: registry.location('chan'), artifact: { subdir: 'linux-64', filename: 'late-0.1-0.tar.bz2' }, output: out });
    expect(result.sha256).toBe((await readPackage(unindexed)).sha256);
    expect(await sha256(out)).toBe(result.sha256);
  });

  it('refuses a declared sha256 that is not the published one and writes nothing', async () => {
    const outDir = await mkdtemp(path.join(work, 'out-'));
    await expect(
      download({ channel: store, artifact: { subdir: 'linux-64', filename: 'zlib-1.3-h0_0.tar.bz2', sha256: 'a'.repeat(64) }, output: outDir }),
    ).rejects.toThrow(/linux-64\/zlib-1.3-h0_0.tar.bz2 .* has sha256 [0-9a-f]{64}, not the a{64} asked for; nothing was written/);
    expect(await readdir(outDir)).toEqual([]);
  });

  it('says clearly when the package does not exist', async () => {
    const outDir = await mkdtemp(path.join(work, 'out-'));
    await expect(download({ channel: store, artifact: { subdir: 'linux-64', filename: 'nope-1-0.conda' }, output: outDir })).rejects.toThrow(
      /linux-64\/nope-1-0.conda is not in .*chan: neither the latest repodata nor the tag has it/,
    );
    await expect(download({ channel: store, artifact: { subdir: 'Linux', filename: 'nope-1-0.conda' }, output: outDir })).rejects.toThrow(/not a subdir/);
    expect(await readdir(outDir)).toEqual([]);
  });

  it('refuses bytes the registry corrupted and leaves no file', async () => {
    const file = await makeTarBz2(path.join(work, 'pkgs'), { name: 'rot', version: '1.0', subdir: 'linux-64' });
    const published = await publishPackage(store, file);
    // Rewrite the blob's bytes inside the registry's storage (same size, different content).
    const blob = path.join(registry.storage, 'docker/registry/v2/blobs/sha256', published.sha256.slice(0, 2), published.sha256, 'data');
    const bytes = await readFile(blob);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    await writeFile(blob, bytes);
    const outDir = await mkdtemp(path.join(work, 'out-'));
    await expect(download({ channel: store, artifact: { subdir: 'linux-64', filename: 'rot-1.0-0.tar.bz2' }, output: outDir })).rejects.toThrow(/corrupt|hashes to/);
    expect(await readdir(outDir)).toEqual([]);
  });
});
