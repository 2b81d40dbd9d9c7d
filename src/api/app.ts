// Builds the API server (never listens: cmd/ does). Fastify handles HTTP; the hooks here give it
// Magnum's behaviour: paths without /v1 are prefixed, trailing slashes ignored, request ids,
// microversion negotiation, authentication, Magnum's error bodies, 405 for known paths.
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { RequestContext } from '../common/context.ts';
import { E, MagnumError } from '../common/errors.ts';
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
import { renderError } from './hooks/errors.ts';
import { checkJson, checkStrings } from './input-guard.ts';

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
}

export interface ApiReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type Handler = (req: ApiRequest) => Promise<ApiReply>;
type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

export class Router {
  readonly routes: { method: Method; path: string; handler: Handler }[] = [];
  get(path: string, h: Handler) { this.routes.push({ method: 'GET', path, handler: h }); }
  post(path: string, h: Handler) { this.routes.push({ method: 'POST', path, handler: h }); }
  patch(path: string, h: Handler) { this.routes.push({ method: 'PATCH', path, handler: h }); }
  put(path: string, h: Handler) { this.routes.push({ method: 'PUT', path, handler: h }); }
  delete(path: string, h: Handler) { this.routes.push({ method: 'DELETE', path, handler: h }); }
}

const PUBLIC_PATHS = new Set(['/', '/v1', '/healthcheck']);
const JSON_MEDIA_TYPES = ['application/json', 'text/javascript', 'application/javascript'];

declare module 'fastify' {
  interface FastifyRequest {
    magnum: { requestId: string; mv: Microversion | null; ctx: RequestContext | null; versioned: boolean };
  }
}

function normalisePath(url: string): string {
  const q = url.indexOf('?');
  let path = q === -1 ? url : url.slice(0, q);
  if (path.length > 1) path = path.replace(/\/+$/, '');
  return path.replace(/\.json$/, '') || '/';
}

export function buildApp(deps: ApiDeps): FastifyInstance {
  const logger = deps.logger ? { loggerInstance: deps.logger as unknown as FastifyBaseLogger } : { logger: false as const };
  const maxBody = deps.conf.oslo_middleware.max_request_body_size;
  const dashboard = deps.conf.dashboard.enabled;
  const app: FastifyInstance = Fastify({
    ...logger,
    bodyLimit: maxBody,
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, maxParamLength: 1000 },
    // Pecan's quirk: a first segment that is not v1 is served as if it were under /v1.
    rewriteUrl: (req) => {
      const url = req.url ?? '/';
      const path = url.split('?')[0];
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

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: maxBody }, (_req, body, done) => done(null, body));

  app.decorateRequest('magnum', null as never);
  app.addHook('onRequest', async (req, reply) => {
    const requestId = String(req.id);
    const path = normalisePath(req.url);
    const versioned = path === '/v1' || path.startsWith('/v1/');
    req.magnum = { requestId, mv: null, ctx: null, versioned };
    void reply.header('x-openstack-request-id', requestId);
    if (versioned) {
      void reply.header('OpenStack-API-Minimum-Version', `container-infra ${MIN_VERSION_STRING}`);
      void reply.header('OpenStack-API-Maximum-Version', `container-infra ${MAX_VERSION_STRING}`);
      void reply.header('Vary', 'OpenStack-API-Version');
      try {
        req.magnum.mv = parseMicroversion(req.headers['openstack-api-version']);
      } catch (err) {
        if (err instanceof MicroversionUnsupported) {
          return reply.code(406).type('application/json').send({
            errors: [{
              max_version: MAX_VERSION_STRING,
              min_version: MIN_VERSION_STRING,
              code: 'magnum.microversion-unsupported',
              title: 'Requested microversion is unsupported',
              links: [{ rel: 'help', href: 'http://docs.openstack.org/api-guide/compute/microversions.html' }],
            }],
          });
        }
        throw err;
      }
      void reply.header('OpenStack-API-Version', `container-infra ${formatMv(req.magnum.mv)}`);
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
  const byPath = new Map<string, Set<Method>>();
  for (const r of router.routes) {
    app.route({ method: r.method, url: r.path, handler: (req, reply) => dispatch(r.handler, req, reply) });
    const set = byPath.get(r.path) ?? new Set<Method>();
    set.add(r.method);
    byPath.set(r.path, set);
  }
  const all: Method[] = ['GET', 'POST', 'PATCH', 'PUT', 'DELETE'];
  for (const [path, methods] of byPath) {
    const missing = all.filter((m) => !methods.has(m));
    if (missing.length) app.route({ method: missing, url: path, handler: async () => { throw E.MethodNotAllowed(); } });
  }
  return app;
}

export function hostUrl(req: FastifyRequest): string {
  const host = req.headers.host ?? `${req.hostname}`;
  return `${req.protocol}://${host}`;
}

async function dispatch(handler: Handler, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const raw = typeof req.body === 'string' ? req.body : '';
  const hasBody = raw.trim().length > 0;
  let parsed: unknown;
  let parsedOnce = false;
  checkStrings(req.params as Record<string, unknown>);
  checkStrings(req.query as Record<string, unknown>);
  const apiReq: ApiRequest = {
    ctx: req.magnum.ctx!,
    mv: req.magnum.mv!,
    host: hostUrl(req),
    params: req.params as Record<string, string>,
    query: req.query as Record<string, unknown>,
    hasBody,
    json() {
      if (!parsedOnce) {
        if (!hasBody) throw E.Invalid('The request body is empty; a JSON document is expected.');
        // WSME reads JSON bodies only under a JSON media type (415 "Unknown mimetype" otherwise).
        const mediaType = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
        if (!JSON_MEDIA_TYPES.includes(mediaType)) throw E.UnsupportedMediaType(mediaType || 'None');
        try {
          parsed = JSON.parse(raw);
        } catch (err) {
          throw E.InvalidJson((err as Error).message);
        }
        checkJson(parsed);
        parsedOnce = true;
      }
      return parsed;
    },
  };
  const out = await handler(apiReq);
  if (out.headers) for (const [k, v] of Object.entries(out.headers)) void reply.header(k, v);
  if (out.body === undefined) {
    await reply.code(out.status).send();
    return;
  }
  await reply.code(out.status).type('application/json').send(JSON.stringify(out.body));
}

function sendError(deps: ApiDeps, err: unknown, req: FastifyRequest, reply: FastifyReply) {
  const e = toMagnumError(err, deps.conf.oslo_middleware.max_request_body_size);
  // A client that left is its own doing, not a server failure.
  if (e.code === 'RequestAbandoned') req.log?.info?.({ requestId: req.id }, 'client closed the connection; the request was rolled back');
  else if (e.status >= 500) req.log?.error?.({ err, requestId: req.id }, 'request failed');
  if (e.status === 401) {
    if (deps.wwwAuthenticate) void reply.header('WWW-Authenticate', deps.wwwAuthenticate);
    return reply.code(401).type('application/json').send({
      error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' },
    });
  }
  return reply.code(e.status).type('application/json').send(renderError(e, String(req.id)));
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
