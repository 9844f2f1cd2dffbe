import { download, type ArtifactRef } from '@oci-channel/pipeline';
import { artifacts, location, parse, required } from '../args.ts';
import { formatBytes } from '../output.ts';
import { UsageError } from '../usage.ts';
import type { Command } from './command.ts';

export const downloadCommand: Command = {
  name: 'download',
  summary: 'fetch one package from a channel, verified',
  help: `Usage: oci-channel download --channel CHANNEL [--json] ARTIFACT -o FILE

Fetches SUBDIR/FILENAME[@sha256:HEX] from CHANNEL to FILE, verifying its sha256.

Options:
  --channel CHANNEL  the channel
  -o, --output FILE  where to write the package
  --json             print the result as one JSON object on stdout
  -h, --help         this help
`,
  async run(args, ctx) {
    const { values, positionals } = parse(this.name, args, { json: { type: 'boolean' }, channel: { type: 'string' }, output: { type: 'string', short: 'o' } });
    const channel = location(this.name, 'channel', required(this.name, values, 'channel'));
    const output = required(this.name, values, 'output');
    const refs = artifacts(this.name, positionals);
    if (refs.length !== 1) throw new UsageError('download takes exactly one ARTIFACT', this.name);
    const result = await download({ channel, artifact: refs[0] as ArtifactRef, output, progress: ctx.progress });
    if (values.json) return ctx.json(result, true);
    ctx.out(`${result.path}  ${formatBytes(result.size)}  sha256 ${result.sha256}\n`);
    return 0;
  },
};
