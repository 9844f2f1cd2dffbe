// Runs one contender as its own process under GNU time, so every tool (node, curl, skopeo) is measured the
// same way: wall time from spawn to exit, and the peak resident set of the whole process.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

export const TIME_BIN = process.env.OCI_CHANNEL_TIME_BIN ?? '/usr/bin/time';

export interface Measured {
  wallMs: number;
  /** Peak RSS in bytes (GNU time %M), undefined when time is not available. */
  maxRssBytes?: number;
  /** User + system CPU time of the process and the children it waited for (GNU time %U + %S). */
  cpuMs?: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill the process after this long (default 30 min): a bench never hangs forever. */
  timeoutMs?: number;
  /** Keep at most this much of stdout (default 16 MiB). */
  maxStdout?: number;
}

let timeAvailable: boolean | undefined;
async function hasTime(): Promise<boolean> {
  if (timeAvailable === undefined) {
    timeAvailable = await new Promise<boolean>((resolve) => {
      const child = spawn(TIME_BIN, ['-f', '%M', 'true'], { stdio: 'ignore' });
      child.on('error', () => resolve(false));
      child.on('exit', (code) => resolve(code === 0));
    });
  }
  return timeAvailable;
}

/** Runs `command args`, rejecting with the tail of stderr when it exits non-zero. */
export async function runMeasured(command: string, args: string[], options: RunOptions = {}): Promise<Measured> {
  const timed = await hasTime();
  const dir = timed ? await mkdtemp(path.join(os.tmpdir(), 'oci-channel-bench-time-')) : undefined;
  const timeFile = dir ? path.join(dir, 'time') : undefined;
  const argv = timed ? ['-f', '%M %U %S', '-o', timeFile!, command, ...args] : args;
  const bin = timed ? TIME_BIN : command;
  const maxStdout = options.maxStdout ?? 16 << 20;
  try {
    const started = performance.now();
    const { code, signal, stdout, stderr } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>(
      (resolve, reject) => {
        const child = spawn(bin, argv, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
        const out: Buffer[] = [];
        let outSize = 0;
        let err = '';
        child.stdout!.on('data', (chunk: Buffer) => {
          if (outSize < maxStdout) out.push(chunk);
          outSize += chunk.length;
        });
        child.stderr!.on('data', (chunk: Buffer) => {
          err = (err + chunk.toString()).slice(-8000);
        });
        const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30 * 60_000);
        child.on('error', (error) => {
          clearTimeout(timer);
          reject(error);
        });
        child.on('close', (c, s) => {
          clearTimeout(timer);
          resolve({ code: c, signal: s, stdout: Buffer.concat(out).toString(), stderr: err });
        });
      },
    );
    const wallMs = performance.now() - started;
    if (code !== 0) {
      const tail = stderr.trim().split('\n').slice(-5).join(' | ');
      throw new Error(`${path.basename(command)} ${args.slice(0, 3).join(' ')} ... exited ${code ?? signal}: ${tail}`);
    }
    let maxRssBytes: number | undefined;
    let cpuMs: number | undefined;
    if (timeFile) {
      // GNU time's line is the last one of its file: `%M %U %S` (KiB, seconds, seconds).
      const text = await readFile(timeFile, 'utf8').catch(() => '');
      const [kib, user, sys] = (text.trim().split('\n').pop() ?? '').split(' ').map(Number);
      if (kib !== undefined && Number.isFinite(kib) && kib > 0) maxRssBytes = kib * 1024;
      if (user !== undefined && sys !== undefined && Number.isFinite(user) && Number.isFinite(sys)) cpuMs = (user + sys) * 1000;
    }
    return { wallMs, maxRssBytes, cpuMs, stdout, stderr };
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}

/** The Node 24 binary this process runs on (npm scripts put node_modules/.bin/node first). */
export const NODE_BIN = process.execPath;
