// Child process running oci-channel's upload step, so the bench measures the whole process (startup, peak
// RSS) as a user's `oci-channel upload` would. Run: node bench/workers/upload.ts <channel> <list-file> [concurrency]
// where list-file holds one package path per line. Prints one JSON line: counts and maxRSS.
import { readFile } from 'node:fs/promises';
import { upload } from '@oci-channel/pipeline';
import { peakRssBytes } from '../lib/peak-rss.ts';

// A main function, not top-level await: the bench runs this bundled by ncc, as the actions ship (bench/lib/bundle.ts).
async function main(): Promise<void> {
  const [to, listFile, concurrencyText] = process.argv.slice(2);
  if (!to || !listFile) {
    console.error('usage: node bench/workers/upload.ts <channel> <list-file> [concurrency]');
    process.exit(2);
  }
  const files = (await readFile(listFile, 'utf8')).split('\n').filter(Boolean);
  const result = await upload({ to, files, ...(concurrencyText ? { concurrency: Number(concurrencyText) } : {}) });
  process.stdout.write(
    `${JSON.stringify({
      ok: result.ok,
      uploaded: result.artifacts.filter((a) => a.status === 'uploaded').length,
      unchanged: result.artifacts.filter((a) => a.status === 'unchanged').length,
      artifacts: result.artifacts.map((a) => ({ subdir: a.subdir, filename: a.filename, repository: a.repository, tag: a.tag, sha256: a.sha256 })),
      errors: result.errors,
      maxRssBytes: peakRssBytes(),
    })}\n`,
  );
  if (!result.ok) {
    console.error(`upload failed: ${result.errors.map((e) => `${e.file}: ${e.error}`).join('; ').slice(0, 2000)}`);
    process.exit(1);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
