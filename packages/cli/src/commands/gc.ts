import { gc } from '@oci-channel/pipeline';
import { GITHUB_OPTIONS, githubAccess, location, noPositionals, parse, required } from '../args.ts';
import { shortDigest, table } from '../output.ts';
import { parseDuration } from '../usage.ts';
import type { Command } from './command.ts';

export const gcCommand: Command = {
  name: 'gc',
  summary: 'delete old, unpromoted staging artifacts',
  help: `Usage: oci-channel gc --channel CHANNEL --older-than DURATION [--dry-run] [--allow-production-channel]
                      [--github-owner OWNER [--github-owner-type org|user]] [--json]

Deletes staging artifacts older than DURATION (e.g. 2h, 30m, 7d) that were never promoted, with their verdicts.
gc is for staging: a channel holding a promotion log or a channel index is production and is refused.

Options:
  --channel CHANNEL      the staging channel
  --older-than DURATION  age threshold: a number followed by s, m, h, d or w
  --dry-run              list what would be deleted and why, delete nothing
  --allow-production-channel
                         collect a channel although it holds a promotion log or an index (never production itself)
  --json                 print the result as one JSON object on stdout
  -h, --help             this help
  (on ghcr.io, where the registry cannot delete, set GITHUB_TOKEN and --github-owner OWNER [--github-owner-type org|user])
`,
  async run(args, ctx) {
    const { values, positionals } = parse(this.name, args, {
      json: { type: 'boolean' },
      channel: { type: 'string' },
      'older-than': { type: 'string' },
      'dry-run': { type: 'boolean' },
      'allow-production-channel': { type: 'boolean' },
      ...GITHUB_OPTIONS,
    });
    noPositionals(this.name, positionals);
    const channel = location(this.name, 'channel', required(this.name, values, 'channel'));
    const olderThanMs = parseDuration(required(this.name, values, 'older-than'));
    const github = githubAccess(this.name, values);
    const result = await gc({
      channel,
      olderThanMs,
      progress: ctx.progress,
      ...(values['dry-run'] ? { dryRun: true } : {}),
      ...(values['allow-production-channel'] ? { allowProduction: true } : {}),
      ...(github ? { github } : {}),
    });
    if (values.json) return ctx.json(result, result.ok);
    if (result.deleted.length === 0) ctx.out(`Nothing in ${channel} is older than ${required(this.name, values, 'older-than')} and unpromoted: nothing ${values['dry-run'] ? 'would be' : 'was'} deleted.\n`);
    else {
      ctx.out(
        table(
          [values['dry-run'] ? 'WOULD DELETE' : 'DELETED', 'TAG', 'DIGEST', 'WHY'],
          result.deleted.map((d) => [d.repository, d.tag ?? '-', shortDigest(d.digest), d.reason]),
        ),
      );
      if (values['dry-run']) ctx.out(`\nDry run: nothing was deleted; ${result.deleted.length} manifest(s) would be.\n`);
    }
    if (result.errors.length) ctx.out('\n' + table(['FAILED', 'REASON'], result.errors.map((e) => [e.repository, e.error])));
    if (result.stoppedEarly) ctx.out(`\n${result.stoppedEarly}\n`);
    return result.ok ? 0 : 1;
  },
};
