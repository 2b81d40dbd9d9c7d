// Pieces every controller shares: microversions, links, timestamps, pagination, idents.
import { E } from '../common/errors.ts';
import { SORTABLE_COLUMNS, type PageRequest } from '../db/api.ts';
import { Query, W, fieldValue } from './request-schemas.ts';
import { isUuidLike, canonicalUuid } from './validation.ts';

export const MIN_VERSION = { major: 1, minor: 1 };
export const MAX_VERSION = { major: 1, minor: 10 };
export const MIN_VERSION_STRING = '1.1';
export const MAX_VERSION_STRING = '1.10';

export interface Microversion {
  major: number;
  minor: number;
}

export const atLeast = (mv: Microversion, minor: number): boolean => mv.major > 1 || mv.minor >= minor;

export class MicroversionUnsupported extends Error {}

/** Parse `OpenStack-API-Version: container-infra X.Y|latest`. */
export function parseMicroversion(header: string | string[] | undefined): Microversion {
  if (header === undefined) return MIN_VERSION;
  const value = Array.isArray(header) ? header.join(',') : header;
  const parts = value.trim().split(/\s+/);
  if (parts.length !== 2 || parts[0] !== 'container-infra') throw E.NotAcceptable(`Invalid OpenStack-API-Version header: ${value}`);
  if (parts[1].toLowerCase() === 'latest') return MAX_VERSION;
  const m = /^(\d+)\.(\d+)$/.exec(parts[1]);
  if (!m) throw E.NotAcceptable(`Invalid OpenStack-API-Version header: ${value}`);
  const mv = { major: Number(m[1]), minor: Number(m[2]) };
  if (mv.major !== 1 || mv.minor < MIN_VERSION.minor || mv.minor > MAX_VERSION.minor) throw new MicroversionUnsupported(parts[1]);
  return mv;
}

export const formatMv = (mv: Microversion): string => `${mv.major}.${mv.minor}`;

/** Python's datetime.isoformat() with +00:00, as Magnum emits timestamps. */
export function isoTime(d: Date | null | undefined): string | null {
  if (!d) return null;
  const s = d.toISOString(); // 2024-01-02T03:04:05.678Z
  const ms = d.getUTCMilliseconds();
  return ms ? `${s.slice(0, 19)}.${String(ms).padStart(3, '0')}000+00:00` : `${s.slice(0, 19)}+00:00`;
}

export interface Link {
  href: string;
  rel: string;
  type?: string;
}

export function resourceLinks(host: string, path: string): Link[] {
  return [
    { href: `${host}/v1/${path}`, rel: 'self' },
    { href: `${host}/${path}`, rel: 'bookmark' },
  ];
}

/** Pagination query parameters → a page request, with Magnum's 400s. */
export function pageParams(
  query: Record<string, unknown>,
  table: string,
  maxLimit: number,
): { limit: number; sortKey: string; sortDir: 'asc' | 'desc'; marker: string | undefined } {
  let limit = maxLimit;
  if (query.limit !== undefined) {
    const n = fieldValue(PageQuery, 'limit', query.limit) as number;
    if (n <= 0) throw E.Invalid('Limit must be positive');
    limit = Math.min(n, maxLimit);
  }
  const sortKey = query.sort_key === undefined ? 'id' : String(query.sort_key);
  if (!SORTABLE_COLUMNS[table].includes(sortKey)) throw E.Invalid(`The sort_key value "${sortKey}" is an invalid field for sorting`);
  const sortDir = query.sort_dir === undefined ? 'asc' : String(query.sort_dir);
  if (sortDir !== 'asc' && sortDir !== 'desc') throw E.Invalid(`Invalid sort direction: ${sortDir}. Acceptable values are 'asc' or 'desc'`);
  let marker: string | undefined;
  if (query.marker !== undefined) {
    if (!isUuidLike(query.marker)) throw E.InvalidInput('marker', query.marker, `Expected a uuid but received ${String(query.marker)}.`);
    marker = canonicalUuid(query.marker);
  }
  return { limit, sortKey, sortDir, marker };
}

/** A list's query: its page (checked by pageParams) and the list's own filters, none repeated. */
export const pageQuery = (extra: Record<string, ReturnType<typeof W.str>> = {}) => Query({
  limit: W.int(),
  marker: W.str(),
  sort_key: W.str(),
  sort_dir: W.enum(['asc', 'desc']),
  ...extra,
}, { singleValued: true });
export const PageQuery = pageQuery();


export function nextLink(host: string, resourceUrl: string, page: PageRequest, items: { uuid?: string; id?: number }[], markerOf: 'uuid' | 'id' = 'uuid'): string | undefined {
  if (items.length === 0 || items.length !== page.limit) return undefined;
  const last = items[items.length - 1];
  return `${host}/v1/${resourceUrl}?sort_key=${page.sortKey}&sort_dir=${page.sortDir}&limit=${page.limit}&marker=${markerOf === 'uuid' ? last.uuid : last.id}`;
}

/** An ident is a UUID-like value (looked up by uuid) or a name; integer ids where Magnum takes them. */
export function identLookup(ident: string, allowId = false): { uuid?: string; name?: string; id?: number } {
  if (isUuidLike(ident)) return { uuid: canonicalUuid(ident) };
  // An integer id only within the column's range; a longer digit string can only be a name.
  if (allowId && /^\d{1,10}$/.test(ident) && Number(ident) <= 2 ** 31 - 1) return { id: Number(ident) };
  return { name: ident };
}

const GREEK = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta', 'iota', 'kappa', 'lambda', 'mu', 'nu', 'xi', 'omicron', 'pi', 'rho', 'sigma', 'tau', 'upsilon', 'phi', 'chi', 'psi', 'omega'];

/** Magnum's generated names: "<greek>-<1..24>-<suffix>". */
export function generateName(suffix: string): string {
  const g = GREEK[Math.floor(Math.random() * GREEK.length)];
  return `${g}-${1 + Math.floor(Math.random() * 24)}-${suffix}`;
}

/** Diff of resource labels against the parent's (template's or cluster's) labels. */
export function labelDiff(own: Record<string, string>, parent: Record<string, string>) {
  const overridden: Record<string, string> = {};
  const added: Record<string, string> = {};
  const skipped: Record<string, string> = {};
  for (const [k, v] of Object.entries(own)) {
    if (k in parent) {
      if (parent[k] !== v) overridden[k] = parent[k];
    } else added[k] = v;
  }
  for (const [k, v] of Object.entries(parent)) if (!(k in own)) skipped[k] = v;
  return { labels_overridden: overridden, labels_added: added, labels_skipped: skipped };
}
