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
  /** Concurrent requests per registry (default 8). */
  concurrency?: number;
  retry?: { attempts?: number; baseDelayMs?: number; maxDelayMs?: number };
  /** Per-request timeout without progress, ms (default 60 s). */
  timeoutMs?: number;
  userAgent?: string;
}
