// Every input name the actions read, in one place. The action.yml files declare them; test/actions/inputs.test.ts
// fails when a name here is declared by no action.yml, or an action.yml declares one that is not here.
export const INPUT = {
  // Channels and their registry credentials.
  channel: 'channel',
  staging: 'staging',
  production: 'production',
  from: 'from',
  to: 'to',
  username: 'username',
  password: 'password',
  stagingUsername: 'staging-username',
  stagingPassword: 'staging-password',
  productionUsername: 'production-username',
  productionPassword: 'production-password',
  /** The workflow token: a registry password on ghcr.io only, and the GitHub API token of the visibility check. */
  token: 'token',

  // The GitHub Packages API (visibility of new packages, deleting on ghcr.io).
  visibilityCheck: 'visibility-check',
  githubOwner: 'github-owner',
  githubOwnerType: 'github-owner-type',
  githubToken: 'github-token',
  githubPackagesApi: 'github-packages-api',

  // upload-to-staging.
  files: 'files',
  uploader: 'uploader',
  targetRepository: 'target-repository',
  dispatchToken: 'dispatch-token',
  eventType: 'event-type',
  label: 'label',
  failOnEmpty: 'fail-on-empty',

  // validate and promote.
  payload: 'payload',
  verdictKey: 'verdict-key',
  owners: 'owners',
  oidcIssuer: 'oidc-issuer',
  allowedOwners: 'allowed-owners',
  allowedWorkflow: 'allowed-workflow',
  maxTokenAge: 'max-token-age',
  sourceUrl: 'source-url',

  // reindex (and mirror's subdirs).
  subdirs: 'subdirs',
  allowSubdirs: 'allow-subdirs',
  full: 'full',
  out: 'out',
  patchGenerator: 'patch-generator',
  patchPackage: 'patch-package',
  patchInstructions: 'patch-instructions',
  cache: 'cache',

  // label.
  artifacts: 'artifacts',
  add: 'add',
  remove: 'remove',
  requests: 'requests',
  reason: 'reason',
  actor: 'actor',

  // gc-staging (and mirror's dry-run).
  olderThan: 'older-than',
  dryRun: 'dry-run',
  allowProductionChannel: 'allow-production-channel',

  // mirror.
  packages: 'packages',
  since: 'since',
  applyRemovals: 'apply-removals',
  patches: 'patches',
} as const;

export interface SecretInput {
  input: string;
  /** The username input its Basic-auth form pairs it with. */
  usernameInput?: string;
}

/** The secrets of an action with one channel: its password, and the workflow token that stands in for it on ghcr.io. */
export const CHANNEL_SECRETS: SecretInput[] = [
  { input: INPUT.password, usernameInput: INPUT.username },
  { input: INPUT.token, usernameInput: INPUT.username },
];

/** The secrets of validate and promote: both channels' passwords, the workflow token for either, the verdict key. */
export const PROMOTION_SECRETS: SecretInput[] = [
  { input: INPUT.stagingPassword, usernameInput: INPUT.stagingUsername },
  { input: INPUT.productionPassword, usernameInput: INPUT.productionUsername },
  { input: INPUT.token, usernameInput: INPUT.stagingUsername },
  { input: INPUT.token, usernameInput: INPUT.productionUsername },
  { input: INPUT.verdictKey },
];
