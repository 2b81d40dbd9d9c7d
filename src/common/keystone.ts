// A small Keystone v3 client: the service user's password login (cached, renewed before it
// expires), token validation (GET /v3/auth/tokens) and project look-up. Every request has a
// bounded timeout; a failure to connect is retried `http_request_max_retries` times.
//
// It speaks HTTP with node:http/node:https and a keep-alive pool: a handful of small JSON
// requests need nothing more, and those modules are part of Node. undici (110 modules) cost the
// API about 13 MB more resident memory once a Keystone request had loaded it; Node's own fetch
// (undici inside Node) about 15 MB.
//
// Failures come out as three distinct errors, because the API answers them differently:
//   KeystoneTokenInvalid  the user's token is not valid           -> 401
//   KeystoneUnreachable   Keystone did not answer (network, timeout) -> 503
//   KeystoneError         Keystone answered, but not usefully (5xx, the service user refused)
//                                                                 -> 503

import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Config } from '../conf/index.ts';

export interface TokenInfo {
  userId: string;
  userName: string;
  userDomainId: string | null;
  userDomainName: string | null;
  /** null for a token that is not scoped to a project (unscoped, domain or system scope). */
  projectId: string | null;
  projectName: string | null;
  projectDomainId: string | null;
  roles: string[];
  expiresAt: Date;
  catalog?: unknown[];
}

export interface ProjectInfo {
  id: string;
  name: string;
  domainId: string | null;
  enabled: boolean;
}

/** What the API needs of Keystone; tests wrap or replace it. */
export interface KeystoneApi {
  /** The Keystone v3 URL requests go to. */
  readonly authUrl: string;
  validateToken(subjectToken: string, opts?: { includeCatalog?: boolean }): Promise<TokenInfo>;
  getProject(projectId: string): Promise<ProjectInfo | null>;
}

export class KeystoneTokenInvalid extends Error {
  constructor() {
    super('The token is not valid');
    this.name = 'KeystoneTokenInvalid';
  }
}

export class KeystoneUnreachable extends Error {
  readonly url: string;
  constructor(url: string, cause: unknown) {
    super(`Keystone at ${url} could not be reached: ${describe(cause)}`, { cause });
    this.name = 'KeystoneUnreachable';
    this.url = url;
  }
}

export class KeystoneError extends Error {
  readonly url: string;
  readonly status: number | null;
  constructor(url: string, status: number | null, message: string) {
    super(message);
    this.name = 'KeystoneError';
    this.url = url;
    this.status = status;
  }
}

export interface KeystoneClientOptions {
  authUrl: string;
  username: string;
  password: string | null;
  projectName: string;
  userDomainName: string;
  projectDomainName: string;
  /** Milliseconds each request may take, connecting included. */
  timeoutMs?: number;
  /** Retries of a request that failed to connect. */
  maxRetries?: number;
}

/** The code of a request whose time ran out before it had a connection. */
const CONNECT_TIMEOUT = 'ECONNECTTIMEOUT';
// Errors that mean "no answer came back": retrying may help, and the request had no effect.
const CONNECT_ERRORS = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'EPIPE',
  CONNECT_TIMEOUT,
]);

const RETRY_DELAY_MS = 100;
/** A service token this close to its expiry is renewed before use. */
const SERVICE_TOKEN_MARGIN_MS = 60_000;
/** A header value must be visible ASCII; anything else cannot be a Keystone token. */
const TOKEN_SHAPE = /^[\x21-\x7e]{1,8192}$/;

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: string }).code;
    const inner = err.cause instanceof Error ? `: ${describe(err.cause)}` : '';
    return `${code ? `${code} ` : ''}${err.message}${inner}`;
  }
  return String(err);
}

function errorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECT_ERRORS.has(code)) return code;
    const errors = (e as { errors?: unknown }).errors;
    if (Array.isArray(errors)) for (const x of errors) {
      const c = errorCode(x);
      if (c) return c;
    }
  }
  return undefined;
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: unknown;
}

type Method = 'GET' | 'POST';

interface ServiceToken {
  id: string;
  renewAt: number;
}

export class KeystoneClient implements KeystoneApi {
  readonly authUrl: string;
  readonly #opts: Required<KeystoneClientOptions>;
  /** Every request goes to authUrl, so one protocol (and one kind of pool) serves them all. */
  readonly #https: boolean;
  #agent: HttpAgent | null = null;
  #serviceToken: ServiceToken | null = null;
  #serviceLogin: Promise<ServiceToken> | null = null;

