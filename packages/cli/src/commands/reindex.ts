import { defaultCacheDir, reindex } from '@oci-channel/pipeline';
import { location, noPositionals, optionalString, parse, required } from '../args.ts';
import { shortDigest, table } from '../output.ts';
import type { Command } from './command.ts';

export const reindexCommand: Command = {
  name: 'reindex',
  summary: "rebuild a channel's repodata from production",
  help: `Usage: oci-channel reindex --channel CHANNEL [--subdir SUBDIR]... [--full] [--out DIR] [--cache-dir DIR] [--json]

Rebuilds repodata.json (and its .zst, shards, channeldata) of a production channel and pushes it.

Options:
  --channel CHANNEL  the production channel
  --subdir SUBDIR    only this subdir (repeatable; default: every subdir plus noarch)
  --full             list production instead of reading the promotion log
  --out DIR          also write the index and packages as a static channel tree
  --cache-dir DIR    record cache (default: $XDG_CACHE_HOME/oci-channel or ~/.cache/oci-channel)
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
    });
    noPositionals(this.name, positionals);
    const channel = location(this.name, 'channel', required(this.name, values, 'channel'));
    const out = optionalString(values, 'out');
    const result = await reindex({
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
    return result.ok ? 0 : 1;
  },
};
