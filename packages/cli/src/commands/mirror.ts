import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LISTED_ARTIFACTS, mirror, patchLine, printedMirrorResult, problemsFirst, type ProgressEvent } from '@oci-channel/pipeline';
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
                          [--production [--no-patches]] [--apply-removals] [--dry-run] [--concurrency N]
                          [--result-file FILE] [--verbose] [--json]

Copies the packages of an existing channel into CHANNEL in the conda OCI layout v0. URL is an http(s) conda
channel (https://conda.anaconda.org/conda-forge, a static file server, a 'reindex --out' tree) or another
oci-channel location. Its index is read as a conda client reads it (CEP 16 shards where offered, else
repodata.json.zst, else repodata.json); each package is streamed, checked against upstream's sha256, md5 and
size (a mismatch is refused and nothing is pushed for it), then pushed as upload pushes it. Files CHANNEL holds
already are skipped without a transfer: a second run sends only what is new, an interrupted run resumes.
Into production, where upstream serves a record other than its package's (repodata patches), that record is
kept in the channel's patch instructions (<subdir>/patch_instructions.json), so reindex serves upstream's.

Options:
  --from URL          the channel to copy
  --to CHANNEL        where to put it: a staging channel (then validate and promote), or production with --production
                      (${CHANNEL_HELP})
  --subdir S          only this subdir (repeatable; default every subdir upstream's channeldata.json lists)
  --package GLOB      only package names matching GLOB (repeatable; * ? [..] as in fnmatch)
  --since DATE        only files built at or after DATE (YYYY-MM-DD or RFC 3339, by the record's timestamp)
  --production        CHANNEL is production (the bootstrap): every package is read in full, upstream's patched
                      records are stored as the channel's patch instructions, and each mirrored file is recorded
                      in the promotion log so reindex sees it like a promotion
  --no-patches        with --production: store no patch instructions (the channel is indexed with its patches
                      package instead, reindex --patch-package NAME)
  --apply-removals    put files upstream no longer lists into the patch instructions' remove list (always reported)
  --dry-run           compare only: list what would be mirrored, transfer and write nothing
  --concurrency N     builds in parallel (default 8)
  --result-file FILE  write the whole result as JSON to FILE (every file, the patch instructions not written)
  -v, --verbose       show every file's progress and every file in the summary, not only the status line and
                      problems
  --json              print the result as one JSON object on stdout (at most ${LISTED_ARTIFACTS} files, problems first;
                      the rest in --result-file)
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
      'no-patches': { type: 'boolean' },
      'result-file': { type: 'string' },
      'dry-run': { type: 'boolean' },
      verbose: { type: 'boolean', short: 'v' },
    });
    noPositionals(this.name, positionals);
    const from = required(this.name, values, 'from');
    if (/^(oci|oci\+http):\/\//.test(from) || from.startsWith('oci-layout:')) location(this.name, 'from', from);
    else if (!/^https?:\/\//.test(from)) throw new UsageError('--from must be an http(s) channel URL or an oci-channel location (oci://, oci+http://, oci-layout:)', this.name);
    const to = location(this.name, 'to', required(this.name, values, 'to'));
    const since = optionalString(values, 'since');
    const resultFile = optionalString(values, 'result-file');
    if (values['no-patches'] && !values.production) throw new UsageError('--no-patches goes with --production (patch instructions are only written into production)', this.name);
    if (values['no-patches'] && values['apply-removals']) throw new UsageError('--apply-removals writes the patch instructions\' remove list: it cannot go with --no-patches', this.name);
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
      ...(values['no-patches'] ? { patches: false } : {}),
      ...(values['dry-run'] ? { dryRun: true } : {}),
    });
    if (resultFile) await writeFile(resultFile, `${JSON.stringify(result)}\n`);
    const whole = resultFile ? `the whole list is in ${path.resolve(resultFile)}` : 'give --result-file FILE for the whole list';
    if (values.json) return ctx.json({ ...printedMirrorResult(result), ...(resultFile ? { resultFile: path.resolve(resultFile) } : {}) }, result.ok);
    const listed = problemsFirst(result.artifacts.filter((a) => a.status !== 'mirrored' || values.verbose));
    const shown = values.verbose ? listed : listed.slice(0, LISTED_ARTIFACTS);
    if (shown.length) ctx.out(table(['STATUS', 'ARTIFACT', 'SIZE', 'REASON'], shown.map((a) => [a.status, `${a.subdir}/${a.filename}`, formatBytes(a.size), a.reason ?? ''])) + '\n');
    if (shown.length < listed.length) ctx.out(`... and ${listed.length - shown.length} more file(s); ${whole}\n`);
    if (result.removedUpstream.length) ctx.out(table(['REMOVED UPSTREAM'], result.removedUpstream.map((r) => [`${r.subdir}/${r.filename}`])) + '\n');
    for (const e of result.errors) ctx.out(`error: ${e}\n`);
    for (const p of result.patches) ctx.out(`${patchLine(p)}\n`);
    const s = result.summary;
    ctx.out(
      `${values['dry-run'] ? `${result.artifacts.filter((a) => a.status === 'would-mirror').length} would be mirrored` : `${s.mirrored} mirrored (${formatBytes(s.bytes)})`}, ` +
        `${s.alreadyThere} already there, ${s.refused} refused, ${s.failed} failed, ${s.removedUpstream} removed upstream\n`,
    );
    return result.ok ? 0 : 1;
  },
};
