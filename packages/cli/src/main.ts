// The `oci-channel` command line: parses arguments strictly, runs one pipeline step, prints a summary
// table (or one JSON object with --json) and exits 0 (success), 1 (a step failed or rejected something)
// or 2 (usage error).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InvalidReferenceError, parseLocation } from '@oci-channel/oci';
import * as pipeline from '@oci-channel/pipeline';
import type { ArtifactRef } from '@oci-channel/pipeline';
import { formatBytes, progressPrinter, shortDigest, table } from './output.ts';
import { HELP, parseDuration, UsageError } from './usage.ts';

type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

/** Values of variables that hold secrets: scrubbed from anything printed, whatever produced it. */
function secretValues(env: NodeJS.ProcessEnv): string[] {
  return Object.entries(env)
    .filter(([k, v]) => v !== undefined && v.length >= 6 && /PASSWORD|TOKEN|SECRET|CREDENTIAL|_KEY$/i.test(k))
    .map(([, v]) => v as string);
}

export function redact(text: string, secrets: string[] = secretValues(process.env)): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join('***');
  return out;
}

const out = (text: string) => process.stdout.write(redact(text));
const err = (text: string) => process.stderr.write(redact(text));

function parse(command: string, args: string[], options: NonNullable<ParseArgsConfig['options']>): { values: Values; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: true,
    });
    return { values: values as Values, positionals };
  } catch (error) {
    const e = error as Error & { code?: string };
    const option = /'(-[^']*)'/.exec(e.message)?.[1];
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown option ${option ?? e.message}`, command);
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw new UsageError(`option ${option ?? ''} needs a value`.replace('  ', ' '), command);
    throw new UsageError(e.message.split('\n')[0] ?? 'bad arguments', command);
  }
}

function required(command: string, values: Values, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`missing --${name}`, command);
  return value;
}

function location(command: string, flag: string, value: string): string {
  try {
    parseLocation(value);
    return value;
  } catch (error) {
    if (error instanceof InvalidReferenceError) throw new UsageError(`--${flag}: ${error.message}`, command);
    throw error;
  }
}

function artifacts(command: string, positionals: string[], min = 1): ArtifactRef[] {
  if (positionals.length < min) throw new UsageError('no ARTIFACT given (SUBDIR/FILENAME[@sha256:HEX])', command);
  return positionals.map((p) => {
    try {
      return pipeline.parseArtifactRef(p);
    } catch (error) {
      throw new UsageError((error as Error).message, command);
    }
  });
}

function concurrency(command: string, values: Values): number | undefined {
  const value = values.concurrency;
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new UsageError(`--concurrency must be an integer from 1 to 64, not ${JSON.stringify(value)}`, command);
  return n;
}

const common = { json: { type: 'boolean' }, concurrency: { type: 'string' } } as const;

async function run(command: string, args: string[]): Promise<number> {
  const progress = progressPrinter();
  switch (command) {
    case 'upload': {
      const { values, positionals } = parse(command, args, { ...common, to: { type: 'string' }, 'source-url': { type: 'string' } });
      if (values.help) return help(command);
      const to = location(command, 'to', required(command, values, 'to'));
      if (positionals.length === 0) throw new UsageError('no FILE given', command);
      const result = await pipeline.upload({
        to,
        files: positionals,
        progress,
        concurrency: concurrency(command, values),
        ...(typeof values['source-url'] === 'string' ? { sourceUrl: values['source-url'] } : {}),
      });
      if (values.json) return json(result, result.ok);
      out(
        table(
          ['STATUS', 'ARTIFACT', 'SIZE', 'SHA256', 'MANIFEST'],
          result.artifacts.map((a) => [a.status, `${a.subdir}/${a.filename}`, formatBytes(a.size), a.sha256.slice(0, 12), shortDigest(a.manifestDigest)]),
        ),
      );
      if (result.errors.length) out('\n' + table(['REFUSED', 'REASON'], result.errors.map((e) => [e.file, e.error])));
      out(`\n${result.artifacts.length} uploaded or unchanged, ${result.errors.length} refused\n`);
      return result.ok ? 0 : 1;
    }
    case 'validate':
    case 'promote': {
      const { values, positionals } = parse(command, args, {
        ...common,
        staging: { type: 'string' },
        production: { type: 'string' },
        owners: { type: 'string' },
        uploader: { type: 'string' },
        ...(command === 'promote' ? { revalidate: { type: 'boolean' } as const } : {}),
      });
      if (values.help) return help(command);
      const staging = location(command, 'staging', required(command, values, 'staging'));
      const production = location(command, 'production', required(command, values, 'production'));
      if (values.owners !== undefined && values.uploader === undefined) throw new UsageError('--owners needs --uploader NAME (the feedstock to check)', command);
      const options = {
        staging,
        production,
        artifacts: artifacts(command, positionals),
        progress,
        concurrency: concurrency(command, values),
        ...(typeof values.owners === 'string' ? { owners: values.owners } : {}),
        ...(typeof values.uploader === 'string' ? { uploader: values.uploader } : {}),
      };
      if (command === 'validate') {
        const result = await pipeline.validate(options);
        if (values.json) return json(result, result.ok);
        out(table(['VERDICT', 'ARTIFACT', 'CHECKS', 'REASON'], result.artifacts.map((a) => [a.verdict, `${a.subdir}/${a.filename}`, `${a.checks.filter((c) => c.ok).length}/${a.checks.length} ok`, a.reason ?? ''])));
        out(`\n${result.artifacts.filter((a) => a.verdict === 'passed').length} passed, ${result.artifacts.filter((a) => a.verdict !== 'passed').length} failed\n`);
        return result.ok ? 0 : 1;
      }
      const result = await pipeline.promote({ ...options, ...(values.revalidate ? { revalidate: true } : {}) });
      if (values.json) return json(result, result.ok);
      out(
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
      out(`\n${good} promoted or already there, ${result.artifacts.length - good} rejected or failed\n`);
      return result.ok ? 0 : 1;
    }
    case 'reindex': {
      const { values, positionals } = parse(command, args, {
        json: { type: 'boolean' },
        channel: { type: 'string' },
        subdir: { type: 'string', multiple: true },
        full: { type: 'boolean' },
        out: { type: 'string' },
        'cache-dir': { type: 'string' },
      });
      if (values.help) return help(command);
      if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`, command);
      const channel = location(command, 'channel', required(command, values, 'channel'));
      const result = await pipeline.reindex({
        channel,
        progress,
        cacheDir: typeof values['cache-dir'] === 'string' ? values['cache-dir'] : pipeline.defaultCacheDir(),
        ...(Array.isArray(values.subdir) ? { subdirs: values.subdir as string[] } : {}),
        ...(values.full ? { full: true } : {}),
        ...(typeof values.out === 'string' ? { out: values.out } : {}),
      });
      if (values.json) return json(result, result.ok);
      out(table(['SUBDIR', 'PACKAGES', 'ADDED', 'REPODATA', 'TAGS'], result.subdirs.map((s) => [s.subdir, String(s.packages), String(s.added), shortDigest(s.repodataDigest), s.tags.join(' ') || '(unchanged)'])));
      return result.ok ? 0 : 1;
    }
    case 'download': {
      const { values, positionals } = parse(command, args, { json: { type: 'boolean' }, channel: { type: 'string' }, output: { type: 'string', short: 'o' } });
      if (values.help) return help(command);
      const channel = location(command, 'channel', required(command, values, 'channel'));
      const output = required(command, values, 'output');
      const refs = artifacts(command, positionals);
      if (refs.length !== 1) throw new UsageError('download takes exactly one ARTIFACT', command);
      const result = await pipeline.download({ channel, artifact: refs[0] as ArtifactRef, output, progress });
      if (values.json) return json(result, true);
      out(`${result.path}  ${formatBytes(result.size)}  sha256 ${result.sha256}\n`);
      return 0;
    }
    case 'gc': {
      const { values, positionals } = parse(command, args, {
        json: { type: 'boolean' },
        channel: { type: 'string' },
        'older-than': { type: 'string' },
        'dry-run': { type: 'boolean' },
        'github-owner': { type: 'string' },
        'github-owner-type': { type: 'string' },
        'github-api-url': { type: 'string' },
      });
      if (values.help) return help(command);
      if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`, command);
      const channel = location(command, 'channel', required(command, values, 'channel'));
      const olderThanMs = parseDuration(required(command, values, 'older-than'));
      const ownerType = values['github-owner-type'];
      if (ownerType !== undefined && ownerType !== 'org' && ownerType !== 'user') throw new UsageError('--github-owner-type is org or user', command);
      const token = process.env.GITHUB_TOKEN;
      if (typeof values['github-owner'] === 'string' && !token) throw new UsageError('--github-owner needs GITHUB_TOKEN in the environment', command);
      const result = await pipeline.gc({
        channel,
        olderThanMs,
        progress,
        ...(values['dry-run'] ? { dryRun: true } : {}),
        ...(typeof values['github-owner'] === 'string' && token
          ? {
              github: {
                token,
                owner: values['github-owner'],
                ...(typeof values['github-api-url'] === 'string' ? { apiUrl: values['github-api-url'] } : {}),
                ...(ownerType ? { ownerType: ownerType as 'org' | 'user' } : {}),
              },
            }
          : {}),
      });
      if (values.json) return json(result, result.ok);
      if (result.deleted.length === 0) out('nothing to delete\n');
      else out(table([values['dry-run'] ? 'WOULD DELETE' : 'DELETED', 'TAG', 'DIGEST', 'AGE'], result.deleted.map((d) => [d.repository, d.tag ?? '-', shortDigest(d.digest), `${Math.round(d.ageMs / 60000)} min`])));
      if (result.errors.length) out('\n' + table(['FAILED', 'REASON'], result.errors.map((e) => [e.repository, e.error])));
      return result.ok ? 0 : 1;
    }
    case 'demo': {
      const { values, positionals } = parse(command, args, { registry: { type: 'string' }, keep: { type: 'string' }, verbose: { type: 'boolean', short: 'v' } });
      if (values.help) return help(command);
      if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`, command);
      const registry = typeof values.registry === 'string' ? location(command, 'registry', values.registry) : undefined;
      const { runDemo } = await import('./demo.ts');
      return runDemo({ registry, keep: typeof values.keep === 'string' ? values.keep : undefined, verbose: values.verbose === true, write: out, log: err });
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

