// Authenticated verdicts end to end on a real registry: a forged passing verdict (pushed straight to staging,
// unsigned or signed with another key) on a corrupt package is not trusted -- promote validates, rejects,
// production stays untouched, staging is kept; a genuine signed verdict is trusted (promote does not download
// the package again); without a key promote trusts no recorded verdict; the key never shows. Also the bounded
// retry of manifest pushes refused with distribution's concurrent-push codes.
import { copyFile, mkdtemp, rm, truncate } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { bytesSource, MediaType, openStore, sha256Digest, type Store } from '@oci-channel/oci';
import {
  CONCURRENT_PUSH_ATTEMPTS,
  newestVerdict,
  promote,
  readPromotions,
  recordVerdict,
  upload,
  validate,
  VerdictAnnotation,
  VerdictKey,
  VERDICT_ARTIFACT_TYPE,
  VERDICT_KEY_ENV,
  VERDICT_MEDIA_TYPE,
  type ProgressEvent,
} from '@oci-channel/pipeline';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { startProxy, type RunningProxy } from '../harness/proxy.ts';
import { manifestAt, stageCorrupt, makePackage as buildPackage, sha256File } from './pipeline-helpers.ts';

const verdictKey = 'the-admins-verdict-key-0123456789abcdef-xyz';
const otherKey = 'a-feedstocks-guess-at-a-key-0123456789abcd';

let dir: string;
let registry: RunningRegistry;
let proxy: RunningProxy;
const savedEnv = process.env[VERDICT_KEY_ENV];

