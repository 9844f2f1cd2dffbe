import { labelProblem } from '@oci-channel/conda';
import { defaultActor, label, labelTextProblem, type LabeledArtifact } from '@oci-channel/pipeline';
import { artifacts, COMMON_OPTIONS, concurrency, location, optionalString, parse, required } from '../args.ts';
import { table } from '../output.ts';
import { UsageError } from '../usage.ts';
import type { Command } from './command.ts';

/** label's table (the demo prints it too): each artifact's labels after the run and the changes recorded. */
export function labelTable(artifacts: LabeledArtifact[]): string {
  return table(
    ['STATUS', 'ARTIFACT', 'LABELS', 'RECORDED', 'REASON'],
    artifacts.map((a) => [a.status, `${a.subdir}/${a.filename}`, (a.labels ?? []).join(',') || '-', (a.recorded ?? []).join(', ') || '-', a.reason ?? '']),
  );
}

export const labelCommand: Command = {
  name: 'label',
  summary: 'add or remove labels of promoted artifacts (broken marks a build broken)',
  help: `Usage: oci-channel label --channel CHANNEL (--add LABEL | --remove LABEL)... [--actor NAME] [--reason TEXT] [--json] ARTIFACT...

Records label changes of promoted artifacts in the channel's label log (who, when, why); the next reindex
moves them between indexes: the channel itself is label main, other labels are indexed under
CHANNEL/label/LABEL. --add broken marks a build broken: it leaves main and every other label's index and
appears only under label/broken; its file stays. --remove broken unmarks it. A change the artifact already
has is not recorded again. ARTIFACT is SUBDIR/FILENAME, optionally followed by @sha256:HEX.

Options:
  --channel CHANNEL  the production channel
  --add LABEL        add this label (repeatable), e.g. broken, rc, main
  --remove LABEL     remove this label (repeatable)
  --actor NAME       who asks for the change (default: GITHUB_ACTOR, else your login name)
  --reason TEXT      why, e.g. a link to the request (one line, at most 500 characters)
  --concurrency N    artifacts in parallel (default 8)
  --json             print the result as one JSON object on stdout
  -h, --help         this help
`,
  async run(args, ctx) {
    const { values, positionals } = parse(this.name, args, {
      ...COMMON_OPTIONS,
      channel: { type: 'string' },
      add: { type: 'string', multiple: true },
      remove: { type: 'string', multiple: true },
      actor: { type: 'string' },
      reason: { type: 'string' },
    });
    const channel = location(this.name, 'channel', required(this.name, values, 'channel'));
    const add = (values.add as string[] | undefined) ?? [];
    const remove = (values.remove as string[] | undefined) ?? [];
    if (add.length + remove.length === 0) throw new UsageError('give --add LABEL or --remove LABEL (e.g. --add broken)', this.name);
    for (const [flag, list] of [['add', add], ['remove', remove]] as const) {
      for (const l of list) {
        const problem = labelProblem(l);
        if (problem) throw new UsageError(`--${flag}: ${problem}`, this.name);
      }
    }
    const both = add.find((l) => remove.includes(l));
    if (both) throw new UsageError(`label ${both} is both added and removed: ask for one`, this.name);
    const actor = (optionalString(values, 'actor') ?? defaultActor()).trim();
    const reason = optionalString(values, 'reason');
    for (const [what, value] of [['actor', actor], ['reason', reason]] as const) {
      const problem = value === undefined ? undefined : labelTextProblem(what, value);
      if (problem) throw new UsageError(`--${what}: ${problem}`, this.name);
    }
    const result = await label({
      channel,
      artifacts: artifacts(this.name, positionals),
      add,
      remove,
      actor,
      ...(reason !== undefined ? { reason } : {}),
      progress: ctx.progress,
      concurrency: concurrency(this.name, values),
    });
    if (values.json) return ctx.json(result, result.ok);
    ctx.out(labelTable(result.artifacts));
    ctx.out('\nRun reindex to publish the change.\n');
    return result.ok ? 0 : 1;
  },
};
