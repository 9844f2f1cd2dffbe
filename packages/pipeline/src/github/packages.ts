// GitHub Packages REST for container packages: ghcr.io has no catalog and no DELETE on the registry API, so gc
// lists and deletes package versions here (and whole packages: the API refuses to delete a package's last version),
// and promote and reindex read a new package's visibility. Every call reads the rate-limit headers (rateLimit()).
import { createGithubClient, githubApiUrl, githubFailure, GithubApiError, type GithubClient } from './client.ts';
import type { RateLimitState } from './rate-limit.ts';

export interface GithubPackagesOptions {
  token: string;
  /** Default GITHUB_API_URL, else https://api.github.com. */
  apiUrl?: string;
  /** The organisation or user owning the packages (ghcr.io/<owner>/...). */
  owner: string;
  ownerType?: 'org' | 'user';
  /** Longest rate-limit wait accepted before a call is sent again (default 90 s). */
  maxRateLimitWaitMs?: number;
}

export interface ContainerPackage {
  /** Without the owner: `channel/linux-64/zlib`. */
  name: string;
  visibility: 'public' | 'private' | 'internal';
  /** `owner/repo` of the repository it is linked to, if any. */
  repository?: string;
}

export interface ContainerPackageVersion {
  id: number;
  /** The manifest digest (`sha256:...`). */
  name: string;
  tags: string[];
  createdAt: string;
}

export interface GithubPackagesClient {
  /** Container package names (e.g. `channel/linux-64/zlib`) equal to `prefix` or under `prefix/`; '' lists all. */
  listContainerPackages(prefix: string): Promise<string[]>;
  listVersions(packageName: string): Promise<ContainerPackageVersion[]>;
  deleteVersion(packageName: string, id: number): Promise<void>;
  /** The package, or undefined when it does not exist or the token cannot see it (a private package). */
  getPackage(packageName: string): Promise<ContainerPackage | undefined>;
  /** Deletes the package with every version (the only way to remove its last one). */
  deletePackage(packageName: string): Promise<void>;
  /** The rate-limit budget as the last answer stated it. */
  rateLimit(): Readonly<RateLimitState>;
  /** Where an admin changes the package's visibility and access. */
  settingsUrl(packageName: string): string;
}

const OWNER_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/;