beforeAll(async () => {
  delete process.env[VERDICT_KEY_ENV];
  dir = await mkdtemp(path.join(os.tmpdir(), 'promote-verdict-'));
  registry = await startRegistry();
  proxy = await startProxy({ host: '127.0.0.1', port: registry.port });
});
afterAll(async () => {
  if (savedEnv === undefined) delete process.env[VERDICT_KEY_ENV];
  else process.env[VERDICT_KEY_ENV] = savedEnv;
  proxy.handler = undefined;
  await proxy.stop();
  await registry.stop();
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
/** Both channels through the proxy (one registry, so promote mounts instead of streaming). */
function channels(): { staging: Store; production: Store } {
  const prefix = `v${++counter}`;
  return { staging: openStore(proxy.location(`${prefix}/staging`)), production: openStore(proxy.location(`${prefix}/production`)) };
}

async function build(name: string) {
  const file = await buildPackage(path.join(dir, name), { name, version: '1.0', build: 'h0_0', subdir: 'linux-64', format: 'conda', files: { [`share/${name}`]: name } });
  return { file, filename: path.basename(file), sha256: await sha256File(file) };
}

/** GETs of the package blob since `from` in the proxy log (a full download of the package). */
const packageDownloads = (sha256: string, from: number) => proxy.log.slice(from).filter((e) => e.method === 'GET' && e.url.includes(`/blobs/sha256:${sha256}`)).length;

/** Everything a run shows: results, progress, errors. */
function transcript() {
  const lines: string[] = [];
  return { lines, progress: (e: ProgressEvent) => lines.push(JSON.stringify(e)), add: (value: unknown) => lines.push(JSON.stringify(value)) };
}

async function stageCorruptWithForgedVerdict(name: string, signWith?: string) {
  const { staging, production } = channels();
  const good = await build(name);
  const corrupt = path.join(dir, `${name}.bin`);
  await copyFile(good.file, corrupt);
  await truncate(corrupt, 300);
  const staged = await stageCorrupt(staging, good.file, corrupt);
  const manifest = await staging.repository(staged.repository).resolve(staged.tag);
  // The feedstock's staging token can push referrers: a "passed" verdict, newer than anything, on its own bytes.
  await recordVerdict(
    staging.repository(staged.repository),
    manifest!,
    {
      verdict: 'passed',
      checks: [{ name: 'package', ok: true }],
      uploader: 'mallory',
      validatedAt: new Date(Date.now() + 60_000).toISOString(),
      subdir: 'linux-64',
      filename: good.filename,
      sha256: staged.sha256,
      manifestDigest: manifest!.digest,
    },
    signWith === undefined ? undefined : new VerdictKey(signWith),
  );
  return { staging, production, good, staged, manifest: manifest! };
}

test.each([
  ['unsigned', undefined],
  ['signed with another key', otherKey],
])('a forged passing verdict (%s) on a corrupt package is not trusted: validated, rejected, production untouched', async (_kind, signWith) => {
  const { staging, production, good, staged, manifest } = await stageCorruptWithForgedVerdict(`forged${counter}`, signWith);
  const out = transcript();
  const from = proxy.log.length;
  const result = await promote({ staging, production, verdictKey, progress: out.progress, artifacts: [{ subdir: 'linux-64', filename: good.filename }] });
  out.add(result);
  expect(result.ok).toBe(false);
  expect(result.artifacts[0]?.status).toBe('rejected');
  expect(result.artifacts[0]?.checks.find((c) => c.name === 'package')?.ok).toBe(false);
  expect(out.lines.some((l) => l.includes('validating (no signed verdict yet)'))).toBe(true);
  expect(packageDownloads(staged.sha256, from)).toBeGreaterThanOrEqual(1);
  // Nothing published, no log entry; the staging copy is kept (with promote's own, signed, failed verdict).
  expect(await production.repository(staged.repository).listTags()).toEqual([]);
  expect(await readPromotions(production)).toEqual([]);
  expect((await manifestAt(staging, staged.repository, staged.tag))?.digest).toBe(manifest.digest);
  expect(out.lines.join('\n')).not.toContain(verdictKey);
  await staging.close();
  await production.close();
});

test('a genuine signed verdict is trusted: promote copies without downloading the package again', async () => {
  const { staging, production } = channels();
  const a = await build('genuine');
  expect((await upload({ to: staging, files: [a.file] })).ok).toBe(true);
  const out = transcript();
  const ref = { subdir: 'linux-64', filename: a.filename, sha256: a.sha256 };
  const checked = await validate({ staging, production, verdictKey, progress: out.progress, artifacts: [ref] });
  out.add(checked);
  expect(checked.ok).toBe(true);

  const from = proxy.log.length;
  const result = await promote({ staging, production, verdictKey, progress: out.progress, artifacts: [ref] });
  const logAfterPromote = proxy.log.length;
  out.add(result);
  expect(result.artifacts[0]).toMatchObject({ status: 'promoted', verdict: 'passed', verdictDigest: checked.artifacts[0]?.verdictDigest });
  const promoteEvents = out.lines.filter((l) => l.includes('"step":"promote"'));
  expect(promoteEvents.length).toBeGreaterThan(0);
  expect(promoteEvents.some((l) => l.includes('validating'))).toBe(false);
  expect(packageDownloads(a.sha256, from)).toBe(0);
  expect((await manifestAt(production, 'linux-64/genuine', '1.0-h0_0'))?.view.packages[0]?.sha256).toBe(a.sha256);
  expect(out.lines.join('\n')).not.toContain(verdictKey);

  // What promotion costs in round trips (the benchmark's promotion target rests on it): the signed verdict is
  // read from the referrers list's annotations (never its manifest or blob), blobs are mounted without a HEAD
  // first, the staged manifest is not read twice, and the push-access probe is one, on the promotion log.
  const requests = proxy.log.slice(from, logAfterPromote);
  const verdictDigest = checked.artifacts[0]!.verdictDigest!;
  expect(requests.filter((e) => e.url.includes(verdictDigest))).toEqual([]);
  expect(requests.filter((e) => e.method === 'HEAD' && e.url.includes('/blobs/') && !e.url.includes('/oci_channel/'))).toEqual([]);
  expect(requests.filter((e) => e.method === 'POST' && e.url.includes('mount='))).toHaveLength(4);
  const summary = requests.map((e) => `${e.method} ${e.url.replace(/\?.*$/, '')}`);
  // probe (POST+DELETE), the promotion intent's PUT in staging beside the staged GET, then the production GET (the
  // read the merge is based on, after the intent: records/write-intent.ts) beside the referrers API + fallback tag,
  // 4 mounts, tag PUT, re-read GET beside the other format's intent GET, the log's tags (once per run), the new log's
  // config blob (HEAD+POST+PUT, once per run), log PUT, staging DELETE. Per package beyond the first of a run: 13
  // (intent, staged and production GET, verdict, 4 mounts, PUT, re-read, other intent, log entry, staging DELETE).
  // No HEAD of a manifest: the production read after the intent is the last before the PUT.
  expect(requests.length).toBe(20);
  expect(summary.filter((l) => l.startsWith('HEAD') && l.includes('/manifests/'))).toEqual([]);
  expect(summary.filter((l) => l.includes('/manifests/_promoting.'))).toHaveLength(2);
  expect(summary.filter((l) => l.startsWith('GET') && l.includes(`/staging/`) && l.includes('/manifests/1.0-h0_0'))).toHaveLength(1);
  // The log entry carries the production manifest it names (reindex then reads the package from the entry alone).
  const [entry] = await readPromotions(production);
  expect(entry?.manifestDigest).toBe(result.artifacts[0]!.productionDigest);
  expect(sha256Digest(entry!.manifest!)).toBe(result.artifacts[0]!.productionDigest);
  await staging.close();
  await production.close();
});

test("a genuine signed verdict of another staged copy, replayed in a referrer's annotation, is not trusted", async () => {
  // The feedstock saw a signed "passed" verdict for its good package (same filename) and copies it, annotation and
  // all, onto a corrupt upload: the document names the other manifest, so it proves nothing about this one.
  const first = channels();
  const good = await build(`replayed${counter}`);
  expect((await upload({ to: first.staging, files: [good.file] })).ok).toBe(true);
  const ref = { subdir: 'linux-64', filename: good.filename };
  expect((await validate({ staging: first.staging, production: first.production, verdictKey, artifacts: [ref] })).ok).toBe(true);
  const goodRepo = first.staging.repository(`linux-64/replayed${counter}`);
  const goodManifest = await goodRepo.resolve('1.0-h0_0');
  const genuine = await newestVerdict(goodRepo, goodManifest!.digest, good.filename, new VerdictKey(verdictKey));
  expect(genuine?.doc.hmac).toBeDefined();

  const { staging, production } = channels();
  const corrupt = path.join(dir, `replayed${counter}.bin`);
  await copyFile(good.file, corrupt);
  await truncate(corrupt, 300);
  const staged = await stageCorrupt(staging, good.file, corrupt);
  const repo = staging.repository(staged.repository);
  const subject = await repo.resolve(staged.tag);
  const text = JSON.stringify(genuine!.doc);
  const layer = new TextEncoder().encode(text);
  const layerDigest = sha256Digest(layer);
  await repo.pushBlob(bytesSource(new TextEncoder().encode('{}')));
  await repo.pushBlob(bytesSource(layer));
  const forged = {
    schemaVersion: 2,
    mediaType: MediaType.ImageManifest,
    artifactType: VERDICT_ARTIFACT_TYPE,
    config: { mediaType: MediaType.EmptyJson, digest: sha256Digest(new TextEncoder().encode('{}')), size: 2 },
    layers: [{ mediaType: VERDICT_MEDIA_TYPE, digest: layerDigest, size: layer.byteLength }],
    subject: { mediaType: subject!.mediaType, digest: subject!.digest, size: subject!.size },
    annotations: {
      [VerdictAnnotation.Verdict]: 'passed',
      [VerdictAnnotation.Filename]: good.filename,
      [VerdictAnnotation.Created]: genuine!.doc.validatedAt,
      [VerdictAnnotation.Document]: text,
    },
  };
  await repo.pushManifest(new TextEncoder().encode(JSON.stringify(forged)), MediaType.ImageManifest);

  const out = transcript();
  const result = await promote({ staging, production, verdictKey, progress: out.progress, artifacts: [ref] });
  expect(result.artifacts[0]?.status).toBe('rejected');
  expect(out.lines.some((l) => l.includes('validating (no signed verdict yet)'))).toBe(true);
  expect(await production.repository(staged.repository).listTags()).toEqual([]);
  expect(await readPromotions(production)).toEqual([]);
  expect((await manifestAt(staging, staged.repository, staged.tag))?.digest).toBe(subject!.digest);
  await first.staging.close();
  await first.production.close();
  await staging.close();
  await production.close();
});

test('the key can come from the environment; without any key promote trusts only its own validation', async () => {
  const { staging, production } = channels();
  const a = await build('envkey');
  const b = await build('nokey');
  expect((await upload({ to: staging, files: [a.file, b.file] })).ok).toBe(true);
  const refs = [a, b].map((p) => ({ subdir: 'linux-64', filename: p.filename }));
  process.env[VERDICT_KEY_ENV] = verdictKey;
  try {
    expect((await validate({ staging, production, artifacts: refs })).ok).toBe(true);
    // The environment's key verifies what validate signed: no second download of `envkey`.
    const from = proxy.log.length;
    const trusted = await promote({ staging, production, artifacts: [refs[0]!] });
    expect(trusted.artifacts[0]?.status).toBe('promoted');
    expect(packageDownloads(a.sha256, from)).toBe(0);
  } finally {
    delete process.env[VERDICT_KEY_ENV];
  }
  // No key anywhere: the signed passing verdict on `nokey` is not taken; promote validates (downloads) itself.
  const events: string[] = [];
  const from = proxy.log.length;
  const own = await promote({ staging, production, progress: (e) => events.push(e.message), artifacts: [refs[1]!] });
  expect(own.artifacts[0]?.status).toBe('promoted');
  expect(events).toContain('validating (no verdict key: recorded verdicts are not trusted)');
  expect(packageDownloads(b.sha256, from)).toBeGreaterThanOrEqual(1);
  await staging.close();
  await production.close();
});

test('a too-short key fails before anything is touched, without showing the key', async () => {
  const { staging, production } = channels();
  const short = 'tiny-key-1234';
  const from = proxy.log.length;
  for (const run of [() => validate({ staging, production, verdictKey: short, artifacts: [{ subdir: 'noarch', filename: 'x-1-0.conda' }] }), () => promote({ staging, production, verdictKey: short, artifacts: [{ subdir: 'noarch', filename: 'x-1-0.conda' }] })]) {
    const error = await run().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/verdict key in the verdictKey option is shorter than 32 characters/);
    expect(error?.message).not.toContain(short);
  }
  expect(proxy.log.length).toBe(from);
  await staging.close();
  await production.close();
});

describe("distribution's concurrent-push refusal", () => {
  const refusal = JSON.stringify({ errors: [{ code: 'DIGEST_INVALID', message: 'provided digest did not match uploaded content' }] });
  afterEach(() => {
    proxy.handler = undefined;
  });

  test('manifest PUTs refused with DIGEST_INVALID are pushed again (bounded) and promote completes', async () => {
    const { staging, production } = channels();
    const a = await build('racy');
    expect((await upload({ to: staging, files: [a.file] })).ok).toBe(true);
    // The first two manifest PUTs to production's package repository, and the first to the promotion log.
    const refused = new Map<string, number>([['/production/linux-64/racy/manifests/', 2], ['/production/oci_channel/promotions/manifests/', 1]]);
    proxy.handler = (r) => {
      if (r.method !== 'PUT') return;
      for (const [part, left] of refused) {
        if (r.url.includes(part) && left > 0) {
          refused.set(part, left - 1);
          return { respond: { status: 400, headers: { 'content-type': 'application/json' }, body: refusal } };
        }
      }
    };
    const result = await promote({ staging, production, verdictKey, artifacts: [{ subdir: 'linux-64', filename: a.filename }] });
    expect(result.artifacts[0]).toMatchObject({ status: 'promoted', stagingRemoved: true });
    expect([...refused.values()]).toEqual([0, 0]);
    expect((await manifestAt(production, 'linux-64/racy', '1.0-h0_0'))?.view.packages[0]?.sha256).toBe(a.sha256);
    expect((await readPromotions(production)).map((e) => e.filename)).toEqual([a.filename]);
    await staging.close();
    await production.close();
  });

  test('a refusal that never clears stops after the bounded attempts: failed, production untouched, staging kept', async () => {
    const { staging, production } = channels();
    const a = await build('stuck');
    expect((await upload({ to: staging, files: [a.file] })).ok).toBe(true);
    let puts = 0;
    proxy.handler = (r) => {
      if (r.method === 'PUT' && r.url.includes('/production/linux-64/stuck/manifests/')) {
        puts++;
        return { respond: { status: 400, headers: { 'content-type': 'application/json' }, body: refusal } };
      }
    };
    const result = await promote({ staging, production, verdictKey, artifacts: [{ subdir: 'linux-64', filename: a.filename }] });
    proxy.handler = undefined;
    expect(result.artifacts[0]?.status).toBe('failed');
    expect(result.artifacts[0]?.reason).not.toMatch(/\n/);
    expect(puts).toBe(CONCURRENT_PUSH_ATTEMPTS);
    expect(await production.repository('linux-64/stuck').listTags()).toEqual([]);
    expect(await staging.repository('linux-64/stuck').listTags()).toContain('1.0-h0_0');
    await staging.close();
    await production.close();
  });
});
