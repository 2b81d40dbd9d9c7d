// Unique-key races answer Magnum's 409, never a 500: two requests that both pass the API's "does
// it exist?" check and then both write. Nodegroup names here (SQLite, PostgreSQL, MariaDB, through
// app.inject and the fake driver); container uuids need a real cluster (test/acceptance/containers.test.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { databaseKinds } from '../helpers/databases.ts';
import { magnumError } from '../helpers/magnum-error.ts';
import { as, startStack, waitFor } from '../helpers/stack.ts';

const member = as('p-race');

for (const kind of databaseKinds()) {
  describe(`unique-key races (${kind})`, () => {
    test('nodegroup name: the request that loses the race gets 409 NodeGroupAlreadyExists; nothing else changes', async (t) => {
      const s = await startStack(kind);
      t.after(() => s.close());
      const inject = (method: string, url: string, payload?: unknown) => s.app.inject({ method: method as 'GET', url, headers: member, payload: payload as object });
      let r = await inject('POST', '/v1/clustertemplates', { name: 't', coe: 'swarm-mode', image_id: 'fake-image' });
      assert.equal(r.statusCode, 201, r.body);
      r = await inject('POST', '/v1/clusters', { name: 'c', cluster_template_id: 't' });
      assert.equal(r.statusCode, 202, r.body);
      const cluster = r.json().uuid as string;
      const settled = (status: string) => waitFor(status, async () => {
        const c = (await inject('GET', `/v1/clusters/${cluster}`)).json();
        return c.status === status ? c : undefined;
      });
      await settled('CREATE_COMPLETE');

      // Deterministic interleaving: the late request checks the name (nothing there yet) and
      // waits; the early one is created in full; then the late one writes.
      const realFind = s.storage.findNodeGroups.bind(s.storage);
      let lookups = 0;
      let releaseLate!: () => void;
      const lateMayGo = new Promise<void>((res) => (releaseLate = res));
      let lateChecked!: () => void;
      const checked = new Promise<void>((res) => (lateChecked = res));
      s.storage.findNodeGroups = async (...args: Parameters<typeof realFind>) => {
        const out = await realFind(...args);
        if (args[2].name === 'ng-race' && ++lookups === 1) {
          lateChecked();
          await lateMayGo;
        }
        return out;
      };
      const lateP = inject('POST', `/v1/clusters/${cluster}/nodegroups`, { name: 'ng-race', node_count: 2 });
      await checked;
      const early = await inject('POST', `/v1/clusters/${cluster}/nodegroups`, { name: 'ng-race', node_count: 1 });
      assert.equal(early.statusCode, 202, early.body);
      await settled('UPDATE_COMPLETE');
      releaseLate();
      const second = await lateP;
      s.storage.findNodeGroups = realFind;
      magnumError(second, 409, 'A node group with name ng-race already exists in the cluster c.');
      const ngs = (await inject('GET', `/v1/clusters/${cluster}/nodegroups`)).json().nodegroups as { name: string; node_count: number }[];
      assert.deepEqual(ngs.filter((n) => n.name === 'ng-race').map((n) => n.node_count), [1]);
      assert.equal((await inject('GET', `/v1/clusters/${cluster}`)).json().status, 'UPDATE_COMPLETE');
      assert.equal((await s.storage.listOperations(cluster)).filter((o) => o.kind === 'nodegroup_create').length, 1);
    });
  });
}
