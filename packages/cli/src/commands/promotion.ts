// validate and promote take the same request: two channels, the artifacts, and who uploaded them.
import { promote, validate, type ValidateOptions } from '@oci-channel/pipeline';
import { artifacts, COMMON_OPTIONS, concurrency, GITHUB_OPTIONS, githubAccess, location, parse, required, visibilityCheck, type Values } from '../args.ts';
import { shortDigest, table } from '../output.ts';
import { UsageError } from '../usage.ts';
import type { Command, CommandContext } from './command.ts';

const PROMOTION_OPTIONS = {
  ...COMMON_OPTIONS,
  staging: { type: 'string' },
  production: { type: 'string' },
  owners: { type: 'string' },
  uploader: { type: 'string' },
} as const;

function promotionOptions(command: string, values: Values, positionals: string[], ctx: CommandContext): ValidateOptions {
  const staging = location(command, 'staging', required(command, values, 'staging'));
  const production = location(command, 'production', required(command, values, 'production'));
  if (values.owners !== undefined && values.uploader === undefined) throw new UsageError('--owners needs --uploader NAME (the feedstock to check)', command);
  return {
    staging,
    production,
    artifacts: artifacts(command, positionals),
    progress: ctx.progress,
    concurrency: concurrency(command, values),
    ...(typeof values.owners === 'string' ? { owners: values.owners } : {}),
    ...(typeof values.uploader === 'string' ? { uploader: values.uploader } : {}),
  };
}

export const validateCommand: Command = {
  name: 'validate',
  summary: 'check staged artifacts and record a verdict on each',
  help: `Usage: oci-channel validate --staging CHANNEL --production CHANNEL [--owners DIR --uploader NAME] [--json] ARTIFACT...

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
  async run(args, ctx) {
    const { values, positionals } = parse(this.name, args, PROMOTION_OPTIONS);
    const result = await validate(promotionOptions(this.name, values, positionals, ctx));
    if (values.json) return ctx.json(result, result.ok);
    ctx.out(
      table(
        ['VERDICT', 'ARTIFACT', 'CHECKS', 'REASON'],
        result.artifacts.map((a) => [a.verdict, `${a.subdir}/${a.filename}`, `${a.checks.filter((c) => c.ok).length}/${a.checks.length} ok`, a.reason ?? '']),
      ),
    );
    ctx.out(`\n${result.artifacts.filter((a) => a.verdict === 'passed').length} passed, ${result.artifacts.filter((a) => a.verdict !== 'passed').length} failed\n`);
    return result.ok ? 0 : 1;
  },
};

export const promoteCommand: Command = {
  name: 'promote',
  summary: 'copy validated artifacts from staging to production',
  help: `Usage: oci-channel promote --staging CHANNEL --production CHANNEL [--owners DIR --uploader NAME] [--revalidate]
       [--github-owner OWNER [--github-owner-type org|user] [--visibility-check fail|warn|off]] [--json] ARTIFACT...

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
  --github-owner OWNER  on ghcr.io: read the visibility of each new production package through the GitHub
                        Packages API (GITHUB_TOKEN from the environment) and report a private one with the fix
  --github-owner-type T org (default) or user
  --visibility-check M  warn (default with --github-owner), fail (exit 1) or off
  --concurrency N       artifacts in parallel (default 16)
  --json                print the result as one JSON object on stdout
  -h, --help            this help
`,
  async run(args, ctx) {
    const { values, positionals } = parse(this.name, args, {
      ...PROMOTION_OPTIONS,
      ...GITHUB_OPTIONS,
      revalidate: { type: 'boolean' },
      'visibility-check': { type: 'string' },
    });
    const options = promotionOptions(this.name, values, positionals, ctx);
    const github = githubAccess(this.name, values);
    const check = visibilityCheck(this.name, values);
    const result = await promote({
      ...options,
      ...(values.revalidate ? { revalidate: true } : {}),
      ...(github ? { github } : {}),
      ...(check ? { visibilityCheck: check } : {}),
    });
    if (values.json) return ctx.json(result, result.ok);
    ctx.out(
      table(
        ['STATUS', 'ARTIFACT', 'PRODUCTION', 'STAGING', 'REASON'],
        result.artifacts.map((a) => [
          a.status,
          `${a.subdir}/${a.filename}`,
          shortDigest(a.productionDigest),
          a.stagingRemoved === undefined ? '-' : a.stagingRemoved ? 'removed' : 'kept (gc)',
          a.reason ?? '',
        ]),
      ),
    );
    const good = result.artifacts.filter((a) => a.status === 'promoted' || a.status === 'already-promoted').length;
    ctx.out(`\n${good} promoted or already there, ${result.artifacts.length - good} rejected or failed\n`);
    if (result.streamedBytes) ctx.out(`${result.streamedBytes} bytes copied registry to registry because the registry did not mount them\n`);
    for (const p of result.privatePackages ?? []) ctx.out(`not public: ${p.fix}\n`);
    return result.ok ? 0 : 1;
  },
};
