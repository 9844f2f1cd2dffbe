// validate and promote take the same request: two channels, the artifacts, the label they go to, and who uploaded
// them (proved by an OIDC identity token, or named with --uploader for local use and then shown as unverified).
import { readFileSync } from 'node:fs';
import { labelProblem } from '@oci-channel/conda';
import {
  checkIssuerUrl,
  describeUploader,
  GITHUB_ACTIONS_ISSUER,
  IdentityError,
  MAX_TOKEN_AGE_LIMIT_MS,
  MAX_TOKEN_LENGTH,
  promote,
  validate,
  type ArtifactVerdict,
  type IdentityOptions,
  type PromotedArtifact,
  type UploaderIdentity,
  type ValidateOptions,
} from '@oci-channel/pipeline';
import { artifacts, COMMON_OPTIONS, concurrency, GITHUB_OPTIONS, githubAccess, location, optionalString, parse, required, visibilityCheck, type Values } from '../args.ts';
import { reasonCell, shortDigest, table } from '../output.ts';
import { parseDuration, UsageError } from '../usage.ts';
import type { Command, CommandContext } from './command.ts';

/** The token itself (not a file name), for CIs that hand it over in the environment. */
export const IDENTITY_TOKEN_ENV = 'OCI_CHANNEL_IDENTITY_TOKEN';

const PROMOTION_OPTIONS = {
  ...COMMON_OPTIONS,
  staging: { type: 'string' },
  production: { type: 'string' },
  owners: { type: 'string' },
  uploader: { type: 'string' },
  'identity-token': { type: 'string' },
  'oidc-issuer': { type: 'string' },
  'allowed-owner': { type: 'string', multiple: true },
  'allowed-workflow': { type: 'string' },
  'max-token-age': { type: 'string' },
  label: { type: 'string' },
} as const;

const IDENTITY_HELP = `  --identity-token FILE    the upload's OIDC identity token (or the token itself in ${IDENTITY_TOKEN_ENV});
                           verified first, its repository is the uploader (the feedstock checked against --owners)
  --oidc-issuer URL        the token's issuer (default ${GITHUB_ACTIONS_ISSUER}; http only on loopback)
  --allowed-owner OWNER    a GitHub owner whose repositories may publish (repeatable; required with a token)
  --allowed-workflow PAT   the token's job_workflow_ref must match PAT (* = any run of characters)
  --max-token-age DURATION accept the token this long after it was minted (default 24h, at most 7d)
  --owners DIR             a feedstock-outputs checkout (outputs/<c1>/<c2>/<c3>/<name>.json, glob allow-list)
  --uploader NAME          local use without a token: the feedstock that uploaded, shown as unverified`;

