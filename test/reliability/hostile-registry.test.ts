// Hostile registry answers, driven through upload and promote: refused clearly, nothing published, no
// credential to another origin, huge bodies never read into memory.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { hostileRegistryCases, runHostileRegistryCase, setUpHostileRegistry, type HostileRegistryOutcome, type HostileRegistrySetup } from '../helpers/hostile-scenario-registry.ts';
import { recordFigures } from '../helpers/hostile-world.ts';

describe('hostile registry answers', () => {
  let setup: HostileRegistrySetup;
  const outcomes: HostileRegistryOutcome[] = [];

  beforeAll(async () => {
    setup = await setUpHostileRegistry();
  }, 60_000);

  afterAll(async () => {
    await recordFigures({
      scenario: 'hostile-registry',
      mode: process.env.STRESS === '1' ? 'stress' : 'ci',
      figures: {
        'hostile registry answers tried': outcomes.length,
        'refused or followed safely': outcomes.filter((o) => o.ok).length,
        'published anyway': outcomes.filter((o) => o.published && !o.ok).length,
        'requests carrying credentials to another origin': outcomes.reduce((n, o) => n + o.credentialsToForeign, 0),
      },
      findings: outcomes.filter((o) => !o.ok).map((o) => `${o.id} (${o.why}): ${o.problems.join('; ')}`),
      notes: outcomes.map((o) => `${o.id}: ${o.error ?? 'succeeded'}${o.notes.length ? ` [${o.notes.join('; ')}]` : ''}`),
    });
    await setup?.stop();
  });

  for (const c of hostileRegistryCases()) {
    test(`${c.id}: ${c.why}`, async () => {
      const outcome = await runHostileRegistryCase(setup, c);
      outcomes.push(outcome);
      expect(outcome.problems).toEqual([]);
    }, 60_000);
  }
});
