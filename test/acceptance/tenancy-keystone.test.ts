// Tenancy with real Keystone tokens (issue 8), against bin/magnum-all-in-one with
// auth_strategy=keystone on a port. Projects, users and role assignments are made in the
// machine's Keystone under unique names and removed at the end. Token kinds:
//   - project-scoped, of another project (member, and a user with only the reader role: Magnum 15's
//     default policies know no reader rule, so a reader acts as a member of its project);
//   - unscoped, and domain-scoped (a role on the domain): no project, so 403 on every route and
//     verb in Magnum's error format, admin included, and nothing changes;
//   - an admin's project-scoped token: Magnum's all-projects views;
//   - expired: a token of an application credential that expires a few seconds later (Keystone
//     caps the token's expiry at the credential's; the shared Keystone's [token] expiration stays);
//   - revoked (DELETE /v3/auth/tokens) after the API cached it: 401 on the next request with
//     [keystone_authtoken] check_revocations_for_cached = true (a second server), and, with the
//     option off (the default), accepted until token_cache_time (5 s here) has passed.
// The server's SQLite file is read by the test for fixtures and for the digest of every table
// after each request (recomputed when PRAGMA data_version says the server wrote).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import { loadConfig } from '../../src/conf/index.ts';
import { SqlStorage } from '../../src/db/sql/storage.ts';
import { need, servicesEnv } from '../helpers/env.ts';
import { freePort, spawnProcess, tempDir, type ManagedProcess } from '../helpers/processes.ts';
import {
  API_HEADERS, adminCases, assertClean, digest, fetchSender, makeProject, otherProjectCases, runCases, summary, uncovered,
  unscopedCases, v1Routes, type Caller, type Case, type ProjectWorld, type Send,
} from '../helpers/tenancy.ts';

const KEYSTONE = need('KEYSTONE_URL');
const env = servicesEnv();
const tag = `tenancy-${randomBytes(4).toString('hex')}`;

// ---- Keystone -------------------------------------------------------------------------------------

interface KsReply {
  status: number;
  body: any;
  subjectToken: string | null;
}

