// Bundles each GitHub Action with ncc into dist/<name>/ and generates actions/<name>/README.md from its
// action.yml. Deterministic: the same sources give the same bytes, so CI can check that dist/ is current.
//
//   node scripts/build-dist.ts              build into ./dist and ./actions/<name>/README.md (npm run build);
//                                           dist/cli/ is the oci-channel command, runnable outside the checkout
//   node scripts/build-dist.ts --out DIR    build into DIR/dist and DIR/actions/<name>/README.md (staleness test)
//   node scripts/build-dist.ts --only NAME  build one bundle (used by the parallel build; combine with --out)
//   node scripts/build-dist.ts --from-commit REV
//                                           build from the sources committed at REV (e.g. HEAD) while the
//                                           working tree has other uncommitted changes; writes ./dist and READMEs
import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** One entry per action: actions/src/<name>.ts -> dist/<name>/index.js, described by actions/<name>/action.yml. */
export const ACTIONS = ['upload-to-staging', 'validate', 'promote', 'reindex', 'gc-staging', 'mirror', 'label'] as const;
/** The command line, bundled the same way: packages/cli/src/bin.ts -> dist/cli/index.js (see the README). */
export const CLI = 'cli';
/**
 * Child-process entries the actions and the command line start (dist/<name>/index.js, found beside their own
 * directory). ncc bundles what an entry imports, never a file a child process is forked from, so each is bundled
 * on its own.
 */
export const HELPERS: Record<string, string> = {
  // validate and promote read untrusted archives in it, away from the verdict key (packages/pipeline/src/core/package-reader.ts).
  'package-reader': 'packages/pipeline/src/core/package-reader-child.ts',
};
const BUNDLES = [...ACTIONS, CLI, ...Object.keys(HELPERS)];

/**
 * rattler is loaded at run time with createRequire (see packages/conda/src/rattler.ts), which ncc does not trace
 * (it turns webpack's createRequire parsing off). Its CommonJS build and .wasm are shipped once in
 * dist/node_modules, where Node's ordinary resolution from dist/<name>/index.js finds them.
 */
const RUNTIME_PACKAGES: Array<{ name: string; license: string; source: string; files: string[] }> = [
  {
    name: '@conda-org/rattler',
    license: 'BSD-3-Clause',
    source: 'https://github.com/conda/rattler',
    files: ['package.json', 'README.md', 'dist/rattler.node.cjs', 'dist/js_rattler_bg.wasm'],
  },
];

interface NccAsset {
  source: Buffer | string;
  permissions?: number;
}
type Ncc = (
  input: string,
  options: Record<string, unknown>,
) => Promise<{ code: string; assets: Record<string, NccAsset> }>;

/**
 * Bundles one ESM TypeScript entry (no top-level await: webpack's output cannot hold it) into `dir`: index.js,
 * its chunks and assets, licenses.txt of what was bundled, and the package.json that makes Node read it as ESM.
 * rattler stays outside (see RUNTIME_PACKAGES): `dir` must sit where Node's resolution finds it.
 */
export async function bundle(entry: string, dir: string): Promise<Record<string, NccAsset>> {
  const ncc = createRequire(import.meta.url)('@vercel/ncc') as Ncc;
  const { code, assets } = await ncc(entry, {
    cache: false,
    license: 'licenses.txt',
    minify: false,
    sourceMap: false,
    quiet: true,
    target: 'es2023',
    // Types are checked by `tsc -p .`; ncc's checker would check the whole workspace on every bundle.
    transpileOnly: true,
  });
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'index.js'), code);
  for (const [file, asset] of Object.entries(assets).sort(([a], [b]) => a.localeCompare(b))) {
    const target = path.join(dir, file);
    if (!target.startsWith(dir + path.sep)) throw new Error(`ncc asset ${file} would be written outside ${dir}`);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, asset.source, { mode: asset.permissions ? asset.permissions & 0o755 : 0o644 });
  }
  // Node reads the bundle as ESM only with this next to it.
  await writeFile(path.join(dir, 'package.json'), '{"type":"module"}\n');
  return assets;
}

