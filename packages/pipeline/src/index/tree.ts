// `reindex --out DIR`: the whole index as a static channel tree a conda client can use over file:// or http,
// with the package files themselves (fetched by digest, verified, written to a temp file then renamed).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pLimit from 'p-limit';
import { parseDigest, type Store } from '@oci-channel/oci';
import { SHARD_INDEX_FILENAME, subdirHtml, type SubdirIndexFiles } from '@oci-channel/conda';
import { downloadBlob } from '../core/blobs.ts';
import { packageRepositoryName } from './names.ts';
import { PipelineError } from '../errors.ts';

async function writeAtomic(file: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}

async function sha256OfFile(file: string): Promise<string | undefined> {
  try {
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
    return hash.digest('hex');
  } catch {
    return undefined;
  }
}

async function sizeOf(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).size;
  } catch {
    return undefined;
  }
}

export interface TreeOptions {
  channelName: string;
  concurrency: number;
  modified: number;
  signal?: AbortSignal;
}

/** One index of the tree: a subdir's main index (`<subdir>/`, with its packages) or a label's (`label/<label>/<subdir>/`). */
export interface TreeIndex {
  files: SubdirIndexFiles;
  /** For a label index: its packages are those of `<subdir>/` (its repodata's base_url points there). */
  label?: string;
}

/** Writes every index's files, the packages of the main ones, and channeldata.json, under `out`. */
export async function writeChannelTree(
  store: Store,
  out: string,
  indexes: TreeIndex[],
  channelData: Buffer | undefined,
  options: TreeOptions,
): Promise<{ packagesFetched: number }> {
  await mkdir(out, { recursive: true });
  const limit = pLimit(options.concurrency);
  let packagesFetched = 0;
  for (const { files, label } of indexes) {
    const dir = label === undefined ? path.join(out, files.subdir) : path.join(out, 'label', label, files.subdir);
    await mkdir(path.join(dir, 'shards'), { recursive: true });
    await writeAtomic(path.join(dir, 'repodata.json'), files.repodataJson);
    await writeAtomic(path.join(dir, 'repodata.json.zst'), files.repodataZst);
    await writeAtomic(path.join(dir, SHARD_INDEX_FILENAME), files.shardIndex);
    await writeAtomic(path.join(dir, 'run_exports.json'), files.runExportsJson);
    if (files.repodataFromPackagesJson) await writeAtomic(path.join(dir, 'repodata_from_packages.json'), files.repodataFromPackagesJson);
    else await rm(path.join(dir, 'repodata_from_packages.json'), { force: true });
    const html = label === undefined ? subdirHtml(options.channelName, files, options.modified) : subdirHtml(options.channelName, files, options.modified, { name: label, packageBase: `../../../${files.subdir}/` });
    await writeAtomic(path.join(dir, 'index.html'), html);
    await Promise.all(
      [...files.shards.values()].map((shard) =>
        limit(async () => {
          const file = path.join(dir, 'shards', `${shard.hex}.msgpack.zst`);
          if ((await sizeOf(file)) !== shard.bytes.byteLength) await writeAtomic(file, shard.bytes);
        }),
      ),
    );
    if (label !== undefined) continue;
    // Every file of the subdir lives here, whichever indexes list it (label indexes point here).
    await Promise.all(
      (files.fromPackages ?? files.packages).map((pkg) =>
        limit(async () => {
          const file = path.join(dir, pkg.filename);
          const { sha256, size } = pkg.record;
          if ((await sizeOf(file)) === size && (await sha256OfFile(file)) === sha256) return;
          const tmp = `${file}.${process.pid}.part`;
          const repository = store.repository(packageRepositoryName(files.subdir, pkg.record.name));
          try {
            const got = await downloadBlob(repository, parseDigest(`sha256:${sha256}`), size, tmp, { signal: options.signal });
            if (got.sha256 !== sha256 || got.size !== size) {
              throw new PipelineError(`package ${files.subdir}/${pkg.filename} from ${repository.display} does not match its repodata sha256; not written`);
            }
            await rename(tmp, file);
            packagesFetched++;
          } catch (error) {
            await rm(tmp, { force: true });
            throw error;
          }
        }),
      ),
    );
  }
  if (channelData) await writeAtomic(path.join(out, 'channeldata.json'), channelData);
  return { packagesFetched };
}
