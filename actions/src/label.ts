// label: records label changes of promoted artifacts (the admins' workflow: a workflow_dispatch with a list, or
// request files committed to the channel repository, as conda-forge's admin-requests). Reindex publishes them.
import * as core from '@actions/core';
import { label, labelTextProblem, type LabelResult } from '@oci-channel/pipeline';
import { UserError } from './common/errors.ts';
import { channelInput, stringInput } from './common/inputs.ts';
import { readLabelRequests } from './common/label-requests.ts';
import { CHANNEL_SECRETS, INPUT } from './common/names.ts';
import { reportLabels } from './common/reports.ts';
import { progressLogger, runAction } from './common/run.ts';

await runAction({
  name: 'label',
  secrets: CHANNEL_SECRETS,
  async run() {
    const { location: channel, storeOptions } = channelInput(INPUT.channel);
    const actor = (stringInput(INPUT.actor) || process.env.GITHUB_ACTOR || '').trim();
    const actorProblem = labelTextProblem('actor', actor);
    if (actorProblem) throw new UserError(`input ${INPUT.actor}: ${actorProblem}`);
    const results: Array<LabelResult & { source: string }> = [];
    for (const { source, ...request } of await readLabelRequests()) {
      const result = await core.group(`Label ${request.artifacts.length} artifact(s) (${source})`, () =>
        label({ channel, storeOptions, actor, ...request, progress: progressLogger }),
      );
      results.push({ source, ...result });
    }
    reportLabels(results);
  },
});
