// Requests to the container-infra API the way python-magnumclient sends them: the catalog
// endpoint plus the path after /v1, `OpenStack-API-Version: container-infra latest`, JSON bodies,
// raw (body-less, application/octet-stream) DELETEs and CA rotation, `next` links followed
// relative to the endpoint.
import { ApiError } from './errors.ts';
import type { Http } from './http.ts';
import { apiError, type Session } from './session.ts';

export const API_VERSION_HEADER = 'container-infra latest';
export const USER_AGENT = 'coe (magnum-ts)';

export interface RequestOptions {
  body?: unknown;
  /** No body and Content-Type application/octet-stream (magnumclient's raw requests). */
  raw?: boolean;
}

export class ApiClient {
  readonly session: Session;
  readonly #http: Http;

  constructor(session: Session, http: Http) {
    this.session = session;
    this.#http = http;
  }

  /** `/v1/clusters/?limit=1` → `<endpoint>/clusters/?limit=1`. */
  async url(path: string): Promise<string> {
    const endpoint = (await this.session.endpoint()).replace(/\/+$/, '');
    const rest = path.replace(/^\/v1(?=\/|$|\?)/, '').replace(/^\/+/, '');
    return rest ? `${endpoint}/${rest}` : endpoint;
  }

  async request<T = any>(method: string, path: string, opts: RequestOptions = {}): Promise<{ status: number; body: T; headers: Headers }> {
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = {
        'openstack-api-version': API_VERSION_HEADER,
        'user-agent': USER_AGENT,
        accept: 'application/json',
      };
      const token = await this.session.token();
      if (token) headers['x-auth-token'] = token;
      let body: string | undefined;
      if (opts.raw) headers['content-type'] = 'application/octet-stream';
      else if (opts.body !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(opts.body);
      }
      const url = await this.url(path);
      let res;
      try {
        res = await this.#http.send(method, url, { headers, body });
      } catch (err) {
        // A cached catalog may name an endpoint that has moved since: log in again, once.
        if (attempt === 0 && !this.session.settings.endpoint && this.session.refresh('the endpoint of the cached catalog does not answer')) continue;
        throw err;
      }
      if (res.status === 401 && attempt === 0 && this.session.refresh('the API refused the cached token')) continue;
      if (res.status >= 400) {
        const err = apiError(res.status, res.text, res.headers.get('x-openstack-request-id'));
        if ((res.status === 404 || res.status === 405) && !err.title && err.message === `HTTP ${res.status}`) {
          throw new ApiError(res.status, '', `The API has no route ${method} ${new URL(url).pathname} (it may be older than this client)`, err.requestId);
        }
        throw err;
      }
      const type = res.headers.get('content-type') ?? '';
      let parsed: unknown = undefined;
      if (res.status !== 204 && res.text && (type.includes('json') || /^[[{]/.test(res.text))) {
        try {
          parsed = JSON.parse(res.text);
        } catch {
          parsed = res.text;
        }
      } else if (res.text) parsed = res.text;
      return { status: res.status, body: parsed as T, headers: res.headers };
    }
  }

  async get<T = any>(path: string): Promise<T> {
    return (await this.request<T>('GET', path)).body;
  }

  async post<T = any>(path: string, body: unknown): Promise<T> {
    return (await this.request<T>('POST', path, { body })).body;
  }

  async patch<T = any>(path: string, body: unknown): Promise<T> {
    return (await this.request<T>('PATCH', path, { body })).body;
  }

  async put<T = any>(path: string, body?: unknown): Promise<T> {
    return (await this.request<T>('PUT', path, body === undefined ? { raw: true } : { body })).body;
  }

  async delete(path: string): Promise<void> {
    await this.request('DELETE', path, { raw: true });
  }

  /**
   * A collection: the items under `key`, following `next` links (kept as path + query, re-joined
   * with the endpoint) until there is none or `limit` items were read.
   */
  async list<T = any>(path: string, key: string, limit?: number): Promise<T[]> {
    const items: T[] = [];
    let next: string | undefined = path;
    const seen = new Set<string>();
    while (next && !seen.has(next)) {
      seen.add(next);
      const body: any = await this.get(next);
      items.push(...((body?.[key] ?? []) as T[]));
      if (limit !== undefined && items.length >= limit) return items.slice(0, limit);
      next = typeof body?.next === 'string' && body.next ? nextPath(body.next) : undefined;
    }
    return items;
  }
}

/** A `next` link as magnumclient uses it: path and query only, /v1 kept (url() strips it). */
function nextPath(next: string): string {
  try {
    const u = new URL(next);
    return `${u.pathname}${u.search}`;
  } catch {
    return next;
  }
}

/** magnumclient's query string: limit, marker, sort_key, sort_dir, then extras, in that order. */
export function query(params: [string, string | number | boolean | undefined | null][]): string {
  const parts = params.filter(([, v]) => v !== undefined && v !== null && v !== false).map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}
