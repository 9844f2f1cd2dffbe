// The actions' input helpers: typed values, one-line errors naming the input, and where the workflow token may go.
import { afterEach, expect, test } from '@jest/globals';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { booleanInput, durationInput, listInput, locationInput, storeOptionsFrom } from '../../actions/src/common/inputs.ts';
import { INPUT } from '../../actions/src/common/names.ts';

const saved = { ...process.env };
afterEach(() => {
  for (const key of Object.keys(process.env)) if (key.startsWith('INPUT_') || key === 'GITHUB_ACTOR') delete process.env[key];
  Object.assign(process.env, { GITHUB_ACTOR: saved.GITHUB_ACTOR });
  if (saved.GITHUB_ACTOR === undefined) delete process.env.GITHUB_ACTOR;
});

function inputs(values: Record<string, string>): void {
  for (const [name, value] of Object.entries(values)) process.env[`INPUT_${name.toUpperCase()}`] = value;
}

test('the workflow token is a registry password on ghcr.io only', () => {
  inputs({ token: 'ghs_workflow', password: '', username: '' });
  process.env.GITHUB_ACTOR = 'octocat';
  expect(storeOptionsFrom('username', 'password', 'oci://ghcr.io/my-org/staging').credentials).toEqual({ username: 'octocat', password: 'ghs_workflow' });
  expect(storeOptionsFrom('username', 'password', 'oci://registry.example.com/staging').credentials).toBeUndefined();
  expect(storeOptionsFrom('username', 'password', 'oci+http://127.0.0.1:5000/staging').credentials).toBeUndefined();
  inputs({ password: 'explicit', username: 'bot' });
  expect(storeOptionsFrom('username', 'password', 'oci://registry.example.com/staging').credentials).toEqual({ username: 'bot', password: 'explicit' });
});

test('a password without any username is refused', () => {
  inputs({ password: 'p', username: '' });
  delete process.env.GITHUB_ACTOR;
  expect(() => storeOptionsFrom('username', 'password', 'oci://registry.example.com/x')).toThrow('input username is required with password (GITHUB_ACTOR is not set either)');
});

test('durations, lists, booleans and locations', () => {
  inputs({ age: '36h', list: 'linux-64, noarch\nosx-arm64,,', flag: 'TRUE', bad: 'yes', where: 'oci://ghcr.io/o/c', nowhere: 'ghcr.io/o/c' });
  expect(durationInput('age', '7d')).toBe(36 * 3_600_000);
  expect(durationInput('missing', '2w')).toBe(14 * 86_400_000);
  expect(listInput('list')).toEqual(['linux-64', 'noarch', 'osx-arm64']);
  expect(booleanInput('flag', false)).toBe(true);
  expect(booleanInput('missing', true)).toBe(true);
  expect(() => booleanInput('bad', false)).toThrow('input bad is "yes": expected true or false');
  expect(locationInput('where')).toBe('oci://ghcr.io/o/c');
  expect(() => locationInput('nowhere')).toThrow(/^input nowhere: invalid location "ghcr.io\/o\/c"/);
  expect(() => locationInput('missing')).toThrow('input missing is required: a channel location such as oci://ghcr.io/OWNER/CHANNEL');
});

test('the input names the sources read are exactly the ones the action.yml files declare', async () => {
  const actions = path.resolve(import.meta.dirname, '../../actions');
  const declared = new Set<string>();
  for (const entry of await readdir(actions, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name === 'src') continue;
    const yml = YAML.parse(await readFile(path.join(actions, entry.name, 'action.yml'), 'utf8')) as { inputs: Record<string, unknown> };
    for (const name of Object.keys(yml.inputs)) declared.add(name);
  }
  expect(declared.size).toBeGreaterThan(40);
  expect([...new Set(Object.values(INPUT))].sort()).toEqual([...declared].sort());
});
