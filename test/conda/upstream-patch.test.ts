// upstreamPatch: the channel's patch instructions that turn package records into upstream's (patched) records,
// folded into what is stored. Checked two ways: applied as conda-index's _apply_instructions applies them (this
// file's oracle) and by applyPatches (what reindex runs), both must give upstream's records exactly.
import { applyPatches, parsePatchInstructions, servesUpstreamRecord, upstreamPatch, type ChannelRecord, type MirroredRecord, type PatchInstructions } from '@oci-channel/conda';
import { applyPatchInstructions as apply, type PatchableRepodata as Repodata } from '../helpers/patch-oracle.ts';

const base = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  version: '1.0',
  build: 'h0_0',
  build_number: 0,
  depends: ['zlib'],
  license: 'MIT',
  subdir: 'linux-64',
  md5: 'a'.repeat(32),
  sha256: 'b'.repeat(64),
  size: 10,
  ...extra,
});

function repodataOf(records: MirroredRecord[], which: 'upstream' | 'derived'): Repodata {
  const out: Repodata = { packages: {}, 'packages.conda': {}, removed: [] };
  for (const r of records) out[r.filename.endsWith('.conda') ? 'packages.conda' : 'packages'][r.filename] = structuredClone(r[which]);
  return out;
}

/** Both appliers turn the package records into upstream's, and the instructions pass reindex's checks. */
function expectExact(records: MirroredRecord[], instructions: PatchInstructions) {
  parsePatchInstructions(instructions, 'test');
  expect(apply(repodataOf(records, 'derived'), instructions)).toEqual(repodataOf(records, 'upstream'));
  const patched = applyPatches(records.map((r) => ({ filename: r.filename, record: r.derived as ChannelRecord })), [instructions]);
  expect(Object.fromEntries(patched.packages.map((p) => [p.filename, p.record]))).toEqual(Object.fromEntries(records.map((r) => [r.filename, r.upstream])));
}

test('nothing differs: no instructions, nothing changed', () => {
  const records = [{ filename: 'a-1.0-h0_0.conda', upstream: base('a'), derived: base('a') }];
  expect(upstreamPatch('linux-64', records)).toEqual({
    subdir: 'linux-64',
    instructions: { patch_instructions_version: 1, packages: {}, 'packages.conda': {}, remove: [], revoke: [] },
    patched: [],
    changed: 0,
    unrepresentable: [],
  });
});

test('changed, added, dropped and nulled fields of both formats, nested too; a .tar.bz2 patch its .conda does not share is set back', () => {
  const { license: _gone, ...withoutLicense } = base('x', { depends: [] });
  const records: MirroredRecord[] = [
    // upstream tightened the .tar.bz2's depends and fixed its license; its .conda was left alone
    { filename: 'tool-1.0-h0_0.tar.bz2', upstream: base('tool', { depends: ['zlib >=1.2.11,<1.3'], license: 'BSD-3-Clause' }), derived: base('tool') },
    { filename: 'tool-1.0-h0_0.conda', upstream: base('tool'), derived: base('tool') },
    // the same patch on both formats: one entry for the .tar.bz2 covers the .conda (nothing more for it)
    { filename: 'lib-1.0-h0_0.tar.bz2', upstream: base('lib', { constrains: ['tool <2'] }), derived: base('lib') },
    { filename: 'lib-1.0-h0_0.conda', upstream: base('lib', { constrains: ['tool <2'] }), derived: base('lib') },
    // a .conda alone, revoked upstream, a nested field changed, a null where the package has nothing
    {
      filename: 'old-1.0-h0_0.conda',
      upstream: base('old', { revoked: true, depends: ['zlib', 'package_has_been_revoked'], extra: { a: 2 }, license_family: null }),
      derived: base('old', { extra: { a: 1 } }),
    },
    // upstream dropped fields: license at the top, `drop` inside a map; the .conda keeps its license
    { filename: 'x-1.0-h0_0.tar.bz2', upstream: withoutLicense, derived: base('x', { extra: { keep: 1, drop: 2 } }) },
    { filename: 'x-1.0-h0_0.conda', upstream: base('x', { extra: { keep: 1 } }), derived: base('x', { extra: { keep: 1, drop: 2 } }) },
  ];
  const patch = upstreamPatch('linux-64', records);
  expect(patch.instructions.packages).toEqual({
    'lib-1.0-h0_0.tar.bz2': { constrains: ['tool <2'] },
    'tool-1.0-h0_0.tar.bz2': { depends: ['zlib >=1.2.11,<1.3'], license: 'BSD-3-Clause' },
    'x-1.0-h0_0.tar.bz2': { depends: [], extra: null, license: null },
  });
  expect(patch.instructions['packages.conda']).toEqual({
    'old-1.0-h0_0.conda': { depends: ['zlib', 'package_has_been_revoked'], extra: { a: 2 }, license_family: null, revoked: true },
    'tool-1.0-h0_0.conda': { depends: ['zlib'], license: 'MIT' },
    // the .tar.bz2 entry reached it by name (depends [], no extra, no license): each is set back
    'x-1.0-h0_0.conda': { depends: ['zlib'], extra: { keep: 1 }, license: 'MIT' },
  });
  expect(patch.unrepresentable).toEqual([]);
  expect(patch.patched).toEqual(['lib-1.0-h0_0.tar.bz2', 'old-1.0-h0_0.conda', 'tool-1.0-h0_0.conda', 'tool-1.0-h0_0.tar.bz2', 'x-1.0-h0_0.conda', 'x-1.0-h0_0.tar.bz2']);
  expect(patch.changed).toBe(6);
  expectExact(records, patch.instructions);
  // Keys in sorted order, as a patch_instructions.json is written.
  expect(Object.keys(patch.instructions.packages)).toEqual(['lib-1.0-h0_0.tar.bz2', 'tool-1.0-h0_0.tar.bz2', 'x-1.0-h0_0.tar.bz2']);
  // A nested drop alone is a nested null, not the whole map.
  const nested = upstreamPatch('linux-64', [{ filename: 'y-1-0.tar.bz2', upstream: base('y', { extra: { keep: 1 } }), derived: base('y', { extra: { keep: 1, drop: 2 } }) }]);
  expect(nested.instructions.packages).toEqual({ 'y-1-0.tar.bz2': { extra: { drop: null } } });
});

