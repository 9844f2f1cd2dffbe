// gc: deletes staging artifacts older than a cutoff, with their verdict referrers and the referrers fallback
// tag. Age comes from the manifest's org.opencontainers.image.created, else from the newest verdict's time;
// artifacts whose age cannot be told are kept. Only v0 package repositories (`<subdir>/<name>`) are touched.
// Where the registry cannot list or delete (ghcr.io), the GitHub Packages API does it when `github` is given.
import { DeniedError, NotFoundError, UnsupportedError, type Digest, type Repository } from '@oci-channel/oci';
import { parseJsonObject } from '../core/json.ts';
import { createGithubPackagesClient, type GithubPackagesClient } from '../github/index.ts';
import { CHANNELDATA_REPOSITORY, isPackageRepository, isRepodataRepository } from '../index/names.ts';
import { PROMOTION_LOG_REPOSITORY } from '../records/promotion-log.ts';
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
      if (!o.dryRun) await remove(repository, e.digest as Digest);
      result.deleted.push({ repository: repository.name, digest: e.digest, ageMs, dryRun: o.dryRun === true, reason: `verdict about ${subject}, which is gone (promoted or collected); newest verdict ${age(ageMs)} old` });
    }
    if (!o.dryRun) await remove(repository, fetched.descriptor.digest);
    result.deleted.push({
      repository: repository.name,
      tag,
      digest: fetched.descriptor.digest,
      ageMs,
      dryRun: o.dryRun === true,
      reason: `referrers index of ${subject}, which is gone; newest verdict ${age(ageMs)} old`,
    });
  }

  async function collectRepository(repository: Repository): Promise<void> {
    const all = await repository.listTags();
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
      const referrers = await repository.referrers(digest);
      const why = `never promoted, ${age(ageMs)} old (limit ${age(o.olderThanMs)})`;
      const verdictWhy = `verdict on ${repository.name}:${tag}, which goes with it`;
      if (o.dryRun) {
        result.deleted.push({ repository: repository.name, tag, digest, ageMs, dryRun: true, reason: why });
        for (const r of referrers) result.deleted.push({ repository: repository.name, digest: r.digest, ageMs, dryRun: true, reason: verdictWhy });
        continue;
      }
      // Referrers first: a crash after this leaves an artifact without verdict, which promote refuses anyway.
      for (const r of referrers) {
        await remove(repository, r.digest);
        result.deleted.push({ repository: repository.name, digest: r.digest, ageMs, dryRun: false, reason: verdictWhy });
      }
      const fallback = await repository.resolve(`sha256-${digest.slice('sha256:'.length)}`);
      if (fallback) await remove(repository, fallback.digest);
      await remove(repository, digest);
      result.deleted.push({ repository: repository.name, tag, digest, ageMs, dryRun: false, reason: why });
      report(`deleted ${repository.display}:${tag} (${Math.round(ageMs / 60000)} min old)`);
    }
    for (const tag of all.filter((t) => REFERRERS_TAG.test(t))) await collectOrphanReferrers(repository, tag);
  }

  async function remove(repository: Repository, digest: Digest): Promise<void> {
    try {
      await repository.deleteManifest(digest);
      return;
    } catch (error) {
      if (error instanceof NotFoundError) return;
      if (!(error instanceof UnsupportedError || error instanceof DeniedError) || !o.github) throw error;
    }
    const client = githubClient();
    const name = packageName(repository);
    const version = (await client.listVersions(name)).find((v) => v.name === digest);
    if (version) await client.deleteVersion(name, version.id);
  }
}

/** An age for people: minutes, hours or days. */
function age(ms: number): string {
  if (ms < 2 * 3600_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 2 * 86_400_000) return `${Math.round(ms / 3600_000)} h`;
  return `${Math.round(ms / 86_400_000)} d`;
}

/** The GitHub package name prefix of a channel path (`owner/channel` -> `channel`). */
function packageNameOfPath(channelPath: string, owner: string): string {
  const lower = owner.toLowerCase();
  if (channelPath === lower) return '';
  return channelPath.startsWith(`${lower}/`) ? channelPath.slice(lower.length + 1) : channelPath;
}

