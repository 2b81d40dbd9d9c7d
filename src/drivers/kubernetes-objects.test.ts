// What the pods and services backends send to a Kubernetes client (recorded by an in-memory one;
// test/acceptance/kube-workloads.test.ts runs them against a real cluster).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Workload } from '../objects/models.ts';
import { OWNER_ANNOTATION, kubernetesWorkloads, withPullPolicy, type KubeObject, type KubernetesClient } from './kubernetes-objects.ts';

function memoryClient() {
  const objects = new Map<string, KubeObject>();
  const deleted: { name: string; uid?: string }[] = [];
  let n = 0;
  const client: KubernetesClient = {
    createPod: async (_ns, m) => {
      const o = { ...m, metadata: { ...m.metadata, uid: `uid-${++n}` } };
      objects.set(m.metadata.name, o);
      return o;
    },
    readPod: async (_ns, name) => objects.get(name) ?? null,
    replacePod: async (_ns, name, m) => {
      objects.set(name, { ...objects.get(name), ...m });
      return objects.get(name)!;
    },
    deletePod: async (_ns, name, uid) => {
      deleted.push({ name, uid });
      objects.delete(name);
    },
    createService: async (_ns, m) => m,
    readService: async () => null,
    replaceService: async (_ns, _name, m) => m,
    deleteService: async () => undefined,
  };
  return { client, objects, deleted };
}

const row = (uuid: string, manifest: KubeObject) => ({ uuid, name: manifest.metadata.name, manifest } as unknown as Workload);

test('imagePullPolicy IfNotPresent where a container does not say; what it says is kept', () => {
  const m = withPullPolicy({ spec: { initContainers: [{ name: 'i', image: 'a:latest' }], containers: [{ name: 'a', image: 'a' }, { name: 'b', image: 'b:1', imagePullPolicy: 'Always' }] } });
  assert.deepEqual(m.spec.containers.map((c: KubeObject) => c.imagePullPolicy), ['IfNotPresent', 'Always']);
  assert.equal(m.spec.initContainers[0].imagePullPolicy, 'IfNotPresent');
});

test('a pod is made with its row uuid; one of the same name made elsewhere is not taken for it, nor deleted', async () => {
  const { client, objects, deleted } = memoryClient();
  const pods = kubernetesWorkloads(client).pods!;
  const w = row('row-1', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'x:latest' }] } });
  assert.deepEqual(await pods.create(w), { backend_id: 'uid-1' });
  const made = objects.get('web')!;
  assert.equal(made.metadata.annotations[OWNER_ANNOTATION], 'row-1');
  assert.equal(made.spec.containers[0].imagePullPolicy, 'IfNotPresent');
  assert.equal((w.manifest as KubeObject).metadata.annotations, undefined, 'the row\'s manifest is left as the user wrote it');
  assert.equal((await pods.show(w))?.fields.status, 'Unknown');
  await pods.update(w, { ...(w.manifest as KubeObject), metadata: { name: 'web', labels: { c: 'd' } } });
  assert.equal(objects.get('web')!.metadata.annotations[OWNER_ANNOTATION], 'row-1', 'kept through an update');
  assert.deepEqual(objects.get('web')!.metadata.labels, { a: null, c: 'd' }, 'a dropped label is deleted in the patch');

  objects.set('web', { metadata: { name: 'web', uid: 'other' }, spec: {} });
  assert.equal(await pods.show(w), null);
  await pods.remove(w);
  assert.deepEqual(deleted, []);
  objects.set('web', made);
  await pods.remove(w);
  assert.deepEqual(deleted, [{ name: 'web', uid: 'uid-1' }]);
});
