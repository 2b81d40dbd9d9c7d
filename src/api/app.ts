// Builds the API server (never listens: cmd/ does). Fastify handles HTTP; the hooks here give it
// Magnum's behaviour: paths without /v1 are prefixed, trailing slashes ignored, request ids,
// microversion negotiation, authentication, Magnum's error bodies, 405 for known paths.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import swagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerFactory } from 'fastify';
import type { Logger } from 'pino';
import type { RequestContext } from '../common/context.ts';
import { E, MagnumError } from '../common/errors.ts';
import { inRequestScope, lastCommitAt } from '../common/request-scope.ts';
import { requireProject } from '../common/scope.ts';
import type { Config } from '../conf/index.ts';
import type { ConductorAPI } from '../conductor/api.ts';
import type { Storage } from '../db/api.ts';
import { DatabaseUnavailable, isDatabaseUnavailable, unavailableReason } from '../db/errors.ts';
import {
  MAX_VERSION_STRING, MIN_VERSION_STRING, MicroversionUnsupported, formatMv, parseMicroversion, type Microversion,
} from './common.ts';
import { registerV1 } from './controllers/v1/index.ts';
import { isDashboardPath, registerDashboard } from './dashboard.ts';
import { FastReadRoutes, type FastMatch } from './fast-reads.ts';
import { renderError } from './hooks/errors.ts';
import { checkJson, checkStrings } from './input-guard.ts';
import { holdFor, type ReadCache } from './read-cache.ts';
import { precompile, validateBody, validateQuery } from './request-schemas.ts';
import type { RouteSchema } from './schemas.ts';
import type { TSchema } from 'typebox';

export interface Authenticator {
  authenticate(headers: Record<string, string | string[] | undefined>, requestId: string): Promise<RequestContext>;
}

export interface PolicyEnforcer {
  enforce(ctx: RequestContext, rule: string, target?: Record<string, unknown>): void;
  check(ctx: RequestContext, rule: string, target?: Record<string, unknown>): boolean;
}

/** What the API may ask about drivers and infrastructure, without importing them. */
export interface Catalog {
  driverSupports(serverType: string, clusterDistro: string | null, coe: string): boolean;
  /** os_distro of a known image, null for an image without one, undefined for an unknown image. */
  imageOsDistro(image: string): Promise<string | null | undefined>;
  flavorExists(name: string): boolean;
  externalNetworkExists(name: string): boolean;
}

export interface ApiDeps {
  conf: Config;
  catalog: Catalog;
  storage: Storage;
  conductor: ConductorAPI;
  policy: PolicyEnforcer;
  authenticator: Authenticator;
  /** Project existence in Keystone (quota create); absent under noauth. */
  projects?: { exists(projectId: string): Promise<boolean> };
  /** Answers of hot read routes kept while unchanged (src/api/read-cache.ts); absent: none kept. */
  cache?: ReadCache;
  /**
   * Milliseconds the answer to a request that committed a change is held after its last commit:
   * the read caches of every API process may share a round trip sent this long before a request
   * ([api] read_cache_sync_window, src/api/read-cache.ts). 0 or absent: none.
   */
  answerHoldMs?: number;
  /** `Keystone uri="..."` for 401 answers in keystone mode. */
  wwwAuthenticate?: string;
  logger?: Logger | false;
}

export interface ApiRequest {
  ctx: RequestContext;
  mv: Microversion;
  /** scheme://host[:port] of the request, what Magnum builds links from. */
  host: string;
  params: Record<string, string>;
  query: Record<string, unknown>;
  /** The body parsed as JSON (400 when it is not). */
  json(): unknown;
  /** True when the request carried a non-empty body. */
  hasBody: boolean;
  /** The query's names (and repeats) checked against the route's declared query (or `schema`). */
  checkQuery(schema?: TSchema): void;
  /** The JSON body checked against the route's declared body schema: canonical values and defaults. */
  body(): Record<string, unknown>;
}

export interface ApiReply {
  status: number;
  body?: unknown;
  /** The body as JSON text already (a cached answer), sent as it is instead of `body`. */
  json?: string;
  headers?: Record<string, string>;
}

export type Handler = (req: ApiRequest) => Promise<ApiReply>;
type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

/**
 * A route; `schema`, when declared, serialises its answers and puts it in /v1/openapi.json.
 * `fast`: a GET answered from the read cache, served ahead of Fastify when it has no query
 * (src/api/fast-reads.ts).
 */
export interface Route { method: Method; path: string; handler: Handler; schema?: RouteSchema; fast?: boolean }

