// Deleting manifests of container packages through the GitHub Packages REST API, within its rules and budget:
// - each package's versions are listed once per run, not once per delete;
// - the API refuses to delete a package's last version, so when nothing tagged would be left the package itself is
//   deleted (one request instead of one per version), with its untagged leftovers older than the cutoff;
// - before each package the x-ratelimit-remaining of the last answer is read, and the work stops while a reserve
//   is left (a workflow token has 1,000 requests an hour for the whole repository): the next run continues.
import type { ContainerPackageVersion, GithubPackagesClient } from './packages.ts';
import { clockTime } from './rate-limit.ts';

export interface PackageDeleterOptions {
  /** Untagged versions older than this (ms) go with the package when nothing tagged is left. */
  olderThanMs: number;
  now: number;
  /** Requests kept back for other work of the same token (default 25). */
  reserve?: number;
}

export class PackageDeleter {
  readonly #client: GithubPackagesClient;
  readonly #options: PackageDeleterOptions;
  readonly #versions = new Map<string, ContainerPackageVersion[]>();

  constructor(client: GithubPackagesClient, options: PackageDeleterOptions) {
    this.#client = client;
    this.#options = options;
  }

  /** Why to stop now (the budget is down to the reserve), or undefined. */
  budgetLow(): string | undefined {
    const { remaining, resetAt } = this.#client.rateLimit();
    const reserve = this.#options.reserve ?? 25;
    if (remaining === undefined || remaining > reserve) return undefined;
    return `stopped early: the GitHub API budget of this token is down to ${remaining} request(s)${resetAt ? ` until ${clockTime(resetAt)}` : ''}; the next run continues`;
  }

  async #list(packageName: string): Promise<ContainerPackageVersion[]> {
    let versions = this.#versions.get(packageName);
    if (!versions) {
      versions = await this.#client.listVersions(packageName);
      this.#versions.set(packageName, versions);
    }
    return versions;
  }

  /**
   * Deletes the versions holding these manifest digests, in order (digests without a version are skipped: gone
   * already). Calls `deleted` for each digest that is gone; returns whether the whole package went.
   */
  async delete(packageName: string, digests: string[], deleted: (digest: string) => void): Promise<{ packageDeleted: boolean }> {
    const versions = await this.#list(packageName);
    const doomed = new Set(digests);
    const left = versions.filter((v) => !doomed.has(v.name));
    const stale = (v: ContainerPackageVersion) => this.#options.now - Date.parse(v.createdAt) >= this.#options.olderThanMs;
    if (left.every((v) => v.tags.length === 0 && stale(v))) {
      await this.#client.deletePackage(packageName);
      this.#versions.set(packageName, []);
      for (const digest of digests) deleted(digest);
      return { packageDeleted: true };
    }
    for (const digest of digests) {
      const version = versions.find((v) => v.name === digest);
      if (version) {
        await this.#client.deleteVersion(packageName, version.id);
        versions.splice(versions.indexOf(version), 1);
      }
      deleted(digest);
    }
    return { packageDeleted: false };
  }
}
