// Schema migrations on every database: up from empty, down step by step to 001 with data in
// every table (Magnum's tables and their rows survive, ours go), back up, down to base and up
// again, and an idempotent migrate().
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { SqlStorage, UniqueViolation } from '../../src/db/sql/storage.ts';
import { HEAD, migrations } from '../../src/db/sql/migrations/index.ts';
import { toRow } from '../../src/db/sql/rows.ts';
import { createTempDatabase, databaseKinds, type TempDatabase } from '../helpers/databases.ts';

/** The tables each migration adds. A new migration must be added here (the first test says so). */
const ADDS: Record<string, string[]> = {
  '001_initial': ['cluster', 'cluster_template', 'federation', 'magnum_service', 'nodegroup', 'quotas', 'x509keypair'],
  '002_operations': ['cluster_event', 'operation'],
  '003_ledger': ['cluster_resource'],
  '004_containers': ['container'],
  '005_services': ['cluster_workload'],
  '006_subnets': ['cluster_subnet'],
  '007_image_loads': ['image_load'],
  '008_change_notify': [],
  '009_cluster_counts': ['project_cluster_count'],
};
const NAMES = Object.keys(ADDS);
const MIGRATOR_TABLES = ['magnum_migration', 'magnum_migration_lock'];
/** Every table once the migrations up to and including `version` ran. */
const tablesAt = (version: string | null): string[] =>
  [...NAMES.slice(0, version === null ? 0 : NAMES.indexOf(version) + 1).flatMap((n) => ADDS[n]), ...MIGRATOR_TABLES].sort();

async function tables(s: SqlStorage): Promise<string[]> {
  return (await s.conn.db.introspection.getTables()).map((t) => t.name).sort();
}

async function count(s: SqlStorage, table: string): Promise<number> {
  const r = await s.conn.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
}

