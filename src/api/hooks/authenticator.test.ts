// noauth cases, then keystone cases against the real Keystone that scripts/setup-services.sh
// starts (var/services.env says where it is and holds the test users' passwords).

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig, type Config } from '../../conf/index.ts';
import { isMagnumError, type MagnumError } from '../../common/errors.ts';
import { KeystoneClient, type KeystoneApi, type TokenInfo } from '../../common/keystone.ts';
import { Policy } from '../../common/policy.ts';
import { createAuthenticator, wwwAuthenticateHeader } from './authenticator.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');

function config(sections: Record<string, Record<string, string>> = {}): Config {
  return loadConfig({ env: {}, overrides: { ...sections, DEFAULT: { host: 'test', ...sections.DEFAULT } } });
}

function isError(status: number, code: string, message?: string) {
  return (e: unknown) => {
    assert.ok(isMagnumError(e), `expected a MagnumError, got ${String(e)}`);
    assert.equal((e as MagnumError).status, status);
    assert.equal((e as MagnumError).code, code);
    if (message !== undefined) assert.equal((e as MagnumError).message, message);
    return true;
  };
}

describe('noauth', () => {
  const conf = config({ DEFAULT: { auth_strategy: 'noauth' } });
  const auth = createAuthenticator(conf);

  it('a request without identity headers gets the [noauth] defaults', async () => {
    const ctx = await auth.authenticate({ accept: 'application/json' }, 'req-1');
    assert.equal(ctx.requestId, 'req-1');
    assert.equal(ctx.userId, 'admin');
    assert.equal(ctx.projectId, 'admin');
    assert.deepEqual(ctx.roles, ['admin']);
    assert.equal(ctx.isAdmin, true);
    assert.equal(ctx.authToken, null);
  });

  it('the defaults come from [noauth]', async () => {
    const a = createAuthenticator(config({
      DEFAULT: { auth_strategy: 'noauth' },
      noauth: { default_project_id: 'demo', default_user_id: 'bob', default_roles: 'member,reader' },
    }));
    const ctx = await a.authenticate({}, 'req-2');
    assert.equal(ctx.userId, 'bob');
    assert.equal(ctx.projectId, 'demo');
    assert.deepEqual(ctx.roles, ['member', 'reader']);
    assert.equal(ctx.isAdmin, false);
  });

  it('identity headers are taken as keystonemiddleware would have set them', async () => {
    const ctx = await auth.authenticate({
      'x-user-id': 'u1',
      'x-user-name': 'alice',
      'x-project-id': 'p1',
      'x-project-name': 'proj',
      'x-user-domain-id': 'default',
      'x-user-domain-name': 'Default',
      'x-roles': 'member, Reader,,',
      'x-auth-token': 'tok-123',
    }, 'req-3');
    assert.deepEqual(
      { ...ctx },
      {
        requestId: 'req-3', authToken: 'tok-123', userId: 'u1', userName: 'alice', projectId: 'p1', projectName: 'proj',
        domainId: 'default', domainName: 'Default', roles: ['member', 'Reader'], isAdmin: false,
      },
    );
    assert.ok(Object.isFrozen(ctx));
  });

  it('role admin in any case makes an admin (oslo.policy compares roles case-insensitively)', async () => {
    const ctx = await auth.authenticate({ 'x-project-id': 'p1', 'x-roles': 'Admin' }, 'r');
    assert.equal(ctx.isAdmin, true);
  });

  it('X-Tenant-Id stands in for X-Project-Id; mixed-case names and repeated headers work', async () => {
    const ctx = await auth.authenticate({ 'X-Tenant-Id': 'p7', 'X-Tenant-Name': 'seven', 'X-Roles': ['member', 'reader'] }, 'r');
    assert.equal(ctx.projectId, 'p7');
    assert.equal(ctx.projectName, 'seven');
    assert.deepEqual(ctx.roles, ['member', 'reader']);
  });

  it('a request with some identity headers gets no default roles or project', async () => {
    const ctx = await auth.authenticate({ 'x-project-id': 'p1' }, 'r');
    assert.equal(ctx.projectId, 'p1');
    assert.equal(ctx.userId, null);
    assert.deepEqual(ctx.roles, []);
    assert.equal(ctx.isAdmin, false);
  });

  it('is_admin follows an overridden context_is_admin rule', async () => {
    const a = createAuthenticator(conf, { policy: Policy.fromRules({ context_is_admin: 'role:cloud_admin' }) });
    assert.equal((await a.authenticate({ 'x-roles': 'admin' }, 'r')).isAdmin, false);
    assert.equal((await a.authenticate({ 'x-roles': 'cloud_admin' }, 'r')).isAdmin, true);
  });

  it('the same identity headers again: the same identity, with this request\'s id and token', async () => {
    const a = createAuthenticator(conf);
    const headers = { 'x-user-id': 'u1', 'x-project-id': 'p1', 'x-roles': 'member' };
    const one = await a.authenticate({ ...headers, 'x-auth-token': 't1' }, 'req-a');
    const two = await a.authenticate({ ...headers, 'x-auth-token': 't2' }, 'req-b');
    assert.deepEqual({ ...one, requestId: '', authToken: '' }, { ...two, requestId: '', authToken: '' });
    assert.deepEqual([one.requestId, one.authToken, two.requestId, two.authToken], ['req-a', 't1', 'req-b', 't2']);
    // A header sent empty is not the header left out (both read as absent, but they are two keys).
    const empty = await a.authenticate({ ...headers, 'x-user-name': '' }, 'r');
    assert.equal(empty.userName, null);
    assert.equal(empty.userId, 'u1');
    // Other values: another identity, not the remembered one.
    assert.equal((await a.authenticate({ ...headers, 'x-roles': 'admin' }, 'r')).isAdmin, true);
    assert.equal((await a.authenticate(headers, 'r')).isAdmin, false);
  });

  it('bad identity values are refused every time, also once valid identities are remembered', async () => {
    const a = createAuthenticator(conf);
    // The remembered identities are keyed by the values joined with NUL.
    assert.equal((await a.authenticate({ 'x-user-id': 'a', 'x-user-name': 'b' }, 'r')).userId, 'a');
    for (let i = 0; i < 2; i++) {
      await assert.rejects(a.authenticate({ 'x-user-id': 'a\u0000=b' }, 'r'), /must not contain control characters/);
      await assert.rejects(a.authenticate({ 'x-user-id': 'x'.repeat(256) }, 'r'), /maximum character requirement of 255/);
    }
  });

  it('WWW-Authenticate names the configured Keystone', () => {
    assert.equal(wwwAuthenticateHeader(config({ keystone_authtoken: { www_authenticate_uri: 'http://ks.example:5000/v3' } })),
      'Keystone uri="http://ks.example:5000/v3"');
  });

  it('keystone mode without a service password is a start-up error', () => {
    assert.throws(() => createAuthenticator(config()), /\[keystone_authtoken\] password must be set/);
  });

  it('keystone mode with an auth_url that is not an http(s) URL is a start-up error', () => {
    const keystone = (authUrl: string) => config({ keystone_authtoken: { auth_url: authUrl, password: 'x' } });
    assert.throws(() => createAuthenticator(keystone('not a url')), /\[keystone_authtoken\] auth_url is not a URL: "not a url"/);
    assert.throws(() => createAuthenticator(keystone('ftp://ks.example/v3')), /auth_url must be http:\/\/ or https:\/\//);
    assert.doesNotThrow(() => createAuthenticator(keystone('https://ks.example:5000')));
  });
});

// ---- real Keystone ---------------------------------------------------------------------------

interface Env {
  KEYSTONE_URL: string;
  MAGNUM_SERVICE_PASSWORD: string;
  DEMO_PASSWORD: string;
  DEMO_PROJECT_ID: string;
  ALT_PASSWORD: string;
  KEYSTONE_ADMIN_PASSWORD: string;
}

function readServicesEnv(): Env {
  const file = join(ROOT, 'var/services.env');
  if (!existsSync(file)) throw new Error(`${file} is missing: run scripts/setup-services.sh keystone first`);
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^(?:export\s+)?([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]] = m[2].replace(/^(['"])(.*)\1$/, '$2');
  }
  for (const k of ['KEYSTONE_URL', 'MAGNUM_SERVICE_PASSWORD', 'DEMO_PASSWORD', 'DEMO_PROJECT_ID', 'ALT_PASSWORD', 'KEYSTONE_ADMIN_PASSWORD']) {
    if (!env[k]) throw new Error(`${file} has no ${k}: run scripts/setup-services.sh keystone`);
  }
  return env as unknown as Env;
}

async function waitForKeystone(url: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
      if (res.ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > end) throw new Error(`Keystone at ${url} does not answer: run scripts/setup-services.sh keystone`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function userToken(env: Env, user: string, password: string, project: string): Promise<string> {
  const res = await fetch(`${env.KEYSTONE_URL}/auth/tokens?nocatalog`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: user, domain: { name: 'Default' }, password } } },
        scope: { project: { name: project, domain: { name: 'Default' } } },
      },
    }),
  });
  assert.equal(res.status, 201, `login of ${user}`);
  await res.arrayBuffer();
  const token = res.headers.get('x-subject-token');
  assert.ok(token);
  return token;
}

