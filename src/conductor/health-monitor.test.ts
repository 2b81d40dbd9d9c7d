// Health polling: the timeline entries of a health change (the cluster's and each node's), and
// auto-healing only after the grace period and never while the infrastructure does not answer.
// A real SQLite storage; the driver's reports are scripted (the real swarm-mode driver against a
// restarting Docker engine is test/acceptance/docker-host-restart.test.ts).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../conf/index.ts';
import { SqlStorage } from '../db/sql/storage.ts';
import type { HealthReport } from '../drivers/driver.ts';
import { FakeDriver } from '../drivers/fake/driver.ts';
import { DriverRegistry } from '../drivers/registry.ts';
import { HealthMonitor, healthEvents } from './health-monitor.ts';

const up: HealthReport = { status: 'HEALTHY', reason: { 'm-0.Ready': 'True', 'w-0.Ready': 'True', api: 'ok' } };
const workerStopped: HealthReport = { status: 'UNHEALTHY', reason: { 'm-0.Ready': 'True', 'w-0.Ready': 'False (container stopped)', api: 'ok' } };
const hostDown: HealthReport = {
  status: 'UNHEALTHY',
  reason: { 'm-0.Ready': 'Unknown (the host of the nodes does not answer)', 'w-0.Ready': 'Unknown (the host of the nodes does not answer)', api: 'The cluster c is not accessible.' },
  infrastructureUnavailable: 'Cannot connect to the Docker daemon',
};

describe('healthEvents', () => {
  test('the cluster status change first, then each node that left or came back to Ready', () => {
    assert.deepEqual(healthEvents({ status: 'HEALTHY', reason: up.reason }, hostDown), [
      `Health HEALTHY -> UNHEALTHY: ${JSON.stringify(hostDown.reason)}`,
      'Node m-0 is not Ready: Unknown (the host of the nodes does not answer)',
      'Node w-0 is not Ready: Unknown (the host of the nodes does not answer)',
    ]);
    assert.deepEqual(healthEvents({ status: 'UNHEALTHY', reason: workerStopped.reason }, up), [
      `Health UNHEALTHY -> HEALTHY: ${JSON.stringify(up.reason)}`,
      'Node w-0 is Ready again',
    ]);
  });

  test('no news: a node still down for another reason, the first report, a new or a removed node', () => {
    assert.deepEqual(healthEvents({ status: 'UNHEALTHY', reason: hostDown.reason }, workerStopped), ['Node m-0 is Ready again']);
    assert.deepEqual(healthEvents({ status: null, reason: {} }, up), [`Health unknown -> HEALTHY: ${JSON.stringify(up.reason)}`]);
    assert.deepEqual(healthEvents({ status: 'HEALTHY', reason: { 'm-0.Ready': 'True', 'w-9.Ready': 'True' } }, up), []);
  });
});

/** The fake driver with health reports given by the test. */
class ScriptedHealth extends FakeDriver {
  report: HealthReport = up;
  override async health(): Promise<HealthReport> {
    return this.report;
  }
}