describe('migrations', { concurrency: true }, () => {
  for (const kind of databaseKinds()) {
    describe(kind, { concurrency: 1 }, () => {
      let db: TempDatabase;
      let s: SqlStorage;
      const tmpl = randomUUID();
      const cl = randomUUID();
      const ngMaster = randomUUID();
      const ngWorker = randomUUID();
      const op = randomUUID();
      const x509 = randomUUID();
      const fed = randomUUID();
      const deadline = new Date('2031-01-02T03:04:05.678Z');

      before(async () => {
        db = await createTempDatabase(kind);
        s = SqlStorage.open(db.url, { poolSize: 4 });
      });
      after(async () => {
        await s?.close();
        await db?.drop();
      });

      test('an empty database has no version; migrate() applies every migration in order', async () => {
        assert.deepEqual(Object.keys(migrations(s.conn.dialect)), NAMES, 'a new migration: add what it creates to ADDS');
        assert.equal(HEAD, NAMES[NAMES.length - 1]);
        assert.equal(await s.version(), null);
        assert.deepEqual(await tables(s), []);
        assert.deepEqual(await s.migrate(), NAMES);
        assert.equal(await s.version(), HEAD);
        assert.deepEqual(await tables(s), tablesAt(HEAD));
      });

      test('migrate() is idempotent, also from a second connection', async () => {
        assert.deepEqual(await s.migrate(), []);
        const other = SqlStorage.open(db.url, { poolSize: 1 });
        try {
          assert.deepEqual(await other.migrate(), []);
          assert.equal(await other.version(), HEAD);
        } finally {
          await other.close();
        }
        assert.equal(await s.version(), HEAD);
      });

      test('representative data goes into every table', async () => {
        await s.createClusterTemplate({ uuid: tmpl, project_id: 'p1', name: 'k8s', coe: 'kubernetes', public: true, labels: { kube_tag: 'v1.27', 'ü': '🚀' } });
        await s.createClusterWithOperation(
          { uuid: cl, project_id: 'p1', name: 'c1', cluster_template_id: tmpl, status: 'CREATE_IN_PROGRESS', labels: { a: 'b' } },
          [
            { uuid: ngMaster, name: 'default-master', cluster_id: cl, project_id: 'p1', role: 'master', node_count: 1, min_node_count: 1, is_default: true },
            { uuid: ngWorker, name: 'default-worker', cluster_id: cl, project_id: 'p1', role: 'worker', node_count: 3, min_node_count: 0, is_default: true, node_addresses: ['10.0.0.5'] },
          ],
          { uuid: op, cluster_id: cl, nodegroup_id: null, kind: 'cluster_create', params: { step: 1 }, deadline_at: deadline, request_id: 'req-1' },
        );
        await s.createQuota({ project_id: 'p1', resource: 'Cluster', hard_limit: 7 });
        await s.reportServiceUp('host-a', 'magnum-conductor');
        await s.createX509KeyPair({ uuid: x509, certificate: 'CERT', private_key: 'KEY', project_id: 'p1', user_id: 'u1' });
        await s.appendEvent({ cluster_id: cl, operation_id: op, step: 'cluster_create', outcome: 'started', message: 'hello' });
        await s.intendResource(cl, 'network', 'net-1', { cidr: '10.0.0.0/24' });
        await s.markResource(cl, 'network', 'net-1', 'present', 'ext-net-1');
        assert.equal(await s.claimClusterSubnet(cl, '10.213.7.0/24'), '10.213.7.0/24');
        await s.startImageLoad({ uuid: randomUUID(), cluster_id: cl, file: 'busybox.tar', owner: 'c1', lease_expires_at: new Date(), deadline_at: new Date() });
        await s.createContainer({ uuid: randomUUID(), cluster_id: cl, project_id: 'p1', image: 'busybox', command: ['sh', '-c', 'echo ü'], cpu: 0.25, environment: { A: 'b' }, ports: ['80'] });
        await s.workloads.create({ uuid: randomUUID(), kind: 'service', name: 'web', project_id: 'p1', user_id: 'u1', cluster_id: cl, coe: 'swarm-mode', manifest: { image: 'busybox', 'ü': '🚀' } });
        // No storage method writes federations: insert one directly.
        await s.conn.db.insertInto('federation')
          .values(toRow(s.conn, 'federation', { uuid: fed, project_id: 'p1', name: 'f', member_ids: [cl], properties: { dns: 'x' }, created_at: new Date() }))
          .execute();
        assert.deepEqual(await s.tableCounts(), {
          cluster_template: 1, cluster: 1, nodegroup: 2, quotas: 1, operation: 1, cluster_event: 1, cluster_resource: 1, x509keypair: 1, federation: 1,
        });
        assert.equal(await count(s, 'magnum_service'), 1);
        for (const t of tablesAt(HEAD)) if (!MIGRATOR_TABLES.includes(t)) assert.ok(await count(s, t) > 0, `${t} has a row`);
      });

      async function magnumDataIntact(): Promise<void> {
        const t = await s.getClusterTemplateByUuid(tmpl);
        assert.equal(t?.name, 'k8s');
        assert.equal(t?.public, true);
        assert.deepEqual(t?.labels, { kube_tag: 'v1.27', 'ü': '🚀' });
        const c = await s.getClusterByUuid(cl);
        assert.equal(c?.name, 'c1');
        assert.equal(c?.cluster_template_id, tmpl);
        assert.deepEqual(c?.labels, { a: 'b' });
        const ngs = await s.listNodeGroupsOf([cl]);
        assert.deepEqual(ngs.map((n) => [n.uuid, n.node_count, n.is_default]), [[ngMaster, 1, true], [ngWorker, 3, true]]);
        assert.deepEqual(ngs[1].node_addresses, ['10.0.0.5']);
        assert.equal((await s.getQuota('p1', 'Cluster'))?.hard_limit, 7);
        const svc = await s.listServices();
        assert.deepEqual(svc.map((x) => [x.host, x.binary, x.report_count]), [['host-a', 'magnum-conductor', 1]]);
        assert.equal((await s.getX509KeyPair(x509))?.private_key, 'KEY');
        assert.equal(await count(s, 'federation'), 1);
      }

      test('down one step at a time to 001: Magnum tables and data intact, each step drops only its own tables', async () => {
        for (let i = NAMES.length - 1; i >= 1; i--) {
          await s.migrateDown(1);
          assert.equal(await s.version(), NAMES[i - 1]);
          assert.deepEqual(await tables(s), tablesAt(NAMES[i - 1]), `down from ${NAMES[i]}`);
          await magnumDataIntact();
          if (i - 1 >= 1) {
            // 002's tables (and their rows) survive the removal of 003.
            assert.equal(await count(s, 'operation'), 1);
            assert.deepEqual((await s.listEvents(cl, { limit: 10 })).map((e) => e.message), ['hello']);
          }
        }
        assert.equal(await s.version(), '001_initial');
        for (const t of ['operation', 'cluster_event', 'cluster_resource']) assert.ok(!(await tables(s)).includes(t), t);
      });

      test('up again: data still there, the new tables are empty and usable', async () => {
        assert.deepEqual(await s.migrate(), NAMES.slice(1));
        assert.equal(await s.version(), HEAD);
        await magnumDataIntact();
        // 009 counted the cluster that was there (its count row is the quota check's).
        assert.deepEqual(await s.clusterQuotaUsage('p1'), { hardLimit: 7, count: 1 });
        for (const t of ['operation', 'cluster_event', 'cluster_resource']) assert.equal(await count(s, t), 0, t);
        // The pre-existing cluster takes operations, events and ledger entries again.
        const op2 = randomUUID();
        assert.equal(await s.startOperation({
          clusterUuid: cl, allowed: ['CREATE_IN_PROGRESS'], clusterStatus: 'DELETE_IN_PROGRESS',
          operation: { uuid: op2, cluster_id: cl, nodegroup_id: null, kind: 'cluster_delete', params: {}, deadline_at: deadline, request_id: null },
        }), true);
        assert.equal(await s.claimOperation(op2, 'c-1', new Date(Date.now() + 60_000), new Date()), true);
        await s.appendEvent({ cluster_id: cl, operation_id: op2, step: 'cluster_delete', outcome: 'started', message: null });
        assert.deepEqual((await s.listEvents(cl, { limit: 10 })).map((e) => e.step), ['cluster_delete']);
        await s.intendResource(cl, 'volume', 'vol-1');
        assert.deepEqual((await s.listResources(cl)).map((r) => [r.kind, r.name, r.state]), [['volume', 'vol-1', 'intended']]);
        assert.equal(await s.finishOperation({ uuid: op2, owner: 'c-1', state: 'complete', destroyCluster: cl }), true);
        assert.equal(await s.getClusterByUuid(cl), null);
        assert.deepEqual(await s.clusterQuotaUsage('p1'), { hardLimit: 7, count: 0 });
        assert.deepEqual(await s.tableCounts(), {
          cluster_template: 1, cluster: 0, nodegroup: 0, quotas: 1, operation: 0, cluster_event: 0, cluster_resource: 0, x509keypair: 1, federation: 1,
        });
      });

      test('down to base: every table is gone; version() is null', async () => {
        await s.migrateDown(NAMES.length);
        assert.equal(await s.version(), null);
        assert.deepEqual(await tables(s), MIGRATOR_TABLES);
        // Down at base is a no-op, not an error.
        await s.migrateDown(1);
        assert.equal(await s.version(), null);
      });

      test('up again from base works and the schema is empty and usable', async () => {
        assert.deepEqual(await s.migrate(), NAMES);
        assert.equal(await s.version(), HEAD);
        assert.deepEqual(await tables(s), tablesAt(HEAD));
        for (const t of tablesAt(HEAD)) if (!MIGRATOR_TABLES.includes(t)) assert.equal(await count(s, t), 0, t);
        // Unique constraints are back as well.
        await s.createClusterTemplate({ uuid: tmpl, name: 'again' });
        await assert.rejects(s.createClusterTemplate({ uuid: tmpl, name: 'dup' }), UniqueViolation);
        assert.deepEqual(await s.migrate(), []);
      });
    });
  }
});
