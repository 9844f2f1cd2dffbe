// Nothing an uploader writes into a staged manifest reaches production unverified: validate refuses a staged
// manifest that differs from the canonical one the package yields (run_exports, about, any extra annotation or
// layer field), promote writes the channel's own source annotation, and reindex then publishes only the package's
// values in run_exports.json and channeldata.json. On oci-layout: stores, where the forgery was first shown.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MediaType, openStore, type Store } from '@oci-channel/oci';
import { Annotation } from '@oci-channel/conda';
import { promote, reindex, upload, validate, type ArtifactRef } from '@oci-channel/pipeline';
import { makePackage, manifestAt, sha256File } from './pipeline-helpers.ts';

const SOURCE = 'https://github.com/my-org/channel';
const FORGED_RUN_EXPORTS = JSON.stringify({ strong: ['evil-runtime >=1'] });
const FORGED_ABOUT = JSON.stringify({ summary: 'forged summary', home: 'https://evil.example' });

let dir: string;
let staging: Store;
let production: Store;
let ref: ArtifactRef;
let original: Record<string, unknown>;

/** Pushes the staged manifest with `edit` applied to a copy of the original, at the same tag. */
async function stageEdited(edit: (manifest: { annotations: Record<string, string>; layers: Array<Record<string, unknown>> }) => void): Promise<void> {
  const manifest = structuredClone(original) as { annotations: Record<string, string>; layers: Array<Record<string, unknown>> };
  edit(manifest);
  await staging.repository('noarch/lib').pushManifest(new TextEncoder().encode(JSON.stringify(manifest)), MediaType.ImageManifest, '1.0-h0_0');
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'canonical-'));
  staging = openStore(`oci-layout:${path.join(dir, 'staging')}`);
  production = openStore(`oci-layout:${path.join(dir, 'production')}`);
  const file = await makePackage(path.join(dir, 'pkgs'), {
    name: 'lib',
    version: '1.0',
    build: 'h0_0',
    subdir: 'noarch',
    format: 'conda',
    runExports: { weak: ['lib >=1.0'] },
    extraInfo: { 'about.json': JSON.stringify({ summary: 'the real summary', home: 'https://example.org/lib', license: 'MIT' }) },
  });
  expect((await upload({ to: staging, files: [file], sourceUrl: 'https://github.com/conda-forge/lib-feedstock' })).ok).toBe(true);
  ref = { subdir: 'noarch', filename: path.basename(file), sha256: await sha256File(file) };
  const fetched = await staging.repository('noarch/lib').fetchManifest('1.0-h0_0');
  original = JSON.parse(Buffer.from(fetched.bytes).toString('utf8')) as Record<string, unknown>;
});
afterAll(async () => {
  await staging?.close();
  await production?.close();
  await rm(dir, { recursive: true, force: true });
});

const forgeries: Array<[string, Parameters<typeof stageEdited>[0], RegExp]> = [
  ['a strong run_export injected', (m) => void (m.annotations[Annotation.RunExports] = FORGED_RUN_EXPORTS), /annotation org\.conda\.package\.run_exports is .*evil-runtime.*, the package yields .*lib >=1\.0/],
  ['the about (channeldata) fields edited', (m) => void (m.annotations[Annotation.About] = FORGED_ABOUT), /annotation org\.conda\.package\.about is .*forged summary/],
  ['run_exports removed', (m) => void delete m.annotations[Annotation.RunExports], /annotation org\.conda\.package\.run_exports is missing/],
  ['an annotation the package does not yield', (m) => void (m.annotations['org.conda.package.channel_override'] = 'x'), /annotation org\.conda\.package\.channel_override is not one the package yields/],
  ['a subject field', (m) => void Object.assign(m, { subject: { mediaType: MediaType.ImageManifest, digest: `sha256:${'0'.repeat(64)}`, size: 2 } }), /field "subject" is not part of a package manifest/],
  ['a layer annotation added', (m) => void ((m.layers[1]!.annotations as Record<string, string>)['org.example.note'] = 'x'), /layer 1 \("lib-1\.0-h0_0\/info\.tar\.gz"\) annotation org\.example\.note is not one the package yields/],
];

test.each(forgeries)('%s: validate names the difference and promote publishes nothing', async (_name, edit, reason) => {
  await stageEdited(edit);
  const validated = await validate({ staging, production, artifacts: [ref] });
  expect(validated.ok).toBe(false);
  expect(validated.artifacts[0]!.checks.filter((c) => !c.ok)).toEqual([{ name: 'canonical-manifest', ok: false, detail: expect.stringMatching(reason) }]);
  const promoted = await promote({ staging, production, artifacts: [ref], sourceUrl: SOURCE });
  expect(promoted.artifacts[0]!.status).toBe('rejected');
  expect(await production.listRepositories()).toEqual([]);
  expect(await manifestAt(staging, 'noarch/lib', '1.0-h0_0')).toBeDefined();
});


test('a forged source annotation never reaches production: promote writes the channel\'s own; reindex publishes only the package\'s values', async () => {
  await stageEdited((m) => void (m.annotations[Annotation.Source] = 'https://github.com/attacker/repo'));
  const validated = await validate({ staging, production, artifacts: [ref] });
  expect(validated.ok).toBe(true);
  expect(validated.artifacts[0]!.checks.find((c) => c.name === 'canonical-manifest')).toEqual({ name: 'canonical-manifest', ok: true, detail: 'the staged manifest is the one the package yields' });
  const promoted = await promote({ staging, production, artifacts: [ref], sourceUrl: SOURCE });
  expect(promoted.ok).toBe(true);
  const published = await production.repository('noarch/lib').fetchManifest('1.0-h0_0');
  const manifest = JSON.parse(Buffer.from(published.bytes).toString('utf8'));
  expect(manifest.annotations[Annotation.Source]).toBe(SOURCE);
  // Everything else is what the package yields (the same layers, run_exports and about as upload wrote).
  expect(manifest.layers).toEqual((original as { layers: unknown }).layers);
  expect(manifest.annotations[Annotation.RunExports]).toBe(JSON.stringify({ weak: ['lib >=1.0'] }));

  const out = path.join(dir, 'tree');
  expect((await reindex({ channel: production, out, cacheDir: path.join(dir, 'cache') })).ok).toBe(true);
  const runExports = JSON.parse(await readFile(path.join(out, 'noarch', 'run_exports.json'), 'utf8'));
  expect(runExports['packages.conda'][ref.filename]).toEqual({ run_exports: { weak: ['lib >=1.0'] } });
  const channeldata = await readFile(path.join(out, 'channeldata.json'), 'utf8');
  expect(JSON.parse(channeldata).packages.lib).toMatchObject({ summary: 'the real summary', home: 'https://example.org/lib' });
  for (const forged of ['evil-runtime', 'forged summary', 'evil.example', 'attacker']) expect(channeldata + JSON.stringify(runExports)).not.toContain(forged);
});
