// repository_dispatch: how an upload asks the channel repository to validate and promote.
// GitHub caps client_payload at 10 top-level properties and 64 KB of JSON, so large uploads are split.
import { createGithubClient, githubFailure, GithubApiError } from './client.ts';
import { MAX_ARTIFACTS_PER_REQUEST, parsePromotionRequest, type PromotionRequest } from './payload.ts';
import { promotionAudience } from '../identity/audience.ts';

/** GitHub's limits on a dispatch. */
export const DISPATCH_LIMITS = { maxPayloadBytes: 64 * 1024 - 1, maxTopLevelProperties: 10, maxEventTypeLength: 100 } as const;
/** Default target size of one payload: below the cap, leaving room for how GitHub counts. */
export const DEFAULT_DISPATCH_BYTES = 60 * 1024;

export interface SplitOptions {
  /** Largest JSON size of one client_payload in bytes (default 60 KiB, at most 64 KiB - 1). */
  maxBytes?: number;
  /** Most artifacts in one payload (default and at most 1000, what validate accepts). */
  maxArtifacts?: number;
}

/**
 * Splits one promotion request into payloads that each fit GitHub's limits, keeping every field but
 * `artifacts` and the artifacts' order. Pure: no I/O.
 */
export function splitDispatchPayloads(request: PromotionRequest, options: SplitOptions = {}): PromotionRequest[] {
  const maxBytes = Math.min(options.maxBytes ?? DEFAULT_DISPATCH_BYTES, DISPATCH_LIMITS.maxPayloadBytes);
  const maxArtifacts = Math.min(options.maxArtifacts ?? MAX_ARTIFACTS_PER_REQUEST, MAX_ARTIFACTS_PER_REQUEST);
  if (!(maxArtifacts >= 1)) throw new RangeError('maxArtifacts must be at least 1');
  const entries = Object.entries(request.artifacts);
  if (entries.length === 0) return [];
  const { artifacts: _ignored, ...rest } = request;
  const emptySize = jsonBytes({ ...rest, artifacts: {} });
  const payloads: PromotionRequest[] = [];
  let current: Record<string, string> = {};
  let count = 0;
  let size = emptySize;
  for (const [key, sha256] of entries) {
    // `"key":"value"` plus a comma when it is not the first entry.
    const entrySize = jsonBytes(key) + 1 + jsonBytes(sha256);
    if (emptySize + entrySize > maxBytes) {
      throw new GithubApiError(`artifact ${JSON.stringify(key)} alone does not fit a ${maxBytes}-byte dispatch payload: shorten the uploader or file name`);
    }
    const added = entrySize + (count > 0 ? 1 : 0);
    if (count >= maxArtifacts || size + added > maxBytes) {
      payloads.push({ ...rest, artifacts: current });
      current = {};
      count = 0;
      size = emptySize;
    }
    size += entrySize + (count > 0 ? 1 : 0);
    current[key] = sha256;
    count++;
  }
  payloads.push({ ...rest, artifacts: current });
  return payloads;
}

function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}

export interface RepositoryDispatchOptions {
  token: string;
  /** Default GITHUB_API_URL, else https://api.github.com. */
  apiUrl?: string;
  /** `owner/repo` receiving the event (its default branch holds the workflow). */
  repository: string;
  eventType: string;
  clientPayload: Record<string, unknown>;
}

const REPOSITORY_RE = /^[A-Za-z0-9][A-Za-z0-9-]*\/[A-Za-z0-9._-]+$/;

