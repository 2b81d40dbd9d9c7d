// A small Keystone v3 client: a token for a password, an application credential or another
// token (POST /v3/auth/tokens), and the container-infra endpoint from the token's catalog.
import { ApiError, CommandError } from '../errors.ts';
import type { Http } from '../http.ts';
import type { AuthSettings } from './settings.ts';

export interface CatalogEndpoint {
  interface: string;
  region_id?: string | null;
  region?: string | null;
  url: string;
}

export interface CatalogEntry {
  type: string;
  name?: string;
  endpoints: CatalogEndpoint[];
}

export interface IssuedToken {
  token: string;
  expiresAt: string;
  catalog: CatalogEntry[];
  userId?: string;
  projectId?: string;
}

/** The identity v3 root of an auth URL (`http://ks:5000`, `http://ks:5000/`, `…/v3`). */
export function identityV3(authUrl: string): string {
  const u = authUrl.replace(/\/+$/, '');
  if (/\/v3$/.test(u)) return u;
  if (/\/v2\.0$/.test(u)) return u.replace(/\/v2\.0$/, '/v3');
  return `${u}/v3`;
}

function domainOf(name: string | undefined, id: string | undefined, fallbackName?: string, fallbackId?: string): Record<string, string> {
  if (id) return { id };
  if (name) return { name };
  if (fallbackId) return { id: fallbackId };
  if (fallbackName) return { name: fallbackName };
  return { id: 'default' };
}

function scopeOf(s: AuthSettings): Record<string, unknown> | undefined {
  if (s.projectId) return { project: { id: s.projectId } };
  if (s.projectName) return { project: { name: s.projectName, domain: domainOf(s.projectDomainName, s.projectDomainId, s.domainName, s.domainId) } };
  if (s.domainId) return { domain: { id: s.domainId } };
  if (s.domainName) return { domain: { name: s.domainName } };
  return undefined;
}

export function authRequestBody(s: AuthSettings): Record<string, unknown> {
  const user = () => (s.userId ? { id: s.userId } : { name: s.username, domain: domainOf(s.userDomainName, s.userDomainId, s.domainName, s.domainId) });
  let identity: Record<string, unknown>;
  let scope = scopeOf(s);
  switch (s.authType) {
    case 'password':
      identity = { methods: ['password'], password: { user: { ...user(), password: s.password } } };
      break;
    case 'application_credential': {
      const cred: Record<string, unknown> = { secret: s.applicationCredentialSecret };
      if (s.applicationCredentialId) cred.id = s.applicationCredentialId;
      else Object.assign(cred, { name: s.applicationCredentialName, user: user() });
      identity = { methods: ['application_credential'], application_credential: cred };
      scope = undefined; // an application credential carries its own project
      break;
    }
    case 'token':
      identity = { methods: ['token'], token: { id: s.token } };
      break;
    default:
      throw new CommandError(`auth type ${s.authType} does not talk to Keystone`);
  }
  return { auth: scope ? { identity, scope } : { identity } };
}

/** Errors as Keystone words them: {"error": {"code", "title", "message"}}. */
export function keystoneError(status: number, text: string, requestId: string | null): ApiError {
  let title = '';
  let message = '';
  try {
    const body = JSON.parse(text);
    title = body?.error?.title ?? '';
    message = body?.error?.message ?? '';
  } catch {
    message = text.trim().slice(0, 200);
  }
  return new ApiError(status, title, message ? `Keystone: ${message}` : `Keystone: ${title || `HTTP ${status}`}`, requestId);
}

export async function issueToken(http: Http, s: AuthSettings): Promise<IssuedToken> {
  const url = `${identityV3(s.authUrl!)}/auth/tokens`;
  const res = await http.send('POST', url, {
    headers: { 'content-type': 'application/json', accept: 'application/json', 'user-agent': 'coe' },
    body: JSON.stringify(authRequestBody(s)),
  });
  if (res.status !== 201 && res.status !== 200) throw keystoneError(res.status, res.text, res.headers.get('x-openstack-request-id'));
  const token = res.headers.get('x-subject-token');
  let body: any;
  try {
    body = JSON.parse(res.text);
  } catch {
    throw new CommandError(`Keystone at ${url} answered ${res.status} without a JSON body`);
  }
  if (!token) throw new CommandError(`Keystone at ${url} answered without X-Subject-Token`);
  return {
    token,
    expiresAt: body.token?.expires_at,
    catalog: body.token?.catalog ?? [],
    userId: body.token?.user?.id,
    projectId: body.token?.project?.id,
  };
}

/** The container-infra endpoint (legacy type `container` as a fallback), by interface and region. */
export function catalogEndpoint(catalog: readonly CatalogEntry[], opts: { interface: string; regionName?: string }): string {
  for (const type of ['container-infra', 'container']) {
    for (const svc of catalog.filter((c) => c.type === type)) {
      const ep = svc.endpoints.find((e) => e.interface === opts.interface
        && (!opts.regionName || e.region_id === opts.regionName || e.region === opts.regionName));
      if (ep) return ep.url;
    }
  }
  const where = `interface ${opts.interface}${opts.regionName ? `, region ${opts.regionName}` : ''}`;
  throw new CommandError(catalog.length
    ? `No container-infra endpoint in the service catalog (${where}); use --os-endpoint to give it`
    : 'The token has no service catalog (is it scoped to a project?); use --os-project-name or --os-endpoint');
}
