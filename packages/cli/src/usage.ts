// Usage errors (exit 2) and the help texts of each command.
export class UsageError extends Error {
  readonly command: string | undefined;
  constructor(message: string, command?: string) {
    super(message);
    this.command = command;
  }
}

export const CHANNEL_HELP = 'CHANNEL is oci://HOST[:PORT]/PATH (https), oci+http://HOST[:PORT]/PATH (plain http) or oci-layout:DIR';
const CREDENTIALS_HELP =
  'Credentials never go on the command line: set OCI_CHANNEL_<HOST_PATH>_USERNAME / _PASSWORD or use a docker config.json (DOCKER_CONFIG or ~/.docker).';

export const HELP: Record<string, string> = {
  main: `oci-channel - publish conda packages to an OCI registry: upload -> validate -> promote -> reindex

Usage: oci-channel <command> [options]

Commands:
  upload    push package files to a staging channel
  validate  check staged artifacts and record a verdict on each
  promote   copy validated artifacts from staging to production
  reindex   rebuild a channel's repodata from production
  download  fetch one package from a channel, verified
  gc        delete old, unpromoted staging artifacts
  demo      run the whole flow on sample packages and solve an environment

Run 'oci-channel <command> --help' for a command's options.
${CHANNEL_HELP}.
${CREDENTIALS_HELP}
`,
  upload: `Usage: oci-channel upload --to CHANNEL [--source-url URL] [--concurrency N] [--json] FILE...

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
  validate: `Usage: oci-channel validate --staging CHANNEL --production CHANNEL [--owners DIR --uploader NAME] [--json] ARTIFACT...

Checks each staged artifact (manifest shape, declared sha256, the package itself, its info layers,
ownership, no different artifact in production) and records the verdict on the staging manifest,
signed with the channel admins' key from the OCI_CHANNEL_VERDICT_KEY environment variable when it is set.
ARTIFACT is SUBDIR/FILENAME, optionally followed by @sha256:HEX (the uploader's declared hash).

Options:
  --staging CHANNEL     the staging channel
  --production CHANNEL  the production channel
  --owners DIR          a feedstock-outputs checkout (outputs/<c1>/<c2>/<c3>/<name>.json)
  --uploader NAME       the feedstock that uploaded (checked against --owners)
  --concurrency N       artifacts in parallel (default 8)
  --json                print the result as one JSON object on stdout
  -h, --help            this help
`,
  promote: `Usage: oci-channel promote --staging CHANNEL --production CHANNEL [--owners DIR --uploader NAME] [--revalidate] [--json] ARTIFACT...

Copies artifacts with a passing verdict (validating first when needed) from staging to production,
verifies production, appends to the promotion log, then removes the staging copy. Only verdicts signed with
OCI_CHANNEL_VERDICT_KEY (environment only) are trusted; without it every artifact is validated here first.
ARTIFACT is SUBDIR/FILENAME, optionally followed by @sha256:HEX.

Options:
  --staging CHANNEL     the staging channel
  --production CHANNEL  the production channel
  --owners DIR          a feedstock-outputs checkout
  --uploader NAME       the feedstock that uploaded
  --revalidate          validate every artifact afresh instead of trusting its recorded verdict
  --concurrency N       artifacts in parallel (default 8)
  --json                print the result as one JSON object on stdout
  -h, --help            this help
`,
  reindex: `Usage: oci-channel reindex --channel CHANNEL [--subdir SUBDIR]... [--full] [--out DIR] [--cache-dir DIR] [--json]

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
  download: `Usage: oci-channel download --channel CHANNEL [--json] ARTIFACT -o FILE

Fetches SUBDIR/FILENAME[@sha256:HEX] from CHANNEL to FILE, verifying its sha256.

Options:
  --channel CHANNEL  the channel
  -o, --output FILE  where to write the package
  --json             print the result as one JSON object on stdout
  -h, --help         this help
`,
  gc: `Usage: oci-channel gc --channel CHANNEL --older-than DURATION [--dry-run] [--json]

Deletes staging artifacts older than DURATION (e.g. 2h, 30m, 7d) that were never promoted.

Options:
  --channel CHANNEL      the staging channel
  --older-than DURATION  age threshold: a number followed by s, m, h, d or w
  --dry-run              list what would be deleted, delete nothing
  --json                 print the result as one JSON object on stdout
  -h, --help             this help
  (on ghcr.io, where the registry cannot delete, set GITHUB_TOKEN and --github-owner OWNER [--github-owner-type org|user])
`,
  demo: `Usage: oci-channel demo [--registry oci+http://127.0.0.1:PORT/PATH] [--keep DIR] [--verbose]

Builds sample conda packages, uploads them to staging, validates and promotes them (showing a rejection),
reindexes production, serves the static index on loopback and solves an environment with rattler.
Without --registry everything runs on oci-layout: directories in a temporary folder.

Options:
  --registry URL  run against a real registry (staging and production under URL's path)
  --keep DIR      keep the channels and the static index in DIR instead of a temporary folder
  -v, --verbose   also show each step's progress (stderr)
  -h, --help      this help
`,
};

/** 90s, 30m, 2h, 7d, 1w, or plain milliseconds. */
export function parseDuration(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)?$/.exec(value.trim());
  if (!m) throw new UsageError(`invalid duration ${JSON.stringify(value)}: use a number followed by s, m, h, d or w (e.g. 2h)`, 'gc');
  const n = Number(m[1]);
  const unit = m[2] ?? 'ms';
  const factor = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[unit] ?? 1;
  return Math.round(n * factor);
}
