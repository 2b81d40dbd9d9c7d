// Keystone users, projects and role assignments for a test, made as the machine Keystone's admin
// under unique names, and all removed by cleanup().
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { need, servicesEnv } from './env.ts';

export interface KeystoneUser { id: string; name: string; password: string }

export class KeystoneAdmin {
  readonly url = need('KEYSTONE_URL');
  #token = '';
  readonly #made: { users: string[]; projects: string[] } = { users: [], projects: [] };
  readonly #roles = new Map<string, string>();

  async request(method: string, path: string, body?: unknown, token: string | null = this.#token): Promise<{ status: number; body: any; subjectToken: string | null }> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { 'x-auth-token': token } : {}) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, subjectToken: res.headers.get('x-subject-token') };
  }

  async #ok(method: string, path: string, body?: unknown): Promise<any> {
    const r = await this.request(method, path, body);
    assert.ok(r.status >= 200 && r.status < 300, `Keystone ${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  async login(): Promise<void> {
    const env = servicesEnv();
    const r = await this.request('POST', '/auth/tokens?nocatalog', { auth: {
      identity: { methods: ['password'], password: { user: { name: env.KEYSTONE_ADMIN_USER ?? 'admin', password: need('KEYSTONE_ADMIN_PASSWORD'), domain: { id: 'default' } } } },
      scope: { project: { name: env.KEYSTONE_ADMIN_PROJECT ?? 'admin', domain: { id: 'default' } } },
    } }, null);
    assert.equal(r.status, 201, `Keystone admin login: ${JSON.stringify(r.body)}`);
    this.#token = r.subjectToken!;
  }

  async project(name: string): Promise<{ id: string; name: string }> {
    const body = await this.#ok('POST', '/projects', { project: { name, domain_id: 'default', description: 'magnum-ts test (removed at the end)' } });
    this.#made.projects.push(body.project.id);
    return { id: body.project.id, name };
  }

  async user(name: string): Promise<KeystoneUser> {
    const password = randomBytes(12).toString('hex');
    const body = await this.#ok('POST', '/users', { user: { name, password, domain_id: 'default', description: 'magnum-ts test (removed at the end)' } });
    this.#made.users.push(body.user.id);
    return { id: body.user.id, name, password };
  }

  async grant(user: KeystoneUser, role: string, projectId: string): Promise<void> {
    if (!this.#roles.has(role)) {
      const found = (await this.#ok('GET', `/roles?name=${role}`)).roles;
      assert.equal(found.length, 1, `Keystone role ${role}`);
      this.#roles.set(role, found[0].id);
    }
    const r = await this.request('PUT', `/projects/${projectId}/users/${user.id}/roles/${this.#roles.get(role)}`);
    assert.equal(r.status, 204, `grant ${role}: ${JSON.stringify(r.body)}`);
  }

  /** A project-scoped token of the user (for API calls a test makes beside the browser). */
  async token(user: KeystoneUser, projectId: string): Promise<string> {
    const r = await this.request('POST', '/auth/tokens?nocatalog', { auth: {
      identity: { methods: ['password'], password: { user: { id: user.id, password: user.password } } },
      scope: { project: { id: projectId } },
    } }, null);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.subjectToken!;
  }

  /** Removes every user and project made; returns what could not be removed. */
  async cleanup(): Promise<string[]> {
    const left: string[] = [];
    if (!this.#token) return left;
    for (const u of this.#made.users) {
      // Application credentials one by one first: deleting the user removes them without their
      // role rows on Keystone's SQLite (no foreign keys), and the next credential made anywhere
      // then reuses the internal id and fails with 409 "Duplicate entry".
      const creds = await this.request('GET', `/users/${u}/application_credentials`);
      for (const c of creds.body?.application_credentials ?? []) {
        if (![204, 404].includes((await this.request('DELETE', `/users/${u}/application_credentials/${c.id}`)).status)) left.push(`Keystone application credential ${c.id}`);
      }
      if (![204, 404].includes((await this.request('DELETE', `/users/${u}`)).status)) left.push(`Keystone user ${u}`);
    }
    for (const p of this.#made.projects) if (![204, 404].includes((await this.request('DELETE', `/projects/${p}`)).status)) left.push(`Keystone project ${p}`);
    return left;
  }
}
