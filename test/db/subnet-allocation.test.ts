// Per-cluster subnets allocated in the database (table cluster_subnet, src/conductor/addresses.ts)
// on SQLite, PostgreSQL and MariaDB: one subnet per cluster and one cluster per subnet, decided by
// the unique keys, so concurrent creates on several conductor processes never collide; released
// with the network or with the cluster row.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { clusterAddresses, type SubnetStore } from '../../src/conductor/addresses.ts';
import { SqlStorage } from '../../src/db/sql/storage.ts';
import { createTempDatabase, databaseKinds, type TempDatabase } from '../helpers/databases.ts';

const POOL = { pool: '10.213.0.0/16', prefixLength: 24 };

/** Counts the claims (inserts) an allocation needed. */
function counting(s: SubnetStore): SubnetStore & { claims: number } {
  const out = {
    claims: 0,
    findClusterSubnet: (c: string) => s.findClusterSubnet(c),
    listAllocatedSubnets: () => s.listAllocatedSubnets(),
    claimClusterSubnet: (c: string, subnet: string) => {
      out.claims++;
      return s.claimClusterSubnet(c, subnet);
    },
    releaseClusterSubnet: (c: string) => s.releaseClusterSubnet(c),
  };
  return out;
}

describe('subnet allocation', { concurrency: true }, () => {
  for (const kind of databaseKinds()) {
    describe(kind, { concurrency: 1 }, () => {
      let db: TempDatabase;
      let s: SqlStorage;
      /** A second storage with its own connection pool: another conductor process, in effect. */
      let s2: SqlStorage;
      const template = randomUUID();

      before(async () => {
        db = await createTempDatabase(kind);
        s = SqlStorage.open(db.url, { poolSize: 8 });
        await s.migrate();
        s2 = SqlStorage.open(db.url, { poolSize: 8 });
        await s.createClusterTemplate({ uuid: template, name: 't', coe: 'swarm-mode', project_id: 'p1' });
      });
      after(async () => {
        await s?.close();
        await s2?.close();
        await db?.drop();
      });

      async function clusters(n: number): Promise<string[]> {
        const out: string[] = [];
        for (let i = 0; i < n; i++) {
          const uuid = randomUUID();
          await s.createClusterWithOperation(
            { uuid, project_id: 'p1', name: `c-${uuid.slice(0, 8)}`, cluster_template_id: template, status: 'CREATE_IN_PROGRESS' },
            [],
            { uuid: randomUUID(), cluster_id: uuid, nodegroup_id: null, kind: 'cluster_create', params: {}, deadline_at: new Date(Date.now() + 3_600_000), request_id: null },
          );
          out.push(uuid);
        }
        return out;
      }

      async function reset(): Promise<void> {
        for (const a of await s.listAllocatedSubnets()) await s.releaseClusterSubnet(a.clusterUuid);
      }

      test('claim: one subnet per cluster, one cluster per subnet; release; the row goes with the cluster', async () => {
        await reset();
        const [a, b] = await clusters(2);
        assert.equal(await s.findClusterSubnet(a), null);
        assert.equal(await s.claimClusterSubnet(a, '10.213.1.0/24'), '10.213.1.0/24');
        assert.equal(await s2.claimClusterSubnet(b, '10.213.1.0/24'), null, 'held by another cluster');
        assert.equal(await s2.claimClusterSubnet(a, '10.213.2.0/24'), '10.213.1.0/24', 'a cluster keeps the subnet it has');
        assert.equal(await s2.findClusterSubnet(a), '10.213.1.0/24');
        assert.equal(await s.claimClusterSubnet(b, '10.213.2.0/24'), '10.213.2.0/24');
        assert.deepEqual(await s.listAllocatedSubnets(), [{ clusterUuid: a, subnet: '10.213.1.0/24' }, { clusterUuid: b, subnet: '10.213.2.0/24' }]);
        await s.releaseClusterSubnet(a);
        assert.equal(await s.findClusterSubnet(a), null);
        assert.equal(await s2.claimClusterSubnet(b, '10.213.1.0/24'), '10.213.2.0/24');
        // The cluster row goes: its allocation goes with it (foreign key, on delete cascade).
        await s.destroyCluster(b);
        assert.deepEqual(await s.listAllocatedSubnets(), []);
        // Only clusters that exist hold subnets.
        await assert.rejects(s.claimClusterSubnet(randomUUID(), '10.213.3.0/24'));
      });

      test('the same subnet claimed by 20 clusters at once from two pools: exactly one gets it', async () => {
        await reset();
        const ids = await clusters(20);
        const got = await Promise.all(ids.map((id, i) => (i % 2 ? s : s2).claimClusterSubnet(id, '10.213.9.0/24')));
        assert.equal(got.filter((g) => g === '10.213.9.0/24').length, 1, JSON.stringify(got));
        assert.equal(got.filter((g) => g === null).length, 19);
        assert.equal((await s.listAllocatedSubnets()).length, 1);
      });

      test('the allocator: the lowest free subnet of the pool, skipping allocated ones and those used on the host; idempotent', async () => {
        await reset();
        const [a, b, c] = await clusters(3);
        const inUse = ['10.213.0.0/24', '172.17.0.0/16', 'fd00:1::/64', '10.213.2.128/25'];
        assert.equal(await clusterAddresses(s, a).subnet({ ...POOL, inUse, fixed: null }), '10.213.1.0/24');
        assert.equal(await clusterAddresses(s, a).subnet({ ...POOL, inUse, fixed: null }), '10.213.1.0/24', 'asked again: the same one');
        // 10.213.2.0/24 overlaps a /25 used on the host.
        assert.equal(await clusterAddresses(s2, b).subnet({ ...POOL, inUse, fixed: null }), '10.213.3.0/24');
        await clusterAddresses(s, a).release();
        assert.equal(await clusterAddresses(s, c).subnet({ ...POOL, inUse, fixed: null }), '10.213.1.0/24', 'a released subnet is handed out again');
      });

      test('fixed_subnet: honoured as given (canonical form) and recorded; refused when another cluster holds or overlaps it', async () => {
        await reset();
        const [a, b, c, d] = await clusters(4);
        assert.equal(await clusterAddresses(s, a).subnet({ ...POOL, inUse: [], fixed: '192.168.50.7/24' }), '192.168.50.0/24');
        assert.equal(await s.findClusterSubnet(a), '192.168.50.0/24');
        await assert.rejects(clusterAddresses(s, b).subnet({ ...POOL, inUse: [], fixed: '192.168.50.0/24' }), /overlaps 192\.168\.50\.0\/24, allocated to cluster/);
        await assert.rejects(clusterAddresses(s, b).subnet({ ...POOL, inUse: [], fixed: '192.168.0.0/16' }), /overlaps 192\.168\.50\.0\/24/);
        await assert.rejects(clusterAddresses(s, b).subnet({ ...POOL, inUse: [], fixed: 'fd00::/64' }), /not an IPv4 CIDR/);
        assert.equal(await s.findClusterSubnet(b), null, 'a refusal allocates nothing');
        // A fixed subnet inside the pool is skipped by later pool allocations.
        assert.equal(await clusterAddresses(s, c).subnet({ ...POOL, inUse: [], fixed: '10.213.0.0/24' }), '10.213.0.0/24');
        assert.equal(await clusterAddresses(s, d).subnet({ ...POOL, inUse: [], fixed: null }), '10.213.1.0/24');
      });

      test('an exhausted pool is a clear error', async () => {
        await reset();
        const [a, b, c] = await clusters(3);
        const small = { pool: '10.99.0.0/23', prefixLength: 24, inUse: [], fixed: null };
        assert.equal(await clusterAddresses(s, a).subnet(small), '10.99.0.0/24');
        assert.equal(await clusterAddresses(s, b).subnet(small), '10.99.1.0/24');
        await assert.rejects(clusterAddresses(s, c).subnet(small), /^Error: no free \/24 is left in 10\.99\.0\.0\/23: 2 allocated to clusters, 0 in use on the host$/);
      });

      test('50 concurrent allocations from two connection pools: 50 distinct subnets, the lowest free ones, none used on the host', async () => {
        await reset();
        const ids = await clusters(50);
        const stores = [counting(s), counting(s2)];
        const inUse = ['10.213.0.0/24', '10.213.17.0/24'];
        const started = Date.now();
        const got = await Promise.all(ids.map((id, i) => clusterAddresses(stores[i % 2], id).subnet({ ...POOL, inUse, fixed: null })));
        const ms = Date.now() - started;
        assert.equal(new Set(got).size, 50, 'distinct');
        const expected = Array.from({ length: 51 }, (_, i) => `10.213.${i + 1}.0/24`).filter((x) => x !== '10.213.17.0/24');
        assert.deepEqual([...got].sort((x, y) => Number(x.split('.')[2]) - Number(y.split('.')[2])), expected);
        const stored = await s2.listAllocatedSubnets();
        assert.deepEqual(new Map(stored.map((r) => [r.clusterUuid, r.subnet])), new Map(ids.map((id, i) => [id, got[i]])));
        console.log(`# ${kind}: 50 concurrent allocations in ${ms} ms, ${stores[0].claims + stores[1].claims} claims (inserts) in all`);
      });
    });
  }
});
