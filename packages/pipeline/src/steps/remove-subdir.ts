// Removing a subdir's index that should not be there (a typo'd `--subdir linux-46` published an empty one):
// every manifest of `<subdir>/repodata.json` is deleted, then channeldata.json is rebuilt without the subdir
// (or deleted too when the channel holds nothing at all). Refused while the subdir holds packages.
import { NotFoundError, UnsupportedError, type Digest, type Repository, type Store } from '@oci-channel/oci';
import { openChannel, productionOptions } from '../core/open.ts';
import { reporter } from '../core/progress.ts';
import { OptionsError, PipelineError } from '../errors.ts';
import { CHANNELDATA_REPOSITORY, isPackageRepository, isSubdirName, repodataRepository } from '../index/names.ts';
import { readPublishedRepodata } from '../index/read.ts';
import { listPromotionTags } from '../records/promotion-log.ts';
import type { ReindexOptions, ReindexResult } from '../types.ts';
import { reindex } from './reindex.ts';

export interface RemoveSubdirOptions extends Omit<ReindexOptions, 'subdirs' | 'allowSubdirs' | 'full'> {
  /** The subdir whose index goes. */
  subdir: string;
}

export interface RemoveSubdirResult {
  ok: boolean;
  subdir: string;
  /** Manifests deleted from `<subdir>/repodata.json` (repodata and shard manifests). */
  removed: string[];
  /** Whether channeldata.json was deleted as well (the channel holds nothing else). */
  channelDataRemoved: boolean;
  /** The reindex that rebuilt channeldata.json without the subdir (absent when the channel is empty). */
  reindex?: ReindexResult;
}

/** Deletes every manifest of a repository by digest; returns the digests. */
async function deleteAll(repository: Repository): Promise<string[]> {
  let tags: string[];
  try {
    tags = await repository.listTags();
  } catch (error) {
    if (error instanceof NotFoundError) return [];
    throw error;
  }
  const digests = new Set<Digest>();
  for (const tag of tags) {
    const head = await repository.resolve(tag);
    if (head) digests.add(head.digest);
  }
  for (const digest of digests) {
    try {
      await repository.deleteManifest(digest);
    } catch (error) {
      if (error instanceof NotFoundError) continue;
      if (error instanceof UnsupportedError) {
        throw new PipelineError(
          `${repository.display} cannot be deleted through the registry API (${error.message}); on ghcr.io delete the package ${repository.name} in the GitHub UI or API`,
          { cause: error },
        );
      }
      throw error;
    }
  }
  return [...digests];
}

/** Package repositories holding tags (under `subdir` when given); undefined where the registry has no catalog. */
async function packageRepositoriesUnder(store: Store, subdir?: string): Promise<string[] | undefined> {
  let names: string[];
  try {
    names = await store.listRepositories();
  } catch (error) {
    if (error instanceof UnsupportedError) return undefined;
    throw error;
  }
  const held: string[] = [];
  for (const name of names.filter((n) => isPackageRepository(n) && (subdir === undefined || n.startsWith(`${subdir}/`)))) {
    const tags = await store.repository(name).listTags().catch((error: unknown) => {
      if (error instanceof NotFoundError) return [];
      throw error;
    });
    if (tags.length > 0) held.push(name);
  }
  return held;
}

export async function removeSubdirIndex(o: RemoveSubdirOptions): Promise<RemoveSubdirResult> {
  const report = reporter(o.progress, 'reindex');
  if (!isSubdirName(o.subdir)) throw new OptionsError(`invalid subdir ${JSON.stringify(o.subdir)}: use noarch or OS-ARCH such as linux-64`);
  const opened = openChannel(o.channel, productionOptions(o));
  const store = opened.store;
  try {
    const repository = store.repository(repodataRepository(o.subdir));
    // Refused while the subdir holds packages: its published index lists them, or package repositories hold tags.
    const latest = await repository.resolve('latest');
    if (latest) {
      const published = await readPublishedRepodata(repository, latest.digest, o.subdir);
      if (published.entries.length > 0) {
        throw new OptionsError(`${store.display} ${o.subdir} lists ${published.entries.length} package(s) in its index: it should be there; nothing was removed`);
      }
    }
    const held = await packageRepositoriesUnder(store, o.subdir);
    if (held && held.length > 0) {
      throw new OptionsError(`${store.display} holds packages under ${o.subdir} (${held.slice(0, 3).join(', ')}${held.length > 3 ? ', ...' : ''}): its index should be there; nothing was removed`);
    }
    const removed = await deleteAll(repository);
    report(removed.length ? `removed the index of ${o.subdir} (${removed.length} manifest(s))` : `${o.subdir} has no index to remove`);
    // channeldata.json lists subdirs: rebuild it without this one, or remove it from a channel that holds nothing.
    const empty = (await listPromotionTags(store)).length === 0 && (await packageRepositoriesUnder(store))?.length === 0;
    if (empty) {
      const gone = await deleteAll(store.repository(CHANNELDATA_REPOSITORY));
      report(`${store.display} holds no packages: removed channeldata.json too (${gone.length} manifest(s))`);
      return { ok: true, subdir: o.subdir, removed, channelDataRemoved: gone.length > 0 };
    }
    const rebuilt = await reindex({ ...o, channel: store });
    return { ok: rebuilt.ok, subdir: o.subdir, removed, channelDataRemoved: false, reindex: rebuilt };
  } finally {
    await opened.release();
  }
}
