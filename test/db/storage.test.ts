// SqlStorage behaviour, method by method, on SQLite, PostgreSQL and MariaDB. One fresh database
// per kind (creating and migrating one costs about a second on the servers); the tests of a kind
// run in order and use their own uuids and project ids, and a test that reads a whole table
// filters to its own rows or compares before/after counts.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import type { NewOperation, PageRequest } from '../../src/db/api.ts';
import { COLUMNS, toRow } from '../../src/db/sql/rows.ts';
import { conductorScope, UnscopedQuery } from '../../src/common/scope.ts';
import { SqlStorage, UniqueViolation } from '../../src/db/sql/storage.ts';
import { runInRequestScope } from '../../src/common/request-scope.ts';
import type { Cluster, ClusterTemplate, NodeGroup } from '../../src/objects/models.ts';
import { createTempDatabase, databaseKinds, type DbKind, type TempDatabase } from '../helpers/databases.ts';
import { race, type WriterData } from './writer-worker.ts';

/** Every project: what admins' views and the conductor use. */
const ALL = conductorScope();

// ---- fixtures ------------------------------------------------------------------------------------

interface Fixture {
  url: string;
  s: SqlStorage;
  /** A second storage on the same database with its own pool (another process, in effect). */
  s2: SqlStorage;
}

/** One fresh, migrated database for the enclosing describe block; dropped afterwards. */
function database(kind: DbKind): Fixture {
  const f = {} as Fixture;
  let db: TempDatabase | undefined;
  before(async () => {
    db = await createTempDatabase(kind);
    f.url = db.url;
    f.s = SqlStorage.open(db.url, { poolSize: 8 });
    await f.s.migrate();
    f.s2 = SqlStorage.open(db.url, { poolSize: 4 });
  });
  after(async () => {
    await f.s?.close();
    await f.s2?.close();
    await db?.drop();
  });
  return f;
}

const HOUR = 3_600_000;
const uid = (): string => randomUUID();
const project = (): string => `p-${randomUUID().slice(0, 8)}`;

function newOp(clusterUuid: string, extra: Partial<NewOperation> = {}): NewOperation {
  return { uuid: uid(), cluster_id: clusterUuid, nodegroup_id: null, kind: 'cluster_create', params: {}, deadline_at: new Date(Date.now() + HOUR), request_id: null, ...extra };
}

function defaultNodeGroups(clusterUuid: string, projectId: string | null, workers = 2): Partial<NodeGroup>[] {
  return [
    { uuid: uid(), name: 'default-master', cluster_id: clusterUuid, project_id: projectId, role: 'master', node_count: 1, min_node_count: 1, is_default: true },
    { uuid: uid(), name: 'default-worker', cluster_id: clusterUuid, project_id: projectId, role: 'worker', node_count: workers, min_node_count: 0, is_default: true },
  ];
}

async function makeCluster(
  s: SqlStorage,
  values: Partial<Cluster> = {},
  opts: { nodegroups?: Partial<NodeGroup>[]; op?: Partial<NewOperation> } = {},
): Promise<{ cluster: Cluster; nodegroups: Partial<NodeGroup>[]; op: NewOperation }> {
  const uuid = values.uuid ?? uid();
  const projectId = values.project_id === undefined ? 'p-default' : values.project_id;
  const nodegroups = opts.nodegroups ?? defaultNodeGroups(uuid, projectId);
  const op = newOp(uuid, opts.op);
  const cluster = await s.createClusterWithOperation({ status: 'CREATE_IN_PROGRESS', ...values, uuid, project_id: projectId }, nodegroups, op);
  return { cluster, nodegroups, op };
}

/** Asserts every given field came back equal (Dates by instant). */
function assertFields(got: Record<string, unknown>, want: Record<string, unknown>, what: string): void {
  for (const [k, v] of Object.entries(want)) {
    const g = got[k];
    if (v instanceof Date) {
      assert.ok(g instanceof Date, `${what}.${k}: expected a Date, got ${String(g)}`);
      assert.equal(g.toISOString(), v.toISOString(), `${what}.${k}`);
    } else {
      assert.deepEqual(g, v, `${what}.${k}`);
    }
  }
}

function assertRecent(d: unknown, t0: number, what: string): void {
  assert.ok(d instanceof Date, `${what}: expected a Date, got ${String(d)}`);
  assert.ok(d.getTime() >= t0 - 5 && d.getTime() <= Date.now() + 5, `${what}: ${d.toISOString()} not within the call`);
}

// Unicode that trips up charsets: accents, CJK, astral-plane emoji, quotes and backslashes.
const LABELS = { kube_tag: 'v1.27.3', 'clé-ü': 'çødé ✓', cjk: '日本語テキスト', emoji: '🚀🔥👩‍💻', quote: 'a"b\\c\'d', empty: '', newline: 'x\ny' };

// ---- ordering as the API promises it: (sort_key, id), NULLs lowest, desc is the exact reverse ----

function sortValue(v: unknown): number | string | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'object') return JSON.stringify(v);
  return v as number | string;
}

function expectedOrder<T extends { id: number }>(rows: T[], key: string, dir: 'asc' | 'desc'): T[] {
  const out = [...rows].sort((a, b) => {
    const va = sortValue((a as Record<string, unknown>)[key]);
    const vb = sortValue((b as Record<string, unknown>)[key]);
    if (va !== vb) {
      if (va === null) return -1;
      if (vb === null) return 1;
      return va < vb ? -1 : 1;
    }
    return a.id - b.id;
  });
  return dir === 'asc' ? out : out.reverse();
}

/** Every page, each after the last row of the previous one, until a short page. */
async function walk<T extends { id: number }>(list: (p: PageRequest) => Promise<T[]>, sortKey: string, sortDir: 'asc' | 'desc', limit: number): Promise<T[]> {
  const out: T[] = [];
  let marker: T | null = null;
  for (let i = 0; i < 500; i++) {
    const page: T[] = await list({ limit, sortKey, sortDir, marker });
    assert.ok(page.length <= limit, `page of ${page.length} > limit ${limit}`);
    out.push(...page);
    if (page.length < limit) return out;
    marker = page[page.length - 1];
  }
  throw new Error('pagination does not end');
}

const ids = (rows: { id: number }[]): number[] => rows.map((r) => r.id);

// ---- the tests -----------------------------------------------------------------------------------

/** Writer threads shared by every kind (loading one takes a while), loaded while the first tests run. */
class WriterThreads {
  readonly ready: Promise<unknown>;
  readonly #workers: Worker[];
  readonly #pending = new Map<number, { resolve: (t: Record<string, number>) => void; reject: (e: unknown) => void }>();
  #next = 0;

