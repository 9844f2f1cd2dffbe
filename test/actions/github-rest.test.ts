// The GitHub REST client (dispatch + packages) against a loopback server speaking GitHub's wire format.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import {
  createGithubPackagesClient,
  dispatchPromotion,
  parsePromotionRequest,
  sendRepositoryDispatch,
  splitDispatchPayloads,
  type PromotionRequest,
} from '../../packages/pipeline/src/github/index.ts';
import { startGithubApi, type FakeGithubApi } from '../harness/github-api.ts';
import { promotionAudience } from '../../packages/pipeline/src/identity/audience.ts';

const TOKEN = 'ghs_TestTokenNeverPrinted0123456789';
const sha = (n: number) => n.toString(16).padStart(64, '0');

function request(count: number, extra: Partial<PromotionRequest> = {}): PromotionRequest {
  const artifacts: Record<string, string> = {};
  for (let i = 0; i < count; i++) artifacts[`linux-64/pkg${i}-1.0.${i}-h${i}_0.conda`] = sha(i);
  return {
    uploader: 'zlib',
    artifacts,
    repository: 'conda-forge/zlib-feedstock',
    commit: 'a'.repeat(40),
    run_url: 'https://github.com/conda-forge/zlib-feedstock/actions/runs/1',
    ...extra,
  };
}

describe('splitDispatchPayloads', () => {
  test('keeps a small request whole', () => {
    const r = request(3);
    expect(splitDispatchPayloads(r)).toEqual([r]);
  });

  test('splits by size: every part fits, keeps all fields, order and every artifact exactly once', () => {
    const r = request(2000);
    const parts = splitDispatchPayloads(r);
    expect(parts.length).toBeGreaterThan(1);
    const seen: string[] = [];
    for (const part of parts) {
      expect(Buffer.byteLength(JSON.stringify(part))).toBeLessThanOrEqual(60 * 1024);
      expect(Object.keys(part).length).toBeLessThanOrEqual(10);
      expect(part.uploader).toBe(r.uploader);
      expect(part.commit).toBe(r.commit);
      expect(part.run_url).toBe(r.run_url);
      expect(part.repository).toBe(r.repository);
      seen.push(...Object.keys(part.artifacts));
      parsePromotionRequest(JSON.stringify(part)); // the receiver accepts each part
    }
    expect(seen).toEqual(Object.keys(r.artifacts));
  });

  test('splits exactly at the byte limit', () => {
    const r = request(10);
    const whole = Buffer.byteLength(JSON.stringify(r));
    expect(splitDispatchPayloads(r, { maxBytes: whole })).toHaveLength(1);
    const parts = splitDispatchPayloads(r, { maxBytes: whole - 1 });
    expect(parts).toHaveLength(2);
    expect(Object.keys(parts[1]!.artifacts)).toEqual([Object.keys(r.artifacts)[9]]);
  });

  test('splits by count', () => {
    const parts = splitDispatchPayloads(request(7), { maxArtifacts: 3 });
    expect(parts.map((p) => Object.keys(p.artifacts).length)).toEqual([3, 3, 1]);
  });

  test('an empty request gives no payload; one artifact too big alone is refused', () => {
    expect(splitDispatchPayloads(request(0))).toEqual([]);
    expect(() => splitDispatchPayloads(request(1), { maxBytes: 200 })).toThrow(/alone does not fit a 200-byte dispatch payload/);
  });
});

