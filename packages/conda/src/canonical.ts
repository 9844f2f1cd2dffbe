// The canonical package manifest: what a verified package file itself yields (buildPackageManifest), compared with
// a manifest someone else wrote. validate refuses a staged manifest that differs, so the manifest promote copies
// by digest, and every annotation reindex later publishes (run_exports, about), come from the package, not from
// whoever could write staging.
import { Annotation, buildPackageManifest } from './layout.ts';
import type { PackageInfo } from './read.ts';

/** Top-level fields of a package manifest; anything else (subject, artifactType, ...) is refused. */
const MANIFEST_FIELDS = new Set(['schemaVersion', 'mediaType', 'config', 'layers', 'annotations']);
/**
 * Annotations a package cannot yield but the pipeline tolerates: the upload time (informational, never indexed)
 * and the source URL, which promote replaces with the channel's own (it is never copied to production).
 */
const UNVERIFIABLE_ANNOTATIONS = new Set<string>([Annotation.Created, Annotation.Source]);
/** Layer annotations of the same kind: the upload time of each layer. */
const UNVERIFIABLE_LAYER_ANNOTATIONS = new Set<string>([Annotation.CreationTime]);

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Whether two parsed JSON values are equal (objects key by key, whatever the order). */
function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  }
  if (!isObject(a) || !isObject(b)) return false;
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
}

/** The first annotation of `actual` that differs from `expected` (`skip` keys may hold anything), or undefined. */
function annotationDifference(actual: unknown, expected: Record<string, string>, skip: Set<string>, where: string): string | undefined {
  const given = isObject(actual) ? actual : {};
  const keys = [...new Set([...Object.keys(given), ...Object.keys(expected)])].sort();
  for (const key of keys) {
    if (skip.has(key)) {
      if (given[key] !== undefined && typeof given[key] !== 'string') return `${where}annotation ${key} is not a string`;
      continue;
    }
    if (!(key in expected)) return `${where}annotation ${key} is not one the package yields`;
    if (given[key] === undefined) return `${where}annotation ${key} is missing (the package yields ${clip(expected[key]!)})`;
    if (given[key] !== expected[key]) return `${where}annotation ${key} is ${clip(String(given[key]))}, the package yields ${clip(expected[key]!)}`;
  }
  return undefined;
}

function clip(text: string): string {
  const quoted = JSON.stringify(text);
  return quoted.length > 120 ? `${quoted.slice(0, 117)}..."` : quoted;
}

function layerName(layer: unknown, index: number): string {
  const title = isObject(layer) && isObject(layer.annotations) ? layer.annotations[Annotation.Title] : undefined;
  return typeof title === 'string' ? `layer ${index} (${clip(title)})` : `layer ${index}`;
}

/**
 * How `manifest` (parsed) differs from the canonical manifest of `pkg`, naming the first differing field, annotation
 * or layer; undefined when it is canonical. A manifest holding the other format of the same build too is compared
 * for everything `pkg` yields; the other format's own layer and `org.conda.package.<format>.*` annotations are left
 * to that file's own check (they must at least keep the shape a package layer has).
 */
export function canonicalManifestDifference(manifest: unknown, pkg: PackageInfo): string | undefined {
  if (!isObject(manifest)) return 'the manifest is not a JSON object';
  for (const key of Object.keys(manifest)) if (!MANIFEST_FIELDS.has(key)) return `field ${clip(key)} is not part of a package manifest`;
  const canonical = buildPackageManifest(pkg, { created: new Date(0) }).manifest;
  if (manifest.schemaVersion !== canonical.schemaVersion) return 'schemaVersion differs';
  if (manifest.mediaType !== canonical.mediaType) return `mediaType is ${clip(String(manifest.mediaType))}, not ${canonical.mediaType}`;
  if (!jsonEqual(manifest.config, canonical.config)) return 'the config descriptor is not the empty config the package manifest uses';

  const layers = Array.isArray(manifest.layers) ? manifest.layers : [];
  const otherFormat = Annotation.perFormat(pkg.format === 'conda' ? 'tar.bz2' : 'conda', 'filename');
  const other = layers.find(
    (l) => isObject(l) && isObject(l.annotations) && l.annotations[Annotation.Title] !== pkg.filename && l.annotations[Annotation.Title] === (isObject(manifest.annotations) ? manifest.annotations[otherFormat] : undefined),
  );
  // The expected layers: this package's, the other format's as staged (checked by its own validation), the info layers.
  const [ownLayer, infoLayer, indexLayer] = canonical.layers as unknown as [Json, Json, Json];
  const expectedLayers: Json[] = [ownLayer, infoLayer, indexLayer];
  if (other) expectedLayers.splice(pkg.format === 'conda' ? 1 : 0, 0, other);
  if (layers.length !== expectedLayers.length) {
    return `the manifest has ${layers.length} layers; the package yields ${expectedLayers.length} (${expectedLayers.map((l, i) => layerName(l, i)).join(', ')})`;
  }
  for (let i = 0; i < layers.length; i++) {
    const actual = layers[i];
    const expected = expectedLayers[i]!;
    const name = layerName(actual, i);
    if (!isObject(actual)) return `${name} is not a descriptor`;
    for (const key of Object.keys(actual)) if (!['mediaType', 'digest', 'size', 'annotations', 'data'].includes(key)) return `${name} has field ${clip(key)}, which a package layer does not`;
    if (expected === other) continue;
    for (const key of ['mediaType', 'digest', 'size'] as const) {
      if (actual[key] !== expected[key]) return `${name} ${key} is ${clip(String(actual[key]))}, the package yields ${clip(String(expected[key]))}`;
    }
    // `data` (index.json inline, what reindex reads) must be exactly the package's; a manifest written before it
    // existed, or merged onto one, may lack it (reindex then reads the blob).
    if (actual.data !== undefined && actual.data !== expected.data) return `${name} data is not the content the package yields`;
    const difference = annotationDifference(actual.annotations, (expected.annotations ?? {}) as Record<string, string>, UNVERIFIABLE_LAYER_ANNOTATIONS, `${name} `);
    if (difference) return difference;
  }

  // Manifest annotations: the package's, plus the other format's own four when it is there.
  const expectedAnnotations = { ...(canonical.annotations ?? {}) };
  const given = isObject(manifest.annotations) ? manifest.annotations : {};
  if (other) {
    const format = pkg.format === 'conda' ? 'tar.bz2' : 'conda';
    for (const field of ['filename', 'sha256', 'md5', 'size'] as const) {
      const key = Annotation.perFormat(format, field);
      if (typeof given[key] === 'string') expectedAnnotations[key] = given[key];
    }
  }
  return annotationDifference(manifest.annotations, expectedAnnotations, UNVERIFIABLE_ANNOTATIONS, '');
}

/**
 * A (canonical) package manifest as production carries it: `org.opencontainers.image.source` is the channel's own
 * (`sourceUrl`) or absent, whatever staging said; everything else as given, annotations in sorted order.
 */
export function withChannelSource(manifest: Record<string, unknown>, sourceUrl: string | undefined): Uint8Array {
  const annotations = { ...(isObject(manifest.annotations) ? manifest.annotations : {}) };
  delete annotations[Annotation.Source];
  if (sourceUrl) annotations[Annotation.Source] = sourceUrl;
  const sorted = Object.fromEntries(Object.entries(annotations).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return new TextEncoder().encode(JSON.stringify({ ...manifest, annotations: sorted }));
}
