// The conda OCI layout v0: repository names, tags, and the package manifest (see docs/layout.md).
import { createHash } from 'node:crypto';
import {
  EMPTY_SHA256,
  MediaType,
  bytesSource,
  fileSource,
  isRepositoryName,
  isTag,
  sha256Digest,
  type BlobSource,
  type Descriptor,
  type Digest,
  type ImageManifest,
} from '@oci-channel/oci';
import { PackageError, errorText } from './errors.ts';
import { isValidSubdir, nameProblem, parsePackageFilename, type PackageFormat } from './names.ts';
import type { PackageInfo } from './read.ts';

export const CondaMediaType = {
  PackageV1: 'application/vnd.conda.package.v1',
  PackageV2: 'application/vnd.conda.package.v2',
  InfoTarGz: 'application/vnd.conda.info.v1.tar+gzip',
  IndexJson: 'application/vnd.conda.info.index.v1+json',
  Config: 'application/vnd.unknown.config.v1+json',
  Repodata: 'application/vnd.conda.repodata.v1+json',
  RepodataZst: 'application/vnd.conda.repodata.v1+json+zst',
} as const;

/** The config of every v0 package manifest: the empty blob under conda's config media type. */
export const PACKAGE_CONFIG: Readonly<Descriptor> = Object.freeze({ mediaType: CondaMediaType.Config, digest: EMPTY_SHA256, size: 0 });

/** Annotation keys we write (docs/layout.md explains each). */
export const Annotation = {
  Title: 'org.opencontainers.image.title',
  Created: 'org.opencontainers.image.created',
  Source: 'org.opencontainers.image.source',
  Md5: 'org.conda.md5',
  CreationTime: 'creationTime',
  Name: 'org.conda.package.name',
  Version: 'org.conda.package.version',
  Build: 'org.conda.package.build',
  Subdir: 'org.conda.package.subdir',
  RunExports: 'org.conda.package.run_exports',
  About: 'org.conda.package.about',
  /** Per format: `org.conda.package.conda.sha256`, `org.conda.package.tar.bz2.size`, ... */
  perFormat: (format: PackageFormat, field: 'filename' | 'sha256' | 'md5' | 'size') => `org.conda.package.${format}.${field}`,
} as const;

const FORMATS: PackageFormat[] = ['conda', 'tar.bz2'];
const MEDIA_TYPE_OF: Record<PackageFormat, string> = { conda: CondaMediaType.PackageV2, 'tar.bz2': CondaMediaType.PackageV1 };

// ---------------------------------------------------------------------------------------------------------
// Names and tags

/** `<subdir>/<name>` relative to the channel path; names starting with '_' get 'zzz' in front (v0). */
export function packageRepository(subdir: string, name: string): string {
  if (!isValidSubdir(subdir)) throw new PackageError(`${subdir}/${name}`, `${JSON.stringify(subdir)} is not a conda subdir`, 'use noarch or a platform like linux-64');
  const problem = nameProblem(name);
  if (problem) throw new PackageError(`${subdir}/${name}`, problem, 'use a CEP 26 package name');
  const repository = `${subdir}/${name.startsWith('_') ? `zzz${name}` : name}`;
  if (!isRepositoryName(repository)) throw new PackageError(`${subdir}/${name}`, `${repository} is not a valid OCI repository name`, 'use a CEP 26 package name');
  return repository;
}

const ENCODINGS: Array<[string, string]> = [
  ['+', '__p__'],
  ['!', '__e__'],
  ['=', '__eq__'],
];

function encodeV0(text: string): string {
  let out = text;
  for (const [from, to] of ENCODINGS) out = out.split(from).join(to);
  return out;
}

/** Decodes left to right, so '__eq__' and '__e__' never overlap wrongly. */
function decodeV0(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; ) {
    const match = ENCODINGS.find(([, to]) => text.startsWith(to, i));
    if (match) {
      out += match[0];
      i += match[1].length;
    } else {
      out += text[i];
      i += 1;
    }
  }
  return out;
}

/** Length of the readable part of a fallback tag; with '--' and 20 hex digits the tag stays within 128. */
const FALLBACK_PREFIX = 100;
const FALLBACK_HASH_HEX = 20;

/**
 * The v0 tag `VERSION-BUILD` with '+' -> '__p__', '!' -> '__e__', '=' -> '__eq__'. When that is no valid OCI
 * tag (over 128 characters, other characters) or would not decode back to the same pair, the fallback is
 * `<readable prefix>--<first 20 hex of sha256("VERSION-BUILD")>`: deterministic, valid, and never decoded.
 */
