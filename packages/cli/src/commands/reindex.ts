import { defaultCacheDir, reindex } from '@oci-channel/pipeline';
import { location, noPositionals, optionalString, parse, required } from '../args.ts';
import { shortDigest, table } from '../output.ts';
import { UsageError } from '../usage.ts';
import type { Command } from './command.ts';

export const reindexCommand: Command = {
  name: 'reindex',
  summary: "rebuild a channel's repodata from production",
  help: `Usage: oci-channel reindex --channel CHANNEL [--subdir SUBDIR]... [--full] [--out DIR] [--cache-dir DIR]
                           [--patch-generator PATH|SUBDIR/FILENAME | --patch-package NAME] [--patch-instructions DIR] [--json]

Rebuilds repodata.json (and its .zst, shards, channeldata) of a production channel and pushes it, with one
index per label under CHANNEL/label/LABEL (see oci-channel label). Repodata patches are applied as
conda-index applies them: those of a patches package, then DIR/SUBDIR/patch_instructions.json, then the
channel's own (SUBDIR/patch_instructions.json in the registry). A patches package that cannot be used stops
the run before anything is pushed.

Options:
  --channel CHANNEL        the production channel
  --subdir SUBDIR          only this subdir (repeatable; default: every subdir plus noarch)
  --full                   list production instead of reading the promotion log
  --out DIR                also write the index and packages as a static channel tree
  --cache-dir DIR          record cache (default: $XDG_CACHE_HOME/oci-channel or ~/.cache/oci-channel)
  --patch-generator PATH   a patches package (.conda/.tar.bz2 holding SUBDIR/patch_instructions.json),
                           a file or SUBDIR/FILENAME of an artifact of the channel
  --patch-package NAME     the newest build of NAME in the channel's noarch as the patches package
                           (e.g. conda-forge-repodata-patches)
  --patch-instructions DIR plain DIR/SUBDIR/patch_instructions.json files (small channels)
  --json                   print the result as one JSON object on stdout
  -h, --help               this help
`,
  async run(args, ctx) {
    const { values, positionals } = parse(this.name, args, {
      json: { type: 'boolean' },
      channel: { type: 'string' },
      subdir: { type: 'string', multiple: true },
      full: { type: 'boolean' },
      out: { type: 'string' },
      'cache-dir': { type: 'string' },
      'patch-generator': { type: 'string' },
      'patch-package': { type: 'string' },
      'patch-instructions': { type: 'string' },
    });
    noPositionals(this.name, positionals);
    const channel = location(this.name, 'channel', required(this.name, values, 'channel'));
    const out = optionalString(values, 'out');
    const patchGenerator = optionalString(values, 'patch-generator');
    const patchPackage = optionalString(values, 'patch-package');
    const patchInstructions = optionalString(values, 'patch-instructions');
    if (patchGenerator !== undefined && patchPackage !== undefined) throw new UsageError('give --patch-generator or --patch-package, not both', this.name);
    const result = await reindex({
      channel,
      progress: ctx.progress,
      cacheDir: optionalString(values, 'cache-dir') ?? defaultCacheDir(),
      ...(Array.isArray(values.subdir) ? { subdirs: values.subdir as string[] } : {}),
      ...(values.full ? { full: true } : {}),
      ...(out !== undefined ? { out } : {}),
      ...(patchGenerator !== undefined ? { patchGenerator } : {}),
      ...(patchPackage !== undefined ? { patchPackage } : {}),
      ...(patchInstructions !== undefined ? { patchInstructions } : {}),
    });
    if (values.json) return ctx.json(result, result.ok);
    ctx.out(
      table(
        ['SUBDIR', 'PACKAGES', 'ADDED', 'REMOVED', 'REPODATA', 'TAGS', 'LABELS'],
        result.subdirs.map((s) => [
          s.subdir,
          String(s.packages),
          String(s.added),
          String(s.removed ?? 0),
          shortDigest(s.repodataDigest),
          s.tags.join(' ') || '(unchanged)',
          (s.labels ?? []).map((l) => `${l.label}:${l.packages}${l.pushed ? '*' : ''}`).join(' ') || '-',
        ]),
      ),
    );
    return result.ok ? 0 : 1;
  },
};
