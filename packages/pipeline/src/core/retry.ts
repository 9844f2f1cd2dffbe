// One bounded retry for a quirk of distribution (the reference registry, filesystem storage): a manifest PUT
// made while another client is pushing one of the manifest's blobs can be refused with DIGEST_INVALID,
// MANIFEST_BLOB_UNKNOWN or BLOB_UNKNOWN, because the blob's link is being rewritten in place at that moment.
// Pushing the same manifest again a moment later succeeds; pushing identical bytes twice is harmless.
// Every manifest push in the pipeline goes through here (upload, verdicts, promote, the promotion log, reindex).

import { ATTEMPTS } from '../defaults.ts';

/** Registry error codes that mean "a blob this manifest names is being written right now". */
export const CONCURRENT_PUSH_CODES: ReadonlySet<string> = new Set(['DIGEST_INVALID', 'MANIFEST_BLOB_UNKNOWN', 'BLOB_UNKNOWN']);

/** Attempts in all (the first push included); the pauses add up to about 1.5 s. */
export const CONCURRENT_PUSH_ATTEMPTS: number = ATTEMPTS.concurrentPush;

export function isConcurrentPushRace(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && CONCURRENT_PUSH_CODES.has(code);
}

/**
 * Runs `push`, and runs it again (at most `attempts` times in all, with growing jittered pauses) while the
 * registry answers with one of the concurrent-push codes. Any other error, or the last attempt's, is thrown as is.
 */
export async function withConcurrentPushRetry<T>(push: () => Promise<T>, attempts = CONCURRENT_PUSH_ATTEMPTS, signal?: AbortSignal): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await push();
    } catch (error) {
      if (attempt >= attempts || !isConcurrentPushRace(error) || signal?.aborted) throw error;
      await new Promise((resolve) => setTimeout(resolve, 40 * 2 ** attempt + Math.floor(Math.random() * 40)));
    }
  }
}
