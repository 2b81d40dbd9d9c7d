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
import { OperationRunner } from './operation-runner.ts';

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

describe('operation runner: database outages', () => {
  let dir: string;
  let s: SqlStorage;
  let template: string;
  const unhandled: unknown[] = [];
  const onUnhandled = (r: unknown) => void unhandled.push(r);

  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    dir = mkdtempSync(join(tmpdir(), 'magnum-runner-'));
    s = SqlStorage.open(`sqlite:///${join(dir, 'm.sqlite')}`);
    await s.migrate();
    template = randomUUID();
    await s.createClusterTemplate({ uuid: template, name: 't', coe: 'swarm-mode', image_id: 'fake-image', cluster_distro: 'fake-os', server_type: 'vm' });
  });
  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
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
