// Transport plus authentication for one registry, and what a repository's operations share: its name, scopes,
// URLs and how to say where in a message.
import { Authenticator } from '../auth.ts';
import { resolveCredentials } from '../credentials.ts';
import { DeniedError, UnauthorizedError, where, type OciErrorContext } from '../errors.ts';
import { HttpTransport, discard, header, type HttpResponse, type SendOptions } from '../http.ts';
import type { StoreOptions } from '../options.ts';
import type { Location } from '../reference.ts';
import type { Repository } from '../store.ts';
import type { RemoteStore } from './index.ts';

export type RegistryLocation = Extract<Location, { kind: 'registry' }>;

export interface ClientRequest extends SendOptions {
  /** Token scopes this request needs, e.g. `repository:NAME:pull,push`. */
  scopes: string[];
}

/** Transport plus authentication for one registry. */
export class RegistryClient {
  readonly transport: HttpTransport;
  readonly auth: Authenticator;
  readonly base: URL;

  constructor(location: RegistryLocation, options: StoreOptions) {
    this.base = new URL(`${location.scheme}://${location.host}/`);
    this.transport = new HttpTransport({
      registry: location.host,
      concurrency: options.concurrency,
      timeoutMs: options.timeoutMs,
      retry: options.retry,
      userAgent: options.userAgent,
    });
    this.auth = new Authenticator(this.transport, this.base, resolveCredentials(location, options));
  }

  url(path: string): URL {
    return new URL(path, this.base);
  }

  /** request() and read the body whole (capped), again when the body is cut mid-way. */
  async requestBytes(request: ClientRequest, context: OciErrorContext, cap: number, what: string): Promise<{ res: HttpResponse; bytes?: Buffer }> {
    return this.transport.sendAndRead(() => this.request(request, context), cap, what, context);
  }

  /** Sends with the credentials the registry wants; one new attempt after a 401 challenge. */
  async request(request: ClientRequest, context: OciErrorContext): Promise<HttpResponse> {
    const authOrigin = this.base.origin;
    let authorization = await this.auth.authorization(request.scopes);
    let res = await this.transport.send({ ...request, authorization, authOrigin }, context);
    if (res.status !== 401) return res;
    const canResend = !request.body || request.replayable === true;
    if (canResend && (await this.auth.challenge(header(res, 'www-authenticate'), request.scopes, authorization, context))) {
      await discard(res);
      authorization = await this.auth.authorization(request.scopes);
      res = await this.transport.send({ ...request, authorization, authOrigin }, context);
      if (res.status !== 401) return res;
    }
    const challenge = header(res, 'www-authenticate') ?? '';
    await discard(res);
    const scope = request.scopes.join(' ');
    if (/insufficient_scope/.test(challenge) && this.auth.hasCredentials) {
      throw new DeniedError(
        `access to ${where(context)} denied: the credentials do not grant ${scope}; use credentials allowed to do this`,
        { ...context, status: 401, code: 'DENIED' },
      );
    }
    throw new UnauthorizedError(
      `${where(context)}: the registry refused ${this.auth.hasCredentials ? 'the credentials' : 'anonymous access'} (HTTP 401); ${
        this.auth.hasCredentials ? 'check the username and password' : 'provide credentials (OCI_CHANNEL_<HOST>_USERNAME/_PASSWORD or docker login)'
      }`,
      { ...context, status: 401 },
    );
  }
}

/** One repository of a registry: what its blob, upload, manifest and listing operations need. */
export class RepositoryTarget {
  readonly store: RemoteStore;
  readonly client: RegistryClient;
  readonly name: string;
  readonly pull: string[];
  readonly push: string[];
  /** The Repository these operations belong to (the referrers fallback is kept through it). */
  readonly repository: Repository;

  constructor(repository: Repository, store: RemoteStore, client: RegistryClient, name: string) {
    this.repository = repository;
    this.store = store;
    this.client = client;
    this.name = name;
    this.pull = [`repository:${name}:pull`];
    this.push = [`repository:${name}:pull,push`];
  }

  context(reference?: string): OciErrorContext {
    return { registry: this.store.location.host, repository: this.name, reference };
  }

  url(path: string): URL {
    return this.client.url(`/v2/${this.name}/${path}`);
  }
}
