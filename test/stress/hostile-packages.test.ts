// Stress size: the hostile package corpus with 1 GiB bombs (run by npm run test:stress).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import {
  plantHostileStaging,
  promotePlanted,
  recordHostilePackageFigures,
  refusePayloads,
  setUpHostilePackages,
  uploadCorpus,
  type HostilePackagesSetup,
  type PromoteRefusal,
  type UploadRefusal,
} from '../helpers/hostile-scenario-packages.ts';

const BOMB_BYTES = 1024 * 1024 * 1024;

describe('hostile packages and inputs (stress)', () => {
  let setup: HostilePackagesSetup;
  let packages: UploadRefusal[] = [];
  let planted: PromoteRefusal[] = [];
  let payloads: Array<{ id: string; ok: boolean; message: string }> = [];

  beforeAll(async () => {
    setup = await setUpHostilePackages(BOMB_BYTES);
  }, 600_000);

  afterAll(async () => {
    await recordHostilePackageFigures('stress', { packages, planted, payloads, bombBytes: BOMB_BYTES });
    await setup?.stop();
  });

  test('every hostile package (1 GiB bombs) is refused (by upload, or by promote for payload-only .conda problems); nothing published', async () => {
    const outcome = await uploadCorpus(setup);
    packages = outcome.refusals;
    expect(outcome.crash).toEqual([]);
    expect(outcome.code).toBe(1);
    expect(outcome.refusals.filter((r) => !r.ok)).toEqual([]);
    expect(outcome.published).toEqual([]);
  }, 600_000);

  test('promote rejects planted hostile staging content', async () => {
    const outcome = await promotePlanted(setup, await plantHostileStaging(setup));
    planted = outcome.refusals;
    expect(outcome.crash).toEqual([]);
    expect(outcome.refusals.filter((r) => !r.ok)).toEqual([]);
    expect(outcome.productionRepositories).toEqual([]);
  }, 300_000);

  test('hostile dispatch payloads are refused', () => {
    payloads = refusePayloads();
    expect(payloads.filter((p) => !p.ok)).toEqual([]);
  });
});
