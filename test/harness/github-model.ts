// GitHub's permission model for packages, shared by the ghcr.io stand-in (ghcr.ts) and the REST fake
// (github-api.ts): accounts and organisations, the identities that present a token, container packages with their
// versions, visibility and linked repository, and who may read, create, write and delete what. The rules are the
// documented and observed ones:
// - packages take classic personal access tokens (read/write/delete:packages) and a workflow's GITHUB_TOKEN, not
//   fine-grained tokens or GitHub App installation tokens ("installation not allowed to Write organization package");
// - any member of an organisation can create a package in it; a package first pushed by a workflow token is linked
//   to that repository, whose workflows may then write it (and administer it); another repository's workflow
//   token cannot, unless granted in the package settings ("Manage Actions access", no API);
// - the user who created a package with a personal token administers it; organisation owners administer all;
// - new packages get the organisation's default visibility (private unless it allows public packages);
// - deleting needs admin on the package (and delete:packages on a personal token).

export type Visibility = 'public' | 'private' | 'internal';
export type PackageRole = 'read' | 'write' | 'admin';

export interface GithubIdentity {
  /** The secret the client presents (a registry password, a REST token). */
  token: string;
  kind: 'classic-pat' | 'workflow' | 'fine-grained-pat' | 'app';
  /** The user (personal tokens), `owner/repo` (workflow tokens) or the app's slug. */
  login: string;
  /** Classic tokens: the packages scopes. */
  scopes?: Array<'read:packages' | 'write:packages' | 'delete:packages'>;
  /** Workflow tokens: the job's `packages:` permission (default read). */
  packages?: 'read' | 'write' | 'none';
  /** REST requests per hour (GitHub: 1,000 for GITHUB_TOKEN in a repository, 5,000 for a personal token). */
  restLimit?: number;
}

export interface GithubAccount {
  login: string;
  type: 'org' | 'user';
  /** Users who may create packages here (organisation members; a user account is its own member). */
  members: string[];
  /** Users who administer every package here. */
  owners: string[];
  /** Visibility new packages get (GitHub: private unless the organisation allows public packages). */
  defaultVisibility?: Visibility;
}

export interface PackageVersionRecord {
  id: number;
  /** The manifest digest. */
  name: string;
  tags: string[];
  createdAt: string;
}

export interface PackageRecord {
  id: number;
  owner: string;
  /** Without the owner: `channel/linux-64/zlib`. */
  name: string;
  visibility: Visibility;
  /** Login of the identity that created it (a user, or `owner/repo` for a workflow token). */
  createdBy: string;
  /** The repository it is linked to (created by that repository's workflow token). */
  repository?: string;
  /** Roles granted in the package settings: a user login or `owner/repo` -> role. */
  access: Map<string, PackageRole>;
  versions: PackageVersionRecord[];
  createdAt: string;
}

export interface RepositoryRecord {
  /** `owner/repo`. */
  fullName: string;
  visibility: 'public' | 'private';
  /** Last push to any branch (what keeps scheduled workflows of a public repository alive). */
  pushedAt: string;
}

export class GithubModel {
  readonly accounts = new Map<string, GithubAccount>();
  readonly identities = new Map<string, GithubIdentity>();
  /** `owner/name` (lower case) -> package. */
  readonly packages = new Map<string, PackageRecord>();
  readonly repositories = new Map<string, RepositoryRecord>();
  #nextId = 1000;

  addAccount(account: GithubAccount): GithubAccount {
    this.accounts.set(account.login.toLowerCase(), account);
    return account;
  }

  addIdentity(identity: GithubIdentity): GithubIdentity {
    this.identities.set(identity.token, identity);
    return identity;
  }

  addRepository(fullName: string, visibility: 'public' | 'private' = 'public', pushedAt = new Date().toISOString()): RepositoryRecord {
    const record = { fullName, visibility, pushedAt };
    this.repositories.set(fullName.toLowerCase(), record);
    return record;
  }

  identity(token: string | undefined): GithubIdentity | undefined {
    return token ? this.identities.get(token) : undefined;
  }

  nextId(): number {
    return this.#nextId++;
  }

  /** A registry repository name (`owner/channel/linux-64/zlib`) as owner and package name. */
  static split(repository: string): { owner: string; name: string } {
    const slash = repository.indexOf('/');
    return { owner: repository.slice(0, slash).toLowerCase(), name: repository.slice(slash + 1).toLowerCase() };
  }

  package(owner: string, name: string): PackageRecord | undefined {
    return this.packages.get(`${owner.toLowerCase()}/${name.toLowerCase()}`);
  }

