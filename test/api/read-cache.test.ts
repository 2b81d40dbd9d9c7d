// The API's read cache (src/api/read-cache.ts) on PostgreSQL, with two API processes' worth of
// parts on one database: API A (with its conductor) and API B (its own storage, pool and
// listening connection), with the default [api] read_cache_sync_window (1 ms). Every change made
// through A is in B's very next answer; one made through the storage of another process or with
// plain SQL is in B's next answer once the window has passed (with a window of 0, at once); the
// cache is really used (hits counted); when B's listening connection is killed, B's answers stay
// right (the cache is off) and it listens again. Then the change feed's round trips: shared
// within the window, never by a call that came later, and every change committed before the
// window is received before sync() resolves.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import type { InjectOptions } from 'fastify';
import { pino } from 'pino';
import { SqlStorage } from '../../src/db/sql/storage.ts';
import { InProcessTransport } from '../../src/rpc/in-process.ts';
import { buildApi, readCacheOf } from '../../src/cmd/wiring.ts';
import { cacheKey, holdFor, type ReadCache } from '../../src/api/read-cache.ts';
import { PgChangeFeed } from '../../src/db/sql/change-feed.ts';
import { createTempDatabase } from '../helpers/databases.ts';
import { as, startStack, waitFor } from '../helpers/stack.ts';

