// The web dashboard at /dashboard/ ([dashboard] enabled): static files built from src/dashboard/app
// (src/dashboard/build.ts), served without authentication since they hold no data; the dashboard
// reads and changes everything through the public /v1 API with the user's own identity.
//
// Under auth_strategy=keystone the browser logs in through two Keystone calls passed through
// here, same-origin, to [keystone_authtoken] auth_url, because Keystone sends no CORS headers by
// default: POST /dashboard/keystone/v3/auth/tokens (password, token or application-credential
// login; the body and the answer pass unchanged, X-Subject-Token included) and
// GET /dashboard/keystone/v3/auth/projects (the projects of the token in X-Auth-Token). Nothing
// else of Keystone is reachable this way, nothing is stored, and no body is logged.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Config } from '../conf/index.ts';
import { ensureDashboardBuilt } from '../dashboard/build.ts';

export const DASHBOARD_PREFIX = '/dashboard';

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.map': 'application/json',
};
const ASSET_NAME = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9]+)+$/;
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/**
 * True for the paths this plugin answers, which need no project scope (app.ts's onRequest hook).
 * A path with a dot segment, an encoded dot or an empty segment is never one: the router would
 * not resolve it to another route anyway, and so it meets authentication like any other.
 */
export function isDashboardPath(path: string): boolean {
  if (path === DASHBOARD_PREFIX) return true;
  return path.startsWith(`${DASHBOARD_PREFIX}/`) && !/(^|\/)\.\.?(\/|$)|%2e|\/\//i.test(path);
}

function keystoneV3(url: string): string {
  const trimmed = url.replace(/\/+$/, '');
  return /\/v3$/.test(trimmed) ? trimmed : `${trimmed}/v3`;
}

export function registerDashboard(app: FastifyInstance, conf: Config): void {
  const keystoneMode = conf.DEFAULT.auth_strategy === 'keystone';
  // Built once when the server gets ready; a failure is logged and every page answers 503 with it.
  let dir: string | null = null;
  let failure: string | null = null;
  app.addHook('onReady', async () => {
    try {
      dir = await ensureDashboardBuilt();
    } catch (err) {
      failure = (err as Error).message;
      app.log.error({ err }, 'the dashboard could not be built; /dashboard/ answers 503');
    }
  });

  const unavailable = (reply: FastifyReply) => reply.code(503).type('text/plain; charset=utf-8')
    .send(`The dashboard is unavailable: ${failure ?? 'it is still being built'}.\n`);

  const sendFile = async (reply: FastifyReply, name: string, cache: string) => {
    if (!dir) return unavailable(reply);
    const ext = name.slice(name.lastIndexOf('.'));
    let body: Buffer;
    try {
      body = await readFile(join(dir, name));
    } catch {
      return reply.code(404).type('text/plain; charset=utf-8').send('Not found.\n');
    }
    return reply.headers(SECURITY_HEADERS).header('cache-control', cache).type(CONTENT_TYPES[ext] ?? 'application/octet-stream').send(body);
  };

  // One route for both (the router ignores trailing slashes); the page's relative asset URLs
  // need the slash.
  app.get(`${DASHBOARD_PREFIX}/`, async (req, reply) => {
    if (!req.url.split('?')[0].endsWith('/')) return reply.redirect(`${DASHBOARD_PREFIX}/`, 302);
    return sendFile(reply, 'index.html', 'no-cache');
  });
  app.get(`${DASHBOARD_PREFIX}/assets/:name`, async (req, reply) => {
    const { name } = req.params as { name: string };
    if (!ASSET_NAME.test(name) || !(name.slice(name.lastIndexOf('.')) in CONTENT_TYPES)) return reply.code(404).type('text/plain; charset=utf-8').send('Not found.\n');
    // Asset names carry their content's hash.
    return sendFile(reply, join('assets', name), 'public, max-age=31536000, immutable');
  });
  app.get(`${DASHBOARD_PREFIX}/config.json`, async (_req, reply) => reply.header('cache-control', 'no-cache').send({
    auth_strategy: conf.DEFAULT.auth_strategy,
    ...(keystoneMode ? {} : { project_id: conf.noauth.default_project_id, user_id: conf.noauth.default_user_id, roles: conf.noauth.default_roles }),
  }));

  if (!keystoneMode) return;
  const base = keystoneV3(conf.keystone_authtoken.auth_url);
  const timeoutMs = conf.keystone_authtoken.http_connect_timeout * 1000;
  const pass = async (reply: FastifyReply, path: string, init: RequestInit) => {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, { ...init, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      app.log.warn({ err: (err as Error).message }, 'the dashboard\'s Keystone pass-through got no answer');
      return reply.code(503).type('application/json').send({ error: { code: 503, title: 'Service Unavailable', message: 'Keystone did not answer; try again later.' } });
    }
    const text = await res.text();
    const subject = res.headers.get('x-subject-token');
    if (subject) void reply.header('x-subject-token', subject);
    return reply.code(res.status).header('cache-control', 'no-store').type(res.headers.get('content-type') ?? 'application/json').send(text);
  };
  app.post(`${DASHBOARD_PREFIX}/keystone/v3/auth/tokens`, async (req, reply) => {
    const mediaType = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (mediaType !== 'application/json') {
      return reply.code(415).type('application/json').send({ error: { code: 415, title: 'Unsupported Media Type', message: 'A JSON body is expected.' } });
    }
    return pass(reply, '/auth/tokens?nocatalog', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: typeof req.body === 'string' ? req.body : '',
    });
  });
  app.get(`${DASHBOARD_PREFIX}/keystone/v3/auth/projects`, async (req, reply) => {
    const token = req.headers['x-auth-token'];
    if (typeof token !== 'string' || !token) {
      return reply.code(401).type('application/json').send({ error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } });
    }
    return pass(reply, '/auth/projects', { method: 'GET', headers: { 'x-auth-token': token, accept: 'application/json' } });
  });
}
