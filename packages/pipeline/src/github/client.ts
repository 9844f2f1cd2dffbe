// One place that builds the octokit client and turns its failures into one-line errors without credentials.
// Octokit is loaded on first use: most commands (upload, validate, reindex) never call GitHub, and loading it
// costs tens of MB and startup time in every process.
import type { getOctokit } from '@actions/github';
import { GithubApiError } from '../errors.ts';
import { clockTime, handleRateLimits, type RateLimitOptions, type RateLimitState } from './rate-limit.ts';

export { GithubApiError };

export type GithubClient = ReturnType<typeof getOctokit>;

/** The REST base URL: the explicit one, else GITHUB_API_URL (set by the runner; tests point it at a fake), else github.com. */
export function githubApiUrl(apiUrl?: string, env: Record<string, string | undefined> = process.env): string {
  const url = (apiUrl || env.GITHUB_API_URL || 'https://api.github.com').replace(/\/+$/, '');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new GithubApiError(`invalid GitHub API URL ${JSON.stringify(url)}: expected https://HOST[/PATH]`);
  }
  if (parsed.username || parsed.password) {
    throw new GithubApiError('the GitHub API URL must not carry credentials: pass the token separately');
  }
  // Plain http only on loopback (test servers, local proxies): a token must never travel in clear text.
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname);
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && loopback)) {
    throw new GithubApiError(`refusing GitHub API URL ${parsed.origin}: use https (plain http only on loopback)`);
  }
  return url;
}

/**
 * An octokit for `token`. Every answer's x-ratelimit-* headers land in `rateLimit` (a fresh state by default), and
 * requests refused for a rate limit are sent again after a short wait (rate-limit.ts).
 */
export async function createGithubClient(token: string, apiUrl?: string, rateLimit: RateLimitState = {}, options?: RateLimitOptions): Promise<GithubClient> {
  if (!token) throw new GithubApiError('no GitHub token given: pass a token with the permissions the call needs');
  const baseUrl = githubApiUrl(apiUrl);
  const { getOctokit: load } = await import('@actions/github');
  const octokit = load(token, { baseUrl, userAgent: 'oci-channel' });
  handleRateLimits(octokit, rateLimit, options);
  return octokit;
}


const HINTS: Record<number, string> = {
  401: 'the token is missing, expired or wrong',
  403: 'the token lacks the permission (or the rate limit is exhausted)',
  404: 'not found, or the token cannot see it',
  422: 'GitHub refused the request body',
};

/** Rethrows an octokit failure as a one-line GithubApiError about `what`. */
export function githubFailure(what: string, error: unknown, hint = ''): never {
  const status = typeof (error as { status?: unknown })?.status === 'number' ? (error as { status: number }).status : undefined;
  const apiMessage = oneLine(
    ((error as { response?: { data?: { message?: unknown } } })?.response?.data?.message as string | undefined) ??
      (status === undefined && error instanceof Error ? error.message : ''),
  );
  const headers = (error as { response?: { headers?: Record<string, string | number | undefined> } })?.response?.headers;
  const spent = (status === 403 || status === 429) && String(headers?.['x-ratelimit-remaining']) === '0';
  const reset = Number(headers?.['x-ratelimit-reset']);
  const hint403 = spent
    ? `the token's API rate limit is spent${Number.isFinite(reset) ? ` until ${clockTime(reset * 1000)}` : ''}; run again after that`
    : HINTS[status ?? 0];
  const reason = status ? `HTTP ${status}${hint403 ? ` (${hint403})` : ''}` : 'network error';
  throw new GithubApiError(
    `${what} failed: ${reason}${apiMessage ? `: ${apiMessage}` : ''}${hint ? `; ${hint}` : ''}`,
    status,
    { cause: error },
  );
}

function oneLine(text: unknown): string {
  return typeof text === 'string' ? text.replace(/\s+/g, ' ').trim().slice(0, 300) : '';
}
