// Two API processes and two conductors on RabbitMQ and PostgreSQL: concurrent creates are each
// handled exactly once; a conductor killed with SIGKILL mid-create leaves nothing stuck.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SqlStorage } from '../../src/db/sql/storage.ts';
import { threadNices } from '../../src/common/cpu-priority.ts';
import { createTempDatabase, type TempDatabase } from '../helpers/databases.ts';
import { ROOT, need } from '../helpers/env.ts';
import { freePort, runCommand, spawnProcess, tempDir, type ManagedProcess } from '../helpers/processes.ts';
import { waitFor } from '../helpers/stack.ts';

const H = { 'content-type': 'application/json', 'openstack-api-version': 'container-infra latest', 'x-project-id': 'p-multi', 'x-user-id': 'u-multi', 'x-roles': 'admin' };

interface Deployment {
  db: TempDatabase;
  storage: SqlStorage;
  confFile: string;
  apis: ManagedProcess[];
  conductors: ManagedProcess[];
  startConductor(host: string): Promise<ManagedProcess>;
  close(): Promise<void>;
}

async function rabbitmqctl(...args: string[]) {
  const r = await runCommand('rabbitmqctl', args, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`rabbitmqctl ${args.join(' ')} failed: ${r.stderr}`);
}

async function deploy(opts: { stepDelayMs: number; apis: number; conductors: number }): Promise<Deployment> {
  const db = await createTempDatabase('postgres');
  const vhost = `magnum-test-${randomBytes(4).toString('hex')}`;
  await rabbitmqctl('add_vhost', vhost);
  await rabbitmqctl('set_permissions', '-p', vhost, 'magnum', '.*', '.*', '.*');
  const dir = tempDir('magnum-multi-');
  const confFile = join(dir, 'magnum.conf');
  writeFileSync(confFile, [
    '[DEFAULT]',
    `transport_url = ${need('MAGNUM_TEST_AMQP_URL').replace(/^amqp:/, 'rabbit:')}/${vhost}`,
    'auth_strategy = noauth',
    'periodic_interval_max = 2',
    '[database]', `connection = ${db.url}`,
    '[drivers]', 'test_drivers = fake',
    '[fake_driver]', `step_delay_ms = ${opts.stepDelayMs}`,
    '[conductor]', 'operation_lease = 3', 'sweep_interval = 1', 'max_concurrent_operations = 64',
    '[quotas]', 'max_clusters_per_project = 1000',
    // Every create makes the cluster's CAs (four RSA keys): the smallest allowed keys keep hundreds
    // of creates on two shared cores about the operations, not about key generation.
    '[x509]', 'rsa_key_size = 1024',
    '[oslo_policy]', 'policy_file = /nonexistent/policy.yaml',
  ].join('\n'));
  const up = await runCommand(`${ROOT}/bin/magnum-db-manage`, ['--config-file', confFile, 'upgrade']);
  assert.equal(up.code, 0, up.stderr);
  const startConductor = (host: string) =>
    spawnProcess(`${ROOT}/bin/magnum-conductor`, { name: `conductor-${host}`, args: ['--config-file', confFile], env: { MAGNUM__DEFAULT__HOST: host } });
  const conductors = await Promise.all(Array.from({ length: opts.conductors }, (_, i) => startConductor(`conductor-${i}`)));
  const apis: ManagedProcess[] = [];
  for (let i = 0; i < opts.apis; i++) {
    const port = await freePort();
    apis.push(await spawnProcess(`${ROOT}/bin/magnum-api`, { name: `api-${i}`, args: ['--config-file', confFile], env: { MAGNUM__API__PORT: String(port) }, port, readyPath: '/' }));
  }
  const storage = SqlStorage.open(db.url, { poolSize: 2 });
  return {
    db, storage, confFile, apis, conductors, startConductor,
    close: async () => {
      for (const p of [...apis, ...conductors]) await p.stop().catch(() => undefined);
      await storage.close();
      await db.drop();
      await rabbitmqctl('delete_vhost', vhost).catch(() => undefined);
    },
  };
}