async function buildBundle(name: string, outRoot: string): Promise<void> {
  const dir = path.join(outRoot, 'dist', name);
  const helper = HELPERS[name];
  if (helper) {
    await bundle(path.join(ROOT, helper), dir);
    return;
  }
  const entry = name === CLI ? path.join(ROOT, 'packages', 'cli', 'src', 'bin.ts') : path.join(ROOT, 'actions', 'src', `${name}.ts`);
  const assets = await bundle(entry, dir);
  if (name === CLI) await finishCli(dir);
  // The packages shipped beside the bundle are part of what runs: list them with the bundled ones.
  const shipped = RUNTIME_PACKAGES.map((p) => `\n${p.name} (shipped in dist/node_modules)\n${p.license}\n${p.source}\n`).join('');
  await writeFile(path.join(dir, 'licenses.txt'), `${(assets['licenses.txt']?.source ?? '').toString()}${shipped}`);
}

/**
 * dist/cli is a package of its own: `node dist/cli/index.js` runs anywhere, `npm install -g ./dist/cli` puts
 * `oci-channel` on the PATH (rattler is found in dist/node_modules beside it, through the link npm makes).
 */
async function finishCli(dir: string): Promise<void> {
  const index = path.join(dir, 'index.js');
  await writeFile(index, `#!/usr/bin/env node\n${await readFile(index, 'utf8')}`, { mode: 0o755 });
  // The command line reads untrusted packages in the same secret-free child as the actions: it ships inside the
  // package, so an installed copy finds it beside index.js.
  for (const [name, entry] of Object.entries(HELPERS)) await bundle(path.join(ROOT, entry), path.join(dir, name));
  const { version, license } = JSON.parse(await readFile(path.join(ROOT, 'packages', 'cli', 'package.json'), 'utf8')) as { version: string; license?: string };
  const manifest = {
    name: 'oci-channel',
    version,
    description: 'Publish conda packages to an OCI registry: upload, validate, promote, reindex (bundled command line).',
    license: license ?? 'BSD-3-Clause',
    type: 'module',
    bin: { 'oci-channel': 'index.js' },
    engines: { node: '>=24' },
  };
  await writeFile(path.join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}

async function copyRuntimePackages(outRoot: string): Promise<void> {
  const modules = path.join(outRoot, 'dist', 'node_modules');
  await rm(modules, { recursive: true, force: true });
  for (const pkg of RUNTIME_PACKAGES) {
    for (const file of pkg.files) {
      const target = path.join(modules, pkg.name, file);
      await mkdir(path.dirname(target), { recursive: true });
      await cp(path.join(ROOT, 'node_modules', pkg.name, file), target);
    }
  }
}

interface ActionInput {
  description?: string;
  required?: boolean;
  default?: string;
}
interface ActionYml {
  name: string;
  description: string;
  inputs?: Record<string, ActionInput>;
  outputs?: Record<string, { description?: string }>;
}

function cell(text: string | undefined): string {
  return (text ?? '').replace(/\s+/g, ' ').trim().replace(/\|/g, '\\|');
}

/** actions/<name>/README.md: the inputs and outputs of action.yml, as tables, with a usage snippet. */
export function renderActionReadme(name: string, yml: ActionYml): string {
  const inputs = Object.entries(yml.inputs ?? {});
  const outputs = Object.entries(yml.outputs ?? {});
  const lines = [
    `<!-- Generated from action.yml by \`npm run build\` (scripts/build-dist.ts); edit action.yml instead. -->`,
    `# ${yml.name}`,
    '',
    cell(yml.description),
    '',
    '## Usage',
    '',
    '```yaml',
    `- uses: OWNER/oci-channel/actions/${name}@<full commit sha> # vX.Y.Z`,
    '  with:',
    ...inputs.filter(([, i]) => i.required).map(([key]) => `    ${key}: ...`),
    '```',
    '',
    'See [docs/actions.md](../../docs/actions.md) for the whole flow and the reusable workflows.',
    '',
    '## Inputs',
    '',
    '| Input | Required | Default | Description |',
    '| --- | --- | --- | --- |',
    ...inputs.map(
      ([key, i]) => `| \`${key}\` | ${i.required ? 'yes' : 'no'} | ${i.default ? `\`${cell(String(i.default))}\`` : ''} | ${cell(i.description)} |`,
    ),
    '',
    '## Outputs',
    '',
    '| Output | Description |',
    '| --- | --- |',
    ...outputs.map(([key, o]) => `| \`${key}\` | ${cell(o.description)} |`),
    '',
  ];
  return lines.join('\n');
}

