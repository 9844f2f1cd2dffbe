// Synthetic but realistic repodata records (conda-forge-like shape: a few versions and builds per name,
// both formats, depends/constrains, some run_exports), deterministic for a given count.
import { createHash } from 'node:crypto';
import { repodataRecord, type IndexedPackage } from '../../packages/conda/src/channel/index.ts';

/** A small deterministic PRNG (mulberry32): the same records every run, no Math.random. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const LICENSES = ['MIT', 'BSD-3-Clause', 'Apache-2.0', 'GPL-3.0-or-later', 'LGPL-2.1-or-later', 'MPL-2.0'];

export function syntheticRecords(count: number, subdir = 'linux-64', seed = 42): IndexedPackage[] {
  const rand = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const names = Math.max(1, Math.round(count / 10));
  const out: IndexedPackage[] = [];
  for (let i = 0; out.length < count; i++) {
    const name = `pkg-${(i % names).toString(36)}-${['core', 'lib', 'py', 'tools'][i % 4]}`;
    const version = `${1 + (i % 7)}.${Math.floor(i / names) % 20}.${i % 3}`;
    const buildNumber = i % 4;
    const build = i % 3 === 0 ? `py312h${(i * 2654435761 >>> 0).toString(16).padStart(8, '0').slice(0, 7)}_${buildNumber}` : `h${(i * 40503 >>> 0).toString(16).padStart(7, '0').slice(0, 7)}_${buildNumber}`;
    const depends = Array.from({ length: 2 + Math.floor(rand() * 7) }, (_, d) => `dep-${((i + d * 31) % names).toString(36)} >=${1 + d}.${d % 5}`);
    if (i % 3 === 0) depends.push('python >=3.12,<3.13.0a0', 'python_abi 3.12.* *_cp312');
    const hash = createHash('sha256').update(`${name}-${version}-${build}`).digest('hex');
    // Made as the pipeline makes records: info/index.json plus the file's facts.
    const record = repodataRecord(
      {
        name,
        version,
        build,
        build_number: buildNumber,
        depends,
        ...(i % 5 === 0 ? { constrains: [`${name}-extra ${version}`] } : {}),
        license: pick(LICENSES),
        license_family: 'OTHER',
        subdir,
        timestamp: 1_700_000_000_000 + i * 1000,
      },
      { md5: hash.slice(0, 32), sha256: hash, size: 20_000 + Math.floor(rand() * 5_000_000) },
    );
    const runExports = i % 4 === 0 ? { weak: [`${name} >=${version},<${1 + (i % 7) + 1}.0a0`] } : undefined;
    // Most builds exist as .conda; some older ones only as .tar.bz2, some as both.
    const formats = i % 10 === 0 ? ['.tar.bz2', '.conda'] : i % 10 === 1 ? ['.tar.bz2'] : ['.conda'];
    for (const ext of formats) {
      if (out.length >= count) break;
      out.push({ filename: `${name}-${version}-${build}${ext}`, record: { ...record }, ...(runExports ? { runExports } : {}) });
    }
  }
  return out;
}
