// Every concurrency default and attempt count of the pipeline, in one place. Steps resolve their options against
// these once, at the top, and pass the resolved values down; nothing below a step picks its own default.
//
// Why these numbers (docs/benchmarks.md, "20 ms away"): a step waits on round trips, not bytes, so what keeps a
// remote registry busy is how many requests are in flight. Each artifact has several requests in flight at
// once (its blobs, or its mounts), so a store's connection pool must be larger than the number of artifacts,
// or the pool, not the step, becomes the limit (it was 8 for every store while promote ran 16 artifacts).
import { OptionsError } from './errors.ts';

/** Artifacts (or tags, builds) a step works on at once when not told. */
export const CONCURRENCY = {
  /** Packages read and pushed at once. Reading is CPU; pushing is round trips (4 blobs per package at once). */
  upload: 16,
  /** Tags promoted at once: round trips only (blobs are mounted), no package bytes on one registry. */
  promote: 16,
  /** Artifacts validated at once: each downloads and reads a whole package (disk and CPU). */
  validate: 8,
  /** Manifests read at once by reindex, and index blobs pushed at once. */
  reindex: 16,
  /** Label changes recorded at once. */
  label: 8,
  /** Builds mirrored at once (each downloads, reads and pushes its files). */
  mirror: 8,
  /** Package downloads from an HTTP upstream at once. */
  upstream: 8,
} as const;

/** Requests one artifact has in flight at most (a package's blobs or mounts: config, package, info, index.json). */
const REQUESTS_PER_ARTIFACT = 4;
/** Connections per registry, at most: beyond this the registry, not the client, is the limit. */
const MAX_CONNECTIONS = 64;

/** The connection pool a store needs so that `concurrency` artifacts never wait for a connection. */
export function connectionsFor(concurrency: number): number {
  return Math.max(1, Math.min(MAX_CONNECTIONS, concurrency * REQUESTS_PER_ARTIFACT));
}

/** Attempt counts: how often a step starts over before it reports a failure instead. */
export const ATTEMPTS = {
  /** Read-merge-push rounds when a concurrent upload or promotion of the other format keeps replacing a tag. */
  merge: 6,
  /** The same manifest PUT again after distribution's concurrent-push refusals (core/retry.ts). */
  concurrentPush: 5,
  /** Reindex's rounds when `latest` moved under it (a concurrent reindex). */
  latest: 6,
  /** A package body from an HTTP upstream cut mid-way. */
  upstreamPackage: 3,
} as const;

/** Resolves a step's `concurrency` option: a whole number of at least 1, else the step's default. */
export function resolveConcurrency(given: number | undefined, step: keyof typeof CONCURRENCY): number {
  if (given === undefined) return CONCURRENCY[step];
  if (!Number.isSafeInteger(given) || given < 1) throw new OptionsError(`concurrency must be a whole number of at least 1, not ${String(given)}`);
  return given;
}
