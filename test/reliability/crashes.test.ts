// CI size: promote and reindex SIGKILLed 6+ times over three batches, re-run after each kill.
import { describe, expect, test } from '@jest/globals';
import { runCrashScenario } from '../helpers/hostile-scenario-crash.ts';
import { testSeed } from '../helpers/hostile-random.ts';

describe('crashes: killed promote and reindex runs converge', () => {
  test('after each kill nothing is lost; the end state equals an uninterrupted run', async () => {
    const result = await runCrashScenario({ mode: 'ci', batches: 3, packagesPerBatch: 6, killsPerStep: 1, seed: testSeed(4242) });
    expect(result.kills + result.finishedBeforeKill).toBe(6);
    expect(result.kills).toBeGreaterThanOrEqual(4);
    expect(result.killsMidWork).toBeGreaterThanOrEqual(2);
    expect(result.violations).toEqual([]);
    expect(result.orderViolations).toEqual([]);
    expect(result.unclearRuns).toEqual([]);
    expect(result.check).toEqual({ missing: [], corrupted: [], notIndexed: [], badRecords: [], strayRecords: [] });
    expect(result.stagingLeftovers).toBe(0);
    expect(result.missingLogEntries).toBe(0);
  }, 300_000);
});
