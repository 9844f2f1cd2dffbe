// label: records label changes of promoted artifacts (the admins' workflow: a workflow_dispatch with a list, or
// request files committed to the channel repository, as conda-forge's admin-requests). Reindex publishes them.
import { readFile } from 'node:fs/promises';
import * as core from '@actions/core';
import * as glob from '@actions/glob';
import YAML from 'yaml';
import { labelProblem } from '@oci-channel/conda';
import { label, labelTextProblem, parseArtifactRef, type ArtifactRef, type LabelResult } from '@oci-channel/pipeline';
import { UserError } from './common/errors.ts';
import { listInput, locationInput, storeOptionsFrom, stringInput } from './common/inputs.ts';
import { progressLogger, runAction } from './common/run.ts';
import { addArtifactTable } from './common/summary.ts';

/** One batch of changes: from the inputs, or from one request file. */
interface LabelRequest {
  source: string;
  artifacts: ArtifactRef[];
  add: string[];
  remove: string[];
  reason?: string;
}

const MAX_REQUEST_BYTES = 256 * 1024;

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
async function readRequest(file: string, fallbackReason: string | undefined): Promise<LabelRequest> {
  const bytes = await readFile(file);
  if (bytes.byteLength > MAX_REQUEST_BYTES) throw new UserError(`${file}: larger than ${MAX_REQUEST_BYTES} bytes; split it`);
  let doc: unknown;
  try {
    doc = YAML.parse(bytes.toString('utf8'), { maxAliasCount: 0, uniqueKeys: true });
  } catch (error) {
    throw new UserError(`${file}: not YAML or JSON (${(error as Error).message.split('\n')[0]})`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new UserError(`${file}: expected a mapping with artifacts, add and/or remove, reason`);
  const unknown = Object.keys(doc).filter((k) => !['artifacts', 'add', 'remove', 'reason'].includes(k));
  if (unknown.length > 0) throw new UserError(`${file}: unknown key ${JSON.stringify(unknown[0])} (allowed: artifacts, add, remove, reason)`);
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

await runAction({
  name: 'label',
  secrets: [{ input: 'password', usernameInput: 'username' }, { input: 'token', usernameInput: 'username' }],
  async run() {
    const channel = locationInput('channel');
    const storeOptions = storeOptionsFrom('username', 'password', channel);
    const actor = (stringInput('actor') || process.env.GITHUB_ACTOR || '').trim();
    const actorProblem = labelTextProblem('actor', actor);
    if (actorProblem) throw new UserError(`input actor: ${actorProblem}`);
    const reason = core.getInput('reason').trim() || undefined;
    const patterns = core.getMultilineInput('requests').filter(Boolean);
    const requests: LabelRequest[] = [];
    if (patterns.length > 0) {
      if (listInput('artifacts').length > 0) throw new UserError('give either requests or artifacts with add/remove, not both');
      const files = (await (await glob.create(patterns.join('\n'), { matchDirectories: false })).glob()).sort();
      if (files.length === 0) throw new UserError(`no file matched input requests (${patterns.join(', ').slice(0, 200)})`);
      for (const file of files) requests.push(await readRequest(file, reason));
    } else {
      requests.push(checked('inputs', listInput('artifacts'), listInput('add'), listInput('remove'), reason));
    }

    const results: Array<LabelResult & { source: string }> = [];
    for (const request of requests) {
      const result = await core.group(`Label ${request.artifacts.length} artifact(s) (${request.source})`, () =>
        label({
          channel,
          storeOptions,
          artifacts: request.artifacts,
          add: request.add,
          remove: request.remove,
          actor,
          ...(request.reason ? { reason: request.reason } : {}),
          progress: progressLogger,
        }),
      );
      results.push({ source: request.source, ...result });
    }
    const all = results.flatMap((r) => r.artifacts);
    core.setOutput('result', JSON.stringify(results));
    core.setOutput('ok', String(results.every((r) => r.ok)));
    core.setOutput('changed', String(all.some((a) => a.status === 'changed')));
    addArtifactTable(
      'Labels',
      all.map((a) => ({
        artifact: `${a.subdir}/${a.filename}`,
        status: `${a.status}${a.recorded ? `: ${a.recorded.join(', ')}` : ''}${a.labels ? ` (now ${a.labels.join(', ')})` : ''}`,
        ...(a.reason ? { failedChecks: a.reason } : {}),
      })),
    );
    const refused = all.filter((a) => a.status === 'refused');
    if (refused.length > 0) throw new UserError(`${refused.length} of ${all.length} artifact(s) refused, first ${refused[0]!.reason}`);
  },
});
