// The bench runs oci-channel the way it ships: bundled by ncc into plain JavaScript, as dist/<action>/ is, not
// through Node's TypeScript loader (which costs every process ~0.2 s and ~25 MB before it does anything).
// The workers are bundled once per bench run into bench/.build/<name>/ (gitignored), inside the repository so
// that rattler, which stays outside the bundle (scripts/build-dist.ts), resolves from node_modules as in dist/.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { bundle, HELPERS } from '../../scripts/build-dist.ts';

/** The workers whose whole process is measured (index-build times its own sections and runs from source). */
export const BUNDLED_WORKERS = ['upload', 'promote', 'reindex', 'floor'] as const;

let buildDir: string | undefined;

export async function bundleWorkers(root: string, log: (line: string) => void): Promise<void> {
  const dir = path.join(root, 'bench', '.build');
  log(`  bundling the workers with ncc (as the actions ship) into ${path.relative(root, dir)}/ ...`);
  for (const name of BUNDLED_WORKERS) await bundle(path.join(root, 'bench', 'workers', `${name}.ts`), path.join(dir, name));
  // The child processes the pipeline forks (the package reader) sit beside the workers, as in dist/.
  for (const [name, entry] of Object.entries(HELPERS)) await bundle(path.join(root, entry), path.join(dir, name));
  buildDir = dir;
}

/** The bundled entry of a worker when bundleWorkers ran, else undefined (run the TypeScript source). */
export function bundledWorker(name: string): string | undefined {
  if (!buildDir) return undefined;
  const entry = path.join(buildDir, name, 'index.js');
  return existsSync(entry) ? entry : undefined;
}
