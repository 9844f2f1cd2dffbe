import { location, noPositionals, optionalString, parse } from '../args.ts';
import type { Command } from './command.ts';

export const demoCommand: Command = {
  name: 'demo',
  summary: 'run the whole flow on sample packages and solve an environment',
  help: `Usage: oci-channel demo [--registry oci+http://127.0.0.1:PORT/PATH] [--keep DIR] [--verbose]

Builds sample conda packages, uploads them to staging, validates and promotes them (showing a rejection),
reindexes production, serves the static index on loopback and solves an environment with rattler.
Without --registry everything runs on oci-layout: directories in a temporary folder.

Options:
  --registry URL  run against a real registry (staging and production under URL's path)
  --keep DIR      keep the channels and the static index in DIR instead of a temporary folder
  -v, --verbose   also show each step's progress (stderr)
  -h, --help      this help
`,
  async run(args, ctx) {
    const { values, positionals } = parse(this.name, args, { registry: { type: 'string' }, keep: { type: 'string' }, verbose: { type: 'boolean', short: 'v' } });
    noPositionals(this.name, positionals);
    const registryValue = optionalString(values, 'registry');
    const registry = registryValue !== undefined ? location(this.name, 'registry', registryValue) : undefined;
    const { runDemo } = await import('../demo.ts');
    return runDemo({ registry, keep: optionalString(values, 'keep'), verbose: values.verbose === true, write: ctx.out, log: ctx.err });
  },
};
