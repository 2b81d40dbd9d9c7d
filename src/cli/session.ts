// An authenticated session with the container-infra API: the token (from the cache or Keystone)
// and the endpoint (--os-endpoint or the catalog), and the API client that uses them.
import { catalogEndpoint, issueToken, type IssuedToken } from './auth/keystone.ts';
import type { AuthSettings } from './auth/settings.ts';
import type { TokenCache } from './auth/token-cache.ts';
import { ApiError, CommandError } from './errors.ts';
import type { Http } from './http.ts';

export class Session {
  readonly settings: AuthSettings;
  readonly #http: Http;
  readonly #cache: TokenCache | null;
  readonly #debug: ((line: string) => void) | undefined;
  #issued: IssuedToken | undefined;
  #fromCache = false;

  constructor(settings: AuthSettings, http: Http, cache: TokenCache | null, debug?: (line: string) => void) {
    this.settings = settings;
    this.#http = http;
    this.#cache = cache;
    this.#debug = debug;
  }

  get #keystone(): boolean {
    return this.settings.authType !== 'none' && !(this.settings.authType === 'token' && !this.settings.authUrl);
  }

  async #login(): Promise<IssuedToken> {
    if (this.#issued) return this.#issued;
    // A token given by the user is rescoped every time: its cache key would not tell two tokens apart.
    const cache = this.settings.authType === 'token' ? null : this.#cache;
    const cached = cache?.get(this.settings);
    if (cached) {
      this.#debug?.(`using the cached token (expires ${cached.expiresAt}) from ${cache!.path}`);
      this.#fromCache = true;
      this.#issued = cached;
      return cached;
    }
    const issued = await issueToken(this.#http, this.settings);
    this.#issued = issued;
    this.#fromCache = false;
    if (cache) {
      try {
        cache.put(this.settings, issued);
      } catch (err) {
        this.#debug?.(`could not save the token cache ${cache.path}: ${(err as Error).message}`);
      }
    }
    return issued;
  }

  /** The token to send, or undefined without authentication. */
  async token(): Promise<string | undefined> {
    if (this.settings.authType === 'none') return undefined;
    if (!this.#keystone) return this.settings.token;
    return (await this.#login()).token;
  }

  /** The API endpoint, ending in /v1 (or whatever prefix the catalog has). */
  async endpoint(): Promise<string> {
    if (this.settings.endpoint) return this.settings.endpoint;
    if (!this.#keystone) throw new CommandError('no API endpoint: give --os-endpoint or authenticate with Keystone');
    return catalogEndpoint((await this.#login()).catalog, { interface: this.settings.interface, regionName: this.settings.regionName });
  }

  /**
   * When the API refuses the token (401) or the catalog's endpoint does not answer: a cached token
   * may have been revoked, or its catalog be stale, so forget it and say whether a fresh login is
   * worth a retry.
   */
  refresh(why: string): boolean {
    if (!this.#fromCache) return false;
    this.#debug?.(`${why}: logging in again`);
    this.#cache?.forget(this.settings);
    this.#issued = undefined;
    this.#fromCache = false;
    return true;
  }
}

/** python-magnumclient's reading of an error body: errors[0], {"error": …} or {"error_message": …}. */
export function apiError(status: number, text: string, requestId: string | null): ApiError {
  let title = '';
  let detail = '';
  try {
    let body = JSON.parse(text);
    if (typeof body?.error_message === 'string') {
      try {
        body = JSON.parse(body.error_message);
      } catch {
        detail = body.error_message;
      }
    }
    const first = Array.isArray(body?.errors) ? body.errors[0] : undefined;
    if (first) {
      title = first.title ?? '';
      detail = first.detail ?? first.description ?? '';
    } else if (body?.error) {
      title = body.error.title ?? '';
      detail = body.error.message ?? '';
    } else if (body?.faultstring) {
      detail = body.faultstring;
    }
  } catch {
    detail = text.trim().slice(0, 300);
  }
  if (!title && !detail) title = `HTTP ${status}`;
  return new ApiError(status, title, detail, requestId);
}