test('what patches cannot say is reported, the rest still patched; a served record is compared without those fields', () => {
  const records: MirroredRecord[] = [
    // upstream says null where the package has a value (a null fix deletes), and another version (protected)
    { filename: 'z-1.0-h0_0.tar.bz2', upstream: base('z', { license: null, version: '1.0.1', depends: [] }), derived: base('z') },
  ];
  const patch = upstreamPatch('linux-64', records);
  expect(patch.instructions.packages).toEqual({ 'z-1.0-h0_0.tar.bz2': { depends: [] } });
  expect(patch.unrepresentable).toEqual(['z-1.0-h0_0.tar.bz2: license', 'z-1.0-h0_0.tar.bz2: version']);
  parsePatchInstructions(patch.instructions, 'test');
  expect(servesUpstreamRecord(base('z', { indexed_timestamp: 1 }), base('z', { version: '1.0.1' }))).toBe(true);
  expect(servesUpstreamRecord(base('z'), base('z', { depends: [] }))).toBe(false);
});

test('folded into stored instructions: an entry per file replaced or dropped, the others and revoke kept', () => {
  const stored: PatchInstructions = {
    patch_instructions_version: 1,
    packages: {
      'a-1.0-h0_0.tar.bz2': { depends: ['old'] }, // compared again: replaced
      'b-1.0-h0_0.tar.bz2': { license: 'GPL' }, // compared again, upstream equals the package now: dropped
      'c-1.0-h0_0.tar.bz2': { depends: ['c-stays'] }, // not compared: kept, and its .conda is fixed on top of it
      'untouched-1-0.tar.bz2': { license: 'X' },
    },
    'packages.conda': { 'b-1.0-h0_0.conda': { license: 'MIT' } },
    remove: ['gone-1-0.tar.bz2', 'back-1-0.conda'],
    revoke: ['bad-1-0.tar.bz2'],
  };
  const records: MirroredRecord[] = [
    { filename: 'a-1.0-h0_0.tar.bz2', upstream: base('a', { depends: ['new'] }), derived: base('a') },
    { filename: 'b-1.0-h0_0.tar.bz2', upstream: base('b'), derived: base('b') },
    { filename: 'b-1.0-h0_0.conda', upstream: base('b'), derived: base('b') },
    { filename: 'c-1.0-h0_0.conda', upstream: base('c', { depends: ['zlib >=1'] }), derived: base('c') },
  ];
  const patch = upstreamPatch('linux-64', records, { stored, remove: ['later-1-0.conda', 'gone-1-0.tar.bz2'], relisted: (f) => f === 'back-1-0.conda' });
  expect(patch.instructions).toEqual({
    patch_instructions_version: 1,
    packages: { 'a-1.0-h0_0.tar.bz2': { depends: ['new'] }, 'c-1.0-h0_0.tar.bz2': { depends: ['c-stays'] }, 'untouched-1-0.tar.bz2': { license: 'X' } },
    'packages.conda': { 'c-1.0-h0_0.conda': { depends: ['zlib >=1'] } },
    remove: ['gone-1-0.tar.bz2', 'later-1-0.conda'],
    revoke: ['bad-1-0.tar.bz2'],
  });
  // a replaced, b and b.conda dropped, c.conda added, one remove added and one dropped
  expect(patch.changed).toBe(6);
  expect(patch.patched).toEqual(['a-1.0-h0_0.tar.bz2', 'c-1.0-h0_0.conda']);
  // The stored object is not changed; folding the same records in again changes nothing.
  expect(stored.packages['b-1.0-h0_0.tar.bz2']).toEqual({ license: 'GPL' });
  const again = upstreamPatch('linux-64', records, { stored: patch.instructions, remove: ['later-1-0.conda'], relisted: (f) => f === 'back-1-0.conda' });
  expect(again.changed).toBe(0);
  expect(again.instructions).toEqual(patch.instructions);
  expectExact(records, patch.instructions);
});
