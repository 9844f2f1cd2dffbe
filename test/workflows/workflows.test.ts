// Every workflow and action.yml passes GitHub's own parser and the project's security rules.
import { describe, expect, test } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { data, Evaluator, Lexer, Parser } from '@actions/expressions';
import { truthy } from '@actions/expressions/result';
import { ACTIONS, renderActionReadme } from '../../scripts/build-dist.ts';
import { lintAction, lintWorkflow } from './lint.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const WORKFLOWS = path.join(ROOT, '.github', 'workflows');
const workflowFiles = readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f)).sort();
const read = (file: string) => readFileSync(file, 'utf8');

async function parser() {
  const wp = await import('@actions/workflow-parser');
  const { parseAction } = await import('@actions/workflow-parser/actions/action-parser');
  return { ...wp, parseAction };
}

describe('workflows', () => {
  test('the expected reusable and CI workflows exist', () => {
    expect(workflowFiles).toEqual(['ci.yml', 'gc-staging.yml', 'label.yml', 'mirror.yml', 'promote.yml', 'reindex.yml', 'schedule.yml', 'upload.yml']);
  });

  test.each(workflowFiles)('%s passes GitHub\'s workflow parser', async (file) => {
    const { parseWorkflow, convertWorkflowTemplate, NoOperationTraceWriter } = await parser();
    const parsed = parseWorkflow({ name: file, content: read(path.join(WORKFLOWS, file)) }, new NoOperationTraceWriter());
    expect(parsed.context.errors.getErrors().map((e) => e.message)).toEqual([]);
    const template = await convertWorkflowTemplate(parsed.context, parsed.value!);
    expect(template.errors ?? []).toEqual([]);
    expect(template.jobs.length).toBeGreaterThan(0);
  });

  test.each(workflowFiles)('%s: permissions per job, pinned actions, no expression in run:', (file) => {
    expect(lintWorkflow(file, read(path.join(WORKFLOWS, file)))).toEqual([]);
  });

  test.each(workflowFiles)('%s: every local action it uses exists and gets only declared inputs, all required ones', (file) => {
    const doc = YAML.parse(read(path.join(WORKFLOWS, file)));
    for (const [id, job] of Object.entries(doc.jobs) as Array<[string, { steps?: Array<{ uses?: string; with?: Record<string, unknown> }> }]>) {
      for (const step of job.steps ?? []) {
        if (!step.uses?.startsWith('$/')) continue;
        const actionFile = path.join(ROOT, step.uses.slice(2), 'action.yml');
        expect({ job: id, uses: step.uses, exists: existsSync(actionFile) }).toEqual({ job: id, uses: step.uses, exists: true });
        const inputs = YAML.parse(read(actionFile)).inputs as Record<string, { required?: boolean }>;
        const given = Object.keys(step.with ?? {});
        expect({ job: id, unknown: given.filter((k) => !(k in inputs)) }).toEqual({ job: id, unknown: [] });
        const missing = Object.entries(inputs).filter(([k, i]) => i.required && !given.includes(k)).map(([k]) => k);
        expect({ job: id, missing }).toEqual({ job: id, missing: [] });
      }
    }
  });

  test('promote never waits in a concurrency slot a newer dispatch could cancel', () => {
    const doc = YAML.parse(read(path.join(WORKFLOWS, 'promote.yml')));
    expect(doc.concurrency).toBeUndefined();
    for (const job of Object.values(doc.jobs) as Array<{ concurrency?: unknown }>) expect(job.concurrency).toBeUndefined();
    expect(doc.on.repository_dispatch.types).toEqual(['oci-channel-promote']);
    expect(doc.jobs.promote.environment).toBe('production');
    expect(doc.jobs.promote.needs).toBe('validate');
  });

  test('one artifact failing validation does not stop the others: promote runs whatever validate says', () => {
    const doc = YAML.parse(read(path.join(WORKFLOWS, 'promote.yml')));
    expect(doc.jobs.promote.if).toBe('${{ !cancelled() }}');
    // Runs are named after the request id the upload summary shows.
    expect(doc['run-name']).toContain('github.event.client_payload.request_id');
  });

  test('label runs by hand with a list or on request files pushed to the default branch, with the production token', () => {
    const doc = YAML.parse(read(path.join(WORKFLOWS, 'label.yml')));
    expect(doc.on.workflow_dispatch.inputs.artifacts.required).toBe(true);
    expect(doc.on.push).toEqual({ branches: ['main'], paths: ['label-requests/**'] });
    expect(doc.jobs.label.environment).toBe('production');
    const step = doc.jobs.label.steps.find((s: { uses?: string }) => s.uses === '$/actions/label');
    expect(step.with.requests).toBe('${{ steps.requests.outputs.files }}');
    // Only what the push added or changed is applied: an old request never runs again.
    expect(doc.jobs.label.steps.find((s: { id?: string }) => s.id === 'requests').run).toContain('--diff-filter=AM "$BEFORE" "$AFTER"');
  });

  test('the payload reaches the actions only through with:', () => {
    const text = read(path.join(WORKFLOWS, 'promote.yml'));
    const doc = YAML.parse(text);
    for (const id of ['validate', 'promote']) {
      const step = doc.jobs[id].steps.find((s: { uses?: string }) => s.uses === `$/actions/${id}`);
      expect(step.with.payload).toBe('${{ inputs.payload || toJSON(github.event.client_payload) }}');
    }
  });

  test('ownership and identity: both jobs get them, nothing configured fails closed, owners: none is explicit', () => {
    const doc = YAML.parse(read(path.join(WORKFLOWS, 'promote.yml')));
    /** Evaluates `${{ expr }}` as the runner would, with an owners input and the repository variable. */
    const evaluate = (expression: string, input: string | undefined, variable: string | undefined) => {
      const expr = expression.replace(/^\$\{\{\s*|\s*\}\}$/g, '');
      const parsed = new Parser(new Lexer(expr).lex().tokens, ['inputs', 'vars'], []).parse();
      const entry = (key: string, value: string | undefined) => (value === undefined ? [] : [{ key, value: new data.StringData(value) }]);
      const context = new data.Dictionary(
        { key: 'inputs', value: new data.Dictionary(...entry('owners', input)) },
        { key: 'vars', value: new data.Dictionary(...entry('OCI_CHANNEL_OWNERS_REPOSITORY', variable)) },
      );
      return new Evaluator(parsed, context).evaluate();
    };
    for (const id of ['validate', 'promote']) {
      const steps = doc.jobs[id].steps as Array<{ uses?: string; if?: string; with?: Record<string, string> }>;
      const action = steps.find((s) => s.uses === `$/actions/${id}`)!;
      const checkout = steps.find((s) => s.uses?.startsWith('actions/checkout@'))!;
      expect(steps.indexOf(checkout)).toBeLessThan(steps.indexOf(action));
      expect(checkout.with).toMatchObject({ path: 'feedstock-outputs', 'persist-credentials': false });
      const cases: Array<[string | undefined, string | undefined, string, boolean]> = [
        [undefined, undefined, '', false], // nothing configured: the action refuses to run
        [undefined, '', '', false],
        [undefined, 'none', 'none', false],
        [undefined, 'conda-forge/feedstock-outputs', 'feedstock-outputs', true],
        ['my-org/outputs', undefined, 'feedstock-outputs', true],
        ['none', 'conda-forge/feedstock-outputs', 'none', false],
      ];
      for (const [input, variable, owners, checksOut] of cases) {
        expect({ id, input, variable, owners: evaluate(action.with!.owners!, input, variable).coerceString() }).toEqual({ id, input, variable, owners });
        expect({ id, input, variable, checkout: truthy(evaluate(checkout.if!, input, variable)) }).toEqual({ id, input, variable, checkout: checksOut });
      }
      expect(action.with).toMatchObject({
        'oidc-issuer': "${{ vars.OCI_CHANNEL_OIDC_ISSUER || 'https://token.actions.githubusercontent.com' }}",
        'allowed-owners': '${{ vars.OCI_CHANNEL_ALLOWED_OWNERS }}',
        'allowed-workflow': '${{ vars.OCI_CHANNEL_ALLOWED_WORKFLOW }}',
      });
    }
    // The upload job mints the identity token; nothing in the channel's jobs can.
    expect(YAML.parse(read(path.join(WORKFLOWS, 'upload.yml'))).jobs.upload.permissions['id-token']).toBe('write');
    for (const job of Object.values(doc.jobs) as Array<{ permissions: Record<string, string> }>) expect(job.permissions['id-token']).toBeUndefined();
  });

  test('reindex runs after promotions and by hand, with a matrix over subdirs; every schedule lives alone in schedule.yml', () => {
    const doc = YAML.parse(read(path.join(WORKFLOWS, 'reindex.yml')));
    expect(doc.on.workflow_run.workflows).toEqual(['oci-channel promote', 'oci-channel label']);
    expect(doc.on.workflow_dispatch).toBeDefined();
    expect(doc.jobs.index.strategy.matrix.subdir).toBe('${{ fromJSON(needs.plan.outputs.subdirs) }}');
    expect(YAML.parse(read(path.join(WORKFLOWS, 'upload.yml'))).on.workflow_call.inputs.staging).toMatchObject({ type: 'string', required: true });
    // GitHub disables a public repository's schedules after 60 days without activity, for the whole file: a file
    // with a schedule holds nothing else (no promotion handler, no after-promotion reindex).
    for (const file of workflowFiles) {
      const on = YAML.parse(read(path.join(WORKFLOWS, file))).on as Record<string, unknown>;
      if (on.schedule) expect({ file, triggers: Object.keys(on) }).toEqual({ file: 'schedule.yml', triggers: ['schedule'] });
    }
    const schedule = YAML.parse(read(path.join(WORKFLOWS, 'schedule.yml')));
    expect(schedule.on.schedule).toEqual([{ cron: '*/15 * * * *' }, { cron: '17 * * * *' }, { cron: '41 * * * *' }]);
    expect(Object.fromEntries(Object.entries(schedule.jobs as Record<string, { uses: string; if: string }>).map(([id, j]) => [id, [j.uses, j.if]]))).toEqual({
      reindex: ['./.github/workflows/reindex.yml', "github.event.schedule == '*/15 * * * *'"],
      'gc-staging': ['./.github/workflows/gc-staging.yml', "github.event.schedule == '17 * * * *'"],
      mirror: ['./.github/workflows/mirror.yml', "github.event.schedule == '41 * * * *'"],
    });
  });

  test('mirror runs hourly (from schedule.yml) and by hand, one job per subdir, only once a source is configured', () => {
    const doc = YAML.parse(read(path.join(WORKFLOWS, 'mirror.yml')));
    expect(doc.on.schedule).toBeUndefined();
    expect(doc.on.workflow_dispatch).toBeDefined();
    expect(doc.on.workflow_call).toBeDefined();
    expect(doc.jobs.plan.if).toBe("inputs.from != '' || vars.OCI_CHANNEL_MIRROR_FROM != ''");
    expect(doc.jobs.mirror.strategy.matrix.subdir).toBe('${{ fromJSON(needs.plan.outputs.subdirs) }}');
    expect(doc.jobs.mirror.steps[0].with.subdirs).toBe('${{ matrix.subdir }}');
  });
});

