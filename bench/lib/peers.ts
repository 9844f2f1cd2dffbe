// The peers, run exactly as a person would run them: raw curl (the practical limit of this registry) and
// skopeo copy from an OCI layout. Also the oci-channel workers, each its own process.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, rmSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { SKOPEO_BIN } from '../../test/harness/skopeo.ts';
import { bundledWorker } from './bundle.ts';
import { NODE_BIN, runMeasured, type Measured } from './exec.ts';

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), hash);
  return hash.digest('hex');
}

/** skopeo never sees the host's credentials (an empty auth file of our own); plain http needs TLS checks off. */
let skopeoEnv: NodeJS.ProcessEnv | undefined;
async function skopeoEnvironment(): Promise<NodeJS.ProcessEnv> {
  if (!skopeoEnv) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-bench-auth-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    await writeFile(path.join(dir, 'auth.json'), '{"auths":{}}\n');
    skopeoEnv = { ...process.env, REGISTRY_AUTH_FILE: path.join(dir, 'auth.json') };
  }
  return skopeoEnv;
}

/** One `skopeo copy --preserve-digests` (its own process), measured. */
export async function skopeoCopyMeasured(from: string, to: string): Promise<Measured> {
  const tls = (ref: string, side: string) => (ref.startsWith('docker://') ? [`--${side}-tls-verify=false`] : []);
  return runMeasured(SKOPEO_BIN, ['--insecure-policy', 'copy', '--quiet', '--preserve-digests', ...tls(from, 'src'), ...tls(to, 'dest'), from, to], {
    env: await skopeoEnvironment(),
  });
}

/**
 * A shell script of one `skopeo copy` per line, run as ONE measured process: the loop a publisher writes
 * (Homebrew pushes bottles this way), without paying a node spawn per package in the harness.
 */
export async function skopeoLoopMeasured(dir: string, copies: Array<{ from: string; to: string }>): Promise<Measured> {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const tls = (ref: string, side: string) => (ref.startsWith('docker://') ? ` --${side}-tls-verify=false` : '');
  const lines = copies.map(
    (c) => `${quote(SKOPEO_BIN)} --insecure-policy copy --quiet --preserve-digests${tls(c.from, 'src')}${tls(c.to, 'dest')} ${quote(c.from)} ${quote(c.to)}`,
  );
  const script = path.join(dir, 'skopeo-loop.sh');
  await writeFile(script, `set -e\n${lines.join('\n')}\n`);
  return runMeasured('/bin/sh', [script], { env: await skopeoEnvironment() });
}

/**
 * A raw blob upload with curl: POST opens the session, one PUT sends the file with the digest (monolithic
 * upload; `Expect:` off so curl does not wait for 100-continue). The digest is computed beforehand.
 */
export function curlUploadMeasured(registryUrl: string, repository: string, file: string, digest: string): Promise<Measured> {
  const script = [
    'set -e',
    `loc=$(curl -sS -f -X POST -o /dev/null -w '%header{location}' "$1/v2/$2/blobs/uploads/")`,
    'case "$loc" in http*) ;; *) loc="$1$loc" ;; esac',
    'case "$loc" in *\\?*) sep="&" ;; *) sep="?" ;; esac',
    `curl -sS -f -o /dev/null -H 'Expect:' -H 'Content-Type: application/octet-stream' -T "$3" "$loc\${sep}digest=$4"`,
  ].join('\n');
  return runMeasured('/bin/sh', ['-c', script, 'curl-upload', registryUrl, repository, file, digest]);
}

export interface WorkerOutput {
  ok: boolean;
  maxRssBytes: number;
  [field: string]: unknown;
}

/** The channel admins' verdict key for this bench run (validate signs, promote verifies): random, never logged. */
const VERDICT_KEY = randomBytes(32).toString('hex');

/**
 * Runs a bench worker as its own node process (its ncc bundle when the run made one, else bench/workers/<name>.ts);
 * parses its last JSON line.
 */
export async function runWorker(root: string, name: string, args: string[]): Promise<{ measured: Measured; output: WorkerOutput }> {
  const entry = bundledWorker(name) ?? path.join(root, 'bench/workers', `${name}.ts`);
  const measured = await runMeasured(NODE_BIN, ['--disable-warning=ExperimentalWarning', entry, ...args], {
    cwd: root,
    env: { ...process.env, OCI_CHANNEL_VERDICT_KEY: VERDICT_KEY },
  });
  const last = measured.stdout.trim().split('\n').pop() ?? '';
  let output: WorkerOutput;
  try {
    output = JSON.parse(last) as WorkerOutput;
  } catch {
    throw new Error(`worker ${name} printed no result line: ${last.slice(0, 200)} ${measured.stderr.slice(-500)}`);
  }
  return { measured, output };
}