export function encodeTag(version: string, build: string): string {
  const encoded = encodeV0(`${version}-${build}`);
  if (!version.includes('-') && !build.includes('-') && isTag(encoded) && !encoded.includes('--')) {
    const decoded = decodeTag(encoded);
    if (decoded && decoded.version === version && decoded.build === build) return encoded;
  }
  return fallbackTag(version, build);
}

function fallbackTag(version: string, build: string): string {
  const hash = createHash('sha256').update(`${version}-${build}`).digest('hex').slice(0, FALLBACK_HASH_HEX);
  let prefix = encodeV0(`${version}-${build}`)
    .replace(/[^a-zA-Z0-9._-]/g, '_')
    .replace(/-{2,}/g, '-')
    .slice(0, FALLBACK_PREFIX)
    .replace(/[.-]+$/, '');
  if (!/^[a-zA-Z0-9_]/.test(prefix)) prefix = `_${prefix.slice(0, FALLBACK_PREFIX - 1)}`;
  return `${prefix}--${hash}`;
}

/** `{version, build}` of a v0 tag; undefined for fallback tags and anything that is not `VERSION-BUILD`. */
export function decodeTag(tag: string): { version: string; build: string } | undefined {
  if (!isTag(tag) || tag.includes('--')) return undefined;
  const parts = tag.split('-');
  if (parts.length !== 2 || !parts[0] || !parts[1]) return undefined;
  return { version: decodeV0(parts[0]), build: decodeV0(parts[1]) };
}

