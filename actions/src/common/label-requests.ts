// What the label action is asked to do: a list in its inputs (a workflow_dispatch), or request files committed to
// the channel repository (as conda-forge's admin-requests), each one batch of changes checked before any is run.
import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import { labelProblem } from '@oci-channel/conda';
import { labelTextProblem, parseArtifactRef, type ArtifactRef } from '@oci-channel/pipeline';
import { UserError } from './errors.ts';
import { globInput, listInput, stringInput } from './inputs.ts';
import { INPUT } from './names.ts';

/** One batch of changes: from the inputs, or from one request file. */
export interface LabelRequest {
  source: string;
  artifacts: ArtifactRef[];
  add: string[];
  remove: string[];
  reason?: string;
}

const MAX_REQUEST_BYTES = 256 * 1024;
const REQUEST_KEYS = ['artifacts', 'add', 'remove', 'reason'];

/** Input requests (files or globs) when given, else inputs artifacts, add and remove; input reason is the default reason. */
export async function readLabelRequests(): Promise<LabelRequest[]> {
  const reason = stringInput(INPUT.reason).trim() || undefined;
  const { patterns, files } = await globInput(INPUT.requests);
  if (patterns.length === 0) return [checked('inputs', listInput(INPUT.artifacts), listInput(INPUT.add), listInput(INPUT.remove), reason)];
  if (listInput(INPUT.artifacts).length > 0) throw new UserError(`give either ${INPUT.requests} or ${INPUT.artifacts} with ${INPUT.add}/${INPUT.remove}, not both`);
  if (files.length === 0) throw new UserError(`no file matched input ${INPUT.requests} (${patterns.join(', ').slice(0, 200)})`);
  const requests: LabelRequest[] = [];
  for (const file of files) requests.push(await readRequestFile(file, reason));
  return requests;
}

function checked(source: string, artifacts: string[], add: string[], remove: string[], reason: string | undefined): LabelRequest {
  if (artifacts.length === 0) throw new UserError(`${source}: no artifacts given (SUBDIR/FILENAME, e.g. linux-64/zlib-1.3-h0_0.conda)`);
  if (add.length + remove.length === 0) throw new UserError(`${source}: no label to add or remove (e.g. add: broken)`);
  for (const l of [...add, ...remove]) {
    const problem = labelProblem(l);
    if (problem) throw new UserError(`${source}: ${problem}`);
  }
  const reasonProblem = reason ? labelTextProblem('reason', reason) : undefined;
  if (reasonProblem) throw new UserError(`${source}: ${reasonProblem}`);
  const refs = artifacts.map((a) => {
    try {
      return parseArtifactRef(a);
    } catch (error) {
      throw new UserError(`${source}: ${(error as Error).message}`);
    }
  });
  return { source, artifacts: refs, add, remove, ...(reason ? { reason } : {}) };
}

/** A request file: `artifacts`, `add` and/or `remove` (a label or a list), `reason`; nothing else. */
async function readRequestFile(file: string, fallbackReason: string | undefined): Promise<LabelRequest> {
  const bytes = await readFile(file);
  if (bytes.byteLength > MAX_REQUEST_BYTES) throw new UserError(`${file}: larger than ${MAX_REQUEST_BYTES} bytes; split it`);
  let doc: unknown;
  try {
    doc = YAML.parse(bytes.toString('utf8'), { maxAliasCount: 0, uniqueKeys: true });
  } catch (error) {
    throw new UserError(`${file}: not YAML or JSON (${(error as Error).message.split('\n')[0]})`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new UserError(`${file}: expected a mapping with artifacts, add and/or remove, reason`);
  const unknown = Object.keys(doc).filter((k) => !REQUEST_KEYS.includes(k));
  if (unknown.length > 0) throw new UserError(`${file}: unknown key ${JSON.stringify(unknown[0])} (allowed: ${REQUEST_KEYS.join(', ')})`);
  const { artifacts, add, remove, reason } = doc as Record<string, unknown>;
  const list = (value: unknown, key: string): string[] => {
    if (value === undefined || value === null) return [];
    if (typeof value === 'string') return [value];
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
    throw new UserError(`${file}: ${key} must be a string or a list of strings`);
  };
  if (reason !== undefined && typeof reason !== 'string') throw new UserError(`${file}: reason must be a string`);
  return checked(file, list(artifacts, 'artifacts'), list(add, 'add'), list(remove, 'remove'), (reason as string | undefined) ?? fallbackReason);
}
