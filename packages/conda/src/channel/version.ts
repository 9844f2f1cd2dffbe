// Conda version ordering through rattler (the same order conda and the solvers use).
import { createRequire } from 'node:module';

interface RattlerVersion {
  compare(other: RattlerVersion): number;
  free(): void;
}
interface RattlerModule {
  Version: new (version: string) => RattlerVersion;
}

let rattler: RattlerModule | undefined;
function load(): RattlerModule {
  // Only the CJS build loads its wasm synchronously under Node.
  rattler ??= createRequire(import.meta.url)('@conda-org/rattler') as RattlerModule;
  return rattler;
}

/**
 * The newest of `versions` by conda's version order; versions rattler cannot parse lose against any that it
 * can and compare as plain strings among themselves.
 */
export function newestVersion(versions: Iterable<string>): string | undefined {
  const { Version } = load();
  let best: string | undefined;
  let bestParsed: RattlerVersion | undefined;
  for (const version of new Set(versions)) {
    let parsed: RattlerVersion | undefined;
    try {
      parsed = new Version(version);
    } catch {
      parsed = undefined;
    }
    let better: boolean;
    if (best === undefined) better = true;
    else if (parsed && bestParsed) better = parsed.compare(bestParsed) > 0;
    else if (parsed || bestParsed) better = parsed !== undefined;
    else better = version > best;
    if (better) {
      bestParsed?.free();
      best = version;
      bestParsed = parsed;
    } else {
      parsed?.free();
    }
  }
  bestParsed?.free();
  return best;
}
