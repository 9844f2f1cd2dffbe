// `node bench/blob-strategies.ts [--mib 1024] [--runs 3]`
// How should a large blob go up? Measures, on docker-registry (distribution 2.8) and on the ghcr.io stand-in
// (test/harness/ghcr.ts: the same registry behind ghcr.io's rules, one loopback hop more), one blob of random
// bytes pushed by the registry store in each way it can send it:
//   - one PATCH without Content-Range carrying the whole blob, then PUT?digest (digest computed while sending);
//   - ranged PATCH chunks of 4 MiB (ghcr.io's cap on a ranged body), then PUT?digest;
//   - one ranged PATCH with the whole blob (the store's old default; ghcr.io refuses it with 416);
//   - a monolithic PUT (digest known beforehand, not timed);
// and curl's monolithic PUT of the same file as the floor. Each push goes to a new repository. Prints a markdown
// table of median wall times (docs/reliability.md records one).
import { execFile } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs, promisify } from 'node:util';
import { fileSource, openStore, type Digest, type RemoteStoreOptions } from '@oci-channel/oci';
import { startGhcr } from '../test/harness/ghcr.ts';
import { GithubModel } from '../test/harness/github-model.ts';
import { startRegistry } from '../test/harness/registry.ts';

const run = promisify(execFile);
const { values } = parseArgs({ options: { mib: { type: 'string', default: '1024' }, runs: { type: 'string', default: '3' } } });
const size = Number(values.mib) * 1024 * 1024;
const runs = Number(values.runs);
const TOKEN = 'ghp_BenchBlobStrategiesToken00000000000';

const dir = await mkdtemp(path.join(os.tmpdir(), 'blob-strategies-'));
const file = path.join(dir, 'blob');
const cipher = createCipheriv('aes-256-ctr', randomBytes(32), randomBytes(16));
await pipeline(
  (function* () {
    const piece = Buffer.alloc(1 << 20);
    for (let left = size; left > 0; left -= piece.length) yield cipher.update(piece.subarray(0, Math.min(left, piece.length)));
  })(),
  createWriteStream(file),
);
const hash = createHash('sha256');
await pipeline(createReadStream(file), hash);
const digest = `sha256:${hash.digest('hex')}` as Digest;

const model = new GithubModel();
model.addAccount({ login: 'bench', type: 'org', members: ['bench-bot'], owners: [], defaultVisibility: 'public' });
model.addIdentity({ token: TOKEN, kind: 'classic-pat', login: 'bench-bot', scopes: ['write:packages'] });
const distribution = await startRegistry();
const ghcr = await startGhcr({ model });

type Strategy = { name: string; options: RemoteStoreOptions; withDigest: boolean };
const strategies: Strategy[] = [
  { name: 'one unranged PATCH + PUT', options: { chunkThresholdBytes: 0 }, withDigest: false },
  { name: 'ranged 4 MiB PATCHes + PUT', options: { chunkThresholdBytes: 0, chunkSizeBytes: 4 * 1024 * 1024 }, withDigest: false },
  { name: 'one ranged PATCH (old default) + PUT', options: { chunkThresholdBytes: 0, chunkSizeBytes: size }, withDigest: false },
  { name: 'monolithic PUT', options: { chunkThresholdBytes: Number.POSITIVE_INFINITY }, withDigest: true },
];
const targets = [
  { name: 'distribution 2.8', location: distribution.location('bench'), url: distribution.url, credentials: undefined },
  { name: 'ghcr.io stand-in', location: ghcr.location('bench'), url: ghcr.url, credentials: { username: 'x', password: TOKEN } },
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
let n = 0;
const contenders = targets.flatMap((target) => [...strategies, undefined].map((strategy) => ({ target, strategy, times: [] as number[], notes: new Set<string>() })));
// One unmeasured push per registry first (file cache, connections), then the contenders in turn, run after run.
for (const target of targets) await curlPut(target.url, `bench/warmup${n++}`, target.credentials?.password);
for (let i = 0; i < runs; i++) {
  for (const c of contenders) {
    const repository = `r${n++}`;
    const started = performance.now();
    if (!c.strategy) {
      await curlPut(c.target.url, `bench/${repository}`, c.target.credentials?.password);
    } else {
      const store = openStore(c.target.location, { ...c.strategy.options, ...(c.target.credentials ? { credentials: c.target.credentials } : {}) } as RemoteStoreOptions);
      const before = ghcr.log.length;
      await store.repository(repository).pushBlob(fileSource(file, size), c.strategy.withDigest ? { digest, size } : { size }, { likelyMissing: true });
      await store.close();
      const refused = ghcr.log.slice(before).filter((e) => e.status === 416).length;
      if (refused) c.notes.add(`${refused} x 416, then 4 MiB chunks`);
    }
    c.times.push(performance.now() - started);
    process.stderr.write(`${c.target.name} / ${c.strategy?.name ?? 'curl'}: ${(c.times.at(-1)! / 1000).toFixed(2)} s\n`);
  }
}
const rows = contenders.map((c) => {
  const t = median(c.times);
  return `| ${c.target.name} | ${c.strategy?.name ?? 'curl: POST + monolithic PUT'} | ${(t / 1000).toFixed(2)} s | ${(size / 2 ** 20 / (t / 1000)).toFixed(0)} MiB/s | ${[...c.notes].join('; ')} |`;
});
console.log(`${values.mib} MiB, median of ${runs} runs\n\n| registry | how | time | rate | note |\n|---|---|---|---|---|\n${rows.join('\n')}`);
await ghcr.stop();
await distribution.stop();
await rm(dir, { recursive: true, force: true });

async function curlPut(base: string, repository: string, password?: string): Promise<void> {
  let auth: string[] = [];
  if (password) {
    const res = await fetch(`${base}/token?service=ghcr.io&scope=repository:${repository}:pull,push`, {
      headers: { authorization: `Basic ${Buffer.from(`x:${password}`).toString('base64')}` },
    });
    auth = ['-H', `Authorization: Bearer ${((await res.json()) as { token: string }).token}`];
  }
  const { stdout } = await run('curl', ['-sS', '-f', '-X', 'POST', ...auth, '-o', '/dev/null', '-w', '%header{location}', `${base}/v2/${repository}/blobs/uploads/`]);
  const location = new URL(stdout.trim(), base);
  location.searchParams.set('digest', digest);
  await run('curl', ['-sS', '-f', '-o', '/dev/null', ...auth, '-H', 'Expect:', '-H', 'Content-Type: application/octet-stream', '-T', file, location.href]);
}