export class Router {
  readonly routes: Route[] = [];
  get(path: string, h: Handler, schema?: RouteSchema, opts: { fast?: boolean } = {}) { this.routes.push({ method: 'GET', path, handler: h, schema, fast: opts.fast }); }
  post(path: string, h: Handler, schema?: RouteSchema) { this.routes.push({ method: 'POST', path, handler: h, schema }); }
  patch(path: string, h: Handler, schema?: RouteSchema) { this.routes.push({ method: 'PATCH', path, handler: h, schema }); }
  put(path: string, h: Handler, schema?: RouteSchema) { this.routes.push({ method: 'PUT', path, handler: h, schema }); }
  delete(path: string, h: Handler, schema?: RouteSchema) { this.routes.push({ method: 'DELETE', path, handler: h, schema }); }
}

/** The OpenAPI document of the declared routes, generated by @fastify/swagger. */
export const OPENAPI_PATH = '/v1/openapi.json';
const PUBLIC_PATHS = new Set(['/', '/v1', '/healthcheck', OPENAPI_PATH.replace(/\.json$/, '')]);
const JSON_MEDIA_TYPES = ['application/json', 'text/javascript', 'application/javascript'];

declare module 'fastify' {
  interface FastifyRequest {
    magnum: { requestId: string; mv: Microversion | null; ctx: RequestContext | null; versioned: boolean };
  }
}

/** Headers of every answer under /v1 (Fastify writes names in lower case; so does the fast path). */
const VERSIONED_HEADERS = Object.freeze({
  'openstack-api-minimum-version': `container-infra ${MIN_VERSION_STRING}`,
  'openstack-api-maximum-version': `container-infra ${MAX_VERSION_STRING}`,
  vary: 'OpenStack-API-Version',
});
/** The 406 body for an OpenStack-API-Version outside [min, max]. */
const MICROVERSION_UNSUPPORTED = Object.freeze({
  errors: [{
    max_version: MAX_VERSION_STRING,
    min_version: MIN_VERSION_STRING,
    code: 'magnum.microversion-unsupported',
    title: 'Requested microversion is unsupported',
    links: [{ rel: 'help', href: 'http://docs.openstack.org/api-guide/compute/microversions.html' }],
  }],
});
/**
 * OpenStack-API-Version values already read, with the answer's header: a client sends the same
 * one request after request. Only accepted values are kept, at most 64 (then it starts afresh).
 */
const versionsRead = new Map<string, { mv: Microversion; header: string }>();

/** The microversion asked for and the answer's header; null when it is outside [min, max] (406). */
function readVersion(value: string | string[] | undefined): { mv: Microversion; header: string } | null {
  const known = typeof value === 'string' ? versionsRead.get(value) : undefined;
  if (known) return known;
  let mv: Microversion;
  try {
    mv = parseMicroversion(value);
  } catch (err) {
    if (err instanceof MicroversionUnsupported) return null;
    throw err;
  }
  const read = Object.freeze({ mv, header: `container-infra ${formatMv(mv)}` });
  if (typeof value === 'string') {
    if (versionsRead.size >= 64) versionsRead.clear();
    versionsRead.set(value, read);
  }
  return read;
}

