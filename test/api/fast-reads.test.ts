// The fast path (src/api/fast-reads.ts, serveFast in src/api/app.ts) against Fastify's path, over
// real sockets (inject never reaches the server's listener): two API servers on one database, one
// with [api] fast_reads = true and one with false, asked the same things in turn. Every answer's
// status, headers (names as written, values but the date and request id) and body (the request
// id taken out) must be the same, and the fast server's Fastify hooks must have seen exactly the
// requests the fast path does not take. On every database (PostgreSQL: through the read cache).
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { pino } from 'pino';
import { buildApi, readCacheOf } from '../../src/cmd/wiring.ts';
import { InProcessTransport } from '../../src/rpc/in-process.ts';
import { databaseKinds } from '../helpers/databases.ts';
import { as, startStack, waitFor } from '../helpers/stack.ts';

interface Answer { status: number; headers: string[]; body: string }

/** One request on a fresh connection; the answer with its request id and date taken out. */
function get(port: number, path: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // The same Host to both servers: links are made from it.
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', headers: { host: 'magnum.test:9511', ...headers }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        const id = String(res.headers['x-openstack-request-id'] ?? '');
        const pairs: string[] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          const [name, value] = [res.rawHeaders[i], res.rawHeaders[i + 1]];
          const lower = name.toLowerCase();
          pairs.push(`${name}: ${lower === 'date' ? '<date>' : lower === 'x-openstack-request-id' ? (/^req-[0-9a-f-]{36}$/.test(value) ? '<id>' : value) : value}`);
        }
        resolve({ status: res.statusCode!, headers: pairs.sort(), body: id ? body.split(id).join('<id>') : body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

function fetchKeptAlive(agent: Agent, port: number, path: string, headers: Record<string, string>, sockets: Set<unknown>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent }, (res) => {
      sockets.add(res.socket);
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

for (const kind of databaseKinds()) {
  test(`fast reads: the same answers as through Fastify (${kind})`, async (t) => {
    const s = await startStack(kind, { kubernetes: { health_polling_interval: '86400' } });
    // Two more API servers on the stack's database (its own serves the set-up through inject).
    const transport = new InProcessTransport();
    const api = (fastReads: boolean) => buildApi({ conf: { ...s.conf, api: { ...s.conf.api, fast_reads: fastReads } }, storage: s.storage, transport, logger: pino({ level: 'silent' }), configDir: process.cwd() });
    const fastApp = api(true);
    const slow = api(false);
    // Requests that reach the fast server's Fastify hooks (the ones the fast path left to it).
    const seen: string[] = [];
    fastApp.addHook('onRequest', async (req) => {
      seen.push(req.url);
    });
    await fastApp.listen({ host: '127.0.0.1', port: 0 });
    await slow.listen({ host: '127.0.0.1', port: 0 });
    t.after(async () => {
      await fastApp.close();
      await slow.close();
      await transport.close();
      await s.close();
    });
    const fastPort = (fastApp.server.address() as AddressInfo).port;
    const slowPort = (slow.server.address() as AddressInfo).port;

    const member = as('fast-p1');
    const other = as('fast-p2');
    const admin = as('fast-p1', { roles: ['admin'] });
    const post = async (url: string, payload: unknown, status: number) => {
      const r = await s.app.inject({ method: 'POST', url, headers: member, payload: payload as object });
      assert.equal(r.statusCode, status, r.body);
      return r.json();
    };
    const tpl = (await post('/v1/clustertemplates', { name: 'fast-tpl', coe: 'swarm-mode', image_id: 'fake-image', labels: { a: '1' } }, 201)).uuid as string;
    const uuid = (await post('/v1/clusters', { name: 'fast-c1', cluster_template_id: tpl, node_count: 1 }, 202)).uuid as string;
    await waitFor('CREATE_COMPLETE', async () => ((await s.app.inject({ url: `/v1/clusters/${uuid}`, headers: member })).json().status === 'CREATE_COMPLETE' ? true : undefined), 60_000);
    seen.length = 0;

    const noProject = { 'x-user-id': 'u', 'x-roles': 'member', 'openstack-api-version': 'container-infra latest' };
    // [path, headers, taken by the fast path]
    const cases: [string, Record<string, string>, boolean][] = [
      ['/v1/clustertemplates', member, true],
      ['/v1/clustertemplates', member, true],
      ['/v1/clustertemplates/detail', member, true],
      ['/v1/clustertemplates', admin, true],
      ['/v1/clustertemplates', other, true],
      ['/v1/clusters', member, true],
      ['/v1/clusters/detail', member, true],
      ['/v1/clusters/detail', admin, true],
      [`/v1/clusters/${uuid}`, member, true],
      [`/v1/clusters/${uuid}`, member, true],
      [`/v1/clusters/${uuid.toUpperCase()}`, member, true],
      ['/v1/clusters/fast-c1', member, true],
      [`/v1/clusters/${uuid}`, as('fast-p1', { mv: '1.1' }), true],
      [`/v1/clusters/${uuid}`, as('fast-p1', { mv: '1.999' }), true],
      [`/v1/clusters/${uuid}`, as('fast-p1', { mv: 'not-a-version' }), true],
      [`/v1/clusters/${uuid}`, { ...member, 'openstack-api-version': 'compute 2.1' }, true],
      [`/v1/clusters/${uuid}`, other, true],
      [`/v1/clusters/${uuid}`, noProject, true],
      ['/v1/clusters', noProject, true],
      ['/v1/clusters/no-such-cluster', member, true],
      ['/v1/clusters/00000000-0000-0000-0000-000000000000', member, true],
      ['/v1/clusters/a_b-c', member, true],
      // Left to Fastify: a query, a trailing slash, a `.json`, an escape, a dot, a static path, another route.
      ['/v1/clusters?limit=1', member, false],
      ['/v1/clusters/', member, false],
      [`/v1/clusters/${uuid}.json`, member, false],
      ['/v1/clusters/fast%2Dc1', member, false],
      ['/v1/clusters/fast.c1', member, false],
      ['/v1/clustertemplates/fast-tpl', member, false],
      [`/v1/clusters/${uuid}/nodegroups`, member, false],
      ['/clusters', member, false],
      [`/v1/clusters/${'x'.repeat(300)}`, member, false],
    ];
    for (const [path, headers, fast] of cases) {
      seen.length = 0;
      const f = await get(fastPort, path, headers);
      const sl = await get(slowPort, path, headers);
      assert.deepEqual(f, sl, `GET ${path} (${headers['x-roles'] ?? ''} ${headers['openstack-api-version'] ?? ''})`);
      assert.deepEqual(seen.length === 0, fast, `GET ${path}: ${fast ? 'served by the fast path' : 'left to Fastify'}`);
    }
    // The answers are what the routes give, not two equal mistakes.
    const show = await get(fastPort, `/v1/clusters/${uuid}`, member);
    assert.equal(show.status, 200);
    assert.equal(JSON.parse(show.body).uuid, uuid);
    assert.ok(show.headers.includes('content-type: application/json; charset=utf-8'), show.headers.join('\n'));
    assert.equal((await get(fastPort, `/v1/clusters/${uuid}`, other)).status, 404);
    assert.equal((await get(fastPort, `/v1/clusters/${uuid}`, as('fast-p1', { mv: '1.999' }))).status, 406);

    // Several requests on one kept-alive connection, answered in turn (on PostgreSQL from the cache).
    const cache = readCacheOf.get(fastApp);
    assert.equal(cache !== undefined, kind === 'postgres');
    let hits = 0;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    seen.length = 0;
    for (let i = 0; i < 5; i++) {
      const r = await fetchKeptAlive(agent, fastPort, `/v1/clusters/${uuid}`, member, sockets);
      assert.equal(r.status, 200);
      assert.equal(JSON.parse(r.body).uuid, uuid);
      // The first one, with another Host than above (links are made from it), is read and kept.
      if (i === 0) hits = cache?.stats.hits ?? 0;
    }
    agent.destroy();
    assert.equal(sockets.size, 1, 'one connection');
    assert.deepEqual(seen, []);
    if (cache) assert.equal(cache.stats.hits, hits + 4);
  });
}