/** `YYYY.MM.DD.HH.MM` in UTC, as conda-oci-mirror writes `creationTime`. */
export function creationTime(date: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${date.getUTCFullYear()}.${p(date.getUTCMonth() + 1)}.${p(date.getUTCDate())}.${p(date.getUTCHours())}.${p(date.getUTCMinutes())}`;
}

// ---------------------------------------------------------------------------------------------------------
// The package manifest

export interface PackageManifestOptions {
  /** The file to push as the package layer (defaults to the path the package was read from). */
  packagePath?: string;
  /** The manifest already at this tag, holding the other format of the same build: both layers are kept. */
  existing?: ImageManifest;
  created?: Date;
  sourceUrl?: string;
}

export interface BuiltPackageManifest {
  manifest: ImageManifest;
  bytes: Uint8Array;
  /** Blobs the manifest references that this package brings (push them before the manifest). */
  blobs: Array<{ descriptor: Descriptor; source: BlobSource }>;
  /** True when `existing` already held this exact file: `manifest` is `existing`, nothing needs pushing. */
  unchanged: boolean;
}

/** Annotation values over this size are dropped (a registry caps the whole manifest at about 4 MiB). */
const MAX_ABOUT_ANNOTATION = 64 * 1024;

export function buildPackageManifest(pkg: PackageInfo, options: PackageManifestOptions = {}): BuiltPackageManifest {
  const created = options.created ?? new Date();
  const stamp = creationTime(created);
  const dist = `${pkg.name}-${pkg.version}-${pkg.build}`;
  const packageLayer: Descriptor = {
    mediaType: MEDIA_TYPE_OF[pkg.format],
    digest: `sha256:${pkg.sha256}`,
    size: pkg.size,
    annotations: { [Annotation.Title]: pkg.filename, [Annotation.Md5]: pkg.md5, [Annotation.CreationTime]: stamp },
  };
  let infoLayer: Descriptor = {
    mediaType: CondaMediaType.InfoTarGz,
    digest: sha256Digest(pkg.infoTarGz),
    size: pkg.infoTarGz.byteLength,
    annotations: { [Annotation.Title]: `${dist}/info.tar.gz`, [Annotation.CreationTime]: stamp },
  };
  let indexLayer: Descriptor = {
    mediaType: CondaMediaType.IndexJson,
    digest: sha256Digest(pkg.indexJsonBytes),
    size: pkg.indexJsonBytes.byteLength,
    annotations: { [Annotation.Title]: `${dist}/info/index.json`, [Annotation.CreationTime]: stamp },
    // index.json rides in the manifest too (OCI 1.1 `data`): reindex reads a package's record without a blob GET.
    ...(pkg.indexJsonBytes.byteLength <= INLINE_INDEX_JSON_BYTES ? { data: Buffer.from(pkg.indexJsonBytes).toString('base64') } : {}),
  };
  const packages: Descriptor[] = [packageLayer];
  let existingAnnotations: Record<string, string> = {};
  let reuseInfo = false;

  if (options.existing) {
    const where = `the manifest at ${encodeTag(pkg.version, pkg.build)}`;
    const view = describePackageManifest(options.existing, where);
    if (view.name !== pkg.name || view.version !== pkg.version || view.build !== pkg.build || (view.subdir && view.subdir !== pkg.subdir)) {
      throw new PackageError(pkg.filename, `${where} holds ${view.name} ${view.version} ${view.build} (${view.subdir || 'no subdir'}), a different build`, 'resolve the tag clash before publishing');
    }
    const same = view.packages.find((p) => p.format === pkg.format);
    if (same) {
      if (same.sha256 === pkg.sha256 && same.filename === pkg.filename) {
        return { manifest: options.existing, bytes: serialize(options.existing), blobs: [], unchanged: true };
      }
      throw new PackageError(
        pkg.filename,
        `${where} already holds a different ${pkg.filename} (sha256 ${same.sha256}, this file has ${pkg.sha256})`,
        'a published file never changes: bump the build number',
      );
    }
    // The other format of this build is there: its info must describe the same package (index.json is a
    // member of info.tar.gz, so equal info.tar.gz means equal records too).
    if (view.infoTarGz.digest !== infoLayer.digest) {
      throw new PackageError(
        pkg.filename,
        `its info/ files differ from those of ${view.packages.map((p) => p.filename).join(', ')} already published under ${where} (info.tar.gz ${infoLayer.digest} vs ${view.infoTarGz.digest})`,
        'publish the .conda and .tar.bz2 of one build from the same build output (e.g. cph transmute)',
      );
    }
    reuseInfo = true;
    infoLayer = view.infoTarGz;
    indexLayer = view.indexJson;
    for (const p of view.packages) packages.push(p.descriptor);
    existingAnnotations = options.existing.annotations ?? {};
  }
  // .conda first, then .tar.bz2: clients pick the layer by media type, humans read the newer format first.
  packages.sort((a, b) => FORMATS.indexOf(formatOfMediaType(a.mediaType)!) - FORMATS.indexOf(formatOfMediaType(b.mediaType)!));

  const annotations: Record<string, string> = {};
  for (const [key, value] of Object.entries(existingAnnotations)) {
    if (key.startsWith('org.conda.package.conda.') || key.startsWith('org.conda.package.tar.bz2.')) annotations[key] = value;
  }
  Object.assign(annotations, {
    [Annotation.Name]: pkg.name,
    [Annotation.Version]: pkg.version,
    [Annotation.Build]: pkg.build,
    [Annotation.Subdir]: pkg.subdir,
    [Annotation.perFormat(pkg.format, 'filename')]: pkg.filename,
    [Annotation.perFormat(pkg.format, 'sha256')]: pkg.sha256,
    [Annotation.perFormat(pkg.format, 'md5')]: pkg.md5,
    [Annotation.perFormat(pkg.format, 'size')]: String(pkg.size),
    [Annotation.Created]: created.toISOString(),
  });
  const sourceUrl = options.sourceUrl ?? existingAnnotations[Annotation.Source];
  if (sourceUrl) annotations[Annotation.Source] = sourceUrl;
  if (pkg.runExports) annotations[Annotation.RunExports] = JSON.stringify(pkg.runExports);
  const about = aboutAnnotation(pkg.channelFields);
  if (about) annotations[Annotation.About] = about;

  const config: Descriptor = { ...PACKAGE_CONFIG };
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ImageManifest,
    config,
    layers: [...packages, infoLayer, indexLayer],
    annotations: sortKeys(annotations),
  };
  const blobs: BuiltPackageManifest['blobs'] = [
    { descriptor: config, source: bytesSource(new Uint8Array(0)) },
    { descriptor: packageLayer, source: fileSource(options.packagePath ?? pkg.path, pkg.size) },
  ];
  if (!reuseInfo) {
    blobs.push({ descriptor: infoLayer, source: bytesSource(pkg.infoTarGz) }, { descriptor: indexLayer, source: bytesSource(pkg.indexJsonBytes) });
  }
  return { manifest, bytes: serialize(manifest), blobs, unchanged: false };
}

function aboutAnnotation(fields: Record<string, unknown>): string | undefined {
  if (Object.keys(fields).length === 0) return undefined;
  let text = JSON.stringify(fields);
  if (text.length > MAX_ABOUT_ANNOTATION) {
    // The description is the only field that grows without bound; channeldata can live without it.
    const { description: _dropped, ...rest } = fields;
    text = JSON.stringify(rest);
  }
  return text.length > MAX_ABOUT_ANNOTATION ? undefined : text;
}

function sortKeys(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function serialize(manifest: ImageManifest): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(manifest));
}

function formatOfMediaType(mediaType: string): PackageFormat | undefined {
  return mediaType === CondaMediaType.PackageV2 ? 'conda' : mediaType === CondaMediaType.PackageV1 ? 'tar.bz2' : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Reading a manifest back

export interface PackageManifestView {
  name: string;
  version: string;
  build: string;
  /** From our annotation; '' when the manifest does not say (conda-oci-mirror manifests). */
  subdir: string;
  packages: Array<{ filename: string; format: PackageFormat; sha256: string; md5: string; size: number; descriptor: Descriptor }>;
  infoTarGz: Descriptor;
  indexJson: Descriptor;
  annotations: Record<string, string>;
  /** info/run_exports.json, when the publisher recorded it. */
  runExports?: Record<string, unknown>;
  /** Channeldata fields (about.json fields, recipe source, post-install flags), when recorded. */
  about?: Record<string, unknown>;
}

const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;

/** Checks the v0 shape strictly and returns what it says; throws PackageError naming `where`. */
export function describePackageManifest(manifest: unknown, where = 'the manifest'): PackageManifestView {
  const bad = (reason: string) => new PackageError(where, `not a conda v0 package manifest: ${reason}`, 'republish the package');
  if (!manifest || typeof manifest !== 'object' || Array.isArray(manifest)) throw bad('not a JSON object');
  const m = manifest as Record<string, unknown>;
  if (m.schemaVersion !== 2) throw bad('schemaVersion is not 2');
  if (m.mediaType !== undefined && m.mediaType !== MediaType.ImageManifest) throw bad(`media type ${JSON.stringify(m.mediaType)} is not an OCI image manifest`);
  const config = descriptorOf(m.config, 'config', bad);
  if (config.mediaType !== CondaMediaType.Config) throw bad(`config media type ${JSON.stringify(config.mediaType)} is not ${CondaMediaType.Config}`);
  if (!Array.isArray(m.layers)) throw bad('no layers');
  const annotations = stringRecord(m.annotations, 'annotations', bad);
  const layers = m.layers.map((layer, i) => descriptorOf(layer, `layer ${i}`, bad));
  const packages: PackageManifestView['packages'] = [];
  let infoTarGz: Descriptor | undefined;
  let indexJson: Descriptor | undefined;
  let dist: { name: string; version: string; build: string } | undefined;
  const agree = (name: string, version: string, build: string, title: string) => {
    if (!dist) dist = { name, version, build };
    else if (dist.name !== name || dist.version !== version || dist.build !== build) throw bad(`layer ${JSON.stringify(title)} names another build than ${dist.name}-${dist.version}-${dist.build}`);
  };
  for (const layer of layers) {
    const title = layer.annotations?.[Annotation.Title];
    if (!title) throw bad(`layer ${layer.digest} has no ${Annotation.Title}`);
    const format = formatOfMediaType(layer.mediaType);
    if (format) {
      if (!SHA256_DIGEST.test(layer.digest)) throw bad(`package layer ${title} has digest ${layer.digest}, not a sha256`);
      let parsed;
      try {
        parsed = parsePackageFilename(title);
      } catch (error) {
        throw bad(`package layer title ${JSON.stringify(title)}: ${error instanceof PackageError ? error.reason : errorText(error)}`);
      }
      if (parsed.format !== format) throw bad(`layer ${title} has media type ${layer.mediaType}`);
      if (packages.some((p) => p.format === format)) throw bad(`two .${format} layers`);
      const md5 = layer.annotations?.[Annotation.Md5] ?? '';
      if (!/^[a-f0-9]{32}$/.test(md5)) throw bad(`package layer ${title} has no ${Annotation.Md5}`);
      agree(parsed.name, parsed.version, parsed.build, title);
      packages.push({ filename: title, format, sha256: layer.digest.slice('sha256:'.length), md5, size: layer.size, descriptor: layer });
    } else if (layer.mediaType === CondaMediaType.InfoTarGz || layer.mediaType === CondaMediaType.IndexJson) {
      const suffix = layer.mediaType === CondaMediaType.InfoTarGz ? '/info.tar.gz' : '/info/index.json';
      if (!title.endsWith(suffix)) throw bad(`layer ${layer.mediaType} is titled ${JSON.stringify(title)}, not NAME-VERSION-BUILD${suffix}`);
      if (layer.mediaType === CondaMediaType.InfoTarGz) {
        if (infoTarGz) throw bad('two info.tar.gz layers');
        infoTarGz = layer;
      } else {
        if (indexJson) throw bad('two index.json layers');
        indexJson = layer;
      }
    } else {
      throw bad(`unexpected layer media type ${JSON.stringify(layer.mediaType)}`);
    }
  }
  if (packages.length === 0) throw bad('no package layer');
  if (!infoTarGz) throw bad('no info.tar.gz layer');
  if (!indexJson) throw bad('no info/index.json layer');
  const { name, version, build } = dist!;
  const distName = `${name}-${version}-${build}`;
  for (const layer of [infoTarGz, indexJson]) {
    const title = layer.annotations![Annotation.Title]!;
    if (!title.startsWith(`${distName}/`)) throw bad(`layer ${JSON.stringify(title)} names another build than ${distName}`);
  }
  for (const [key, expected] of [[Annotation.Name, name], [Annotation.Version, version], [Annotation.Build, build]] as const) {
    if (annotations[key] !== undefined && annotations[key] !== expected) throw bad(`annotation ${key} says ${JSON.stringify(annotations[key])} but the layers say ${JSON.stringify(expected)}`);
  }
  const subdir = annotations[Annotation.Subdir] ?? '';
  if (subdir && !isValidSubdir(subdir)) throw bad(`annotation ${Annotation.Subdir} ${JSON.stringify(subdir)} is not a conda subdir`);
  for (const p of packages) {
    const sha = annotations[Annotation.perFormat(p.format, 'sha256')];
    if (sha !== undefined && sha !== p.sha256) throw bad(`annotation ${Annotation.perFormat(p.format, 'sha256')} disagrees with the ${p.filename} layer`);
  }
  const view: PackageManifestView = { name, version, build, subdir, packages, infoTarGz, indexJson, annotations };
  const runExports = jsonAnnotation(annotations, Annotation.RunExports, bad);
  if (runExports) view.runExports = runExports;
  const about = jsonAnnotation(annotations, Annotation.About, bad);
  if (about) view.about = about;
  // Packages in a stable order whatever the layer order of other producers.
  packages.sort((a, b) => FORMATS.indexOf(a.format) - FORMATS.indexOf(b.format));
  return view;
}

/**
 * index.json up to this size is also carried in its layer's descriptor (`data`, base64; real ones are 0.5-5 KB), so
 * the manifest alone holds the package's record. Larger ones are read from the blob.
 */
export const INLINE_INDEX_JSON_BYTES = 16 * 1024;

/** Whether a descriptor's `data` is exactly its blob: valid base64 of `size` bytes hashing to `digest`. */
export function inlineDataMatches(descriptor: { digest: string; size: number; data?: unknown }): boolean {
  if (typeof descriptor.data !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(descriptor.data) || descriptor.data.length % 4 !== 0) return false;
  const bytes = Buffer.from(descriptor.data, 'base64');
  return bytes.byteLength === descriptor.size && bytes.toString('base64') === descriptor.data && sha256Digest(bytes) === descriptor.digest;
}

function descriptorOf(value: unknown, what: string, bad: (reason: string) => PackageError): Descriptor {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw bad(`${what} is not a descriptor`);
  const d = value as Record<string, unknown>;
  if (typeof d.mediaType !== 'string' || !d.mediaType) throw bad(`${what} has no mediaType`);
  if (typeof d.digest !== 'string' || !/^sha(256:[a-f0-9]{64}|512:[a-f0-9]{128})$/.test(d.digest)) throw bad(`${what} has no valid digest`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw bad(`${what} has no valid size`);
  const annotations = d.annotations === undefined ? undefined : stringRecord(d.annotations, `${what} annotations`, bad);
  if (d.data !== undefined && !inlineDataMatches(d as { digest: string; size: number; data?: unknown })) throw bad(`${what} carries data that is not its blob`);
  return { mediaType: d.mediaType, digest: d.digest as Digest, size: d.size, ...(annotations ? { annotations } : {}), ...(typeof d.data === 'string' ? { data: d.data } : {}) };
}

function stringRecord(value: unknown, what: string, bad: (reason: string) => PackageError): Record<string, string> {
  if (value === undefined) return {};
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw bad(`${what} is not an object`);
  for (const [key, v] of Object.entries(value)) if (typeof v !== 'string') throw bad(`${what} ${JSON.stringify(key)} is not a string`);
  return value as Record<string, string>;
}

function jsonAnnotation(annotations: Record<string, string>, key: string, bad: (reason: string) => PackageError): Record<string, unknown> | undefined {
  const text = annotations[key];
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw bad(`annotation ${key} is not a JSON object`);
}
