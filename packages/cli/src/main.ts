// The `oci-channel` command line: parses arguments strictly, runs one pipeline step, prints a summary
// table (or one JSON object with --json) and exits 0 (success), 1 (a step failed or rejected something)
// or 2 (usage error).
import { PackageError } from '@oci-channel/conda';
import { OciError } from '@oci-channel/oci';
import { OptionsError, PipelineError } from '@oci-channel/pipeline';
import { COMMANDS, type Command } from './commands/index.ts';
import { progressPrinter } from './output.ts';
import { mainHelp, UsageError } from './usage.ts';

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

/** The exit status of one command run: its own, or 2 for a usage error, 1 for any other failure. */
async function run(command: Command, args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    out(command.help);
    return 0;
  }
  // stderr as it is (a terminal keeps its size and cursor control), with every write scrubbed of secrets.
  const scrubbed = Object.create(process.stderr, {
    write: { value: (chunk: unknown, ...rest: unknown[]) => (process.stderr.write as (...a: unknown[]) => boolean)(typeof chunk === 'string' ? redact(chunk) : chunk, ...rest) },
  }) as NodeJS.WriteStream;
  const printer = progressPrinter(scrubbed);
  try {
    return await command.run(args, {
      out,
      err,
      progress: printer.progress,
      json(result, ok) {
        out(JSON.stringify(result, null, 2) + '\n');
        return ok ? 0 : 1;
      },
    });
  } finally {
    printer.stop();
  }
}

function oneLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, ' ').trim();
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined) {
    err(mainHelp(COMMANDS));
    return 2;
  }
  if (command === '--help' || command === '-h' || command === 'help') {
    const named = COMMANDS.find((c) => c.name === args[0]);
    out(named ? named.help : mainHelp(COMMANDS));
    return 0;
  }
  if (command === '--version' || command === '-V') {
    out('oci-channel 0.1.0\n');
    return 0;
  }
  // With --json a script always gets one JSON object on stdout, on failure too.
  const json = args.includes('--json');
  const fail = (code: number, message: string): number => {
    err(`${message}\n`);
    if (json) out(JSON.stringify({ ok: false, error: message, exitCode: code }, null, 2) + '\n');
    return code;
  };
  try {
    const found = COMMANDS.find((c) => c.name === command);
    if (!found) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    return await run(found, args);
  } catch (error) {
    if (error instanceof UsageError || error instanceof OptionsError) {
      const name = error instanceof UsageError ? error.command : command;
      const hint = name ? `oci-channel ${name} --help` : 'oci-channel --help';
      return fail(2, `oci-channel${name ? ` ${name}` : ''}: ${oneLine(error)} (see '${hint}')`);
    }
    if (!isExpected(error)) {
      return fail(1, `oci-channel ${command}: internal error: ${oneLine(error)} (this is a bug in oci-channel; please report it with the command you ran)`);
    }
    return fail(1, `oci-channel ${command}: ${oneLine(error)}`);
  }
}

/** Errors thrown on purpose (their message says what to do), as opposed to bugs. */
function isExpected(error: unknown): boolean {
  if (error instanceof PipelineError || error instanceof OciError || error instanceof PackageError) return true;
  // A file that cannot be read or written: the system's message names the path.
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string' && typeof (error as NodeJS.ErrnoException).syscall === 'string';
}
