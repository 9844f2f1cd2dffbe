// skopeo (containers/image) as an independent OCI client: what our stores write, it must read.
// Runs with --insecure-policy (no /etc/containers/policy.json needed, fine as root) and without TLS
// verification for plain-http test registries.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

const NO_AUTH_FILE = path.join(os.tmpdir(), `oci-channel-skopeo-no-auth-${process.pid}.json`);

export const SKOPEO_BIN = process.env.OCI_CHANNEL_SKOPEO_BIN ?? 'skopeo';

export interface SkopeoResult {
  stdout: Buffer;
  stderr: string;
}

/** Runs skopeo with global `--insecure-policy`; rejects with its stderr when it fails. */
export function skopeo(args: string[], timeoutMs = 60_000): Promise<SkopeoResult> {
  return new Promise((resolve, reject) => {
    execFile(
      SKOPEO_BIN,
      ['--insecure-policy', ...args],
      // A missing auth file: never pick up the host's credentials.
      { encoding: 'buffer', timeout: timeoutMs, maxBuffer: 64 << 20, env: { ...process.env, REGISTRY_AUTH_FILE: NO_AUTH_FILE } },
      (error, stdout, stderr) => {
        const err = stderr.toString();
        if (error) reject(new Error(`skopeo ${args.join(' ')} failed: ${err.trim() || error.message}`));
        else resolve({ stdout, stderr: err });
      },
    );
  });
}

/**
 * skopeo's name for a manifest in one of our locations: `oci:DIR/<repo>:<tag>` for `oci-layout:DIR`,
 * `docker://HOST/<path>/<repo>:<tag>` for `oci://` and `oci+http://`.
 */
export function skopeoReference(location: string, repository: string, tag: string): string {
  if (location.startsWith('oci-layout:')) return `oci:${path.join(location.slice('oci-layout:'.length), repository)}:${tag}`;
  const m = /^oci(?:\+http)?:\/\/(.+?)\/*$/.exec(location);
  if (!m) throw new Error(`not a location skopeo can read: ${location}`);
  return `docker://${m[1]}/${repository}:${tag}`;
}

/** TLS flags for a plain-http registry reference, for one side of a command (`''`, `src-` or `dest-`). */
function tlsFlags(reference: string, side: '' | 'src-' | 'dest-'): string[] {
  return reference.startsWith('docker://') ? [`--${side}tls-verify=false`] : [];
}

/** `skopeo inspect --raw`: the manifest bytes exactly as stored. */
export async function inspectRaw(reference: string): Promise<Buffer> {
  return (await skopeo(['inspect', '--raw', ...tlsFlags(reference, ''), reference])).stdout;
}

/** `skopeo copy` without any conversion (--preserve-digests refuses to change a manifest). */
export async function skopeoCopy(from: string, to: string): Promise<void> {
  await skopeo(['copy', '--preserve-digests', ...tlsFlags(from, 'src-'), ...tlsFlags(to, 'dest-'), from, to]);
}

/** sha256 of every file under `<layoutDir>/blobs/sha256`, by file name. */
export async function hashLayoutBlobs(layoutDir: string): Promise<Map<string, string>> {
  const dir = path.join(layoutDir, 'blobs', 'sha256');
  const result = new Map<string, string>();
  for (const name of await readdir(dir)) {
    const hash = createHash('sha256');
    await pipeline(createReadStream(path.join(dir, name)), hash);
    result.set(name, hash.digest('hex'));
  }
  return result;
}
