// Who is calling: the RequestContext of a request, from its headers. Two strategies, as
// `[DEFAULT] auth_strategy` chooses:
//   keystone  X-Auth-Token is validated against Keystone (what keystonemiddleware does for
//             Magnum); identity headers sent by the client are ignored. Validations are cached
//             in memory (bounded in size and time, never past the token's expiry) and
//             concurrent validations of one token share one Keystone request.
//   noauth    the identity headers keystonemiddleware would have set are trusted as sent; a
//             request with none of them (`openstack --os-auth-type none`) gets the [noauth]
//             default identity.
// Pure logic: the Fastify hook calls authenticate() and renders the errors it throws.

import type { Config } from '../../conf/index.ts';
import { contextOf, type RequestContext } from '../../common/context.ts';
import { E } from '../../common/errors.ts';
import { KeystoneClient, KeystoneTokenInvalid, KeystoneUnreachable, type KeystoneApi } from '../../common/keystone.ts';
import type { Policy } from '../../common/policy.ts';
import { RecencyMap } from '../../common/recency-map.ts';

export type Headers = Record<string, string | string[] | undefined>;

export interface Authenticator {
  authenticate(headers: Headers, requestId: string): Promise<RequestContext>;
}

export interface AuthenticatorOptions {
  /** The Keystone client (keystone strategy); built from [keystone_authtoken] when absent. */
  keystone?: Pick<KeystoneApi, 'authUrl' | 'validateToken'>;
  /** Decides is_admin through the `context_is_admin` rule, as Magnum does; else role admin. */
  policy?: Pick<Policy, 'isAdmin'>;
}

/** The WWW-Authenticate header of a 401, as keystonemiddleware sends it. */
export function wwwAuthenticateHeader(conf: Config): string {
  return `Keystone uri="${conf.keystone_authtoken.www_authenticate_uri}"`;
}

export function createAuthenticator(conf: Config, opts: AuthenticatorOptions = {}): Authenticator & { close(): Promise<void> } {
  const isAdmin = opts.policy
    ? (who: Identity) => opts.policy!.isAdmin(who)
    : (who: Identity) => who.roles.some((r) => r.toLowerCase() === 'admin');
  if (conf.DEFAULT.auth_strategy === 'noauth') return new NoAuth(conf, isAdmin);
  let owned: KeystoneClient | null = null;
  let keystone = opts.keystone;
  if (!keystone) {
    if (!conf.keystone_authtoken.password) {
      throw new Error('[keystone_authtoken] password must be set when [DEFAULT] auth_strategy = keystone');
    }
    keystone = owned = KeystoneClient.fromConfig(conf);
  }
  return new KeystoneAuth(conf, keystone, isAdmin, owned);
}

type Identity = Omit<RequestContext, 'requestId' | 'authToken' | 'isAdmin'>;
type AdminCheck = (who: Identity) => boolean;

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(',') : v;
}

/** Node gives lower-case header names; other callers (tests, tools) may not. */
function lowerCased(headers: Headers): Headers {
  for (const k in headers) {
    if (k !== k.toLowerCase()) {
      const out: Headers = {};
      for (const [key, v] of Object.entries(headers)) out[key.toLowerCase()] = v;
      return out;
    }
  }
  return headers;
}

/** X-Roles as Magnum's ContextHook reads it (comma-split), without blanks; case is kept, as
 *  keystonemiddleware sends it; role checks are case-insensitive (oslo.policy RoleCheck). */
function parseRoles(v: string | undefined): string[] {
  if (!v) return [];
  return v.split(',').map((r) => r.trim()).filter(Boolean);
}

const IDENTITY_HEADERS = [
  'x-user-id', 'x-user-name', 'x-project-id', 'x-tenant-id', 'x-project-name', 'x-tenant-name',
  'x-user-domain-id', 'x-user-domain-name', 'x-roles',
];