function help(command: string): number {
  out(HELP[command] ?? HELP.main ?? '');
  return 0;
}

function json(result: unknown, ok: boolean): number {
  out(JSON.stringify(result, null, 2) + '\n');
  return ok ? 0 : 1;
}

function oneLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, ' ').trim();
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined) {
    err(HELP.main ?? '');
    return 2;
  }
  if (command === '--help' || command === '-h' || command === 'help') return help(args[0] ?? 'main');
  if (command === '--version' || command === '-V') {
    out('oci-channel 0.1.0\n');
    return 0;
  }
  try {
    return await run(command, args);
  } catch (error) {
    if (error instanceof UsageError) {
      const hint = error.command ? `oci-channel ${error.command} --help` : 'oci-channel --help';
      err(`oci-channel${error.command ? ` ${error.command}` : ''}: ${oneLine(error)} (see '${hint}')\n`);
      return 2;
    }
    err(`oci-channel ${command}: ${oneLine(error)}\n`);
    return 1;
  }
}

if (import.meta.main || process.argv[1]?.endsWith('oci-channel.js') || process.argv[1]?.endsWith('oci-channel')) {
  const code = await main(process.argv.slice(2));
  // Let stdout drain (it may be a pipe) before exiting; open keep-alive sockets must not hold the process.
  process.stdout.write('', () => process.exit(code));
}
