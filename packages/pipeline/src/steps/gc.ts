// gc: deletes staging artifacts older than a cutoff, with their verdict referrers and the referrers fallback
// tag. Age comes from the manifest's org.opencontainers.image.created, else from the newest verdict's time;
// artifacts whose age cannot be told are kept. Only v0 package repositories (`<subdir>/<name>`) are touched.
// Where the registry cannot list or delete (ghcr.io), the GitHub Packages API does it when `github` is given.
import { DeniedError, NotFoundError, UnsupportedError, type Digest, type Repository } from '@oci-channel/oci';
import { parseJsonObject } from '../core/json.ts';
import { createGithubPackagesClient, type GithubPackagesClient } from '../github/index.ts';
import { isIndexComponent, isSubdirName } from '../index/names.ts';
import { errorLine, openChannel, stagingOptions } from '../core/open.ts';
import { reporter } from '../core/progress.ts';
import type { GcOptions, GcResult } from '../types.ts';
import { VERDICT_ARTIFACT_TYPE } from '../records/verdict.ts';

const CREATED = 'org.opencontainers.image.created';
const REFERRERS_TAG = /^sha256-[a-f0-9]{64}$/;

function isPackageRepository(name: string): boolean {
  const parts = name.split('/');
  return parts.length === 2 && isSubdirName(parts[0]!) && !isIndexComponent(parts[1]!);
}

export async function gc(o: GcOptions): Promise<GcResult> {
  const report = reporter(o.progress, 'gc');
  if (!Number.isFinite(o.olderThanMs) || o.olderThanMs < 0) {
    throw new Error(`invalid gc age ${o.olderThanMs}: give a number of milliseconds of at least 0`);
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
      result.deleted.push({ repository: repository.name, digest: e.digest, ageMs, dryRun: o.dryRun === true });
    }
    if (!o.dryRun) await remove(repository, fetched.descriptor.digest);
    result.deleted.push({ repository: repository.name, tag, digest: fetched.descriptor.digest, ageMs, dryRun: o.dryRun === true });
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
      if (o.dryRun) {
        result.deleted.push({ repository: repository.name, tag, digest, ageMs, dryRun: true });
        for (const r of referrers) result.deleted.push({ repository: repository.name, digest: r.digest, ageMs, dryRun: true });
        continue;
      }
      // Referrers first: a crash after this leaves an artifact without verdict, which promote refuses anyway.
      for (const r of referrers) {
        await remove(repository, r.digest);
        result.deleted.push({ repository: repository.name, digest: r.digest, ageMs, dryRun: false });
      }
      const fallback = await repository.resolve(`sha256-${digest.slice('sha256:'.length)}`);
      if (fallback) await remove(repository, fallback.digest);
      await remove(repository, digest);
      result.deleted.push({ repository: repository.name, tag, digest, ageMs, dryRun: false });
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

/** The GitHub package name prefix of a channel path (`owner/channel` -> `channel`). */
function packageNameOfPath(channelPath: string, owner: string): string {
  const lower = owner.toLowerCase();
  if (channelPath === lower) return '';
  return channelPath.startsWith(`${lower}/`) ? channelPath.slice(lower.length + 1) : channelPath;
}