describe('parsePromotionRequest', () => {
  const good = request(2);
  test('accepts what upload sends and yields artifact refs', () => {
    const { artifacts } = parsePromotionRequest(JSON.stringify(good));
    expect(artifacts).toEqual([
      { subdir: 'linux-64', filename: 'pkg0-1.0.0-h0_0.conda', sha256: sha(0) },
      { subdir: 'linux-64', filename: 'pkg1-1.0.1-h1_0.conda', sha256: sha(1) },
    ]);
  });
  test.each([
    ['not JSON', '{', /not JSON/],
    ['an array', '[]', /must be object/],
    ['an extra key', JSON.stringify({ ...good, extra: 1 }), /unexpected key "extra"/],
    ['no uploader', JSON.stringify({ artifacts: good.artifacts }), /lacks required key "uploader"/],
    ['a path escape', JSON.stringify({ ...good, artifacts: { 'linux-64/../x-1-0.conda': sha(1) } }), /artifact key "linux-64\/..\/x-1-0.conda"/],
    ['a dotdot inside a name', JSON.stringify({ ...good, artifacts: { 'linux-64/x..y-1-0.conda': sha(1) } }), /artifact key/],
    ['a nested subdir', JSON.stringify({ ...good, artifacts: { 'a/b/x-1-0.conda': sha(1) } }), /artifact key/],
    ['a wrong extension', JSON.stringify({ ...good, artifacts: { 'linux-64/x-1-0.zip': sha(1) } }), /artifact key/],
    ['an upper-case sha', JSON.stringify({ ...good, artifacts: { 'linux-64/x-1-0.conda': 'A'.repeat(64) } }), /must be a sha256/],
    ['a short sha', JSON.stringify({ ...good, artifacts: { 'linux-64/x-1-0.conda': 'a'.repeat(63) } }), /must be a sha256/],
    ['a numeric sha', JSON.stringify({ ...good, artifacts: { 'linux-64/x-1-0.conda': 5 } }), /must be string/],
    ['no artifacts', JSON.stringify({ ...good, artifacts: {} }), /must NOT have fewer than 1 properties/],
    ['a long uploader', JSON.stringify({ ...good, uploader: 'u'.repeat(101) }), /uploader must NOT have more than 100 characters/],
    ['an uploader with a space', JSON.stringify({ ...good, uploader: 'a b' }), /uploader does not match/],
    ['a non-https run url', JSON.stringify({ ...good, run_url: 'http://x' }), /run_url does not match/],
    ['a short commit', JSON.stringify({ ...good, commit: 'abc' }), /commit does not match/],
    ['an identity token that is no JWT', JSON.stringify({ ...good, identity_token: 'not a token' }), /identity_token is not a compact JWT/],
    ['an oversized identity token', JSON.stringify({ ...good, identity_token: `${'a'.repeat(16 * 1024)}.b.c` }), /identity_token must NOT have more than 16384 characters/],
    ['a label that is no path component', JSON.stringify({ ...good, label: 'rc/../main' }), /label is not a channel label/],
    ['an upper-case label', JSON.stringify({ ...good, label: 'RC' }), /label is not a channel label/],
    ['an empty label', JSON.stringify({ ...good, label: '' }), /label must NOT have fewer than 1 characters/],
  ])('refuses %s with a one-line reason', (_name, text, message) => {
    let error: Error | undefined;
    try {
      parsePromotionRequest(text);
    } catch (e) {
      error = e as Error;
    }
    expect(error?.name).toBe('PayloadError');
    expect(error?.message).toMatch(message);
    expect(error?.message).not.toContain('\n');
  });
  test('carries the label to promote to (main when absent), through a split too', () => {
    expect(parsePromotionRequest(JSON.stringify({ ...good, label: 'python_rc' })).request.label).toBe('python_rc');
    expect(parsePromotionRequest(JSON.stringify(good)).request.label).toBeUndefined();
    const parts = splitDispatchPayloads({ ...request(40), label: 'rc' }, { maxArtifacts: 16 });
    expect(parts.map((p) => p.label)).toEqual(['rc', 'rc', 'rc']);
  });
  test('refuses an oversized input before parsing', () => {
    expect(() => parsePromotionRequest(' '.repeat(200 * 1024))).toThrow(/larger than 131072 bytes/);
  });
});

