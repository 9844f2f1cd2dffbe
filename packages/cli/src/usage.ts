// Usage errors (exit 2) and the help texts of each command.
export class UsageError extends Error {
  readonly command: string | undefined;
  constructor(message: string, command?: string) {
    super(message);
    this.command = command;
  }
}

export const CHANNEL_HELP = 'CHANNEL is oci://HOST[:PORT]/PATH (https), oci+http://HOST[:PORT]/PATH (plain http) or oci-layout:DIR';
export const CREDENTIALS_HELP =
  'Credentials never go on the command line: set OCI_CHANNEL_<HOST_PATH>_USERNAME / _PASSWORD or use a docker config.json (DOCKER_CONFIG or ~/.docker).';

/** The help of `oci-channel` itself, listing `commands` (name and one-line summary). */
export function mainHelp(commands: ReadonlyArray<{ name: string; summary: string }>): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return `oci-channel - publish conda packages to an OCI registry: upload -> validate -> promote -> reindex

Usage: oci-channel <command> [options]

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run 'oci-channel <command> --help' for a command's options.
${CHANNEL_HELP}.
${CREDENTIALS_HELP}
`;
}

/** 90s, 30m, 2h, 7d, 1w, or plain milliseconds. */
export function parseDuration(value: string, command = 'gc'): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)?$/.exec(value.trim());
  if (!m) throw new UsageError(`invalid duration ${JSON.stringify(value)}: use a number followed by s, m, h, d or w (e.g. 2h)`, command);
  const n = Number(m[1]);
  const unit = m[2] ?? 'ms';
  const factor = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[unit] ?? 1;
  return Math.round(n * factor);
}
