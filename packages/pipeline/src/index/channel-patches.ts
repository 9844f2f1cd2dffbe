// The channel's own patch instructions in the registry: repository `<subdir>/patch_instructions.json`, one image
// manifest per version (tag `YYYY.MM.DD.HH.MM.SS.mmm`) whose single layer is the patch_instructions.json, and
// `latest` the one reindex applies (after any patches package). `oci-channel mirror` keeps upstream's patched
// records here, one entry per file, with a read-change-write that never drops another writer's change.
import { MediaType, bytesSource, parseDigest, sha256Digest, type Descriptor, type Repository, type Store } from '@oci-channel/oci';
import { EMPTY_PATCH_INSTRUCTIONS, PatchError, parsePatchInstructions, parsePatchInstructionsJson, sameJson, type PatchInstructions } from '@oci-channel/conda';
import { readSmallBlob } from '../core/blobs.ts';
import { parseJsonObject } from '../core/json.ts';
import { withConcurrentPushRetry } from '../core/retry.ts';
import { PipelineError } from '../errors.ts';
import { CREATED, TITLE, isSubdirName, timestampTag } from './names.ts';

/** The channel's own instructions: repository `<subdir>/patch_instructions.json`, one layer of this type. */
export const PATCH_INSTRUCTIONS_MEDIA_TYPE = 'application/vnd.oci-channel.patch-instructions.v1+json';
export const patchInstructionsRepository = (subdir: string) => `${subdir}/patch_instructions.json`;
/** Channel instructions larger than this are refused (conda-forge's biggest subdir is tens of MB). */
const MAX_CHANNEL_INSTRUCTIONS = 256 << 20;

/** The instructions a manifest of `<subdir>/patch_instructions.json` holds: its bytes, checked, and parsed. */
export async function readChannelInstructionsAt(repository: Repository, digest: string): Promise<{ bytes: Uint8Array; instructions: PatchInstructions; what: string }> {
  const fetched = await repository.fetchManifest(digest);
  const manifest = parseJsonObject(fetched.bytes, `${repository.display}:latest`);
  const layer = ((manifest.layers ?? []) as Descriptor[]).find((l) => l?.mediaType === PATCH_INSTRUCTIONS_MEDIA_TYPE);
  if (!layer) throw new PatchError(`${repository.display}:latest has no ${PATCH_INSTRUCTIONS_MEDIA_TYPE} layer; write it with writeChannelPatchInstructions`);
  const bytes = Buffer.from(await readSmallBlob(repository, parseDigest(layer.digest), layer.size, MAX_CHANNEL_INSTRUCTIONS));
  const what = `${repository.display}:latest`;
  return { bytes, instructions: parsePatchInstructionsJson(bytes, what), what };
}

/** The channel's instructions for `subdir` at `latest` and that manifest's digest, or undefined when it has none. */
export async function readChannelPatchInstructions(store: Store, subdir: string): Promise<{ digest: string; instructions: PatchInstructions } | undefined> {
  const repository = store.repository(patchInstructionsRepository(subdir));
  const head = await repository.resolve('latest');
  return head ? { digest: head.digest, instructions: (await readChannelInstructionsAt(repository, head.digest)).instructions } : undefined;
}

/**
 * Stores a channel's own patch instructions for `subdir` (applied by every reindex after any patches package):
 * one layer of PATCH_INSTRUCTIONS_MEDIA_TYPE in `<subdir>/patch_instructions.json`, tagged `latest` and with the
 * time. The instructions are checked first; returns the manifest digest.
 */
export async function writeChannelPatchInstructions(store: Store, subdir: string, instructions: PatchInstructions | Uint8Array, at = new Date()): Promise<string> {
  const repository = store.repository(patchInstructionsRepository(subdir));
  const manifest = await pushInstructionsManifest(repository, subdir, instructions, at);
  const pushed = await withConcurrentPushRetry(() => repository.pushManifest(manifest, MediaType.ImageManifest, 'latest'));
  return pushed.digest;
}

