// Untrusted archives are opened in a child process that holds no secret: its environment is an allow-list (no
// verdict key, no registry password, no token), it answers with what readPackage found, and a reader that dies
// mid-read fails that read with a clear reason and starts afresh for the next.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readPackage } from '@oci-channel/conda';
import { PackageReader, readerEnvironment } from '../../packages/pipeline/src/core/package-reader.ts';
import { makePackage } from './pipeline-helpers.ts';

const KEY = 'vk-reader-test-0123456789abcdef0123456789abcdef';
const PASSWORD = 'Pw-reader-test-never-in-the-child';
let dir: string;
let reader: PackageReader;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'reader-'));
  process.env.OCI_CHANNEL_VERDICT_KEY = KEY;
  process.env.OCI_CHANNEL_REGISTRY_EXAMPLE_PASSWORD = PASSWORD;
  process.env['INPUT_VERDICT-KEY'] = KEY;
  reader = new PackageReader();
});
afterAll(async () => {
  delete process.env.OCI_CHANNEL_VERDICT_KEY;
  delete process.env.OCI_CHANNEL_REGISTRY_EXAMPLE_PASSWORD;
  delete process.env['INPUT_VERDICT-KEY'];
  await reader.close();
  await rm(dir, { recursive: true, force: true });
});

test('the child reads what readPackage reads, in another process whose environment holds no secret', async () => {
  const file = await makePackage(dir, { name: 'pkg', version: '1.0', build: 'h0_0', subdir: 'noarch', format: 'tar.bz2', runExports: { weak: ['pkg'] } });
  const [inChild, inProcess] = await Promise.all([reader.read(file), readPackage(file)]);
  expect(inChild).toEqual(inProcess);
  expect(Buffer.isBuffer(inChild.infoTarGz)).toBe(true);
  const pid = reader.pid!;
  expect(pid).not.toBe(process.pid);
  // What the kernel says the child's environment is (not what the child chooses to report).
  const environ = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0').filter(Boolean);
  const names = environ.map((e) => e.slice(0, e.indexOf('=')));
  expect(names).toContain('PATH');
  expect(environ.join('\n')).not.toContain(KEY);
  expect(environ.join('\n')).not.toContain(PASSWORD);
  expect(names.filter((n) => /KEY|PASSWORD|TOKEN|SECRET|INPUT_/i.test(n))).toEqual([]);
  expect(Object.keys(readerEnvironment({ PATH: '/bin', OCI_CHANNEL_VERDICT_KEY: KEY, GITHUB_TOKEN: 't', ACTIONS_ID_TOKEN_REQUEST_TOKEN: 't' }))).toEqual(['PATH']);
});

test('a refused archive fails with readPackage\'s reason; a child that dies fails the read and the next read starts a new one', async () => {
  const bad = path.join(dir, 'bad-1.0-0.conda');
  await writeFile(bad, 'not a zip');
  await expect(reader.read(bad)).rejects.toThrow(/bad-1\.0-0\.conda/);
  const first = reader.pid!;
  const big = await makePackage(path.join(dir, 'big'), { name: 'big', version: '1.0', build: 'h0_0', subdir: 'noarch', format: 'tar.bz2', payloadBytes: 1 << 20 });
  // Killed right after the request is sent: the child cannot have answered yet.
  const reading = reader.read(big);
  process.kill(first, 'SIGKILL');
  await expect(reading).rejects.toThrow(/^the package reader process stopped while reading: killed by SIGKILL/);
  const again = await reader.read(big);
  expect(again.name).toBe('big');
  expect(reader.pid).not.toBe(first);
});