/** Sends one repository_dispatch after checking GitHub's limits locally (a 422 would say less). */
export async function sendRepositoryDispatch(options: RepositoryDispatchOptions): Promise<void> {
  const { repository, eventType, clientPayload } = options;
  if (!REPOSITORY_RE.test(repository) || repository.length > 140) {
    throw new GithubApiError(`invalid target repository ${JSON.stringify(repository)}: expected owner/repo`);
  }
  if (!eventType || eventType.length > DISPATCH_LIMITS.maxEventTypeLength || /[\s\x00-\x1f]/.test(eventType)) {
    throw new GithubApiError(`invalid dispatch event type ${JSON.stringify(eventType)}: 1-100 characters without spaces`);
  }
  const properties = Object.keys(clientPayload).length;
  if (properties > DISPATCH_LIMITS.maxTopLevelProperties) {
    throw new GithubApiError(`dispatch payload has ${properties} top-level properties; GitHub allows ${DISPATCH_LIMITS.maxTopLevelProperties}`);
  }
  const bytes = jsonBytes(clientPayload);
  if (bytes > DISPATCH_LIMITS.maxPayloadBytes) {
    throw new GithubApiError(`dispatch payload is ${bytes} bytes of JSON; GitHub allows less than 64 KB: split it with splitDispatchPayloads`);
  }
  const [owner, repo] = repository.split('/') as [string, string];
  const octokit = await createGithubClient(options.token, options.apiUrl);
  try {
    await octokit.rest.repos.createDispatchEvent({ owner, repo, event_type: eventType, client_payload: clientPayload });
  } catch (error) {
    githubFailure(
      `repository_dispatch ${JSON.stringify(eventType)} to ${repository}`,
      error,
      'the dispatch token needs Contents read & write on the target repository',
    );
  }
}

export interface DispatchPromotionOptions extends Omit<RepositoryDispatchOptions, 'clientPayload'> {
  request: PromotionRequest;
  split?: SplitOptions;
  /**
   * Mints the identity token of one dispatch for its audience (promotionAudience of that dispatch's artifacts);
   * upload-to-staging passes @actions/core's getIDToken. Each dispatch of a split request gets its own token.
   */
  identityToken?: (audience: string) => Promise<string>;
}

/** Room kept in every payload for its identity token (GitHub's are about 1-2 KiB). */
export const IDENTITY_TOKEN_RESERVE_BYTES = 8 * 1024;

/**
 * Checks a promotion request as validate will, splits it, mints each part's identity token (when asked) and sends
 * every part; returns how many were sent and the payloads without their tokens.
 */
export async function dispatchPromotion(options: DispatchPromotionOptions): Promise<{ dispatches: number; payloads: PromotionRequest[] }> {
  const base = options.request.request_id;
  // Each dispatch gets its own id: the request's, with `.N` when it is split; the split keeps room for the suffix
  // and, by counting a placeholder of the reserved size in every part, for the identity token.
  const reserved: PromotionRequest = {
    ...options.request,
    ...(base === undefined ? {} : { request_id: `${base}.00000` }),
    ...(options.identityToken ? { identity_token: 'x'.repeat(IDENTITY_TOKEN_RESERVE_BYTES) } : {}),
  };
  const payloads = splitDispatchPayloads(reserved, options.split).map(({ identity_token: _placeholder, ...p }, i, all) =>
    base === undefined ? p : { ...p, request_id: all.length > 1 ? `${base}.${i + 1}` : base },
  );
  // Each part must pass the receiver's strict check, or it would be refused after the upload succeeded.
  for (const payload of payloads) parsePromotionRequest(payload);
  let sent = 0;
  for (const bare of payloads) {
    try {
      const payload: PromotionRequest = { ...bare };
      if (options.identityToken) {
        const token = await options.identityToken(promotionAudience(parsePromotionRequest(bare).artifacts, bare.label));
        if (token.length > IDENTITY_TOKEN_RESERVE_BYTES) throw new GithubApiError(`the identity token is longer than the ${IDENTITY_TOKEN_RESERVE_BYTES} bytes kept for it in a dispatch`);
        payload.identity_token = token;
        parsePromotionRequest(payload);
      }
      await sendRepositoryDispatch({ ...options, clientPayload: { ...payload } });
    } catch (error) {
      if (sent === 0) throw error;
      throw new GithubApiError(
        `${(error as Error).message} (after ${sent} of ${payloads.length} dispatches were sent; re-running is safe: promotion is idempotent)`,
        (error as GithubApiError).status,
        { cause: error },
      );
    }
    sent++;
  }
  return { dispatches: sent, payloads };
}
