import { mirror, type ProgressEvent } from '@oci-channel/pipeline';
import { COMMON_OPTIONS, concurrency, location, noPositionals, optionalString, parse, required } from '../args.ts';
import { formatBytes, table } from '../output.ts';
import { CHANNEL_HELP, UsageError } from '../usage.ts';
import type { Command } from './command.ts';

/** YYYY-MM-DD (UTC midnight) or an RFC 3339 time. */
function parseSince(value: string): Date {
  const ok = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/.test(value.trim());
  const date = new Date(value.trim());
  if (!ok || Number.isNaN(date.getTime())) throw new UsageError(`--since ${JSON.stringify(value)} is not a date: use YYYY-MM-DD or an RFC 3339 time`, 'mirror');
  return date;
}

export const mirrorCommand: Command = {
  name: 'mirror',
  summary: 'copy an existing conda channel into the registry, incrementally',
  help: `Usage: oci-channel mirror --from URL --to CHANNEL [--subdir S]... [--package GLOB]... [--since DATE]
                          [--production] [--apply-removals] [--dry-run] [--concurrency N] [--verbose] [--json]

Copies the packages of an existing channel into CHANNEL in the conda OCI layout v0. URL is an http(s) conda
channel (https://conda.anaconda.org/conda-forge, a static file server, a 'reindex --out' tree) or another
oci-channel location. Its index is read as a conda client reads it (CEP 16 shards where offered, else
repodata.json.zst, else repodata.json); each package is streamed, checked against upstream's sha256, md5 and
size (a mismatch is refused and nothing is pushed for it), then pushed as upload pushes it. Files CHANNEL holds
already are skipped without a transfer: a second run sends only what is new, an interrupted run resumes.

Options:
  --from URL          the channel to copy
  --to CHANNEL        where to put it: a staging channel (then validate and promote), or production with --production
                      (${CHANNEL_HELP})
  --subdir S          only this subdir (repeatable; default every subdir upstream's channeldata.json lists)
  --package GLOB      only package names matching GLOB (repeatable; * ? [..] as in fnmatch)
  --since DATE        only files built at or after DATE (YYYY-MM-DD or RFC 3339, by the record's timestamp)
  --production        CHANNEL is production (the bootstrap): every package is read in full, and each mirrored
                      file is recorded in the promotion log so reindex sees it like a promotion
  --apply-removals    put files upstream no longer lists into the upstream patch's remove list (always reported)
  --dry-run           compare only: list what would be mirrored, transfer and write nothing
  --concurrency N     builds in parallel (default 8)
  -v, --verbose       show every file's progress, not only the status line and problems
  --json              print the result as one JSON object on stdout (with the upstream patch per subdir)
  -h, --help          this help
`,
  async run(args, ctx) {
    const { values, positionals } = parse(this.name, args, {
      ...COMMON_OPTIONS,
      from: { type: 'string' },
      to: { type: 'string' },
      subdir: { type: 'string', multiple: true },
      package: { type: 'string', multiple: true },
      since: { type: 'string' },
      production: { type: 'boolean' },
      'apply-removals': { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      verbose: { type: 'boolean', short: 'v' },
    });
    noPositionals(this.name, positionals);
    const from = required(this.name, values, 'from');
    if (/^(oci|oci\+http):\/\//.test(from) || from.startsWith('oci-layout:')) location(this.name, 'from', from);
    else if (!/^https?:\/\//.test(from)) throw new UsageError('--from must be an http(s) channel URL or an oci-channel location (oci://, oci+http://, oci-layout:)', this.name);
    const to = location(this.name, 'to', required(this.name, values, 'to'));
    const since = optionalString(values, 'since');
    const globs = (values.package as string[] | undefined) ?? [];
    if (globs.some((g) => g === '')) throw new UsageError('--package needs a non-empty GLOB', this.name);
    // The status line and problems; every file's steps only with --verbose (a channel has millions of files).
    const progress = (event: ProgressEvent) => {
      if (values.verbose || !event.artifact || /^(refused|failed)/.test(event.message)) ctx.progress(event);
    };
    const result = await mirror({
      from,
      to,
      progress,
      concurrency: concurrency(this.name, values),
      ...(Array.isArray(values.subdir) ? { subdirs: values.subdir as string[] } : {}),
      ...(globs.length ? { packages: globs } : {}),
      ...(since !== undefined ? { since: parseSince(since) } : {}),
      ...(values.production ? { production: true } : {}),
      ...(values['apply-removals'] ? { applyRemovals: true } : {}),
      ...(values['dry-run'] ? { dryRun: true } : {}),
    });
    if (values.json) return ctx.json(result, result.ok);
    const listed = result.artifacts.filter((a) => a.status !== 'mirrored' || values.verbose);
    if (listed.length) ctx.out(table(['STATUS', 'ARTIFACT', 'SIZE', 'REASON'], listed.map((a) => [a.status, `${a.subdir}/${a.filename}`, formatBytes(a.size), a.reason ?? ''])) + '\n');
    if (result.removedUpstream.length) ctx.out(table(['REMOVED UPSTREAM'], result.removedUpstream.map((r) => [`${r.subdir}/${r.filename}`])) + '\n');
    for (const e of result.errors) ctx.out(`error: ${e}\n`);
    for (const p of result.patches) {
      const records = Object.keys(p.instructions.packages).length + Object.keys(p.instructions['packages.conda']).length;
      ctx.out(`${p.subdir}: upstream patched ${records} record(s)${p.instructions.remove.length ? `, removes ${p.instructions.remove.length}` : ''} (--json shows the patch instructions)\n`);
    }
    const s = result.summary;
    ctx.out(
      `${values['dry-run'] ? `${result.artifacts.filter((a) => a.status === 'would-mirror').length} would be mirrored` : `${s.mirrored} mirrored (${formatBytes(s.bytes)})`}, ` +
        `${s.alreadyThere} already there, ${s.refused} refused, ${s.failed} failed, ${s.removedUpstream} removed upstream\n`,
    );
    return result.ok ? 0 : 1;
  },
};
