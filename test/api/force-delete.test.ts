// A delete whose step fails ends DELETE_FAILED with a reason and can be retried; an admin's forced
// delete goes on past the failing step and removes the cluster. Members cannot force.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { as, startStack, waitFor } from '../helpers/stack.ts';

test('DELETE_FAILED, a retry that fails again, then an admin force delete', async (t) => {
  const s = await startStack('sqlite');
  t.after(() => s.close());
  const member = as('p1');
  const admin = as('p1', { roles: ['admin'] });
  let r = await s.app.inject({ method: 'POST', url: '/v1/clustertemplates', headers: member, payload: { name: 't', coe: 'swarm-mode', image_id: 'fake-image' } });
  assert.equal(r.statusCode, 201, r.body);
  r = await s.app.inject({ method: 'POST', url: '/v1/clusters', headers: member, payload: { name: 'c', cluster_template_id: 't', labels: { fake_fail_step: 'delete network' } } });
  assert.equal(r.statusCode, 202, r.body);
  const uuid = r.json().uuid as string;
  const get = async () => (await s.app.inject({ method: 'GET', url: `/v1/clusters/${uuid}`, headers: member })).json();
  await waitFor('CREATE_COMPLETE', async () => ((await get()).status === 'CREATE_COMPLETE' ? true : undefined));

  r = await s.app.inject({ method: 'DELETE', url: `/v1/clusters/${uuid}`, headers: member });
  assert.equal(r.statusCode, 204);
  const failed = await waitFor('DELETE_FAILED', async () => { const c = await get(); return c.status === 'DELETE_FAILED' ? c : undefined; });
  assert.match(failed.status_reason, /Cluster delete failed at step "delete network": injected failure/);

  // A member may not force; unknown query values are refused.
  r = await s.app.inject({ method: 'DELETE', url: `/v1/clusters/${uuid}?force=true`, headers: member });
  assert.equal(r.statusCode, 403);
  assert.match(r.json().errors[0].detail, /cluster:force_delete/);
  r = await s.app.inject({ method: 'DELETE', url: `/v1/clusters/${uuid}?force=maybe`, headers: admin });
  assert.equal(r.statusCode, 400);

  // A plain retry fails again at the same step.
  r = await s.app.inject({ method: 'DELETE', url: `/v1/clusters/${uuid}`, headers: member });
  assert.equal(r.statusCode, 204);
  await waitFor('DELETE_FAILED again', async () => { const c = await get(); return c.status === 'DELETE_FAILED' && c.updated_at !== failed.updated_at ? true : undefined; });

  // The admin's forced delete removes it anyway.
  r = await s.app.inject({ method: 'DELETE', url: `/v1/clusters/${uuid}?force=true`, headers: admin });
  assert.equal(r.statusCode, 204);
  await waitFor('gone', async () => ((await s.app.inject({ method: 'GET', url: `/v1/clusters/${uuid}`, headers: member })).statusCode === 404 ? true : undefined));
  const counts = await s.storage.tableCounts();
  assert.equal(counts.cluster, 0);
  assert.equal(counts.nodegroup, 0);
  assert.equal(counts.operation, 0);
});