/** Counts the validations that reach Keystone. */
function counting(inner: KeystoneApi): Pick<KeystoneApi, 'authUrl' | 'validateToken'> & { calls: number } {
  const wrapper = {
    authUrl: inner.authUrl,
    calls: 0,
    validateToken(token: string): Promise<TokenInfo> {
      wrapper.calls++;
      return inner.validateToken(token);
    },
  };
  return wrapper;
}

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('keystone (real Keystone)', () => {
  let env: Env;
  let conf: Config;
  let keystone: KeystoneClient;
  let demoToken: string;
  let adminToken: string;
  let altToken: string;
  const toClose: { close(): Promise<void> }[] = [];

  before(async () => {
    env = readServicesEnv();
    await waitForKeystone(env.KEYSTONE_URL, 60_000);
    conf = config({
      keystone_authtoken: {
        auth_url: env.KEYSTONE_URL,
        www_authenticate_uri: env.KEYSTONE_URL,
        password: env.MAGNUM_SERVICE_PASSWORD,
      },
    });
    keystone = KeystoneClient.fromConfig(conf);
    toClose.push(keystone);
    [demoToken, adminToken, altToken] = await Promise.all([
      userToken(env, 'demo', env.DEMO_PASSWORD, 'demo'),
      userToken(env, 'admin', env.KEYSTONE_ADMIN_PASSWORD, 'admin'),
      userToken(env, 'alt', env.ALT_PASSWORD, 'alt'),
    ]);
  });

  after(async () => {
    for (const c of toClose) await c.close();
  });

  it('a member token gives its user, project, domain and roles', async () => {
    const auth = createAuthenticator(conf, { keystone });
    const ctx = await auth.authenticate({ 'x-auth-token': demoToken }, 'req-k1');
    assert.equal(ctx.requestId, 'req-k1');
    assert.equal(ctx.authToken, demoToken);
    assert.equal(ctx.userName, 'demo');
    assert.match(ctx.userId ?? '', /^[0-9a-f]{32}$/);
    assert.equal(ctx.projectId, env.DEMO_PROJECT_ID);
    assert.equal(ctx.projectName, 'demo');
    assert.equal(ctx.domainId, 'default');
    assert.equal(ctx.domainName, 'Default');
    assert.ok(ctx.roles.includes('member'), ctx.roles.join());
    assert.equal(ctx.isAdmin, false);
  });

  it('an admin token gives isAdmin', async () => {
    const auth = createAuthenticator(conf, { keystone });
    const ctx = await auth.authenticate({ 'x-auth-token': adminToken }, 'r');
    assert.equal(ctx.userName, 'admin');
    assert.equal(ctx.projectName, 'admin');
    assert.ok(ctx.roles.includes('admin'));
    assert.equal(ctx.isAdmin, true);
  });

  it('identity headers sent by the client are ignored', async () => {
    const auth = createAuthenticator(conf, { keystone });
    const ctx = await auth.authenticate({
      'x-auth-token': demoToken, 'x-roles': 'admin', 'x-project-id': 'someone-else', 'x-user-id': 'root',
    }, 'r');
    assert.equal(ctx.isAdmin, false);
    assert.ok(!ctx.roles.includes('admin'));
    assert.equal(ctx.projectId, env.DEMO_PROJECT_ID);
    assert.notEqual(ctx.userId, 'root');
  });

  it('a missing, garbage or tampered token is 401', async () => {
    const auth = createAuthenticator(conf, { keystone });
    const unauthorized = isError(401, 'Unauthorized', 'The request you have made requires authentication.');
    await assert.rejects(auth.authenticate({}, 'r'), unauthorized);
    await assert.rejects(auth.authenticate({ 'x-auth-token': '' }, 'r'), unauthorized);
    await assert.rejects(auth.authenticate({ 'x-auth-token': 'garbage' }, 'r'), unauthorized);
    const tampered = demoToken.slice(0, -4) + (demoToken.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    await assert.rejects(auth.authenticate({ 'x-auth-token': tampered }, 'r'), unauthorized);
    await assert.rejects(auth.authenticate({ 'x-auth-token': 'bad token\r\nx-roles: admin' }, 'r'), unauthorized);
  });

  it('a cache hit does not ask Keystone again; a bad token is remembered too', async (t) => {
    const counter = counting(keystone);
    const auth = createAuthenticator(conf, { keystone: counter });
    const t0 = process.hrtime.bigint();
    const first = await auth.authenticate({ 'x-auth-token': altToken }, 'r1');
    const validationMs = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.equal(counter.calls, 1);
    const n = 10_000;
    const t1 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await auth.authenticate({ 'x-auth-token': altToken }, `r${i}`);
    const hitUs = Number(process.hrtime.bigint() - t1) / 1e3 / n;
    assert.equal(counter.calls, 1);
    const again = await auth.authenticate({ 'x-auth-token': altToken }, 'r-again');
    assert.equal(again.requestId, 'r-again');
    assert.equal(again.userId, first.userId);
    t.diagnostic(`Keystone validation ${validationMs.toFixed(1)} ms; cache hit ${hitUs.toFixed(2)} µs`);

    await assert.rejects(auth.authenticate({ 'x-auth-token': 'not-a-token' }, 'r'), isError(401, 'Unauthorized'));
    await assert.rejects(auth.authenticate({ 'x-auth-token': 'not-a-token' }, 'r'), isError(401, 'Unauthorized'));
    assert.equal(counter.calls, 2);
  });

  it('latency: a Keystone validation vs a cache hit (service token already held)', async (t) => {
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      const auth = createAuthenticator(conf, { keystone });
      const t0 = process.hrtime.bigint();
      await auth.authenticate({ 'x-auth-token': demoToken }, 'r');
      samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    samples.sort((a, b) => a - b);
    const auth = createAuthenticator(conf, { keystone });
    await auth.authenticate({ 'x-auth-token': demoToken }, 'r');
    const n = 10_000;
    const t1 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await auth.authenticate({ 'x-auth-token': demoToken }, 'r');
    const hitUs = Number(process.hrtime.bigint() - t1) / 1e3 / n;
    t.diagnostic(`Keystone validation median ${samples[2].toFixed(1)} ms (min ${samples[0].toFixed(1)}, max ${samples[4].toFixed(1)}); cache hit ${hitUs.toFixed(2)} µs`);
    assert.ok(hitUs * 1000 < samples[0] * 1e6 / 100, 'a cache hit is at least 100 times faster');
  });

  it('concurrent validations of one token share one Keystone request', async () => {
    const counter = counting(keystone);
    const auth = createAuthenticator(conf, { keystone: counter });
    const ctxs = await Promise.all(Array.from({ length: 20 }, (_, i) => auth.authenticate({ 'x-auth-token': demoToken }, `r${i}`)));
    assert.equal(counter.calls, 1);
    assert.deepEqual(new Set(ctxs.map((c) => c.projectId)), new Set([env.DEMO_PROJECT_ID]));
    assert.deepEqual(ctxs.map((c) => c.requestId), ctxs.map((_, i) => `r${i}`));
    const bad = await Promise.allSettled(Array.from({ length: 5 }, () => auth.authenticate({ 'x-auth-token': 'nope' }, 'r')));
    assert.ok(bad.every((b) => b.status === 'rejected'));
    assert.equal(counter.calls, 2);
  });

  it('an entry expires after token_cache_time', async () => {
    const counter = counting(keystone);
    const short = config({ keystone_authtoken: { auth_url: env.KEYSTONE_URL, password: 'unused', token_cache_time: '1' } });
    const auth = createAuthenticator(short, { keystone: counter });
    await auth.authenticate({ 'x-auth-token': demoToken }, 'r');
    await auth.authenticate({ 'x-auth-token': demoToken }, 'r');
    assert.equal(counter.calls, 1);
    await new Promise((r) => setTimeout(r, 1100));
    await auth.authenticate({ 'x-auth-token': demoToken }, 'r');
    assert.equal(counter.calls, 2);
    await auth.authenticate({ 'x-auth-token': demoToken }, 'r');
    assert.equal(counter.calls, 2);
  });

  it('a revoked token: accepted from the cache by default, refused at once with check_revocations_for_cached', async (t) => {
    const revoke = async (token: string) => {
      const res = await fetch(`${env.KEYSTONE_URL}/auth/tokens`, { method: 'DELETE', headers: { 'x-auth-token': token, 'x-subject-token': token } });
      assert.equal(res.status, 204, 'token revoked');
    };
    const unauthorized = isError(401, 'Unauthorized');
    // Default (as keystonemiddleware and Magnum): the cached validation stands until it expires.
    const byDefault = createAuthenticator(config({ keystone_authtoken: { auth_url: env.KEYSTONE_URL, password: 'unused' } }), { keystone });
    const t1 = await userToken(env, 'alt', env.ALT_PASSWORD, 'alt');
    await byDefault.authenticate({ 'x-auth-token': t1 }, 'r');
    await revoke(t1);
    const still = await byDefault.authenticate({ 'x-auth-token': t1 }, 'r');
    assert.equal(still.userName, 'alt', 'a revoked token is served from the cache by default');
    await assert.rejects(createAuthenticator(conf, { keystone }).authenticate({ 'x-auth-token': t1 }, 'r'), unauthorized, 'Keystone itself refuses it');

    const counter = counting(keystone);
    const checking = createAuthenticator(config({
      keystone_authtoken: { auth_url: env.KEYSTONE_URL, password: 'unused', check_revocations_for_cached: 'true' },
    }), { keystone: counter });
    const t2 = await userToken(env, 'alt', env.ALT_PASSWORD, 'alt');
    await checking.authenticate({ 'x-auth-token': t2 }, 'r');
    await checking.authenticate({ 'x-auth-token': t2 }, 'r');
    assert.equal(counter.calls, 2, 'every request asks Keystone');
    await revoke(t2);
    await assert.rejects(checking.authenticate({ 'x-auth-token': t2 }, 'r'), unauthorized);
    await assert.rejects(checking.authenticate({ 'x-auth-token': t2 }, 'r'), unauthorized);
    assert.equal(counter.calls, 3, 'a refusal is remembered');
    t.diagnostic('revoked token: accepted from the cache by default; refused on the next request with check_revocations_for_cached');
  });

  it('token_cache_time = 0 disables the cache', async () => {
    const counter = counting(keystone);
    const none = config({ keystone_authtoken: { auth_url: env.KEYSTONE_URL, password: 'unused', token_cache_time: '0' } });
    const auth = createAuthenticator(none, { keystone: counter });
    await auth.authenticate({ 'x-auth-token': demoToken }, 'r');
    await auth.authenticate({ 'x-auth-token': demoToken }, 'r');
    assert.equal(counter.calls, 2);
  });

  it('an entry never outlives the token: a token expiring now is not served from the cache', async () => {
    let expiresAt = new Date(Date.now() + 2000);
    const fake = {
      authUrl: env.KEYSTONE_URL,
      calls: 0,
      async validateToken(token: string): Promise<TokenInfo> {
        fake.calls++;
        const info = await keystone.validateToken(token);
        return { ...info, expiresAt };
      },
    };
    const auth = createAuthenticator(conf, { keystone: fake });
    await auth.authenticate({ 'x-auth-token': demoToken }, 'r');
    await auth.authenticate({ 'x-auth-token': demoToken }, 'r');
    assert.equal(fake.calls, 1);
    await new Promise((r) => setTimeout(r, 2050));
    expiresAt = new Date(Date.now() - 1000);
    await assert.rejects(auth.authenticate({ 'x-auth-token': demoToken }, 'r'), isError(401, 'Unauthorized'));
    assert.equal(fake.calls, 2);
  });

  it('the cache holds at most token_cache_size tokens (least recently used goes first)', async () => {
    const counter = counting(keystone);
    const small = config({ keystone_authtoken: { auth_url: env.KEYSTONE_URL, password: 'unused', token_cache_size: '2' } });
    const auth = createAuthenticator(small, { keystone: counter });
    const use = (tok: string) => auth.authenticate({ 'x-auth-token': tok }, 'r');
    await use(demoToken);
    await use(altToken);
    await use(demoToken); // demo is now the most recent
    assert.equal(counter.calls, 2);
    await use(adminToken); // evicts alt
    assert.equal(counter.calls, 3);
    await use(demoToken);
    assert.equal(counter.calls, 3);
    await use(altToken);
    assert.equal(counter.calls, 4);
  });

  it('unreachable Keystone (a closed port) is 503, not 401', async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}/v3`;
    const dead = new KeystoneClient({
      authUrl: url, username: 'magnum', password: 'x', projectName: 'service',
      userDomainName: 'Default', projectDomainName: 'Default', maxRetries: 2,
    });
    toClose.push(dead);
    const auth = createAuthenticator(conf, { keystone: dead });
    const t0 = Date.now();
    await assert.rejects(auth.authenticate({ 'x-auth-token': demoToken }, 'r'),
      isError(503, 'ServiceUnavailable', `Keystone at ${url} could not be reached to validate the token.`));
    // two retries, 100 ms and 200 ms apart
    assert.ok(Date.now() - t0 >= 300, `${Date.now() - t0} ms`);
    // Failures are not cached: the next request asks again.
    await assert.rejects(auth.authenticate({ 'x-auth-token': demoToken }, 'r'), isError(503, 'ServiceUnavailable'));
  });

  it('a Keystone that does not answer in time is 503 after the timeout', async () => {
    const silent: Server = createServer(() => {
      // never answers
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/v3`;
    const slow = new KeystoneClient({
      authUrl: url, username: 'magnum', password: 'x', projectName: 'service',
      userDomainName: 'Default', projectDomainName: 'Default', timeoutMs: 300,
    });
    try {
      const auth = createAuthenticator(conf, { keystone: slow });
      const t0 = Date.now();
      await assert.rejects(auth.authenticate({ 'x-auth-token': demoToken }, 'r'),
        isError(503, 'ServiceUnavailable', `Keystone at ${url} could not be reached to validate the token.`));
      const took = Date.now() - t0;
      assert.ok(took >= 250 && took < 3000, `${took} ms`);
    } finally {
      await slow.close();
      silent.closeAllConnections();
      await new Promise((r) => silent.close(r));
    }
  });

  it('a service user that cannot log in is 503, not 401', async () => {
    const wrong = KeystoneClient.fromConfig(config({ keystone_authtoken: { auth_url: env.KEYSTONE_URL, password: 'wrong-password' } }));
    toClose.push(wrong);
    const auth = createAuthenticator(conf, { keystone: wrong });
    await assert.rejects(auth.authenticate({ 'x-auth-token': demoToken }, 'r'), (e: unknown) => {
      isError(503, 'ServiceUnavailable', `Keystone at ${env.KEYSTONE_URL} failed to validate the token.`)(e);
      assert.match(String((e as Error).cause), /service user magnum cannot log in .*HTTP 401/);
      return true;
    });
  });

  it('the authenticator built from the config validates on its own client', async () => {
    const auth = createAuthenticator(conf);
    toClose.push(auth);
    const ctx = await auth.authenticate({ 'X-Auth-Token': demoToken }, 'r');
    assert.equal(ctx.projectId, env.DEMO_PROJECT_ID);
  });

  it('KeystoneClient: service token reused; validateToken with catalog; getProject', async () => {
    const info = await keystone.validateToken(adminToken, { includeCatalog: true });
    assert.equal(info.userName, 'admin');
    assert.ok(info.expiresAt.getTime() > Date.now());
    assert.ok(Array.isArray(info.catalog) && info.catalog.length > 0);
    const plain = await keystone.validateToken(adminToken);
    assert.equal(plain.catalog, undefined);
    const demo = await keystone.getProject(env.DEMO_PROJECT_ID);
    assert.equal(demo?.name, 'demo');
    assert.equal(demo?.id, env.DEMO_PROJECT_ID);
    assert.equal(demo?.domainId, 'default');
    assert.equal(await keystone.getProject('no-such-project'), null);
    assert.equal(await keystone.getProject('../../auth/tokens'), null);
  });

  it('KeystoneClient: a revoked service token is replaced by a new login', async () => {
    // A recording proxy in front of Keystone shows which service token the client sends.
    const seen: { method: string; path: string; token: string | undefined }[] = [];
    const proxy = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const token = req.headers['x-auth-token'];
      seen.push({ method: req.method ?? '', path: req.url ?? '', token: typeof token === 'string' ? token : undefined });
      const headers: Record<string, string> = {};
      for (const h of ['x-auth-token', 'x-subject-token', 'content-type']) {
        const v = req.headers[h];
        if (typeof v === 'string') headers[h] = v;
      }
      const upstream = await fetch(env.KEYSTONE_URL.replace(/\/v3$/, '') + req.url, {
        method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined,
      });
      const out: Record<string, string> = { 'content-type': upstream.headers.get('content-type') ?? 'application/json' };
      const subject = upstream.headers.get('x-subject-token');
      if (subject) out['x-subject-token'] = subject;
      res.writeHead(upstream.status, out).end(Buffer.from(await upstream.arrayBuffer()));
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/v3`;
    const client = KeystoneClient.fromConfig(config({ keystone_authtoken: { auth_url: url, password: env.MAGNUM_SERVICE_PASSWORD } }));
    try {
      await client.validateToken(demoToken);
      await client.validateToken(demoToken);
      const logins = () => seen.filter((s) => s.method === 'POST').length;
      assert.equal(logins(), 1, 'the service token is reused');
      const serviceToken = seen.find((s) => s.method === 'GET')?.token;
      assert.ok(serviceToken);
      const revoke = await fetch(`${env.KEYSTONE_URL}/auth/tokens`, {
        method: 'DELETE', headers: { 'x-auth-token': adminToken, 'x-subject-token': serviceToken },
      });
      assert.equal(revoke.status, 204);
      const info = await client.validateToken(demoToken);
      assert.equal(info.projectId, env.DEMO_PROJECT_ID);
      assert.equal(logins(), 2, 'one new login after the 401');
      const last = seen.at(-1);
      assert.ok(last?.token && last.token !== serviceToken);
    } finally {
      await client.close();
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    }
  });
});
