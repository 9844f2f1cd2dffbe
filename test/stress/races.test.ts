// Stress size: 15 rounds of four promoters over overlapping sets and two reindexers at once.
import { describe, expect, test } from '@jest/globals';
import { runRaceScenario } from '../helpers/hostile-scenario-races.ts';
import { testSeed } from '../helpers/hostile-random.ts';

describe('races (stress)', () => {
  test('every artifact once in production, latest complete, no latest replaced by an older one', async () => {
    const result = await runRaceScenario({ mode: 'stress', rounds: 15, packagesPerRound: 12, seed: testSeed(6161) });
    expect(result.latestPushes).toBeGreaterThan(15);
    expect(result.regressions).toEqual([]);
    expect(result.duplicates).toEqual([]);
    expect(result.check).toEqual({ missing: [], corrupted: [], notIndexed: [], badRecords: [], strayRecords: [] });
  }, 1_800_000);
});
