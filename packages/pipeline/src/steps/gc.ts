// gc: deletes staging artifacts older than a cutoff, with their verdict referrers and the referrers fallback
// tag. Age comes from the manifest's org.opencontainers.image.created, else from the newest verdict's time;
// artifacts whose age cannot be told are kept. Only v0 package repositories (`<subdir>/<name>`) are touched.
// Where the registry cannot list or delete (ghcr.io), the GitHub Packages API does it when `github` is given:
// what one repository loses is deleted in one batch per package (package-deleter.ts), and the run stops while the
// token's REST budget still has a reserve.
import { DeniedError, NotFoundError, UnsupportedError, type Digest, type Repository } from '@oci-channel/oci';
import { parseJsonObject } from '../core/json.ts';
import { createGithubPackagesClient, type GithubPackagesClient } from '../github/index.ts';
import { PackageDeleter } from '../github/package-deleter.ts';
import { CHANNELDATA_REPOSITORY, isPackageRepository, isRepodataRepository } from '../index/names.ts';
import { PROMOTION_LOG_REPOSITORY } from '../records/promotion-log.ts';
import { isIntentTag } from '../records/write-intent.ts';
import { errorLine, openChannel, stagingOptions } from '../core/open.ts';
import { reporter } from '../core/progress.ts';
import type { GcOptions, GcResult } from '../types.ts';
import { VERDICT_ARTIFACT_TYPE } from '../records/verdict.ts';
import { OptionsError } from '../errors.ts';

const CREATED = 'org.opencontainers.image.created';
const REFERRERS_TAG = /^sha256-[a-f0-9]{64}$/;

