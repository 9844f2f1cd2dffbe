// CI size: 30 packages through upload, validate, promote and reindex with 10% of requests faulted.
import { describe, expect, test } from '@jest/globals';
import { runFaultScenario, runStagingRereadFailure } from '../helpers/hostile-scenario-faults.ts';
import { testSeed } from '../helpers/hostile-random.ts';

describe('faults: the flow survives a misbehaving network', () => {
  test('30 packages at a 10% fault rate end byte-identical in production and exactly indexed', async () => {
    const result = await runFaultScenario({ mode: 'ci', packages: 30, rate: 0.1, seed: testSeed(7001) });
    expect(result.faults).toBeGreaterThan(result.requests * 0.05);
    expect({ unfinished: result.unfinished, errors: result.unfinished.length ? result.errorSamples : [] }).toEqual({ unfinished: [], errors: [] });
    expect(result.unclearErrors).toEqual([]);
    expect(result.check).toEqual({ missing: [], corrupted: [], notIndexed: [], badRecords: [], strayRecords: [] });
    expect(result.lost).toBe(0);
    expect(result.stagingLeftovers).toBe(0);
  }, 240_000);

  test('promote never claims a staging copy removed when it could not re-read it; a re-run removes it', async () => {
    const outcome = await runStagingRereadFailure();
    expect(outcome.firstStatus).toMatch(/promoted/);
    // Whatever the first run could do, its claim must be true.
    expect(outcome.claimedRemoved && outcome.keptAfterFirst).toBe(false);
    expect(outcome.keptAfterRerun).toBe(false);
  }, 120_000);
});
