// Is a production package public? New packages on ghcr.io may be private (the organisation decides what its members
// may publish, and GitHub's docs disagree on what a workflow-created package inherits), and a private production
// package breaks every conda client that reads without credentials. After promote creates a package and after
// reindex first pushes an index repository, its visibility is read through the REST API (one call per package per
// run) and a private one is reported with the exact fix.
import type { PrivatePackage, VisibilityOptions } from '../types.ts';
import { createGithubPackagesClient, packageSettingsUrl, type GithubPackagesClient, type GithubPackagesOptions } from './packages.ts';

export type VisibilityCheck = NonNullable<VisibilityOptions['visibilityCheck']>;
export type { PrivatePackage };

export class VisibilityChecker {
  readonly mode: VisibilityCheck;
  readonly #options: GithubPackagesOptions | undefined;
  #client: GithubPackagesClient | undefined;
  readonly #checked = new Map<string, Promise<PrivatePackage | undefined>>();
  readonly found: PrivatePackage[] = [];

  /** Without GitHub options the check is off; with them it defaults to 'warn'. */
  constructor(options: GithubPackagesOptions | undefined, mode?: VisibilityCheck) {
    this.#options = options;
    this.mode = options ? (mode ?? 'warn') : 'off';
  }

  get enabled(): boolean {
    return this.mode !== 'off';
  }

  /** Reads the visibility of the package behind a registry repository once per run; records and returns a problem. */
  check(repository: string): Promise<PrivatePackage | undefined> {
    if (!this.enabled || !this.#options) return Promise.resolve(undefined);
    let pending = this.#checked.get(repository);
    if (!pending) {
      pending = this.#read(repository);
      this.#checked.set(repository, pending);
    }
    return pending;
  }

  async #read(repository: string): Promise<PrivatePackage | undefined> {
    const { owner, ownerType = 'org' } = this.#options!;
    const prefix = `${owner.toLowerCase()}/`;
    if (!repository.toLowerCase().startsWith(prefix)) return undefined;
    const name = repository.slice(prefix.length);
    const settings = packageSettingsUrl(owner, ownerType, name);
    let pkg;
    try {
      this.#client ??= createGithubPackagesClient(this.#options!);
      pkg = await this.#client.getPackage(name);
    } catch (error) {
      const problem: PrivatePackage = {
        repository,
        visibility: 'unknown',
        fix: `could not read the visibility of production package ${repository} (${error instanceof Error ? error.message : String(error)}); check it at ${settings}`,
      };
      this.found.push(problem);
      return problem;
    }
    if (pkg?.visibility === 'public') return undefined;
    const visibility = pkg ? pkg.visibility : 'unknown';
    const where =
      ownerType === 'org'
        ? `; so that new packages can be public, allow public packages in https://github.com/organizations/${owner}/settings/packages`
        : '';
    const what =
      visibility === 'unknown'
        ? `production package ${repository} cannot be seen with the GitHub token given (private, or the token lacks read:packages)`
        : `production package ${repository} is ${visibility}: conda clients without credentials cannot read it`;
    const problem: PrivatePackage = {
      repository,
      visibility,
      fix: `${what}; make it public at ${settings} (Danger Zone: Change visibility)${where}`,
    };
    this.found.push(problem);
    return problem;
  }
}
