// Reading untrusted package archives away from the secrets. validate and promote hold the verdict key (and the
// registry tokens); a staged archive is whatever an uploader wrote. Archives are therefore opened and checked in a
// child process started with an allow-listed environment (no credentials, no tokens, no key), and only what it
// found comes back: the parent downloads, compares and signs. One child serves the whole process (an action or
// CLI run is one process); while it reads nothing it does not keep the parent alive.
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PackageInfo, ReadPackageOptions } from '@oci-channel/conda';

/** What the child may see of the environment: enough to run and find bzip2, nothing secret. */
const PASSED_ENV = ['PATH', 'TMPDIR', 'TMP', 'TEMP', 'LANG', 'LC_ALL', 'LC_CTYPE', 'SYSTEMROOT', 'SystemRoot', 'OCI_CHANNEL_BZIP2'];

/** The child's environment: only the allow-listed variables of `env`. */
export function readerEnvironment(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of PASSED_ENV) {
    const value = env[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** The child's entry: the TypeScript source next to this module, or the bundle's `package-reader/index.js`. */
function childEntry(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // In dist/<action>/index.js (ncc) this module is inlined: the reader is bundled beside it as its own entry.
  // dist/cli carries its own copy inside (an installed command line has no dist/ around it).
  const candidates = [path.join(here, 'package-reader-child.ts'), path.join(here, '..', 'package-reader', 'index.js'), path.join(here, 'package-reader', 'index.js')];
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found) throw new Error(`the package reader is missing (looked for ${candidates.join(' and ')}); rebuild or reinstall oci-channel`);
  return found;
}

interface Pending {
  resolve: (info: PackageInfo) => void;
  reject: (error: Error) => void;
}

/** A child process that reads packages, started on the first read and stopped by close(). */
export class PackageReader {
  #child: ChildProcess | undefined;
  #pending = new Map<number, Pending>();
  #next = 0;
  #lastError = '';

  /** The child's process id while it runs (tests look at its environment). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** readPackage(file, options), run in the child. */
  read(file: string, options: ReadPackageOptions = {}): Promise<PackageInfo> {
    const child = this.#start();
    const id = ++this.#next;
    return new Promise<PackageInfo>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#ref(true);
      child.send({ id, file, options }, (error) => {
        if (error) this.#settle(id, undefined, new Error(`cannot send to the package reader: ${error.message}`));
      });
    });
  }

  /** Stops the child (reads still running fail). */
  async close(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    if (child.connected) child.disconnect();
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  }

  #start(): ChildProcess {
    if (this.#child) return this.#child;
    const child = fork(childEntry(), [], {
      env: readerEnvironment(),
      execArgv: ['--disable-warning=ExperimentalWarning'],
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    this.#child = child;
    this.#lastError = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      const lines = chunk.toString('utf8').split('\n').map((l) => l.trim()).filter(Boolean);
      if (lines.length) this.#lastError = lines[lines.length - 1]!.slice(0, 200);
    });
    child.on('message', (message: unknown) => this.#answer(message));
    child.on('error', (error) => this.#stopped(child, `it could not run: ${error.message}`));
    child.on('exit', (code, signal) => this.#stopped(child, signal ? `killed by ${signal}` : `exit ${code}`));
    this.#ref(false);
    return child;
  }

  #answer(message: unknown): void {
    const m = (message ?? {}) as { id?: unknown; ok?: unknown; info?: unknown; name?: unknown; message?: unknown };
    if (typeof m.id !== 'number' || !this.#pending.has(m.id)) return;
    if (m.ok === true && isPackageInfo(m.info)) this.#settle(m.id, m.info);
    else if (m.ok === false && typeof m.message === 'string') {
      const error = new Error(m.message);
      if (typeof m.name === 'string') error.name = m.name;
      this.#settle(m.id, undefined, error);
    } else this.#settle(m.id, undefined, new Error('the package reader answered something that is not a package description'));
  }

  #stopped(child: ChildProcess, how: string): void {
    if (this.#child === child) this.#child = undefined;
    const detail = this.#lastError ? ` (${this.#lastError})` : '';
    for (const id of [...this.#pending.keys()]) {
      this.#settle(id, undefined, new Error(`the package reader process stopped while reading: ${how}${detail}; the package may be hostile or too large`));
    }
  }

  #settle(id: number, info: PackageInfo | undefined, error?: Error): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    if (this.#pending.size === 0) this.#ref(false);
    if (error) pending.reject(error);
    else pending.resolve(normalize(info!));
  }

  /** While nothing is being read, the child must not keep this process alive. */
  #ref(busy: boolean): void {
    const child = this.#child;
    if (!child) return;
    const channel = child.channel as { ref?: () => void; unref?: () => void } | null | undefined;
    const stderr = child.stderr as { ref?: () => void; unref?: () => void } | null;
    if (busy) {
      child.ref();
      channel?.ref?.();
      stderr?.ref?.();
    } else {
      child.unref();
      channel?.unref?.();
      stderr?.unref?.();
    }
  }
}

let shared: PackageReader | undefined;

/** The process-wide reader validate and promote use. */
export function packageReader(): PackageReader {
  return (shared ??= new PackageReader());
}

function isPackageInfo(value: unknown): value is PackageInfo {
  if (!value || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  const strings = ['path', 'filename', 'format', 'name', 'version', 'build', 'subdir', 'sha256', 'md5'];
  return (
    strings.every((k) => typeof v[k] === 'string') &&
    typeof v.size === 'number' &&
    v.indexJsonBytes instanceof Uint8Array &&
    v.infoTarGz instanceof Uint8Array &&
    typeof v.indexJson === 'object' &&
    typeof v.channelFields === 'object' &&
    Array.isArray(v.infoFiles)
  );
}

/** Buffers come back as plain Uint8Arrays; callers expect what readPackage returns. */
function normalize(info: PackageInfo): PackageInfo {
  const buffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { ...info, indexJsonBytes: buffer(info.indexJsonBytes), infoTarGz: buffer(info.infoTarGz) };
}