  constructor(opts: KeystoneClientOptions) {
    this.#opts = { timeoutMs: 10_000, maxRetries: 3, ...opts };
    this.authUrl = normaliseV3(opts.authUrl);
    let protocol: string;
    try {
      protocol = new URL(this.authUrl).protocol;
    } catch {
      throw new Error(`[keystone_authtoken] auth_url is not a URL: ${JSON.stringify(opts.authUrl)}`);
    }
    if (protocol !== 'http:' && protocol !== 'https:') throw new Error(`[keystone_authtoken] auth_url must be http:// or https://: ${JSON.stringify(opts.authUrl)}`);
    this.#https = protocol === 'https:';
  }

  /** The connection pool (made on the first request): at most 32 connections, idle ones closed after 30 s. */
  #pool(): HttpAgent {
    return (this.#agent ??= new (this.#https ? HttpsAgent : HttpAgent)({ keepAlive: true, maxSockets: 32, timeout: 30_000 }));
  }

  static fromConfig(conf: Config): KeystoneClient {
    const k = conf.keystone_authtoken;
    return new KeystoneClient({
      authUrl: k.auth_url,
      username: k.username,
      password: k.password,
      projectName: k.project_name,
      userDomainName: k.user_domain_name,
      projectDomainName: k.project_domain_name,
      timeoutMs: k.http_connect_timeout * 1000,
      maxRetries: k.http_request_max_retries,
    });
  }

  /** Release the connections (tests, shutdown). */
  async close(): Promise<void> {
    this.#agent?.destroy();
    this.#agent = null;
  }

  async validateToken(subjectToken: string, opts: { includeCatalog?: boolean } = {}): Promise<TokenInfo> {
    if (!TOKEN_SHAPE.test(subjectToken)) throw new KeystoneTokenInvalid();
    const path = opts.includeCatalog ? '/auth/tokens' : '/auth/tokens?nocatalog';
    const reply = await this.#asService('GET', path, { 'x-subject-token': subjectToken });
    if (reply.status === 404 || reply.status === 401) throw new KeystoneTokenInvalid();
    if (reply.status !== 200) throw this.#unexpected('validate a token', reply);
    return parseToken(reply.body, opts.includeCatalog ?? false, this.authUrl);
  }

  async getProject(projectId: string): Promise<ProjectInfo | null> {
    const reply = await this.#asService('GET', `/projects/${encodeURIComponent(projectId)}`, {});
    if (reply.status === 404) return null;
    if (reply.status !== 200) throw this.#unexpected('look up a project', reply);
    const p = (reply.body as { project?: Record<string, unknown> } | null)?.project;
    if (!p || typeof p.id !== 'string') throw new KeystoneError(this.authUrl, 200, `Keystone at ${this.authUrl} returned a malformed project`);
    return {
      id: p.id,
      name: String(p.name ?? ''),
      domainId: typeof p.domain_id === 'string' ? p.domain_id : null,
      enabled: p.enabled !== false,
    };
  }

  /** A request with the service token; a 401 means that token went bad: log in again once. */
  async #asService(method: Method, path: string, headers: Record<string, string>): Promise<Reply> {
    const token = await this.#serviceTokenId();
    const reply = await this.#send(method, path, { ...headers, 'x-auth-token': token });
    if (reply.status !== 401) return reply;
    if (this.#serviceToken?.id === token) this.#serviceToken = null;
    const fresh = await this.#serviceTokenId();
    return this.#send(method, path, { ...headers, 'x-auth-token': fresh });
  }

