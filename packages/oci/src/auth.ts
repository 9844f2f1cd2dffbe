// Registry authentication: anonymous, Basic, and Bearer tokens obtained through the WWW-Authenticate challenge.
// Tokens are cached per scope set; a realm must be a valid URL on the registry's scheme. Secrets never appear
// in messages.
import {
  InsecureError,
  ProtocolError,
  UnauthorizedError,
  type OciErrorContext,
} from './errors.ts';
import { ERROR_BODY_CAP, discard, responseError, type HttpTransport } from './http.ts';
import type { Credentials } from './options.ts';

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses a WWW-Authenticate header (one or more challenges, quoted or token parameter values). */
export function parseChallenges(value: string): Challenge[] {
  const challenges: Challenge[] = [];
  let i = 0;
  const skip = (re: RegExp) => {
    while (i < value.length && re.test(value[i]!)) i++;
  };
  while (i < value.length) {
    skip(/[\s,]/);
    const scheme = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+/.exec(value.slice(i))?.[0];
    if (!scheme) break;
    i += scheme.length;
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    challenges.push(challenge);
    for (;;) {
      skip(/[\s,]/);
      const m = /^([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*/.exec(value.slice(i));
      if (!m) break; // the next token is another challenge's scheme
      i += m[0].length;
      let param = '';
      if (value[i] === '"') {
        i++;
        while (i < value.length && value[i] !== '"') {
          if (value[i] === '\\' && i + 1 < value.length) i++;
          param += value[i];
          i++;
        }
        i++;
      } else {
        const token = /^[^\s,]*/.exec(value.slice(i))?.[0] ?? '';
        param = token;
        i += token.length;
      }
      challenge.params[m[1]!.toLowerCase()] = param;
    }
  }
  return challenges;
}

/** Merges scopes (`repository:NAME:pull,push`) per resource, sorted, so equal needs share one cache key. */
export function mergeScopes(...lists: string[][]): string[] {
  const byResource = new Map<string, Set<string>>();
  for (const scope of lists.flat()) {
    for (const one of scope.split(' ').filter(Boolean)) {
      const colon = one.lastIndexOf(':');
      if (colon <= 0) continue;
      const resource = one.slice(0, colon);
      const actions = byResource.get(resource) ?? new Set<string>();
      for (const action of one.slice(colon + 1).split(',').filter(Boolean)) actions.add(action);
      byResource.set(resource, actions);
    }
  }
  return [...byResource.entries()].map(([resource, actions]) => `${resource}:${[...actions].sort().join(',')}`).sort();
}

function covers(have: string[], want: string[]): boolean {
  return mergeScopes(have, want).join(' ') === mergeScopes(have).join(' ');
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

export class Authenticator {
  readonly #credentials: Credentials | undefined;
  readonly #transport: HttpTransport;
  readonly #registryUrl: URL;
  readonly #context: OciErrorContext;
  #mode: 'unknown' | 'basic' | 'bearer' = 'unknown';
  #realm: URL | undefined;
  #service: string | undefined;
  readonly #tokens = new Map<string, CachedToken>();
  readonly #pending = new Map<string, Promise<string>>();

  constructor(transport: HttpTransport, registryUrl: URL, credentials: Credentials | undefined) {
    this.#transport = transport;
    this.#registryUrl = registryUrl;
    this.#credentials = credentials;
    this.#context = { registry: registryUrl.host };
  }

  get hasCredentials(): boolean {
    return this.#credentials !== undefined;
  }

  #basic(): string | undefined {
    if (!this.#credentials) return undefined;
    const { username, password } = this.#credentials;
    return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  }

  /** The Authorization header for a request needing `scopes`, once the registry said how it authenticates. */
  async authorization(scopes: string[]): Promise<string | undefined> {
    if (this.#mode === 'basic') return this.#basic();
    if (this.#mode === 'bearer') return `Bearer ${await this.#token(mergeScopes(scopes), false)}`;
    return undefined;
  }

  /**
   * Handles a 401: learns the scheme and fetches what is needed. Returns true when sending the request again
   * (once) can succeed: one re-login, with the wider scope when the registry asked for more. Throws
   * UnauthorizedError when anonymous access lacks a scope it already asked for.
   */
  async challenge(headerValue: string | undefined, scopes: string[], sent: string | undefined, context: OciErrorContext): Promise<boolean> {
    const challenges = parseChallenges(headerValue ?? '');
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (bearer) {
      this.#mode = 'bearer';
      this.#realm = this.#checkRealm(bearer.params.realm);
      this.#service = bearer.params.service;
      const wanted = mergeScopes(scopes, bearer.params.scope ? [bearer.params.scope] : []);
      // A token that already covered the scope was refused: anonymous access cannot get more. With credentials
      // the one re-login below still runs (the issuer may have granted less than asked, e.g. a permission being
      // propagated); request() turns a second insufficient_scope into DeniedError.
      const refused = sent?.startsWith('Bearer ') && bearer.params.error === 'insufficient_scope' && covers(mergeScopes(scopes), wanted);
      if (refused && !this.#credentials) {
        throw new UnauthorizedError(
          `${context.repository ?? context.registry} needs credentials: anonymous access does not grant ${wanted.join(' ')}; provide credentials (OCI_CHANNEL_<HOST>_USERNAME/_PASSWORD or docker login)`,
          { ...context, status: 401 },
        );
      }
      // One re-login, with the wider scope when the registry asked for more than we had.
      await this.#token(wanted, true);
      // Later requests with the narrower scope use the wider token instead of asking again.
      const entry = this.#tokens.get(wanted.join(' '));
      if (entry) this.#tokens.set(mergeScopes(scopes).join(' '), entry);
      return true;
    }
    if (basic) {
      this.#mode = 'basic';
      return this.#credentials !== undefined && !sent?.startsWith('Basic ');
    }
    return false;
  }

  #checkRealm(realm: string | undefined): URL {
    let url: URL;
    try {
      url = new URL(realm ?? '');
    } catch {
      throw new InsecureError(`${this.#registryUrl.host} announced an invalid token realm; refused`, this.#context);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new InsecureError(`${this.#registryUrl.host} announced a token realm on ${url.protocol}; refused`, this.#context);
    }
    if (url.protocol !== this.#registryUrl.protocol) {
      throw new InsecureError(
        `${this.#registryUrl.host} (${this.#registryUrl.protocol.slice(0, -1)}) announced a token realm on ${url.protocol.slice(0, -1)} (${url.host}); refused`,
        this.#context,
      );
    }
    // A registry must not aim the client (and its Basic credentials) at internal services: a realm on a
    // link-local address (cloud metadata) is never right, and one on a private or loopback address only when
    // the registry itself is on that kind of address.
    const realmClass = addressClass(url.hostname);
    if (realmClass === 'link-local' || (realmClass !== 'public' && realmClass !== addressClass(this.#registryUrl.hostname))) {
      throw new InsecureError(
        `${this.#registryUrl.host} announced a token realm on a ${realmClass} address (${url.host}); refused: a registry may not send credentials to internal addresses`,
        this.#context,
      );
    }
    // Credentials go only to the registry's own host or its own domain (registry-1.docker.io -> auth.docker.io,
    // registry.gitlab.com -> gitlab.com); never to an unrelated host the registry names.
    if (!sameAuthority(url.hostname, this.#registryUrl.hostname)) {
      throw new InsecureError(
        `${this.#registryUrl.host} announced a token realm on another host (${url.host}); refused: credentials go only to the registry's own host or domain`,
        this.#context,
      );
    }
    return url;
  }

  async #token(scopes: string[], refresh: boolean): Promise<string> {
    const key = scopes.join(' ');
    const cached = this.#tokens.get(key);
    if (!refresh && cached && cached.expiresAt > Date.now()) return cached.token;
    const pending = this.#pending.get(key);
    if (pending) return pending;
    const promise = this.#fetchToken(scopes).finally(() => this.#pending.delete(key));
    this.#pending.set(key, promise);
    return promise;
  }

  async #fetchToken(scopes: string[]): Promise<string> {
    const realm = this.#realm;
    if (!realm) throw new ProtocolError(`${this.#registryUrl.host}: no token realm known`, this.#context);
    const url = new URL(realm);
    if (this.#service) url.searchParams.set('service', this.#service);
    for (const scope of scopes) url.searchParams.append('scope', scope);
    const basic = this.#basic();
    const what = `token request to ${realm.host}${realm.pathname} for ${this.#registryUrl.host}`;
    const { res, bytes: body } = await this.#transport.sendAndRead(
      // The realm is the challenge's own: Basic credentials may go there, and nowhere it redirects to.
      () => this.#transport.send({ method: 'GET', url, authorization: basic, authOrigin: realm.origin }, this.#context),
      ERROR_BODY_CAP,
      'token response',
      this.#context,
    );
    if (res.status === 401 || res.status === 403) {
      await discard(res);
      throw new UnauthorizedError(
        `${what} was refused (HTTP ${res.status}); ${basic ? 'check the username and password' : 'this registry needs credentials'}`,
        { ...this.#context, status: res.status },
      );
    }
    if (!body) throw await responseError(res, 'token request for', this.#context);
    let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
    } catch {
      throw new ProtocolError(`${what} answered something that is not JSON`, this.#context);
    }
    const token = typeof parsed.token === 'string' && parsed.token ? parsed.token : parsed.access_token;
    if (typeof token !== 'string' || !token) {
      throw new ProtocolError(`${what} answered without a token`, this.#context);
    }
    // Default lifetime per the token spec is 60 s; renew a little early.
    const seconds = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : 60;
    this.#tokens.set(scopes.join(' '), { token, expiresAt: Date.now() + Math.max(1, seconds - 10) * 1000 });
    return token;
  }
}

/** What kind of address a URL hostname is (IP literals only; names are not resolved). */
export function addressClass(hostname: string): 'link-local' | 'private' | 'loopback' | 'public' {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    if (a === 169 && b === 254) return 'link-local';
    if (a === 127) return 'loopback';
    if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || a === 0 || (a === 100 && b >= 64 && b <= 127)) return 'private';
    return 'public';
  }
  if (host === 'localhost' || host.endsWith('.localhost')) return 'loopback';
  if (host.includes(':')) {
    if (host === '::1') return 'loopback';
    if (/^fe[89ab]/.test(host)) return 'link-local';
    if (/^f[cd]/.test(host) || host === '::') return 'private';
    // IPv4-mapped (the URL parser writes ::ffff:169.254.169.254 as ::ffff:a9fe:a9fe).
    const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
    if (mapped) {
      const [hi, lo] = [parseInt(mapped[1]!, 16), parseInt(mapped[2]!, 16)];
      return addressClass(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`);
    }
  }
  return 'public';
}

/**
 * Whether a token realm's host belongs to the registry: the same host, or (for DNS names) the registry's parent
 * domain or a host under it, when that parent has at least two labels (`ghcr.io` allows only itself, and
 * `registry.foo.co.uk` never reaches `evil.co.uk`). IP addresses must be equal.
 */
export function sameAuthority(realmHost: string, registryHost: string): boolean {
  const realm = realmHost.toLowerCase().replace(/^\[|\]$/g, '');
  const registry = registryHost.toLowerCase().replace(/^\[|\]$/g, '');
  if (realm === registry) return true;
  if (addressClass(realm) !== 'public' || /^[0-9.]+$|:/.test(realm) || /^[0-9.]+$|:/.test(registry)) return false;
  const labels = registry.split('.');
  if (labels.length < 3) return false;
  const parent = labels.slice(1).join('.');
  return realm === parent || realm.endsWith(`.${parent}`);
}