/** Checks the instructions, pushes their blobs and the manifest under the time tag; returns the manifest bytes. */
async function pushInstructionsManifest(repository: Repository, subdir: string, instructions: PatchInstructions | Uint8Array, at: Date): Promise<Uint8Array> {
  if (!isSubdirName(subdir)) throw new PatchError(`${JSON.stringify(subdir)} is not a subdir`);
  const bytes = instructions instanceof Uint8Array ? instructions : Buffer.from(`${JSON.stringify(instructions)}\n`, 'utf8');
  if (instructions instanceof Uint8Array) parsePatchInstructionsJson(bytes, `patch instructions for ${subdir}`);
  else parsePatchInstructions(instructions, `patch instructions for ${subdir}`);
  if (bytes.byteLength > MAX_CHANNEL_INSTRUCTIONS) throw new PatchError(`patch instructions for ${subdir} are over ${MAX_CHANNEL_INSTRUCTIONS} bytes`);
  const layer: Descriptor = { mediaType: PATCH_INSTRUCTIONS_MEDIA_TYPE, digest: sha256Digest(bytes), size: bytes.byteLength, annotations: { [TITLE]: 'patch_instructions.json' } };
  await repository.pushBlob(bytesSource(bytes), { digest: layer.digest, size: layer.size });
  const empty = new TextEncoder().encode('{}');
  const config: Descriptor = { mediaType: MediaType.EmptyJson, digest: sha256Digest(empty), size: empty.byteLength };
  await repository.pushBlob(bytesSource(empty), { digest: config.digest, size: config.size });
  const manifest = new TextEncoder().encode(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ImageManifest, artifactType: PATCH_INSTRUCTIONS_MEDIA_TYPE, config, layers: [layer], annotations: { [CREATED]: at.toISOString() } }),
  );
  await withConcurrentPushRetry(() => repository.pushManifest(manifest, MediaType.ImageManifest, timestampTag(at)));
  return manifest;
}

/** Read-change-write rounds before an update of the channel's instructions gives up on a `latest` that keeps moving. */
const UPDATE_ATTEMPTS = 6;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Same fixes, removals and revocations (the version field aside: absent, 0 and 1 read the same). */
function sameInstructions(a: PatchInstructions | undefined, b: PatchInstructions | undefined): boolean {
  const x = a ?? EMPTY_PATCH_INSTRUCTIONS;
  const y = b ?? EMPTY_PATCH_INSTRUCTIONS;
  return sameJson(x.packages, y.packages) && sameJson(x['packages.conda'], y['packages.conda']) && sameJson(x.remove, y.remove) && sameJson(x.revoke, y.revoke);
}

export interface ChannelPatchUpdate {
  /** Whether this call moved `latest` (false: what is stored already says this, or nothing was asked). */
  written: boolean;
  /** The manifest at `latest` afterwards; undefined when there is none. */
  digest?: string;
  /** The instructions stored now. */
  instructions?: PatchInstructions;
}

/**
 * Changes the channel's own instructions for `subdir`: reads what `latest` holds, applies `update` (a pure
 * function of the stored instructions, so it can run again over another writer's), and writes the result only
 * when it differs. Registries have no conditional PUT, so `latest` is checked right before it is moved (someone
 * moved it since the read: start again from theirs) and once more after a short pause (a writer that moved it
 * in between is read and folded in again); at most UPDATE_ATTEMPTS rounds. Writers of different subdirs never
 * meet: each subdir has its own repository. `known`: instructions this process read or wrote at a digest (not
 * read again while `latest` is still that digest).
 */
export async function updateChannelPatchInstructions(
  store: Store,
  subdir: string,
  update: (stored: PatchInstructions | undefined) => PatchInstructions,
  options: { now?: () => Date; known?: { digest: string; instructions: PatchInstructions } } = {},
): Promise<ChannelPatchUpdate> {
  const repository = store.repository(patchInstructionsRepository(subdir));
  const now = options.now ?? (() => new Date());
  let known = options.known;
  let written = false;
  for (let attempt = 1; ; attempt++) {
    const head = await repository.resolve('latest');
    let stored: PatchInstructions | undefined;
    if (head) stored = known?.digest === head.digest ? known.instructions : (await readChannelInstructionsAt(repository, head.digest)).instructions;
    const next = update(stored);
    if (sameInstructions(stored, next)) return { written, ...(head ? { digest: head.digest, instructions: stored } : {}) };
    const manifest = await pushInstructionsManifest(repository, subdir, next, now());
    const checked = Date.now();
    const before = await repository.resolve('latest');
    if (before?.digest !== head?.digest) {
      if (attempt >= UPDATE_ATTEMPTS) break;
      continue; // another writer moved it since our read: fold into theirs
    }
    const ours = await withConcurrentPushRetry(() => repository.pushManifest(manifest, MediaType.ImageManifest, 'latest'));
    written = true;
    known = { digest: ours.digest, instructions: next };
    // Long enough for a writer that checked just before our PUT to have made its own (about two requests).
    await sleep(Math.max(50, 2 * (Date.now() - checked)) + Math.floor(Math.random() * 100));
    const after = await repository.resolve('latest');
    if (after?.digest === ours.digest) return { written, digest: ours.digest, instructions: next };
    if (attempt >= UPDATE_ATTEMPTS) break;
  }
  throw new PipelineError(`${repository.display}:latest kept being moved by other writers while its patch instructions were updated; run again`);
}
