// The API's read cache (src/api/read-cache.ts) on PostgreSQL, with two API processes' worth of
// parts on one database: API A (with its conductor) and API B (its own storage, pool and
// listening connection). Every change, made through A, through the storage of another process or
// with plain SQL, is in B's very next answer; the cache is really used (hits counted); when B's
// listening connection is killed, B's answers stay right (the cache is off) and it listens again.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import { SqlStorage } from '../../src/db/sql/storage.ts';
import { InProcessTransport } from '../../src/rpc/in-process.ts';
import { buildApi, readCacheOf } from '../../src/cmd/wiring.ts';
import { cacheKey } from '../../src/api/read-cache.ts';
import { as, startStack, waitFor } from '../helpers/stack.ts';

const P = 'cache-project';
const h = as(P);
const admin = as(P, { roles: ['admin'] });

test('read cache: every change is in the next answer of another API process (postgres)', async (t) => {
  const s = await startStack('postgres', { kubernetes: { health_polling_interval: '86400' } });
  const storageB = SqlStorage.open(s.conf.database.connection, { poolSize: 3 });
  const transportB = new InProcessTransport();
  const appB = buildApi({ conf: s.conf, storage: storageB, transport: transportB, logger: pino({ level: 'silent' }), configDir: process.cwd() });
  await appB.ready();
  const sql = new pg.Client({ connectionString: s.conf.database.connection.replace(/^postgresql\+\w+:/, 'postgresql:') });
  await sql.connect();
  t.after(async () => {
    await sql.end();
    await appB.close();
    await transportB.close();
    await storageB.close();
    await s.close();
  });
  const cacheB = readCacheOf.get(appB)!;
  assert.ok(cacheB, 'API B has a read cache on PostgreSQL');
  await waitFor('B listening', async () => ((await appB.inject({ url: '/v1/clustertemplates', headers: h })).statusCode === 200 && cacheB.stats.misses > 0 ? true : undefined));

  const getB = async (url: string, headers = h) => {
    const r = await appB.inject({ url, headers });
    assert.equal(r.statusCode, 200, r.body);
    return r.json();
  };
  let r = await s.app.inject({ method: 'POST', url: '/v1/clustertemplates', headers: h, payload: { name: 'tpl', coe: 'swarm-mode', image_id: 'fake-image', labels: { a: '1' } } });
  assert.equal(r.statusCode, 201, r.body);
  const tpl = r.json().uuid as string;
  r = await s.app.inject({ method: 'POST', url: '/v1/clusters', headers: h, payload: { name: 'c1', cluster_template_id: tpl, node_count: 1 } });
  assert.equal(r.statusCode, 202, r.body);
  const uuid = r.json().uuid as string;
  // Created and health-polled once (the next poll is a day away): nothing changes it but the test.
  await waitFor('CREATE_COMPLETE and HEALTHY', async () => {
    const c = await getB(`/v1/clusters/${uuid}`);
    return c.status === 'CREATE_COMPLETE' && c.health_status === 'HEALTHY' ? true : undefined;
  }, 60_000);

  await t.test('a repeated read is answered from the cache, by uuid and by name', async () => {
    for (const url of [`/v1/clusters/${uuid}`, '/v1/clusters/c1', '/v1/clusters/detail', '/v1/clusters', '/v1/clustertemplates']) {
      const first = await getB(url);
      const hits = cacheB.stats.hits;
      assert.deepEqual(await getB(url), first);
      assert.equal(cacheB.stats.hits, hits + 1, `${url} came from the cache`);
    }
  });

  await t.test("changes through API A are in B's next answer (50 rounds, no pause)", async () => {
    for (let i = 0; i < 50; i++) {
      await getB(`/v1/clusters/${uuid}`);
      const health = i % 2 ? 'HEALTHY' : 'UNHEALTHY';
      const p = await s.app.inject({ method: 'PATCH', url: `/v1/clusters/${uuid}`, headers: admin, payload: [{ op: 'replace', path: '/health_status', value: health }] });
      assert.equal(p.statusCode, 202, p.body);
      assert.equal((await getB(`/v1/clusters/${uuid}`)).health_status, health);
      const detail = await getB('/v1/clusters/detail');
      assert.equal(detail.clusters.find((c: { uuid: string }) => c.uuid === uuid).health_status, health);
    }
  });

  await t.test("plain SQL changes of a cluster, its nodegroups and its template are in B's next answer", async () => {
    await getB(`/v1/clusters/${uuid}`);
    await getB('/v1/clusters/c1');
    await sql.query('UPDATE cluster SET status_reason = $1 WHERE uuid = $2', ['by hand', uuid]);
    assert.equal((await getB(`/v1/clusters/${uuid}`)).status_reason, 'by hand');
    assert.equal((await getB('/v1/clusters/c1')).status_reason, 'by hand');
    await sql.query(`UPDATE nodegroup SET node_addresses = '["198.51.100.7"]' WHERE cluster_id = $1 AND role = 'worker'`, [uuid]);
    assert.deepEqual((await getB(`/v1/clusters/${uuid}`)).node_addresses, ['198.51.100.7']);
    await getB('/v1/clustertemplates');
    await sql.query(`UPDATE cluster_template SET labels = '{"a": "2"}', name = 'tpl2' WHERE uuid = $1`, [tpl]);
    assert.deepEqual((await getB(`/v1/clusters/${uuid}`)).labels_overridden, { a: '2' });
    assert.equal((await getB('/v1/clustertemplates')).clustertemplates[0].name, 'tpl2');
    await sql.query('UPDATE cluster SET name = $1 WHERE uuid = $2', ['c1-renamed', uuid]);
    assert.equal((await appB.inject({ url: '/v1/clusters/c1', headers: h })).statusCode, 404);
  });

  await t.test('a cluster written by another process is in the lists at once; a deleted one is gone', async () => {
    const before = (await getB('/v1/clusters')).clusters.length;
    const other = SqlStorage.open(s.conf.database.connection, { poolSize: 1 });
    try {
      const u = crypto.randomUUID();
      await other.createClusterWithOperation(
        { uuid: u, name: 'direct', project_id: P, user_id: 'x', cluster_template_id: tpl, labels: {}, status: 'CREATE_COMPLETE', health_status_reason: {} },
        [], { uuid: crypto.randomUUID(), cluster_id: u, nodegroup_id: null, kind: 'cluster_create', params: {}, deadline_at: new Date(Date.now() + 60_000), request_id: null },
      );
      assert.equal((await getB('/v1/clusters')).clusters.length, before + 1);
      assert.equal((await getB(`/v1/clusters/${u}`)).name, 'direct');
      await sql.query('DELETE FROM operation WHERE cluster_id = $1', [u]);
      await sql.query('DELETE FROM cluster WHERE uuid = $1', [u]);
      assert.equal((await appB.inject({ url: `/v1/clusters/${u}`, headers: h })).statusCode, 404);
      assert.equal((await getB('/v1/clusters')).clusters.length, before);
    } finally {
      await other.close();
    }
  });

  await t.test("with B's listening connection killed, B's answers stay right and it listens again", async () => {
    await getB(`/v1/clusters/${uuid}`);
    const killed = await sql.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'magnum-change-feed'`);
    assert.equal(killed.rowCount, 2, "A's and B's listening sessions");
    // Both A's and B's listeners are gone (A's shares the database); changes meanwhile are seen.
    for (let i = 0; i < 5; i++) {
      await sql.query('UPDATE cluster SET status_reason = $1 WHERE uuid = $2', [`while deaf ${i}`, uuid]);
      assert.equal((await getB(`/v1/clusters/${uuid}`)).status_reason, `while deaf ${i}`);
    }
    // Listening again within a few seconds: hits again, and still right.
    await waitFor('B listening again', async () => {
      await getB(`/v1/clusters/${uuid}`);
      const hits = cacheB.stats.hits;
      await getB(`/v1/clusters/${uuid}`);
      return cacheB.stats.hits > hits ? true : undefined;
    }, 10_000);
    await sql.query('UPDATE cluster SET status_reason = $1 WHERE uuid = $2', ['listening again', uuid]);
    assert.equal((await getB(`/v1/clusters/${uuid}`)).status_reason, 'listening again');
  });

  await t.test('with [api] read_cache_sync = false: answered from the cache at once, a change seen once announced', async () => {
    const storageC = SqlStorage.open(s.conf.database.connection, { poolSize: 2 });
    const appC = buildApi({ conf: { ...s.conf, api: { ...s.conf.api, read_cache_sync: false } }, storage: storageC, transport: transportB, logger: pino({ level: 'silent' }), configDir: process.cwd() });
    try {
      await appC.ready();
      const cacheC = readCacheOf.get(appC)!;
      const showC = async () => (await appC.inject({ url: `/v1/clusters/${uuid}`, headers: h })).json();
      await waitFor('C listening', async () => {
        await showC();
        const hits = cacheC.stats.hits;
        await showC();
        return cacheC.stats.hits > hits ? true : undefined;
      }, 10_000);
      await sql.query('UPDATE cluster SET status_reason = $1 WHERE uuid = $2', ['no sync', uuid]);
      await waitFor('the change in C', async () => ((await showC()).status_reason === 'no sync' ? true : undefined), 2_000);
    } finally {
      await appC.close();
      await storageC.close();
    }
  });

  await t.test('another project sees nothing through the cache', async () => {
    await getB(`/v1/clusters/${uuid}`);
    assert.equal((await appB.inject({ url: `/v1/clusters/${uuid}`, headers: as('other-project') })).statusCode, 404);
    assert.equal((await getB('/v1/clusters', as('other-project'))).clusters.length, 0);
    const member2 = as(P, { user: 'someone-else' });
    assert.equal((await getB(`/v1/clusters/${uuid}`, member2)).uuid, uuid);
  });
});

test('read cache: different key parts always make different keys', () => {
  const parts: unknown[][] = [
    ['cluster', 'p:a', 'x'], ['cluster', 'p:a\u0000sx'], ['cluster', 'p:a\u0000', 'sx'], ['cluster', 'p:a', { name: 'x' }],
    ['cluster', 'p:a', '{"name":"x"}'], ['cluster', 'p:a', 'x\u0000'], ['cluster', 'p:a', 'jx'], ['cluster', 'p:ax'], ['clusterp:a', 'x'],
    ['cluster', 'p:a', 'x', ''], ['cluster', 'p:a', 'x', null], ['cluster', 'p:a', 'x', 'null'],
  ];
  const keys = parts.map(cacheKey);
  assert.equal(new Set(keys).size, parts.length, keys.map((k) => JSON.stringify(k)).join('\n'));
  assert.equal(cacheKey(['cluster', 'p:a', 'x']), cacheKey(['cluster', 'p:a', 'x']));
});
