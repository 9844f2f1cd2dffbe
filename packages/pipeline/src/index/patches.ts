// Where reindex finds repodata patches, in the order they are applied:
//   1. a patches package: a file, an artifact of the channel (`SUBDIR/FILENAME`), or the newest build of a named
//      package in noarch (as conda-forge's indexer always takes the latest conda-forge-repodata-patches);
//   2. a directory of `<subdir>/patch_instructions.json` files (small channels keep theirs in their repository);
//   3. the channel's own instructions in the registry: repository `<subdir>/patch_instructions.json`, tag
//      `latest` (what `oci-channel mirror` writes to match upstream's patched records).
// Applying them is @oci-channel/conda's applyPatches; this module only finds, checks and caches them (the channel's
// own are kept by channel-patches.ts). A package is
// checked whole when first read (one bad subdir refuses it) and its members kept in the reindex cache by sha256,
// so a warm reindex with the same patches downloads nothing.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseDigest, type Store } from '@oci-channel/oci';
import { PatchError, packageRepository, parsePatchInstructionsJson, readPatchesPackage, type IndexedPackage, type PatchInstructions } from '@oci-channel/conda';
import { parseArtifactRef } from '../core/artifact-ref.ts';
import { downloadBlob } from '../core/blobs.ts';
import { fetchPackageManifest, locateArtifact } from '../core/package-manifest.ts';
import { patchInstructionsRepository, readChannelInstructionsAt } from './channel-patches.ts';
import { isSubdirName } from './names.ts';

export { PATCH_INSTRUCTIONS_MEDIA_TYPE, patchInstructionsRepository, writeChannelPatchInstructions } from './channel-patches.ts';

/** One subdir's instructions from one source: their identity (sha256 or digest of the bytes) and how to get them. */
interface SubdirSource {
  key: string;
  load(): Promise<PatchInstructions>;
}

export interface Patches {
  /** What was applied, for reports and the repodata annotation (`noarch/x-1-0.conda@sha256:...`), when a package was. */
  source?: string;
  /** '' when nothing patches `subdir`; equal keys mean equal instructions. */
  keyOf(subdir: string): string;
  /** The instruction sets for `subdir`, in application order. */
  instructionsOf(subdir: string): Promise<PatchInstructions[]>;
}

export interface PatchSourceOptions {
  store: Store;
  /** The channel's reindex cache directory (undefined: nothing is kept between runs). */
  cacheDir?: string;
  patchGenerator?: string;
  patchPackage?: string;
  patchInstructions?: string;
  subdirs: string[];
  /** A file the reindex knows in `subdir` (to fetch a patches artifact by digest). */
  known(subdir: string, filename: string): IndexedPackage | undefined;
  /** The builds of `name` in noarch that are in the main index. */
  mainBuilds(name: string): IndexedPackage[];
  newestVersion(versions: string[]): string | undefined;
  report(message: string): void;
}

const sha256Hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Finds every source and checks what it holds; throws a PatchError (one line) when a source cannot be used. */
export async function loadPatches(o: PatchSourceOptions): Promise<Patches> {
  if (o.patchGenerator && o.patchPackage) throw new PatchError('give either a patch generator or a patch package name, not both');
  const perSubdir = new Map<string, SubdirSource[]>();
  const add = (subdir: string, source: SubdirSource | undefined) => {
    const list = perSubdir.get(subdir) ?? [];
    list.push(source ?? { key: '-', load: async () => ({ packages: {}, 'packages.conda': {}, remove: [], revoke: [] }) });
    perSubdir.set(subdir, list);
  };

  let source: string | undefined;
  const pkg = await patchesPackage(o);
  if (pkg) {
    source = pkg.source;
    for (const subdir of o.subdirs) add(subdir, pkg.subdirs.get(subdir));
  }
  if (o.patchInstructions) {
    for (const subdir of o.subdirs) add(subdir, await instructionsFile(path.join(o.patchInstructions, subdir, 'patch_instructions.json'), subdir));
  }
  for (const subdir of o.subdirs) add(subdir, await channelInstructions(o, subdir));

  return {
    ...(source ? { source } : {}),
    keyOf(subdir) {
      const list = perSubdir.get(subdir) ?? [];
      if (list.every((s) => s.key === '-')) return '';
      return createHash('sha256').update(list.map((s) => s.key).join('\n')).digest('hex').slice(0, 32);
    },
    async instructionsOf(subdir) {
      const out: PatchInstructions[] = [];
      for (const s of perSubdir.get(subdir) ?? []) if (s.key !== '-') out.push(await s.load());
      return out;
    },
  };
}

