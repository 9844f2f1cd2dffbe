// A loopback OIDC issuer standing in for GitHub's Actions token service: its own RSA keys, the discovery document
// (/.well-known/openid-configuration), the key set (JWKS), and the endpoint a job's ACTIONS_ID_TOKEN_REQUEST_URL
// points at (GET ...&audience=AUD with the bearer ACTIONS_ID_TOKEN_REQUEST_TOKEN -> {"value": JWT}), which mints
// RS256 tokens with GitHub's claims. Tests also mint hostile tokens directly: alg none, HS256 keyed with the public
// key, another key, an unknown kid, a wrong typ, any claim changed.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { base64url, exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

export type Claims = Record<string, unknown>;

export interface MintOptions {
  /** Claims over the issuer's defaults (undefined values remove a claim). */
  claims?: Claims;
  /** `none`: unsigned; `HS256`: an HMAC keyed with the issuer's public key (PEM), the classic confusion attack. */
  alg?: 'RS256' | 'HS256' | 'none';
  /** Sign with a key the issuer does not publish (same kid unless `kid` is given). */
  foreignKey?: boolean;
  kid?: string;
  typ?: string;
  /** Seconds added to iat (and exp): -90000 makes a token 25 h old. */
  iatOffsetS?: number;
}

export interface RunningOidcIssuer {
  /** The issuer URL (http://127.0.0.1:PORT): `iss` of its tokens, base of discovery. */
  url: string;
  /** The variables a job with `id-token: write` gets. */
  actionsEnv: { ACTIONS_ID_TOKEN_REQUEST_URL: string; ACTIONS_ID_TOKEN_REQUEST_TOKEN: string };
  /** Claims the Actions endpoint puts in the tokens it mints from now on (over the defaults). */
  actionsClaims: Claims;
  /** Audiences the Actions endpoint was asked for, in order. */
  minted: string[];
  /** Paths requested (discovery, jwks, token), in order. */
  requests: string[];
  mint(audience: string, options?: MintOptions): Promise<string>;
  /** Replaces the signing key (new kid): cached key sets must be fetched again. */
  rotate(): Promise<void>;
  stop(): Promise<void>;
}

export const DEFAULT_REPOSITORY = 'conda-forge/good-feedstock';

export function defaultClaims(issuer: string): Claims {
  return {
    iss: issuer,
    sub: `repo:${DEFAULT_REPOSITORY}:ref:refs/heads/main`,
    repository: DEFAULT_REPOSITORY,
    repository_owner: 'conda-forge',
    repository_id: '101',
    repository_owner_id: '11',
    event_name: 'push',
    ref: 'refs/heads/main',
    sha: 'c0ffee'.padEnd(40, '0'),
    workflow_ref: `${DEFAULT_REPOSITORY}/.github/workflows/build.yml@refs/heads/main`,
    job_workflow_ref: 'conda-forge/oci-channel/.github/workflows/upload.yml@refs/tags/v1.2.0',
    run_id: '4242',
    runner_environment: 'github-hosted',
  };
}

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  publicPem: string;
}

async function newKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const kid = randomUUID();
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, use: 'sig', alg: 'RS256' }, publicPem: await exportSPKI(publicKey) };
}

export async function startOidcIssuer(): Promise<RunningOidcIssuer> {
  let key = await newKey();
  const foreign = await newKey();
  const requestToken = `actions-request-${randomUUID()}`;
  const state = { url: '', actionsClaims: {} as Claims, minted: [] as string[], requests: [] as string[] };

  const mint = async (audience: string, options: MintOptions = {}): Promise<string> => {
    const now = Math.floor(Date.now() / 1000) + (options.iatOffsetS ?? 0);
    const claims: Claims = { ...defaultClaims(state.url), jti: randomUUID(), aud: audience, iat: now, nbf: now - 5, exp: now + 300, ...options.claims };
    for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k];
    const header = { alg: options.alg ?? 'RS256', typ: options.typ ?? 'JWT', kid: options.kid ?? key.kid };
    if (header.alg === 'none') {
      const part = (value: unknown) => base64url.encode(JSON.stringify(value));
      return `${part(header)}.${part(claims)}.`;
    }
    const jwt = new SignJWT(claims).setProtectedHeader(header);
    if (header.alg === 'HS256') return jwt.sign(new TextEncoder().encode(key.publicPem));
    return jwt.sign(options.foreignKey ? foreign.privateKey : key.privateKey);
  };

  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', state.url);
    state.requests.push(url.pathname);
    if (url.pathname === '/.well-known/openid-configuration') {
      json(res, 200, { issuer: state.url, jwks_uri: `${state.url}/.well-known/jwks`, id_token_signing_alg_values_supported: ['RS256'] });
    } else if (url.pathname === '/.well-known/jwks') {
      json(res, 200, { keys: [key.publicJwk] });
    } else if (url.pathname === '/actions-token') {
      if (req.headers.authorization !== `Bearer ${requestToken}`) return json(res, 401, { message: 'bad request token' });
      const audience = url.searchParams.get('audience') ?? state.url;
      state.minted.push(audience);
      mint(audience, { claims: state.actionsClaims }).then(
        (value) => json(res, 200, { count: 1, value }),
        (error: Error) => json(res, 500, { message: error.message }),
      );
    } else {
      json(res, 404, { message: 'not found' });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    get url() {
      return state.url;
    },
    actionsEnv: { ACTIONS_ID_TOKEN_REQUEST_URL: `${state.url}/actions-token?api-version=2.0`, ACTIONS_ID_TOKEN_REQUEST_TOKEN: requestToken },
    get actionsClaims() {
      return state.actionsClaims;
    },
    set actionsClaims(claims: Claims) {
      state.actionsClaims = claims;
    },
    minted: state.minted,
    requests: state.requests,
    mint,
    async rotate() {
      key = await newKey();
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
