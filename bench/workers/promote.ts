// Child process running oci-channel's validate or promote step on a list of artifacts.
// Run: node bench/workers/promote.ts <validate|promote> <staging> <production> <list-file> [concurrency]
// where list-file holds one `subdir/filename` per line. Prints one JSON line: counts and maxRSS.
// Both steps sign/verify verdicts with OCI_CHANNEL_VERDICT_KEY, which the bench sets (as a channel's admins
// would): without a key promote trusts no verdict and validates every artifact again itself.
import { readFile } from 'node:fs/promises';
import { promote, validate, type ArtifactRef } from '@oci-channel/pipeline';
import { peakRssBytes } from '../lib/peak-rss.ts';

// A main function, not top-level await: the bench runs this bundled by ncc, as the actions ship (bench/lib/bundle.ts).
async function main(): Promise<void> {
  const [step, staging, production, listFile, concurrencyText] = process.argv.slice(2);
  if ((step !== 'validate' && step !== 'promote') || !staging || !production || !listFile) {
    console.error('usage: node bench/workers/promote.ts <validate|promote> <staging> <production> <list-file>');
    process.exit(2);
  }
  const artifacts: ArtifactRef[] = (await readFile(listFile, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const slash = line.indexOf('/');
      return { subdir: line.slice(0, slash), filename: line.slice(slash + 1) };
    });
  const concurrency = concurrencyText ? { concurrency: Number(concurrencyText) } : {};
  const result = step === 'validate' ? await validate({ staging, production, artifacts, ...concurrency }) : await promote({ staging, production, artifacts, ...concurrency });
  const statuses: Record<string, number> = {};
  for (const a of result.artifacts) {
    const status = 'status' in a ? String(a.status) : a.verdict;
    statuses[status] = (statuses[status] ?? 0) + 1;
  }
  const problems = result.artifacts.filter((a) => a.reason).map((a) => `${a.subdir}/${a.filename}: ${a.reason}`);
  process.stdout.write(`${JSON.stringify({ ok: result.ok, statuses, problems: problems.slice(0, 5), maxRssBytes: peakRssBytes() })}\n`);
  if (!result.ok) {
    console.error(`${step} failed: ${problems.slice(0, 5).join('; ')}`);
    process.exit(1);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
