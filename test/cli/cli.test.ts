// The oci-channel command as a user runs it: exit codes 0/1/2, one-line usage errors, --json shape, and a
// distinctive password from the environment never printed, on success or failure.
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { freePort, startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { writeHtpasswd } from '../harness/htpasswd.ts';
import { buildPackage } from '../helpers/conda-builder.ts';
import { startOidcIssuer } from '../harness/oidc-issuer.ts';
import { promotionAudience } from '@oci-channel/pipeline';

const PASSWORD = 'Zq8-distinctive-pa55word-7Kd';
const execFileAsync = promisify(execFile);
const BIN = path.resolve('packages/cli/bin/oci-channel.js');
const NODE = path.resolve('node_modules/.bin/node');

let dir: string;
let registry: RunningRegistry;
let env: NodeJS.ProcessEnv;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> {
  const child = spawn(NODE, ['--disable-warning=ExperimentalWarning', BIN, ...args], { env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

function noSecret(run: Run): void {
  expect(run.stdout).not.toContain(PASSWORD);
  expect(run.stderr).not.toContain(PASSWORD);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'cli-'));
  const htpasswd = path.join(dir, 'htpasswd');
  await writeHtpasswd(htpasswd, { publisher: PASSWORD });
  registry = await startRegistry({ auth: { kind: 'htpasswd', file: htpasswd } });
  const key = registry.host.toUpperCase().replace(/[^A-Z0-9]/g, '_');
  env = {
    ...process.env,
    [`OCI_CHANNEL_${key}_USERNAME`]: 'publisher',
    [`OCI_CHANNEL_${key}_PASSWORD`]: PASSWORD,
    DOCKER_CONFIG: path.join(dir, 'no-docker-config'),
    XDG_CACHE_HOME: path.join(dir, 'cache'),
  };
});
afterAll(async () => {
  await registry.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('usage errors exit 2 with one line and a hint', () => {
  test.each([
    [['frobnicate'], /unknown command "frobnicate"/],
    [['upload', '--bogus', 'x'], /unknown option --bogus/],
    [['upload', 'x.conda'], /missing --to/],
    [['upload', '--to', 'http://nope/x', 'x.conda'], /--to: invalid location "http:\/\/nope\/x"/],
    [['validate', '--staging', 'oci-layout:/tmp/s', '--production', 'oci-layout:/tmp/p', 'not-an-artifact'], /invalid artifact/],
    [['promote', '--staging', 'oci-layout:/tmp/s', '--production', 'oci-layout:/tmp/p'], /no ARTIFACT given/],
    [['gc', '--channel', 'oci-layout:/tmp/s', '--older-than', 'soon'], /invalid duration/],
    [['reindex', '--channel'], /needs a value/],
    [['mirror', '--from', 'ftp://example.org/ch', '--to', 'oci-layout:/tmp/m'], /--from must be an http\(s\) channel URL or an oci-channel location/],
    [['mirror', '--from', 'https://example.org/ch', '--to', 'oci-layout:/tmp/m', '--since', 'yesterday'], /--since "yesterday" is not a date/],
    [['mirror', '--from', 'https://example.org/ch', '--to', 'oci-layout:/tmp/m', '--no-patches'], /--no-patches goes with --production/],
    [['mirror', '--from', 'https://example.org/ch', '--to', 'oci-layout:/tmp/m', '--production', '--no-patches', '--apply-removals'], /--apply-removals .* cannot go with --no-patches/],
    [['reindex', '--channel', 'oci-layout:/tmp/s', '--patch-generator', 'a.conda', '--patch-package', 'p'], /--patch-generator or --patch-package, not both/],
    [['label', '--channel', 'oci-layout:/tmp/s', 'linux-64/a-1-0.conda'], /give --add LABEL or --remove LABEL/],
    [['label', '--channel', 'oci-layout:/tmp/s', '--add', 'Broken', 'linux-64/a-1-0.conda'], /--add: label "Broken" may only hold/],
    [['label', '--channel', 'oci-layout:/tmp/s', '--add', 'rc', '--remove', 'rc', 'linux-64/a-1-0.conda'], /label rc is both added and removed/],
    [['promote', '--staging', 'oci-layout:/tmp/s', '--production', 'oci-layout:/tmp/p', '--label', 'rc/x', 'noarch/a-1-0.conda'], /--label: label "rc\/x"/],
  ])('%j', async (args, message) => {
    const run = await cli(args);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toMatch(/--help/);
  });
  test('--help per command exits 0', async () => {
    for (const command of ['upload', 'validate', 'promote', 'reindex', 'label', 'download', 'gc', 'mirror', 'demo']) {
      const run = await cli([command, '--help']);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`^Usage: oci-channel ${command}`));
    }
    expect((await cli(['--help'])).stdout).toMatch(/Commands:/);
  });
});

test('identity flags: misuse is a usage error, before anything is opened', async () => {
  const token = path.join(dir, 'token.jwt');
  await writeFile(token, 'aaa.bbb.ccc\n');
  const art = `noarch/x-1.0-0.conda@sha256:${'a'.repeat(64)}`;
  const base = ['--staging', 'oci-layout:/tmp/s', '--production', 'oci-layout:/tmp/p'];
  const withToken = [...base, '--identity-token', token, '--allowed-owner', 'conda-forge'];
  const cases: Array<[string[], RegExp, NodeJS.ProcessEnv?]> = [
    [['validate', ...withToken, '--uploader', 'x', art], /--uploader cannot be used with an identity token: the token says who uploaded/],
    [['promote', ...base, '--uploader', 'x', art], /--uploader cannot be used with an identity token/, { OCI_CHANNEL_IDENTITY_TOKEN: 'aaa.bbb.ccc' }],
    [['validate', ...base, '--identity-token', token, art], /an identity token needs --allowed-owner OWNER/],
    [['validate', ...withToken, 'noarch/x-1.0-0.conda'], /noarch\/x-1\.0-0\.conda has no @sha256:HEX: a token is bound to exact bytes/],
    [['validate', ...withToken, '--oidc-issuer', 'http://issuer.example.com', art], /--oidc-issuer: the OIDC issuer http:\/\/issuer\.example\.com is plain http/],
    [['promote', ...withToken, '--max-token-age', '30d', art], /--max-token-age must be more than 0 and at most 7d/],
    [['validate', ...base, '--allowed-owner', 'conda-forge', art], /--allowed-owner needs an identity token/],
    [['validate', ...base, '--identity-token', path.join(dir, 'absent.jwt'), '--allowed-owner', 'o', art], /cannot read --identity-token .*absent\.jwt: ENOENT/],
  ];
  const runs = await Promise.all(cases.map(([args, , extra]) => cli(args, extra)));
  runs.forEach((run, i) => {
    expect({ i, code: run.code, stdout: run.stdout }).toEqual({ i, code: 2, stdout: '' });
    expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(cases[i]![1]);
    expect(run.stderr).not.toContain('aaa.bbb.ccc');
  });
});

test('demo: the whole flow on disk ends with a solved environment and one refusal', async () => {
  const run = await cli(['demo']);
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(/rejected\s+linux-64\/intruder-1\.0-h0_0\.conda .*does not own package name intruder/);
  // The .tar.bz2 of libsample is marked broken: still indexed in linux-64 (4 files) but removed from the main index.
  expect(run.stdout).toMatch(/^changed\s+linux-64\/libsample-2\.0\.1\+demo-h1a2b3c4_0\.tar\.bz2\s+broken,main\s+add broken/m);
  expect(run.stdout).toMatch(/^linux-64\s+4\s+4\s+1\s+[0-9a-f]{12}\s+.*latest\s+broken:1\*$/m);
  const solution = run.stdout.slice(run.stdout.indexOf('== 7.'));
  for (const name of ['_sample_mutex', 'libsample', 'sample-data', 'sampletool']) expect(solution).toMatch(new RegExp(`^${name}\\s`, 'm'));
  expect(solution).not.toMatch(/^intruder/m);
  expect(solution).toContain('libsample-2.0.1+demo-h1a2b3c4_0.conda');
  expect(solution).not.toContain('.tar.bz2');
  // The counts match the tables: 5 files of 4 packages (libsample in both formats), the intruder refused.
  expect(run.stdout).toMatch(/Done: 5 files \(4 packages\) published, 1 refused, 1 marked broken/);
  expect(run.stdout).toMatch(/"zzz" before a name starting with "_".*"\+" written "__p__"/);
});

describe('against a registry with credentials from the environment', () => {
  let files: string[];
  let staging: string;
  let production: string;
  beforeAll(async () => {
    files = [
      await buildPackage(path.join(dir, 'pkgs'), { name: 'clipkg', version: '1.0', build: 'h0_0', subdir: 'linux-64', depends: ['cli-dep'] }, 'conda'),
      await buildPackage(path.join(dir, 'pkgs'), { name: 'cli-dep', version: '0.1', build: '0', subdir: 'noarch', noarch: 'generic' }, 'conda'),
    ];
    staging = registry.location('cli/staging');
    production = registry.location('cli/production');
  });

  test('upload, validate, promote, reindex, download, gc: --json prints one object and exits 0', async () => {
    const up = await cli(['upload', '--to', staging, '--json', ...files]);
    noSecret(up);
    expect(up.code).toBe(0);
    const uploaded = JSON.parse(up.stdout);
    expect(uploaded).toMatchObject({ ok: true, errors: [] });
    expect(uploaded.artifacts.map((a: { filename: string }) => a.filename)).toEqual(['clipkg-1.0-h0_0.conda', 'cli-dep-0.1-0.conda']);
    const refs = uploaded.artifacts.map((a: { subdir: string; filename: string; sha256: string }) => `${a.subdir}/${a.filename}@sha256:${a.sha256}`);

    const val = await cli(['validate', '--staging', staging, '--production', production, '--json', ...refs]);
    noSecret(val);
    expect(val.code).toBe(0);
    expect(JSON.parse(val.stdout).artifacts.map((a: { verdict: string }) => a.verdict)).toEqual(['passed', 'passed']);

    const pro = await cli(['promote', '--staging', staging, '--production', production, ...refs]);
    noSecret(pro);
    expect(pro.code).toBe(0);
    expect(pro.stdout).toMatch(/^STATUS\s+ARTIFACT/);
    expect(pro.stdout).toMatch(/promoted\s+linux-64\/clipkg-1\.0-h0_0\.conda/);
    expect(pro.stderr).toMatch(/\[promote\] linux-64\/clipkg-1\.0-h0_0\.conda: copied to production/);

    const idx = await cli(['reindex', '--channel', production, '--json']);
    noSecret(idx);
    expect(idx.code).toBe(0);
    const indexed = JSON.parse(idx.stdout);
    expect(indexed.ok).toBe(true);
    expect(indexed.subdirs.map((s: { subdir: string }) => s.subdir).sort()).toEqual(['linux-64', 'noarch']);

    // Mark a build broken (who and why recorded), patch noarch from a directory, reindex: both show.
    const broken = await cli(['label', '--channel', production, '--add', 'broken', '--actor', 'cli-admin', '--reason', 'https://example.invalid/1', '--json', 'linux-64/clipkg-1.0-h0_0.conda']);
    noSecret(broken);
    expect(broken.code).toBe(0);
    expect(JSON.parse(broken.stdout).artifacts[0]).toMatchObject({ status: 'changed', labels: ['broken', 'main'], recorded: ['add broken'] });
    const patchDir = path.join(dir, 'patches');
    await mkdir(path.join(patchDir, 'noarch'), { recursive: true });
    await writeFile(path.join(patchDir, 'noarch', 'patch_instructions.json'), JSON.stringify({ packages: { 'cli-dep-0.1-0.conda': { license: 'MIT' } } }));
    const relabelled = await cli(['reindex', '--channel', production, '--patch-instructions', patchDir, '--json']);
    expect(relabelled.code).toBe(0);
    const bySubdir = Object.fromEntries(JSON.parse(relabelled.stdout).subdirs.map((s: { subdir: string }) => [s.subdir, s]));
    expect(bySubdir['linux-64']).toMatchObject({ removed: 1, labels: [{ label: 'broken', packages: 1, pushed: true }] });
    expect(bySubdir.noarch.tags).toHaveLength(2);

    const out = path.join(dir, 'downloaded.conda');
    const dl = await cli(['download', '--channel', production, 'linux-64/clipkg-1.0-h0_0.conda', '-o', out, '--json']);
    noSecret(dl);
    expect(dl.code).toBe(0);
    const sha = createHash('sha256').update(await readFile(out)).digest('hex');
    expect(JSON.parse(dl.stdout)).toMatchObject({ sha256: sha });
    expect(sha).toBe(uploaded.artifacts[0].sha256);

    const gc = await cli(['gc', '--channel', staging, '--older-than', '1h', '--dry-run', '--json']);
    noSecret(gc);
    expect(gc.code).toBe(0);
    expect(JSON.parse(gc.stdout)).toMatchObject({ ok: true, deleted: [] });
  });

  test('mirror from the production channel (credentials from the environment for both sides): --json, then a run with nothing new', async () => {
    const copy = registry.location('cli/mirror');
    const resultFile = path.join(dir, 'mirror-result.json');
    const first = await cli(['mirror', '--from', production, '--to', copy, '--production', '--json', '--result-file', resultFile]);
    noSecret(first);
    expect(first.code).toBe(0);
    const result = JSON.parse(first.stdout);
    // It copies what the channel's clients read: clipkg is marked broken (in no index but label/broken), and
    // cli-dep's record carries the license the channel patched in, kept as the copy's own patch instructions.
    expect(result).toMatchObject({ ok: true, errors: [], removedUpstream: [], artifactsNotListed: 0, resultFile, summary: { mirrored: 1, alreadyThere: 0, refused: 0, failed: 0 } });
    expect(result.patches).toEqual([{ subdir: 'noarch', status: 'written', patched: 1, changed: 1, records: 1, digest: expect.stringMatching(/^sha256:/), unrepresentable: [] }]);
    // The whole result in the file: the same files (stdout lists at most 100, problems first).
    expect(JSON.parse(await readFile(resultFile, 'utf8')).artifacts).toEqual(result.artifacts);
    expect(result.artifacts.map((a: { subdir: string; filename: string; status: string }) => `${a.status} ${a.subdir}/${a.filename}`)).toEqual(['mirrored noarch/cli-dep-0.1-0.conda']);
    // Without --verbose, stderr carries the status line, not every file's steps.
    expect(first.stderr).toMatch(/\[mirror\] 1\/1 packages, .* of /);
    expect(first.stderr).not.toMatch(/fetching/);
    const again = await cli(['mirror', '--from', production, '--to', copy, '--production']);
    noSecret(again);
    expect(again.code).toBe(0);
    // Not reindexed yet: cli-dep is compared again, and its instructions already say it.
    expect(again.stdout).toBe(
      "noarch: 1 record(s) compared differ from their package's; patch instructions unchanged (1 record(s) patched)\n" +
        '0 mirrored (0 B), 1 already there, 0 refused, 0 failed, 0 removed upstream\n',
    );
  });

  test('an identity token: verified and shown as such; one for other bytes refused without printing it', async () => {
    const issuer = await startOidcIssuer();
    try {
      const file = await buildPackage(path.join(dir, 'id'), { name: 'idpkg', version: '1.0', build: '0', subdir: 'noarch' }, 'conda');
      const up = await cli(['upload', '--to', staging, '--json', file]);
      const [uploaded] = JSON.parse(up.stdout).artifacts as Array<{ subdir: string; filename: string; sha256: string }>;
      const ref = { subdir: uploaded!.subdir, filename: uploaded!.filename, sha256: uploaded!.sha256 };
      const art = `${ref.subdir}/${ref.filename}@sha256:${ref.sha256}`;
      const flags = ['--staging', staging, '--production', production, '--oidc-issuer', issuer.url, '--allowed-owner', 'conda-forge'];
      const good = await issuer.mint(promotionAudience([ref]), { claims: { repository: 'conda-forge/idpkg-feedstock' } });
      const file1 = path.join(dir, 'good.jwt');
      await writeFile(file1, good);
      const pro = await cli(['promote', ...flags, '--identity-token', file1, art]);
      expect(pro.code).toBe(0);
      expect(pro.stdout).toMatch(/^uploader: verified: conda-forge\/idpkg-feedstock \(workflow conda-forge\/oci-channel\/\.github\/workflows\/upload\.yml@refs\/tags\/v1\.2\.0\)$/m);
      expect(pro.stdout).toMatch(/promoted\s+noarch\/idpkg-1\.0-0\.conda/);

      const replay = await issuer.mint(promotionAudience([{ ...ref, sha256: 'e'.repeat(64) }]), { claims: { repository: 'conda-forge/idpkg-feedstock' } });
      const refused = await cli(['validate', ...flags, '--json', `${ref.subdir}/${ref.filename}@sha256:${'e'.repeat(64)}`], { OCI_CHANNEL_IDENTITY_TOKEN: good });
      expect(refused.code).toBe(1);
      const result = JSON.parse(refused.stdout);
      expect(result.uploader).toBeUndefined();
      expect(result.artifacts[0].checks).toEqual([{ name: 'identity', ok: false, detail: expect.stringMatching(/minted for other artifacts/) }]);
      for (const run of [pro, refused]) expect(run.stdout + run.stderr).not.toContain(good.split('.')[2]!);
      expect(replay).not.toBe(good);

      const local = await cli(['validate', '--staging', staging, '--production', production, '--uploader', 'idpkg', art]);
      expect(local.stdout).toMatch(/^uploader: unverified: idpkg$/m);
    } finally {
      await issuer.stop();
    }
  });

  test('a rejected artifact exits 1 with the reason; --json still prints one object', async () => {
    const file = await buildPackage(path.join(dir, 'rej'), { name: 'clirej', version: '1.0', build: '0', subdir: 'noarch' }, 'conda');
    expect((await cli(['upload', '--to', staging, file])).code).toBe(0);
    const run = await cli(['promote', '--staging', staging, '--production', production, '--json', `noarch/clirej-1.0-0.conda@sha256:${'0'.repeat(64)}`]);
    noSecret(run);
    expect(run.code).toBe(1);
    const result = JSON.parse(run.stdout);
    expect(result.ok).toBe(false);
    expect(result.artifacts[0]).toMatchObject({ status: 'rejected', verdict: 'failed' });
    expect(result.artifacts[0].reason).toMatch(/declared sha256 0{64}/);
  });

  test('a wrong password fails with exit 1 and one line that never shows the password', async () => {
    const key = registry.host.toUpperCase().replace(/[^A-Z0-9]/g, '_');
    const wrong = `${PASSWORD}-but-wrong`;
    const run = await cli(['upload', '--to', staging, files[0]!], { [`OCI_CHANNEL_${key}_PASSWORD`]: wrong });
    expect(run.code).toBe(1);
    expect(run.stdout + run.stderr).not.toContain(wrong);
    noSecret(run);
    expect(run.stdout).toMatch(/0 uploaded or unchanged, 1 refused/);
  });
});

describe('mistakes are refused with one line that says what to check, and nothing is written', () => {
  /** Every repository under `prefix` with its tags, read from the registry itself. */
  async function tagsUnder(prefix: string): Promise<Record<string, string[]>> {
    const auth = `Basic ${Buffer.from(`publisher:${PASSWORD}`).toString('base64')}`;
    const names = ((await (await fetch(`${registry.url}/v2/_catalog?n=1000`, { headers: { authorization: auth } })).json()) as { repositories: string[] }).repositories;
    const out: Record<string, string[]> = {};
    for (const name of names.filter((n) => n.startsWith(prefix))) {
      const tags = (await (await fetch(`${registry.url}/v2/${name}/tags/list`, { headers: { authorization: auth } })).json()) as { tags: string[] | null };
      out[name] = (tags.tags ?? []).sort();
    }
    return out;
  }

  test('promote/validate with one channel as both (trailing slash, other spelling) or nested exit 2; --json still prints one object', async () => {
    const file = await buildPackage(path.join(dir, 'same'), { name: 'onlycopy', version: '1.0', build: '0', subdir: 'noarch' }, 'conda');
    const channel = registry.location('mistakes/chan');
    expect((await cli(['upload', '--to', channel, file])).code).toBe(0);
    const before = await tagsUnder('mistakes/');
    for (const [production, why] of [
      [`${channel}/`, /are the same channel/],
      [channel.replace('127.0.0.1', 'localhost'), /are the same channel/],
      [`${channel}/prod`, /production lies inside staging/],
    ] as const) {
      for (const command of ['promote', 'validate']) {
        const run = await cli([command, '--staging', channel, '--production', production, 'noarch/onlycopy-1.0-0.conda']);
        expect(run.code).toBe(2);
        expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
        expect(run.stderr).toMatch(why);
        expect(run.stderr).toMatch(/nothing was read or written/);
      }
    }
    const json = await cli(['promote', '--json', '--staging', channel, '--production', `${channel}/`, 'noarch/onlycopy-1.0-0.conda']);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toEqual({ ok: false, error: expect.stringMatching(/are the same channel/), exitCode: 2 });
    // An owners checkout that does not exist: a usage error before any verdict is recorded.
    const owners = await cli(['validate', '--staging', channel, '--production', registry.location('mistakes/prod'), '--owners', path.join(dir, 'nope'), '--uploader', 'x', 'noarch/onlycopy-1.0-0.conda']);
    expect(owners.code).toBe(2);
    expect(owners.stderr).toMatch(/owners ".*nope" is not a directory/);
    expect(await tagsUnder('mistakes/')).toEqual(before);
    expect(before['mistakes/chan/noarch/onlycopy']!.filter((t) => !t.startsWith('_uploading.'))).toEqual(['1.0-0']);
  });

  test.each([
    [['upload', '--to', 'http://127.0.0.1:5000/x', 'x.conda'], /write oci\+http:\/\/127\.0\.0\.1:5000\/x for a registry over plain http/],
    [['upload', '--to', 'oci://ghcr.io', 'x.conda'], /names a whole registry, not a channel/],
    [['reindex', '--channel', 'oci://ghcr.io/o/c', '--remove-subdir', 'linux-46', '--full'], /--remove-subdir goes alone/],
  ])('usage error %j', async (args, message) => {
    const run = await cli(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
  });

  test('gc on a production channel and reindex of a typo exit 2 and write nothing', async () => {
    const production = registry.location('cli/production');
    const before = await tagsUnder('cli/');
    const gc = await cli(['gc', '--channel', production, '--older-than', '1m']);
    expect(gc.code).toBe(2);
    expect(gc.stderr).toMatch(/holds a promotion log .*production channel.*--allow-production-channel/);
    const typo = await cli(['reindex', '--channel', registry.location('cli/prodution')]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/nothing at .*cli\/prodution: it holds no packages and no promotion log; check the path/);
    const subdir = await cli(['reindex', '--channel', production, '--subdir', 'linux-46', '--json']);
    expect(subdir.code).toBe(2);
    expect(JSON.parse(subdir.stdout).error).toMatch(/unknown subdir "linux-46"/);
    expect(await tagsUnder('cli/')).toEqual(before);
  });

  test('a corrupt file: the reason names it once, reads as one sentence, and the empty table is a sentence', async () => {
    const bad = path.join(dir, 'broken-1.0-0.tar.bz2');
    await writeFile(bad, 'BZh91AY&SY this is not bzip2 data');
    const run = await cli(['upload', '--to', registry.location('mistakes/corrupt'), bad]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^Nothing was uploaded to oci\+http:\/\/.*\/mistakes\/corrupt\.$/m);
    expect(run.stdout).not.toMatch(/^STATUS/m);
    const reason = run.stdout.split('\n').find((l) => l.startsWith(bad))!;
    expect(reason).toMatch(/ the bzip2 stream is corrupt or truncated: .*; rebuild the package or upload the right file$/);
    expect(reason.split('broken-1.0-0.tar.bz2')).toHaveLength(2);
    expect(reason).not.toMatch(/\(.*\(/);
    expect(run.stderr).toMatch(/\[upload\] broken-1\.0-0\.tar\.bz2: refused: the bzip2 stream/);
  });
});

describe('a registry that cannot be reached: one line naming the host, no retries', () => {
  let file: string;
  beforeAll(async () => {
    file = await buildPackage(path.join(dir, 'net'), { name: 'netpkg', version: '1.0', build: '0', subdir: 'noarch' }, 'conda');
  });

  test('connection refused, unknown host', async () => {
    const refused = await cli(['upload', '--to', `oci+http://127.0.0.1:${await freePort()}/x`, file]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^oci-channel upload: nothing answers at 127\.0\.0\.1:\d+ \(connection refused\): check the host and port/m);
    expect(refused.stderr).not.toMatch(/retry later|failed \d+ times/);
    const unknown = await cli(['upload', '--to', 'oci://no-such-registry.invalid/x', '--json', file]);
    expect(unknown.code).toBe(1);
    expect(JSON.parse(unknown.stdout)).toEqual({ ok: false, error: expect.stringMatching(/cannot find host no-such-registry\.invalid \(DNS lookup failed\): check the host name/), exitCode: 1 });
  });

  test('TLS: an untrusted certificate, and plain http on an https location; each after one connection', async () => {
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    await execFileAsync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
    let connections = 0;
    const tls = https.createServer({ key: await readFile(key), cert: await readFile(cert) }, (_req, res) => res.end('{}'));
    tls.on('connection', () => connections++);
    const plain = http.createServer((_req, res) => res.end('{}'));
    plain.on('connection', () => connections++);
    await Promise.all([new Promise<void>((r) => tls.listen(0, '127.0.0.1', r)), new Promise<void>((r) => plain.listen(0, '127.0.0.1', r))]);
    try {
      const untrusted = await cli(['upload', '--to', `oci://127.0.0.1:${(tls.address() as AddressInfo).port}/x`, file]);
      expect(untrusted.code).toBe(1);
      expect(untrusted.stderr).toMatch(/^oci-channel upload: TLS with 127\.0\.0\.1:\d+ failed \(\w+\): check that 127\.0\.0\.1 serves a certificate this machine trusts/m);
      const notTls = await cli(['upload', '--to', `oci://127.0.0.1:${(plain.address() as AddressInfo).port}/x`, file]);
      expect(notTls.code).toBe(1);
      expect(notTls.stderr).toMatch(/does not speak TLS \(https\) on this port: if it serves plain http, write the location as oci\+http:\/\/127\.0\.0\.1:\d+\/PATH/);
      expect(connections).toBe(2);
    } finally {
      await Promise.all([new Promise((r) => tls.close(r)), new Promise((r) => plain.close(r))]);
    }
  });
});