export function createGithubPackagesClient(options: GithubPackagesOptions): GithubPackagesClient {
  const { owner } = options;
  if (!OWNER_RE.test(owner)) {
    throw new GithubApiError(`invalid GitHub owner ${JSON.stringify(owner)}: expected a user or organisation login`);
  }
  const ownerType = options.ownerType ?? 'org';
  if (ownerType !== 'org' && ownerType !== 'user') {
    throw new GithubApiError(`invalid owner type ${JSON.stringify(ownerType)}: expected org or user`);
  }
  // Bad token or URL fail here, before any call; Octokit itself loads on the first call.
  if (!options.token) throw new GithubApiError('no GitHub token given: pass a token with the permissions the call needs');
  githubApiUrl(options.apiUrl);
  let loading: Promise<GithubClient> | undefined;
  const budget: RateLimitState = {};
  const client = async () => {
    const octokit = await (loading ??= createGithubClient(options.token, options.apiUrl, budget, { maxWaitMs: options.maxRateLimitWaitMs }));
    return { octokit, rest: octokit.rest.packages };
  };
  const scope = ownerType === 'org' ? `organisation ${owner}` : `user ${owner}`;
  const hint =
    'the token needs read:packages (delete:packages to delete) and, for GITHUB_TOKEN, the repository needs a role on the package';

  return {
    async listContainerPackages(prefix) {
      const normalized = prefix.replace(/^\/+|\/+$/g, '');
      let packages: Array<{ name: string }>;
      const { octokit, rest } = await client();
      try {
        packages =
          ownerType === 'org'
            ? await octokit.paginate(rest.listPackagesForOrganization, {
                org: owner,
                package_type: 'container',
                per_page: 100,
              })
            : await octokit.paginate(rest.listPackagesForUser, {
                username: owner,
                package_type: 'container',
                per_page: 100,
              });
      } catch (error) {
        githubFailure(`listing container packages of ${scope}`, error, hint);
      }
      return packages
        .map((p) => p.name)
        .filter((name) => !normalized || name === normalized || name.startsWith(`${normalized}/`))
        .sort();
    },

    async listVersions(packageName) {
      checkPackageName(packageName);
      let versions: Array<{ id: number; name: string; created_at: string; metadata?: { container?: { tags?: string[] } } }>;
      const { octokit, rest } = await client();
      try {
        versions =
          ownerType === 'org'
            ? await octokit.paginate(rest.getAllPackageVersionsForPackageOwnedByOrg, {
                org: owner,
                package_type: 'container',
                package_name: packageName,
                per_page: 100,
                state: 'active',
              })
            : await octokit.paginate(rest.getAllPackageVersionsForPackageOwnedByUser, {
                username: owner,
                package_type: 'container',
                package_name: packageName,
                per_page: 100,
              });
      } catch (error) {
        githubFailure(`listing versions of container package ${owner}/${packageName}`, error, hint);
      }
      return versions.map((v) => ({
        id: v.id,
        name: v.name,
        tags: [...(v.metadata?.container?.tags ?? [])],
        createdAt: v.created_at,
      }));
    },

    async deleteVersion(packageName, id) {
      checkPackageName(packageName);
      if (!Number.isSafeInteger(id) || id <= 0) {
        throw new GithubApiError(`invalid package version id ${JSON.stringify(id)} for ${owner}/${packageName}`);
      }
      const { rest } = await client();
      try {
        if (ownerType === 'org') {
          await rest.deletePackageVersionForOrg({
            org: owner,
            package_type: 'container',
            package_name: packageName,
            package_version_id: id,
          });
        } else {
          await rest.deletePackageVersionForUser({
            username: owner,
            package_type: 'container',
            package_name: packageName,
            package_version_id: id,
          });
        }
      } catch (error) {
        githubFailure(`deleting version ${id} of container package ${owner}/${packageName}`, error, hint);
      }
    },

    async getPackage(packageName) {
      checkPackageName(packageName);
      const { rest } = await client();
      let data: { name: string; visibility: string; repository?: { full_name?: string } | null };
      try {
        ({ data } =
          ownerType === 'org'
            ? await rest.getPackageForOrganization({ org: owner, package_type: 'container', package_name: packageName })
            : await rest.getPackageForUser({ username: owner, package_type: 'container', package_name: packageName }));
      } catch (error) {
        if ((error as { status?: unknown }).status === 404) return undefined;
        githubFailure(`reading container package ${owner}/${packageName}`, error, hint);
      }
      const visibility = data.visibility === 'public' || data.visibility === 'internal' ? data.visibility : 'private';
      return { name: data.name, visibility, ...(data.repository?.full_name ? { repository: data.repository.full_name } : {}) };
    },

    async deletePackage(packageName) {
      checkPackageName(packageName);
      const { rest } = await client();
      try {
        if (ownerType === 'org') await rest.deletePackageForOrg({ org: owner, package_type: 'container', package_name: packageName });
        else await rest.deletePackageForUser({ username: owner, package_type: 'container', package_name: packageName });
      } catch (error) {
        githubFailure(`deleting container package ${owner}/${packageName}`, error, hint);
      }
    },

    rateLimit() {
      return { ...budget };
    },

    settingsUrl(packageName) {
      return packageSettingsUrl(owner, ownerType, packageName);
    },
  };
}

/** The package's settings page (visibility, access), for messages: `/` in the name is encoded. */
export function packageSettingsUrl(owner: string, ownerType: 'org' | 'user', packageName: string): string {
  return `https://github.com/${ownerType === 'org' ? 'orgs' : 'users'}/${owner}/packages/container/${encodeURIComponent(packageName)}/settings`;
}

function checkPackageName(name: string): void {
  // Repository names as the registry knows them, without the owner (octokit encodes the '/').
  if (!/^[a-z0-9][a-z0-9._\/-]{0,254}$/.test(name) || name.includes('..') || name.includes('//') || name.endsWith('/')) {
    throw new GithubApiError(`invalid container package name ${JSON.stringify(name)}: expected a repository path like channel/linux-64/zlib`);
  }
}
