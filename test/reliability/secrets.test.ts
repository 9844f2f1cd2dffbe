// Tokens, scopes and secret leaks on a bearer-token registry: CLI commands and actions, success and failure paths.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import {
  actionLeakRuns,
  cliLeakRuns,
  leaksIn,
  SECRETS,
  promoteWithStagingRights,
  setUpSecrets,
  stagingCredentialOnProduction,
  type LeakRun,
  type SecretsSetup,
} from '../helpers/hostile-scenario-secrets.ts';
import { recordFigures } from '../helpers/hostile-world.ts';

describe('tokens, scopes and secrets', () => {
  let setup: SecretsSetup;
  const figures: Record<string, number> = {};
  const findings: string[] = [];

  beforeAll(async () => {
    setup = await setUpSecrets();
  }, 120_000);

  afterAll(async () => {
    await recordFigures({ scenario: 'secrets', mode: process.env.STRESS === '1' ? 'stress' : 'ci', figures, findings });
    await setup?.stop();
  });

  test('the leak detector sees canaries in any form, and ignores the runner\'s own add-mask commands', () => {
    expect(leaksIn(`error: ${SECRETS.stagerPassword}`)).not.toEqual([]);
    expect(leaksIn(`Authorization: Basic ${Buffer.from(`stager:${SECRETS.stagerPassword}`).toString('base64')}`)).not.toEqual([]);
    expect(leaksIn('Bearer eyJhbGciOiJFUzI1NiJ9abc.eyJpc3MiOiJ0ZXN0In0abc.sig')).not.toEqual([]);
    expect(leaksIn(`::add-mask::${SECRETS.stagerPassword}\nall fine`)).toEqual([]);
  });

  test('the staging credential cannot write production', async () => {
    const { refused, accepted } = await stagingCredentialOnProduction(setup);
    // The tag list is a read: the staging credential may or may not be allowed it; the three writes must fail.
    figures['staging-credential writes to production tried'] = 3;
    figures['staging-credential writes to production refused'] = refused.filter((r) => !r.startsWith('tag list')).length;
    expect(accepted.filter((a) => a !== 'tag list')).toEqual([]);
    expect(refused.length).toBeGreaterThanOrEqual(3);
  });

  test('a promote holding only staging rights fails clearly before writing or deleting anything', async () => {
    const outcome = await promoteWithStagingRights(setup);
    figures['promotes with staging-only rights refused'] = outcome.code === 1 && outcome.writes.length === 0 ? 1 : 0;
    if (outcome.writes.length) findings.push(`promote with staging-only rights wrote before failing: ${outcome.writes.join('; ')}`);
    expect(outcome.crash).toEqual([]);
    expect(outcome.code).toBe(1);
    expect(outcome.output).toMatch(/denied|not allowed|lack|permission|unauthori[sz]ed|push/i);
    expect(outcome.productionHas).toBe(false);
    expect(outcome.stagingKept).toBe(true);
    expect(outcome.writes).toEqual([]);
  }, 120_000);

  test('no secret appears in any CLI output, error or file, on any path', async () => {
    const runs: LeakRun[] = await cliLeakRuns(setup);
    figures['CLI runs checked for leaks'] = runs.length;
    figures['CLI runs leaking a secret'] = runs.filter((r) => r.leaks.length).length;
    for (const r of runs) if (r.leaks.length) findings.push(`${r.label} leaked ${r.leaks.join(', ')}`);
    expect(runs.filter((r) => r.leaks.length)).toEqual([]);
    expect(runs.filter((r) => r.crash.length).map((r) => r.label)).toEqual([]);
    // The success paths succeeded and the failure paths failed: nothing was checked vacuously.
    const failurePath = (r: LeakRun) => /wrong password|staging-only|missing artifact|unreachable/.test(r.label);
    expect(runs.filter((r) => failurePath(r) && r.code === 0).map((r) => r.label)).toEqual([]);
    expect(runs.filter((r) => !failurePath(r) && r.code !== 0).map((r) => `${r.label}: ${r.code}`)).toEqual([]);
  }, 300_000);

  test('no secret appears in any action output, summary, output file or log, on any path', async () => {
    const runs = await actionLeakRuns(setup);
    figures['action runs checked for leaks'] = runs.length;
    figures['action runs leaking a secret'] = runs.filter((r) => r.leaks.length).length;
    for (const r of runs) if (r.leaks.length) findings.push(`${r.label} leaked ${r.leaks.join(', ')}`);
    expect(runs.filter((r) => r.leaks.length)).toEqual([]);
    const failurePath = (r: LeakRun) => /wrong password|staging-only|bad dispatch|hostile payload/.test(r.label);
    expect(runs.filter((r) => failurePath(r) && r.code === 0).map((r) => r.label)).toEqual([]);
    expect(runs.filter((r) => !failurePath(r) && r.code !== 0).map((r) => `${r.label}: ${r.code}`)).toEqual([]);
  }, 300_000);
});
