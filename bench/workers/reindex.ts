// Child process running oci-channel's reindex step. Run: node bench/workers/reindex.ts <channel> <cache-dir> [--full]
// Prints one JSON line: packages and added per subdir, the requests reindex counted itself, maxRSS.
import { reindex } from '@oci-channel/pipeline';
import { peakRssBytes } from '../lib/peak-rss.ts';

// A main function, not top-level await: the bench runs this bundled by ncc, as the actions ship (bench/lib/bundle.ts).
async function main(): Promise<void> {
  const [channel, cacheDir, flag] = process.argv.slice(2);
  if (!channel || !cacheDir) {
    console.error('usage: node bench/workers/reindex.ts <channel> <cache-dir> [--full]');
    process.exit(2);
  }
  const result = await reindex({ channel, cacheDir, ...(flag === '--full' ? { full: true } : {}) });
  process.stdout.write(
    `${JSON.stringify({
      ok: result.ok,
      packages: result.subdirs.reduce((n, s) => n + s.packages, 0),
      added: result.subdirs.reduce((n, s) => n + s.added, 0),
      subdirs: result.subdirs.map((s) => ({ subdir: s.subdir, packages: s.packages, added: s.added, pushed: s.tags.length > 0 })),
      requests: result.requests,
      maxRssBytes: peakRssBytes(),
    })}\n`,
  );
  if (!result.ok) process.exit(1);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