/** The URL's path: what comes before its query. */
function withoutQuery(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function normalisePath(url: string): string {
  let path = withoutQuery(url);
  if (path.length > 1 && path.endsWith('/')) path = path.replace(/\/+$/, '');
  if (path.endsWith('.json')) path = path.slice(0, -5);
  return path || '/';
}

export function buildApp(deps: ApiDeps): FastifyInstance {
  const logger = deps.logger ? { loggerInstance: deps.logger as unknown as FastifyBaseLogger } : { logger: false as const };
  const maxBody = deps.conf.oslo_middleware.max_request_body_size;
  const dashboard = deps.conf.dashboard.enabled;
  // Hot cached GETs skip Fastify ([api] fast_reads): the server's listener serves them itself.
  const fastReads = deps.conf.api.fast_reads ? new FastReadRoutes() : undefined;
  let closing = false;
  const serverFactory: FastifyServerFactory = (handler, options) => {
    const opts = options as { keepAliveTimeout: number; requestTimeout: number; connectionTimeout: number; maxRequestsPerSocket?: number | null };
    const server = createServer((req, res) => {
      const hit = fastReads && !closing && req.method === 'GET' && !carriesBody(req) && req.headers.host ? fastReads.match(req.url ?? '') : undefined;
      if (hit) inRequestScope(res, () => void serveFast(deps, hit, req, res));
      else handler(req, res);
    });
    // What Fastify sets on a server it makes itself.
    server.keepAliveTimeout = opts.keepAliveTimeout;
    server.requestTimeout = opts.requestTimeout;
    server.setTimeout(opts.connectionTimeout);
    if (opts.maxRequestsPerSocket) server.maxRequestsPerSocket = opts.maxRequestsPerSocket;
    return server;
  };
  const app: FastifyInstance = Fastify({
    ...(fastReads ? { serverFactory } : {}),
    ...logger,
    bodyLimit: maxBody,
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, maxParamLength: 1000 },
    // Pecan's quirk: a first segment that is not v1 is served as if it were under /v1.
    rewriteUrl: (req) => {
      const url = req.url ?? '/';
      const path = withoutQuery(url);
      if (path === '/' || path === '' || path.startsWith('/v1/') || path === '/v1' || path.startsWith('/healthcheck') || path === '/v1.json') return url;
      if (dashboard && isDashboardPath(path)) return url;
      return `/v1${url}`;
    },
    genReqId: () => `req-${randomUUID()}`,
    // Router-level failures (a bad percent escape, an over-long path segment) get Magnum's body too.
    frameworkErrors: (err, req, reply) => {
      void reply.header('x-openstack-request-id', String(req.id));
      return sendError(deps, err, req, reply);
    },
  });

  // Declared response schemas document the answers (/v1/openapi.json) and the tests check the real
  // answers against them; bodies are written with JSON.stringify, which measured 1.5-2.7x faster
  // than the schema's fast-json-stringify serializer on the 1,000-cluster detail page (string-heavy
  // objects), so no serializer is compiled for them.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  // Request schemas are checked by the handlers, where Magnum checks them (after a microversion
  // check, in WSME's order: path, query, body), with checks compiled once at start-up by
  // src/api/request-schemas.ts; Fastify's own validation step has nothing left to do.
  app.setValidatorCompiler(() => () => true);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: maxBody }, (_req, body, done) => done(null, body));

  app.decorateRequest('magnum', null as never);
  // Once closing, Fastify answers 503 (and closes the connection): so it gets every request.
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  // A request whose client goes away before it is answered commits nothing after that
  // (src/common/request-scope.ts); its statements are bounded by [database] statement_timeout
  // and pool_timeout, so a stalled database costs a client a 503, not a hang.
  app.addHook('onRequest', (_req, reply, done) => inRequestScope(reply.raw, done));
  app.addHook('onRequest', async (req, reply) => {
    const requestId = String(req.id);
    const path = normalisePath(req.url);
    const versioned = path === '/v1' || path.startsWith('/v1/');
    req.magnum = { requestId, mv: null, ctx: null, versioned };
    void reply.header('x-openstack-request-id', requestId);
    if (versioned) {
      void reply.headers(VERSIONED_HEADERS);
      const version = readVersion(req.headers['openstack-api-version']);
      if (!version) return reply.code(406).type('application/json').send(MICROVERSION_UNSUPPORTED);
      req.magnum.mv = version.mv;
      void reply.header('OpenStack-API-Version', version.header);
    }
    if (PUBLIC_PATHS.has(path)) return;
    // The dashboard's static files hold no data, and its Keystone login pass-through is how a
    // browser gets a token in the first place (src/api/dashboard.ts); its data calls go to /v1.
    if (dashboard && isDashboardPath(path)) return;
    const ctx = await deps.authenticator.authenticate(req.headers, requestId);
    // Every other route acts on a project's resources: a caller with no project scope (an
    // unscoped or domain-scoped token) acts on none of them, admin or not (src/common/scope.ts).
    requireProject(ctx);
    req.magnum.ctx = ctx;
  });

  app.setErrorHandler((err, req, reply) => sendError(deps, err, req, reply));
  app.setNotFoundHandler((req, reply) => sendError(deps, E.RouteNotFound(), req, reply));

  app.get('/', async (req) => ({
    name: 'OpenStack Magnum API',
    description: 'Magnum is an OpenStack project which aims to provide container cluster management.',
    versions: [{
      id: 'v1',
      links: [{ href: `${hostUrl(req)}/v1/`, rel: 'self' }],
      status: 'CURRENT',
      max_version: MAX_VERSION_STRING,
      min_version: MIN_VERSION_STRING,
    }],
  }));
  app.get('/healthcheck', async (_req, reply) => reply.type('text/plain').send('OK'));

  if (dashboard) registerDashboard(app, deps.conf);

  const router = new Router();
  registerV1(router, deps);
  // The routes are added once @fastify/swagger is loaded (it reads each route as it is added).
  void app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'OpenStack Magnum API (container-infra)', version: MAX_VERSION_STRING, description: 'The routes whose schemas are declared (src/api/schemas.ts); the others are not in this document yet.' },
    },
  });
  app.after(() => {
    app.get(OPENAPI_PATH, { schema: { hide: true } }, async () => app.swagger());
    const byPath = new Map<string, Set<Method>>();
    // The answer to a request that committed a change leaves [api] read_cache_sync_window after
    // its last commit (src/api/read-cache.ts), an error's too; a request that committed nothing
    // is not held. (The fast reads only read.)
    const holdMs = deps.answerHoldMs ?? 0;
    const hold = holdMs > 0
      ? {
        onSend: (_req: FastifyRequest, _reply: FastifyReply, payload: unknown, done: (err: Error | null, payload?: unknown) => void) => {
          const at = lastCommitAt();
          const left = at ? at + holdMs - performance.now() : 0;
          if (left <= 0) return done(null, payload);
          holdFor(left).then(() => done(null, payload), done);
        },
      }
      : {};
    for (const r of router.routes) {
      fastReads?.add(r);
      precompile(r.schema?.querystring, r.schema?.body);
      app.route({ method: r.method, url: r.path, schema: r.schema ?? { hide: true }, handler: (req, reply) => dispatch(r, req, reply), ...hold });
      const set = byPath.get(r.path) ?? new Set<Method>();
      set.add(r.method);
      byPath.set(r.path, set);
    }
    const all: Method[] = ['GET', 'POST', 'PATCH', 'PUT', 'DELETE'];
    for (const [path, methods] of byPath) {
      const missing = all.filter((m) => !methods.has(m));
      if (missing.length) app.route({ method: missing, url: path, schema: { hide: true }, handler: async () => { throw E.MethodNotAllowed(); } });
    }
  });
  return app;
}