  constructor(n: number) {
    // Workers do not inherit tsx's loader hooks: a bootstrap registers them, then loads the writer.
    const entry = JSON.stringify(new URL('./writer-worker.ts', import.meta.url).href);
    this.#workers = Array.from({ length: n }, () => new Worker(`import('tsx/esm/api').then((t) => { t.register(); return import(${entry}); })`, { eval: true }));
    this.ready = Promise.all(this.#workers.map((w) => new Promise<void>((resolve, reject) => {
      const fail = (e: unknown): void => {
        reject(e);
        for (const p of this.#pending.values()) p.reject(e);
        this.#pending.clear();
      };
      w.on('message', (m: 'ready' | { id: number; tally?: Record<string, number>; error?: string }) => {
        if (m === 'ready') return resolve();
        const p = this.#pending.get(m.id);
        this.#pending.delete(m.id);
        if (m.error !== undefined) p?.reject(new Error(m.error));
        else p?.resolve(m.tally!);
      });
      w.once('error', fail);
      w.once('exit', (code) => fail(new Error(`writer thread exited with ${code}`)));
    })));
    this.ready.catch(() => undefined); // reported by the test that awaits it
  }

  /** Starts a race in every thread at once. */
  run(data: WriterData): Promise<Record<string, number>>[] {
    return this.#workers.map((w) => new Promise<Record<string, number>>((resolve, reject) => {
      const id = this.#next++;
      this.#pending.set(id, { resolve, reject });
      w.postMessage({ id, ...data });
    }));
  }

  async close(): Promise<void> {
    for (const w of this.#workers) w.removeAllListeners('exit');
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}

describe('SqlStorage', { concurrency: true }, () => {
  let writers: WriterThreads;
  before(() => {
    writers = new WriterThreads(2);
  });
  after(() => writers?.close());

  for (const kind of databaseKinds()) {
    describe(kind, { concurrency: 1 }, () => {
      const f = database(kind);

      describe('column round trips, lookups, unique constraints', { concurrency: 1 }, () => {

        test('cluster template: every column type round-trips; defaults apply to omitted columns', async () => {
          const full = {
            uuid: uid(), project_id: 'proj-rt', user_id: 'user-rt', name: 'tmpl ünïcødé 🚀 テンプレート',
            image_id: 'fedora-coreos-38', flavor_id: 'm1.small', master_flavor_id: 'm1.medium', keypair_id: 'kp',
            external_network_id: 'public', fixed_network: 'net', fixed_subnet: 'subnet', network_driver: 'flannel',
            volume_driver: 'cinder', dns_nameserver: '8.8.8.8', apiserver_port: 65535, docker_volume_size: 0,
            docker_storage_driver: 'overlay2', cluster_distro: 'fedora-coreos', coe: 'kubernetes',
            http_proxy: 'http://proxy:3128', https_proxy: null, no_proxy: '', registry_enabled: true, labels: LABELS,
            tls_disabled: true, public: true, server_type: 'vm', insecure_registry: null, master_lb_enabled: true,
            floating_ip_enabled: false, hidden: true, tags: 'a,b', created_at: new Date('2023-03-04T05:06:07.089Z'),
          } satisfies Partial<ClusterTemplate>;
          const created = await f.s.createClusterTemplate(full);
          assert.equal(typeof created.id, 'number');
          assert.deepEqual(Object.keys(created).sort(), [...COLUMNS.cluster_template].sort());
          assertFields(created as never, { ...full, updated_at: null }, 'created');
          const got = await f.s.getClusterTemplateByUuid(full.uuid);
          assert.ok(got);
          assertFields(got as never, { ...full, id: created.id, updated_at: null }, 'got');

          const t0 = Date.now();
          const bare = await f.s.createClusterTemplate({ uuid: uid() });
          assertFields(bare as never, {
            registry_enabled: false, tls_disabled: false, public: false, master_lb_enabled: false, floating_ip_enabled: true,
            hidden: false, labels: {}, name: null, apiserver_port: null, docker_volume_size: null, updated_at: null,
          }, 'bare');
          assertRecent(bare.created_at, t0, 'bare.created_at');
          assert.ok(bare.id > created.id);
        });

        test('cluster: every column type round-trips (dicts, booleans, ints incl. 0, nulls, long text)', async () => {
          const uuid = uid();
          const values = {
            uuid, project_id: 'proj-rt', user_id: 'user-rt', name: 'クラスタ-ü-🚀', cluster_template_id: uid(), keypair: 'kp',
            docker_volume_size: null, labels: LABELS, master_flavor_id: 'm1.medium', flavor_id: 'm1.small', stack_id: null,
            api_address: 'https://10.0.0.1:6443', status: 'CREATE_IN_PROGRESS', status_reason: 'x'.repeat(10_000),
            health_status: 'UNKNOWN', health_status_reason: { 'api': 'ok', 'node-1.Ready': 'True', 'ü': '🚀' }, create_timeout: 0,
            discovery_url: 'https://discovery.etcd.io/abc', trust_id: 'trust', trustee_username: `${uuid}_proj-rt`,
            trustee_user_id: 'tuid', trustee_password: 'p@ss"w\'ord\\', coe_version: 'v1.27.3', container_version: '1.12.6',
            ca_cert_ref: 'c'.repeat(512), magnum_cert_ref: 'm'.repeat(512), etcd_ca_cert_ref: null, front_proxy_ca_cert_ref: 'fp',
            fixed_network: 'net', fixed_subnet: 'sub', floating_ip_enabled: false, master_lb_enabled: true,
            created_at: new Date('2024-02-29T23:59:59.999Z'),
          } satisfies Partial<Cluster>;
          const { cluster } = await makeCluster(f.s, values);
          assert.deepEqual(Object.keys(cluster).sort(), [...COLUMNS.cluster].sort());
          assertFields(cluster as never, { ...values, updated_at: null }, 'created');
          assertFields((await f.s.getClusterByUuid(uuid)) as never, { ...values, id: cluster.id }, 'got');

          const { cluster: bare } = await makeCluster(f.s, { project_id: null, status: null });
          assertFields(bare as never, { labels: {}, health_status_reason: {}, floating_ip_enabled: true, master_lb_enabled: false, project_id: null, status: null }, 'bare');
        });

        test('nodegroup: JSON lists and dicts, booleans, ints, nulls round-trip', async () => {
          const c = uid();
          const full = {
            uuid: uid(), name: 'ng-ü', cluster_id: c, project_id: 'proj-rt', docker_volume_size: 20, labels: LABELS,
            flavor_id: 'm1.large', image_id: 'img', node_addresses: ['10.0.0.1', 'fd00::1', 'hôte-🚀'], node_count: 0,
            role: 'worker', max_node_count: null, min_node_count: 0, is_default: false, stack_id: 'stack', status: 'CREATE_IN_PROGRESS',
            status_reason: null, version: 'v1.27.3', created_at: new Date('2022-12-31T23:59:59.001Z'),
          } satisfies Partial<NodeGroup>;
          const bare = { uuid: uid(), name: 'bare', cluster_id: c, project_id: 'proj-rt', node_count: 1, role: 'master', min_node_count: 1, is_default: true, node_addresses: [] };
          const nulls = { uuid: uid(), name: 'nulls', cluster_id: c, project_id: 'proj-rt', node_count: 1, role: 'worker', min_node_count: 0, labels: null, node_addresses: null };
          await makeCluster(f.s, { uuid: c, project_id: 'proj-rt' }, { nodegroups: [full, bare, nulls as never] });
          const got = await f.s.listNodeGroupsOf([c]);
          assert.equal(got.length, 3);
          assert.deepEqual(Object.keys(got[0]).sort(), [...COLUMNS.nodegroup].sort());
          assertFields(got[0] as never, { ...full, updated_at: null }, 'full');
          assertFields(got[1] as never, { ...bare, labels: {}, docker_volume_size: null, max_node_count: null }, 'bare');
          assertFields(got[2] as never, { labels: {}, node_addresses: [], is_default: false }, 'nulls');
        });

        test('operation: JSON params, timestamps with ms precision, defaults', async () => {
          const deadline = new Date('2030-06-15T12:34:56.789Z');
          const params = { list: [1, 2.5, true, null, 'ü🚀'], nested: { deep: { empty: {} } }, big: 2 ** 40, neg: -1 };
          const { op, cluster } = await makeCluster(f.s, {}, { op: { kind: 'cluster_create', params, deadline_at: deadline, request_id: 'req-ü', nodegroup_id: uid() } });
          const got = await f.s.getOperation(op.uuid);
          assert.ok(got);
          assertFields(got as never, {
            ...op, cluster_id: cluster.uuid, state: 'pending', owner: null, lease_expires_at: null, step: null, attempts: 0, last_error: null, updated_at: null,
          }, 'op');
          assert.equal(await f.s.getOperation(uid()), null);
        });

        test('x509 key pair: create, get, delete; duplicate uuid is a UniqueViolation', async () => {
          const pem = `-----BEGIN CERTIFICATE-----\n${'A'.repeat(64)}\n`.repeat(40);
          const values = { uuid: uid(), certificate: pem, private_key: 'KEY', private_key_passphrase: null, intermediates: '', project_id: 'p', user_id: 'u' };
          const created = await f.s.createX509KeyPair(values);
          assertFields(created as never, values, 'created');
          assertFields((await f.s.getX509KeyPair(values.uuid)) as never, { ...values, id: created.id }, 'got');
          await assert.rejects(f.s.createX509KeyPair({ uuid: values.uuid }), UniqueViolation);
          await f.s.deleteX509KeyPair(values.uuid);
          assert.equal(await f.s.getX509KeyPair(values.uuid), null);
        });

        test('quotas: create, get, getById, list, update, delete; (project, resource) is unique', async () => {
          const p = project();
          const q = await f.s.createQuota({ project_id: p, resource: 'Cluster', hard_limit: 0 });
          assertFields(q as never, { project_id: p, resource: 'Cluster', hard_limit: 0, updated_at: null }, 'quota');
          await assert.rejects(f.s.createQuota({ project_id: p, resource: 'Cluster', hard_limit: 5 }), UniqueViolation);
          const other = await f.s.createQuota({ project_id: project(), resource: 'Cluster', hard_limit: 3 });
          assert.equal((await f.s.getQuota(p, 'Cluster'))?.id, q.id);
          assert.equal(await f.s.getQuota(p, 'Other'), null);
          assert.equal((await f.s.getQuotaById(q.id))?.project_id, p);
          assert.deepEqual(ids(await f.s.listQuotas({ kind: 'project', projectId: p }, { limit: 10, sortKey: 'id', sortDir: 'asc' })), [q.id]);
          const all = ids(await f.s.listQuotas(ALL, { limit: 1000, sortKey: 'id', sortDir: 'asc' }));
          assert.ok(all.includes(q.id) && all.includes(other.id));
          const t0 = Date.now();
          const upd = await f.s.updateQuota(q.id, { hard_limit: -1 });
          assert.equal(upd.hard_limit, -1);
          assertRecent(upd.updated_at, t0, 'updated_at');
          assert.equal(upd.created_at?.toISOString(), q.created_at?.toISOString());
          await f.s.deleteQuota(q.id);
          assert.equal(await f.s.getQuotaById(q.id), null);
          assert.equal(await f.s.getQuota(p, 'Cluster'), null);
          await f.s.createQuota({ project_id: p, resource: 'Cluster', hard_limit: 1 }); // the pair is free again
        });

        test('unique violations: template uuid, cluster uuid, nodegroup (cluster, name) and uuid', async () => {
          const t = uid();
          await f.s.createClusterTemplate({ uuid: t });
          await assert.rejects(f.s.createClusterTemplate({ uuid: t, name: 'again' }), UniqueViolation);
          const { cluster } = await makeCluster(f.s);
          await assert.rejects(makeCluster(f.s, { uuid: cluster.uuid }), UniqueViolation);
          // Same nodegroup name in two clusters is fine; twice in one cluster is not.
          const c = uid();
          const ngs = defaultNodeGroups(c, 'p');
          await assert.rejects(makeCluster(f.s, { uuid: c }, { nodegroups: [...ngs, { ...ngs[1], uuid: uid() }] }), UniqueViolation);
          const c2 = uid();
          const ngs2 = defaultNodeGroups(c2, 'p');
          await assert.rejects(makeCluster(f.s, { uuid: c2 }, { nodegroups: [ngs2[0], { ...ngs2[1], uuid: ngs2[0].uuid }] }), UniqueViolation);
        });

        test('findClusters: by uuid (any case), name, id; project scoping; admin scope sees all', async () => {
          const pa = project();
          const pb = project();
          const a1 = (await makeCluster(f.s, { project_id: pa, name: 'same' })).cluster;
          const a2 = (await makeCluster(f.s, { project_id: pa, name: 'same' })).cluster;
          const b1 = (await makeCluster(f.s, { project_id: pb, name: 'same' })).cluster;
          const A = { kind: 'project' as const, projectId: pa };
          assert.deepEqual(ids(await f.s.findClusters(A, { uuid: a1.uuid })), [a1.id]);
          assert.deepEqual(ids(await f.s.findClusters(A, { uuid: a1.uuid.toUpperCase() })), [a1.id]);
          assert.deepEqual(ids(await f.s.findClusters(A, { id: a2.id })), [a2.id]);
          assert.deepEqual(ids(await f.s.findClusters(A, { name: 'same' })).sort(), [a1.id, a2.id].sort());
          assert.deepEqual(await f.s.findClusters(A, { uuid: b1.uuid }), []);
          assert.deepEqual(await f.s.findClusters(A, { id: b1.id }), []);
          assert.deepEqual(await f.s.findClusters(A, { name: 'nope' }), []);
          assert.deepEqual(ids(await f.s.findClusters(ALL, { uuid: b1.uuid })), [b1.id]);
          // Name lookups return at most 2 (enough to tell "ambiguous" from "unique").
          assert.equal((await f.s.findClusters(ALL, { name: 'same' })).length, 2);
          assert.equal((await f.s.getClusterByUuid(b1.uuid))?.id, b1.id);
          assert.equal(await f.s.getClusterByUuid(uid()), null);
        });

        test('findClustersForView / listClustersForView: clusters with their template\'s labels', async () => {
          const p = project();
          const tmpl = await f.s.createClusterTemplate({ uuid: uid(), project_id: 'someone-else', labels: { a: '1', 'ü': '🚀' } });
          const bare = await f.s.createClusterTemplate({ uuid: uid(), project_id: p });
          const withT = (await makeCluster(f.s, { project_id: p, name: 'with', cluster_template_id: tmpl.uuid, labels: { a: '2' } })).cluster;
          const withBare = (await makeCluster(f.s, { project_id: p, name: 'bare', cluster_template_id: bare.uuid })).cluster;
          const orphan = (await makeCluster(f.s, { project_id: p, name: 'orphan', cluster_template_id: uid() })).cluster;
          const P = { kind: 'project' as const, projectId: p };
          const [v] = await f.s.findClustersForView(P, { uuid: withT.uuid.toUpperCase() });
          assertFields(v as never, { ...withT, template_labels: { a: '1', 'ü': '🚀' } }, 'view');
          assert.deepEqual((await f.s.findClustersForView(P, { name: 'bare' })).map((c) => [c.uuid, c.template_labels]), [[withBare.uuid, null]]);
          assert.deepEqual((await f.s.findClustersForView(P, { name: 'orphan' })).map((c) => [c.uuid, c.template_labels]), [[orphan.uuid, null]]);
          assert.deepEqual(await f.s.findClustersForView({ kind: 'project' as const, projectId: project() }, { uuid: withT.uuid }), []);
          assert.equal((await f.s.findClustersForView(ALL, { uuid: withT.uuid })).length, 1);
          // The nodegroups come in the same query, whole and in id order; none for a cluster that has none.
          assert.deepEqual(v.nodegroups, await f.s.listNodeGroupsOf([withT.uuid]));
          assert.equal(v.nodegroups.length, 2);
          const noNg = (await makeCluster(f.s, { project_id: p, name: 'no-ng', cluster_template_id: tmpl.uuid }, { nodegroups: [] })).cluster;
          assert.deepEqual((await f.s.findClustersForView(P, { name: 'no-ng' })).map((c) => [c.uuid, c.nodegroups]), [[noNg.uuid, []]]);
          // Two of one name: both, each with its own nodegroups (the API answers 409).
          const twin = (await makeCluster(f.s, { project_id: p, name: 'with', cluster_template_id: tmpl.uuid })).cluster;
          assert.deepEqual((await f.s.findClustersForView(P, { name: 'with' })).map((c) => [c.uuid, c.nodegroups.map((n) => n.cluster_id)]),
            [[withT.uuid, [withT.uuid, withT.uuid]], [twin.uuid, [twin.uuid, twin.uuid]]]);
          assert.deepEqual((await f.s.listNodeGroupSummariesOf([withT.uuid])).map((n) => [n.role, n.node_count, n.node_addresses]),
            v.nodegroups.map((n) => [n.role, n.node_count, n.node_addresses]));
          await f.s.destroyCluster(noNg.uuid);
          await f.s.destroyCluster(twin.uuid);
          const listed = await f.s.listClustersForView(P, { limit: 10, sortKey: 'name', sortDir: 'asc' });
          assert.deepEqual(listed.map((c) => c.name), ['bare', 'orphan', 'with']);
          assert.deepEqual(listed.map((c) => c.labels), [{}, {}, { a: '2' }]);
          assert.deepEqual(ids(await walk((pg) => f.s.listClustersForView(P, pg), 'name', 'desc', 1)), [withT.id, orphan.id, withBare.id]);
        });

        test('listClusters: project scoping, limit, admin sees every project', async () => {
          const pa = project();
          const pb = project();
          const mine = [];
          for (let i = 0; i < 4; i++) mine.push((await makeCluster(f.s, { project_id: pa, name: `c${i}` })).cluster);
          const theirs = (await makeCluster(f.s, { project_id: pb })).cluster;
          assert.deepEqual(ids(await f.s.listClusters({ kind: 'project' as const, projectId: pa }, { limit: 100, sortKey: 'id', sortDir: 'asc' })), ids(mine));
          assert.deepEqual(ids(await f.s.listClusters({ kind: 'project' as const, projectId: pa }, { limit: 2, sortKey: 'id', sortDir: 'asc' })), ids(mine).slice(0, 2));
          assert.deepEqual(ids(await f.s.listClusters({ kind: 'project' as const, projectId: pa }, { limit: 3, sortKey: 'id', sortDir: 'desc' })), ids(mine).reverse().slice(0, 3));
          assert.deepEqual(await f.s.listClusters({ kind: 'project' as const, projectId: project() }, { limit: 10, sortKey: 'id', sortDir: 'asc' }), []);
          const all = ids(await f.s.listClusters(ALL, { limit: 10_000, sortKey: 'id', sortDir: 'asc' }));
          for (const c of [...mine, theirs]) assert.ok(all.includes(c.id));
          assert.deepEqual(all, [...all].sort((x, y) => x - y));
        });

        test('nodegroups: find by uuid (any case), name, id within a cluster and project; update; destroy', async () => {
          const p = project();
          const { cluster, nodegroups } = await makeCluster(f.s, { project_id: p });
          const { cluster: other } = await makeCluster(f.s, { project_id: p });
          const S = { kind: 'project' as const, projectId: p };
          const [master, worker] = nodegroups;
          assert.deepEqual((await f.s.findNodeGroups(cluster.uuid, S, { uuid: worker.uuid!.toUpperCase() })).map((n) => n.uuid), [worker.uuid]);
          assert.deepEqual((await f.s.findNodeGroups(cluster.uuid, S, { name: 'default-master' })).map((n) => n.uuid), [master.uuid]);
          const found = (await f.s.findNodeGroups(cluster.uuid, S, { uuid: worker.uuid }))[0];
          assert.deepEqual((await f.s.findNodeGroups(cluster.uuid, S, { id: found.id })).map((n) => n.uuid), [worker.uuid]);
          assert.deepEqual(await f.s.findNodeGroups(other.uuid, S, { uuid: worker.uuid }), [], 'a nodegroup of another cluster');
          assert.deepEqual(await f.s.findNodeGroups(cluster.uuid, { kind: 'project' as const, projectId: project() }, { uuid: worker.uuid }), [], 'another project');
          assert.equal((await f.s.findNodeGroups(cluster.uuid, ALL, { uuid: worker.uuid })).length, 1);
          assert.deepEqual((await f.s.listNodeGroups(cluster.uuid, S, { limit: 10, sortKey: 'id', sortDir: 'asc' }, 'worker')).map((n) => n.uuid), [worker.uuid]);
          assert.deepEqual((await f.s.listNodeGroups(cluster.uuid, { kind: 'project' as const, projectId: project() }, { limit: 10, sortKey: 'id', sortDir: 'asc' })), []);

          const t0 = Date.now();
          const upd = await f.s.updateNodeGroup(worker.uuid!, { node_count: 7, node_addresses: ['1.2.3.4'], labels: { 'ü': '🚀' }, status: 'UPDATE_COMPLETE' });
          assertFields(upd as never, { node_count: 7, node_addresses: ['1.2.3.4'], labels: { 'ü': '🚀' }, status: 'UPDATE_COMPLETE', name: 'default-worker' }, 'updated');
          assertRecent(upd?.updated_at, t0, 'updated_at');
          assert.equal(await f.s.updateNodeGroup(uid(), { node_count: 1 }), null);
          await f.s.destroyNodeGroup(worker.uuid!);
          assert.deepEqual((await f.s.listNodeGroupsOf([cluster.uuid])).map((n) => n.uuid), [master.uuid]);
          assert.deepEqual(
            (await f.s.listNodeGroupsOf([cluster.uuid, other.uuid])).map((n) => n.cluster_id),
            [cluster.uuid, other.uuid, other.uuid],
          );
          assert.deepEqual(await f.s.listNodeGroupsOf([]), []);
        });

        test('updateCluster: changes columns, sets updated_at, keeps the rest; unknown uuid gives null', async () => {
          const { cluster } = await makeCluster(f.s, { name: 'before', labels: { a: '1' } });
          const t0 = Date.now();
          const upd = await f.s.updateCluster(cluster.uuid, { name: 'after', labels: { b: '2' }, health_status_reason: { x: 'y' }, master_lb_enabled: true, status_reason: null });
          assertFields(upd as never, { name: 'after', labels: { b: '2' }, health_status_reason: { x: 'y' }, master_lb_enabled: true, status_reason: null, project_id: cluster.project_id, created_at: cluster.created_at }, 'updated');
          assertRecent(upd?.updated_at, t0, 'updated_at');
          assert.equal(await f.s.updateCluster(uid(), { name: 'x' }), null);
        });

        test('events: appended in order per cluster, afterId and limit', async () => {
          const { cluster: a, op } = await makeCluster(f.s);
          const { cluster: b } = await makeCluster(f.s);
          const t0 = Date.now();
          for (let i = 0; i < 5; i++) {
            await f.s.appendEvent({ cluster_id: a.uuid, operation_id: i % 2 ? null : op.uuid, step: `step-${i}`, outcome: 'info', message: i === 4 ? null : `msg ü🚀 ${i}` });
            await f.s.appendEvent({ cluster_id: b.uuid, operation_id: null, step: `other-${i}`, outcome: 'succeeded', message: null });
          }
          const evs = await f.s.listEvents(a.uuid, { limit: 100 });
          assert.deepEqual(evs.map((e) => e.step), ['step-0', 'step-1', 'step-2', 'step-3', 'step-4']);
          assert.deepEqual(evs.map((e) => e.operation_id), [op.uuid, null, op.uuid, null, op.uuid]);
          assert.equal(evs[0].message, 'msg ü🚀 0');
          assert.equal(evs[4].message, null);
          assert.equal(evs[0].cluster_id, a.uuid);
          for (const e of evs) assertRecent(e.created_at, t0, 'created_at');
          assert.deepEqual(ids(evs), [...ids(evs)].sort((x, y) => x - y));
          assert.deepEqual((await f.s.listEvents(a.uuid, { limit: 100, afterId: evs[1].id })).map((e) => e.step), ['step-2', 'step-3', 'step-4']);
          assert.deepEqual((await f.s.listEvents(a.uuid, { limit: 2, afterId: evs[1].id })).map((e) => e.step), ['step-2', 'step-3']);
          assert.deepEqual(await f.s.listEvents(a.uuid, { limit: 10, afterId: evs[4].id }), []);
          assert.deepEqual(await f.s.listEvents(uid(), { limit: 10 }), []);
        });
      });

      describe('cluster templates', { concurrency: 1 }, () => {
        const pa = 'proj-a';
        const pb = 'proj-b';
        const T: Record<string, ClusterTemplate> = {};

        before(async () => {
          const mk = async (key: string, v: Partial<ClusterTemplate>) => { T[key] = await f.s.createClusterTemplate({ uuid: uid(), name: key, ...v }); };
          await mk('a-private', { project_id: pa });
          await mk('a-public-hidden', { project_id: pa, public: true, hidden: true });
          await mk('b-public', { project_id: pb, public: true });
          await mk('b-public-hidden', { project_id: pb, public: true, hidden: true });
          await mk('b-private', { project_id: pb });
          await mk('b-hidden-private', { project_id: pb, hidden: true });
        });

        test('get (find) by ident: own ∪ all public, including hidden ones', async () => {
          const A = { kind: 'project' as const, projectId: pa };
          for (const key of ['a-private', 'a-public-hidden', 'b-public', 'b-public-hidden']) {
            assert.deepEqual(ids(await f.s.findClusterTemplates(A, { uuid: T[key].uuid })), [T[key].id], key);
            assert.deepEqual(ids(await f.s.findClusterTemplates(A, { uuid: T[key].uuid.toUpperCase() })), [T[key].id], `${key} upper-case`);
            assert.deepEqual(ids(await f.s.findClusterTemplates(A, { name: key })), [T[key].id], `${key} by name`);
            assert.deepEqual(ids(await f.s.findClusterTemplates(A, { id: T[key].id })), [T[key].id], `${key} by id`);
          }
          for (const key of ['b-private', 'b-hidden-private']) {
            assert.deepEqual(await f.s.findClusterTemplates(A, { uuid: T[key].uuid }), [], key);
            assert.deepEqual(await f.s.findClusterTemplates(A, { name: key }), [], key);
            assert.deepEqual(await f.s.findClusterTemplates(A, { id: T[key].id }), [], key);
          }
          for (const key of Object.keys(T)) {
            assert.deepEqual(ids(await f.s.findClusterTemplates(ALL, { uuid: T[key].uuid })), [T[key].id], `admin ${key}`);
          }
        });

        test('list: own (hidden too) ∪ public non-hidden; admin (scope null) lists all', async () => {
          const page: PageRequest = { limit: 1000, sortKey: 'id', sortDir: 'asc' };
          const known = new Set(Object.values(T).map((t) => t.uuid));
          const names = async (projectId: string | null) => (await f.s.listClusterTemplates(projectId === null ? ALL : { kind: 'project', projectId }, page)).filter((t) => known.has(t.uuid)).map((t) => t.name);
          assert.deepEqual(await names(pa), ['a-private', 'a-public-hidden', 'b-public']);
          assert.deepEqual(await names(pb), ['b-public', 'b-public-hidden', 'b-private', 'b-hidden-private']);
          assert.deepEqual(await names('proj-c'), ['b-public']);
          assert.deepEqual(await names(null), Object.keys(T));
        });

        test('list pagination with a marker keeps the visibility filter', async () => {
          // Extra rows so that sorting by name interleaves visible and invisible templates.
          for (const [name, v] of [['a', { project_id: pb }], ['b', { project_id: pa }], ['c', { project_id: pb, public: true, hidden: true }], ['d', { project_id: pb, public: true }], ['e', { project_id: pb }]] as const) {
            T[`extra-${name}`] = await f.s.createClusterTemplate({ uuid: uid(), name: `m-${name}`, ...v });
          }
          const A = { kind: 'project' as const, projectId: pa };
          for (const sortKey of ['name', 'id', 'public', 'hidden', 'created_at']) {
            for (const sortDir of ['asc', 'desc'] as const) {
              const full = await f.s.listClusterTemplates(A, { limit: 1000, sortKey, sortDir });
              const known = new Set(Object.values(T).map((t) => t.uuid));
              assert.deepEqual(full.filter((t) => known.has(t.uuid)).map((t) => t.name).sort(), ['a-private', 'a-public-hidden', 'b-public', 'm-b', 'm-d'], `${sortKey} ${sortDir}`);
              assert.deepEqual(ids(full), ids(expectedOrder(full, sortKey, sortDir)), `${sortKey} ${sortDir} order`);
              for (const limit of [1, 2]) {
                const walked = await walk((p) => f.s.listClusterTemplates(A, p), sortKey, sortDir, limit);
                assert.deepEqual(ids(walked), ids(full), `${sortKey} ${sortDir} limit ${limit}`);
              }
            }
          }
        });

        test('update, isReferenced (any project), deleteIfUnused, getByUuid(s)', async () => {
          const t = T['b-public'];
          const t0 = Date.now();
          const upd = await f.s.updateClusterTemplate(t.uuid, { name: 'renamed', labels: { 'ü': '🚀' }, hidden: true, docker_volume_size: 0 });
          assertFields(upd as never, { name: 'renamed', labels: { 'ü': '🚀' }, hidden: true, docker_volume_size: 0, public: true, project_id: pb, created_at: t.created_at }, 'updated');
          assertRecent(upd.updated_at, t0, 'updated_at');
          const listed = await f.s.listClusterTemplates({ kind: 'project', projectId: 'proj-c' }, { limit: 100, sortKey: 'id', sortDir: 'asc' });
          assert.ok(!listed.some((x) => x.uuid === t.uuid), 'now hidden');

          // Referenced by a cluster in another project: not deletable.
          const { cluster, op } = await makeCluster(f.s, { project_id: 'proj-z', cluster_template_id: t.uuid });
          assert.equal(await f.s.isClusterTemplateReferenced(t.uuid), true);
          assert.equal(await f.s.isClusterTemplateReferenced(T['a-private'].uuid), false);
          assert.equal(await f.s.deleteClusterTemplateIfUnused(t.uuid), false);
          assert.ok(await f.s.getClusterTemplateByUuid(t.uuid));
          assert.equal(await f.s.finishOperation({ uuid: op.uuid, owner: null, state: 'complete', destroyCluster: cluster.uuid }), true);
          assert.equal(await f.s.isClusterTemplateReferenced(t.uuid), false);
          assert.equal(await f.s.deleteClusterTemplateIfUnused(t.uuid), true);
          assert.equal(await f.s.getClusterTemplateByUuid(t.uuid), null);

          const got = await f.s.getClusterTemplatesByUuids([T['a-private'].uuid, T['b-private'].uuid, uid()]);
          assert.deepEqual(got.map((x) => x.name).sort(), ['a-private', 'b-private']);
          assert.deepEqual(await f.s.getClusterTemplatesByUuids([]), []);
        });
      });

      describe('pagination', { concurrency: 1 }, () => {
        const P = 'proj-page';
        const Q = 'proj-other';
        const mine: Cluster[] = [];
        const t = (ms: number): Date => new Date(Date.UTC(2024, 0, 1, 0, 0, 0, ms));
        // Duplicate values and NULLs in every sort column; insertion order differs from sort order.
        const rows: [string | null, number | null, Date | null, string | null][] = [
          ['charlie', 10, t(5), 'stk-b'], [null, null, t(1), null], ['alpha', 20, t(5), 'stk-a'], ['bravo', 10, null, 'stk-b'],
          ['alpha', null, t(3), null], ['delta', 5, t(1), 'stk-c'], [null, 20, t(7), 'stk-a'], ['bravo', 10, t(3), null],
          ['echo', 30, null, 'stk-d'], ['alpha', 5, t(999), 'stk-a'], ['charlie', null, t(2), 'stk-c'], [null, 10, t(5), null],
          ['bravo', 30, t(1000), 'stk-b'],
        ];

        before(async () => {
          let i = 0;
          for (const [name, size, created, stack] of rows) {
            // Another project's clusters with the same values interleave with ours.
            if (i++ % 3 === 0) await makeCluster(f.s, { project_id: Q, name, docker_volume_size: size, created_at: created, stack_id: stack });
            mine.push((await makeCluster(f.s, { project_id: P, name, docker_volume_size: size, created_at: created, stack_id: stack })).cluster);
          }
        });

        test('full list in (sort_key, id) order with NULLs lowest, for each column and direction', async () => {
          for (const sortKey of ['id', 'name', 'created_at', 'docker_volume_size', 'stack_id']) {
            for (const sortDir of ['asc', 'desc'] as const) {
              const got = await f.s.listClusters({ kind: 'project' as const, projectId: P }, { limit: 1000, sortKey, sortDir });
              assert.deepEqual(ids(got), ids(expectedOrder(mine, sortKey, sortDir)), `${sortKey} ${sortDir}`);
            }
          }
        });

        test('walking all pages after each marker gives the full sorted list, project-scoped', async () => {
          for (const sortKey of ['id', 'name', 'created_at', 'docker_volume_size', 'stack_id']) {
            for (const sortDir of ['asc', 'desc'] as const) {
              const expected = ids(expectedOrder(mine, sortKey, sortDir));
              for (const limit of [1, 5, 13]) {
                const walked = await walk((p) => f.s.listClusters({ kind: 'project' as const, projectId: P }, p), sortKey, sortDir, limit);
                assert.deepEqual(ids(walked), expected, `${sortKey} ${sortDir} limit ${limit}`);
              }
              // The view (joined with the template) pages the same way.
              assert.deepEqual(ids(await walk((p) => f.s.listClustersForView({ kind: 'project' as const, projectId: P }, p), sortKey, sortDir, 2)), expected, `view ${sortKey} ${sortDir}`);
            }
          }
        });

        test('admin walk (all projects) matches the single-page listing', async () => {
          for (const sortKey of ['name', 'docker_volume_size', 'labels', 'floating_ip_enabled']) {
            for (const sortDir of ['asc', 'desc'] as const) {
              const full = await f.s.listClusters(ALL, { limit: 1000, sortKey, sortDir });
              assert.ok(full.length > mine.length);
              assert.deepEqual(ids(await walk((p) => f.s.listClusters(ALL, p), sortKey, sortDir, 3)), ids(full), `${sortKey} ${sortDir}`);
            }
          }
        });

        test('nodegroup pages stay within the cluster and project', async () => {
          const c = mine[0].uuid;
          const ngs: Partial<NodeGroup>[] = [];
          const counts = [3, null, 1, 3, 0, null, 2];
          for (let i = 0; i < counts.length; i++) {
            ngs.push({ uuid: uid(), name: `ng-${i}`, cluster_id: c, project_id: P, role: i % 2 ? 'worker' : 'master', node_count: counts[i] as number, min_node_count: 0, max_node_count: counts[(i + 3) % counts.length] });
          }
          assert.equal(await f.s.startOperation({
            clusterUuid: c, allowed: ['CREATE_IN_PROGRESS'], clusterStatus: 'UPDATE_IN_PROGRESS', nodegroupInserts: ngs,
            operation: newOp(c, { kind: 'nodegroup_create' }), supersede: 'test',
          }), true);
          const all = await f.s.listNodeGroupsOf([c]);
          for (const sortKey of ['node_count', 'max_node_count', 'name', 'id']) {
            for (const sortDir of ['asc', 'desc'] as const) {
              const expected = ids(expectedOrder(all, sortKey, sortDir));
              for (const limit of [1, 3]) {
                const walked = await walk((p) => f.s.listNodeGroups(c, { kind: 'project' as const, projectId: P }, p), sortKey, sortDir, limit);
                assert.deepEqual(ids(walked), expected, `${sortKey} ${sortDir} limit ${limit}`);
              }
              const workers = all.filter((n) => n.role === 'worker');
              const walkedWorkers = await walk((p) => f.s.listNodeGroups(c, { kind: 'project' as const, projectId: P }, p, 'worker'), sortKey, sortDir, 2);
              assert.deepEqual(ids(walkedWorkers), ids(expectedOrder(workers, sortKey, sortDir)), `workers ${sortKey} ${sortDir}`);
            }
          }
        });

        test('quota pages stay within the project', async () => {
          const limits = [5, 1, 5, 0, 9, 1];
          for (let i = 0; i < limits.length; i++) {
            await f.s.createQuota({ project_id: `qp-${i % 2}`, resource: `r${i}`, hard_limit: limits[i] });
          }
          const all = await f.s.listQuotas({ kind: 'project', projectId: 'qp-0' }, { limit: 100, sortKey: 'id', sortDir: 'asc' });
          assert.equal(all.length, 3);
          for (const sortKey of ['hard_limit', 'resource', 'id']) {
            for (const sortDir of ['asc', 'desc'] as const) {
              const walked = await walk((p) => f.s.listQuotas({ kind: 'project', projectId: 'qp-0' }, p), sortKey, sortDir, 1);
              assert.deepEqual(ids(walked), ids(expectedOrder(all, sortKey, sortDir)), `${sortKey} ${sortDir}`);
            }
          }
        });
      });

      describe('clusters and operations', { concurrency: 1 }, () => {

        test('createClusterWithOperation: cluster, nodegroups and a pending operation', async () => {
          const p = project();
          const { cluster, nodegroups, op } = await makeCluster(f.s, { project_id: p });
          assert.equal(cluster.status, 'CREATE_IN_PROGRESS');
          assert.deepEqual((await f.s.listNodeGroupsOf([cluster.uuid])).map((n) => n.uuid), nodegroups.map((n) => n.uuid));
          const ops = await f.s.listOperations(cluster.uuid);
          assert.deepEqual(ops.map((o) => [o.uuid, o.state, o.attempts, o.owner]), [[op.uuid, 'pending', 0, null]]);
        });

        test('createClusterWithOperation is atomic: a failing nodegroup insert leaves no cluster and no operation', async () => {
          const before = await f.s.tableCounts();
          const c = uid();
          const ngs = defaultNodeGroups(c, 'p');
          const op = newOp(c);
          await assert.rejects(
            f.s.createClusterWithOperation({ uuid: c, project_id: 'p', status: 'CREATE_IN_PROGRESS' }, [...ngs, { ...ngs[0], uuid: uid() }], op),
            UniqueViolation,
          );
          assert.equal(await f.s.getClusterByUuid(c), null);
          assert.equal(await f.s.getOperation(op.uuid), null);
          assert.deepEqual(await f.s.listNodeGroupsOf([c]), []);
          assert.deepEqual(await f.s.tableCounts(), before);
          // A failing operation insert (duplicate operation uuid) also rolls everything back.
          const { op: existing } = await makeCluster(f.s);
          const c2 = uid();
          await assert.rejects(f.s.createClusterWithOperation({ uuid: c2, status: 'CREATE_IN_PROGRESS' }, defaultNodeGroups(c2, 'p'), newOp(c2, { uuid: existing.uuid })), UniqueViolation);
          assert.equal(await f.s.getClusterByUuid(c2), null);
          assert.deepEqual(await f.s.listNodeGroupsOf([c2]), []);
        });

        test('createClustersWithOperations: several creates in one write, each with its events; one bad create leaves none of them', async () => {
          const p = project();
          const creates = [0, 1, 2].map((i) => {
            const c = uid();
            const op = newOp(c);
            return { cluster: { uuid: c, name: `batch-${i}`, project_id: p, status: 'CREATE_IN_PROGRESS' as const, labels: { i: String(i) } }, nodegroups: defaultNodeGroups(c, p), op, event: { cluster_id: c, operation_id: op.uuid, step: 'cluster_create', outcome: 'info' as const, message: 'Create requested.' } };
          });
          await f.s.createClustersWithOperations(creates);
          for (const [i, c] of creates.entries()) {
            const got = await f.s.getClusterByUuid(c.cluster.uuid);
            assert.deepEqual([got?.name, got?.labels, got?.status], [`batch-${i}`, { i: String(i) }, 'CREATE_IN_PROGRESS']);
            assert.deepEqual((await f.s.listNodeGroupsOf([c.cluster.uuid])).map((n) => n.uuid).sort(), c.nodegroups.map((n) => n.uuid).sort());
            assert.deepEqual((await f.s.listOperations(c.cluster.uuid)).map((o) => [o.uuid, o.state]), [[c.op.uuid, 'pending']]);
            assert.deepEqual((await f.s.listEvents(c.cluster.uuid, { limit: 10 })).map((e) => [e.operation_id, e.message]), [[c.op.uuid, 'Create requested.']]);
          }
          assert.deepEqual(await f.s.clusterQuotaUsage(p), { hardLimit: null, count: 3 });
          // The third create reuses the first's operation uuid: nothing of the batch is written.
          const before = await f.s.tableCounts();
          const again = [0, 1, 2].map(() => {
            const c = uid();
            return { cluster: { uuid: c, project_id: p, status: 'CREATE_IN_PROGRESS' as const }, nodegroups: defaultNodeGroups(c, p), op: newOp(c) };
          });
          again[2].op.uuid = again[0].op.uuid;
          await assert.rejects(f.s.createClustersWithOperations(again), UniqueViolation);
          assert.deepEqual(await f.s.tableCounts(), before);
          for (const c of again) assert.equal(await f.s.getClusterByUuid(c.cluster.uuid), null);
        });

        test('clusterQuotaUsage: concurrent reads of several projects (read together) each get their own count and limit', async () => {
          const ps = [project(), project(), project(), project()];
          for (const [i, p] of ps.entries()) for (let k = 0; k < i; k++) await makeCluster(f.s, { project_id: p });
          await f.s.createQuota({ project_id: ps[1], resource: 'Cluster', hard_limit: 7 });
          await f.s.createQuota({ project_id: ps[2], resource: 'Cluster', hard_limit: 0 });
          await f.s.createQuota({ project_id: ps[3], resource: 'Volume', hard_limit: 9 });
          const asked = [...ps, ...ps, 'p-none'];
          const got = await Promise.all(asked.map((p) => f.s.clusterQuotaUsage(p)));
          const want = (p: string) => ({ [ps[0]]: { hardLimit: null, count: 0 }, [ps[1]]: { hardLimit: 7, count: 1 }, [ps[2]]: { hardLimit: 0, count: 2 }, [ps[3]]: { hardLimit: null, count: 3 } })[p] ?? { hardLimit: null, count: 0 };
          assert.deepEqual(got, asked.map(want));
        });

        test('clusterQuotaUsage: the count the database keeps follows every insert, delete and move of a cluster, whoever writes it', async () => {
          const [p, q] = [project(), project()];
          const usage = async () => [(await f.s.clusterQuotaUsage(p)).count, (await f.s.clusterQuotaUsage(q)).count, await f.s.countClusters(p), await f.s.countClusters(q)];
          const [c1, c2] = [uid(), uid()];
          await makeCluster(f.s, { uuid: c1, project_id: p });
          await makeCluster(f.s, { uuid: c2, project_id: p });
          assert.deepEqual(await usage(), [2, 0, 2, 0]);
          // Written with plain SQL (a seeding script, a person): counted alike.
          const c3 = uid();
          await f.s.conn.db.insertInto('cluster').values(toRow(f.s.conn, 'cluster', { uuid: c3, project_id: q, name: 'by-hand', status: 'CREATE_COMPLETE', created_at: new Date() })).execute();
          const c4 = uid();
          await f.s.conn.db.insertInto('cluster').values(toRow(f.s.conn, 'cluster', { uuid: c4, project_id: null, name: 'no-project', status: 'CREATE_COMPLETE', created_at: new Date() })).execute();
          assert.deepEqual(await usage(), [2, 1, 2, 1]);
          // Moved to another project; an update of other columns leaves the counts alone.
          await f.s.conn.db.updateTable('cluster').set({ project_id: q }).where('uuid', '=', c2).execute();
          await f.s.conn.db.updateTable('cluster').set({ name: 'renamed', project_id: q }).where('uuid', '=', c2).execute();
          await f.s.updateCluster(c1, { status: 'UPDATE_IN_PROGRESS' });
          assert.deepEqual(await usage(), [1, 2, 1, 2]);
          await f.s.destroyCluster(c2);
          await f.s.conn.db.deleteFrom('cluster').where('uuid', 'in', [c3, c4]).execute();
          assert.deepEqual(await usage(), [1, 0, 1, 0]);
          // A batch of creates of both projects, in either order, from two connection pools at once
          // (one pool on SQLite: a second pool in this process would wait on the first's lock with the event loop blocked).
          const second = f.s.conn.dialect === 'sqlite' ? f.s : f.s2;
          const batch = (ps: string[]) => ps.map((pid) => {
            const c = uid();
            return { cluster: { uuid: c, project_id: pid, status: 'CREATE_IN_PROGRESS' as const }, nodegroups: defaultNodeGroups(c, pid), op: newOp(c) };
          });
          await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? f.s : second).createClustersWithOperations(batch(i % 2 ? [p, q, p] : [q, p, q]))));
          assert.deepEqual(await usage(), [16, 15, 16, 15]);
        });

        test('clusterQuotaUsage: a batched read serves every request that joined it, also once the client of the request that started it has gone', async () => {
          const [a, b] = [project(), project()];
          await makeCluster(f.s, { project_id: b });
          const goneA = { aborted: false };
          // A starts the batched reads (its own read goes out at once); B's project is read next, in the same run of batches.
          const first = runInRequestScope(goneA, () => f.s.clusterQuotaUsage(a));
          const second = runInRequestScope({ aborted: false }, () => f.s.clusterQuotaUsage(b));
          goneA.aborted = true;
          await first.catch(() => undefined);
          assert.deepEqual(await second, { hardLimit: null, count: 1 });
        });

        /** A cluster whose create finished, with no active operation. */
        async function settled(values: Partial<Cluster> = {}) {
          const made = await makeCluster(f.s, values);
          assert.equal(await f.s.finishOperation({ uuid: made.op.uuid, owner: null, state: 'complete', cluster: { uuid: made.cluster.uuid, changes: { status: 'CREATE_COMPLETE' } } }), true);
          return made;
        }

        test('startOperation: from an allowed status applies cluster and nodegroup changes and inserts the operation', async () => {
          const { cluster, nodegroups } = await settled({ status_reason: 'was here' as never });
          const newNg = { uuid: uid(), name: 'extra', cluster_id: cluster.uuid, project_id: cluster.project_id, role: 'worker', node_count: 4, min_node_count: 0 };
          const op = newOp(cluster.uuid, { kind: 'cluster_resize', params: { node_count: 5 }, nodegroup_id: nodegroups[1].uuid! });
          assert.equal(await f.s.startOperation({
            clusterUuid: cluster.uuid, allowed: ['CREATE_COMPLETE', 'UPDATE_COMPLETE'], clusterStatus: 'UPDATE_IN_PROGRESS',
            clusterChanges: { labels: { changed: 'yes' } },
            nodegroupInserts: [newNg], nodegroupChanges: { [nodegroups[1].uuid!]: { node_count: 5, status: 'UPDATE_IN_PROGRESS' } },
            operation: op,
          }), true);
          const c = await f.s.getClusterByUuid(cluster.uuid);
          assertFields(c as never, { status: 'UPDATE_IN_PROGRESS', status_reason: null, labels: { changed: 'yes' } }, 'cluster');
          const ngs = await f.s.listNodeGroupsOf([cluster.uuid]);
          assert.deepEqual(ngs.map((n) => [n.name, n.node_count, n.status]), [['default-master', 1, null], ['default-worker', 5, 'UPDATE_IN_PROGRESS'], ['extra', 4, null]]);
          const got = await f.s.getOperation(op.uuid);
          assertFields(got as never, { state: 'pending', kind: 'cluster_resize', params: { node_count: 5 }, nodegroup_id: nodegroups[1].uuid, attempts: 0 }, 'op');
        });

        test('startOperation: a status not in allowed is refused with no change', async () => {
          const { cluster } = await settled();
          const before = await f.s.tableCounts();
          const op = newOp(cluster.uuid, { kind: 'cluster_update' });
          assert.equal(await f.s.startOperation({
            clusterUuid: cluster.uuid, allowed: ['UPDATE_FAILED'], clusterStatus: 'UPDATE_IN_PROGRESS',
            clusterChanges: { name: 'changed' }, nodegroupInserts: [{ uuid: uid(), name: 'x', cluster_id: cluster.uuid, role: 'worker', node_count: 1 }],
            operation: op,
          }), false);
          assertFields((await f.s.getClusterByUuid(cluster.uuid)) as never, { status: 'CREATE_COMPLETE', name: null }, 'cluster');
          assert.equal(await f.s.getOperation(op.uuid), null);
          assert.deepEqual(await f.s.tableCounts(), before);
          // An unknown cluster is refused too.
          assert.equal(await f.s.startOperation({ clusterUuid: uid(), allowed: ['CREATE_COMPLETE'], clusterStatus: 'UPDATE_IN_PROGRESS', operation: newOp(uid()) }), false);
          assert.deepEqual(await f.s.tableCounts(), before);
        });

        test('startOperation: one active operation per cluster', async () => {
          // The create operation is still pending: even an allowed status does not start a second one.
          const { cluster, op: createOp } = await makeCluster(f.s);
          const op = newOp(cluster.uuid, { kind: 'cluster_delete' });
          assert.equal(await f.s.startOperation({ clusterUuid: cluster.uuid, allowed: ['CREATE_IN_PROGRESS'], clusterStatus: 'DELETE_IN_PROGRESS', operation: op }), false);
          assert.equal(await f.s.getOperation(op.uuid), null);
          assert.equal((await f.s.getClusterByUuid(cluster.uuid))?.status, 'CREATE_IN_PROGRESS');
          // Running (claimed) counts as active as well.
          assert.equal(await f.s.claimOperation(createOp.uuid, 'w', new Date(Date.now() + HOUR), new Date()), true);
          assert.equal(await f.s.startOperation({ clusterUuid: cluster.uuid, allowed: ['CREATE_IN_PROGRESS'], clusterStatus: 'DELETE_IN_PROGRESS', operation: op }), false);
          // Once it finished, the next one starts.
          assert.equal(await f.s.finishOperation({ uuid: createOp.uuid, owner: 'w', state: 'failed', error: 'boom' }), true);
          assert.equal(await f.s.startOperation({ clusterUuid: cluster.uuid, allowed: ['CREATE_IN_PROGRESS'], clusterStatus: 'DELETE_IN_PROGRESS', operation: op }), true);
          assert.deepEqual((await f.s.listOperations(cluster.uuid)).map((o) => [o.uuid, o.state, o.last_error]), [[createOp.uuid, 'failed', 'boom'], [op.uuid, 'pending', null]]);
        });

        test('startOperation: concurrent starts on one cluster, exactly one wins', async () => {
          const { cluster } = await settled();
          // One pool (8 connections): concurrent transactions on PostgreSQL and MariaDB; SQLite has one connection.
          const starts = Array.from({ length: 8 }, () => f.s.startOperation({
            clusterUuid: cluster.uuid, allowed: ['CREATE_COMPLETE'], clusterStatus: 'UPDATE_IN_PROGRESS', operation: newOp(cluster.uuid, { kind: 'cluster_update' }),
          }));
          const results = await Promise.all(starts);
          assert.equal(results.filter(Boolean).length, 1, JSON.stringify(results));
          assert.equal((await f.s.listOperations(cluster.uuid)).filter((o) => o.state === 'pending').length, 1);
        });

        test('startOperation with supersede: the active operation fails with the reason, the new one starts', async () => {
          const { cluster, op: createOp } = await makeCluster(f.s);
          assert.equal(await f.s.claimOperation(createOp.uuid, 'w', new Date(Date.now() + HOUR), new Date()), true);
          const del = newOp(cluster.uuid, { kind: 'cluster_delete' });
          assert.equal(await f.s.startOperation({
            clusterUuid: cluster.uuid, allowed: ['CREATE_IN_PROGRESS', 'CREATE_COMPLETE'], clusterStatus: 'DELETE_IN_PROGRESS', operation: del, supersede: 'Cancelled.',
          }), true);
          const ops = await f.s.listOperations(cluster.uuid);
          assert.deepEqual(ops.map((o) => [o.uuid, o.state, o.last_error]), [[createOp.uuid, 'failed', 'Cancelled.'], [del.uuid, 'pending', null]]);
          assert.equal((await f.s.getClusterByUuid(cluster.uuid))?.status, 'DELETE_IN_PROGRESS');
          // The superseded owner can no longer write.
          assert.equal(await f.s.saveOperationStep(createOp.uuid, 'w', 'late'), false);
          assert.equal(await f.s.finishOperation({ uuid: createOp.uuid, owner: 'w', state: 'complete', cluster: { uuid: cluster.uuid, changes: { status: 'CREATE_COMPLETE' } } }), false);
          assert.equal((await f.s.getClusterByUuid(cluster.uuid))?.status, 'DELETE_IN_PROGRESS');
        });

        test('startOperation with supersede from a status not allowed changes nothing (the active operation keeps running)', async () => {
          // A second DELETE while the first is under way: refused, and the running delete must survive.
          const { cluster, op: createOp } = await makeCluster(f.s);
          const del1 = newOp(cluster.uuid, { kind: 'cluster_delete' });
          assert.equal(await f.s.startOperation({ clusterUuid: cluster.uuid, allowed: ['CREATE_IN_PROGRESS'], clusterStatus: 'DELETE_IN_PROGRESS', operation: del1, supersede: 'Cancelled.' }), true);
          assert.equal(await f.s.claimOperation(del1.uuid, 'w', new Date(Date.now() + HOUR), new Date()), true);
          const del2 = newOp(cluster.uuid, { kind: 'cluster_delete' });
          assert.equal(await f.s.startOperation({ clusterUuid: cluster.uuid, allowed: ['CREATE_IN_PROGRESS', 'CREATE_COMPLETE'], clusterStatus: 'DELETE_IN_PROGRESS', operation: del2, supersede: 'Cancelled again.' }), false);
          const ops = await f.s.listOperations(cluster.uuid);
          assert.deepEqual(ops.map((o) => [o.uuid, o.state, o.owner]), [[createOp.uuid, 'failed', null], [del1.uuid, 'running', 'w']]);
        });

        test('startOperation is atomic: a failing nodegroup insert leaves cluster and operations untouched', async () => {
          const { cluster, nodegroups, op: createOp } = await makeCluster(f.s);
          const before = await f.s.tableCounts();
          const op = newOp(cluster.uuid, { kind: 'nodegroup_create' });
          await assert.rejects(f.s.startOperation({
            clusterUuid: cluster.uuid, allowed: ['CREATE_IN_PROGRESS'], clusterStatus: 'UPDATE_IN_PROGRESS', supersede: 'x',
            nodegroupInserts: [{ uuid: uid(), name: nodegroups[0].name, cluster_id: cluster.uuid, role: 'worker', node_count: 1 }],
            operation: op,
          }), UniqueViolation);
          assert.equal((await f.s.getClusterByUuid(cluster.uuid))?.status, 'CREATE_IN_PROGRESS');
          assert.equal((await f.s.getOperation(createOp.uuid))?.state, 'pending');
          assert.equal(await f.s.getOperation(op.uuid), null);
          assert.deepEqual(await f.s.tableCounts(), before);
        });

        test('writers on 3 connections (2 threads, like separate processes, and this one) race on 3 clusters: no errors, one active operation per cluster', async (t) => {
          const clusters: string[] = [];
          for (let i = 0; i < 3; i++) clusters.push((await settled()).cluster.uuid);
          const plan = { clusters, loops: 3, iterations: 40 };
          const t0 = Date.now();
          await writers.ready;
          const t1 = Date.now();
          const tallies = await Promise.all([...writers.run({ url: f.url, ...plan }), race(f.s2, plan)]);
          t.diagnostic(`waited ${t1 - t0} ms for the threads, raced for ${Date.now() - t1} ms`);
          const total: Record<string, number> = {};
          for (const tally of tallies) for (const [k, n] of Object.entries(tally)) total[k] = (total[k] ?? 0) + n;
          const bad = Object.keys(total).filter((k) => k.startsWith('error:') || k === 'two_active');
          assert.deepEqual(bad, [], JSON.stringify(total));
          for (const k of ['start:true', 'supersede:true', 'finish:true']) assert.ok(total[k] > 0, `${k}: ${JSON.stringify(total)}`);
          for (const c of clusters) {
            assert.ok((await f.s.listOperations(c)).filter((o) => o.state === 'pending' || o.state === 'running').length <= 1, c);
          }
        });

        test('claimOperation: one of 10 concurrent claimers wins; attempts counts claims', async () => {
          const { op } = await makeCluster(f.s);
          const now = new Date();
          const lease = new Date(now.getTime() + 60_000);
          const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? f.s : f.s2).claimOperation(op.uuid, `owner-${i}`, lease, now)));
          assert.equal(results.filter(Boolean).length, 1, JSON.stringify(results));
          const winner = `owner-${results.indexOf(true)}`;
          const got = await f.s.getOperation(op.uuid);
          assertFields(got as never, { state: 'running', owner: winner, lease_expires_at: lease, attempts: 1 }, 'claimed');
          // Nobody else, the winner included, takes it while the lease holds.
          assert.equal(await f.s.claimOperation(op.uuid, 'late', lease, new Date(lease.getTime() - 1)), false);
          assert.equal(await f.s.claimOperation(op.uuid, winner, lease, now), false);
        });

        test('claimOperation: an expired lease is re-claimed (ms precision), attempts increments; finished ones are not', async () => {
          const { op } = await makeCluster(f.s);
          const t0 = new Date('2025-05-05T05:05:05.500Z');
          const lease = new Date(t0.getTime() + 1_234);
          assert.equal(await f.s.claimOperation(op.uuid, 'a', lease, t0), true);
          assert.equal(await f.s.claimOperation(op.uuid, 'b', new Date(lease.getTime() + 60_000), lease), false, 'at the lease instant it still holds');
          const later = new Date(lease.getTime() + 1);
          const lease2 = new Date(later.getTime() + 60_000);
          assert.equal(await f.s.claimOperation(op.uuid, 'b', lease2, later), true, '1 ms after it expired');
          assertFields((await f.s.getOperation(op.uuid)) as never, { owner: 'b', attempts: 2, state: 'running', lease_expires_at: lease2 }, 'reclaimed');
          // The old owner lost every write.
          assert.deepEqual(await f.s.renewLeases('a', [op.uuid], new Date(lease2.getTime() + 1)), []);
          assert.equal(await f.s.saveOperationStep(op.uuid, 'a', 'x'), false);
          assert.equal(await f.s.finishOperation({ uuid: op.uuid, owner: 'a', state: 'complete' }), false);
          assert.equal(await f.s.finishOperation({ uuid: op.uuid, owner: 'b', state: 'complete' }), true);
          assert.equal(await f.s.claimOperation(op.uuid, 'c', new Date(Date.now() + HOUR), new Date(Date.now() + 2 * HOUR)), false, 'complete');
          assertFields((await f.s.getOperation(op.uuid)) as never, { state: 'complete', attempts: 2, lease_expires_at: null }, 'finished');
          assert.equal(await f.s.claimOperation(uid(), 'c', new Date(), new Date()), false, 'unknown');
        });

        test('releaseOperation: only the owner gives it back; then it can be claimed again', async () => {
          const { op } = await makeCluster(f.s);
          const now = new Date();
          assert.equal(await f.s.claimOperation(op.uuid, 'a', new Date(now.getTime() + HOUR), now), true);
          await f.s.releaseOperation(op.uuid, 'b');
          assert.equal((await f.s.getOperation(op.uuid))?.owner, 'a');
          await f.s.releaseOperation(op.uuid, 'a');
          assertFields((await f.s.getOperation(op.uuid)) as never, { owner: null, lease_expires_at: null, state: 'running' }, 'released');
          assert.equal(await f.s.claimOperation(op.uuid, 'b', new Date(now.getTime() + HOUR), now), true);
          assert.equal((await f.s.getOperation(op.uuid))?.attempts, 2);
        });

        test('renewLeases: one statement renews the given running operations of one owner and names them', async () => {
          const now = new Date();
          const soon = new Date(now.getTime() + 1000);
          const ops = [];
          for (let i = 0; i < 5; i++) ops.push((await makeCluster(f.s)).op);
          const [mine1, mine2, theirs, pending, ended] = ops;
          for (const o of [mine1, mine2, ended]) assert.equal(await f.s.claimOperation(o.uuid, 'a', soon, now), true);
          assert.equal(await f.s.claimOperation(theirs.uuid, 'b', soon, now), true);
          assert.equal(await f.s.finishOperation({ uuid: ended.uuid, owner: 'a', state: 'complete', error: null }), true);
          const theirsBefore = (await f.s.getOperation(theirs.uuid))?.lease_expires_at?.getTime();
          const renewed = new Date('2040-01-01T00:00:00.123Z');
          const held = await f.s.renewLeases('a', ops.map((o) => o.uuid), renewed);
          assert.deepEqual(held.sort(), [mine1.uuid, mine2.uuid].sort());
          for (const o of [mine1, mine2]) assert.equal((await f.s.getOperation(o.uuid))?.lease_expires_at?.toISOString(), renewed.toISOString());
          assert.equal((await f.s.getOperation(theirs.uuid))?.lease_expires_at?.getTime(), theirsBefore, 'another owner\'s lease is untouched');
          assert.equal((await f.s.getOperation(pending.uuid))?.lease_expires_at, null);
          assert.deepEqual(await f.s.renewLeases('a', [], renewed), []);
        });

        test('renewLeases and saveOperationStep: only for the owner of a running operation', async () => {
          const { op } = await makeCluster(f.s, {}, { op: { params: { keep: 'me' } } });
          assert.deepEqual(await f.s.renewLeases('a', [op.uuid], new Date()), [], 'pending: nobody owns it');
          assert.equal(await f.s.saveOperationStep(op.uuid, 'a', 's'), false, 'pending: nobody owns it');
          const now = new Date();
          assert.equal(await f.s.claimOperation(op.uuid, 'a', new Date(now.getTime() + 1000), now), true);
          const renewed = new Date('2040-01-01T00:00:00.123Z');
          assert.deepEqual(await f.s.renewLeases('b', [op.uuid], new Date(renewed.getTime() + 5)), []);
          assert.deepEqual(await f.s.renewLeases('a', [op.uuid], renewed), [op.uuid]);
          assert.equal((await f.s.getOperation(op.uuid))?.lease_expires_at?.toISOString(), renewed.toISOString());
          assert.equal(await f.s.saveOperationStep(op.uuid, 'b', 'wrong', { evil: true }), false);
          assert.equal(await f.s.saveOperationStep(op.uuid, 'a', 'stack_created'), true);
          assertFields((await f.s.getOperation(op.uuid)) as never, { step: 'stack_created', params: { keep: 'me' } }, 'step only');
          assert.equal(await f.s.saveOperationStep(op.uuid, 'a', 'nodes_ready', { keep: 'me', stack: 'ü🚀', n: [1, 2] }), true);
          assertFields((await f.s.getOperation(op.uuid)) as never, { step: 'nodes_ready', params: { keep: 'me', stack: 'ü🚀', n: [1, 2] }, owner: 'a' }, 'step and params');
        });

        test('saveStepOutcome: step, params, cluster and nodegroup changes in one transaction, only for the owner', async () => {
          const { cluster, nodegroups, op } = await makeCluster(f.s, {}, { op: { params: { keep: 'me' } } });
          const [master, worker] = nodegroups.map((n) => n.uuid!);
          const outcome = {
            uuid: op.uuid, step: 'nodes_ready', params: { keep: 'me', state: { net: 'n1' } },
            cluster: { uuid: cluster.uuid, changes: { api_address: 'tcp://127.0.0.1:40001', coe_version: '24.0' } },
            nodegroups: { [worker]: { node_addresses: ['10.0.0.3', '10.0.0.4'] } },
          };
          assert.equal(await f.s.saveStepOutcome({ ...outcome, owner: 'a' }), false, 'pending: nobody owns it');
          const now = new Date();
          assert.equal(await f.s.claimOperation(op.uuid, 'a', new Date(now.getTime() + HOUR), now), true);
          assert.equal(await f.s.saveStepOutcome({ ...outcome, owner: 'b' }), false, 'another owner');
          assert.equal((await f.s.getClusterByUuid(cluster.uuid))?.api_address, null, 'nothing written for another owner');
          assert.equal((await f.s.getOperation(op.uuid))?.step, null);
          assert.equal(await f.s.saveStepOutcome({ ...outcome, owner: 'a' }), true);
          assertFields((await f.s.getOperation(op.uuid)) as never, { step: 'nodes_ready', params: { keep: 'me', state: { net: 'n1' } }, owner: 'a' }, 'operation');
          assertFields((await f.s.getClusterByUuid(cluster.uuid)) as never, { api_address: 'tcp://127.0.0.1:40001', coe_version: '24.0', status: 'CREATE_IN_PROGRESS' }, 'cluster');
          assert.deepEqual((await f.s.listNodeGroupsOf([cluster.uuid])).find((n) => n.uuid === worker)?.node_addresses, ['10.0.0.3', '10.0.0.4']);
          // A change that fails (a nodegroup renamed onto its sibling's name) rolls back the step and the cluster change too.
          await assert.rejects(f.s.saveStepOutcome({
            uuid: op.uuid, owner: 'a', step: 'later', params: { keep: 'no' },
            cluster: { uuid: cluster.uuid, changes: { api_address: 'tcp://127.0.0.1:1' } },
            nodegroups: { [worker]: { node_count: 7 }, [master]: { name: 'default-worker' } },
          }), /unique|duplicate/i);
          assertFields((await f.s.getOperation(op.uuid)) as never, { step: 'nodes_ready', params: { keep: 'me', state: { net: 'n1' } } }, 'operation after the rollback');
          assert.equal((await f.s.getClusterByUuid(cluster.uuid))?.api_address, 'tcp://127.0.0.1:40001', 'cluster after the rollback');
          assert.equal((await f.s.listNodeGroupsOf([cluster.uuid])).find((n) => n.uuid === worker)?.node_count, 2, 'nodegroup after the rollback');
          // A finished operation takes no more outcomes.
          assert.equal(await f.s.finishOperation({ uuid: op.uuid, owner: 'a', state: 'complete' }), true);
          assert.equal(await f.s.saveStepOutcome({ ...outcome, owner: 'a', step: 'after' }), false);
          assert.equal((await f.s.getOperation(op.uuid))?.step, 'nodes_ready');
        });

        test('image loads: start, renew only by the owner, stale once the lease ran out, ended once; gone with the cluster', async () => {
          const { cluster } = await makeCluster(f.s);
          const uuid = uid();
          const now = Date.now();
          await f.s.startImageLoad({ uuid, cluster_id: cluster.uuid, file: 'a/b.tar', owner: 'c1', lease_expires_at: new Date(now + 60_000), deadline_at: new Date(now + HOUR) });
          assertFields((await f.s.getImageLoad(uuid)) as never, { state: 'running', owner: 'c1', file: 'a/b.tar', last_error: null, deadline_at: new Date(now + HOUR) }, 'started');
          await assert.rejects(f.s.startImageLoad({ uuid, cluster_id: cluster.uuid, file: 'x', owner: 'c2', lease_expires_at: null, deadline_at: new Date() }), UniqueViolation);
          assert.ok(!(await f.s.listStaleImageLoads(new Date(now))).some((l) => l.uuid === uuid), 'lease live: not stale');
          assert.equal(await f.s.renewImageLoad(uuid, 'c2', new Date(now + 120_000)), false);
          assert.equal(await f.s.renewImageLoad(uuid, 'c1', new Date(now + 1_000)), true);
          assert.ok((await f.s.listStaleImageLoads(new Date(now + 2_000))).some((l) => l.uuid === uuid), 'lease ran out: stale');
          assert.equal(await f.s.finishImageLoad(uuid, 'c2', 'complete', null), false, 'not the owner');
          assert.equal(await f.s.finishImageLoad(uuid, null, 'failed', 'swept'), true);
          assert.equal(await f.s.finishImageLoad(uuid, 'c1', 'complete', null), false, 'ended once');
          assert.equal(await f.s.renewImageLoad(uuid, 'c1', new Date(now + 1_000)), false, 'an ended load is not renewed');
          assertFields((await f.s.getImageLoad(uuid)) as never, { state: 'failed', last_error: 'swept', lease_expires_at: null }, 'ended');
          assert.ok(!(await f.s.listStaleImageLoads(new Date(now + HOUR * 2))).some((l) => l.uuid === uuid));
          await f.s.destroyCluster(cluster.uuid);
          assert.equal(await f.s.getImageLoad(uuid), null);
        });

        test('finishOperation: owner check, final cluster and nodegroup changes, nodegroup removal; only once', async () => {
          const { cluster, nodegroups, op } = await makeCluster(f.s);
          const now = new Date();
          assert.equal(await f.s.claimOperation(op.uuid, 'a', new Date(now.getTime() + HOUR), now), true);
          const fin = {
            uuid: op.uuid, state: 'complete' as const,
            cluster: { uuid: cluster.uuid, changes: { status: 'CREATE_COMPLETE' as const, api_address: 'https://1.2.3.4:6443', health_status_reason: { api: 'ok' } } },
            nodegroups: { [nodegroups[0].uuid!]: { status: 'CREATE_COMPLETE' as const, node_addresses: ['10.0.0.1'] } },
            destroyNodeGroups: [nodegroups[1].uuid!],
          };
          assert.equal(await f.s.finishOperation({ ...fin, owner: 'b' }), false);
          assert.equal((await f.s.getClusterByUuid(cluster.uuid))?.status, 'CREATE_IN_PROGRESS');
          assert.equal((await f.s.listNodeGroupsOf([cluster.uuid])).length, 2);
          assert.equal(await f.s.finishOperation({ ...fin, owner: 'a' }), true);
          assertFields((await f.s.getOperation(op.uuid)) as never, { state: 'complete', last_error: null, lease_expires_at: null }, 'op');
          assertFields((await f.s.getClusterByUuid(cluster.uuid)) as never, { status: 'CREATE_COMPLETE', api_address: 'https://1.2.3.4:6443', health_status_reason: { api: 'ok' } }, 'cluster');
          const ngs = await f.s.listNodeGroupsOf([cluster.uuid]);
          assert.deepEqual(ngs.map((n) => [n.uuid, n.status, n.node_addresses]), [[nodegroups[0].uuid, 'CREATE_COMPLETE', ['10.0.0.1']]]);
          assert.equal(await f.s.finishOperation({ ...fin, owner: 'a', state: 'failed', error: 'again' }), false, 'already finished');
          assert.equal(await f.s.finishOperation({ uuid: op.uuid, owner: null, state: 'failed' }), false, 'already finished, no owner');
          assert.equal((await f.s.getOperation(op.uuid))?.state, 'complete');
        });

        test('finishOperation with destroyCluster removes the cluster, its nodegroups, operations and events only', async () => {
          const { cluster, op } = await makeCluster(f.s);
          const { cluster: other, op: otherOp } = await makeCluster(f.s);
          await f.s.appendEvent({ cluster_id: cluster.uuid, operation_id: op.uuid, step: 's', outcome: 'started', message: null });
          await f.s.appendEvent({ cluster_id: other.uuid, operation_id: otherOp.uuid, step: 's', outcome: 'started', message: null });
          await f.s.intendResource(cluster.uuid, 'container', 'master-0');
          await f.s.intendResource(cluster.uuid, 'network', 'net');
          await f.s.intendResource(other.uuid, 'network', 'net');
          assert.equal(await f.s.finishOperation({ uuid: op.uuid, owner: null, state: 'complete' }), true);
          const del = newOp(cluster.uuid, { kind: 'cluster_delete' });
          assert.equal(await f.s.startOperation({ clusterUuid: cluster.uuid, allowed: ['CREATE_IN_PROGRESS'], clusterStatus: 'DELETE_IN_PROGRESS', operation: del }), true);
          assert.equal(await f.s.claimOperation(del.uuid, 'a', new Date(Date.now() + HOUR), new Date()), true);
          const before = await f.s.tableCounts();
          assert.equal(await f.s.finishOperation({ uuid: del.uuid, owner: 'a', state: 'complete', destroyCluster: cluster.uuid }), true);
          assert.equal(await f.s.getClusterByUuid(cluster.uuid), null);
          assert.deepEqual(await f.s.listNodeGroupsOf([cluster.uuid]), []);
          assert.deepEqual(await f.s.listOperations(cluster.uuid), []);
          assert.deepEqual(await f.s.listEvents(cluster.uuid, { limit: 10 }), []);
          assert.deepEqual(await f.s.listResources(cluster.uuid, { includeRemoved: true }), []);
          assert.deepEqual(await f.s.tableCounts(), {
            ...before, cluster: before.cluster - 1, nodegroup: before.nodegroup - 2, operation: before.operation - 2, cluster_event: before.cluster_event - 1, cluster_resource: before.cluster_resource - 2,
          });
          // The other cluster is untouched.
          assert.ok(await f.s.getClusterByUuid(other.uuid));
          assert.equal((await f.s.listNodeGroupsOf([other.uuid])).length, 2);
          assert.equal((await f.s.listOperations(other.uuid)).length, 1);
          assert.equal((await f.s.listEvents(other.uuid, { limit: 10 })).length, 1);
          assert.equal((await f.s.listResources(other.uuid)).length, 1);
        });

        test('destroyCluster removes the cluster, its nodegroups, operations and events only', async () => {
          const { cluster } = await makeCluster(f.s);
          const { cluster: other } = await makeCluster(f.s);
          await f.s.appendEvent({ cluster_id: cluster.uuid, operation_id: null, step: 's', outcome: 'info', message: null });
          await f.s.intendResource(cluster.uuid, 'volume', 'v');
          await f.s.intendResource(other.uuid, 'volume', 'v');
          await f.s.destroyCluster(cluster.uuid);
          assert.deepEqual(await f.s.listResources(cluster.uuid, { includeRemoved: true }), []);
          assert.equal((await f.s.listResources(other.uuid)).length, 1);
          assert.equal(await f.s.getClusterByUuid(cluster.uuid), null);
          assert.deepEqual(await f.s.listNodeGroupsOf([cluster.uuid]), []);
          assert.deepEqual(await f.s.listOperations(cluster.uuid), []);
          assert.deepEqual(await f.s.listEvents(cluster.uuid, { limit: 10 }), []);
          assert.equal((await f.s.listNodeGroupsOf([other.uuid])).length, 2);
          await f.s.destroyCluster(uid()); // unknown: a no-op
        });

        test('listStaleOperations: unowned, lease expired or past deadline; not held or finished', async () => {
          const now = new Date('2026-01-01T00:00:00.500Z');
          const future = new Date(now.getTime() + HOUR);
          const mk = async (deadline: Date) => (await makeCluster(f.s, {}, { op: { deadline_at: deadline } })).op.uuid;
          const unowned = await mk(future);
          const held = await mk(future);
          const expired = await mk(future);
          const leaseAtNow = await mk(future);
          const pastDeadline = await mk(new Date(now.getTime() - 1));
          const deadlineAtNow = await mk(now);
          const finished = await mk(new Date(now.getTime() - HOUR));
          const claimAt = new Date(now.getTime() - 60_000);
          assert.equal(await f.s.claimOperation(held, 'w', future, claimAt), true);
          assert.equal(await f.s.claimOperation(expired, 'w', new Date(now.getTime() - 1), claimAt), true);
          assert.equal(await f.s.claimOperation(leaseAtNow, 'w', now, claimAt), true);
          assert.equal(await f.s.claimOperation(pastDeadline, 'w', future, claimAt), true);
          assert.equal(await f.s.claimOperation(deadlineAtNow, 'w', future, claimAt), true);
          assert.equal(await f.s.finishOperation({ uuid: finished, owner: null, state: 'failed' }), true);
          const mine = new Set([unowned, held, expired, leaseAtNow, pastDeadline, deadlineAtNow, finished]);
          const stale = (await f.s.listStaleOperations(now, 10_000)).filter((o) => mine.has(o.uuid));
          assert.deepEqual(stale.map((o) => o.uuid), [unowned, expired, pastDeadline]);
          assert.deepEqual(ids(stale), [...ids(stale)].sort((a, b) => a - b));
          assert.equal((await f.s.listStaleOperations(now, 1)).length, 1);
        });

        test('listClustersInStatus: filter by status, ordered by id, limited', async () => {
          const a = (await makeCluster(f.s, { status: 'ROLLBACK_IN_PROGRESS' })).cluster;
          const b = (await makeCluster(f.s, { status: 'CHECK_COMPLETE' })).cluster;
          const c = (await makeCluster(f.s, { status: 'ROLLBACK_IN_PROGRESS' })).cluster;
          assert.deepEqual(ids(await f.s.listClustersInStatus(['ROLLBACK_IN_PROGRESS', 'CHECK_COMPLETE'], 100)), [a.id, b.id, c.id]);
          assert.deepEqual(ids(await f.s.listClustersInStatus(['ROLLBACK_IN_PROGRESS'], 100)), [a.id, c.id]);
          assert.deepEqual(ids(await f.s.listClustersInStatus(['ROLLBACK_IN_PROGRESS'], 1)), [a.id]);
          assert.deepEqual(await f.s.listClustersInStatus(['ADOPT_COMPLETE'], 10), []);
        });

        test('a scope without a project is refused, never read as all projects', async () => {
          const page: PageRequest = { limit: 10, sortKey: 'id', sortDir: 'asc' };
          const bad = [{ projectId: null }, { kind: 'project', projectId: null }, { kind: 'project', projectId: '' }, {}, null, undefined] as never[];
          for (const scope of bad) {
            await assert.rejects(async () => f.s.findClusters(scope, { name: 'x' }), UnscopedQuery, JSON.stringify(scope));
            await assert.rejects(async () => f.s.listClusters(scope, page), UnscopedQuery);
            await assert.rejects(async () => f.s.listClustersForView(scope, page), UnscopedQuery);
            await assert.rejects(async () => f.s.listClusterTemplates(scope, page), UnscopedQuery);
            await assert.rejects(async () => f.s.findClusterTemplates(scope, { name: 'x' }), UnscopedQuery);
            await assert.rejects(async () => f.s.listNodeGroups(uid(), scope, page), UnscopedQuery);
            await assert.rejects(async () => f.s.listContainers(scope, page), UnscopedQuery);
            await assert.rejects(async () => f.s.listQuotas(scope, page), UnscopedQuery);
            await assert.rejects(async () => f.s.clusterStats(scope), UnscopedQuery);
            await assert.rejects(async () => f.s.workloads.list('service', scope, page), UnscopedQuery);
          }
        });

        test('countClusters and clusterStats: clusters per project, nodes = node_count of all nodegroups', async () => {
          const p = project();
          const total0 = await f.s.clusterStats(ALL);
          assert.deepEqual(await f.s.clusterStats({ kind: 'project', projectId: p }), { clusters: 0, nodes: 0 });
          assert.equal(await f.s.countClusters(p), 0);
          const c1 = uid();
          await makeCluster(f.s, { uuid: c1, project_id: p }, { nodegroups: defaultNodeGroups(c1, p, 3) }); // 1 + 3
          const c2 = uid();
          await makeCluster(f.s, { uuid: c2, project_id: p }, { nodegroups: [...defaultNodeGroups(c2, p, 0), { uuid: uid(), name: 'big', cluster_id: c2, project_id: p, role: 'worker', node_count: 10, min_node_count: 0 }] }); // 1 + 0 + 10
          const other = project();
          const c3 = uid();
          await makeCluster(f.s, { uuid: c3, project_id: other }, { nodegroups: defaultNodeGroups(c3, other, 5) }); // 1 + 5
          assert.equal(await f.s.countClusters(p), 2);
          assert.equal(await f.s.countClusters(other), 1);
          assert.deepEqual(await f.s.clusterStats({ kind: 'project', projectId: p }), { clusters: 2, nodes: 15 });
          assert.deepEqual(await f.s.clusterStats({ kind: 'project', projectId: other }), { clusters: 1, nodes: 6 });
          assert.deepEqual(await f.s.clusterStats(ALL), { clusters: total0.clusters + 3, nodes: total0.nodes + 21 });
        });
      });

      describe('the ledger (cluster resources)', { concurrency: 1 }, () => {
        test('intendResource records once; markResource sets state and external id; listResources in order, removed hidden', async () => {
          const c = uid();
          const other = uid();
          const t0 = Date.now();
          await f.s.intendResource(c, 'network', 'net', { cidr: '10.0.0.0/24', 'ü': '🚀' });
          await f.s.intendResource(c, 'container', 'master-0');
          await f.s.intendResource(c, 'container', 'worker-0', { n: [1, 2] });
          await f.s.intendResource(other, 'network', 'net');
          let rs = await f.s.listResources(c);
          assert.deepEqual(rs.map((r) => [r.kind, r.name, r.state, r.external_id, r.details]), [
            ['network', 'net', 'intended', null, { cidr: '10.0.0.0/24', 'ü': '🚀' }],
            ['container', 'master-0', 'intended', null, {}],
            ['container', 'worker-0', 'intended', null, { n: [1, 2] }],
          ]);
          assert.deepEqual(ids(rs), [...ids(rs)].sort((a, b) => a - b));
          assert.equal(rs[0].cluster_id, c);
          assertRecent(rs[0].created_at, t0, 'created_at');
          assert.equal(rs[0].updated_at, null);

          // Same kind and name: no second row, details kept; same name of another kind is separate.
          await f.s.intendResource(c, 'network', 'net', { cidr: 'changed' });
          await f.s.intendResource(c, 'volume', 'net');
          rs = await f.s.listResources(c);
          assert.equal(rs.filter((r) => r.name === 'net').length, 2);
          assert.deepEqual(rs[0].details, { cidr: '10.0.0.0/24', 'ü': '🚀' });

          await f.s.markResource(c, 'network', 'net', 'present', 'ext-123');
          await f.s.markResource(c, 'container', 'master-0', 'present');
          rs = await f.s.listResources(c);
          assertFields(rs[0] as never, { state: 'present', external_id: 'ext-123' }, 'net');
          assertFields(rs[1] as never, { state: 'present', external_id: null }, 'master-0');
          assertRecent(rs[0].updated_at, t0, 'updated_at');
          // A present one stays present when intended again.
          await f.s.intendResource(c, 'network', 'net', { cidr: 'again' });
          assertFields((await f.s.listResources(c))[0] as never, { state: 'present', external_id: 'ext-123', details: { cidr: '10.0.0.0/24', 'ü': '🚀' } }, 'still present');

          await f.s.markResource(c, 'container', 'worker-0', 'removed');
          assert.deepEqual((await f.s.listResources(c)).map((r) => r.name), ['net', 'master-0', 'net']);
          assert.deepEqual((await f.s.listResources(c, { includeRemoved: true })).map((r) => [r.name, r.state]), [['net', 'present'], ['master-0', 'present'], ['worker-0', 'removed'], ['net', 'intended']]);
          // A removed one is intended again, with the new details, in its old place.
          await f.s.intendResource(c, 'container', 'worker-0', { n: [3] });
          assert.deepEqual((await f.s.listResources(c)).map((r) => [r.name, r.state, r.details]), [
            ['net', 'present', { cidr: '10.0.0.0/24', 'ü': '🚀' }], ['master-0', 'present', {}], ['worker-0', 'intended', { n: [3] }], ['net', 'intended', {}],
          ]);
          // external_id null clears it; another cluster's row is untouched; unknown rows are a no-op.
          await f.s.markResource(c, 'network', 'net', 'removed', null);
          assertFields((await f.s.listResources(c, { includeRemoved: true }))[0] as never, { state: 'removed', external_id: null }, 'cleared');
          await f.s.markResource(c, 'image', 'nope', 'present', 'x');
          assert.deepEqual((await f.s.listResources(other)).map((r) => [r.name, r.state, r.external_id]), [['net', 'intended', null]]);
          assert.deepEqual(await f.s.listResources(uid()), []);
        });

        test('intendResource from 2 callers at once: one row, no error', async () => {
          const c = uid();
          await Promise.all([f.s.intendResource(c, 'network', 'n', { a: 1 }), f.s2.intendResource(c, 'network', 'n', { a: 2 }), f.s.intendResource(c, 'network', 'n', { a: 3 })]);
          assert.equal((await f.s.listResources(c)).length, 1);
        });
      });

      describe('magnum services', { concurrency: 1 }, () => {

        test('reportServiceUp inserts, then increments report_count and moves last_seen_up', async () => {
          const t0 = Date.now();
          await f.s.reportServiceUp('host-1', 'magnum-conductor');
          let svc = await f.s.listServices();
          assert.equal(svc.length, 1);
          assertFields(svc[0] as never, { host: 'host-1', binary: 'magnum-conductor', report_count: 1, disabled: false, forced_down: false, disabled_reason: null }, 'first');
          assertRecent(svc[0].last_seen_up, t0, 'last_seen_up');
          assertRecent(svc[0].created_at, t0, 'created_at');
          const first = svc[0].last_seen_up!.getTime();
          await new Promise((r) => setTimeout(r, 5));
          const t1 = Date.now();
          await f.s.reportServiceUp('host-1', 'magnum-conductor');
          await f.s.reportServiceUp('host-2', 'magnum-conductor');
          await f.s.reportServiceUp('host-1', 'magnum-api');
          svc = await f.s.listServices();
          assert.deepEqual(svc.map((x) => [x.host, x.binary, x.report_count]), [['host-1', 'magnum-conductor', 2], ['host-2', 'magnum-conductor', 1], ['host-1', 'magnum-api', 1]]);
          assert.ok(svc[0].last_seen_up!.getTime() > first);
          assertRecent(svc[0].last_seen_up, t1, 'last_seen_up after the second report');
          assertRecent(svc[0].updated_at, t1, 'updated_at');
          assert.deepEqual(ids(svc), [...ids(svc)].sort((a, b) => a - b));
        });

        test('reportServiceUp from 2 callers at once: one row, every report counted', async () => {
          for (let round = 0; round < 3; round++) {
            const host = `racy-${round}`;
            await Promise.all([f.s.reportServiceUp(host, 'magnum-conductor'), f.s2.reportServiceUp(host, 'magnum-conductor')]);
            const rows = (await f.s.listServices()).filter((x) => x.host === host);
            assert.equal(rows.length, 1, host);
            assert.equal(rows[0].report_count, 2, `${host}: both first reports counted`);
            await Promise.all([f.s.reportServiceUp(host, 'magnum-conductor'), f.s2.reportServiceUp(host, 'magnum-conductor')]);
            assert.equal((await f.s.listServices()).find((x) => x.host === host)?.report_count, 4, host);
          }
        });
      });
    });
  }
});
