// What only the on-disk store has: the files it writes, its lock across processes, hard-link mounts.
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DeniedError,
  DigestMismatchError,
  InvalidReferenceError,
  MediaType,
  NotFoundError,
  REF_NAME_ANNOTATION,
  bytesSource,
  openStore,
  sha256Digest,
  type Store,
} from '@oci-channel/oci';
import { manifestBytes, pushArtifact, readAll } from './contract-artifacts.ts';

const OCI_INDEX = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../packages/oci/src/index.ts');

let dir: string;
let store: Store;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'oci-layout-store-'));
  store = openStore(`oci-layout:${dir}`);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function readIndex(repo: string): Promise<{ schemaVersion: number; manifests: Array<{ digest: string; mediaType: string; size: number; annotations?: Record<string, string> }> }> {
  return JSON.parse(await readFile(path.join(dir, repo, 'index.json'), 'utf8'));
}

describe('files on disk', () => {
  test('an OCI image layout per repository: oci-layout, index.json with ref.name tags, blobs/sha256/<hex>', async () => {
    const repo = store.repository('chan/linux-64/zlib');
    const tagged = await pushArtifact(repo, { tag: '1.3.1-h0_0' });
    const untagged = await pushArtifact(repo);
    const root = path.join(dir, 'chan', 'linux-64', 'zlib');
    expect(JSON.parse(await readFile(path.join(root, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    const index = await readIndex('chan/linux-64/zlib');
    expect(index.schemaVersion).toBe(2);
    expect(index.manifests).toEqual([
      { mediaType: MediaType.ImageManifest, digest: tagged.digest, size: tagged.bytes.byteLength, annotations: { [REF_NAME_ANNOTATION]: '1.3.1-h0_0' } },
      { mediaType: MediaType.ImageManifest, digest: untagged.digest, size: untagged.bytes.byteLength },
    ]);
    const manifestFile = await readFile(path.join(root, 'blobs', 'sha256', tagged.digest.slice(7)));
    expect(manifestFile.equals(Buffer.from(tagged.bytes))).toBe(true);
    const layer = tagged.layers[0]!;
    expect((await stat(path.join(root, 'blobs', 'sha256', layer.digest.slice(7)))).size).toBe(layer.size);
    expect(await readdir(path.join(root, '.tmp'))).toEqual([]);
    expect(await store.listRepositories()).toEqual(['chan/linux-64/zlib']);
    // A repository may hold nested repositories next to its own files.
    await pushArtifact(store.repository('chan'), { tag: 'root' });
    expect(await store.listRepositories()).toEqual(['chan', 'chan/linux-64/zlib']);
    expect(await store.listRepositories('chan/linux-64')).toEqual(['chan/linux-64/zlib']);
    expect((await store.repository('chan/linux-64/zlib').resolve('1.3.1-h0_0'))?.digest).toBe(tagged.digest);
  });

  test('tagging a manifest pushed by digest replaces its untagged entry; re-tagging replaces the tag entry', async () => {
    const repo = store.repository('r');
    const a = await pushArtifact(repo);
    await repo.pushManifest(a.bytes, MediaType.ImageManifest, 't');
    expect((await readIndex('r')).manifests.map((m) => [m.digest, m.annotations?.[REF_NAME_ANNOTATION]])).toEqual([[a.digest, 't']]);
    const b = await pushArtifact(repo, { tag: 't' });
    expect((await readIndex('r')).manifests.map((m) => [m.digest, m.annotations?.[REF_NAME_ANNOTATION]])).toEqual([[b.digest, 't']]);
    // Pushing by digest something already listed adds nothing.
    await repo.pushManifest(b.bytes, MediaType.ImageManifest);
    expect((await readIndex('r')).manifests).toHaveLength(1);
  });

  test('delete drops the index entries but leaves the blobs for a garbage collection', async () => {
    const repo = store.repository('d');
    const a = await pushArtifact(repo, { tag: 'x' });
    await repo.deleteManifest(a.digest);
    expect((await readIndex('d')).manifests).toEqual([]);
    expect(await repo.statBlob(a.digest)).toMatchObject({ size: a.bytes.byteLength });
    await expect(repo.deleteManifest(a.digest)).rejects.toThrow(NotFoundError);
  });
});

describe('refused input', () => {
  test('index.json entries other tools wrote are kept, and malformed ones never become file paths', async () => {
    const repo = store.repository('foreign');
    await pushArtifact(repo);
    const evil = { mediaType: MediaType.ImageManifest, digest: 'sha256:../../../etc/passwd', size: 1, annotations: { [REF_NAME_ANNOTATION]: 'evil' } };
    const odd = { digest: `sha256:${'0'.repeat(64)}`, note: 'no media type' };
    const index = await readIndex('foreign');
    await writeFile(path.join(dir, 'foreign', 'index.json'), JSON.stringify({ ...index, manifests: [...index.manifests, evil, odd] }));
    expect(await repo.resolve('evil')).toBeUndefined();
    expect(await repo.listTags()).toEqual([]);
    await pushArtifact(repo, { tag: 'mine' });
    const after = (await readIndex('foreign')).manifests as unknown[];
    expect(after).toEqual(expect.arrayContaining([evil, odd]));
    expect(await repo.listTags()).toEqual(['mine']);
  });

  test('names that collide with layout files are refused', () => {
    expect(() => store.repository('chan/blobs')).toThrow(InvalidReferenceError);
    expect(() => store.repository('chan/index.json')).toThrow(/file names of an OCI layout/);
    expect(store.repository('blobs').name).toBe('blobs');
  });

  test('a manifest whose blobs are missing is refused and not published', async () => {
    const repo = store.repository('m');
    const missing = { mediaType: 'application/octet-stream', digest: sha256Digest('nope'), size: 4 };
    await repo.pushBlob(bytesSource(new Uint8Array(0)));
    const bytes = manifestBytes([missing]);
    await expect(repo.pushManifest(bytes, MediaType.ImageManifest, 'x')).rejects.toThrow(NotFoundError);
    expect(await repo.listTags()).toEqual([]);
    expect(await repo.statBlob(sha256Digest(bytes))).toBeUndefined();
  });

  test('a manifest whose mediaType differs from the one given is refused', async () => {
    const repo = store.repository('m');
    await repo.pushBlob(bytesSource(new Uint8Array(0)));
    await expect(repo.pushManifest(manifestBytes([]), MediaType.ImageIndex, 'x')).rejects.toThrow(/differs from the given/);
    expect(await repo.listTags()).toEqual([]);
  });

  test('bytes corrupted on disk are caught when read', async () => {
    const repo = store.repository('c');
    const a = await pushArtifact(repo, { tag: 'x', layerSize: 50_000 });
    const layer = a.layers[0]!;
    const layerFile = path.join(dir, 'c', 'blobs', 'sha256', layer.digest.slice(7));
    const content = await readFile(layerFile);
    content[100] = content[100]! ^ 0xff;
    await writeFile(layerFile, content);
    await expect(readAll(await repo.fetchBlob(layer.digest, layer.size))).rejects.toThrow(DigestMismatchError);
    await writeFile(path.join(dir, 'c', 'blobs', 'sha256', a.digest.slice(7)), Buffer.from(a.bytes).toString().replace('pkg-0', 'pkg-9'));
    await expect(repo.fetchManifest('x')).rejects.toThrow(DigestMismatchError);
  });

  test('checkPushAccess fails where the layout cannot be written', async () => {
    await store.repository('ok/repo').checkPushAccess();
    await writeFile(path.join(dir, 'file'), 'not a directory');
    const blocked = openStore(`oci-layout:${path.join(dir, 'file')}`);
    await expect(blocked.repository('x').checkPushAccess()).rejects.toThrow(DeniedError);
    await expect(blocked.repository('x').checkPushAccess()).rejects.toThrow(/not a directory/);
  });
});

describe('mounts', () => {
  test('within one layout directory a mount hard-links the blob; another directory is not mounted', async () => {
    const from = store.repository('a');
    const to = store.repository('b');
    const data = Buffer.from('shared blob');
    const { digest } = await from.pushBlob(bytesSource(data));
    expect(await to.mountBlob(digest, from)).toBe(true);
    expect((await readAll(await to.fetchBlob(digest, data.length))).equals(data)).toBe(true);
    expect((await stat(path.join(dir, 'b', 'blobs', 'sha256', digest.slice(7)))).nlink).toBe(2);
    expect(await to.mountBlob(sha256Digest('absent'), from)).toBe(false);

    const otherDir = await mkdtemp(path.join(os.tmpdir(), 'oci-layout-other-'));
    try {
      const other = openStore(`oci-layout:${otherDir}`).repository('b');
      expect(await other.mountBlob(digest, from)).toBe(false);
      expect(await other.statBlob(digest)).toBeUndefined();
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
  });
});

describe('the index lock', () => {
  const lockFile = (repo: string) => path.join(dir, repo, '.index.json.lock');

  test('several processes tagging one repository at once lose no tag', async () => {
    const repo = store.repository('shared');
    const a = await pushArtifact(repo);
    const script = `
      import { openStore, MediaType } from ${JSON.stringify(OCI_INDEX)};
      const [dir, worker, digest] = process.argv.slice(-3);
      const repo = openStore('oci-layout:' + dir).repository('shared');
      const { bytes } = await repo.fetchManifest(digest);
      for (let i = 0; i < 15; i++) await repo.pushManifest(bytes, MediaType.ImageManifest, 'w' + worker + '-' + i);
    `;
    const scriptFile = path.join(dir, 'writer.mjs');
    await writeFile(scriptFile, script);
    await Promise.all(
      [0, 1, 2, 3].map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            execFile(process.execPath, [scriptFile, dir, String(worker), a.digest], (error, _stdout, stderr) =>
              error ? reject(new Error(`writer ${worker} failed: ${stderr}`)) : resolve(),
            );
          }),
      ),
    );
    const tags = await repo.listTags();
    expect(tags).toHaveLength(60);
    expect(tags).toContain('w3-14');
    // The untagged entry became tags; the file is whole.
    expect((await readIndex('shared')).manifests).toHaveLength(60);
  });

  test('a lock left by a dead process is recovered', async () => {
    const repo = store.repository('stale');
    await pushArtifact(repo);
    const dead = spawn(process.execPath, ['-e', '']);
    const deadPid = dead.pid!;
    await new Promise((resolve) => dead.once('exit', resolve));
    await writeFile(lockFile('stale'), `${deadPid} ${os.hostname()} ${Date.now()} deadbeef\n`);
    const a = await pushArtifact(repo, { tag: 'after-stale' });
    expect((await repo.resolve('after-stale'))?.digest).toBe(a.digest);
    await expect(stat(lockFile('stale'))).rejects.toThrow(/ENOENT/);
  });

  test('a lock held by a live process makes writers wait until it is released', async () => {
    const repo = store.repository('held');
    const a = await pushArtifact(repo);
    const holder = spawn('sleep', ['60']);
    try {
      await mkdir(path.join(dir, 'held'), { recursive: true });
      await writeFile(lockFile('held'), `${holder.pid} ${os.hostname()} ${Date.now()} cafe\n`);
      let done = false;
      const push = repo.pushManifest(a.bytes, MediaType.ImageManifest, 'waited').then(() => {
        done = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(done).toBe(false);
      expect(await repo.listTags()).toEqual([]);
      await rm(lockFile('held'));
      await push;
      expect(await repo.listTags()).toEqual(['waited']);
    } finally {
      holder.kill('SIGKILL');
    }
  });
});
