// What the results ran on, written next to every result so figures are never read without their machine.
import { execFile } from 'node:child_process';
import os from 'node:os';
import { promisify } from 'node:util';
import { REGISTRY_BIN } from '../../test/harness/registry.ts';
import { SKOPEO_BIN } from '../../test/harness/skopeo.ts';

const run = promisify(execFile);

export interface MachineInfo {
  hostname: string;
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  os: string;
  node: string;
  registry: string;
  skopeo: string;
  curl: string;
}

async function firstLine(command: string, args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run(command, args, { timeout: 10_000 });
    return (stdout || stderr).trim().split('\n')[0] ?? 'unknown';
  } catch {
    return 'not installed';
  }
}

export async function machineInfo(): Promise<MachineInfo> {
  const cpus = os.cpus();
  return {
    hostname: os.hostname(),
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    registry: await firstLine(REGISTRY_BIN, ['--version']),
    skopeo: await firstLine(SKOPEO_BIN, ['--version']),
    curl: await firstLine('curl', ['--version']),
  };
}

/** A file-name-safe machine label: `<cores>c-<GiB>g-<host>`. */
export function machineLabel(info: MachineInfo): string {
  const host = info.hostname.replace(/[^A-Za-z0-9-]+/g, '-').slice(0, 24) || 'host';
  return `${info.cores}c-${Math.round(info.memoryBytes / 2 ** 30)}g-${host}`;
}
