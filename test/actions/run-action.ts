// Runs a bundled action the way the runner does: `node dist/<name>/index.js` (Node 24) with INPUT_* variables
// (hyphens kept, defaults from action.yml filled in as the runner does), GITHUB_OUTPUT, GITHUB_STEP_SUMMARY and
// GITHUB_EVENT_PATH files; returns what the step printed, its outputs, its summary and which inputs it read.
import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import YAML from 'yaml';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const NODE24 = path.join(ROOT, 'node_modules', '.bin', 'node');
const RECORD_INPUTS = pathToFileURL(path.join(import.meta.dirname, 'fixtures', 'record-inputs.mjs')).href;

export interface ActionRun {
  code: number | null;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
  /** The `::error::` line, when the step failed. */
  error?: string;
  /** The inputs the step read (INPUT_* variables, lowercase, without the prefix). */
  inputsRead: string[];
}

export interface ActionRunner {
  /** A copy of dist/ outside the repository, so nothing resolves from the workspace's node_modules. */
  distDir: string;
  run(name: string, inputs: Record<string, string>, options?: { env?: Record<string, string>; event?: unknown; cwd?: string }): Promise<ActionRun>;
}

/** The value `${{ github.token }}` defaults receive in these runs. */
export const WORKFLOW_TOKEN = 'ghs_WorkflowTokenShouldNeverBePrinted9Q2';

export async function createActionRunner(baseEnv: Record<string, string>): Promise<ActionRunner> {
  const base = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-actions-'));
  const distDir = path.join(base, 'dist');
  await cp(path.join(ROOT, 'dist'), distDir, { recursive: true });
  let counter = 0;
  return {
    distDir,
    async run(name, inputs, options = {}) {
      const dir = path.join(base, `run-${++counter}-${name}`);
      const workspace = path.join(dir, 'workspace');
      await mkdir(workspace, { recursive: true });
      const files = {
        output: path.join(dir, 'output'),
        summary: path.join(dir, 'summary'),
        event: path.join(dir, 'event.json'),
        inputsRead: path.join(dir, 'inputs-read'),
      };
      await writeFile(files.output, '');
      await writeFile(files.summary, '');
      await writeFile(files.event, JSON.stringify(options.event ?? {}));
      const env: Record<string, string> = {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: dir,
        RUNNER_TEMP: path.join(dir, 'tmp'),
        GITHUB_OUTPUT: files.output,
        GITHUB_STEP_SUMMARY: files.summary,
        GITHUB_EVENT_PATH: files.event,
        GITHUB_WORKSPACE: workspace,
        OCI_CHANNEL_TEST_INPUTS_READ: files.inputsRead,
        ...baseEnv,
        ...options.env,
      };
      await mkdir(env.RUNNER_TEMP!, { recursive: true });
      const yml = YAML.parse(await readFile(path.join(ROOT, 'actions', name, 'action.yml'), 'utf8')) as {
        inputs: Record<string, { default?: string }>;
      };
      for (const [input, spec] of Object.entries(yml.inputs)) {
        const value = inputs[input] ?? (spec.default === '${{ github.token }}' ? WORKFLOW_TOKEN : (spec.default ?? ''));
        env[`INPUT_${input.toUpperCase()}`] = value;
      }
      for (const input of Object.keys(inputs)) {
        if (!(input in yml.inputs)) throw new Error(`test bug: ${name} has no input ${input}`);
      }
      const child = spawn(NODE24, ['--import', RECORD_INPUTS, path.join(distDir, name, 'index.js')], { cwd: options.cwd ?? workspace, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      const errorLine = stdout.split('\n').find((l) => l.startsWith('::error::'));
      return {
        code,
        stdout,
        stderr,
        outputs: parseOutputs(await readFile(files.output, 'utf8')),
        summary: await readFile(files.summary, 'utf8'),
        error: errorLine?.slice('::error::'.length),
        inputsRead: (await readFile(files.inputsRead, 'utf8').catch(() => '')).split('\n').filter(Boolean),
      };
    },
  };
}

/** The GITHUB_OUTPUT file format: `name<<DELIMITER` lines, the value, then the delimiter. */
export function parseOutputs(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const match = /^([^<=]+)<<(.+)$/.exec(lines[i]!);
    if (match) {
      const end = lines.indexOf(match[2]!, i + 1);
      outputs[match[1]!] = lines.slice(i + 1, end).join('\n');
      i = end;
    } else if (lines[i]!.includes('=')) {
      const at = lines[i]!.indexOf('=');
      outputs[lines[i]!.slice(0, at)] = lines[i]!.slice(at + 1);
    }
  }
  return outputs;
}

/**
 * Where a secret shows up in a run. The `::add-mask::` commands are the runner's masking protocol (the runner
 * consumes them and never prints them), so they are the one place a secret may appear.
 */
export function secretLeaks(run: ActionRun, secret: string): string[] {
  const where: string[] = [];
  const stdout = run.stdout
    .split('\n')
    .filter((l) => !l.startsWith('::add-mask::'))
    .join('\n');
  if (stdout.includes(secret)) where.push('stdout');
  if (run.stderr.includes(secret)) where.push('stderr');
  if (JSON.stringify(run.outputs).includes(secret)) where.push('outputs');
  if (run.summary.includes(secret)) where.push('summary');
  return where;
}
