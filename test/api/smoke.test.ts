import assert from 'node:assert/strict';
import { test } from 'node:test';
import { as, startStack, waitFor } from '../helpers/stack.ts';
import { databaseKinds } from '../helpers/databases.ts';

for (const kind of databaseKinds()) {
  test(`cluster lifecycle through the API (${kind})`, async (t) => {
    const s = await startStack(kind);
    t.after(() => s.close());
    const h = as('p1');
    let r = await s.app.inject({ method: 'POST', url: '/v1/clustertemplates', headers: h, payload: { name: 't', coe: 'swarm-mode', image_id: 'fake-image' } });
    assert.equal(r.statusCode, 201, r.body);
    r = await s.app.inject({ method: 'POST', url: '/v1/clusters', headers: h, payload: { name: 'c', cluster_template_id: 't', node_count: 2 } });
    assert.equal(r.statusCode, 202, r.body);
    const uuid = r.json().uuid;
    const done: Record<string, unknown> = await waitFor('CREATE_COMPLETE', async () => {
      const g = await s.app.inject({ method: 'GET', url: `/v1/clusters/${uuid}`, headers: h });
      return g.json().status === 'CREATE_COMPLETE' ? g.json() : undefined;
    });
    assert.equal(done.node_count, 2);
    assert.equal(done.master_count, 1);
    r = await s.app.inject({ method: 'GET', url: `/v1/clusters/${uuid}`, headers: as('p2') });
    assert.equal(r.statusCode, 404);
    r = await s.app.inject({ method: 'DELETE', url: `/v1/clusters/${uuid}`, headers: h });
    assert.equal(r.statusCode, 204);
    await waitFor('deleted', async () => ((await s.app.inject({ method: 'GET', url: `/v1/clusters/${uuid}`, headers: h })).statusCode === 404 ? true : undefined));
  });
}
