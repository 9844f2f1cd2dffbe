// mirror: keeps the registry in step with an existing conda channel (e.g. anaconda.org) until the switch.
import * as core from '@actions/core';
import { mirror } from '@oci-channel/pipeline';
import { reportMirror } from './common/mirror-report.ts';
import { booleanInput, listInput, locationInput, storeOptionsFrom, stringInput } from './common/inputs.ts';
import { progressLogger, runAction } from './common/run.ts';

await runAction({
  name: 'mirror',
  secrets: [{ input: 'password', usernameInput: 'username' }, { input: 'token', usernameInput: 'username' }],
  async run() {
    const from = stringInput('from', { required: true, pattern: /^(https?|oci|oci\+http):\/\/\S+$/, hint: 'an http(s) conda channel URL or an oci-channel location' });
    const to = locationInput('to');
    const since = stringInput('since', { pattern: /^\d{4}-\d{2}-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2}))?$/, hint: 'expected YYYY-MM-DD or an RFC 3339 time' });
    const production = booleanInput('production', false);
    const dryRun = booleanInput('dry-run', false);
    const applyRemovals = booleanInput('apply-removals', false);
    const patches = booleanInput('patches', true);
    const subdirs = listInput('subdirs');
    const packages = listInput('packages');
    const storeOptions = storeOptionsFrom('username', 'password', to);
    const result = await core.group(`Mirror ${from} into ${to}`, () =>
      mirror({ from, to, storeOptions, production, dryRun, applyRemovals, patches, progress: progressLogger, ...(subdirs.length ? { subdirs } : {}), ...(packages.length ? { packages } : {}), ...(since ? { since: new Date(since) } : {}) }),
    );
    await reportMirror(result, dryRun);
  },
});