describe('against the fake GitHub API', () => {
  let api: FakeGithubApi;
  beforeAll(async () => {
    api = await startGithubApi({ token: TOKEN, maxPerPage: 2 });
  });
  afterAll(async () => {
    await api.stop();
  });

  test('sendRepositoryDispatch posts the exact body with the token', async () => {
    api.requests.length = 0;
    await sendRepositoryDispatch({
      token: TOKEN,
      apiUrl: api.url,
      repository: 'my-org/channel',
      eventType: 'oci-channel-promote',
      clientPayload: { uploader: 'zlib', artifacts: { 'noarch/a-1-0.conda': sha(1) } },
    });
    expect(api.requests).toHaveLength(1);
    const [req] = api.requests;
    expect(req!.method).toBe('POST');
    expect(req!.path).toBe('/repos/my-org/channel/dispatches');
    expect(req!.authorization).toBe(`token ${TOKEN}`);
    expect(req!.body).toEqual({
      event_type: 'oci-channel-promote',
      client_payload: { uploader: 'zlib', artifacts: { 'noarch/a-1-0.conda': sha(1) } },
    });
  });

  test('GITHUB_API_URL is honoured when no apiUrl is given', async () => {
    const saved = process.env.GITHUB_API_URL;
    process.env.GITHUB_API_URL = api.url;
    try {
      const before = api.dispatches.length;
      await sendRepositoryDispatch({ token: TOKEN, repository: 'o/r', eventType: 'e', clientPayload: {} });
      expect(api.dispatches.slice(before)).toEqual([{ repository: 'o/r', eventType: 'e', clientPayload: {} }]);
    } finally {
      if (saved === undefined) delete process.env.GITHUB_API_URL;
      else process.env.GITHUB_API_URL = saved;
    }
  });

  test('dispatchPromotion splits a large request into several dispatches that together carry every artifact', async () => {
    const before = api.dispatches.length;
    const r = request(1500);
    const { dispatches } = await dispatchPromotion({ token: TOKEN, apiUrl: api.url, repository: 'my-org/channel', eventType: 'promote', request: r });
    const sent = api.dispatches.slice(before);
    expect(sent.length).toBe(dispatches);
    expect(dispatches).toBeGreaterThan(1);
    const keys = sent.flatMap((d) => Object.keys(d.clientPayload.artifacts as object));
    expect(keys).toEqual(Object.keys(r.artifacts));
    for (const d of sent) {
      expect(d.eventType).toBe('promote');
      expect(d.clientPayload.uploader).toBe('zlib');
      expect(Buffer.byteLength(JSON.stringify(d.clientPayload))).toBeLessThan(64 * 1024);
    }
  });

  test('a split request gets one identity token per dispatch, bound to exactly its artifacts, with room kept for it', async () => {
    const before = api.dispatches.length;
    const r = request(1500);
    const audiences: string[] = [];
    // A token as long as GitHub's get (about 1.2 KiB), different per audience.
    const mint = async (audience: string) => {
      audiences.push(audience);
      return `eyJ${'h'.repeat(30)}.eyJ${Buffer.from(audience).toString('base64url')}${'p'.repeat(900)}.${'s'.repeat(342)}`;
    };
    const { dispatches } = await dispatchPromotion({ token: TOKEN, apiUrl: api.url, repository: 'my-org/channel', eventType: 'promote', request: r, identityToken: mint });
    const sent = api.dispatches.slice(before);
    expect(sent.length).toBe(dispatches);
    expect(dispatches).toBeGreaterThan(1);
    expect(audiences).toHaveLength(dispatches);
    sent.forEach((d, i) => {
      const refs = parsePromotionRequest(d.clientPayload).artifacts;
      expect(audiences[i]).toBe(promotionAudience(refs));
      expect(d.clientPayload.identity_token).toBe(`eyJ${'h'.repeat(30)}.eyJ${Buffer.from(audiences[i]!).toString('base64url')}${'p'.repeat(900)}.${'s'.repeat(342)}`);
      expect(Buffer.byteLength(JSON.stringify(d.clientPayload))).toBeLessThan(64 * 1024);
    });
    expect(sent.flatMap((d) => Object.keys(d.clientPayload.artifacts as object))).toEqual(Object.keys(r.artifacts));
  });

  test('limits are checked before sending', async () => {
    const before = api.requests.length;
    const eleven = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, i]));
    await expect(sendRepositoryDispatch({ token: TOKEN, apiUrl: api.url, repository: 'o/r', eventType: 'e', clientPayload: eleven })).rejects.toThrow(
      /11 top-level properties; GitHub allows 10/,
    );
    await expect(
      sendRepositoryDispatch({ token: TOKEN, apiUrl: api.url, repository: 'o/r', eventType: 'x'.repeat(101), clientPayload: {} }),
    ).rejects.toThrow(/invalid dispatch event type/);
    await expect(
      sendRepositoryDispatch({ token: TOKEN, apiUrl: api.url, repository: 'o/r', eventType: 'e', clientPayload: { big: 'x'.repeat(70_000) } }),
    ).rejects.toThrow(/less than 64 KB/);
    await expect(
      sendRepositoryDispatch({ token: TOKEN, apiUrl: api.url, repository: 'o/r/x', eventType: 'e', clientPayload: {} }),
    ).rejects.toThrow(/invalid target repository/);
    expect(api.requests.length).toBe(before);
  });

  test('a refused dispatch is one line without the token', async () => {
    let error: Error | undefined;
    try {
      await sendRepositoryDispatch({ token: 'wrong-token-SECRET', apiUrl: api.url, repository: 'o/r', eventType: 'e', clientPayload: {} });
    } catch (e) {
      error = e as Error;
    }
    expect(error?.message).toBe(
      'repository_dispatch "e" to o/r failed: HTTP 401 (the token is missing, expired or wrong): Bad credentials; the dispatch token needs Contents read & write on the target repository',
    );
    expect(JSON.stringify({ ...error, message: error?.message, stack: error?.stack })).not.toContain('SECRET');
  });

  test('a failure after a first dispatch says how many were sent', async () => {
    const before = api.dispatches.length;
    api.failNext({ method: 'POST', pathIncludes: '/dispatches' }, 500, 'boom', 1, 1);
    await expect(
      dispatchPromotion({ token: TOKEN, apiUrl: api.url, repository: 'o/r', eventType: 'e', request: request(5), split: { maxArtifacts: 2 } }),
    ).rejects.toThrow(/^repository_dispatch "e" to o\/r failed: HTTP 500: boom; .* \(after 1 of 3 dispatches were sent; re-running is safe/);
    expect(api.dispatches.length - before).toBe(1);
  });

  test('packages: lists container packages under a prefix across pages, versions with tags, deletes by id', async () => {
    const versions = [
      { id: 11, name: `sha256:${sha(11)}`, tags: ['1.0-h0_0'], createdAt: '2026-01-01T00:00:00Z' },
      { id: 12, name: `sha256:${sha(12)}`, tags: [], createdAt: '2026-01-02T00:00:00Z' },
      { id: 13, name: `sha256:${sha(13)}`, tags: ['a', 'b'], createdAt: '2026-01-03T00:00:00Z' },
    ];
    api.addPackage('my-org', 'staging/linux-64/zlib', versions);
    api.addPackage('my-org', 'staging/noarch/tzdata', []);
    api.addPackage('my-org', 'stagingx/noarch/other', []);
    api.addPackage('my-org', 'production/noarch/tzdata', []);
    const client = createGithubPackagesClient({ token: TOKEN, apiUrl: api.url, owner: 'my-org' });
    api.requests.length = 0;
    expect(await client.listContainerPackages('staging')).toEqual(['staging/linux-64/zlib', 'staging/noarch/tzdata']);
    expect(api.requests.map((r) => r.url)).toEqual([
      '/orgs/my-org/packages?package_type=container&per_page=100',
      '/orgs/my-org/packages?package_type=container&per_page=2&page=2',
    ]);
    expect(await client.listContainerPackages('')).toHaveLength(4);

    api.requests.length = 0;
    expect(await client.listVersions('staging/linux-64/zlib')).toEqual(versions);
    expect(api.requests[0]!.url).toBe('/orgs/my-org/packages/container/staging%2Flinux-64%2Fzlib/versions?per_page=100&state=active');
    expect(api.requests).toHaveLength(2);

    api.requests.length = 0;
    await client.deleteVersion('staging/linux-64/zlib', 12);
    expect(api.requests.map((r) => [r.method, r.url, r.authorization])).toEqual([
      ['DELETE', '/orgs/my-org/packages/container/staging%2Flinux-64%2Fzlib/versions/12', `token ${TOKEN}`],
    ]);
    expect((await client.listVersions('staging/linux-64/zlib')).map((v) => v.id)).toEqual([11, 13]);
  });

  test('packages: user-owned packages use the /users endpoints', async () => {
    api.addPackage('someone', 'ch/noarch/a', [
      { id: 5, name: `sha256:${sha(5)}`, tags: ['x'], createdAt: '2026-02-01T00:00:00Z' },
      { id: 6, name: `sha256:${sha(6)}`, tags: ['y'], createdAt: '2026-02-01T00:00:00Z' },
    ], 'user');
    const client = createGithubPackagesClient({ token: TOKEN, apiUrl: api.url, owner: 'someone', ownerType: 'user' });
    api.requests.length = 0;
    expect(await client.listContainerPackages('ch')).toEqual(['ch/noarch/a']);
    await client.deleteVersion('ch/noarch/a', 5);
    expect(api.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /users/someone/packages',
      'DELETE /users/someone/packages/container/ch%2Fnoarch%2Fa/versions/5',
    ]);
  });

  test('packages: the last version cannot be deleted, the package can; visibility and the settings page', async () => {
    api.addPackage('my-org', 'staging/noarch/last', [{ id: 41, name: `sha256:${sha(41)}`, tags: ['1-0'], createdAt: '2026-01-01T00:00:00Z' }]);
    const client = createGithubPackagesClient({ token: TOKEN, apiUrl: api.url, owner: 'my-org' });
    await expect(client.deleteVersion('staging/noarch/last', 41)).rejects.toThrow(
      /^deleting version 41 of container package my-org\/staging\/noarch\/last failed: HTTP 400: You cannot delete the last version of a package\. You must delete the package instead\./,
    );
    expect(await client.getPackage('staging/noarch/last')).toEqual({ name: 'staging/noarch/last', visibility: 'public' });
    api.requests.length = 0;
    await client.deletePackage('staging/noarch/last');
    expect(api.requests.map((r) => `${r.method} ${r.url}`)).toEqual(['DELETE /orgs/my-org/packages/container/staging%2Fnoarch%2Flast']);
    expect(await client.getPackage('staging/noarch/last')).toBeUndefined();
    expect(client.settingsUrl('staging/noarch/last')).toBe('https://github.com/orgs/my-org/packages/container/staging%2Fnoarch%2Flast/settings');
    expect(client.rateLimit()).toMatchObject({ limit: 5000, remaining: expect.any(Number), resetAt: expect.any(Number) });
  });

  test('packages: a secondary rate limit is waited out; a spent budget fails at once, saying until when', async () => {
    api.addPackage('my-org', 'staging/noarch/limited', [{ id: 51, name: `sha256:${sha(51)}`, tags: ['1-0'], createdAt: '2026-01-01T00:00:00Z' }]);
    const client = createGithubPackagesClient({ token: TOKEN, apiUrl: api.url, owner: 'my-org' });
    api.failNext({ method: 'GET', pathIncludes: 'limited/versions' }, 403, 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.', 1, 0, { 'retry-after': '1' });
    api.requests.length = 0;
    expect((await client.listVersions('staging/noarch/limited')).map((v) => v.id)).toEqual([51]);
    expect(api.requests).toHaveLength(2);
    const reset = Math.ceil(Date.now() / 1000) + 3600;
    api.failNext({ method: 'GET', pathIncludes: 'limited/versions' }, 403, 'API rate limit exceeded for installation ID 1.', 1, 0, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) });
    api.requests.length = 0;
    await expect(client.listVersions('staging/noarch/limited')).rejects.toThrow(
      new RegExp(`HTTP 403 \\(the token's API rate limit is spent until ${new Date(reset * 1000).toISOString().slice(11, 16)} UTC; run again after that\\): API rate limit exceeded`),
    );
    expect(api.requests).toHaveLength(1);
    expect(client.rateLimit().remaining).toBe(0);
  });

  test('packages: errors are one line naming the package and what to do', async () => {
    const client = createGithubPackagesClient({ token: TOKEN, apiUrl: api.url, owner: 'my-org' });
    await expect(client.deleteVersion('staging/linux-64/zlib', 999)).rejects.toThrow(
      /^deleting version 999 of container package my-org\/staging\/linux-64\/zlib failed: HTTP 404 \(not found, or the token cannot see it\): Package version not found\.; the token needs/,
    );
    api.failNext({ method: 'GET', pathIncludes: '/versions' }, 403, 'Resource not accessible by integration');
    await expect(client.listVersions('staging/linux-64/zlib')).rejects.toThrow(/HTTP 403 \(the token lacks the permission/);
    await expect(client.listVersions('../etc')).rejects.toThrow(/invalid container package name/);
    expect(() => createGithubPackagesClient({ token: TOKEN, apiUrl: api.url, owner: 'bad/owner' })).toThrow(/invalid GitHub owner/);
    expect(() => createGithubPackagesClient({ token: TOKEN, apiUrl: 'http://example.com', owner: 'o' })).toThrow(/use https/);
    expect(() => createGithubPackagesClient({ token: '', apiUrl: api.url, owner: 'o' })).toThrow(/no GitHub token/);
  });
});
