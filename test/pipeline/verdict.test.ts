// Verdict signing: the canonical form covers every field promote relies on, any change or another key fails
// verification, the key comes from the option or the environment and never shows in output or errors; on a real
// registry the newest SIGNED verdict is found behind newer unsigned and forged ones.
import { inspect } from 'node:util';
import { bytesSource, EMPTY_SHA256, MediaType, openStore, type Descriptor, type Store } from '@oci-channel/oci';
import {
  MIN_VERDICT_KEY_LENGTH,
  VERDICT_KEY_ENV,
  VerdictKey,
  newestVerdict,
  recordVerdict,
  resolveVerdictKey,
  signVerdict,
  verdictSignedWith,
  type VerdictDocument,
} from '@oci-channel/pipeline';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';

const SECRET = 'k3y-for-verdict-tests-0123456789abcdef';
const OTHER = 'an0ther-key-nobody-trusts-0123456789ab';

const base: VerdictDocument = {
  verdict: 'passed',
  checks: [
    { name: 'package', ok: true, detail: 'pkg 1.0 0 (noarch)' },
    { name: 'owner', ok: true },
  ],
  uploader: 'pkg-feedstock',
  validatedAt: '2026-01-01T00:00:00.000Z',
  subdir: 'noarch',
  filename: 'pkg-1.0-0.conda',
  sha256: 'ab'.repeat(32),
  manifestDigest: `sha256:${'cd'.repeat(32)}`,
};

describe('signing', () => {
  const key = new VerdictKey(SECRET);

  test('a signed verdict verifies with its key only', () => {
    const signed = signVerdict(base, key);
    expect(signed.hmac).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(verdictSignedWith(signed, key)).toBe(true);
    expect(verdictSignedWith(signed, new VerdictKey(OTHER))).toBe(false);
    expect(verdictSignedWith(base, key)).toBe(false);
    expect(verdictSignedWith({ ...signed, hmac: 'hmac-sha256:' + '0'.repeat(64) }, key)).toBe(false);
    expect(verdictSignedWith({ ...signed, hmac: 'not-a-mac' }, key)).toBe(false);
    // Re-signing replaces the old MAC; the signature does not depend on key order in the object.
    expect(signVerdict(signed, key).hmac).toBe(signed.hmac);
    const reordered = Object.fromEntries(Object.entries(signed).reverse()) as unknown as VerdictDocument;
    expect(verdictSignedWith(reordered, key)).toBe(true);
  });

  test.each<[string, Partial<VerdictDocument>]>([
    ['verdict', { verdict: 'failed' }],
    ['checks (one flipped)', { checks: [{ name: 'package', ok: false, detail: 'pkg 1.0 0 (noarch)' }, { name: 'owner', ok: true }] }],
    ['checks (one dropped)', { checks: [{ name: 'package', ok: true, detail: 'pkg 1.0 0 (noarch)' }] }],
    ['check detail', { checks: [{ name: 'package', ok: true, detail: 'other' }, { name: 'owner', ok: true }] }],
    ['subject manifest digest', { manifestDigest: `sha256:${'ef'.repeat(32)}` }],
    ['subdir', { subdir: 'linux-64' }],
    ['filename', { filename: 'pkg-1.0-0.tar.bz2' }],
    ['sha256', { sha256: 'ff'.repeat(32) }],
    ['sha256 removed', { sha256: undefined }],
    ['validatedAt', { validatedAt: '2027-01-01T00:00:00.000Z' }],
    ['uploader', { uploader: 'intruder-feedstock' }],
    ['uploader removed', { uploader: undefined }],
  ])('changing the %s breaks the MAC', (_field, change) => {
    const signed = signVerdict(base, key);
    expect(verdictSignedWith({ ...signed, ...change }, key)).toBe(false);
  });

  test('the key comes from the option, else the environment; empty means none; short keys are refused without showing them', () => {
    const env = { [VERDICT_KEY_ENV]: `  ${OTHER}\n` };
    const probe = signVerdict(base, new VerdictKey(OTHER));
    expect(verdictSignedWith(probe, resolveVerdictKey({}, env)!)).toBe(true); // trimmed
    expect(verdictSignedWith(signVerdict(base, resolveVerdictKey({ verdictKey: SECRET }, env)!), key)).toBe(true);
    expect(resolveVerdictKey({ verdictKey: '' }, env)).toBeUndefined();
    expect(resolveVerdictKey({}, {})).toBeUndefined();
    const short = 'short-secret-value';
    expect(short.length).toBeLessThan(MIN_VERDICT_KEY_LENGTH);
    for (const [options, environment] of [[{ verdictKey: short }, {}], [{}, { [VERDICT_KEY_ENV]: short }]] as const) {
      let message = '';
      try {
        resolveVerdictKey(options, environment);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/verdict key .* shorter than 32 characters; set a random one/);
      expect(message).not.toContain(short);
    }
  });

  test('a key object never prints or serializes its secret', () => {
    const holder = { key, nested: { verdictKey: key } };
    expect(JSON.stringify(holder)).not.toContain(SECRET);
    expect(inspect(holder, { depth: 5, showHidden: true })).not.toContain(SECRET);
    expect(String(key)).not.toContain(SECRET);
    expect(`${key.sign(new Uint8Array([1]))}`).not.toContain(SECRET);
  });
});

