// How magnum-api serves the dashboard (src/api/dashboard.ts), without a browser: built at start,
// static files with a strict CSP and no authentication, nothing else exempt from it, the Keystone
// pass-through only under auth_strategy=keystone, nothing at all when [dashboard] enabled is off.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startStack, type TestStack } from '../helpers/stack.ts';

describe('the dashboard\'s routes', () => {
  let on: TestStack;
  let off: TestStack;
  before(async () => {
    on = await startStack('sqlite', { dashboard: { enabled: 'true' } });
    off = await startStack('sqlite', { dashboard: { enabled: 'false' } });
  });
  after(async () => {
    await on?.close();
    await off?.close();
  });

  test('index and assets are served without identity, with a strict CSP; no path escapes the build', async () => {
    const redirect = await on.app.inject({ method: 'GET', url: '/dashboard' });
    assert.equal(redirect.statusCode, 302);
    assert.equal(redirect.headers.location, '/dashboard/');
    const index = await on.app.inject({ method: 'GET', url: '/dashboard/' });
    assert.equal(index.statusCode, 200);
    assert.match(String(index.headers['content-type']), /^text\/html/);
    assert.match(String(index.headers['content-security-policy']), /default-src 'none'; script-src 'self'/);
    const script = /src="(assets\/main-[\w-]+\.js)"/.exec(index.body)?.[1];
    const style = /href="(assets\/main-[\w-]+\.css)"/.exec(index.body)?.[1];
    assert.ok(script && style, index.body);
    const js = await on.app.inject({ method: 'GET', url: `/dashboard/${script}` });
    assert.equal(js.statusCode, 200);
    assert.match(String(js.headers['cache-control']), /immutable/);
    assert.equal((await on.app.inject({ method: 'GET', url: `/dashboard/${style}` })).statusCode, 200);
    for (const url of ['/dashboard/assets/..%2f..%2f..%2fpackage.json', '/dashboard/assets/main.ts', '/dashboard/assets/nope.js', '/dashboard/assets/.', '/dashboard/%2e%2e/%2e%2e/package.json']) {
      assert.equal((await on.app.inject({ method: 'GET', url })).statusCode, 404, url);
    }
    // A dot-dot segment the router resolves itself stays inside /dashboard/ (here: the index).
    const up = await on.app.inject({ method: 'GET', url: '/dashboard/assets/%2e%2e' });
    assert.ok(up.statusCode === 404 || up.body === index.body, up.body.slice(0, 200));
    const conf = await on.app.inject({ method: 'GET', url: '/dashboard/config.json' });
    assert.deepEqual(conf.json(), { auth_strategy: 'noauth', project_id: 'admin', user_id: 'admin', roles: ['admin'] });
  });

  test('only /dashboard/ paths skip authentication; the Keystone pass-through exists only under keystone', async () => {
    // Not a dashboard path: rewritten under /v1 as any other, so it meets the API's rules.
    const other = await on.app.inject({ method: 'GET', url: '/dashboardx', headers: { 'x-roles': 'member', 'x-project-id': 'p' } });
    assert.equal(other.statusCode, 404);
    assert.ok(other.json().errors, other.body);
    for (const [method, url] of [['POST', '/dashboard/keystone/v3/auth/tokens'], ['GET', '/dashboard/keystone/v3/auth/projects'], ['GET', '/dashboard/keystone/v3/users'], ['DELETE', '/dashboard/']] as const) {
      const r = await on.app.inject({ method, url, headers: { 'content-type': 'application/json' }, payload: method === 'POST' ? '{}' : undefined });
      assert.equal(r.statusCode, 404, `${method} ${url}: ${r.body}`);
    }
  });

  test('with [dashboard] enabled = false there is no dashboard: the path is an API path like any other', async () => {
    const r = await off.app.inject({ method: 'GET', url: '/dashboard/', headers: { 'x-roles': 'member', 'x-project-id': 'p' } });
    assert.equal(r.statusCode, 404);
    assert.ok(r.json().errors, r.body);
    assert.equal((await off.app.inject({ method: 'GET', url: '/dashboard/config.json' })).statusCode, 404);
  });
});