async function ks(method: string, path: string, token: string | null, body?: unknown, extra: Record<string, string> = {}): Promise<KsReply> {
  const res = await fetch(`${KEYSTONE}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { 'x-auth-token': token } : {}), ...extra },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, subjectToken: res.headers.get('x-subject-token') };
}

async function ksOk(method: string, path: string, token: string | null, body?: unknown, status = [200, 201, 204]): Promise<any> {
  const r = await ks(method, path, token, body);
  assert.ok(status.includes(r.status), `Keystone ${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

type Scope = { project: string } | { domain: string } | null;

async function issueToken(user: { id: string; password: string }, scope: Scope): Promise<{ token: string; body: any }> {
  const auth: Record<string, unknown> = { identity: { methods: ['password'], password: { user: { id: user.id, password: user.password } } } };
  if (scope && 'project' in scope) auth.scope = { project: { id: scope.project } };
  if (scope && 'domain' in scope) auth.scope = { domain: { id: scope.domain } };
  const r = await ks('POST', '/auth/tokens?nocatalog', null, { auth });
  assert.equal(r.status, 201, `token for ${user.id} ${JSON.stringify(scope)}: ${JSON.stringify(r.body)}`);
  return { token: r.subjectToken!, body: r.body.token };
}

let adminToken = '';
const made = { users: [] as string[], projects: [] as string[] };
const roles: Record<string, string> = {};

async function makeUser(name: string): Promise<{ id: string; password: string; name: string }> {
  const password = randomBytes(12).toString('hex');
  const body = await ksOk('POST', '/users', adminToken, { user: { name, password, domain_id: 'default', description: 'magnum-ts tenancy test (removed at the end)' } });
  made.users.push(body.user.id);
  return { id: body.user.id, password, name };
}

async function grant(user: string, role: string, target: { project: string } | { domain: string }): Promise<void> {
  const path = 'project' in target ? `/projects/${target.project}` : `/domains/${target.domain}`;
  await ksOk('PUT', `${path}/users/${user}/roles/${roles[role]}`, adminToken, undefined, [204]);
}

// ---- the servers ------------------------------------------------------------------------------------

async function startApi(name: string, keystoneAuthtoken: string[]): Promise<{ server: ManagedProcess; dir: string; db: string }> {
  const dir = tempDir(`magnum-${name}-`);
  const port = await freePort();
  const db = join(dir, 'magnum.sqlite');
  const conf = join(dir, 'magnum.conf');
  writeFileSync(conf, [
    '[DEFAULT]', 'auth_strategy = keystone', 'transport_url = inprocess://', `host = ${tag}-${name}`,
    '[api]', 'host = 127.0.0.1', `port = ${port}`,
    '[database]', `connection = sqlite:///${db}`,
    '[drivers]', 'test_drivers = fake',
    '[fake_driver]', 'step_delay_ms = 5',
    '[conductor]', 'sweep_interval = 1',
    '[kubernetes]', 'health_polling_interval = 86400',
    '[keystone_authtoken]', `auth_url = ${KEYSTONE}`, `www_authenticate_uri = ${KEYSTONE}`,
    `username = ${env.MAGNUM_SERVICE_USER ?? 'magnum'}`, `password = ${need('MAGNUM_SERVICE_PASSWORD')}`,
    `project_name = ${env.MAGNUM_SERVICE_PROJECT ?? 'service'}`, 'user_domain_name = Default', 'project_domain_name = Default',
    ...keystoneAuthtoken,
    '[oslo_policy]', `policy_file = ${join(dir, 'policy.yaml')}`,
    '',
  ].join('\n'));
  const server = await spawnProcess('bin/magnum-all-in-one', { args: ['--config-file', conf], port, logDir: dir, name: `magnum-${name}` });
  return { server, dir, db };
}

let api: ManagedProcess;
let strict: ManagedProcess;
let storage: SqlStorage;
let send: Send;
let p1: ProjectWorld;
let p2: ProjectWorld;
const who: Record<string, Caller> = {};
const users: Record<string, { id: string; password: string; name: string }> = {};
let projectIds: { p1: string; p2: string };

const asToken = (label: string, token: string): Caller => ({ label, headers: { ...API_HEADERS, 'x-auth-token': token } });

before(async () => {
  const login = await ks('POST', '/auth/tokens?nocatalog', null, { auth: {
    identity: { methods: ['password'], password: { user: { name: env.KEYSTONE_ADMIN_USER ?? 'admin', password: need('KEYSTONE_ADMIN_PASSWORD'), domain: { id: 'default' } } } },
    scope: { project: { name: env.KEYSTONE_ADMIN_PROJECT ?? 'admin', domain: { id: 'default' } } },
  } });
  assert.equal(login.status, 201, `Keystone admin login: ${JSON.stringify(login.body)}`);
  adminToken = login.subjectToken!;
  for (const role of ['member', 'reader', 'admin']) {
    const found = (await ksOk('GET', `/roles?name=${role}`, adminToken)).roles;
    assert.equal(found.length, 1, `Keystone role ${role}`);
    roles[role] = found[0].id;
  }
  const project = async (suffix: string) => {
    const body = await ksOk('POST', '/projects', adminToken, { project: { name: `${tag}-${suffix}`, domain_id: 'default', description: 'magnum-ts tenancy test (removed at the end)' } });
    made.projects.push(body.project.id);
    return body.project.id as string;
  };
  projectIds = { p1: await project('p1'), p2: await project('p2') };
  users.one = await makeUser(`${tag}-one`);
  users.two = await makeUser(`${tag}-two`);
  users.reader = await makeUser(`${tag}-reader`);
  users.admin = await makeUser(`${tag}-admin`);
  users.domain = await makeUser(`${tag}-domain`);
  await grant(users.one.id, 'member', { project: projectIds.p1 });
  await grant(users.two.id, 'member', { project: projectIds.p2 });
  await grant(users.reader.id, 'reader', { project: projectIds.p1 });
  await grant(users.reader.id, 'reader', { project: projectIds.p2 });
  await grant(users.admin.id, 'admin', { project: projectIds.p1 });
  await grant(users.admin.id, 'admin', { project: projectIds.p2 });
  await grant(users.admin.id, 'admin', { domain: 'default' });
  await grant(users.domain.id, 'member', { domain: 'default' });

  // The tables run on a server with the default revocation behaviour and a short cache (a token
  // is asked about again after 5 s); a second server re-validates cached tokens on every request.
  const a = await startApi('tenancy', ['token_cache_time = 5']);
  api = a.server;
  strict = (await startApi('tenancy-revocations', ['check_revocations_for_cached = true'])).server;
  storage = SqlStorage.open(`sqlite:///${a.db}`, { poolSize: 1 });
  send = fetchSender(api.url);

  const scoped = async (label: string, user: string, scope: Scope) => asToken(label, (await issueToken(users[user], scope)).token);
  who.one = await scoped('member of P1', 'one', { project: projectIds.p1 });
  who.two = await scoped('member of P2', 'two', { project: projectIds.p2 });
  who.readerP1 = await scoped('reader of P1', 'reader', { project: projectIds.p1 });
  who.readerP2 = await scoped('reader of P2', 'reader', { project: projectIds.p2 });
  who.adminP1 = await scoped('admin of P1', 'admin', { project: projectIds.p1 });
  who.adminP2 = await scoped('admin of P2', 'admin', { project: projectIds.p2 });
  who.unscoped = await scoped('unscoped token of a member', 'two', null);
  who.adminUnscoped = await scoped('unscoped token of an admin', 'admin', null);
  who.domain = await scoped('domain-scoped token of a member', 'domain', { domain: 'default' });
  who.adminDomain = await scoped('domain-scoped token of an admin', 'admin', { domain: 'default' });

  p1 = await makeProject({ send, storage, project: projectIds.p1, user: users.one.id, owner: who.one, admin: who.adminP1, publisher: who.adminP1 });
  p2 = await makeProject({ send, storage, project: projectIds.p2, user: users.two.id, owner: who.two, admin: who.adminP1 });
});

after(async () => {
  const problems: string[] = [];
  await storage?.close();
  for (const p of [api, strict]) {
    if (!p) continue;
    const exit = await p.stop();
    if (!(exit.code === 0 || exit.signal === 'SIGTERM')) problems.push(`${p.name} stopped with ${JSON.stringify(exit)}`);
  }
  for (const u of made.users) if (![204, 404].includes((await ks('DELETE', `/users/${u}`, adminToken)).status)) problems.push(`Keystone user ${u} left behind`);
  for (const p of made.projects) if (![204, 404].includes((await ks('DELETE', `/projects/${p}`, adminToken)).status)) problems.push(`Keystone project ${p} left behind`);
  assert.deepEqual(problems, []);
});

// ---- the tests -------------------------------------------------------------------------------------

test('the token kinds are what they claim to be', async () => {
  const info = async (c: Caller) => (await ks('GET', '/auth/tokens?nocatalog', adminToken, undefined, { 'x-subject-token': c.headers['x-auth-token'] })).body.token;
  assert.equal((await info(who.two)).project.id, projectIds.p2);
  assert.deepEqual((await info(who.readerP2)).roles.map((r: any) => r.name).sort(), ['reader']);
  assert.equal((await info(who.unscoped)).project, undefined);
  assert.equal((await info(who.unscoped)).domain, undefined);
  assert.equal((await info(who.domain)).domain.id, 'default');
  assert.equal((await info(who.adminDomain)).project, undefined);
  assert.ok((await info(who.adminDomain)).roles.some((r: any) => r.name === 'admin'));
});

const p2Cases = () => otherProjectCases(p1, p2, [p1.pub!]);
/** The server is another process: SQLite's data_version tells whether it wrote since the last look. */
const changeHint = async () => JSON.stringify((await sql`PRAGMA data_version`.execute(storage.conn.db)).rows);

for (const [key, note] of [['two', ''], ['readerP2', ' (Magnum 15 has no reader rule: a reader is a member)']] as const) {
  test(`a project-scoped token of another project sees and changes nothing: ${key === 'two' ? 'member' : 'reader'}${note}`, async (t) => {
    const started = Date.now();
    const r = await runCases(p2Cases(), { send, caller: who[key], storage, secrets: p1.secrets, changeHint });
    t.diagnostic(`${who[key].label}: ${summary(r)} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assertClean(r, who[key].label);
  });
}

test('a reader acts in its own project as Magnum 15 lets a member do', async () => {
  const list = await send('GET', '/v1/clusters', who.readerP1.headers);
  assert.equal(list.status, 200, list.text);
  assert.deepEqual(JSON.parse(list.text).clusters.map((c: any) => c.uuid), [p1.cluster.uuid]);
  const hint = await changeHint();
  const tpl = await send('POST', '/v1/clustertemplates', who.readerP1.headers, { name: `${tag}-by-reader`, coe: 'swarm-mode', image_id: 'fake-image' });
  assert.equal(tpl.status, 201, tpl.text);
  assert.equal(JSON.parse(tpl.text).project_id, projectIds.p1);
  // The tables below skip the full digest while data_version stays: it must see the server's writes.
  assert.notEqual(await changeHint(), hint, 'PRAGMA data_version did not change after the server wrote');
  const gone = await send('DELETE', `/v1/clustertemplates/${JSON.parse(tpl.text).uuid}`, who.readerP1.headers);
  assert.equal(gone.status, 204, gone.text);
});

test('every route under /v1 has cases, by name and by uuid', () => {
  assert.deepEqual(uncovered(v1Routes(loadConfig({ env: {}, overrides: {} })), p2Cases()), []);
});

for (const key of ['unscoped', 'domain', 'adminUnscoped', 'adminDomain'] as const) {
  test(`${key}: a token without a project gets 403 on every route and verb, and nothing changes`, async (t) => {
    const started = Date.now();
    const cases: Case[] = unscopedCases(p2Cases());
    // Verbs a route does not have: 403 (no project) or 405, never anything that acts.
    for (const url of ['/v1/clusters', `/v1/clusters/${p1.cluster.uuid}`, '/v1/quotas', '/v1/mservices', '/v1/stats']) {
      for (const method of ['PUT', 'POST', 'PATCH', 'DELETE']) {
        if (['/v1/clusters', '/v1/quotas'].includes(url) && method === 'POST') continue;
        if (url.endsWith(p1.cluster.uuid) && ['PATCH', 'DELETE'].includes(method)) continue;
        cases.push({ name: `${method} ${url}`, method, url, body: method === 'DELETE' ? undefined : {}, status: [403, 405] });
      }
    }
    const r = await runCases(cases, { send, caller: who[key], storage, secrets: [...p1.secrets, ...p2.secrets], changeHint });
    t.diagnostic(`${who[key].label}: ${summary(r)} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assertClean(r, who[key].label);
    for (const path of ['/', '/v1', '/healthcheck']) {
      const res = await send('GET', path, who[key].headers);
      assert.equal(res.status, 200, `${path}: ${res.text}`);
    }
  });
}

test('an admin\'s project-scoped token keeps Magnum\'s all-projects views', async (t) => {
  const r = await runCases(adminCases(p1), { send, caller: who.adminP2, storage, secrets: [], changeHint });
  t.diagnostic(`${who.adminP2.label}: ${summary(r)}`);
  assertClean(r, who.adminP2.label);
});

const unauthorized = (r: { status: number; text: string; headers: Record<string, string> }, what: string) => {
  assert.equal(r.status, 401, `${what}: ${r.status} ${r.text}`);
  assert.deepEqual(JSON.parse(r.text), { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } });
  assert.equal(r.headers['www-authenticate'], `Keystone uri="${KEYSTONE}"`);
};

test('an expired token is refused once its expiry has passed, cached or not', async (t) => {
  const member = await issueToken(users.two, { project: projectIds.p2 });
  // A credential that expires `seconds` from now, and a token of it; on a busy machine the token may
  // come too late to be used before its expiry: then again with a longer life.
  let caller: Caller | undefined;
  let tokenExpiry = new Date(0);
  for (const seconds of [10, 30, 90]) {
    const expiresAt = new Date(Date.now() + seconds * 1000);
    const created = await ksOk('POST', `/users/${users.two.id}/application_credentials`, member.token, {
      application_credential: { name: `${tag}-expiring-${seconds}`, expires_at: expiresAt.toISOString().replace(/\.\d+Z$/, '') },
    });
    const cred = created.application_credential as { id: string; secret: string };
    // Deleted through its own API: Keystone on SQLite removes a deleted user's credentials without
    // their role rows, and the next credential that reuses the internal id then fails with a 409.
    t.after(async () => {
      const r = await ks('DELETE', `/users/${users.two.id}/application_credentials/${cred.id}`, member.token);
      assert.equal(r.status, 204, `deleting the application credential: ${r.status} ${JSON.stringify(r.body)}`);
    });
    const auth = await ks('POST', '/auth/tokens?nocatalog', null, { auth: { identity: { methods: ['application_credential'], application_credential: { id: cred.id, secret: cred.secret } } } });
    assert.equal(auth.status, 201, JSON.stringify(auth.body));
    tokenExpiry = new Date(auth.body.token.expires_at);
    assert.ok(tokenExpiry.getTime() <= expiresAt.getTime() + 1000, `the token expires at ${auth.body.token.expires_at}, after its credential (${expiresAt.toISOString()})`);
    if (tokenExpiry.getTime() - Date.now() > 4_000) {
      caller = asToken('application credential token', auth.subjectToken!);
      break;
    }
  }
  assert.ok(caller, 'no token of an expiring credential could be used before its expiry');
  const ok = await send('GET', '/v1/clusters', caller.headers);
  assert.ok(Date.now() < tokenExpiry.getTime(), 'the request before expiry came after it');
  assert.equal(ok.status, 200, `before expiry: ${ok.text}`);
  assert.deepEqual(JSON.parse(ok.text).clusters.map((c: any) => c.uuid), [p2.cluster.uuid]);
  await new Promise((r) => setTimeout(r, Math.max(0, tokenExpiry.getTime() - Date.now()) + 1500));
  unauthorized(await send('GET', '/v1/clusters', caller.headers), 'after expiry');
  unauthorized(await send('GET', `/v1/clusters/${p2.cluster.uuid}`, caller.headers), 'after expiry, another route');
  t.diagnostic(`token expired at ${tokenExpiry.toISOString()}; 401 after it`);
});

async function revoke(token: string): Promise<void> {
  const r = await ks('DELETE', '/auth/tokens', adminToken, undefined, { 'x-subject-token': token });
  assert.equal(r.status, 204, `revoke: ${r.status} ${JSON.stringify(r.body)}`);
}

test('check_revocations_for_cached = true: a revoked token is refused on the next request although it was cached', async () => {
  const strictSend = fetchSender(strict.url);
  const caller = asToken('revoked token', (await issueToken(users.two, { project: projectIds.p2 })).token);
  for (let i = 0; i < 2; i++) assert.equal((await strictSend('GET', '/v1/clusters', caller.headers)).status, 200);
  await revoke(caller.headers['x-auth-token']);
  unauthorized(await strictSend('GET', '/v1/clusters', caller.headers), 'after revocation');
  unauthorized(await strictSend('POST', '/v1/clustertemplates', caller.headers, { name: 'after-revocation', coe: 'swarm-mode', image_id: 'fake-image' }), 'after revocation, a create');
});

test('check_revocations_for_cached off (default): a revoked token is accepted until token_cache_time (5 s) has passed', async (t) => {
  const caller = asToken('revoked token', (await issueToken(users.two, { project: projectIds.p2 })).token);
  const cachedAt = Date.now();
  const first = await send('GET', '/v1/clusters', caller.headers);
  assert.equal(first.status, 200, first.text);
  await revoke(caller.headers['x-auth-token']);
  const again = await send('GET', '/v1/clusters', caller.headers);
  const elapsed = Date.now() - cachedAt;
  assert.ok(elapsed < 4_000, `the check ran ${elapsed} ms after the token was cached: too late to prove the cache (5 s)`);
  assert.equal(again.status, 200, `revoked but cached: ${again.text}`);
  await new Promise((r) => setTimeout(r, Math.max(0, cachedAt + 5_000 - Date.now()) + 1000));
  const before = await digest(storage);
  unauthorized(await send('GET', '/v1/clusters', caller.headers), 'after token_cache_time');
  unauthorized(await send('DELETE', `/v1/clusters/${p2.cluster.uuid}`, caller.headers), 'after token_cache_time, a delete');
  assert.equal((await digest(storage)).hash, before.hash, 'a refused request changed the database');
  t.diagnostic(`accepted ${elapsed} ms after revocation (cached), refused after ${((Date.now() - cachedAt) / 1000).toFixed(1)} s`);
});