describe('HealthMonitor', () => {
  let dir: string;
  let s: SqlStorage;
  let template: string;
  const conf = loadConfig({ env: {}, overrides: { drivers: { test_drivers: 'fake' }, conductor: { auto_healing_grace_period: '1' } } });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'magnum-health-'));
    s = SqlStorage.open(`sqlite:///${join(dir, 'm.sqlite')}`);
    await s.migrate();
    template = randomUUID();
    await s.createClusterTemplate({ uuid: template, name: 't', coe: 'swarm-mode', image_id: 'fake-image', cluster_distro: 'fake-os', server_type: 'vm' });
  });
  after(async () => {
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function runningCluster(labels: Record<string, string>): Promise<string> {
    const uuid = randomUUID();
    const op = randomUUID();
    await s.createClusterWithOperation(
      { uuid, name: `c-${uuid.slice(0, 8)}`, status: 'CREATE_IN_PROGRESS', project_id: 'p', cluster_template_id: template, labels },
      [{ uuid: randomUUID(), name: 'default-master', cluster_id: uuid, project_id: 'p', role: 'master', node_count: 1, min_node_count: 1, is_default: true, status: 'CREATE_COMPLETE' }],
      { uuid: op, cluster_id: uuid, nodegroup_id: null, kind: 'cluster_create', params: {}, deadline_at: new Date(Date.now() + 60_000), request_id: null },
    );
    await s.finishOperation({ uuid: op, owner: null, state: 'complete', cluster: { uuid, changes: { status: 'CREATE_COMPLETE' } } });
    return uuid;
  }

  const messages = async (uuid: string) => (await s.listEvents(uuid, { limit: 100 })).map((e) => e.message);

  test('a host that restarts: down and back in the timeline; no auto-healing while it does not answer, nor within the grace period', async () => {
    const driver = new ScriptedHealth(conf);
    const started: string[] = [];
    const monitor = new HealthMonitor({ storage: s, drivers: new DriverRegistry([driver]), conf, runOperation: (op) => void started.push(op) });
    const uuid = await runningCluster({ auto_healing_enabled: 'true' });

    await monitor.poll([uuid]);
    driver.report = hostDown;
    for (let i = 0; i < 3; i++) {
      await monitor.poll([uuid]);
      await new Promise((r) => setTimeout(r, 600)); // past the grace period: still no healing
    }
    assert.deepEqual(started, [], 'no operation while the host does not answer');
    assert.equal((await s.getClusterByUuid(uuid))?.health_status, 'UNHEALTHY');

    driver.report = workerStopped; // the host is back, the worker still coming up
    await monitor.poll([uuid]);
    driver.report = up;
    await monitor.poll([uuid]);
    assert.deepEqual(started, [], 'back within the grace period: no healing');
    const c = await s.getClusterByUuid(uuid);
    assert.equal(c?.health_status, 'HEALTHY');
    assert.equal(c?.status, 'CREATE_COMPLETE');
    assert.deepEqual(await messages(uuid), [
      `Health unknown -> HEALTHY: ${JSON.stringify(up.reason)}`,
      `Health HEALTHY -> UNHEALTHY: ${JSON.stringify(hostDown.reason)}`,
      'Node m-0 is not Ready: Unknown (the host of the nodes does not answer)',
      'Node w-0 is not Ready: Unknown (the host of the nodes does not answer)',
      'Node m-0 is Ready again',
      `Health UNHEALTHY -> HEALTHY: ${JSON.stringify(up.reason)}`,
      'Node w-0 is Ready again',
    ]);
  });

  test('a node that stays down past the grace period is auto-healed (once)', async () => {
    const driver = new ScriptedHealth(conf);
    const started: string[] = [];
    const monitor = new HealthMonitor({ storage: s, drivers: new DriverRegistry([driver]), conf, runOperation: (op) => void started.push(op) });
    const uuid = await runningCluster({ auto_healing_enabled: 'true' });
    const plain = await runningCluster({});
    driver.report = workerStopped;
    const ours = [uuid, plain];
    await monitor.poll(ours);
    assert.deepEqual(started, []);
    await new Promise((r) => setTimeout(r, 1_100));
    await monitor.poll(ours);
    await monitor.poll(ours);
    assert.equal(started.length, 1, 'one healing operation, for the cluster that asks for it');
    const ops = await s.listOperations(uuid);
    assert.deepEqual(ops.filter((o) => o.kind === 'cluster_heal').map((o) => o.uuid), started);
    assert.equal((await s.getClusterByUuid(uuid))?.status, 'UPDATE_IN_PROGRESS');
    assert.equal((await s.getClusterByUuid(plain))?.status, 'CREATE_COMPLETE');
    assert.ok((await messages(uuid)).includes('Auto-healing: replacing nodes that are down.'));
  });

  test('a poll of all covers more clusters than a page, [conductor] health_poll_concurrency at a time, with no query per cluster', async () => {
    // Rows written directly (one transaction): 1,201 running clusters, more than two pages of 500.
    const n = 1201;
    const rows = Array.from({ length: n }, () => randomUUID());
    await s.conn.db.transaction().execute(async (tx) => {
      for (let i = 0; i < rows.length; i += 100) {
        await tx.insertInto('cluster').values(rows.slice(i, i + 100).map((uuid) => ({
          uuid, name: `bulk-${uuid.slice(0, 8)}`, status: 'UPDATE_COMPLETE', project_id: 'p', cluster_template_id: template, labels: '{}', created_at: new Date().toISOString(),
        }))).execute();
      }
    });
    const seen = new Set<string>();
    let inFlight = 0;
    let most = 0;
    class Counting extends FakeDriver {
      override async health(...args: unknown[]): Promise<HealthReport> {
        seen.add((args[0] as { uuid: string }).uuid);
        most = Math.max(most, ++inFlight);
        await new Promise((r) => setImmediate(r));
        inFlight--;
        return up;
      }
    }
    const calls: Record<string, number> = {};
    const counted = new Proxy(s, {
      get(target, key, receiver) {
        const v = Reflect.get(target, key, receiver) as unknown;
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          calls[String(key)] = (calls[String(key)] ?? 0) + 1;
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const concurrency = 5;
    const c5 = loadConfig({ env: {}, overrides: { drivers: { test_drivers: 'fake' }, conductor: { health_poll_concurrency: String(concurrency) } } });
    const monitor = new HealthMonitor({ storage: counted, drivers: new DriverRegistry([new Counting(c5)]), conf: c5, runOperation: () => undefined });
    const polled = await monitor.poll();
    for (const uuid of rows) assert.ok(seen.has(uuid), `cluster ${uuid} polled`);
    assert.ok(polled >= n, `${polled} polled`);
    assert.equal(most, concurrency, 'at most health_poll_concurrency polls at once, and that many');
    const pages = Math.ceil((polled + 1) / 500);
    assert.ok(calls.listClustersInStatus <= pages, `${calls.listClustersInStatus} pages read`);
    for (const k of ['getClusterTemplatesByUuids', 'listNodeGroupsOf', 'listResourcesOf']) assert.ok(calls[k] <= pages, `${k}: ${calls[k]} queries`);
    for (const k of ['getClusterTemplateByUuid', 'listResources', 'getClusterByUuid']) assert.equal(calls[k], undefined, `${k} is not called per cluster`);
    // Every new cluster's health was written (a change from unknown); the second poll writes nothing.
    const writes = calls.setClusterHealth;
    assert.ok(writes >= n, `${writes} health writes`);
    for (const uuid of rows.slice(0, 50)) assert.equal((await s.getClusterByUuid(uuid))?.health_status, 'HEALTHY');
    await monitor.poll();
    assert.equal(calls.setClusterHealth, writes);
  });

  test('several conductors polling one cluster at once: each health change and its timeline lines are written once', async () => {
    const driver = new ScriptedHealth(conf);
    const monitors = Array.from({ length: 4 }, () => new HealthMonitor({ storage: s, drivers: new DriverRegistry([driver]), conf, runOperation: () => undefined }));
    const uuid = await runningCluster({});
    await Promise.all(monitors.map((m) => m.poll([uuid])));
    driver.report = workerStopped;
    await Promise.all(monitors.map((m) => m.poll([uuid])));
    driver.report = up;
    await Promise.all(monitors.map((m) => m.poll([uuid])));
    const health = (await messages(uuid)).filter((m) => /^Health |^Node /.test(m ?? ''));
    assert.deepEqual(health, [
      `Health unknown -> HEALTHY: ${JSON.stringify(up.reason)}`,
      `Health HEALTHY -> UNHEALTHY: ${JSON.stringify(workerStopped.reason)}`,
      'Node w-0 is not Ready: False (container stopped)',
      `Health UNHEALTHY -> HEALTHY: ${JSON.stringify(up.reason)}`,
      'Node w-0 is Ready again',
    ]);
  });
});
