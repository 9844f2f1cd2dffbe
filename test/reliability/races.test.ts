// CI size: 3 rounds of four promoters over overlapping sets and two reindexers at once.
import { describe, expect, test } from '@jest/globals';
import { runRaceScenario } from '../helpers/hostile-scenario-races.ts';
import { testSeed } from '../helpers/hostile-random.ts';

describe('races: concurrent promoters and reindexers', () => {
  test('every artifact once in production, latest complete, no latest replaced by an older one', async () => {
    const result = await runRaceScenario({ mode: 'ci', rounds: 3, packagesPerRound: 9, seed: testSeed(3131) });
    expect(result.latestPushes).toBeGreaterThan(3);
    expect(result.regressions).toEqual([]);
    expect(result.duplicates).toEqual([]);
    expect(result.check).toEqual({ missing: [], corrupted: [], notIndexed: [], badRecords: [], strayRecords: [] });
  }, 240_000);
});