/** Identity values must fit their columns (255; the role list 4096) and carry no control characters. */
function checkIdentityHeader(name: string, value: string | undefined): void {
  if (value === undefined) return;
  const canonical = () => name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => `${dash}${c.toUpperCase()}`);
  const max = name === 'x-roles' ? 4096 : 255;
  if (value.length > max) throw E.InvalidInput(canonical(), `${value.slice(0, 40)}...`, `Value should have a maximum character requirement of ${max}`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) throw E.InvalidInput(canonical(), value.replace(/[\u0000-\u001f\u007f]/g, '?'), 'Value must not contain control characters');
}

/** Distinct identities (sets of identity headers) whose checked identity a NoAuth keeps. */
const NOAUTH_MEMO_SIZE = 1000;

class NoAuth implements Authenticator {
  readonly #defaults: Identity & { isAdmin: boolean };
  readonly #isAdmin: AdminCheck;
  /**
   * The identity made from a set of identity header values, checked and frozen, with its is_admin:
   * callers send the same headers request after request, and this spares the checks, the role
   * parsing and the policy's admin check each time. Keyed by the values joined with NUL, which
   * no accepted value holds; oldest first out.
   */
  readonly #memo = new Map<string, Identity & { isAdmin: boolean }>();

  constructor(conf: Config, isAdmin: AdminCheck) {
    const n = conf.noauth;
    this.#isAdmin = isAdmin;
    const who: Identity = {
      userId: n.default_user_id,
      userName: null,
      projectId: n.default_project_id,
      projectName: null,
      domainId: null,
      domainName: null,
      roles: Object.freeze([...n.default_roles]),
    };
    this.#defaults = Object.freeze({ ...who, isAdmin: isAdmin(who) });
  }

