// Reading what the index is made of from production: package manifests (v0 layers) and a previous
// repodata.json manifest.
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tarStream from 'tar-stream';
import { NotFoundError, parseDigest, type Descriptor, type Digest, type Repository } from '@oci-channel/oci';
import { inlineDataMatches, packagesOfRepodata, parseRepodata, repodataRecord, zstdDecompress, type IndexedPackage } from '@oci-channel/conda';
import { parseJsonObject } from '../core/json.ts';
import { readSmallBlob } from '../core/blobs.ts';
import { parseLabelsDocument, type LabelsDocument } from './labels.ts';
import { IndexMediaType, LABEL_MARK, MD5, PATCHES, PROMOTION_MARK, TITLE } from './names.ts';
import { PipelineError } from '../errors.ts';

/** index.json is tiny; anything bigger is not one. */
const MAX_INDEX_JSON = 1 << 20;
/** info.tar.gz is read for about.json, run_exports.json and the channeldata flags only up to this size. */
const MAX_INFO_TAR = 64 << 20;
/** repodata.json of the biggest channels is a few hundred MB. */
const MAX_REPODATA = 2 * 1024 ** 3;

export interface ManifestLayers {
  annotations: Record<string, string>;
  packages: Descriptor[];
  indexJson?: Descriptor;
  infoTar?: Descriptor;
}

export function manifestLayers(bytes: Uint8Array, what: string): ManifestLayers {
  const manifest = parseJsonObject(bytes, what);
  const layers = Array.isArray(manifest.layers) ? (manifest.layers as Descriptor[]) : [];
  const out: ManifestLayers = { annotations: (manifest.annotations ?? {}) as Record<string, string>, packages: [] };
  for (const layer of layers) {
    if (!layer || typeof layer.mediaType !== 'string' || typeof layer.digest !== 'string') continue;
    if (layer.mediaType === IndexMediaType.PackageV1 || layer.mediaType === IndexMediaType.PackageV2) out.packages.push(layer);
    else if (layer.mediaType === IndexMediaType.InfoIndex) out.indexJson ??= layer;
    else if (layer.mediaType === IndexMediaType.InfoTarGz) out.infoTar ??= layer;
  }
  return out;
}

const ABOUT_ANNOTATION = 'org.conda.package.about';
const RUN_EXPORTS_ANNOTATION = 'org.conda.package.run_exports';