/** The patches package, from the disk cache when it was read before. */
async function patchesPackage(o: PatchSourceOptions): Promise<{ source: string; subdirs: Map<string, SubdirSource> } | undefined> {
  let file: string | undefined;
  let artifact: Artifact | undefined;
  if (o.patchGenerator) {
    if (existsSync(o.patchGenerator)) file = o.patchGenerator;
    else {
      let ref;
      try {
        ref = parseArtifactRef(o.patchGenerator);
      } catch {
        throw new PatchError(`patch generator ${JSON.stringify(o.patchGenerator)} is neither a file nor SUBDIR/FILENAME of an artifact of the channel`);
      }
      const known = o.known(ref.subdir, ref.filename);
      artifact = known ? artifactOf(ref.subdir, known) : await fromManifest(o.store, ref.subdir, ref.filename);
      if (!artifact) throw new PatchError(`patch generator ${ref.subdir}/${ref.filename} is not in ${o.store.display}; promote it first or give a file`);
    }
  } else if (o.patchPackage) {
    const builds = o.mainBuilds(o.patchPackage);
    const version = o.newestVersion(builds.map((b) => b.record.version));
    const newest = builds
      .filter((b) => b.record.version === version)
      .sort((a, b) => b.record.build_number - a.record.build_number || Number(b.record.timestamp ?? 0) - Number(a.record.timestamp ?? 0) || (a.filename < b.filename ? 1 : -1))[0];
    if (!newest) throw new PatchError(`no build of ${o.patchPackage} in noarch of ${o.store.display}: promote the patches package first, or index without patches`);
    artifact = artifactOf('noarch', newest);
  } else {
    return undefined;
  }

  const sha256 = artifact ? artifact.sha256 : await hashFile(file!);
  const filename = artifact ? artifact.filename : path.basename(file!);
  const sourceName = artifact ? `${artifact.subdir}/${filename}@sha256:${sha256}` : `${filename}@sha256:${sha256}`;
  const dir = o.cacheDir ? path.join(o.cacheDir, 'patches', sha256) : undefined;
  const cached = dir ? await readCachedPackage(dir) : undefined;
  if (cached) return { source: sourceName, subdirs: cached };

  const work = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-patches-'));
  try {
    let local = file;
    if (artifact) {
      o.report(`downloading the patches package ${artifact.subdir}/${filename}`);
      local = path.join(work, filename);
      const repository = o.store.repository(packageRepository(artifact.subdir, artifact.name));
      await downloadBlob(repository, parseDigest(`sha256:${sha256}`), artifact.size, local);
    }
    const read = await readPatchesPackage(local!, { filename });
    if (read.sha256 !== sha256) throw new PatchError(`patches package ${filename} changed while it was read; run reindex again`);
    const subdirs = new Map<string, SubdirSource>();
    for (const [subdir, member] of read.subdirs) subdirs.set(subdir, { key: member.sha256, load: async () => member.instructions() });
    if (dir) await writeCachedPackage(dir, read.subdirs);
    return { source: sourceName, subdirs };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** A patches package in the channel: where it is and what it must hash to. */
interface Artifact {
  subdir: string;
  filename: string;
  name: string;
  sha256: string;
  size: number;
}

const artifactOf = (subdir: string, pkg: IndexedPackage): Artifact => ({ subdir, filename: pkg.filename, name: pkg.record.name, sha256: pkg.record.sha256, size: pkg.record.size });

async function fromManifest(store: Store, subdir: string, filename: string): Promise<Artifact | undefined> {
  const where = locateArtifact({ subdir, filename });
  const manifest = await fetchPackageManifest(store, where.repository, where.tag);
  const layer = manifest?.view.packages.find((p) => p.filename === filename);
  return layer ? { subdir, filename, name: where.name, sha256: layer.sha256, size: layer.size } : undefined;
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** `<cache>/patches/<sha256>/<subdir>.json`, written once complete (the `.complete` marker goes last). */
async function readCachedPackage(dir: string): Promise<Map<string, SubdirSource> | undefined> {
  if (!existsSync(path.join(dir, '.complete'))) return undefined;
  const subdirs = new Map<string, SubdirSource>();
  for (const name of await readdir(dir)) {
    const subdir = name.replace(/\.json$/, '');
    if (subdir === name || !isSubdirName(subdir)) continue;
    const file = path.join(dir, name);
    const bytes = await readFile(file);
    subdirs.set(subdir, { key: sha256Hex(bytes), load: async () => parsePatchInstructionsJson(await readFile(file), `${subdir}/patch_instructions.json (cached)`) });
  }
  return subdirs;
}

async function writeCachedPackage(dir: string, subdirs: Map<string, { bytes: Buffer }>): Promise<void> {
  const tmp = `${dir}.${process.pid}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  for (const [subdir, member] of subdirs) await writeFile(path.join(tmp, `${subdir}.json`), member.bytes);
  await writeFile(path.join(tmp, '.complete'), '');
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
}

async function instructionsFile(file: string, subdir: string): Promise<SubdirSource | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PatchError(`cannot read ${file}: ${(error as Error).message}`);
  }
  const what = `${subdir}/patch_instructions.json (${file})`;
  parsePatchInstructionsJson(bytes, what);
  return { key: sha256Hex(bytes), load: async () => parsePatchInstructionsJson(bytes, what) };
}

/** The channel's own instructions for `subdir`: one HEAD per run, the layer read only when it changed. */
async function channelInstructions(o: PatchSourceOptions, subdir: string): Promise<SubdirSource | undefined> {
  const repository = o.store.repository(patchInstructionsRepository(subdir));
  const head = await repository.resolve('latest');
  if (!head) return undefined;
  const file = o.cacheDir ? path.join(o.cacheDir, 'patches', 'channel', `${head.digest.slice('sha256:'.length)}.json`) : undefined;
  if (file && existsSync(file)) {
    const bytes = await readFile(file);
    return { key: sha256Hex(bytes), load: async () => parsePatchInstructionsJson(bytes, `${repository.display}:latest (cached)`) };
  }
  const { bytes, what } = await readChannelInstructionsAt(repository, head.digest);
  if (file) {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(`${file}.${process.pid}.tmp`, bytes);
    await rename(`${file}.${process.pid}.tmp`, file);
  }
  return { key: sha256Hex(bytes), load: async () => parsePatchInstructionsJson(bytes, what) };
}
