import { defaultCacheDir, reindex } from '@oci-channel/pipeline';
import { GITHUB_OPTIONS, githubAccess, location, noPositionals, optionalString, parse, required, visibilityCheck } from '../args.ts';
import { shortDigest, table } from '../output.ts';
import type { Command } from './command.ts';

export const reindexCommand: Command = {
  name: 'reindex',
  summary: "rebuild a channel's repodata from production",
  help: `Usage: oci-channel reindex --channel CHANNEL [--subdir SUBDIR]... [--full] [--out DIR] [--cache-dir DIR]
       [--github-owner OWNER [--github-owner-type org|user] [--visibility-check fail|warn|off]] [--json]

Rebuilds repodata.json (and its .zst, shards, channeldata) of a production channel and pushes it.

Options:
  --channel CHANNEL  the production channel
  --subdir SUBDIR    only this subdir (repeatable; default: every subdir plus noarch)
  --full             list production instead of reading the promotion log
  --out DIR          also write the index and packages as a static channel tree
  --cache-dir DIR    record cache (default: $XDG_CACHE_HOME/oci-channel or ~/.cache/oci-channel)
  --github-owner O   on ghcr.io: after the first push of an index repository, read its visibility through the
                     GitHub Packages API (GITHUB_TOKEN from the environment); --github-owner-type org|user;
                     --visibility-check warn (default), fail (exit 1) or off
  --json             print the result as one JSON object on stdout
  -h, --help         this help
`,
  async run(args, ctx) {
    const { values, positionals } = parse(this.name, args, {
      json: { type: 'boolean' },
      channel: { type: 'string' },
      subdir: { type: 'string', multiple: true },
      full: { type: 'boolean' },
      out: { type: 'string' },
      'cache-dir': { type: 'string' },
      'visibility-check': { type: 'string' },
      ...GITHUB_OPTIONS,
    });
    noPositionals(this.name, positionals);
    const channel = location(this.name, 'channel', required(this.name, values, 'channel'));
    const out = optionalString(values, 'out');
    const github = githubAccess(this.name, values);
    const check = visibilityCheck(this.name, values);
    const result = await reindex({
      ...(github ? { github } : {}),
      ...(check ? { visibilityCheck: check } : {}),
      channel,
      progress: ctx.progress,
      cacheDir: optionalString(values, 'cache-dir') ?? defaultCacheDir(),
      ...(Array.isArray(values.subdir) ? { subdirs: values.subdir as string[] } : {}),
      ...(values.full ? { full: true } : {}),
      ...(out !== undefined ? { out } : {}),
    });
    if (values.json) return ctx.json(result, result.ok);
    ctx.out(
      table(
        ['SUBDIR', 'PACKAGES', 'ADDED', 'REPODATA', 'TAGS'],
        result.subdirs.map((s) => [s.subdir, String(s.packages), String(s.added), shortDigest(s.repodataDigest), s.tags.join(' ') || '(unchanged)']),
      ),
    );
    for (const p of result.privatePackages ?? []) ctx.out(`not public: ${p.fix}\n`);
    return result.ok ? 0 : 1;
  },
};