describe('every YAML snippet in the docs', () => {
  // docs/*.md, README.md and the generated actions/*/README.md: a snippet is a whole workflow (it has jobs:) or a
  // list of steps (wrapped in a job here); either way GitHub's parser reads it, the lint passes (only the
  // placeholder pin of this project's own workflows and actions may differ), and every action of this project it
  // uses exists and gets only declared inputs, all required ones.
  const sources = [
    ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => path.join('docs', f)),
    'README.md',
    ...ACTIONS.map((name) => path.join('actions', name, 'README.md')),
  ];
  const all = sources.flatMap((file) => [...read(path.join(ROOT, file)).matchAll(/```ya?ml\n([\s\S]*?)```/g)].map((m, i) => ({ id: `${file} #${i + 1}`, text: m[1]! })));
  // Label request files (label.yml applies them) are YAML too, but no workflow: they are checked on their own.
  const isLabelRequest = (text: string) => /^\s*# label-requests\/[^\s]+\.ya?ml/.test(text);
  const snippets = all.filter((s) => !isLabelRequest(s.text));
  const labelRequests = all.filter((s) => isLabelRequest(s.text));
  const asWorkflow = (text: string) =>
    text.includes('jobs:')
      ? text
      : `name: snippet\non: workflow_dispatch\npermissions: {}\njobs:\n  snippet:\n    runs-on: ubuntu-24.04\n    permissions:\n      contents: read\n    steps:\n${text
          .split('\n')
          .map((line) => (line ? `      ${line}` : line))
          .join('\n')}`;

  test('docs/actions.md has the feedstock, channel (promote, schedule) and Pages workflows; each action README its usage', () => {
    expect(snippets.filter((s) => s.id.startsWith('docs/actions.md')).map((s) => /^# (\S+)/m.exec(s.text)?.[1])).toEqual([
      '.github/workflows/build.yml',
      '.github/workflows/oci-channel-promote.yml',
      '.github/workflows/oci-channel-schedule.yml',
      '.github/workflows/pages.yml',
    ]);
    for (const name of ACTIONS) expect(snippets.some((s) => s.id.startsWith(path.join('actions', name)))).toBe(true);
  });

  test('the label request file in the docs has only the keys label.yml reads', () => {
    expect(labelRequests.map((s) => s.id.split(' ')[0])).toEqual(['docs/actions.md']);
    for (const { text } of labelRequests) {
      const request = YAML.parse(text) as Record<string, unknown>;
      expect(Object.keys(request).filter((k) => !['artifacts', 'add', 'remove', 'reason'].includes(k))).toEqual([]);
      expect(Array.isArray(request.artifacts)).toBe(true);
    }
  });

  test.each(snippets.map((s) => [s.id, s.text] as [string, string]))('%s is a valid workflow or steps, linted, using this project right', async (_id, text) => {
    const workflow = asWorkflow(text);
    const { parseWorkflow, convertWorkflowTemplate, NoOperationTraceWriter } = await parser();
    const parsed = parseWorkflow({ name: 'snippet.yml', content: workflow }, new NoOperationTraceWriter());
    expect(parsed.context.errors.getErrors().map((e) => e.message)).toEqual([]);
    expect((await convertWorkflowTemplate(parsed.context, parsed.value!)).errors ?? []).toEqual([]);
    expect(lintWorkflow('snippet.yml', workflow).filter((f) => !f.message.includes('OWNER/oci-channel'))).toEqual([]);
    const doc = YAML.parse(workflow) as { jobs: Record<string, { uses?: string; with?: Record<string, unknown>; steps?: Array<{ uses?: string; with?: Record<string, unknown> }> }> };
    for (const job of Object.values(doc.jobs)) {
      for (const step of [job, ...(job.steps ?? [])]) {
        const own = /^OWNER\/oci-channel\/(actions\/[a-z-]+|\.github\/workflows\/[a-z-]+\.yml)@/.exec(step.uses ?? '');
        if (!own) continue;
        const target = own[1]!.startsWith('actions/') ? path.join(ROOT, own[1]!, 'action.yml') : path.join(ROOT, own[1]!);
        expect({ uses: step.uses, exists: existsSync(target) }).toEqual({ uses: step.uses, exists: true });
        const spec = YAML.parse(read(target));
        const inputs = (own[1]!.startsWith('actions/') ? spec.inputs : spec.on.workflow_call.inputs) as Record<string, { required?: boolean }>;
        const given = Object.keys(step.with ?? {});
        expect({ uses: step.uses, unknown: given.filter((k) => !(k in inputs)) }).toEqual({ uses: step.uses, unknown: [] });
        const missing = Object.entries(inputs).filter(([k, i]) => i.required && !given.includes(k)).map(([k]) => k);
        expect({ uses: step.uses, missing }).toEqual({ uses: step.uses, missing: [] });
      }
    }
  });
});

