// Registry state saved once and restored before each run: a copy of docker-registry's storage directory.
// Restoring while the registry is idle is safe: distribution keeps no cache unless configured to (the
// harness configures none), so the next request reads the restored files.
import { execFile } from 'node:child_process';
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export async function snapshotStorage(storage: string, snapshot: string): Promise<void> {
  await rm(snapshot, { recursive: true, force: true });
  await mkdir(snapshot, { recursive: true });
  await exec('cp', ['-a', `${storage}/.`, snapshot]);
}

export async function restoreStorage(snapshot: string, storage: string): Promise<void> {
  await mkdir(storage, { recursive: true });
  for (const entry of await readdir(storage)) await rm(path.join(storage, entry), { recursive: true, force: true });
  await exec('cp', ['-a', `${snapshot}/.`, storage]);
}
