// The recommended ghcr.io setup (docs/actions.md, "Who writes what"), on the stand-in: two organisations and the
// identities that write them.
// - stage-org: the staging namespace, written by ONE staging identity (a machine user's classic token with
//   write:packages, handed to every feedstock): it creates every staging package, so any feedstock can push any
//   name, and validate records verdicts with it. A second classic token of that user adds delete:packages for gc.
// - prod-org: the production namespace, holding only the channel repository prod-org/channel. Packages and the
//   promotion log are written by the release identity (another machine user's classic token, kept in the
//   `production` environment); the index repositories are created and written by the channel repository's own
//   workflow token (linked to it on first push). Feedstocks are in another organisation and cannot create here.
// - feedstocks: where feedstock repositories live; their workflow tokens can write neither namespace.
import { GithubModel } from '../harness/github-model.ts';
import { startGhcr, type RunningGhcr } from '../harness/ghcr.ts';
import { startGithubApi, type FakeGithubApi } from '../harness/github-api.ts';
import { credentialKeys, parseLocation } from '@oci-channel/oci';

export const TOKENS = {
  /** stage-bot, write:packages: uploads, verdicts, reading staging. */
  stage: 'ghp_StageBotWritePackagesDISTINCT01234567',
  /** stage-bot, delete:packages: gc of staging only. */
  stageGc: 'ghp_StageBotDeletePackagesDISTINCT7654321',
  /** release-bot, write:packages, member of prod-org only: promote. */
  release: 'ghp_ReleaseBotWritePackagesDISTINCT0987654',
  /** The channel repository's workflow token (packages: write): reindex, REST reads. */
  channel: 'ghs_ChannelRepoWorkflowTokenDISTINCT55555',
  /** A feedstock repository's workflow token (packages: write in its own organisation). */
  feedstock: 'ghs_FeedstockWorkflowTokenDISTINCT4444444',
} as const;

export interface GhcrWorld {
  model: GithubModel;
  ghcr: RunningGhcr;
  api: FakeGithubApi;
  staging: string;
  production: string;
  stop(): Promise<void>;
}

export async function startGhcrWorld(): Promise<GhcrWorld> {
  const model = new GithubModel();
  model.addAccount({ login: 'stage-org', type: 'org', members: ['stage-bot'], owners: [], defaultVisibility: 'public' });
  model.addAccount({ login: 'prod-org', type: 'org', members: ['release-bot'], owners: ['channel-admin'], defaultVisibility: 'public' });
  model.addAccount({ login: 'feedstocks', type: 'org', members: [], owners: [], defaultVisibility: 'public' });
  model.addIdentity({ token: TOKENS.stage, kind: 'classic-pat', login: 'stage-bot', scopes: ['write:packages'] });
  model.addIdentity({ token: TOKENS.stageGc, kind: 'classic-pat', login: 'stage-bot', scopes: ['read:packages', 'delete:packages'] });
  model.addIdentity({ token: TOKENS.release, kind: 'classic-pat', login: 'release-bot', scopes: ['write:packages'] });
  model.addIdentity({ token: TOKENS.channel, kind: 'workflow', login: 'prod-org/channel', packages: 'write' });
  model.addIdentity({ token: TOKENS.feedstock, kind: 'workflow', login: 'feedstocks/zlib-feedstock', packages: 'write' });
  model.addRepository('prod-org/channel', 'public');
  const ghcr = await startGhcr({ model });
  const api = await startGithubApi({ model, onDeleteVersion: (pkg, version) => ghcr.removeVersion(pkg, version) });
  return {
    model,
    ghcr,
    api,
    staging: ghcr.location('stage-org/staging'),
    production: ghcr.location('prod-org/channel'),
    async stop() {
      await api.stop();
      await ghcr.stop();
    },
  };
}

/** The CLI's credential variables for a location (its most specific key). */
export function credentialEnv(location: string, token: string): Record<string, string> {
  const parsed = parseLocation(location);
  if (parsed.kind !== 'registry') throw new Error(`not a registry location: ${location}`);
  const key = credentialKeys(parsed)[0]!;
  return { [`OCI_CHANNEL_${key}_USERNAME`]: 'x-access-token', [`OCI_CHANNEL_${key}_PASSWORD`]: token };
}

/** Package names (without owner) the model holds for an owner. */
export function packageNames(world: GhcrWorld, owner: string): string[] {
  return world.model.packagesOf(owner).map((p) => p.name).sort();
}