  packagesOf(owner: string): PackageRecord[] {
    return [...this.packages.values()].filter((p) => p.owner === owner.toLowerCase()).sort((a, b) => a.id - b.id);
  }

  /** Creates a package record as `identity` (or a given creator), with the owner's default visibility. */
  createPackage(owner: string, name: string, by: { login: string; repository?: string }, visibility?: Visibility): PackageRecord {
    const account = this.accounts.get(owner.toLowerCase());
    const record: PackageRecord = {
      id: this.nextId(),
      owner: owner.toLowerCase(),
      name: name.toLowerCase(),
      visibility: visibility ?? account?.defaultVisibility ?? 'private',
      createdBy: by.login,
      ...(by.repository ? { repository: by.repository } : {}),
      access: new Map(),
      versions: [],
      createdAt: new Date().toISOString(),
    };
    this.packages.set(`${record.owner}/${record.name}`, record);
    return record;
  }

  deletePackage(pkg: PackageRecord): void {
    this.packages.delete(`${pkg.owner}/${pkg.name}`);
  }

  /** Records a manifest pushed under `tag` (or by digest): a new version, or the tag moved onto an existing one. */
  recordVersion(pkg: PackageRecord, digest: string, tag?: string): PackageVersionRecord {
    if (tag) for (const v of pkg.versions) v.tags = v.tags.filter((t) => t !== tag);
    let version = pkg.versions.find((v) => v.name === digest);
    if (!version) {
      version = { id: this.nextId(), name: digest, tags: [], createdAt: new Date().toISOString() };
      pkg.versions.push(version);
    }
    if (tag && !version.tags.includes(tag)) version.tags.push(tag);
    return version;
  }

  /** Whether a token may be used for packages at all (fine-grained and app tokens may not). */
  static packagesToken(identity: GithubIdentity): boolean {
    return identity.kind === 'classic-pat' || identity.kind === 'workflow';
  }

  #canWriteAtAll(identity: GithubIdentity): boolean {
    if (identity.kind === 'classic-pat') return identity.scopes?.includes('write:packages') === true;
    if (identity.kind === 'workflow') return identity.packages === 'write';
    return false;
  }

  #canReadAtAll(identity: GithubIdentity): boolean {
    if (identity.kind === 'classic-pat') return (identity.scopes ?? []).some((s) => s === 'read:packages' || s === 'write:packages');
    if (identity.kind === 'workflow') return identity.packages === 'read' || identity.packages === 'write';
    return false;
  }

  #role(identity: GithubIdentity, pkg: PackageRecord): PackageRole | undefined {
    const account = this.accounts.get(pkg.owner);
    if (identity.kind === 'classic-pat') {
      if (account?.owners.includes(identity.login) || pkg.createdBy === identity.login) return 'admin';
      if (account?.type === 'user' && account.login.toLowerCase() === identity.login.toLowerCase()) return 'admin';
      return pkg.access.get(identity.login);
    }
    if (identity.kind === 'workflow') {
      if (pkg.repository?.toLowerCase() === identity.login.toLowerCase()) return 'admin';
      return pkg.access.get(identity.login);
    }
    return undefined;
  }

  canRead(identity: GithubIdentity | undefined, pkg: PackageRecord): boolean {
    if (pkg.visibility === 'public') return true;
    if (!identity || !this.#canReadAtAll(identity)) return false;
    return this.#role(identity, pkg) !== undefined;
  }

  /** Whether `identity` may create a new package under `owner`. */
  canCreate(identity: GithubIdentity, owner: string): boolean {
    if (!this.#canWriteAtAll(identity)) return false;
    const account = this.accounts.get(owner.toLowerCase());
    if (!account) return false;
    if (identity.kind === 'workflow') return identity.login.split('/')[0]!.toLowerCase() === account.login.toLowerCase();
    return account.members.includes(identity.login) || account.owners.includes(identity.login);
  }

  canWrite(identity: GithubIdentity, pkg: PackageRecord): boolean {
    if (!this.#canWriteAtAll(identity)) return false;
    const role = this.#role(identity, pkg);
    return role === 'write' || role === 'admin';
  }

  canDelete(identity: GithubIdentity, pkg: PackageRecord): boolean {
    if (identity.kind === 'classic-pat' && !identity.scopes?.includes('delete:packages')) return false;
    if (identity.kind === 'workflow' && identity.packages !== 'write') return false;
    return this.#role(identity, pkg) === 'admin';
  }
}