describe('on a registry', () => {
  let registry: RunningRegistry;
  let store: Store;
  beforeAll(async () => {
    registry = await startRegistry();
    store = openStore(registry.location('verdicts'));
  });
  afterAll(async () => {
    await store.close();
    await registry.stop();
  });

  test('with a key, the newest signed verdict counts; newer unsigned, forged and other-key ones are skipped', async () => {
    const repo = store.repository('noarch/pkg');
    await repo.pushBlob(bytesSource(new Uint8Array(0)), { digest: EMPTY_SHA256, size: 0 });
    const subjectBytes = new TextEncoder().encode(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ImageManifest, config: { mediaType: 'application/vnd.unknown.config.v1+json', digest: EMPTY_SHA256, size: 0 }, layers: [], annotations: { a: 'subject' } }),
    );
    const subject: Descriptor = await repo.pushManifest(subjectBytes, MediaType.ImageManifest, '1.0-0');
    const key = new VerdictKey(SECRET);
    const doc = (verdict: 'passed' | 'failed', validatedAt: string): VerdictDocument => ({ ...base, verdict, validatedAt, manifestDigest: subject.digest });

    expect(await newestVerdict(repo, subject.digest, base.filename, key)).toBeUndefined();
    await recordVerdict(repo, subject, doc('failed', '2026-01-01T00:00:01.000Z'), key);
    const genuine = await recordVerdict(repo, subject, doc('passed', '2026-01-01T00:00:02.000Z'), key);
    // Newer ones anyone with staging access could push: unsigned, signed with another key, a signed doc edited.
    await recordVerdict(repo, subject, doc('passed', '2026-01-01T00:00:03.000Z'));
    await recordVerdict(repo, subject, doc('passed', '2026-01-01T00:00:04.000Z'), new VerdictKey(OTHER));
    const edited = { ...signVerdict(doc('failed', '2026-01-01T00:00:05.000Z'), key), verdict: 'passed' as const };
    const forged = await recordVerdict(repo, subject, edited);

    const trusted = await newestVerdict(repo, subject.digest, base.filename, key);
    expect(trusted?.digest).toBe(genuine.digest);
    expect(trusted?.doc.verdict).toBe('passed');
    expect(trusted?.doc.validatedAt).toBe('2026-01-01T00:00:02.000Z');
    // Without a key any readable verdict is returned (reports only; promote never calls it that way).
    expect((await newestVerdict(repo, subject.digest, base.filename))?.digest).toBe(forged.digest);
    // Another key trusts nothing here but its own.
    expect((await newestVerdict(repo, subject.digest, base.filename, new VerdictKey(OTHER)))?.doc.validatedAt).toBe('2026-01-01T00:00:04.000Z');
  });
});
