// The oci-channel command as a user runs it: exit codes 0/1/2, one-line usage errors, --json shape, and a
// distinctive password from the environment never printed, on success or failure.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { startRegistry, type RunningRegistry } from '../harness/registry.ts';
import { writeHtpasswd } from '../harness/htpasswd.ts';
import { buildPackage } from '../helpers/conda-builder.ts';

const PASSWORD = 'Zq8-distinctive-pa55word-7Kd';
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
    for (const command of ['upload', 'validate', 'promote', 'reindex', 'label', 'download', 'gc', 'demo']) {
      const run = await cli([command, '--help']);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`^Usage: oci-channel ${command}`));
    }
    expect((await cli(['--help'])).stdout).toMatch(/Commands:/);
  });
});

test('demo: the whole flow on disk ends with a solved environment and one refusal', async () => {
  const run = await cli(['demo']);
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(/rejected\s+linux-64\/intruder-1\.0-h0_0\.conda .*does not own package name intruder/);
  const solution = run.stdout.slice(run.stdout.indexOf('== 6.'));
  for (const name of ['_sample_mutex', 'libsample', 'sample-data', 'sampletool']) expect(solution).toMatch(new RegExp(`^${name}\\s`, 'm'));
  expect(solution).not.toMatch(/^intruder/m);
  expect(run.stdout).toMatch(/Done: 4 packages published, 1 refused/);
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
