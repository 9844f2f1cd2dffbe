// CI size: hostile packages, planted staging content and dispatch payloads (see test/stress for the big bombs).
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

const BOMB_BYTES = 80 * 1024 * 1024; // over every metadata cap of the reader (index.json 1 MiB, metadata 64 MiB)

describe('hostile packages and inputs', () => {
  let setup: HostilePackagesSetup;
  let packages: UploadRefusal[] = [];
  let planted: PromoteRefusal[] = [];
  let payloads: Array<{ id: string; ok: boolean; message: string }> = [];

  beforeAll(async () => {
    setup = await setUpHostilePackages(BOMB_BYTES);
  }, 120_000);

  afterAll(async () => {
    await recordHostilePackageFigures('ci', { packages, planted, payloads, bombBytes: BOMB_BYTES });
    await setup?.stop();
  });

  test('every hostile package is refused with its own one-line error (by upload, or by promote for payload-only .conda problems); nothing published', async () => {
    const outcome = await uploadCorpus(setup);
    packages = outcome.refusals;
    expect(outcome.crash).toEqual([]);
    expect(outcome.code).toBe(1);
    expect(outcome.refusals.filter((r) => !r.ok)).toEqual([]);
    // Distinct problems get distinct messages (not one generic "invalid package").
    const reasons = new Set(outcome.refusals.map((r) => r.error?.replace(/hostile-[a-z0-9-]+-1\.0-h0_0\.(conda|tar\.bz2)|zlib-1\.3-h0_0\.conda|hostile bad\.conda|hostile-wrong-types-1-h0_0\.conda/g, 'FILE')));
    expect(reasons.size).toBeGreaterThan(15);
    expect(outcome.published).toEqual([]);
  }, 180_000);

  test('promote rejects hostile bytes planted behind staging manifests, publishing and deleting nothing', async () => {
    const cases = await plantHostileStaging(setup);
    const outcome = await promotePlanted(setup, cases);
    planted = outcome.refusals;
    expect(outcome.crash).toEqual([]);
    expect(outcome.code).toBe(1);
    expect(outcome.refusals.filter((r) => !r.ok)).toEqual([]);
    expect(outcome.productionRepositories).toEqual([]);
  }, 180_000);

  test('hostile dispatch payloads are refused by the strict parser, each with its own message', () => {
    payloads = refusePayloads();
    expect(payloads.filter((p) => !p.ok)).toEqual([]);
  });
});