describe('action.yml files', () => {
  test.each([...ACTIONS])('%s passes GitHub\'s action parser, runs node24 from its committed bundle', async (name) => {
    const { parseAction, NoOperationTraceWriter } = await parser();
    const file = path.join(ROOT, 'actions', name, 'action.yml');
    const text = read(file);
    const parsed = parseAction({ name: `actions/${name}/action.yml`, content: text }, new NoOperationTraceWriter());
    expect(parsed.context.errors.getErrors().map((e) => e.message)).toEqual([]);
    expect(lintAction(file, text)).toEqual([]);
    const doc = YAML.parse(text);
    expect(doc.runs).toEqual({ using: 'node24', main: `../../dist/${name}/index.js` });
    expect(existsSync(path.join(ROOT, 'actions', name, doc.runs.main))).toBe(true);
  });

  test.each([...ACTIONS])('%s: README.md is generated from action.yml and current', (name) => {
    const yml = YAML.parse(read(path.join(ROOT, 'actions', name, 'action.yml')));
    expect(read(path.join(ROOT, 'actions', name, 'README.md'))).toBe(renderActionReadme(name, yml));
  });
});

describe('the lint catches what it should', () => {
  const bad = `
name: bad
on: repository_dispatch
jobs:
  a:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-node@49933ea5288caeca8642d1e84afbd3f7d6820020
      - run: echo "\${{ github.event.client_payload.uploader }}"
      - run: echo "\${{ github.event.issue.title }}"
      - run: echo "\${{ inputs.x }}"
      - env:
          UPLOADER: \${{ github.event.client_payload.uploader }}
        run: echo "$UPLOADER"
`;
  test('flags missing permissions, unpinned actions and expressions in run:', () => {
    expect(lintWorkflow('bad.yml', bad).map((f) => f.message)).toEqual([
      'no top-level permissions: set permissions: {} (or read-only) and raise per job',
      'job a has no permissions:',
      'job a step 1: actions/checkout@v4 is not pinned by a full 40-hex commit SHA',
      'job a step 2: actions/setup-node@49933ea5288caeca8642d1e84afbd3f7d6820020 has no version comment (# vX.Y.Z)',
      'job a step 3: run: interpolates untrusted github.event.client_payload; pass it through env: or with:',
      'job a step 4: run: interpolates untrusted github.event.(issue|pull_request|discussion).(title|body); pass it through env: or with:',
      'job a step 5: run: contains a ${{ }} expression; pass values through env: so they are never parsed as shell',
    ]);
  });
  test('flags a node20 action', () => {
    expect(lintAction('a.yml', 'name: a\ndescription: b\nruns:\n  using: node20\n  main: x.js\n')).toEqual([
      { file: 'a.yml', message: 'runs.using is node20: use node24' },
    ]);
  });
});
