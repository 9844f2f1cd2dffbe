import { defaultCacheDir, reindex, removeSubdirIndex, type ReindexResult } from '@oci-channel/pipeline';
import { GITHUB_OPTIONS, githubAccess, location, noPositionals, optionalString, parse, required, visibilityCheck } from '../args.ts';
import { shortDigest, table } from '../output.ts';
import { UsageError } from '../usage.ts';
import type { Command } from './command.ts';

/** reindex's table (the demo prints it too): per subdir its packages, the repodata pushed, its label indexes. */
export function indexTable(result: ReindexResult): string {
  return (
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
    ) + (result.errors ?? []).map((e) => `error: ${e}\n`).join('')
  );
}

export const reindexCommand: Command = {
  name: 'reindex',
  summary: "rebuild a channel's repodata from production",
  help: `Usage: oci-channel reindex --channel CHANNEL [--subdir SUBDIR]... [--allow-subdir SUBDIR]... [--full] [--out DIR] [--cache-dir DIR]
                           [--patch-generator PATH|SUBDIR/FILENAME | --patch-package NAME] [--patch-instructions DIR]
                           [--github-owner OWNER [--github-owner-type org|user] [--visibility-check fail|warn|off]] [--json]
       oci-channel reindex --channel CHANNEL --remove-subdir SUBDIR [--json]

Rebuilds repodata.json (and its .zst, shards, channeldata) of a production channel and pushes it, with one
index per label under CHANNEL/label/LABEL (see oci-channel label). Repodata patches are applied as
conda-index applies them: those of a patches package, then DIR/SUBDIR/patch_instructions.json, then the
channel's own (SUBDIR/patch_instructions.json in the registry). A patches package that cannot be used stops
the run before anything is pushed.
A channel with neither packages nor a promotion log is refused (a wrong path), and so is a subdir conda
does not know (a typo such as linux-46). --remove-subdir deletes the index of a subdir that holds no
packages (e.g. one published by mistake) and rebuilds channeldata.json without it.

Options:
  --channel CHANNEL        the production channel
  --subdir SUBDIR          only this subdir (repeatable; default: every subdir plus noarch)
  --allow-subdir SUBDIR    admit SUBDIR in --subdir although conda does not know it (a new platform; repeatable)
  --remove-subdir SUBDIR   delete SUBDIR's index (refused while it holds packages), then rebuild channeldata.json
  --full                   list production instead of reading the promotion log
  --out DIR                also write the index and packages as a static channel tree
  --cache-dir DIR          record cache (default: $XDG_CACHE_HOME/oci-channel or ~/.cache/oci-channel)
  --patch-generator PATH   a patches package (.conda/.tar.bz2 holding SUBDIR/patch_instructions.json),
                           a file or SUBDIR/FILENAME of an artifact of the channel
  --patch-package NAME     the newest build of NAME in the channel's noarch as the patches package
                           (e.g. conda-forge-repodata-patches)
  --patch-instructions DIR plain DIR/SUBDIR/patch_instructions.json files (small channels)
  --github-owner O         on ghcr.io: after the first push of an index repository, read its visibility through the
                           GitHub Packages API (GITHUB_TOKEN from the environment); --github-owner-type org|user;
                           --visibility-check warn (default), fail (exit 1) or off
  --json                   print the result as one JSON object on stdout
  -h, --help               this help
`,
  async run(args, ctx) {
    const { values, positionals } = parse(this.name, args, {
      json: { type: 'boolean' },
      channel: { type: 'string' },
      subdir: { type: 'string', multiple: true },
      'allow-subdir': { type: 'string', multiple: true },
      'remove-subdir': { type: 'string' },
      full: { type: 'boolean' },
      out: { type: 'string' },
      'cache-dir': { type: 'string' },
      'patch-generator': { type: 'string' },
      'patch-package': { type: 'string' },
      'patch-instructions': { type: 'string' },
      'visibility-check': { type: 'string' },
      ...GITHUB_OPTIONS,
    });
    noPositionals(this.name, positionals);
    const channel = location(this.name, 'channel', required(this.name, values, 'channel'));
    const out = optionalString(values, 'out');
    const patchGenerator = optionalString(values, 'patch-generator');
    const patchPackage = optionalString(values, 'patch-package');
    const patchInstructions = optionalString(values, 'patch-instructions');
    if (patchGenerator !== undefined && patchPackage !== undefined) throw new UsageError('give --patch-generator or --patch-package, not both', this.name);
    const cacheDir = optionalString(values, 'cache-dir') ?? defaultCacheDir();
    const remove = optionalString(values, 'remove-subdir');
    if (remove !== undefined) {
      if (values.subdir !== undefined || values.full || out !== undefined) throw new UsageError('--remove-subdir goes alone (no --subdir, --full or --out)', this.name);
      const removed = await removeSubdirIndex({ channel, subdir: remove, cacheDir, progress: ctx.progress });
      if (values.json) return ctx.json(removed, removed.ok);
      ctx.out(
        removed.removed.length
          ? `Removed the index of ${remove} from ${channel} (${removed.removed.length} manifest(s)).\n`
          : `${channel} had no index for ${remove}: nothing to remove.\n`,
      );
      if (removed.channelDataRemoved) ctx.out(`The channel holds no packages: channeldata.json was removed too.\n`);
      if (removed.reindex) {
        ctx.out('\nchanneldata.json rebuilt without it; the index now:\n\n');
        ctx.out(indexTable(removed.reindex));
      }
      return removed.ok ? 0 : 1;
    }
    const github = githubAccess(this.name, values);
    const check = visibilityCheck(this.name, values);
    const result = await reindex({
      ...(github ? { github } : {}),
      ...(check ? { visibilityCheck: check } : {}),
      channel,
      progress: ctx.progress,
      cacheDir,
      ...(Array.isArray(values.subdir) ? { subdirs: values.subdir as string[] } : {}),
      ...(Array.isArray(values['allow-subdir']) ? { allowSubdirs: values['allow-subdir'] as string[] } : {}),
      ...(values.full ? { full: true } : {}),
      ...(out !== undefined ? { out } : {}),
      ...(patchGenerator !== undefined ? { patchGenerator } : {}),
      ...(patchPackage !== undefined ? { patchPackage } : {}),
      ...(patchInstructions !== undefined ? { patchInstructions } : {}),
    });
    if (values.json) return ctx.json(result, result.ok);
    ctx.out(indexTable(result));
    for (const p of result.privatePackages ?? []) ctx.out(`not public: ${p.fix}\n`);
    return result.ok ? 0 : 1;
  },
};
