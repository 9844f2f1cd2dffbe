// The command outside the checkout, as the README says: the bundle dist/cli installed with `npm install -g` into a
// prefix of its own (copied away from the repository, so nothing resolves from its node_modules), then run: --help,
// an upload to an oci-layout: channel and a verified download back. Older Node gets one line saying what to install.
import { expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { buildPackage } from '../helpers/conda-builder.ts';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const NODE24_DIR = path.join(ROOT, 'node_modules', '.bin');

test('npm install -g ./dist/cli gives a working oci-channel', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cli-bundle-'));
  try {
    // dist/ as a release or a clone has it: cli/ beside node_modules/ (rattler).
    await cp(path.join(ROOT, 'dist', 'cli'), path.join(dir, 'dist', 'cli'), { recursive: true });
    await cp(path.join(ROOT, 'dist', 'node_modules'), path.join(dir, 'dist', 'node_modules'), { recursive: true });
    const prefix = path.join(dir, 'prefix');
    const env = { PATH: `${NODE24_DIR}:/usr/local/bin:/usr/bin:/bin`, HOME: dir, npm_config_cache: path.join(dir, 'npm-cache'), npm_config_update_notifier: 'false' };
    await run('npm', ['install', '-g', '--offline', '--no-audit', '--no-fund', '--prefix', prefix, path.join(dir, 'dist', 'cli')], { env, cwd: dir });
    const bin = path.join(prefix, 'bin', 'oci-channel');
    expect(existsSync(bin)).toBe(true);

    const help = await run(bin, ['--help'], { env, cwd: dir });
    expect(help.stdout).toMatch(/^oci-channel - publish conda packages/);
    expect(help.stdout).toMatch(/^ {2}upload /m);

    const file = await buildPackage(path.join(dir, 'pkgs'), { name: 'bundled', version: '1.0', build: '0', subdir: 'noarch', noarch: 'generic' }, 'tar.bz2');
    const channel = `oci-layout:${path.join(dir, 'channel')}`;
    const up = JSON.parse((await run(bin, ['upload', '--to', channel, '--json', file], { env, cwd: dir })).stdout);
    expect(up).toMatchObject({ ok: true, errors: [], artifacts: [expect.objectContaining({ filename: 'bundled-1.0-0.tar.bz2', status: 'uploaded' })] });
    const out = path.join(dir, 'back.tar.bz2');
    await run(bin, ['download', '--channel', channel, 'noarch/bundled-1.0-0.tar.bz2', '-o', out], { env, cwd: dir });
    const sha = (f: string) => readFile(f).then((b) => createHash('sha256').update(b).digest('hex'));
    expect(await sha(out)).toBe(await sha(file));

    // The system's older Node, when there is one: one line saying what to install, exit 1.
    const system = '/usr/bin/node';
    if (existsSync(system)) {
      const version = (await run(system, ['--version'])).stdout.trim();
      if (Number(version.slice(1).split('.')[0]) < 24) {
        const old = await run(system, [path.join(dir, 'dist', 'cli', 'index.js'), '--help']).then(
          () => ({ code: 0, stderr: '' }),
          (e: { code: number; stderr: string }) => e,
        );
        expect(old.code).toBe(1);
        expect(old.stderr).toBe(`oci-channel needs Node.js 24 or newer; this is ${version} (${system}). Install Node 24 (e.g. \`npm install -g node@24\` or your version manager) and run it again.\n`);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