  async #serviceTokenId(): Promise<string> {
    const cached = this.#serviceToken;
    if (cached && Date.now() < cached.renewAt) return cached.id;
    this.#serviceLogin ??= this.#login().finally(() => {
      this.#serviceLogin = null;
    });
    const t = await this.#serviceLogin;
    return t.id;
  }

  async #login(): Promise<ServiceToken> {
    const o = this.#opts;
    if (!o.password) {
      throw new KeystoneError(this.authUrl, null, '[keystone_authtoken] password is not set: the service user cannot log in to Keystone');
    }
    const body = {
      auth: {
        identity: { methods: ['password'], password: { user: { name: o.username, domain: { name: o.userDomainName }, password: o.password } } },
        scope: { project: { name: o.projectName, domain: { name: o.projectDomainName } } },
      },
    };
    const reply = await this.#send('POST', '/auth/tokens?nocatalog', { 'content-type': 'application/json' }, JSON.stringify(body));
    if (reply.status !== 201 && reply.status !== 200) {
      throw new KeystoneError(this.authUrl, reply.status,
        `The service user ${o.username} cannot log in to Keystone at ${this.authUrl} (HTTP ${reply.status}${errorMessage(reply.body)})`);
    }
    const id = reply.headers['x-subject-token'];
    const expires = Date.parse(String((reply.body as { token?: { expires_at?: unknown } } | null)?.token?.expires_at ?? ''));
    if (typeof id !== 'string' || !id || Number.isNaN(expires)) {
      throw new KeystoneError(this.authUrl, reply.status, `Keystone at ${this.authUrl} returned a malformed token`);
    }
    const now = Date.now();
    const margin = Math.min(SERVICE_TOKEN_MARGIN_MS, Math.max(0, (expires - now) / 4));
    const token = { id, renewAt: expires - margin };
    this.#serviceToken = token;
    return token;
  }

  async #send(method: Method, path: string, headers: Record<string, string>, body?: string): Promise<Reply> {
    const url = new URL(this.authUrl + path);
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.#exchange(method, url, { accept: 'application/json', ...headers }, body);
        let parsed: unknown = null;
        if (res.text) {
          try {
            parsed = JSON.parse(res.text);
          } catch {
            parsed = null;
          }
        }
        return { status: res.status, headers: res.headers, body: parsed };
      } catch (err) {
        if (errorCode(err) && attempt < this.#opts.maxRetries) {
          await new Promise((r) => setTimeout(r, RETRY_DELAY_MS * 2 ** attempt));
          continue;
        }
        throw new KeystoneUnreachable(this.authUrl, err);
      }
    }
  }

  /**
   * One request and its whole answer, within timeoutMs. Time that runs out before a connection
   * was made fails with CONNECT_TIMEOUT (the request was not sent: it is retried).
   */
  #exchange(method: Method, url: URL, headers: Record<string, string>, body?: string): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
    const t = this.#opts.timeoutMs;
    return new Promise((resolve, reject) => {
      let connected = false;
      const req = (this.#https ? httpsRequest : httpRequest)(url, { method, headers, agent: this.#pool() }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', fail);
        res.on('aborted', () => fail(Object.assign(new Error('the connection closed before the whole answer came'), { code: 'ECONNRESET' })));
      });
      function fail(err: Error) {
        clearTimeout(timer);
        req.destroy();
        reject(err);
      }
      req.on('socket', (socket) => {
        if (!socket.connecting) connected = true; // a kept-alive connection
        else socket.once('connect', () => (connected = true));
      });
      req.on('error', fail);
      const timer = setTimeout(() => {
        const err = connected
          ? new Error(`no answer within ${t} ms`)
          : Object.assign(new Error(`no connection within ${t} ms`), { code: CONNECT_TIMEOUT });
        fail(err);
      }, t);
      req.end(body);
    });
  }

  #unexpected(what: string, reply: Reply): KeystoneError {
    return new KeystoneError(this.authUrl, reply.status,
      `Keystone at ${this.authUrl} failed to ${what} (HTTP ${reply.status}${errorMessage(reply.body)})`);
  }
}

function errorMessage(body: unknown): string {
  const m = (body as { error?: { message?: unknown } } | null)?.error?.message;
  return typeof m === 'string' ? `: ${m}` : '';
}

/** `http://host:5000`, `…/v3` and `…/v3/` all mean the v3 API. */
function normaliseV3(url: string): string {
  const trimmed = url.replace(/\/+$/, '');
  return /\/v3$/.test(trimmed) ? trimmed : `${trimmed}/v3`;
}

function parseToken(body: unknown, withCatalog: boolean, url: string): TokenInfo {
  const t = (body as { token?: Record<string, any> } | null)?.token;
  const expiresAt = new Date(String(t?.expires_at ?? ''));
  if (!t || typeof t.user?.id !== 'string' || Number.isNaN(expiresAt.getTime())) {
    throw new KeystoneError(url, 200, `Keystone at ${url} returned a malformed token`);
  }
  const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
  const info: TokenInfo = {
    userId: t.user.id,
    userName: String(t.user.name ?? ''),
    userDomainId: str(t.user.domain?.id),
    userDomainName: str(t.user.domain?.name),
    projectId: str(t.project?.id),
    projectName: str(t.project?.name),
    projectDomainId: str(t.project?.domain?.id),
    roles: Array.isArray(t.roles) ? t.roles.map((r: { name?: unknown }) => String(r?.name ?? '')).filter(Boolean) : [],
    expiresAt,
  };
  if (withCatalog && Array.isArray(t.catalog)) info.catalog = t.catalog;
  return info;
}