export async function gc(o: GcOptions): Promise<GcResult> {
  const report = reporter(o.progress, 'gc');
  if (!Number.isFinite(o.olderThanMs) || o.olderThanMs < 0) {
    throw new OptionsError(`invalid gc age ${o.olderThanMs}: give a number of milliseconds of at least 0`);
  }
  const opened = openChannel(o.channel, stagingOptions(o));
  const store = opened.store;
  const now = (o.now ?? (() => new Date()))().getTime();
  const result: GcResult = { ok: true, deleted: [], errors: [] };
  let github: GithubPackagesClient | undefined;
  const githubClient = () => (github ??= createGithubPackagesClient(o.github!));
  let deleter: PackageDeleter | undefined;
  const restDeleter = () => (deleter ??= new PackageDeleter(githubClient(), { olderThanMs: o.olderThanMs, now, reserve: o.github?.reserve }));
  /** Set once the registry refused a DELETE and the REST API is configured: later deletes go there directly. */
  let registryCannotDelete = false;
  /** What one repository loses, in the order it goes: referrers first, then the fallback index, then the manifest. */
  let doomed: Array<{ repository: string; tag?: string; digest: Digest; ageMs: number; reason: string }> = [];
  // GitHub package names are the repository path without the owner.
  const packageName = (repository: Repository) =>
    o.github && repository.name.startsWith(`${o.github.owner.toLowerCase()}/`) ? repository.name.slice(o.github.owner.length + 1) : repository.name;
  const channelPath = store.location.path;
  try {
    let names: string[];
    try {
      names = await store.listRepositories();
    } catch (error) {
      if (!(error instanceof UnsupportedError) || !o.github) throw error;
      const prefix = packageNameOfPath(channelPath, o.github.owner);
      const full = await githubClient().listContainerPackages(prefix);
      names = full.map((n) => (prefix ? n.slice(prefix.length + 1) : n)).filter(Boolean);
    }
    if (!o.allowProduction) await refuseProduction(names);
    for (const name of names.filter(isPackageRepository).sort()) {
      const low = deleter?.budgetLow();
      if (low) {
        result.stoppedEarly = low;
        report(low);
        break;
      }
      const repository = store.repository(name);
      try {
        await collectRepository(repository);
      } catch (error) {
        result.ok = false;
        result.errors.push({ repository: name, error: errorLine(error) });
      }
    }
    return result;
  } finally {
    await opened.release();
  }

  /**
   * gc is for staging: everything there is unpromoted, so on a production channel it would delete every package.
   * A channel holding a promotion log or a channel index is production; it is refused unless allowProduction.
   */
  async function refuseProduction(names: string[]): Promise<void> {
    const markers = [
      PROMOTION_LOG_REPOSITORY,
      CHANNELDATA_REPOSITORY,
      ...names.filter((n) => n !== PROMOTION_LOG_REPOSITORY && n !== CHANNELDATA_REPOSITORY && isRepodataRepository(n)).sort(),
    ];
    for (const name of markers) {
      let tags: string[];
      try {
        tags = await store.repository(name).listTags();
      } catch (error) {
        if (error instanceof NotFoundError) continue;
        throw error;
      }
      if (tags.length === 0) continue;
      const what = name === PROMOTION_LOG_REPOSITORY ? 'a promotion log' : 'a channel index';
      throw new OptionsError(
        `${store.display} holds ${what} (${name}): it is a production channel, and gc would delete every package in it; give the staging channel, or pass allowProduction (--allow-production-channel) if this really is staging. Nothing was deleted`,
      );
    }
  }

  async function ageOf(repository: Repository, digest: Digest, annotations: Record<string, string>): Promise<number | undefined> {
    const created = Date.parse(annotations[CREATED] ?? '');
    if (Number.isFinite(created)) return now - created;
    let newest: number | undefined;
    for (const r of await repository.referrers(digest, VERDICT_ARTIFACT_TYPE)) {
      const at = Date.parse(r.annotations?.[CREATED] ?? '');
      if (Number.isFinite(at) && (newest === undefined || at > newest)) newest = at;
    }
    return newest === undefined ? undefined : now - newest;
  }

  /**
   * A referrers fallback index whose subject is gone (promote removed the staging manifest, or gc was
   * interrupted): its verdicts are deleted with it once the newest of them is older than the cutoff.
   */
  async function collectOrphanReferrers(repository: Repository, tag: string): Promise<void> {
    const subject = `sha256:${tag.slice('sha256-'.length)}` as Digest;
    if (await repository.resolve(subject)) return; // handled with its subject
    let fetched;
    try {
      fetched = await repository.fetchManifest(tag);
    } catch (error) {
      if (error instanceof NotFoundError) return;
      throw error;
    }
    const index = parseJsonObject(fetched.bytes, `${repository.display}:${tag}`);
    const entries = (Array.isArray(index.manifests) ? index.manifests : []) as Array<{ digest?: string; annotations?: Record<string, string> }>;
    let newest: number | undefined;
    for (const e of entries) {
      const at = Date.parse(e.annotations?.[CREATED] ?? '');
      if (Number.isFinite(at) && (newest === undefined || at > newest)) newest = at;
    }
    if (newest === undefined || now - newest < o.olderThanMs) return;
    const ageMs = now - newest;
    for (const e of entries) {
      if (typeof e.digest !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(e.digest)) continue;
      doomed.push({ repository: repository.name, digest: e.digest as Digest, ageMs, reason: `verdict about ${subject}, which is gone (promoted or collected); newest verdict ${age(ageMs)} old` });
    }
    doomed.push({ repository: repository.name, tag, digest: fetched.descriptor.digest, ageMs, reason: `referrers index of ${subject}, which is gone; newest verdict ${age(ageMs)} old` });
  }

  async function collectRepository(repository: Repository): Promise<void> {
    doomed = [];
    await planRepository(repository);
    if (o.dryRun) {
      for (const d of doomed) result.deleted.push({ ...d, dryRun: true });
      return;
    }
    const gone = new Set<string>();
    try {
      await remove(repository, [...new Set(doomed.map((d) => d.digest))], (digest) => gone.add(digest));
    } finally {
      for (const d of doomed) if (gone.has(d.digest)) result.deleted.push({ ...d, dryRun: false });
    }
    for (const d of doomed) if (d.tag && !/^sha256-/.test(d.tag) && gone.has(d.digest)) report(`deleted ${repository.display}:${d.tag} (${Math.round(d.ageMs / 60000)} min old)`);
  }

  async function planRepository(repository: Repository): Promise<void> {
    const all = await repository.listTags();
    const allTags = new Set(all);
    const tags = all.filter((t) => !REFERRERS_TAG.test(t));
    const seen = new Set<string>();
    for (const tag of tags) {
      let fetched;
      try {
        fetched = await repository.fetchManifest(tag);
      } catch (error) {
        if (error instanceof NotFoundError) continue; // deleted meanwhile
        throw error;
      }
      const digest = fetched.descriptor.digest;
      if (seen.has(digest)) continue;
      seen.add(digest);
      const manifest = parseJsonObject(fetched.bytes, `${repository.display}:${tag}`);
      const ageMs = await ageOf(repository, digest, (manifest.annotations ?? {}) as Record<string, string>);
      if (ageMs === undefined) {
        report(`keeping ${repository.display}:${tag}: its age is unknown (no created annotation, no verdict)`);
        continue;
      }
      if (ageMs < o.olderThanMs) continue;
      const why = isIntentTag(tag) ? `${tag.startsWith('_promoting.') ? 'promotion' : 'upload'} intent, ${age(ageMs)} old (limit ${age(o.olderThanMs)})` : `never promoted, ${age(ageMs)} old (limit ${age(o.olderThanMs)})`;
      const verdictWhy = `verdict on ${repository.name}:${tag}, which goes with it`;
      // Referrers first: a crash after them leaves an artifact without verdict, which promote refuses anyway.
      for (const r of await repository.referrers(digest)) doomed.push({ repository: repository.name, digest: r.digest, ageMs, reason: verdictWhy });
      const fallback = allTags.has(referrersTagOf(digest)) ? await repository.resolve(referrersTagOf(digest)) : undefined;
      if (fallback) doomed.push({ repository: repository.name, tag: referrersTagOf(digest), digest: fallback.digest, ageMs, reason: `referrers index of ${repository.name}:${tag}, which goes with it` });
      doomed.push({ repository: repository.name, tag, digest, ageMs, reason: why });
    }
    for (const tag of all.filter((t) => REFERRERS_TAG.test(t))) await collectOrphanReferrers(repository, tag);
  }

  /** Deletes through the registry while it can; where it cannot and `github` is given, a package batch over REST. */
  async function remove(repository: Repository, digests: Digest[], deleted: (digest: string) => void): Promise<void> {
    let rest = digests;
    if (!registryCannotDelete) {
      rest = [];
      for (const [i, digest] of digests.entries()) {
        try {
          await repository.deleteManifest(digest);
          deleted(digest);
        } catch (error) {
          if (error instanceof NotFoundError) {
            deleted(digest);
            continue;
          }
          if (!(error instanceof UnsupportedError || error instanceof DeniedError) || !o.github) throw error;
          registryCannotDelete = true;
          rest = digests.slice(i);
          break;
        }
      }
    }
    if (rest.length > 0) await restDeleter().delete(packageName(repository), rest, deleted);
  }
}

/** An age for people: minutes, hours or days. */
function age(ms: number): string {
  if (ms < 2 * 3600_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 2 * 86_400_000) return `${Math.round(ms / 3600_000)} h`;
  return `${Math.round(ms / 86_400_000)} d`;
}

function referrersTagOf(digest: Digest): string {
  return `sha256-${digest.slice('sha256:'.length)}`;
}

/** The GitHub package name prefix of a channel path (`owner/channel` -> `channel`). */
function packageNameOfPath(channelPath: string, owner: string): string {
  const lower = owner.toLowerCase();
  if (channelPath === lower) return '';
  return channelPath.startsWith(`${lower}/`) ? channelPath.slice(lower.length + 1) : channelPath;
}

