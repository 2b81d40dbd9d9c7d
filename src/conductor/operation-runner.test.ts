// The runner against database outages (injected: every storage call fails with DatabaseUnavailable
// while `down` is set, as the SQL layer reports a refused, dropped or timed-out connection). A real
// SQLite storage behind it and the fake driver.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../conf/index.ts';
import { DatabaseUnavailable } from '../db/errors.ts';
import { SqlStorage } from '../db/sql/storage.ts';
import { DriverRegistry } from '../drivers/registry.ts';
import { DockerProvider } from '../infra/docker/provider.ts';
import { E } from '../common/errors.ts';
import { InfraUnavailable } from '../infra/provider.ts';
import { OperationRunner, type TaskHandler, type TaskHandlers } from './operation-runner.ts';

const conf = loadConfig({
  env: {},
  overrides: { drivers: { test_drivers: 'fake' }, fake_driver: { step_delay_ms: '60' }, conductor: { operation_lease: '30' } },
});

/** The storage, with every call failing while `state.down` (and counting those failures). */
function faulty(s: SqlStorage) {
  const state = { down: false, refused: 0 };
  const storage = new Proxy(s, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (state.down) {
          state.refused++;
          return Promise.reject(new DatabaseUnavailable('injected: connect ECONNREFUSED'));
        }
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { storage, state };
}

/** A SQLite storage with one swarm-mode template, made before and removed after the enclosing describe. */
function storageWithTemplate(prefix: string): { s: SqlStorage; template: string } {
  const f = { dir: '', s: undefined as unknown as SqlStorage, template: randomUUID() };
  before(async () => {
    f.dir = mkdtempSync(join(tmpdir(), prefix));
    f.s = SqlStorage.open(`sqlite:///${join(f.dir, 'm.sqlite')}`);
    await f.s.migrate();
    await f.s.createClusterTemplate({ uuid: f.template, name: 't', coe: 'swarm-mode', image_id: 'fake-image', cluster_distro: 'fake-os', server_type: 'vm' });
  });
  after(async () => {
    await f.s?.close();
    rmSync(f.dir, { recursive: true, force: true });
  });
  return f;
}

describe('operation runner: database outages', () => {
  let s: SqlStorage;
  let template: string;
  const unhandled: unknown[] = [];
  const onUnhandled = (r: unknown) => void unhandled.push(r);
  const fixture = storageWithTemplate('magnum-runner-');
  before(() => {
    process.on('unhandledRejection', onUnhandled);
    ({ s, template } = fixture);
  });
  after(() => {
    process.off('unhandledRejection', onUnhandled);
  });

  async function newCreate(): Promise<{ cluster: string; op: string }> {
    const cluster = randomUUID();
    const op = randomUUID();
    await s.createClusterWithOperation(
      { uuid: cluster, name: `c-${cluster.slice(0, 8)}`, status: 'CREATE_IN_PROGRESS', project_id: 'p', cluster_template_id: template, labels: {} },
      [
        { uuid: randomUUID(), name: 'default-master', cluster_id: cluster, project_id: 'p', role: 'master', node_count: 1, min_node_count: 1, is_default: true, status: 'CREATE_IN_PROGRESS' },
        { uuid: randomUUID(), name: 'default-worker', cluster_id: cluster, project_id: 'p', role: 'worker', node_count: 1, min_node_count: 0, is_default: true, status: 'CREATE_IN_PROGRESS' },
      ],
      { uuid: op, cluster_id: cluster, nodegroup_id: null, kind: 'cluster_create', params: {}, deadline_at: new Date(Date.now() + 60_000), request_id: null },
    );
    return { cluster, op };
  }

  test('an outage in the middle of an operation: the runner waits it out under its lease and completes', async () => {
    const { storage, state } = faulty(s);
    const runner = new OperationRunner({ storage, drivers: DriverRegistry.fromConfig(conf, new DockerProvider(conf)), conf, owner: 'test:1' });
    const { cluster, op } = await newCreate();
    const run = runner.run(op);
    await new Promise((r) => setTimeout(r, 100));
    state.down = true;
    await new Promise((r) => setTimeout(r, 1_500));
    state.down = false;
    await run;
    assert.ok(state.refused > 0, 'the outage met the runner');
    assert.equal((await s.getOperation(op))?.state, 'complete');
    assert.equal((await s.getClusterByUuid(cluster))?.status, 'CREATE_COMPLETE');
    assert.deepEqual(unhandled, []);
  });

  test('the database down when claiming: run() resolves (never rejects); the operation waits for the sweep', async () => {
    const { storage, state } = faulty(s);
    const runner = new OperationRunner({ storage, drivers: DriverRegistry.fromConfig(conf, new DockerProvider(conf)), conf, owner: 'test:2' });
    const { cluster, op } = await newCreate();
    state.down = true;
    await runner.run(op); // resolves
    assert.equal((await s.getOperation(op))?.state, 'pending');
    state.down = false;
    await runner.run(op); // what the next sweep does
    assert.equal((await s.getClusterByUuid(cluster))?.status, 'CREATE_COMPLETE');
    assert.deepEqual(unhandled, []);
  });
});

describe('operation runner: leases', () => {
  // Lease 1 s (renewed every 333 ms); each fake step takes 300 ms, a create about 2 s.
  const short = loadConfig({
    env: {},
    overrides: { drivers: { test_drivers: 'fake' }, fake_driver: { step_delay_ms: '300' }, conductor: { operation_lease: '1' } },
  });
  let s: SqlStorage;
  let template: string;
  const fixture = storageWithTemplate('magnum-runner-leases-');
  before(() => {
    ({ s, template } = fixture);
  });

  async function newCreate(): Promise<string> {
    const cluster = randomUUID();
    const op = randomUUID();
    await s.createClusterWithOperation(
      { uuid: cluster, name: `c-${cluster.slice(0, 8)}`, status: 'CREATE_IN_PROGRESS', project_id: 'p', cluster_template_id: template, labels: {} },
      [{ uuid: randomUUID(), name: 'default-worker', cluster_id: cluster, project_id: 'p', role: 'worker', node_count: 1, min_node_count: 0, is_default: true, status: 'CREATE_IN_PROGRESS' }],
      { uuid: op, cluster_id: cluster, nodegroup_id: null, kind: 'cluster_create', params: {}, deadline_at: new Date(Date.now() + 60_000), request_id: null },
    );
    return op;
  }

  test('the leases of all running operations are renewed by one statement per interval, not one per operation', async () => {
    const rounds: number[] = [];
    const leases = { renewLeases: (owner: string, uuids: readonly string[], until: Date) => (rounds.push(uuids.length), s.renewLeases(owner, uuids, until)) };
    const runner = new OperationRunner({ storage: s, leases, drivers: DriverRegistry.fromConfig(short, new DockerProvider(short)), conf: short, owner: 'lease:1' });
    const ops = await Promise.all(Array.from({ length: 8 }, () => newCreate()));
    const started = Date.now();
    await Promise.all(ops.map((op) => runner.run(op)));
    const took = Date.now() - started;
    for (const op of ops) assert.equal((await s.getOperation(op))?.state, 'complete');
    // Every round renews all eight (they run side by side); about took/333 rounds in all.
    assert.ok(took > 1_000, `the creates took ${took} ms, longer than a lease`);
    assert.ok(rounds.length >= 2 && rounds.length <= Math.ceil(took / 333) + 1, `${rounds.length} rounds in ${took} ms`);
    assert.equal(rounds[0], 8, `the first round renewed ${rounds[0]}`);
  });

  test('an operation another owner took over is stopped at the next renewal, its steps not saved', async () => {
    const runner = new OperationRunner({ storage: s, drivers: DriverRegistry.fromConfig(short, new DockerProvider(short)), conf: short, owner: 'lease:2' });
    const op = await newCreate();
    const run = runner.run(op);
    await new Promise((r) => setTimeout(r, 400));
    await s.conn.db.updateTable('operation').set({ owner: 'thief' }).where('uuid', '=', op).execute();
    const stepThen = (await s.getOperation(op))?.step;
    const started = Date.now();
    await run;
    assert.ok(Date.now() - started < 1_000, `stopped ${Date.now() - started} ms after the take-over`);
    const after = (await s.getOperation(op))!;
    assert.equal(after.owner, 'thief', 'the loser did not release the new owner\'s hold');
    assert.equal(after.state, 'running');
    assert.equal(after.step, stepThen, 'no step saved after the take-over');
  });
});

describe('operation runner: task operations (containers, services)', () => {
  let s: SqlStorage;
  let template: string;
  const fixture = storageWithTemplate('magnum-runner-tasks-');
  before(() => {
    ({ s, template } = fixture);
  });

  async function runningCluster(): Promise<string> {
    const cluster = randomUUID();
    const op = randomUUID();
    await s.createClusterWithOperation(
      { uuid: cluster, name: `c-${cluster.slice(0, 8)}`, status: 'CREATE_IN_PROGRESS', project_id: 'p', cluster_template_id: template, labels: {} },
      [], { uuid: op, cluster_id: cluster, nodegroup_id: null, kind: 'cluster_create', params: {}, deadline_at: new Date(Date.now() + 60_000), request_id: null },
    );
    await s.finishOperation({ uuid: op, owner: null, state: 'complete', cluster: { uuid: cluster, changes: { status: 'CREATE_COMPLETE' } } });
    return cluster;
  }

  async function task(cluster: string, handler: TaskHandler, deadlineMs = 30_000) {
    const handlers: TaskHandlers = new Map([['container_action', handler]]);
    const runner = new OperationRunner({ storage: s, drivers: DriverRegistry.fromConfig(conf, new DockerProvider(conf)), conf, owner: `test:${randomUUID().slice(0, 4)}`, tasks: handlers });
    const op = randomUUID();
    assert.equal(await s.startTaskOperation({ uuid: op, cluster_id: cluster, nodegroup_id: null, kind: 'container_action', params: { container: 'x', action: 'stop' }, deadline_at: new Date(Date.now() + deadlineMs), request_id: null }), true);
    await runner.run(op);
    return (await s.getOperation(op))!;
  }

  test('a step that meets an unreachable host waits for it and goes on; the cluster is untouched', async () => {
    const cluster = await runningCluster();
    let calls = 0;
    const op = await task(cluster, {
      steps: () => [{ name: 'stop container', run: async (ctx) => {
        if (++calls <= 2) throw new InfraUnavailable('the Docker host tcp://127.0.0.1:1 cannot be reached');
        ctx.state.result = { status: 'Stopped' };
      } }],
    });
    assert.equal(op.state, 'complete', op.last_error ?? '');
    assert.equal(calls, 3);
    assert.deepEqual((op.params.state as Record<string, unknown>).result, { status: 'Stopped' });
    const messages = (await s.listEvents(cluster, { limit: 100 })).filter((e) => e.operation_id === op.uuid).map((e) => `${e.step}:${e.outcome}:${e.message ?? ''}`);
    assert.ok(messages.includes('stop container:info:Waiting for the infrastructure: the Docker host tcp://127.0.0.1:1 cannot be reached'), JSON.stringify(messages));
    assert.ok(messages.some((m) => /^stop container:info:The infrastructure answers again after \d+ s\.$/.test(m)), JSON.stringify(messages));
    const c = await s.getClusterByUuid(cluster);
    assert.equal(c?.status, 'CREATE_COMPLETE');
  });

  test('a host that stays down: the wait ends at the deadline, FAILED with a 504 for the request', async () => {
    const cluster = await runningCluster();
    const op = await task(cluster, { steps: () => [{ name: 'stop container', run: async () => { throw new InfraUnavailable('down'); } }] }, 2_500);
    assert.equal(op.state, 'failed');
    assert.match(op.last_error ?? '', /^Container stop did not finish before its deadline .*; it stopped at step "stop container"\.$/);
    assert.deepEqual({ ...(op.params.error as object), message: undefined }, { code: 'MessagingTimeout', status: 504, message: undefined });
    assert.equal((await s.getClusterByUuid(cluster))?.status, 'CREATE_COMPLETE');
  });

  test('a refusal keeps its class and status for the request; undo runs once; a lifecycle operation is not blocked by a task', async () => {
    const cluster = await runningCluster();
    let undone = 0;
    const op = await task(cluster, {
      steps: () => [{ name: 'stop container', run: async () => { throw E.Conflict('Cannot stop container x: it is not running.'); } }],
      undo: async () => void undone++,
    });
    assert.equal(op.state, 'failed');
    assert.deepEqual(op.params.error, { code: 'Conflict', status: 409, message: 'Cannot stop container x: it is not running.' });
    assert.equal(undone, 1);
    assert.equal((await s.getClusterByUuid(cluster))?.status, 'CREATE_COMPLETE');
    // A pending task operation does not stop a resize from starting.
    const pending = randomUUID();
    assert.equal(await s.startTaskOperation({ uuid: pending, cluster_id: cluster, nodegroup_id: null, kind: 'container_action', params: {}, deadline_at: new Date(Date.now() + 60_000), request_id: null }), true);
    const resize = { uuid: randomUUID(), cluster_id: cluster, nodegroup_id: null, kind: 'cluster_resize' as const, params: {}, deadline_at: new Date(Date.now() + 60_000), request_id: null };
    assert.equal(await s.startOperation({ clusterUuid: cluster, allowed: ['CREATE_COMPLETE'], clusterStatus: 'UPDATE_IN_PROGRESS', operation: resize }), true);
    // A cluster delete ends the task operations still pending; no new one starts while it runs.
    const del = { uuid: randomUUID(), cluster_id: cluster, nodegroup_id: null, kind: 'cluster_delete' as const, params: {}, deadline_at: new Date(Date.now() + 60_000), request_id: null };
    assert.equal(await s.startOperation({ clusterUuid: cluster, allowed: ['UPDATE_IN_PROGRESS'], clusterStatus: 'DELETE_IN_PROGRESS', operation: del, supersede: 'Cancelled: the cluster is being deleted.' }), true);
    assert.equal((await s.getOperation(pending))?.state, 'failed');
    assert.equal(await s.startTaskOperation({ uuid: randomUUID(), cluster_id: cluster, nodegroup_id: null, kind: 'container_action', params: {}, deadline_at: new Date(Date.now() + 60_000), request_id: null }), false);
  });
});
