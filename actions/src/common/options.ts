// The step options upload-to-staging, reindex, gc-staging and mirror read from their inputs, every input checked
// before anything is opened. (validate and promote: promotion.ts; upload-to-staging's promotion request:
// dispatch.ts; label's requests: label-requests.ts.)
import path from 'node:path';
import * as core from '@actions/core';
import type { GcOptions, MirrorOptions, ReindexOptions } from '@oci-channel/pipeline';
import { UserError } from './errors.ts';
import { booleanInput, channelInput, durationInput, globInput, listInput, packageDeletionInputs, stringInput, visibilityInputs } from './inputs.ts';
import { INPUT } from './names.ts';

/** The packages input files matches (none fails unless fail-on-empty is false), listed in the log. */
export async function readUploadFiles(): Promise<string[]> {
  const failOnEmpty = booleanInput(INPUT.failOnEmpty, true);
  const { patterns, files } = await core.group('Find packages', async () => {
    const found = await globInput(INPUT.files);
    for (const file of found.files) core.info(file);
    return found;
  });
  if (patterns.length === 0) throw new UserError(`input ${INPUT.files} is required: one path or glob per line`);
  if (files.length === 0) {
    if (failOnEmpty) throw new UserError(`no files matched input ${INPUT.files} (${patterns.join(', ').slice(0, 200)})`);
    core.warning(`no files matched input ${INPUT.files}; nothing uploaded`);
  }
  return files;
}

// The shape of a subdir (reindex refuses one conda does not know unless input allow-subdirs names it).
const SUBDIR_RE = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

function subdirsInput(name: string): string[] {
  const subdirs = listInput(name);
  for (const subdir of subdirs) {
    if (!SUBDIR_RE.test(subdir)) throw new UserError(`input ${name} has ${JSON.stringify(subdir.slice(0, 50))}: expected conda subdirs like linux-64, noarch`);
  }
  return subdirs;
}

export function readReindexOptions(): ReindexOptions {
  const { location: channel, storeOptions } = channelInput(INPUT.channel);
  const subdirs = subdirsInput(INPUT.subdirs);
  const allowSubdirs = subdirsInput(INPUT.allowSubdirs);
  const out = stringInput(INPUT.out);
  const patchGenerator = stringInput(INPUT.patchGenerator);
  const patchPackage = stringInput(INPUT.patchPackage, { maxLength: 64, pattern: /^[a-z0-9_][a-z0-9._-]*$/, hint: 'a conda package name, e.g. conda-forge-repodata-patches' });
  const patchInstructions = stringInput(INPUT.patchInstructions);
  if (patchGenerator && patchPackage) throw new UserError(`inputs ${INPUT.patchGenerator} and ${INPUT.patchPackage} name two patches packages: give one`);
  return {
    channel,
    storeOptions,
    ...(subdirs.length ? { subdirs } : {}),
    ...(allowSubdirs.length ? { allowSubdirs } : {}),
    full: booleanInput(INPUT.full, false),
    ...(out ? { out: path.resolve(out) } : {}),
    ...(patchGenerator ? { patchGenerator } : {}),
    ...(patchPackage ? { patchPackage } : {}),
    ...(patchInstructions ? { patchInstructions: path.resolve(patchInstructions) } : {}),
    ...visibilityInputs(channel),
  };
}

export function readGcOptions(): GcOptions {
  const { location: channel, storeOptions } = channelInput(INPUT.channel);
  const github = packageDeletionInputs(channel);
  return {
    channel,
    storeOptions,
    olderThanMs: durationInput(INPUT.olderThan, '7d'),
    dryRun: booleanInput(INPUT.dryRun, false),
    allowProduction: booleanInput(INPUT.allowProductionChannel, false),
    ...(github ? { github } : {}),
  };
}

export function readMirrorOptions(): MirrorOptions {
  const from = stringInput(INPUT.from, { required: true, pattern: /^(https?|oci|oci\+http):\/\/\S+$/, hint: 'an http(s) conda channel URL or an oci-channel location' });
  const { location: to, storeOptions } = channelInput(INPUT.to);
  const since = stringInput(INPUT.since, { pattern: /^\d{4}-\d{2}-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2}))?$/, hint: 'expected YYYY-MM-DD or an RFC 3339 time' });
  const subdirs = listInput(INPUT.subdirs);
  const packages = listInput(INPUT.packages);
  return {
    from,
    to,
    storeOptions,
    production: booleanInput(INPUT.production, false),
    dryRun: booleanInput(INPUT.dryRun, false),
    applyRemovals: booleanInput(INPUT.applyRemovals, false),
    patches: booleanInput(INPUT.patches, true),
    ...(subdirs.length ? { subdirs } : {}),
    ...(packages.length ? { packages } : {}),
    ...(since ? { since: new Date(since) } : {}),
  };
}
