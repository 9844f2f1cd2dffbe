// Listing: the tags of a repository and the registry's catalog, page by page (Link headers, same origin only).
import { DeniedError, InsecureError, OciError, ProtocolError, UnauthorizedError, UnsupportedError, where, type OciErrorContext } from '../errors.ts';
import { checkLocation, discard, header, responseError, type HttpResponse } from '../http.ts';
import type { RegistryClient, RegistryLocation, RepositoryTarget } from './client.ts';
import type { ListTagsOptions } from '../store.ts';

/** One page of a tag or catalog list. */
export const MAX_LIST_PAGE = 4 * 1024 * 1024;
const MAX_PAGES = 10_000;

function nextLink(res: HttpResponse, current: URL, context: OciErrorContext): URL | undefined {
  const link = header(res, 'link');
  if (!link) return undefined;
  const m = /<([^>]*)>\s*;[^,]*rel="?next"?/.exec(link);
  if (!m) return undefined;
  const next = checkLocation(current, m[1]!, 'pagination link', context);
  if (next.origin !== current.origin) {
    throw new InsecureError(
      `${where(context)} sent a pagination link to another origin (${next.host}); refused to follow it`,
      context,
    );
  }
  return next;
}

/** Every tag, or with `after` only those sorting after it (`last=`; filtered here too: distribution 2.8 ignores it). */
export async function listTags(t: RepositoryTarget, options: ListTagsOptions = {}): Promise<string[]> {
  const context = t.context();
  const tags: string[] = [];
  const { after } = options;
  let url: URL | undefined = t.url('tags/list?n=1000');
  if (after !== undefined) url.searchParams.set('last', after);
  const seen = new Set<string>();
  while (url) {
    if (seen.has(url.href) || seen.size >= MAX_PAGES) {
      throw new ProtocolError(`tag list of ${where(context)} paginates in a loop; giving up`, context);
    }
    seen.add(url.href);
    const { res, bytes: page } = await t.client.requestBytes({ method: 'GET', url, scopes: t.pull }, context, MAX_LIST_PAGE, 'tag list page');
    if (res.status === 404) {
      await discard(res);
      return tags;
    }
    if (!page) throw await responseError(res, 'listing tags of', context);
    const next = nextLink(res, url, context);
    let parsed: { tags?: unknown };
    try {
      parsed = JSON.parse(page.toString('utf8')) as typeof parsed;
    } catch {
      throw new ProtocolError(`tag list of ${where(context)} is not JSON`, context);
    }
    if (parsed.tags != null && !Array.isArray(parsed.tags)) throw new ProtocolError(`tag list of ${where(context)} has no tags array`, context);
    for (const tag of (parsed.tags as unknown[] | null | undefined) ?? []) if (typeof tag === 'string' && (after === undefined || tag > after)) tags.push(tag);
    url = next;
  }
  return tags;
}

export async function listRepositories(client: RegistryClient, location: RegistryLocation, prefix = ''): Promise<string[]> {
  const context: OciErrorContext = { registry: location.host, repository: '_catalog' };
  const base = location.path ? `${location.path}/` : '';
  // The prefix is matched by whole path components: `chan` lists `chan/...`, never `chan-staging/...`.
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  const wanted = trimmed ? `${base}${trimmed}` : base;
  const isUnder = (name: string) =>
    name.length > base.length && (trimmed ? name === wanted || name.startsWith(`${wanted}/`) : name.startsWith(base));
  const names: string[] = [];
  let url: URL | undefined = client.url('/v2/_catalog?n=1000');
  const seen = new Set<string>();
  while (url) {
    if (seen.has(url.href) || seen.size >= MAX_PAGES) throw new ProtocolError(`catalog of ${location.host} paginates in a loop`, context);
    seen.add(url.href);
    let res: HttpResponse;
    let page: Buffer | undefined;
    try {
      ({ res, bytes: page } = await client.requestBytes({ method: 'GET', url, scopes: ['registry:catalog:*'] }, context, MAX_LIST_PAGE, 'catalog page'));
    } catch (error) {
      if (error instanceof UnauthorizedError || error instanceof DeniedError) throw noCatalog(location, error);
      throw error;
    }
    if ([401, 403, 404, 405].includes(res.status)) {
      throw noCatalog(location, await responseError(res, 'listing', context));
    }
    if (!page) throw await responseError(res, 'listing', context);
    const next = nextLink(res, url, context);
    let parsed: { repositories?: unknown };
    try {
      parsed = JSON.parse(page.toString('utf8')) as typeof parsed;
    } catch {
      throw new ProtocolError(`catalog of ${location.host} is not JSON`, context);
    }
    for (const name of Array.isArray(parsed.repositories) ? parsed.repositories : []) {
      if (typeof name === 'string' && isUnder(name)) names.push(name.slice(base.length));
    }
    url = next;
  }
  return names;
}

function noCatalog(location: RegistryLocation, cause: OciError): UnsupportedError {
  return new UnsupportedError(
    `${location.host} offers no repository catalog (${cause.status ?? cause.name}); list repositories another way (e.g. the GitHub packages API)`,
    { registry: location.host, status: cause.status, code: cause.code },
  );
}
