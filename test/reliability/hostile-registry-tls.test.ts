// An https registry that tries to move the client to plain http (realm, redirect, upload Location): refused.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { runTlsCase, setUpTls, tlsCases, type TlsOutcome, type TlsSetup } from '../helpers/hostile-scenario-tls.ts';
import { recordFigures } from '../helpers/hostile-world.ts';

describe('hostile https registry: no downgrade to http', () => {
  let setup: TlsSetup;
  const outcomes: TlsOutcome[] = [];

  beforeAll(async () => {
    setup = await setUpTls();
  }, 60_000);

  afterAll(async () => {
    await recordFigures({
      scenario: 'hostile-registry-tls',
      mode: process.env.STRESS === '1' ? 'stress' : 'ci',
      figures: { 'https downgrade attempts tried': outcomes.length, 'https downgrade attempts refused': outcomes.filter((o) => o.problems.length === 0).length },
      findings: outcomes.filter((o) => o.problems.length).map((o) => `${o.id}: ${o.problems.join('; ')}`),
      notes: outcomes.map((o) => `${o.id}: ${o.error}`),
    });
    await setup?.stop();
  });

  test('baseline: the same https registry, honest, takes the upload (so refusals below are not TLS trouble)', async () => {
    const outcome = await runTlsCase(setup, { id: 'tls-honest', why: 'no rules', rules: () => [], expect: /$^/ });
    // Measured with the same checks as the hostile cases: here "succeeded" and "published" are the goal.
    expect(outcome.problems).toContain('the upload succeeded');
    expect(outcome.problems).toContain('the package was published');
    expect(outcome.problems.filter((p) => p.startsWith('crash') || p.includes('plain http'))).toEqual([]);
  }, 60_000);

  for (const c of tlsCases()) {
    test(`${c.id}: ${c.why}`, async () => {
      const outcome = await runTlsCase(setup, c);
      outcomes.push(outcome);
      expect(outcome.problems).toEqual([]);
    }, 60_000);
  }
});
