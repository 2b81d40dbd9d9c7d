// The dashboard's only way to the data: the public /v1 API of the server that served it, with the
// user's identity (a Keystone token, or nothing under noauth), and Keystone's login through the
// server's same-origin pass-through (/dashboard/keystone/v3/...).

export interface Session {
  mode: 'noauth' | 'keystone';
  token: string | null;
  userId: string;
  userName: string;
  projectId: string;
  projectName: string;
  roles: string[];
  expiresAt: string | null;
  /** An application credential's token is bound to its project: no project switching. */
  applicationCredential: boolean;
}

export class ApiError extends Error {
  readonly status: number;
  /** The request field the message names (Magnum's "Invalid input for field/attribute X"). */
  readonly field: string | null;
  /** The path inside a manifest the message names ("Invalid manifest: spec.ports[0].port: ..."). */
  readonly manifestPath: string | null;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
    this.field = /Invalid input for field\/attribute ([\w.]+)\./.exec(message)?.[1] ?? null;
    this.manifestPath = /^Invalid manifest: ([\w.[\]-]+): /.exec(message)?.[1] ?? null;
  }
}

let session: Session | null = null;
const listeners = new Set<() => void>();

export function currentSession(): Session | null {
  return session;
}

export function setSession(s: Session | null): void {
  session = s;
  // The token lives for the tab only: sessionStorage, never localStorage or a cookie.
  if (s?.mode === 'keystone') sessionStorage.setItem('magnum.session', JSON.stringify(s));
  else sessionStorage.removeItem('magnum.session');
  for (const l of listeners) l();
}

export function onSessionChange(l: () => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

export function restoredSession(): Session | null {
  try {
    const raw = sessionStorage.getItem('magnum.session');
    if (!raw) return null;
    const s = JSON.parse(raw) as Session;
    if (s.expiresAt && Date.parse(s.expiresAt) <= Date.now()) return null;
    return s;
  } catch {
    return null;
  }
}

export function isAdmin(): boolean {
  return (session?.roles ?? []).some((r) => r.toLowerCase() === 'admin');
}

/** Magnum's message from an error body (errors[0].detail), or Keystone's (error.message). */
function messageOf(status: number, text: string): string {
  try {
    const body = JSON.parse(text) as { errors?: { detail?: string; title?: string }[]; error?: { message?: string; title?: string } };
    const e = body.errors?.[0];
    if (e && (e.detail || e.title)) return e.detail || e.title || '';
    if (body.error?.message) return body.error.message;
  } catch {
    // not JSON
  }
  return text.trim() || `HTTP ${status}`;
}

export async function api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', 'openstack-api-version': 'container-infra latest' };
  if (session?.token) headers['x-auth-token'] = session.token;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, `The API did not answer: ${(err as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) {
    if (res.status === 401 && session?.mode === 'keystone') {
      setSession(null);
      throw new ApiError(401, 'Your token is no longer valid: log in again.');
    }
    throw new ApiError(res.status, messageOf(res.status, text));
  }
  return (text ? JSON.parse(text) : null) as T;
}

export interface Page<T> {
  items: T[];
  /** The marker of the next page, from the API's `next` link; null on the last page. */
  next: string | null;
}

/** One page of a collection, as the API pages it (limit and marker; `next` when there is more). */
export async function page<T>(path: string, key: string, limit: number, marker: string | null, extra: Record<string, string> = {}): Promise<Page<T>> {
  const q = new URLSearchParams({ limit: String(limit), ...extra });
  if (marker) q.set('marker', marker);
  const body = await api<Record<string, unknown>>('GET', `${path}?${q}`);
  const items = (body[key] ?? []) as T[];
  const next = typeof body.next === 'string' ? new URL(body.next, location.href).searchParams.get('marker') : null;
  return { items, next };
}

// ---- Keystone ---------------------------------------------------------------------------------

const KEYSTONE = '/dashboard/keystone/v3';

interface TokenBody {
  token: {
    expires_at: string;
    user: { id: string; name: string };
    project?: { id: string; name: string };
    roles?: { name: string }[];
    application_credential?: unknown;
  };
}

async function keystoneToken(auth: unknown): Promise<Session> {
  let res: Response;
  try {
    res = await fetch(`${KEYSTONE}/auth/tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ auth }) });
  } catch (err) {
    throw new ApiError(0, `Keystone did not answer: ${(err as Error).message}`);
  }
  const text = await res.text();
  if (res.status !== 201) throw new ApiError(res.status, messageOf(res.status, text));
  const token = res.headers.get('x-subject-token');
  const t = (JSON.parse(text) as TokenBody).token;
  if (!token) throw new ApiError(502, 'Keystone gave no token.');
  if (!t.project) throw new ApiError(403, 'This token has no project: name a project you are a member of.');
  return {
    mode: 'keystone', token, userId: t.user.id, userName: t.user.name, projectId: t.project.id, projectName: t.project.name,
    roles: (t.roles ?? []).map((r) => r.name), expiresAt: t.expires_at, applicationCredential: Boolean(t.application_credential),
  };
}

export interface PasswordLogin { user: string; password: string; domain: string; project: string }

export function passwordLogin(l: PasswordLogin): Promise<Session> {
  const domain = l.domain.trim() || 'Default';
  return keystoneToken({
    identity: { methods: ['password'], password: { user: { name: l.user, domain: { name: domain }, password: l.password } } },
    scope: { project: { name: l.project, domain: { name: domain } } },
  });
}

export function applicationCredentialLogin(id: string, secret: string): Promise<Session> {
  return keystoneToken({ identity: { methods: ['application_credential'], application_credential: { id, secret } } });
}

/** A token of the same user scoped to another of their projects. */
export function switchProject(projectId: string): Promise<Session> {
  return keystoneToken({ identity: { methods: ['token'], token: { id: session?.token ?? '' } }, scope: { project: { id: projectId } } });
}

export async function myProjects(): Promise<{ id: string; name: string }[]> {
  const res = await fetch(`${KEYSTONE}/auth/projects`, { headers: { 'x-auth-token': session?.token ?? '' } });
  const text = await res.text();
  if (!res.ok) throw new ApiError(res.status, messageOf(res.status, text));
  return ((JSON.parse(text) as { projects: { id: string; name: string }[] }).projects ?? []).sort((a, b) => a.name.localeCompare(b.name));
}
