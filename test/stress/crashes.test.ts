// Stress size: 30 batches, promote and reindex each SIGKILLed once per batch (60 kill attempts).
import { describe, expect, test } from '@jest/globals';
import { runCrashScenario } from '../helpers/hostile-scenario-crash.ts';
import { testSeed } from '../helpers/hostile-random.ts';

describe('crashes (stress)', () => {
  test('50+ kills of promote and reindex: nothing lost, end state equals an uninterrupted run', async () => {
    const result = await runCrashScenario({ mode: 'stress', batches: 30, packagesPerBatch: 6, killsPerStep: 1, seed: testSeed(5151) });
    expect(result.kills).toBeGreaterThanOrEqual(50);
    expect(result.violations).toEqual([]);
    expect(result.orderViolations).toEqual([]);
    expect(result.unclearRuns).toEqual([]);
    expect(result.check).toEqual({ missing: [], corrupted: [], notIndexed: [], badRecords: [], strayRecords: [] });
    expect(result.stagingLeftovers).toBe(0);
    expect(result.missingLogEntries).toBe(0);
  }, 2_400_000);
});