const P = 'cache-project';
const h = as(P);
const admin = as(P, { roles: ['admin'] });
/** Past the default [api] read_cache_sync_window: what a change made outside the API may take to be seen. */
const pastWindow = () => holdFor(3);

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

  /**
   * Another API process's parts (its own storage and listening connection) on the same database,
   * with these [api] options, once its cache is used (a repeated show is a hit); closed after `fn`.
   */
  const withOtherApi = async (api: Partial<typeof s.conf.api>, fn: (o: { app: typeof appB; cache: ReadCache; show: () => Promise<any> }) => Promise<void>) => {
    const storage = SqlStorage.open(s.conf.database.connection, { poolSize: 2 });
    const app = buildApi({ conf: { ...s.conf, api: { ...s.conf.api, ...api } }, storage, transport: transportB, logger: pino({ level: 'silent' }), configDir: process.cwd() });
    try {
      await app.ready();
      const cache = readCacheOf.get(app)!;
      const show = async () => (await app.inject({ url: `/v1/clusters/${uuid}`, headers: h })).json();
      await waitFor('listening', async () => {
        await show();
        const hits = cache.stats.hits;
        await show();
        return cache.stats.hits > hits ? true : undefined;
      }, 10_000);
      await fn({ app, cache, show });
    } finally {
      await app.close();
      await storage.close();
    }
  };

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

  await t.test("plain SQL changes of a cluster, its nodegroups and its template are in B's next answer once the window has passed", async () => {
    await getB(`/v1/clusters/${uuid}`);
    await getB('/v1/clusters/c1');
    await sql.query('UPDATE cluster SET status_reason = $1 WHERE uuid = $2', ['by hand', uuid]);
    await pastWindow();
    assert.equal((await getB(`/v1/clusters/${uuid}`)).status_reason, 'by hand');
    assert.equal((await getB('/v1/clusters/c1')).status_reason, 'by hand');
    await sql.query(`UPDATE nodegroup SET node_addresses = '["198.51.100.7"]' WHERE cluster_id = $1 AND role = 'worker'`, [uuid]);
    await pastWindow();
    assert.deepEqual((await getB(`/v1/clusters/${uuid}`)).node_addresses, ['198.51.100.7']);
    await getB('/v1/clustertemplates');
    await sql.query(`UPDATE cluster_template SET labels = '{"a": "2"}', name = 'tpl2' WHERE uuid = $1`, [tpl]);
    await pastWindow();
    assert.deepEqual((await getB(`/v1/clusters/${uuid}`)).labels_overridden, { a: '2' });
    assert.equal((await getB('/v1/clustertemplates')).clustertemplates[0].name, 'tpl2');
    await sql.query('UPDATE cluster SET name = $1 WHERE uuid = $2', ['c1-renamed', uuid]);
    await pastWindow();
    assert.equal((await appB.inject({ url: '/v1/clusters/c1', headers: h })).statusCode, 404);
  });

  await t.test('a cluster written by another process is in the lists once the window has passed; a deleted one is gone', async () => {
    const before = (await getB('/v1/clusters')).clusters.length;
    const other = SqlStorage.open(s.conf.database.connection, { poolSize: 1 });
    try {
      const u = crypto.randomUUID();
      await other.createClusterWithOperation(
        { uuid: u, name: 'direct', project_id: P, user_id: 'x', cluster_template_id: tpl, labels: {}, status: 'CREATE_COMPLETE', health_status_reason: {} },
        [], { uuid: crypto.randomUUID(), cluster_id: u, nodegroup_id: null, kind: 'cluster_create', params: {}, deadline_at: new Date(Date.now() + 60_000), request_id: null },
      );
      await pastWindow();
      assert.equal((await getB('/v1/clusters')).clusters.length, before + 1);
      assert.equal((await getB(`/v1/clusters/${u}`)).name, 'direct');
      await sql.query('DELETE FROM operation WHERE cluster_id = $1', [u]);
      await sql.query('DELETE FROM cluster WHERE uuid = $1', [u]);
      await pastWindow();
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
      await pastWindow();
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
    await pastWindow();
    assert.equal((await getB(`/v1/clusters/${uuid}`)).status_reason, 'listening again');
  });

  await t.test('with [api] read_cache_sync = false: answered from the cache at once, a change seen once announced', async () => {
    await withOtherApi({ read_cache_sync: false }, async ({ show }) => {
      await sql.query('UPDATE cluster SET status_reason = $1 WHERE uuid = $2', ['no sync', uuid]);
      await waitFor('the change in C', async () => ((await show()).status_reason === 'no sync' ? true : undefined), 2_000);
    });
  });

  await t.test('with [api] read_cache_sync_window = 0: plain SQL changes are in the very next answer (20 rounds)', async () => {
    await withOtherApi({ read_cache_sync_window: 0 }, async ({ cache, show }) => {
      for (let i = 0; i < 20; i++) {
        await sql.query('UPDATE cluster SET status_reason = $1 WHERE uuid = $2', [`strict ${i}`, uuid]);
        assert.equal((await show()).status_reason, `strict ${i}`);
        assert.equal((await show()).status_reason, `strict ${i}`);
      }
      assert.ok(cache.stats.hits >= 20, `hits: ${cache.stats.hits}`);
    });
  });

  await t.test('the answer to a request that committed a change is held for the window after the commit; others are not', async () => {
    // A window long enough to measure against the time a PATCH takes here.
    const windowMs = 300;
    await withOtherApi({ read_cache_sync_window: windowMs }, async ({ app }) => {
      const timed = async (opts: InjectOptions) => {
        const t0 = performance.now();
        const r = await app.inject(opts);
        return { r, ms: performance.now() - t0 };
      };
      const patch = await timed({ method: 'PATCH', url: `/v1/clusters/${uuid}`, headers: admin, payload: [{ op: 'replace', path: '/health_status', value: 'UNKNOWN' }] });
      assert.equal(patch.r.statusCode, 202, patch.r.body);
      assert.ok(patch.ms >= windowMs, `PATCH answered after ${patch.ms} ms`);
      // A refusal before any write, and a GET, commit nothing: not held.
      const bad = await timed({ method: 'PATCH', url: `/v1/clusters/${uuid}`, headers: admin, payload: [{ op: 'replace', path: '/no_such_field', value: 1 }] });
      assert.equal(bad.r.statusCode, 400, bad.r.body);
      assert.ok(bad.ms < windowMs, `refused PATCH answered after ${bad.ms} ms`);
      const get = await timed({ url: `/v1/clusters/${uuid}`, headers: h });
      assert.equal(get.r.statusCode, 200);
      assert.equal(get.r.json().health_status, 'UNKNOWN');
      assert.ok(get.ms < windowMs, `GET answered after ${get.ms} ms`);
    });
  });

  await t.test('change feed: calls within the window share a round trip, later calls never do, changes before the window are in', async () => {
    const target = s.conf.database.connection.replace(/^postgresql\+\w+:/, 'postgresql:');
    const windowMs = 200;
    const feed = new PgChangeFeed(target, { windowMs });
    const strict = new PgChangeFeed(target, { windowMs: 0 });
    const seen: (string | null)[] = [];
    feed.onChange((k) => seen.push(k));
    try {
      await waitFor('listening', async () => (feed.live && strict.live ? true : undefined), 10_000);
      // Within the window: one round trip for all (the first), whether on the wire or answered.
      const t0 = performance.now();
      const before = feed.roundTrips;
      assert.equal(await feed.sync(), true);
      await Promise.all(Array.from({ length: 10 }, () => feed.sync()));
      for (let i = 0; i < 10; i++) assert.equal(await feed.sync(), true);
      if (performance.now() - t0 < windowMs) assert.equal(feed.roundTrips - before, 1);
      // Past the window: a new one, and a change committed before it is received before sync() resolves.
      await holdFor(windowMs);
      await sql.query(`SELECT pg_notify('magnum_changes', 'c:feed-test')`);
      await holdFor(windowMs);
      const trips = feed.roundTrips;
      const p = feed.sync();
      assert.equal(feed.roundTrips, trips + 1);
      assert.equal(await p, true);
      assert.ok(seen.includes('c:feed-test'), `received: ${JSON.stringify(seen)}`);
      // A window of 0: every call that comes after a round trip was sent waits for a new one.
      const s0 = strict.roundTrips;
      for (let i = 0; i < 10; i++) assert.equal(await strict.sync(), true);
      assert.equal(strict.roundTrips - s0, 10);
      const together = await Promise.all(Array.from({ length: 5 }, () => strict.sync()));
      assert.deepEqual(together, [true, true, true, true, true]);
      assert.ok(strict.roundTrips - s0 <= 12, `round trips: ${strict.roundTrips - s0}`);
    } finally {
      await feed.close();
      await strict.close();
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

test('holdFor: never resolves before the time asked for, by the monotonic clock', async () => {
  for (const ms of [0.3, 1, 1.5, 2, 5]) {
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      await holdFor(ms);
      const took = performance.now() - t0;
      assert.ok(took >= ms, `holdFor(${ms}) resolved after ${took} ms`);
    }
  }
});
