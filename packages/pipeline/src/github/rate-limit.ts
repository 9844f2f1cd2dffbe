// GitHub's REST rate limits, as every call sees them: the x-ratelimit-* headers of each answer are remembered (so a
// caller can stop before the budget is spent: 1,000 requests an hour for a workflow token), and a request refused
// for a rate limit (429, or 403 with retry-after, a spent budget or "secondary rate limit") is sent again after the
// wait GitHub asks for, when that wait is short enough; a longer one fails with the time the budget comes back.
import { setTimeout as sleep } from 'node:timers/promises';
import type { GithubClient } from './client.ts';

export interface RateLimitState {
  /** Requests allowed per window, remaining in it, and when it resets (ms since the epoch), from the last answer. */
  limit?: number;
  remaining?: number;
  resetAt?: number;
}

export interface RateLimitOptions {
  /** Longest wait accepted before sending again (default 90 s); longer ones fail at once. */
  maxWaitMs?: number;
  /** Attempts in all for one request (default 4). */
  attempts?: number;
}

/** GitHub's advice for a secondary limit without retry-after: wait at least a minute. */
const SECONDARY_DEFAULT_WAIT_MS = 60_000;

type Headers = Record<string, string | number | undefined>;

function headerNumber(headers: Headers | undefined, name: string): number | undefined {
  const value = headers?.[name];
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

export function readRateLimit(state: RateLimitState, headers: Headers | undefined): void {
  const limit = headerNumber(headers, 'x-ratelimit-limit');
  const remaining = headerNumber(headers, 'x-ratelimit-remaining');
  const reset = headerNumber(headers, 'x-ratelimit-reset');
  if (limit !== undefined) state.limit = limit;
  if (remaining !== undefined) state.remaining = remaining;
  if (reset !== undefined) state.resetAt = reset * 1000;
}

/** How long a refused request asks to wait, or undefined when the refusal is not a rate limit. */
export function rateLimitWait(status: number | undefined, headers: Headers | undefined, message: string, now = Date.now()): number | undefined {
  if (status !== 403 && status !== 429) return undefined;
  const retryAfter = headerNumber(headers, 'retry-after');
  if (retryAfter !== undefined) return retryAfter * 1000;
  if (headerNumber(headers, 'x-ratelimit-remaining') === 0) {
    const reset = headerNumber(headers, 'x-ratelimit-reset');
    return reset !== undefined ? Math.max(0, reset * 1000 - now) : undefined;
  }
  if (/secondary rate limit/i.test(message) || status === 429) return SECONDARY_DEFAULT_WAIT_MS;
  return undefined;
}

/** Makes every request of `octokit` remember the rate-limit headers in `state` and wait out short rate limits. */
export function handleRateLimits(octokit: Pick<GithubClient, 'hook'>, state: RateLimitState, options: RateLimitOptions = {}): void {
  const maxWaitMs = options.maxWaitMs ?? 90_000;
  const attempts = Math.max(1, options.attempts ?? 4);
  octokit.hook.wrap('request', async (request, requestOptions) => {
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await request(requestOptions);
        readRateLimit(state, response.headers as Headers);
        return response;
      } catch (error) {
        const e = error as { status?: number; response?: { headers?: Headers; data?: { message?: unknown } }; message?: string };
        readRateLimit(state, e.response?.headers);
        const message = typeof e.response?.data?.message === 'string' ? e.response.data.message : (e.message ?? '');
        const wait = rateLimitWait(e.status, e.response?.headers, message);
        if (wait === undefined || wait > maxWaitMs || attempt >= attempts) throw error;
        await sleep(wait);
      }
    }
  });
}

/** `14:05 UTC`, for "the budget comes back at". */
export function clockTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(11, 16)} UTC`;
}