function jsonAnnotation(value: string | undefined): Record<string, unknown> | undefined {
  if (!value) return undefined;
  try {
    const parsed = JSON.parse(value) as unknown;
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

interface InfoExtras {
  about?: Record<string, unknown>;
  runExports?: Record<string, unknown>;
}

/** about.json, run_exports.json and the flags channeldata shows, from the info.tar.gz layer. */
async function readInfoExtras(repository: Repository, layer: Descriptor): Promise<InfoExtras> {
  if (layer.size > MAX_INFO_TAR) return {};
  const extract = tarStream.extract();
  const wanted = new Map<string, Buffer>();
  let files = '';
  let hasPrefix = '';
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const name = header.name.replace(/^\.\//, '');
      const keep = name === 'about.json' || name === 'run_exports.json' || name === 'files' || name === 'has_prefix';
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (chunk: unknown) => {
        if (!Buffer.isBuffer(chunk)) return;
        if (!keep) return;
        size += chunk.length;
        if (size <= 16 << 20) chunks.push(chunk);
      });
      stream.on('end', () => {
        if (keep && size <= 16 << 20) {
          const data = Buffer.concat(chunks);
          if (name === 'files') files = data.toString('utf8');
          else if (name === 'has_prefix') hasPrefix = data.toString('utf8');
          else wanted.set(name, data);
        }
        next();
      });
      stream.on('error', reject);
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  const blob = await repository.fetchBlob(layer.digest, layer.size);
  await Promise.all([pipeline(blob, createGunzip(), extract), done]);
  const json = (name: string): Record<string, unknown> | undefined => {
    const data = wanted.get(name);
    if (!data) return undefined;
    try {
      const value = JSON.parse(data.toString('utf8')) as unknown;
      return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  };
  const about: Record<string, unknown> = { ...(json('about.json') ?? {}) };
  const paths = files.split('\n');
  about['activate.d'] = paths.some((p) => p.startsWith('etc/conda/activate.d/'));
  about['deactivate.d'] = paths.some((p) => p.startsWith('etc/conda/deactivate.d/'));
  about.post_link = paths.some((p) => /(^|\/)\.[^/]+-post-link\.(sh|bat)$/.test(p));
  about.pre_link = paths.some((p) => /(^|\/)\.[^/]+-pre-link\.(sh|bat)$/.test(p));
  about.pre_unlink = paths.some((p) => /(^|\/)\.[^/]+-pre-unlink\.(sh|bat)$/.test(p));
  const prefixLines = hasPrefix.split('\n').filter(Boolean);
  about.binary_prefix = prefixLines.some((l) => / binary /.test(l));
  about.text_prefix = prefixLines.some((l) => !/ binary /.test(l));
  const runExports = json('run_exports.json');
  return { about, ...(runExports ? { runExports } : {}) };
}

/**
 * One index entry per package layer of a production manifest (one manifest may hold the .conda and the
 * .tar.bz2 of the same build). Reads index.json (tiny) and, for about/run_exports, info.tar.gz.
 */
export async function readPackageEntries(
  repository: Repository,
  reference: string,
  /** The manifest's bytes when already at hand (a promotion log entry carries them), checked by the caller. */
  known?: { bytes: Uint8Array; digest: Digest },
): Promise<{ digest: Digest; entries: IndexedPackage[] }> {
  const fetched = known ? { bytes: known.bytes, descriptor: { digest: known.digest } } : await repository.fetchManifest(reference);
  const what = `${repository.display}@${fetched.descriptor.digest}`;
  const layers = manifestLayers(fetched.bytes, `package manifest ${what}`);
  if (layers.packages.length === 0) throw new PipelineError(`package manifest ${what} has no conda package layer; it is not a v0 package, remove or re-promote it`);
  if (!layers.indexJson) throw new PipelineError(`package manifest ${what} has no info/index.json layer; re-promote the package to rebuild its manifest`);
  // index.json carried in the manifest (`data`) saves a blob GET; data that is not exactly its blob is ignored.
  const indexLayer = layers.indexJson;
  const inline = typeof indexLayer.data === 'string' && indexLayer.size <= MAX_INDEX_JSON && inlineDataMatches(indexLayer) ? Buffer.from(indexLayer.data, 'base64') : undefined;
  const indexJson = parseJsonObject(inline ?? (await readSmallBlob(repository, parseDigest(indexLayer.digest), indexLayer.size, MAX_INDEX_JSON)), `info/index.json of ${what}`);
  // buildPackageManifest puts about (with the channeldata flags) and run_exports in annotations; info.tar.gz
  // is read only for manifests without them (other tools, or values too big for an annotation).
  const annotations = layers.annotations;
  let extras: InfoExtras = {};
  const aboutNote = jsonAnnotation(annotations[ABOUT_ANNOTATION]);
  if (aboutNote) {
    extras.about = aboutNote;
    const runExports = jsonAnnotation(annotations[RUN_EXPORTS_ANNOTATION]);
    if (runExports) extras.runExports = runExports;
  } else if (layers.infoTar) {
    extras = await readInfoExtras(repository, layers.infoTar).catch(() => ({}) as InfoExtras);
  }
  const entries: IndexedPackage[] = [];
  for (const layer of layers.packages) {
    const filename = layer.annotations?.[TITLE];
    const md5 = layer.annotations?.[MD5];
    if (!filename || !/\.(conda|tar\.bz2)$/.test(filename) || /[/\\\0]/.test(filename)) {
      throw new PipelineError(`package layer ${layer.digest} of ${what} has no usable ${TITLE} (filename); re-promote the package`);
    }
    // The file name is what clients and the static tree use: it must be the build index.json describes.
    const stem = `${String(indexJson.name)}-${String(indexJson.version)}-${String(indexJson.build)}`;
    if (filename !== `${stem}.conda` && filename !== `${stem}.tar.bz2`) {
      throw new PipelineError(`package layer ${filename} of ${what} does not match its info/index.json (${stem}); re-promote the package`);
    }
    if (!md5 || !/^[0-9a-f]{32}$/.test(md5)) {
      throw new PipelineError(`package layer ${filename} of ${what} lacks the ${MD5} annotation repodata needs; re-promote the package`);
    }
    const record = repodataRecord(indexJson, { md5, sha256: layer.digest.slice('sha256:'.length), size: layer.size });
    entries.push({ filename, record, ...extras });
  }
  return { digest: fetched.descriptor.digest, entries };
}

export interface PublishedRepodata {
  manifestDigest: Digest;
  /** Every file of the subdir, unpatched (repodata_from_packages.json when the manifest has it, else repodata.json). */
  entries: IndexedPackage[];
  mark?: string;
  /** Digest of the plain repodata.json layer. */
  repodataDigest?: Digest;
  /** Label state of the files (labels.json), when any file is not simply `main`. */
  labels?: LabelsDocument;
  labelMark?: string;
  /** Key of the patch instructions it was built with ('' for none). */
  patchKey: string;
  /** Digest of its labels.json layer ('' for none). */
  labelsDigest: string;
}

async function readBlobCapped(repository: Repository, layer: Descriptor, cap: number): Promise<Buffer> {
  if (layer.size > cap) throw new PipelineError(`${layer.mediaType} blob ${layer.digest} in ${repository.display} is larger than ${cap} bytes; refused`);
  return Buffer.from(await readSmallBlob(repository, parseDigest(layer.digest), layer.size, cap));
}

/** The repodata a `repodata.json` manifest holds (zstd layer preferred: smaller), with its run_exports. */
export async function readPublishedRepodata(repository: Repository, reference: string, subdir: string): Promise<PublishedRepodata> {
  const fetched = await repository.fetchManifest(reference);
  const what = `${repository.display}@${fetched.descriptor.digest}`;
  const manifest = parseJsonObject(fetched.bytes, `repodata manifest ${what}`);
  const layers = (Array.isArray(manifest.layers) ? manifest.layers : []) as Descriptor[];
  // The unpatched records of every file when patches or labels made repodata.json differ from them.
  const fromPackages = layers.find((l) => l.mediaType === IndexMediaType.RepodataFromPackagesZst);
  const zst = fromPackages ?? layers.find((l) => l.mediaType === IndexMediaType.RepodataZst);
  const plain = layers.find((l) => l.mediaType === IndexMediaType.Repodata);
  let text: string;
  if (zst) text = zstdDecompress(await readBlobCapped(repository, zst, MAX_REPODATA), MAX_REPODATA).toString('utf8');
  else if (plain) text = (await readBlobCapped(repository, plain, MAX_REPODATA)).toString('utf8');
  else throw new PipelineError(`repodata manifest ${what} has no repodata.json layer; run a full reindex to rebuild it`);
  const repodata = parseRepodata(text, `repodata.json of ${what}`);
  if (repodata.info.subdir !== subdir) {
    throw new PipelineError(`repodata.json of ${what} says subdir ${repodata.info.subdir}, not ${subdir}; run a full reindex to rebuild it`);
  }
  const entries = packagesOfRepodata(repodata);
  const runExportsLayer = layers.find((l) => l.mediaType === IndexMediaType.RunExports);
  if (runExportsLayer) {
    try {
      const runExports = parseJsonObject(await readBlobCapped(repository, runExportsLayer, MAX_REPODATA), 'run_exports.json');
      const byFile = { ...(runExports.packages as object), ...(runExports['packages.conda'] as object) } as Record<string, { run_exports?: Record<string, unknown> }>;
      for (const entry of entries) {
        const re = byFile[entry.filename]?.run_exports;
        if (re && Object.keys(re).length > 0) entry.runExports = re;
      }
    } catch {
      // run_exports only feed shards and run_exports.json: better without them than no index
    }
  }
  const labelsLayer = layers.find((l) => l.mediaType === IndexMediaType.Labels);
  const labels = labelsLayer
    ? parseLabelsDocument(parseJsonObject(await readBlobCapped(repository, labelsLayer, MAX_REPODATA), `labels.json of ${what}`), `labels.json of ${what}`)
    : undefined;
  const annotations = (manifest.annotations ?? {}) as Record<string, string>;
  return {
    manifestDigest: fetched.descriptor.digest,
    entries,
    ...(annotations[PROMOTION_MARK] ? { mark: annotations[PROMOTION_MARK] } : {}),
    ...(plain ? { repodataDigest: parseDigest(plain.digest) } : {}),
    ...(labels ? { labels } : {}),
    ...(annotations[LABEL_MARK] ? { labelMark: annotations[LABEL_MARK] } : {}),
    patchKey: annotations[PATCHES] ?? '',
    labelsDigest: labelsLayer?.digest ?? '',
  };
}

/** The content key of a published label index (its repodata.json and run_exports.json digests), or undefined. */
export async function publishedViewKey(repository: Repository): Promise<string | undefined> {
  let fetched;
  try {
    fetched = await repository.fetchManifest('latest');
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
  const manifest = parseJsonObject(fetched.bytes, `${repository.display}:latest`);
  const layers = (Array.isArray(manifest.layers) ? manifest.layers : []) as Descriptor[];
  const plain = layers.find((l) => l.mediaType === IndexMediaType.Repodata);
  const runExports = layers.find((l) => l.mediaType === IndexMediaType.RunExports);
  return plain && runExports ? viewKey(plain.digest, runExports.digest) : undefined;
}

/** What decides whether a label index must be pushed again: its repodata.json and run_exports.json (shards follow them). */
export function viewKey(repodataDigest: string, runExportsDigest: string): string {
  return `${repodataDigest}:${runExportsDigest}`;
}
