// Another oci-channel location as a mirror's upstream: its index is each subdir's `repodata.json:latest` as its
// clients read it (the repodata layer: patched records, the main label), its packages the blobs
// `sha256:<record sha256>` of `<subdir>/<name>`, verified by the store while they stream. Its subdirs come from
// its channeldata.json, else the registry catalog.
import { DigestMismatchError, NotFoundError, openStore, parseDigest, UnsupportedError, type Descriptor, type Store, type StoreOptions } from '@oci-channel/oci';
import { isValidSubdir, packageRepository, packagesOfRepodata, parseRepodata, zstdDecompress } from '@oci-channel/conda';
import { readSmallBlob } from '../core/blobs.ts';
import { parseJsonObject } from '../core/json.ts';
import { errorLine } from '../core/open.ts';
import { CHANNELDATA_REPOSITORY, IndexMediaType, repodataRepository } from '../index/names.ts';
import type { FetchedPackage, Upstream, UpstreamFile, UpstreamSubdir } from './index.ts';
import { collectFiles, UpstreamError, WrongBytesError, writeHashed } from './records.ts';

const MAX_CHANNELDATA = 256 * 1024 * 1024;
/** As for an http(s) upstream: V8 cannot parse a longer string. */
const MAX_REPODATA = 512 * 1024 * 1024;

class OciUpstream implements Upstream {
  readonly display: string;
  readonly #store: Store;

  constructor(from: string, options: StoreOptions | undefined) {
    this.#store = openStore(from, options ?? {});
    this.display = this.#store.display;
  }

  #fail(what: string, error: unknown): never {
    if (error instanceof UpstreamError) throw error;
    throw new UpstreamError(`upstream ${this.display}: ${what}: ${errorLine(error)}`, { cause: error });
  }

  async subdirs(): Promise<string[] | undefined> {
    const repository = this.#store.repository(CHANNELDATA_REPOSITORY);
    try {
      const fetched = await repository.fetchManifest('latest');
      const manifest = parseJsonObject(fetched.bytes, `${repository.display}:latest`);
      const layer = ((manifest.layers ?? []) as Descriptor[]).find((l) => l.mediaType === IndexMediaType.ChannelData);
      if (layer) {
        const data = parseJsonObject(await readSmallBlob(repository, parseDigest(layer.digest), layer.size, MAX_CHANNELDATA), 'channeldata.json');
        if (Array.isArray(data.subdirs)) return data.subdirs.filter((s): s is string => typeof s === 'string' && isValidSubdir(s)).sort();
      }
    } catch (error) {
      if (!(error instanceof NotFoundError)) this.#fail('reading channeldata.json', error);
    }
    try {
      const names = await this.#store.listRepositories();
      return [...new Set(names.map((n) => n.split('/')[0]!).filter(isValidSubdir))].sort();
    } catch (error) {
      if (error instanceof UnsupportedError) return undefined;
      this.#fail('listing repositories', error);
    }
  }

  async readSubdir(subdir: string, wantName: (name: string) => boolean): Promise<UpstreamSubdir | undefined> {
    const repository = this.#store.repository(repodataRepository(subdir));
    let repodata;
    try {
      const fetched = await repository.fetchManifest('latest');
      const manifest = parseJsonObject(fetched.bytes, `${repository.display}:latest`);
      const layers = (Array.isArray(manifest.layers) ? manifest.layers : []) as Descriptor[];
      // What rattler and libmamba take: the zstd layer, else the plain one (never repodata_from_packages).
      const zst = layers.find((l) => l?.mediaType === IndexMediaType.RepodataZst);
      const layer = zst ?? layers.find((l) => l?.mediaType === IndexMediaType.Repodata);
      if (!layer) throw new UpstreamError(`upstream ${repository.display}:latest has no repodata.json layer`);
      const bytes = await readSmallBlob(repository, parseDigest(layer.digest), layer.size, MAX_REPODATA);
      const text = (zst ? zstdDecompress(bytes, MAX_REPODATA) : Buffer.from(bytes)).toString('utf8');
      repodata = parseRepodata(text, `its repodata.json`);
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      this.#fail(`reading ${subdir}/repodata.json:latest`, error);
    }
    if (repodata.info.subdir !== subdir) throw new UpstreamError(`upstream ${repository.display}:latest says subdir ${JSON.stringify(repodata.info.subdir)}, not ${subdir}; refused`);
    const entries = packagesOfRepodata(repodata).map((e): [string, Record<string, unknown>] => [e.filename, e.record]);
    const { files, invalid } = collectFiles(subdir, entries, (_filename, name) => packageRepository(subdir, name), wantName);
    return { subdir, format: 'oci', files, invalid };
  }

  async fetchPackage(file: UpstreamFile, to: string, options: { signal?: AbortSignal; onBytes?: (bytes: number) => void } = {}): Promise<FetchedPackage> {
    const repository = this.#store.repository(file.source);
    try {
      // The store checks the digest and size while the bytes stream (DigestMismatchError before the end).
      const stream = await repository.fetchBlob(parseDigest(`sha256:${file.sha256}`), file.size, options.signal ? { signal: options.signal } : {});
      return await writeHashed(stream, to, file.size, `${file.subdir}/${file.filename}`, options);
    } catch (error) {
      if (options.signal?.aborted) throw error;
      if (error instanceof DigestMismatchError) {
        throw new WrongBytesError(`upstream ${repository.display} sent other bytes than sha256:${file.sha256} for ${file.subdir}/${file.filename} (${errorLine(error)}); refused, nothing pushed for it`);
      }
      this.#fail(`${file.subdir}/${file.filename} from ${repository.display}`, error);
    }
  }

  async close(): Promise<void> {
    await this.#store.close();
  }
}

export function openOciUpstream(from: string, options: StoreOptions | undefined): Upstream {
  return new OciUpstream(from, options);
}