async function api(p: ManagedProcess, method: string, path: string, body?: unknown) {
  const r = await fetch(p.url + path, { method, headers: H, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

describe('two API processes and two conductors on RabbitMQ and PostgreSQL', () => {
  let d: Deployment;
  before(async () => {
    d = await deploy({ stepDelayMs: 20, apis: 2, conductors: 2 });
  });
  after(() => d?.close());

  test('200 concurrent cluster creates all end CREATE_COMPLETE, each handled exactly once', async () => {
    const t = await api(d.apis[0], 'POST', '/v1/clustertemplates', { name: 'multi', coe: 'swarm-mode', image_id: 'fake-image' });
    assert.equal(t.status, 201, JSON.stringify(t.body));
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => api(d.apis[i % 2], 'POST', '/v1/clusters', { name: `m${i}`, cluster_template_id: 'multi', node_count: 1 })));
    for (const a of answers) assert.equal(a.status, 202, JSON.stringify(a.body));
    const uuids = new Set(answers.map((a) => a.body.uuid as string));
    assert.equal(uuids.size, 200);
    const clusters = await waitFor('200 clusters CREATE_COMPLETE', async () => {
      const list = await api(d.apis[1], 'GET', '/v1/clusters');
      const all = list.body.clusters as { uuid: string; status: string }[];
      return all.length === 200 && all.every((c) => c.status !== 'CREATE_IN_PROGRESS') ? all : undefined;
    }, 120_000);
    const elapsed = Date.now() - started;
    assert.deepEqual(clusters.filter((c) => c.status !== 'CREATE_COMPLETE'), []);
    // Exactly once: one attempt per operation, and each step started once per cluster.
    const ops = await d.storage.conn.db.selectFrom('operation').select(['cluster_id', 'state', 'attempts', 'owner']).execute();
    assert.equal(ops.length, 200);
    for (const op of ops) {
      assert.equal(op.state, 'complete');
      if (Number(op.attempts) === 1) continue;
      // Why it ran again: the conductors' log lines and the timeline of that cluster.
      const lines = d.conductors.flatMap((c) => c.log().split('\n').filter((l) => l.includes(String(op.cluster_id)) || /sweep|lease|unavailable/i.test(l)).map((l) => `${c.name}: ${l.slice(0, 400)}`));
      const events = await d.storage.conn.db.selectFrom('cluster_event').selectAll().where('cluster_id', '=', op.cluster_id).orderBy('id').execute();
      assert.fail(`operation of ${op.cluster_id} ran ${op.attempts} times\n${lines.slice(0, 40).join('\n')}\n${events.map((e) => JSON.stringify(e)).join('\n')}`);
    }
    const starts = await d.storage.conn.db.selectFrom('cluster_event').select(['cluster_id', 'step']).where('outcome', '=', 'started').orderBy('id').execute();
    const perCluster = new Map<string, string[]>();
    for (const e of starts) perCluster.set(e.cluster_id, [...(perCluster.get(e.cluster_id) ?? []), e.step]);
    for (const uuid of uuids) assert.deepEqual(perCluster.get(uuid), ['create certificates', 'create network', 'boot masters', 'boot workers', 'publish api'], `steps of ${uuid}`);
    // Competing consumers: both conductors did work.
    const owners = new Set(ops.map((o) => String(o.owner).split(':')[0]));
    assert.deepEqual([...owners].sort(), ['conductor-0', 'conductor-1']);
    const services = await api(d.apis[0], 'GET', '/v1/mservices');
    assert.deepEqual(services.body.mservices.map((s: { host: string; state: string }) => `${s.host}:${s.state}`).sort(), ['conductor-0:up', 'conductor-1:up']);
    // [conductor] nice (10 by default): every thread of a conductor, those its work made included; the APIs keep theirs.
    for (const c of d.conductors) assert.deepEqual([...new Set(threadNices(c.pid))], [10], c.name);
    for (const a of d.apis) assert.deepEqual([...new Set(threadNices(a.pid))], [threadNices()[0]], a.name);
    // scripts/launch.sh: glibc's malloc limited to 2 arenas in the APIs, which also get node's gc (src/common/idle-gc.ts).
    for (const p of d.apis) assert.ok(readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0').includes('--expose-gc'), p.name);
    for (const p of d.apis) assert.ok(readFileSync(`/proc/${p.pid}/environ`, 'utf8').split('\0').includes('MALLOC_ARENA_MAX=2'), p.name);
    console.log(`# 200 concurrent creates through 2 APIs and 2 conductors: all CREATE_COMPLETE after ${elapsed} ms`);
  });
});

describe('kill -9 of a conductor while clusters are CREATE_IN_PROGRESS', () => {
  let d: Deployment;
  before(async () => {
    d = await deploy({ stepDelayMs: 700, apis: 1, conductors: 2 });
  });
  after(() => d?.close());

  test('a new conductor finishes every cluster within its deadline, with a reason for any failure', async () => {
    const t = await api(d.apis[0], 'POST', '/v1/clustertemplates', { name: 'k9', coe: 'swarm-mode', image_id: 'fake-image' });
    assert.equal(t.status, 201);
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => api(d.apis[0], 'POST', '/v1/clusters', { name: `k${i}`, cluster_template_id: 'k9', create_timeout: 1 })));
    for (const a of answers) assert.equal(a.status, 202);
    // Wait until a conductor holds some operations mid-way, then kill it without warning. Which
    // one gets the work is the broker's choice (one may have taken all 20 wake-ups while the other
    // was still connecting), so the victim is the one that holds operations.
    const holder = await waitFor('a conductor to be working', async () => {
      for (const i of [0, 1]) {
        const held = await d.storage.conn.db.selectFrom('operation').select('uuid').where('owner', 'like', `conductor-${i}:%`).where('state', '=', 'running').where('step', 'is not', null).execute();
        if (held.length > 0) return i;
      }
      return undefined;
    }, 20_000);
    const killedAt = Date.now();
    await d.conductors[holder].kill9();
    const orphaned = await d.storage.conn.db.selectFrom('operation').select('uuid').where('owner', 'like', `conductor-${holder}:%`).where('state', '=', 'running').execute();
    assert.ok(orphaned.length > 0, 'the killed conductor held operations');
    await d.conductors[1 - holder].kill9(); // and the other one too: only a brand-new conductor is left
    await d.startConductor('conductor-new');
    const final = await waitFor('every cluster out of CREATE_IN_PROGRESS', async () => {
      const list = await api(d.apis[0], 'GET', '/v1/clusters/detail');
      const all = list.body.clusters as { uuid: string; status: string; status_reason: string | null }[];
      return all.every((c) => c.status === 'CREATE_COMPLETE' || c.status === 'CREATE_FAILED') ? all : undefined;
    }, 60_000);
    const recovery = Date.now() - killedAt;
    assert.equal(final.length, 20);
    for (const c of final) if (c.status === 'CREATE_FAILED') assert.ok(c.status_reason && c.status_reason.length > 10, `reason for ${c.uuid}`);
    assert.ok(recovery < 60_000, 'within the 1-minute deadline');
    // The orphaned operations were resumed by the new conductor, from their saved step.
    for (const { uuid } of orphaned) {
      const op = await d.storage.getOperation(uuid);
      assert.ok(op && op.state !== 'running' && op.state !== 'pending');
      assert.ok((op!.attempts ?? 0) >= 2, `operation ${uuid} was taken over`);
      assert.match(String(op!.owner), /^conductor-new:/);
      const events = await d.storage.listEvents(op!.cluster_id, { limit: 100 });
      assert.ok(events.some((e) => e.outcome === 'info' && /^Resumed by conductor-new/.test(e.message ?? '')), 'a resume event');
    }
    console.log(`# kill -9 of both conductors mid-create: ${orphaned.length} orphaned operations resumed; all 20 clusters settled ${recovery} ms after the kill (${final.filter((c) => c.status === 'CREATE_COMPLETE').length} CREATE_COMPLETE)`);
  });
});
