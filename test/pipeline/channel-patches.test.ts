// The channel's own patch instructions in a real registry (what mirror keeps upstream's patched records in):
// concurrent read-change-writes of one subdir all land, writers of different subdirs never meet, an update that
// changes nothing writes nothing, and a stored version that is not patch instructions is refused with nothing
// written over it.
import { MediaType, bytesSource, openStore, sha256Digest, type Store } from '@oci-channel/oci';
import { emptyPatchInstructions, type PatchInstructions } from '@oci-channel/conda';
import {
  patchInstructionsRepository,
  readChannelPatchInstructions,
  updateChannelPatchInstructions,
  writeChannelPatchInstructions,
} from '../../packages/pipeline/src/index/channel-patches.ts';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';

let registry: RunningRegistry;
let store: Store;
beforeAll(async () => {
  registry = await startRegistry();
  store = openStore(registry.location('cp/production'));
});
afterAll(async () => {
  await store?.close();
  await registry?.stop();
});

/** An update that sets one file's entry (a pure function of what is stored, as mirror's is). */
const setEntry = (filename: string, fix: Record<string, unknown>) => (stored: PatchInstructions | undefined): PatchInstructions => {
  const next = stored ? structuredClone(stored) : emptyPatchInstructions();
  next.packages[filename] = fix;
  return next;
};
const tagsOf = async (subdir: string) => (await store.repository(patchInstructionsRepository(subdir)).listTags()).sort();

test('concurrent updates of one subdir and of another all land; an update changing nothing writes nothing', async () => {
  const names = Array.from({ length: 5 }, (_, i) => `p${i}-1.0-0.tar.bz2`);
  const results = await Promise.all([
    ...names.map((name, i) => updateChannelPatchInstructions(store, 'linux-64', setEntry(name, { depends: [`dep${i}`] }))),
    updateChannelPatchInstructions(store, 'osx-64', setEntry('q-1.0-0.tar.bz2', { license: 'MIT' })),
  ]);
  expect(results.every((r) => r.written)).toBe(true);
  const linux = await readChannelPatchInstructions(store, 'linux-64');
  expect(Object.keys(linux!.instructions.packages).sort()).toEqual(names);
  names.forEach((name, i) => expect(linux!.instructions.packages[name]).toEqual({ depends: [`dep${i}`] }));
  expect((await readChannelPatchInstructions(store, 'osx-64'))?.instructions.packages).toEqual({ 'q-1.0-0.tar.bz2': { license: 'MIT' } });

  // The same entry again: nothing pushed, latest where it was.
  const tags = await tagsOf('linux-64');
  const again = await updateChannelPatchInstructions(store, 'linux-64', setEntry(names[0]!, { depends: ['dep0'] }));
  expect(again).toEqual({ written: false, digest: linux!.digest, instructions: linux!.instructions });
  expect(await tagsOf('linux-64')).toEqual(tags);
  // Nothing stored and nothing to store: nothing written either.
  expect(await updateChannelPatchInstructions(store, 'win-64', () => emptyPatchInstructions())).toEqual({ written: false });
  expect(await tagsOf('win-64')).toEqual([]);
});

test('a stored version that is no patch instructions is refused, and nothing is written over it', async () => {
  const repository = store.repository(patchInstructionsRepository('noarch'));
  // Valid JSON in the right layer, but a fix of sha256 (which says which file a record is).
  const hostile = new TextEncoder().encode(JSON.stringify({ packages: { 'x-1-0.tar.bz2': { sha256: '0'.repeat(64) } } }));
  await expect(writeChannelPatchInstructions(store, 'noarch', hostile)).rejects.toThrow(/changes "sha256"/);
  expect(await repository.resolve('latest')).toBeUndefined();
  // Written by hand: the layer is there, its content is not instructions.
  const digest = await writeChannelPatchInstructions(store, 'noarch', emptyPatchInstructions());
  const manifest = JSON.parse(Buffer.from((await repository.fetchManifest(digest)).bytes).toString('utf8'));
  const bytes = new TextEncoder().encode('["not", "instructions"]');
  await repository.pushBlob(bytesSource(bytes), { digest: sha256Digest(bytes), size: bytes.byteLength });
  manifest.layers[0] = { ...manifest.layers[0], digest: sha256Digest(bytes), size: bytes.byteLength };
  const bad = await repository.pushManifest(new TextEncoder().encode(JSON.stringify(manifest)), MediaType.ImageManifest, 'latest');
  const tags = await tagsOf('noarch');
  await expect(updateChannelPatchInstructions(store, 'noarch', setEntry('y-1-0.tar.bz2', { license: 'MIT' }))).rejects.toThrow(/patch_instructions\.json:latest is not a JSON object/);
  expect((await repository.resolve('latest'))?.digest).toBe(bad.digest);
  expect(await tagsOf('noarch')).toEqual(tags);
});
