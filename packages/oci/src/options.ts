// Options shared by every store.

export interface Credentials {
  username: string;
  password: string;
}

export interface StoreOptions {
  /**
   * Explicit credentials for this location (actions pass their inputs here). Without them, credentials come
   * from the environment (see auth.ts: OCI_CHANNEL_<HOST_PATH>_USERNAME / _PASSWORD, longest path first),
   * then the docker config.json (DOCKER_CONFIG or ~/.docker), then none.
   */
  credentials?: Credentials;
  /** Where credential variables are looked up (default process.env). */
  env?: Record<string, string | undefined>;
  /** Concurrent requests per registry: the connection pool (default 8; the pipeline's steps size it to their concurrency). */
  concurrency?: number;
  /**
   * Attempts per request (default 5), backoff (200 ms doubling, capped at 30 s), and the longest wait a rate-limit
   * answer (429, GitHub's secondary limit) may ask for and still be waited out (default 120 s).
   */
  retry?: { attempts?: number; baseDelayMs?: number; maxDelayMs?: number; maxRateLimitWaitMs?: number };
  /** Per-request timeout without progress, ms (default 60 s). */
  timeoutMs?: number;
  userAgent?: string;
}
