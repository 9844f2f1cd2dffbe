// Starts Debian's docker-registry (CNCF distribution 2.8) on a free loopback port with its own config
// and storage, for tests and benchmarks. Auth modes: anonymous, htpasswd (Basic), bearer token.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';

export const REGISTRY_BIN = process.env.OCI_CHANNEL_REGISTRY_BIN ?? 'docker-registry';

export type RegistryAuth =
  | { kind: 'htpasswd'; file: string }
  | {
      kind: 'token';
      realm: string;
      service: string;
      issuer: string;
      /** PEM file of the certificate(s) whose keys sign the tokens. */
      rootCertBundle: string;
    };

export interface RegistryOptions {
  auth?: RegistryAuth;
  /** Manifest and blob DELETE (on by default, as a channel's registry would allow for gc). */
  deleteEnabled?: boolean;
}

export interface RunningRegistry {
  host: string; // 127.0.0.1:PORT
  port: number;
  /** http://127.0.0.1:PORT */
  url: string;
  /** Storage root on disk. */
  storage: string;
  /** `oci+http://127.0.0.1:PORT/<path>` */
  location(repoPath?: string): string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startRegistry(options: RegistryOptions = {}): Promise<RunningRegistry> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-registry-'));
  const storage = path.join(dir, 'storage');
  let lastError: unknown;
  // A port picked as free can be taken before the registry binds it: try a few.
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const config: Record<string, unknown> = {
      version: 0.1,
      log: { level: 'error', accesslog: { disabled: true } },
      storage: {
        filesystem: { rootdirectory: storage },
        delete: { enabled: options.deleteEnabled ?? true },
        maintenance: { uploadpurging: { enabled: false } },
      },
      http: { addr: `127.0.0.1:${port}`, secret: 'oci-channel-test-secret' },
    };
    if (options.auth?.kind === 'htpasswd') {
      config.auth = { htpasswd: { realm: 'oci-channel-test', path: options.auth.file } };
    } else if (options.auth?.kind === 'token') {
      config.auth = {
        token: {
          realm: options.auth.realm,
          service: options.auth.service,
          issuer: options.auth.issuer,
          rootcertbundle: options.auth.rootCertBundle,
        },
      };
    }
    const configFile = path.join(dir, 'config.yml');
    await writeFile(configFile, YAML.stringify(config));
    const child = spawn(REGISTRY_BIN, ['serve', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    try {
      await waitReady(child, port, () => stderr);
    } catch (error) {
      lastError = error;
      child.kill('SIGKILL');
      continue;
    }
    const host = `127.0.0.1:${port}`;
    return {
      host,
      port,
      url: `http://${host}`,
      storage,
      location: (repoPath = '') => `oci+http://${host}${repoPath ? `/${repoPath}` : ''}`,
      async stop() {
        await stopChild(child);
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  await rm(dir, { recursive: true, force: true });
  throw new Error(`could not start ${REGISTRY_BIN}: ${String(lastError)} (install it with: apt-get install docker-registry)`);
}

async function waitReady(child: ChildProcess, port: number, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  child.once('error', () => {
    exited = true;
  });
  while (Date.now() < deadline) {
    if (exited) throw new Error(`registry exited: ${stderr().trim().split('\n').pop() ?? ''}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/v2/`);
      await res.arrayBuffer();
      if (res.status === 200 || res.status === 401) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('registry did not become ready within 15 s');
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