async function writeReadmes(outRoot: string): Promise<void> {
  for (const name of ACTIONS) {
    const yml = YAML.parse(await readFile(path.join(ROOT, 'actions', name, 'action.yml'), 'utf8')) as ActionYml;
    const target = path.join(outRoot, 'actions', name, 'README.md');
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, renderActionReadme(name, yml));
  }
}

function runChild(name: string, outRoot: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--only', name, '--out', outRoot], {
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-20_000);
    });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`bundling ${name} failed (exit ${code}):\n${stderr}`))));
  });
}

function run(command: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} failed (exit ${code})`))));
  });
}

/**
 * Builds in a copy of the tree at `rev` (git archive) that shares this checkout's node_modules by hard links,
 * so module paths, and therefore the bytes, are the same as a build in this checkout.
 */
async function buildFromCommit(rev: string, outRoot: string): Promise<void> {
  const tree = await mkdtemp(path.join(path.dirname(ROOT), `.oci-channel-build-${path.basename(ROOT)}-`));
  try {
    await run('sh', ['-c', `git archive --format=tar "$0" | tar -x -C "$1"`, rev, tree], ROOT);
    await run('cp', ['-al', path.join(ROOT, 'node_modules'), path.join(tree, 'node_modules')], ROOT);
    await run(process.execPath, [path.join(tree, 'scripts', 'build-dist.ts')], tree);
    await rm(path.join(outRoot, 'dist'), { recursive: true, force: true });
    await cp(path.join(tree, 'dist'), path.join(outRoot, 'dist'), { recursive: true });
    for (const name of ACTIONS) {
      await cp(path.join(tree, 'actions', name, 'README.md'), path.join(outRoot, 'actions', name, 'README.md'));
    }
  } finally {
    await rm(tree, { recursive: true, force: true });
  }
}

async function main(argv: string[]): Promise<void> {
  const outIndex = argv.indexOf('--out');
  const outRoot = outIndex >= 0 ? path.resolve(argv[outIndex + 1] ?? '') : ROOT;
  const fromIndex = argv.indexOf('--from-commit');
  if (fromIndex >= 0) {
    const rev = argv[fromIndex + 1] ?? '';
    if (!/^[\w./~^-]+$/.test(rev)) throw new Error(`--from-commit needs a revision such as HEAD, not ${JSON.stringify(rev)}`);
    await buildFromCommit(rev, outRoot);
    return;
  }
  const onlyIndex = argv.indexOf('--only');
  if (onlyIndex >= 0) {
    const name = argv[onlyIndex + 1] ?? '';
    if (!BUNDLES.includes(name)) throw new Error(`unknown bundle ${JSON.stringify(name)}: one of ${BUNDLES.join(', ')}`);
    await buildBundle(name, outRoot);
    return;
  }
  // Start from an empty dist/ so files of removed actions do not linger.
  await rm(path.join(outRoot, 'dist'), { recursive: true, force: true });
  await mkdir(path.join(outRoot, 'dist'), { recursive: true });
  // Bundles are CPU-bound webpack runs: one child process each, a few at a time.
  const queue: string[] = [...BUNDLES];
  const workers = Array.from({ length: Math.max(1, Math.min(os.availableParallelism(), 3)) }, async () => {
    for (let name = queue.shift(); name; name = queue.shift()) await runChild(name, outRoot);
  });
  await Promise.all(workers);
  await copyRuntimePackages(outRoot);
  await writeReadmes(outRoot);
  console.log(`built ${ACTIONS.length} actions and the command line into ${path.relative(process.cwd(), path.join(outRoot, 'dist')) || 'dist'}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  });
}