export function hostUrl(req: FastifyRequest): string {
  const host = req.headers.host ?? `${req.hostname}`;
  return `${req.protocol}://${host}`;
}

/** What a handler gets: the request's parts, with its query and body checked on demand. */
function apiRequest(route: Route, parts: {
  ctx: RequestContext; mv: Microversion; host: string; params: Record<string, string>; query: Record<string, unknown>;
  rawBody: string; contentType: string | string[] | undefined;
}): ApiRequest {
  const hasBody = parts.rawBody.trim().length > 0;
  let parsed: unknown;
  let parsedOnce = false;
  const apiReq: ApiRequest = {
    ctx: parts.ctx,
    mv: parts.mv,
    host: parts.host,
    params: parts.params,
    query: parts.query,
    hasBody,
    json() {
      if (!parsedOnce) {
        if (!hasBody) throw E.Invalid('The request body is empty; a JSON document is expected.');
        // WSME reads JSON bodies only under a JSON media type (415 "Unknown mimetype" otherwise).
        const mediaType = String(parts.contentType ?? '').split(';')[0].trim().toLowerCase();
        if (!JSON_MEDIA_TYPES.includes(mediaType)) throw E.UnsupportedMediaType(mediaType || 'None');
        try {
          parsed = JSON.parse(parts.rawBody);
        } catch (err) {
          throw E.InvalidJson((err as Error).message);
        }
        checkJson(parsed);
        parsedOnce = true;
      }
      return parsed;
    },
    checkQuery(schema) {
      const declared = schema ?? route.schema?.querystring;
      if (!declared) throw new Error(`${route.method} ${route.path} declares no query`);
      validateQuery(declared, apiReq.query);
    },
    body() {
      if (!route.schema?.body) throw new Error(`${route.method} ${route.path} declares no body`);
      return validateBody(route.schema.body, apiReq.json());
    },
  };
  return apiReq;
}

async function dispatch(route: Route, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  checkStrings(req.params as Record<string, unknown>);
  checkStrings(req.query as Record<string, unknown>);
  const out = await route.handler(apiRequest(route, {
    ctx: req.magnum.ctx!,
    mv: req.magnum.mv!,
    host: hostUrl(req),
    params: req.params as Record<string, string>,
    query: req.query as Record<string, unknown>,
    rawBody: typeof req.body === 'string' ? req.body : '',
    contentType: req.headers['content-type'],
  }));
  if (out.headers) for (const [k, v] of Object.entries(out.headers)) void reply.header(k, v);
  if (out.json !== undefined) {
    await reply.code(out.status).type('application/json').send(out.json);
    return;
  }
  if (out.body === undefined) {
    await reply.code(out.status).send();
    return;
  }
  await reply.code(out.status).type('application/json').send(JSON.stringify(out.body));
}

