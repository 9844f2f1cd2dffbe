// The actions' run wrapper: masks first, one-line failures that tell user errors from bugs, escaped summaries.
import { expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NODE24, parseOutputs, ROOT } from './run-action.ts';

function step(kind: string) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wrapper-'));
  try {
    const output = path.join(dir, 'output');
    const summary = path.join(dir, 'summary');
    writeFileSync(output, '');
    writeFileSync(summary, '');
    const run = spawnSync(NODE24, [path.join(ROOT, 'test', 'actions', 'fixtures', 'wrapped-step.ts')], {
      cwd: ROOT,
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH,
        FIXTURE_KIND: kind,
        INPUT_USERNAME: 'someone',
        INPUT_PASSWORD: 'hunter2-DISTINCT',
        GITHUB_OUTPUT: output,
        GITHUB_STEP_SUMMARY: summary,
      },
    });
    const lines = run.stdout.split('\n');
    return {
      code: run.status,
      lines,
      errors: lines.filter((l) => l.startsWith('::error::')).map((l) => l.slice('::error::'.length)),
      outputs: parseOutputs(readFileSync(output, 'utf8')),
      summary: readFileSync(summary, 'utf8'),
      stderr: run.stderr,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('success: secrets masked before anything else, outputs written, summary escaped', () => {
  const result = step('ok');
  expect(result.code).toBe(0);
  expect(result.lines.slice(0, 3)).toEqual([
    '::add-mask::hunter2-DISTINCT',
    `::add-mask::${Buffer.from('someone:hunter2-DISTINCT').toString('base64')}`,
    'running',
  ]);
  expect(result.outputs).toEqual({ result: 'fine' });
  expect(result.summary).toContain('<td>noarch/&lt;script&gt;alert(1)&lt;/script&gt;-1-0.conda</td><td>failed</td><td>a&#124;b &amp; &quot;c&quot;</td><td> </td><td>2.0 KiB</td>');
  expect(result.summary).not.toContain('<script>');
});

test.each([
  ['user', 'fixture: input x is wrong: give y'],
  ['registry', 'fixture: 127.0.0.1:5000/ch/noarch/a:1-0 not found: upload it first'],
  ['multiline', 'fixture: first line says what'],
  ['plain', 'fixture: latest of ch/linux-64/repodata.json kept being replaced by other reindexes; run reindex again'],
])('a %s error fails with its one line', (kind, line) => {
  const result = step(kind);
  expect(result.code).toBe(1);
  expect(result.errors).toEqual([line]);
  expect(result.summary).toContain('fixture failed');
  expect(result.summary).toContain(line);
});

test('a bug says so and asks for a report, with the stack only in debug output', () => {
  const result = step('bug');
  expect(result.code).toBe(1);
  expect(result.errors).toEqual([
    "fixture: internal error: Cannot read properties of undefined (reading 'field') (this is a bug in oci-channel; please report it with this log)",
  ]);
  expect(result.lines.some((l) => l.startsWith('::debug::TypeError: Cannot read properties of undefined'))).toBe(true);
  expect(result.stderr).toBe('');
});
