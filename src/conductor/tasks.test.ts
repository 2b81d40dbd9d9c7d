// Task operations started from RPC requests that the broker may deliver twice: the request names
// its operation, and a repeat answers the operation the first delivery wrote. A real SQLite storage.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SqlStorage } from '../db/sql/storage.ts';
import { TaskOperations } from './tasks.ts';

describe('task operations: a repeated request', () => {
  let dir: string;
  let s: SqlStorage;
  let cluster: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'magnum-tasks-'));
    s = SqlStorage.open(`sqlite:///${join(dir, 'm.sqlite')}`);
    await s.migrate();
    const template = randomUUID();
    await s.createClusterTemplate({ uuid: template, name: 't', coe: 'swarm-mode', image_id: 'x', server_type: 'vm' });
    cluster = randomUUID();
    const op = randomUUID();
    await s.createClusterWithOperation({ uuid: cluster, name: 'c', status: 'CREATE_IN_PROGRESS', project_id: 'p', cluster_template_id: template, labels: {} }, [],
      { uuid: op, cluster_id: cluster, nodegroup_id: null, kind: 'cluster_create', params: {}, deadline_at: new Date(Date.now() + 60_000), request_id: null });
    await s.finishOperation({ uuid: op, owner: null, state: 'complete', cluster: { uuid: cluster, changes: { status: 'CREATE_COMPLETE' } } });
  });
  after(async () => {
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the operation the request named: written once, a repeat answers it without a second row', async () => {
    const tasks = new TaskOperations(s);
    const named = randomUUID();
    assert.equal(await tasks.repeat({ operation: named }), null, 'not written yet: the request is handled');
    const container = { uuid: randomUUID(), cluster_id: cluster, image: 'busybox', name: 'x', project_id: 'p' };
    const started = await tasks.start({ uuid: named, kind: 'container_create', cluster, params: { container: container.uuid }, deadlineMs: 60_000, rows: { container } });
    assert.deepEqual(started, { operation: named });
    assert.deepEqual(await tasks.repeat({ operation: named, container }), { operation: named }, 'a repeat answers the same operation');
    assert.equal(await tasks.repeat({}), null);
    const ops = (await s.listOperations(cluster)).filter((o) => o.kind === 'container_create');
    assert.equal(ops.length, 1);
    assert.equal((await s.listContainersOfCluster(cluster)).length, 1);
    assert.equal((await s.getClusterByUuid(cluster))?.status, 'CREATE_COMPLETE', 'a task leaves the cluster status alone');
  });

  test('a cluster being deleted: 409 and nothing written; a cluster that is gone: 404', async () => {
    const tasks = new TaskOperations(s);
    const del = { uuid: randomUUID(), cluster_id: cluster, nodegroup_id: null, kind: 'cluster_delete' as const, params: {}, deadline_at: new Date(Date.now() + 60_000), request_id: null };
    assert.equal(await s.startOperation({ clusterUuid: cluster, allowed: ['CREATE_COMPLETE'], clusterStatus: 'DELETE_IN_PROGRESS', operation: del, supersede: 'Cancelled: the cluster is being deleted.' }), true);
    const before = (await s.listOperations(cluster)).length;
    await assert.rejects(tasks.start({ kind: 'container_action', cluster, params: {}, deadlineMs: 60_000 }), (e: Error & { status?: number }) => e.status === 409 && /is being deleted/.test(e.message));
    assert.equal((await s.listOperations(cluster)).length, before);
    await assert.rejects(tasks.start({ kind: 'container_action', cluster: randomUUID(), params: {}, deadlineMs: 60_000 }), (e: Error & { status?: number }) => e.status === 404);
  });
});
