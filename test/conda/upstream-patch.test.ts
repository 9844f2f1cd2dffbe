// upstreamPatch: the patch instructions that turn package records into upstream's (patched) records. Checked by
// applying them the way conda-index's _apply_instructions does (this file's oracle) and comparing with upstream.
import { upstreamPatch, type MirroredRecord } from '@oci-channel/conda';
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

test('nothing differs: no instructions', () => {
  const records = [{ filename: 'a-1.0-h0_0.conda', upstream: base('a'), derived: base('a') }];
  const patch = upstreamPatch('linux-64', records);
  expect(patch).toEqual({
    subdir: 'linux-64',
    instructions: { patch_instructions_version: 1, packages: {}, 'packages.conda': {}, remove: [], revoke: [] },
    unrepresentable: [],
  });
});

test('changed, added and nulled fields of both formats; a .tar.bz2 patch the .conda does not share is set back', () => {
  const records: MirroredRecord[] = [
    // upstream tightened the .tar.bz2's depends and fixed its license; its .conda was left alone
    { filename: 'tool-1.0-h0_0.tar.bz2', upstream: base('tool', { depends: ['zlib >=1.2.11,<1.3'], license: 'BSD-3-Clause' }), derived: base('tool') },
    { filename: 'tool-1.0-h0_0.conda', upstream: base('tool'), derived: base('tool') },
    // the same patch on both formats: one entry for the .tar.bz2 covers the .conda (nothing more for it)
    { filename: 'lib-1.0-h0_0.tar.bz2', upstream: base('lib', { constrains: ['tool <2'] }), derived: base('lib') },
    { filename: 'lib-1.0-h0_0.conda', upstream: base('lib', { constrains: ['tool <2'] }), derived: base('lib') },
    // a .conda alone, revoked upstream, with a nested object changed and a field set to null
    {
      filename: 'old-1.0-h0_0.conda',
      upstream: base('old', { revoked: true, depends: ['zlib', 'package_has_been_revoked'], extra: { a: 2 }, license_family: null }),
      derived: base('old', { extra: { a: 1 } }),
    },
  ];
  const { instructions, unrepresentable } = upstreamPatch('linux-64', records);
  expect(instructions.packages).toEqual({
    'lib-1.0-h0_0.tar.bz2': { constrains: ['tool <2'] },
    'tool-1.0-h0_0.tar.bz2': { depends: ['zlib >=1.2.11,<1.3'], license: 'BSD-3-Clause' },
  });
  expect(instructions['packages.conda']).toEqual({
    'old-1.0-h0_0.conda': { depends: ['zlib', 'package_has_been_revoked'], extra: { a: 2 }, license_family: null, revoked: true },
    'tool-1.0-h0_0.conda': { depends: ['zlib'], license: 'MIT' },
  });
  expect(unrepresentable).toEqual([]);
  // Applied as conda-index applies them, the package records become upstream's exactly.
  expect(apply(repodataOf(records, 'derived'), instructions)).toEqual(repodataOf(records, 'upstream'));
  // Keys in sorted order, as a patch_instructions.json is written.
  expect(Object.keys(instructions.packages)).toEqual(['lib-1.0-h0_0.tar.bz2', 'tool-1.0-h0_0.tar.bz2']);
});

test('a field upstream dropped cannot be patched away: reported, the rest still patched', () => {
  const { license: _gone, ...withoutLicense } = base('x', { depends: [] });
  const records: MirroredRecord[] = [
    { filename: 'x-1.0-h0_0.tar.bz2', upstream: withoutLicense, derived: base('x', { extra: { keep: 1, drop: 2 } }) },
    { filename: 'x-1.0-h0_0.conda', upstream: base('x', { extra: { keep: 1 } }), derived: base('x', { extra: { keep: 1, drop: 2 } }) },
  ];
  const patch = upstreamPatch('linux-64', records);
  expect(patch.instructions.packages).toEqual({ 'x-1.0-h0_0.tar.bz2': { depends: [] } });
  // The .conda started as the .tar.bz2 patch left it (depends []) and needs its own depends back; its `extra`
  // is set as upstream has it, but the merge keeps `drop`: reported.
  expect(patch.instructions['packages.conda']).toEqual({ 'x-1.0-h0_0.conda': { depends: ['zlib'], extra: { keep: 1 } } });
  expect(patch.unrepresentable).toEqual(['x-1.0-h0_0.conda: extra.drop', 'x-1.0-h0_0.tar.bz2: extra', 'x-1.0-h0_0.tar.bz2: license']);
});

test('removals go to remove, sorted and once', () => {
  const patch = upstreamPatch('noarch', [], { remove: ['b-1-0.conda', 'a-1-0.tar.bz2', 'b-1-0.conda'] });
  expect(patch.instructions.remove).toEqual(['a-1-0.tar.bz2', 'b-1-0.conda']);
  const removed = apply({ packages: { 'a-1-0.tar.bz2': base('a') }, 'packages.conda': { 'b-1-0.conda': base('b') }, removed: [] }, patch.instructions);
  expect(removed).toEqual({ packages: {}, 'packages.conda': {}, removed: ['a-1-0.tar.bz2', 'b-1-0.conda'] });
});