/** A request that may carry a body (Fastify reads it; the fast path takes none). */
function carriesBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/**
 * A GET of a fast route (src/api/fast-reads.ts), served as the hooks above and dispatch() serve it
 * through Fastify, in the same order (version, authentication, project, route) and with the same
 * headers and errors, without Fastify's routing, hook chain and reply objects.
 * test/api/fast-reads.test.ts compares the two answer by answer.
 */
async function serveFast(deps: ApiDeps, hit: FastMatch, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const requestId = `req-${randomUUID()}`;
  const headers: Record<string, string> = { 'x-openstack-request-id': requestId, ...VERSIONED_HEADERS };
  let status: number;
  let text: string | undefined;
  try {
    const version = readVersion(req.headers['openstack-api-version']);
    if (!version) {
      writeAnswer(res, 406, headers, JSON.stringify(MICROVERSION_UNSUPPORTED));
      return;
    }
    headers['openstack-api-version'] = version.header;
    const ctx = await deps.authenticator.authenticate(req.headers, requestId);
    requireProject(ctx);
    checkStrings(hit.params);
    const out = await hit.route.handler(apiRequest(hit.route, {
      ctx, mv: version.mv, host: `http://${req.headers.host}`, params: hit.params, query: {}, rawBody: '', contentType: req.headers['content-type'],
    }));
    if (out.headers) for (const [k, v] of Object.entries(out.headers)) headers[k.toLowerCase()] = v;
    status = out.status;
    text = out.json ?? (out.body === undefined ? undefined : JSON.stringify(out.body));
  } catch (err) {
    const answer = errorAnswer(deps, err, requestId, deps.logger || undefined);
    Object.assign(headers, answer.headers);
    status = answer.status;
    text = JSON.stringify(answer.body);
  }
  writeAnswer(res, status, headers, text);
}

function writeAnswer(res: ServerResponse, status: number, headers: Record<string, string>, json: string | undefined): void {
  if (json === undefined) {
    headers['content-length'] = '0';
    res.writeHead(status, headers).end();
    return;
  }
  headers['content-type'] = 'application/json; charset=utf-8';
  headers['content-length'] = String(Buffer.byteLength(json));
  res.writeHead(status, headers).end(json);
}

/** Magnum's answer to an error: its status, the headers it adds, its body (and it is logged when the server's own). */
function errorAnswer(deps: ApiDeps, err: unknown, requestId: string, log: Pick<Logger, 'info' | 'error'> | undefined): { status: number; headers: Record<string, string>; body: unknown } {
  const e = toMagnumError(err, deps.conf.oslo_middleware.max_request_body_size);
  // A client that left is its own doing, not a server failure.
  if (e.code === 'RequestAbandoned') log?.info?.({ requestId }, 'client closed the connection; the request was rolled back');
  else if (e.status >= 500) log?.error?.({ err, requestId }, 'request failed');
  if (e.status === 401) {
    return {
      status: 401,
      headers: deps.wwwAuthenticate ? { 'www-authenticate': deps.wwwAuthenticate } : {},
      body: { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } },
    };
  }
  return { status: e.status, headers: {}, body: renderError(e, requestId) };
}

function sendError(deps: ApiDeps, err: unknown, req: FastifyRequest, reply: FastifyReply) {
  const answer = errorAnswer(deps, err, String(req.id), req.log);
  for (const [k, v] of Object.entries(answer.headers)) void reply.header(k, v);
  return reply.code(answer.status).type('application/json').send(answer.body);
}

/** Anything that reaches the error handler becomes a MagnumError; Fastify's own 4xx keep their status. */
function toMagnumError(err: unknown, maxBody: number): MagnumError {
  if (err instanceof MagnumError) return err;
  // The database out of reach (a driver error the SQL layer did not already turn into it): 503.
  if (isDatabaseUnavailable(err)) return new DatabaseUnavailable(unavailableReason(err));
  const f = err as { statusCode?: number; code?: string; message?: string };
  if (f?.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return E.RequestEntityTooLarge(maxBody);
  if (typeof f?.statusCode === 'number' && f.statusCode >= 400 && f.statusCode < 500) {
    return new MagnumError(f.code ?? 'ClientSideError', f.statusCode, f.message ?? 'Bad request.');
  }
  return new MagnumError('InternalError', 500, 'The server failed to handle the request; the error is in its log.');
}
