import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Handler, Route } from './app.ts';
import { FastReadRoutes } from './fast-reads.ts';

const h: Handler = async () => ({ status: 200 });
const route = (method: Route['method'], path: string, fast = false): Route => ({ method, path, handler: h, fast });

test('fast read routes: what is taken and what is left to Fastify', () => {
  const show = route('GET', '/v1/clusters/:ident', true);
  const list = route('GET', '/v1/clusters', true);
  const detail = route('GET', '/v1/clusters/detail', true);
  const t = new FastReadRoutes();
  for (const r of [list, detail, show, route('POST', '/v1/clusters'), route('GET', '/v1/clusters/stats'), route('PATCH', '/v1/clusters/:ident'), route('GET', '/v1/clusters/:ident/events')]) t.add(r);

  assert.deepEqual(t.match('/v1/clusters'), { route: list, params: {} });
  assert.deepEqual(t.match('/v1/clusters/detail'), { route: detail, params: {} });
  assert.deepEqual(t.match('/v1/clusters/0b7f3c1e-1f2a-4b5c-9d8e-7f6a5b4c3d2e'), { route: show, params: { ident: '0b7f3c1e-1f2a-4b5c-9d8e-7f6a5b4c3d2e' } });
  assert.deepEqual(t.match('/v1/clusters/My_cluster-1'), { route: show, params: { ident: 'My_cluster-1' } });
  // A static path of another route wins over the parameter, as in Fastify's router.
  assert.equal(t.match('/v1/clusters/stats'), undefined);
  for (const url of ['/v1/clusters?limit=1', '/v1/clusters/', '/v1/clusters/a.json', '/v1/clusters/a%20b', '/v1/clusters/a.b',
    '/v1/clusters/a/events', `/v1/clusters/${'x'.repeat(256)}`, '/clusters', '/v1/clusters//x', '/v1/clustertemplates']) {
    assert.equal(t.match(url), undefined, url);
  }
  assert.throws(() => t.add(route('GET', '/v1/clusters/:ident/nodegroups', true)), /only parameter is its last segment/);
});
