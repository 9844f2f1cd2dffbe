import { upload } from '@oci-channel/pipeline';
import { COMMON_OPTIONS, concurrency, location, optionalString, parse, required } from '../args.ts';
import path from 'node:path';
import { formatBytes, reasonCell, shortDigest, table } from '../output.ts';
import { CHANNEL_HELP, UsageError } from '../usage.ts';
import type { Command } from './command.ts';

export const uploadCommand: Command = {
  name: 'upload',
  summary: 'push package files to a staging channel',
  help: `Usage: oci-channel upload --to CHANNEL [--source-url URL] [--concurrency N] [--json] FILE...

Pushes .conda / .tar.bz2 files to CHANNEL (a staging channel) in the conda OCI layout v0.
A second format of the same build is merged into the manifest; an identical re-upload is a no-op;
a different package under an existing name is refused.

Options:
  --to CHANNEL       where to upload (${CHANNEL_HELP})
  --source-url URL   recorded in the manifest (org.opencontainers.image.source)
  --concurrency N    files in parallel (default 8)
  --json             print the result as one JSON object on stdout
  -h, --help         this help
`,
  async run(args, ctx) {
    const { values, positionals } = parse(this.name, args, { ...COMMON_OPTIONS, to: { type: 'string' }, 'source-url': { type: 'string' } });
    const to = location(this.name, 'to', required(this.name, values, 'to'));
    if (positionals.length === 0) throw new UsageError('no FILE given', this.name);
    const sourceUrl = optionalString(values, 'source-url');
    const result = await upload({
      to,
      files: positionals,
      progress: ctx.progress,
      concurrency: concurrency(this.name, values),
      ...(sourceUrl !== undefined ? { sourceUrl } : {}),
    });
    if (values.json) return ctx.json(result, result.ok);
    if (result.artifacts.length === 0) ctx.out(`Nothing was uploaded to ${to}.\n`);
    else {
      ctx.out(
        table(
          ['STATUS', 'ARTIFACT', 'SIZE', 'SHA256', 'MANIFEST'],
          result.artifacts.map((a) => [a.status, `${a.subdir}/${a.filename}`, formatBytes(a.size), a.sha256.slice(0, 12), shortDigest(a.manifestDigest)]),
        ),
      );
    }
    if (result.errors.length) {
      ctx.out('\n' + table(['REFUSED', 'REASON'], result.errors.map((e) => [e.file, reasonCell(e.error, e.file, path.basename(e.file))])));
    }
    ctx.out(`\n${result.artifacts.length} uploaded or unchanged, ${result.errors.length} refused\n`);
    return result.ok ? 0 : 1;
  },
};