  async authenticate(raw: Headers, requestId: string): Promise<RequestContext> {
    const headers = lowerCased(raw);
    const authToken = header(headers, 'x-auth-token') || null;
    // One NUL before each of the nine values: a value holding a NUL (refused by the checks, so
    // never remembered) makes a key with more NULs than any remembered key, so it never hits.
    let key = '';
    let any = false;
    for (const h of IDENTITY_HEADERS) {
      const v = header(headers, h);
      if (v !== undefined) any = true;
      // undefined and '' differ (a header sent empty is checked and read as absent): mark which.
      key += v === undefined ? '\u0000-' : `\u0000=${v}`;
    }
    if (!any) return contextOf(this.#defaults, requestId, authToken);
    let who = this.#memo.get(key);
    if (!who) {
      who = this.#identity(headers);
      if (this.#memo.size >= NOAUTH_MEMO_SIZE) this.#memo.delete(this.#memo.keys().next().value!);
      this.#memo.set(key, who);
    }
    return contextOf(who, requestId, authToken);
  }

  /** The identity the headers name (400 for a value too long or with control characters). */
  #identity(headers: Headers): Identity & { isAdmin: boolean } {
    const get = (...names: string[]): string | null => {
      for (const n of names) {
        const v = header(headers, n);
        if (v) return v;
      }
      return null;
    };
    for (const h of IDENTITY_HEADERS) checkIdentityHeader(h, header(headers, h));
    const who: Identity = {
      userId: get('x-user-id'),
      userName: get('x-user-name'),
      // Without X-Project-Id the caller acts in the default project, never in "all projects".
      projectId: get('x-project-id', 'x-tenant-id') ?? this.#defaults.projectId,
      projectName: get('x-project-name', 'x-tenant-name'),
      domainId: get('x-user-domain-id'),
      domainName: get('x-user-domain-name'),
      roles: Object.freeze(parseRoles(header(headers, 'x-roles'))),
    };
    return Object.freeze({ ...who, isAdmin: this.#isAdmin(who) });
  }

  async close(): Promise<void> {
    this.#memo.clear();
  }
}

interface CacheEntry {
  /** null: Keystone said the token is not valid. */
  who: (Identity & { isAdmin: boolean }) | null;
  expiresAt: number;
}

class KeystoneAuth implements Authenticator {
  readonly #keystone: Pick<KeystoneApi, 'authUrl' | 'validateToken'>;
  readonly #owned: KeystoneClient | null;
  readonly #isAdmin: AdminCheck;
  readonly #cacheMs: number;
  readonly #cacheSize: number;
  readonly #recheck: boolean;
  /** In recency order, kept coarse (src/common/recency-map.ts): least recently used first out. */
  readonly #cache: RecencyMap<string, CacheEntry>;
  readonly #inFlight = new Map<string, Promise<CacheEntry>>();

  constructor(conf: Config, keystone: Pick<KeystoneApi, 'authUrl' | 'validateToken'>, isAdmin: AdminCheck, owned: KeystoneClient | null) {
    this.#keystone = keystone;
    this.#owned = owned;
    this.#isAdmin = isAdmin;
    this.#cacheMs = conf.keystone_authtoken.token_cache_time * 1000;
    this.#cacheSize = conf.keystone_authtoken.token_cache_size;
    this.#cache = new RecencyMap(this.#cacheSize);
    this.#recheck = conf.keystone_authtoken.check_revocations_for_cached;
  }

  async authenticate(raw: Headers, requestId: string): Promise<RequestContext> {
    const token = header(lowerCased(raw), 'x-auth-token')?.trim();
    if (!token) throw E.Unauthorized();
    const hit = this.#cached(token);
    // With check_revocations_for_cached, a cached valid token is asked about again (a revoked
    // token or a disabled user is refused at once); a cached refusal stays a refusal.
    const entry = hit && (!hit.who || !this.#recheck) ? hit : await this.#validate(token);
    if (!entry.who) throw E.Unauthorized();
    return contextOf(entry.who, requestId, token);
  }

  async close(): Promise<void> {
    this.#cache.clear();
    await this.#owned?.close();
  }

  #cached(token: string): CacheEntry | undefined {
    const hit = this.#cache.get(token);
    if (!hit) return undefined;
    if (hit.expiresAt <= Date.now()) {
      this.#cache.delete(token);
      return undefined;
    }
    return hit;
  }

  #validate(token: string): Promise<CacheEntry> {
    let pending = this.#inFlight.get(token);
    if (!pending) {
      pending = this.#ask(token).finally(() => this.#inFlight.delete(token));
      this.#inFlight.set(token, pending);
    }
    return pending;
  }

  async #ask(token: string): Promise<CacheEntry> {
    const now = Date.now();
    let entry: CacheEntry;
    try {
      const info = await this.#keystone.validateToken(token);
      const who: Identity = {
        userId: info.userId,
        userName: info.userName,
        projectId: info.projectId,
        projectName: info.projectName,
        domainId: info.userDomainId,
        domainName: info.userDomainName,
        roles: Object.freeze([...info.roles]),
      };
      entry = {
        who: Object.freeze({ ...who, isAdmin: this.#isAdmin(who) }),
        expiresAt: Math.min(now + this.#cacheMs, info.expiresAt.getTime()),
      };
      if (info.expiresAt.getTime() <= now) entry = { who: null, expiresAt: now + this.#cacheMs };
    } catch (err) {
      if (err instanceof KeystoneTokenInvalid) {
        entry = { who: null, expiresAt: now + this.#cacheMs };
      } else {
        // The client sees a 503 without our side's details; the cause goes to the log.
        const e = err instanceof KeystoneUnreachable
          ? E.ServiceUnavailable(`Keystone at ${this.#keystone.authUrl} could not be reached to validate the token.`)
          : E.ServiceUnavailable(`Keystone at ${this.#keystone.authUrl} failed to validate the token.`);
        e.cause = err;
        throw e;
      }
    }
    this.#remember(token, entry);
    return entry;
  }

  #remember(token: string, entry: CacheEntry): void {
    if (this.#cacheMs <= 0 || entry.expiresAt <= Date.now()) return;
    this.#cache.delete(token);
    while (this.#cache.size >= this.#cacheSize) {
      const oldest = this.#cache.oldest();
      if (oldest === undefined) break;
      this.#cache.delete(oldest);
    }
    this.#cache.set(token, entry);
  }
}
