// The issuer's signing keys: OIDC discovery (ISSUER/.well-known/openid-configuration -> jwks_uri), then the JWKS,
// fetched with undici, bodies capped, kept for a while per issuer and fetched again (once per verification) when a
// token names a key id the cached set does not hold (GitHub rotates its keys).
import { addressClass } from '@oci-channel/oci';
import { createLocalJWKSet, errors as joseErrors, type CryptoKey, type JSONWebKeySet, type LocalJWKSet } from 'jose';
import { request } from 'undici';
import { IdentityError } from './errors.ts';

/** GitHub.com's Actions token issuer (GHES has its own: https://HOST/_services/token). */
export const GITHUB_ACTIONS_ISSUER = 'https://token.actions.githubusercontent.com';
/** A discovery document or key set is a few KiB; more is not one. */
const MAX_DOCUMENT_BYTES = 256 * 1024;
const FETCH_TIMEOUT_MS = 30_000;
/** Keys are reused this long; a revoked key stops being trusted at the latest this much later. */
const KEYS_TTL_MS = 10 * 60_000;

/** Where a verification key comes from: the issuer's key set, or a fixed one in tests. */
export interface KeySource {
  /** The RS256 key with this id; IdentityError when the issuer has none, even after fetching its keys again. */
  keyFor(kid: string): Promise<CryptoKey>;
}

/** Fetches one JSON document (a seam for tests that must not open sockets; the default uses undici). */
export type JsonFetcher = (url: URL, what: string) => Promise<unknown>;

/** An https URL, or http only on a loopback address (a test issuer), without credentials or a fragment. */
function safeUrl(value: string, what: string, options: { query: boolean }): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new IdentityError(`${what} ${JSON.stringify(value.slice(0, 200))} is not a URL; use e.g. ${GITHUB_ACTIONS_ISSUER}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new IdentityError(`${what} ${JSON.stringify(value.slice(0, 200))} is not an https URL`);
  if (url.username || url.password || url.hash || (url.search && !options.query)) {
    throw new IdentityError(`${what} ${url.origin} must not carry credentials${options.query ? '' : ', a query'} or a fragment`);
  }
  if (url.protocol === 'http:' && addressClass(url.hostname) !== 'loopback') {
    throw new IdentityError(`${what} ${url.origin} is plain http: only https is accepted (http only on a loopback address, for tests)`);
  }
  return url;
}

/** Checks an issuer URL (safeUrl, no query) and returns it without a trailing slash, the form `iss` is compared with. */
export function checkIssuerUrl(issuer: string, what = 'the OIDC issuer'): string {
  safeUrl(issuer, what, { query: false });
  return issuer.replace(/\/+$/, '');
}

async function fetchJson(url: URL, what: string): Promise<unknown> {
  type Body = { on(event: 'error', listener: () => void): unknown; destroy(): unknown };
  // Closes a body we stop reading (its connection is not reused); the abort is not an error to report.
  const abandon = (body: Body) => {
    body.on('error', () => {});
    body.destroy();
  };
  let res;
  try {
    res = await request(url, {
      method: 'GET',
      headers: { accept: 'application/json', 'user-agent': 'oci-channel' },
      headersTimeout: FETCH_TIMEOUT_MS,
      bodyTimeout: FETCH_TIMEOUT_MS,
    });
  } catch (error) {
    throw new IdentityError(`cannot fetch the ${what} from ${url.href}: ${(error as Error).message}; check the OIDC issuer and the network`);
  }
  if (res.statusCode !== 200) {
    abandon(res.body);
    throw new IdentityError(`the ${what} at ${url.href} answered HTTP ${res.statusCode}; check the OIDC issuer`);
  }
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_DOCUMENT_BYTES) {
    abandon(res.body);
    throw new IdentityError(`the ${what} at ${url.href} is larger than ${MAX_DOCUMENT_BYTES} bytes; refused`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > MAX_DOCUMENT_BYTES) {
      abandon(res.body);
      throw new IdentityError(`the ${what} at ${url.href} is larger than ${MAX_DOCUMENT_BYTES} bytes; refused`);
    }
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new IdentityError(`the ${what} at ${url.href} is not JSON`);
  }
}

/** The issuer's current key set, from its discovery document. */
async function fetchKeySet(issuer: string, fetcher: JsonFetcher): Promise<LocalJWKSet> {
  const discovery = await fetcher(new URL(`${issuer}/.well-known/openid-configuration`), 'OIDC discovery document');
  const doc = (discovery && typeof discovery === 'object' ? discovery : {}) as Record<string, unknown>;
  // OIDC discovery: the document's issuer is exactly the one asked for (else it speaks for someone else).
  if (doc.issuer !== issuer) throw new IdentityError(`the OIDC discovery document of ${issuer} names issuer ${JSON.stringify(doc.issuer)}; refused`);
  if (typeof doc.jwks_uri !== 'string') throw new IdentityError(`the OIDC discovery document of ${issuer} has no jwks_uri`);
  const jwksUri = safeUrl(doc.jwks_uri, `the jwks_uri of ${issuer}`, { query: true });
  const jwks = (await fetcher(jwksUri, 'key set (JWKS)')) as JSONWebKeySet;
  if (!jwks || typeof jwks !== 'object' || !Array.isArray(jwks.keys)) throw new IdentityError(`the key set at ${jwksUri.href} has no "keys" list`);
  // Only RSA keys can verify RS256; anything else in the set is ignored rather than trusted.
  return createLocalJWKSet({ keys: jwks.keys.filter((k) => k && typeof k === 'object' && k.kty === 'RSA') });
}

const cached = new Map<string, { set: Promise<LocalJWKSet>; fetchedAt: number }>();

/** The keys of `issuer`, shared by every verification in this process for KEYS_TTL_MS. */
export function issuerKeys(issuer: string, fetcher: JsonFetcher = fetchJson): KeySource {
  const base = checkIssuerUrl(issuer);
  /** The cached set (fresh: false) or a newly fetched one (fresh: true). */
  const load = (refetch: boolean): { set: Promise<LocalJWKSet>; fresh: boolean } => {
    const entry = cached.get(base);
    if (!refetch && entry && Date.now() - entry.fetchedAt < KEYS_TTL_MS) return { set: entry.set, fresh: false };
    const set = fetchKeySet(base, fetcher);
    cached.set(base, { set, fetchedAt: Date.now() });
    // A failed fetch is not kept: the next verification tries again.
    set.catch(() => {
      if (cached.get(base)?.set === set) cached.delete(base);
    });
    return { set, fresh: true };
  };
  const select = async (set: LocalJWKSet, kid: string): Promise<CryptoKey | undefined> => {
    try {
      return await set({ alg: 'RS256', kid });
    } catch (error) {
      if (error instanceof joseErrors.JWKSNoMatchingKey) return undefined;
      if (error instanceof joseErrors.JWKSMultipleMatchingKeys) throw new IdentityError(`the key set of ${base} holds several keys with id ${JSON.stringify(kid)}; refused`);
      throw new IdentityError(`the key ${JSON.stringify(kid)} of ${base} cannot be used for RS256: ${(error as Error).message}`);
    }
  };
  return {
    async keyFor(kid) {
      const first = load(false);
      // An unknown key id: the issuer may have rotated its keys since they were cached, so fetch them once more.
      const key = (await select(await first.set, kid)) ?? (first.fresh ? undefined : await select(await load(true).set, kid));
      if (!key) throw new IdentityError(`the identity token was signed with key ${JSON.stringify(kid.slice(0, 100))}, which ${base} does not publish (fetched its keys again); refused`);
      return key;
    },
  };
}
