// Where requests wait on each other, 20 ms from the registry: one upload and one promotion (verdict key) of
// N small packages through the bench's counting proxy with a delay per request and a timeline of every
// request. Per package repository it reports the chain (how many rounds of requests follow each other: a
// round is requests in flight together), the client's own gaps (time between an answer and the next
// request of that package: CPU, pauses, a queue for a connection) and the typical sequence of requests.
// Run: node bench/profile-rtt.ts [--packages 100] [--rtt-ms 20]   (prints a report; writes nothing)
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startRegistry } from '../test/harness/registry.ts';
import { buildSmallPackages } from './lib/packages.ts';
import { runWorker } from './lib/peers.ts';
import { startCountingProxy, type TimedRequest } from './lib/proxy.ts';
import { seedPromotionLog } from './scenarios/promote.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

function kind(r: TimedRequest): string {
  const m = /^\/v2\/(.+?)\/(blobs\/uploads\/.*|blobs\/[^/]+|manifests\/[^/]+|tags\/list|referrers\/[^/]+)$/.exec(r.path);
  const what = m ? m[2]!.replace(/^blobs\/uploads\/.+$/, 'upload').replace(/^blobs\/uploads\/$/, 'upload-start').replace(/^blobs\/.+$/, 'blob').replace(/^manifests\/.+$/, 'manifest').replace(/^referrers\/.+$/, 'referrers') : r.path;
  return `${r.method} ${what}`;
}

function repositoryOf(r: TimedRequest): string {
  return /^\/v2\/(.+?)\/(blobs|manifests|tags|referrers)\//.exec(r.path)?.[1] ?? '(other)';
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Rounds (requests in flight together) and idle gaps of one repository's requests, in start order. */
function chain(requests: TimedRequest[]): { rounds: number; gapMs: number; lifeMs: number; sequence: string } {
  let rounds = 0;
  let gapMs = 0;
  let roundEnd = -Infinity;
  const sequence: string[] = [];
  for (const r of requests) {
    if (r.start >= roundEnd) {
      rounds++;
      if (roundEnd > -Infinity) gapMs += r.start - roundEnd;
      sequence.push(kind(r));
    } else {
      sequence[sequence.length - 1] += ` + ${kind(r)}`;
    }
    roundEnd = Math.max(roundEnd === -Infinity ? 0 : roundEnd, r.end);
  }
  return { rounds, gapMs, lifeMs: requests.at(-1)!.end - requests[0]!.start, sequence: sequence.join(' -> ') };
}

function report(title: string, timeline: TimedRequest[], wallMs: number, packages: number, repositories: (repo: string) => boolean): void {
  const busy = timeline.reduce((sum, r) => sum + (r.end - r.start), 0);
  const span = timeline.at(-1) ? Math.max(...timeline.map((r) => r.end)) - timeline[0]!.start : 0;
  let most = 0;
  const edges = timeline.flatMap((r) => [[r.start, 1] as const, [r.end, -1] as const]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  for (const [, d] of edges) most = Math.max(most, (now += d));
  const byRepo = new Map<string, TimedRequest[]>();
  for (const r of timeline) {
    const repo = repositoryOf(r);
    if (!repositories(repo)) continue;
    const list = byRepo.get(repo) ?? [];
    list.push(r);
    byRepo.set(repo, list);
  }
  const chains = [...byRepo.values()].map(chain);
  const sequences = new Map<string, number>();
  for (const c of chains) sequences.set(c.sequence, (sequences.get(c.sequence) ?? 0) + 1);
  const [typical, seen] = [...sequences].sort((a, b) => b[1] - a[1])[0] ?? ['', 0];
  const kinds = new Map<string, number>();
  for (const r of timeline) kinds.set(kind(r), (kinds.get(kind(r)) ?? 0) + 1);
  process.stdout.write(
    [
      `## ${title}`,
      `wall ${(wallMs / 1000).toFixed(1)} s; ${timeline.length} requests (${(timeline.length / packages).toFixed(1)} per package); in flight: ${(busy / span).toFixed(1)} on average, ${most} at most`,
      `per package repository (${chains.length}): ${median(chains.map((c) => c.rounds))} rounds one after the other (median), ` +
        `${median(chains.map((c) => c.gapMs)).toFixed(0)} ms of gaps between an answer and its next request, ${median(chains.map((c) => c.lifeMs)).toFixed(0)} ms from first request to last answer`,
      `typical sequence (${seen} of ${chains.length}): ${typical}`,
      `requests by kind: ${[...kinds].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ')}`,
      '',
    ].join('\n'),
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { packages: { type: 'string', default: '100' }, 'rtt-ms': { type: 'string', default: '20' } } });
  const count = Number(values.packages);
  const rtt = Number(values['rtt-ms']);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'oci-channel-profile-'));
  const registry = await startRegistry();
  try {
    const packages = await buildSmallPackages(path.join(dir, 'packages'), count);
    let total = 0;
    for (const p of packages) total += (await stat(p.file)).size;
    const list = path.join(dir, 'files.txt');
    await writeFile(list, `${packages.map((p) => p.file).join('\n')}\n`);
    process.stdout.write(`# ${count} small packages (${(total / 2 ** 20).toFixed(1)} MiB), ${rtt} ms added to every request\n\n`);

    const up = await startCountingProxy(registry.host, { delayMs: rtt, timeline: true });
    const uploaded = await runWorker(ROOT, 'upload', [`oci+http://${up.host}/staging`, list]);
    report('upload', up.timeline(), uploaded.measured.wallMs, count, (repo) => repo.startsWith('staging/'));
    await up.close();

    const refs = path.join(dir, 'refs.txt');
    await writeFile(refs, `${(uploaded.output.artifacts as Array<{ subdir: string; filename: string }>).map((a) => `${a.subdir}/${a.filename}`).join('\n')}\n`);
    await runWorker(ROOT, 'promote', ['validate', registry.location('staging'), registry.location('production'), refs]);
    await seedPromotionLog(registry.location('production'));
    const pr = await startCountingProxy(registry.host, { delayMs: rtt, timeline: true });
    const promoted = await runWorker(ROOT, 'promote', ['promote', `oci+http://${pr.host}/staging`, `oci+http://${pr.host}/production`, refs]);
    report('promotion (verdict key)', pr.timeline(), promoted.measured.wallMs, count, (repo) => repo.startsWith('production/') && !repo.includes('oci_channel'));
    await pr.close();
  } finally {
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`profile: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