function identityToken(command: string, values: Values): string | undefined {
  const file = optionalString(values, 'identity-token');
  if (file === undefined) return process.env[IDENTITY_TOKEN_ENV]?.trim() || undefined;
  let text: string;
  try {
    const bytes = readFileSync(file);
    if (bytes.byteLength > MAX_TOKEN_LENGTH) throw new UsageError(`--identity-token ${file} is larger than ${MAX_TOKEN_LENGTH} bytes: it is not a token`, command);
    text = bytes.toString('utf8').trim();
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`cannot read --identity-token ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, command);
  }
  if (!text) throw new UsageError(`--identity-token ${file} is empty`, command);
  return text;
}

function identityOptions(command: string, values: Values, refs: ValidateOptions['artifacts']): IdentityOptions | undefined {
  const token = identityToken(command, values);
  const owners = (values['allowed-owner'] as string[] | undefined) ?? [];
  const issuer = optionalString(values, 'oidc-issuer');
  const workflow = optionalString(values, 'allowed-workflow');
  const age = optionalString(values, 'max-token-age');
  if (!token) {
    const given = [owners.length ? '--allowed-owner' : '', issuer ? '--oidc-issuer' : '', workflow ? '--allowed-workflow' : '', age ? '--max-token-age' : ''].filter(Boolean);
    if (given.length) throw new UsageError(`${given[0]} needs an identity token (--identity-token FILE or ${IDENTITY_TOKEN_ENV})`, command);
    return undefined;
  }
  if (values.uploader !== undefined) throw new UsageError('--uploader cannot be used with an identity token: the token says who uploaded', command);
  if (owners.length === 0) throw new UsageError('an identity token needs --allowed-owner OWNER (the GitHub owners whose repositories may publish)', command);
  const missing = refs.find((r) => r.sha256 === undefined);
  if (missing) throw new UsageError(`${missing.subdir}/${missing.filename} has no @sha256:HEX: a token is bound to exact bytes, give each artifact's sha256`, command);
  try {
    if (issuer !== undefined) checkIssuerUrl(issuer);
  } catch (error) {
    if (error instanceof IdentityError) throw new UsageError(`--oidc-issuer: ${error.message}`, command);
    throw error;
  }
  const maxTokenAgeMs = age === undefined ? undefined : parseDuration(age, command);
  if (maxTokenAgeMs !== undefined && (maxTokenAgeMs <= 0 || maxTokenAgeMs > MAX_TOKEN_AGE_LIMIT_MS)) throw new UsageError('--max-token-age must be more than 0 and at most 7d', command);
  return {
    token,
    allowedOwners: owners,
    ...(issuer !== undefined ? { issuer } : {}),
    ...(workflow !== undefined ? { allowedWorkflow: workflow } : {}),
    ...(maxTokenAgeMs !== undefined ? { maxTokenAgeMs } : {}),
  };
}

function promotionOptions(command: string, values: Values, positionals: string[], ctx: CommandContext): ValidateOptions {
  const staging = location(command, 'staging', required(command, values, 'staging'));
  const production = location(command, 'production', required(command, values, 'production'));
  const refs = artifacts(command, positionals);
  const identity = identityOptions(command, values, refs);
  if (values.owners !== undefined && values.uploader === undefined && !identity) {
    throw new UsageError(`--owners needs who uploaded: --identity-token FILE (or ${IDENTITY_TOKEN_ENV}), or --uploader NAME for local use`, command);
  }
  return {
    staging,
    production,
    artifacts: refs,
    progress: ctx.progress,
    concurrency: concurrency(command, values),
    ...(typeof values.owners === 'string' ? { owners: values.owners } : {}),
    ...(identity ? { identity } : {}),
    ...(typeof values.uploader === 'string' ? { uploader: values.uploader } : {}),
    ...(typeof values.label === 'string' ? { label: checkedLabel(command, values.label) } : {}),
  };
}

function uploaderLine(uploader: UploaderIdentity | undefined): string {
  return `uploader: ${uploader ? describeUploader(uploader) : 'none given (or the identity token was refused)'}${uploader?.workflow ? ` (workflow ${uploader.workflow})` : ''}\n`;
}

function checkedLabel(command: string, value: string): string {
  const problem = labelProblem(value);
  if (problem) throw new UsageError(`--label: ${problem}`, command);
  return value;
}

/** validate's table (the demo prints it too): each artifact's verdict, checks passed, the first failure. */
export function verdictTable(artifacts: ArtifactVerdict[]): string {
  return table(
    ['VERDICT', 'ARTIFACT', 'CHECKS', 'REASON'],
    artifacts.map((a) => [a.verdict, `${a.subdir}/${a.filename}`, `${a.checks.filter((c) => c.ok).length}/${a.checks.length} ok`, reasonCell(a.reason, `${a.subdir}/${a.filename}`, a.filename)]),
  );
}

/** promote's table (the demo prints it too): each artifact's status, production digest, its staging copy. */
export function promotionTable(artifacts: PromotedArtifact[]): string {
  return table(
    ['STATUS', 'ARTIFACT', 'PRODUCTION', 'STAGING', 'REASON'],
    artifacts.map((a) => [
      a.status,
      `${a.subdir}/${a.filename}`,
      shortDigest(a.productionDigest),
      a.stagingRemoved === undefined ? '-' : a.stagingRemoved ? 'removed' : 'kept (gc)',
      reasonCell(a.reason, `${a.subdir}/${a.filename}`, a.filename),
    ]),
  );
}

export const validateCommand: Command = {
  name: 'validate',
  summary: 'check staged artifacts and record a verdict on each',
  help: `Usage: oci-channel validate --staging CHANNEL --production CHANNEL [--identity-token FILE --allowed-owner OWNER...] [--owners DIR] [--label LABEL] [--json] ARTIFACT...

Verifies who uploaded (the OIDC identity token), then checks each staged artifact (manifest shape, declared
sha256, the package itself, the manifest equal to the one the package yields, ownership, no different
artifact in production) and records the verdict on the staging manifest, signed with the channel admins'
key from the OCI_CHANNEL_VERDICT_KEY environment variable when it is set.
ARTIFACT is SUBDIR/FILENAME, optionally followed by @sha256:HEX (required with a token: it is bound to it).

Options:
  --staging CHANNEL        the staging channel
  --production CHANNEL     the production channel
${IDENTITY_HELP}
  --label LABEL            the label the request promotes to (default main; the identity token vouches for it)
  --concurrency N          artifacts in parallel (default 8)
  --json                   print the result as one JSON object on stdout
  -h, --help               this help
`,
  async run(args, ctx) {
    const { values, positionals } = parse(this.name, args, PROMOTION_OPTIONS);
    const result = await validate(promotionOptions(this.name, values, positionals, ctx));
    if (values.json) return ctx.json(result, result.ok);
    ctx.out(verdictTable(result.artifacts));
    ctx.out(`\n${uploaderLine(result.uploader)}`);
    ctx.out(`${result.artifacts.filter((a) => a.verdict === 'passed').length} passed, ${result.artifacts.filter((a) => a.verdict !== 'passed').length} failed\n`);
    return result.ok ? 0 : 1;
  },
};

export const promoteCommand: Command = {
  name: 'promote',
  summary: 'copy validated artifacts from staging to production',
  help: `Usage: oci-channel promote --staging CHANNEL --production CHANNEL [--identity-token FILE --allowed-owner OWNER...] [--owners DIR] [--label LABEL]
       [--source-url URL] [--revalidate] [--github-owner OWNER [--github-owner-type org|user] [--visibility-check fail|warn|off]] [--json] ARTIFACT...

Verifies who uploaded (the OIDC identity token), then copies artifacts with a passing verdict (validating
first when needed) from staging to production, verifies production, appends to the promotion log, then
removes the staging copy. Only verdicts signed with OCI_CHANNEL_VERDICT_KEY (environment only) are trusted;
without it every artifact is validated here first.
ARTIFACT is SUBDIR/FILENAME, optionally followed by @sha256:HEX (required with a token: it is bound to it).

Options:
  --staging CHANNEL        the staging channel
  --production CHANNEL     the production channel
${IDENTITY_HELP}
  --label LABEL            the label to promote to (default main: the channel itself; e.g. rc)
  --source-url URL         org.opencontainers.image.source of production manifests (the channel's repository;
                           staging's value is never copied; default none)
  --revalidate             validate every artifact afresh instead of trusting its recorded verdict
  --github-owner OWNER     on ghcr.io: read the visibility of each new production package through the GitHub
                           Packages API (GITHUB_TOKEN from the environment) and report a private one with the fix
  --github-owner-type T    org (default) or user
  --visibility-check M     warn (default with --github-owner), fail (exit 1) or off
  --concurrency N          artifacts in parallel (default 16)
  --json                   print the result as one JSON object on stdout
  -h, --help               this help
`,
  async run(args, ctx) {
    const { values, positionals } = parse(this.name, args, {
      ...PROMOTION_OPTIONS,
      ...GITHUB_OPTIONS,
      revalidate: { type: 'boolean' },
      'visibility-check': { type: 'string' },
      'source-url': { type: 'string' },
    });
    const options = promotionOptions(this.name, values, positionals, ctx);
    const sourceUrl = optionalString(values, 'source-url');
    if (sourceUrl !== undefined && !/^https?:\/\/[^\s"<>]+$/.test(sourceUrl)) throw new UsageError('--source-url must be an http(s) URL', this.name);
    const github = githubAccess(this.name, values);
    const check = visibilityCheck(this.name, values);
    const result = await promote({
      ...options,
      ...(values.revalidate ? { revalidate: true } : {}),
      ...(sourceUrl ? { sourceUrl } : {}),
      ...(github ? { github } : {}),
      ...(check ? { visibilityCheck: check } : {}),
    });
    if (values.json) return ctx.json(result, result.ok);
    ctx.out(promotionTable(result.artifacts));
    const good = result.artifacts.filter((a) => a.status === 'promoted' || a.status === 'already-promoted').length;
    ctx.out(`\n${uploaderLine(result.uploader)}`);
    ctx.out(`${good} promoted or already there, ${result.artifacts.length - good} rejected or failed\n`);
    if (result.streamedBytes) ctx.out(`${result.streamedBytes} bytes copied registry to registry because the registry did not mount them\n`);
    for (const p of result.privatePackages ?? []) ctx.out(`not public: ${p.fix}\n`);
    return result.ok ? 0 : 1;
  },
};
