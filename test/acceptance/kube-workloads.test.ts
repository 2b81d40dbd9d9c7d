// Pods and services on a real Kubernetes cluster (the kubernetes driver, 1 master + 2 workers,
// all-in-one with noauth): an image archive (gzip) loaded through POST /v1/clusters/{ident}/images
// into every node's containerd; /v1/pods create/show/list/update/delete with a pod that never
// pulls (no registry here; its :latest image gets imagePullPolicy IfNotPresent); Kubernetes'
// own refusals as 400/409 in Magnum's form; /v1/services with a ClusterIP Service the pod answers
// through (from another pod, by name and by the service's ip); `coe pod ...` and `coe service ...`;
// /v1/containers answers a 400 that says to run a pod; another project sees none of it; with the
// master stopped every call is a 503 within seconds. Deleting the cluster
// leaves nothing labelled for it. Every answer of /v1/pods and /v1/services here validates against
// /v1/openapi.json.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { labelled, removeLabelled } from '../helpers/cluster-leftovers.ts';
import { ROOT } from '../helpers/env.ts';
import { freePort, runCommand, spawnProcess, tempDir, type ManagedProcess } from '../helpers/processes.ts';
import { httpApi, magnumError } from '../helpers/http-api.ts';
import { serverAnswerChecker, workloadRoutes, type AnswerChecker } from '../helpers/openapi-answers.ts';
import { waitFor } from '../helpers/stack.ts';
import { cleanEnv, newHome, ok as coeOk, refused as coeRefused, runCoe } from '../cli/helpers.ts';

const KUBE_IMAGE = process.env.MAGNUM_TEST_KUBE_IMAGE ?? 'magnum-kube-node:v1.34.4';
const KUBE_TAG = 'v1.34.4';
const WORKLOAD = 'magnum-test/busybox:latest';
const ENV = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: process.env.HOME ?? '/root' };

async function must(cmd: string, args: string[], opts: { timeoutMs?: number; cwd?: string } = {}): Promise<string> {
  const r = await runCommand(cmd, args, { env: ENV, timeoutMs: opts.timeoutMs ?? 120_000, cwd: opts.cwd });
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} failed (exit ${r.code}): ${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

/** The caller who owns the cluster: no identity headers, i.e. noauth's default project (as `coe` without a token acts). */
const owner = { 'openstack-api-version': 'container-infra latest', 'content-type': 'application/json' };
const other = { ...owner, 'x-project-id': 'p2', 'x-user-id': 'p2-user', 'x-roles': 'member' };

const webPod = {
  apiVersion: 'v1', kind: 'Pod',
  metadata: { name: 'web', labels: { app: 'web' }, annotations: { description: 'the web page' } },
  spec: { containers: [{ name: 'web', image: WORKLOAD, command: ['httpd', '-f', '-p', '8080', '-h', '/www'], ports: [{ containerPort: 8080 }] }] },
};
const webService = {
  apiVersion: 'v1', kind: 'Service',
  metadata: { name: 'web', labels: { team: 'blue' } },
  spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
};
const clientPod = {
  apiVersion: 'v1', kind: 'Pod', metadata: { name: 'client' },
  spec: { containers: [{ name: 'client', image: WORKLOAD, command: ['sleep', '3600'] }], terminationGracePeriodSeconds: 1 },
};

describe('Pods and services on a Kubernetes cluster', { timeout: 25 * 60_000 }, () => {
  let dir: string;
  let imageDir: string;
  let aio: ManagedProcess;
  let endpoint: string;
  let cluster: Record<string, any>;
  let kubectlPath: string;
  let kubeconfig: string;
  let coeEnv: Record<string, string>;

  let http: ReturnType<typeof httpApi>;
  let checkAnswer: AnswerChecker;
  const api = async (method: string, path: string, headers: Record<string, string>, body?: unknown) => {
    const r = await http.call(method, path, headers, body);
    if (/^\/v1\/(services|pods)(\/|\?|$)/.test(path)) {
      checkAnswer(method, path, r.status, r.body);
    }
    return r;
  };
  const ok = async (method: string, path: string, body: unknown, status: number) => {
    const r = await api(method, path, owner, body);
    assert.equal(r.status, status, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const kubectl = (...args: string[]) => must(kubectlPath, ['--kubeconfig', kubeconfig, '--request-timeout=20s', ...args]);
  const podStatus = (ident: string, status: string, ms = 90_000) => waitFor(`pod ${ident} ${status}`, async () => {
    const p = await ok('GET', `/v1/pods/${ident}`, undefined, 200);
    return p.status === status ? p : undefined;
  }, ms);

  before(async () => {
    // Idempotent: an existing image is reported at once (a fresh machine builds the Kubernetes one, ~20-30 min).
    await must(`${ROOT}/bin/magnum-node-image`, ['build', '--coe', 'kubernetes', '--kube-tag', KUBE_TAG], { timeoutMs: 60 * 60_000 });
    await must(`${ROOT}/bin/magnum-node-image`, ['workload'], { timeoutMs: 10 * 60_000 });
    kubectlPath = (await must(`${ROOT}/bin/magnum-node-image`, ['kubectl-path', '--kube-tag', KUBE_TAG])).trim();
    dir = tempDir('magnum-kube-workloads-');
    imageDir = join(dir, 'images');
    mkdirSync(imageDir);
    await must('bash', ['-o', 'pipefail', '-c', `docker save ${WORKLOAD} | gzip -1 > ${join(imageDir, 'busybox.tar.gz')}`]);
    // An xz archive (the nodes have no xz): refused before anything is loaded.
    await must('bash', ['-o', 'pipefail', '-c', `docker save ${WORKLOAD} | xz -0 > ${join(imageDir, 'busybox.tar.xz')}`]);
    const port = await freePort();
    const conf = join(dir, 'magnum.conf');
    writeFileSync(conf, [
      '[DEFAULT]', 'auth_strategy = noauth', 'transport_url = inprocess://',
      '[api]', `port = ${port}`,
      '[database]', `connection = sqlite:///${join(dir, 'magnum.sqlite')}`,
      '[certificates]', `encryption_key_file = ${join(dir, 'cert.key')}`,
      '[docker]', `image_dir = ${imageDir}`,
      '[conductor]', 'sweep_interval = 1', 'operation_lease = 5',
      '[kubernetes]', 'health_polling_interval = 5',
      '[oslo_policy]', 'policy_file = /nonexistent/policy.yaml',
    ].join('\n'));
    aio = await spawnProcess(`${ROOT}/bin/magnum-all-in-one`, { args: ['--config-file', conf], port, readyPath: '/', name: 'aio-kube-workloads', logDir: dir });
    endpoint = `http://127.0.0.1:${port}`;
    http = httpApi(endpoint);
    checkAnswer = await serverAnswerChecker(endpoint);
    coeEnv = cleanEnv(newHome(), { OS_ENDPOINT: `${endpoint}/v1` });

    await ok('POST', '/v1/clustertemplates', { name: 'k8s-w', coe: 'kubernetes', image_id: KUBE_IMAGE, external_network_id: 'public' }, 201);
    const t0 = Date.now();
    const { uuid } = await ok('POST', '/v1/clusters', { name: 'kw', cluster_template_id: 'k8s-w', master_count: 1, node_count: 2 }, 202);
    cluster = await waitFor('the cluster CREATE_COMPLETE', async () => {
      const c = await ok('GET', `/v1/clusters/${uuid}`, undefined, 200);
      if (String(c.status).endsWith('FAILED')) throw new Error(`${c.status}: ${c.status_reason}`);
      return c.status === 'CREATE_COMPLETE' ? c : undefined;
    }, 10 * 60_000);
    console.log(`cluster CREATE_COMPLETE in ${Date.now() - t0} ms`);
    const cfgDir = join(dir, 'kubeconfig');
    coeOk(await runCoe(['cluster', 'config', 'kw', '--dir', cfgDir, '--force'], coeEnv));
    kubeconfig = join(cfgDir, 'config');
  });

  after(async () => {
    console.log(`${checkAnswer?.count} answers of /v1/pods and /v1/services validated against /v1/openapi.json`);
    try {
      if (aio?.running && cluster) {
        await api('DELETE', `/v1/clusters/${cluster.uuid}`, owner);
        await waitFor('the cluster deleted', async () => ((await api('GET', `/v1/clusters/${cluster.uuid}`, owner)).status === 404 ? true : undefined), 300_000);
      }
    } finally {
      await aio?.stop();
    }
    if (cluster) {
      const left = await labelled(cluster.uuid);
      await removeLabelled(cluster.uuid);
      assert.deepEqual(left, [], 'nothing labelled for the cluster is left');
    }
  });

  test('an image archive goes into every node\'s containerd', async () => {
    magnumError(await api('POST', `/v1/clusters/${cluster.uuid}/images`, owner, { file: 'busybox.tar.xz' }), 400,
      'The archive is xz-compressed: the nodes of a Kubernetes cluster take a tar archive as docker save writes it, or one compressed with gzip.');
    const t0 = Date.now();
    const started = await ok('POST', `/v1/clusters/${cluster.uuid}/images`, { file: 'busybox.tar.gz' }, 202);
    assert.equal(started.nodes.length, 3);
    const done = await waitFor('the load finished', async () => {
      const l = await ok('GET', `/v1/clusters/${cluster.uuid}/images/${started.uuid}`, undefined, 200);
      return l.status === 'IN_PROGRESS' ? undefined : l;
    }, 180_000);
    assert.equal(done.status, 'COMPLETE', JSON.stringify(done));
    assert.equal(Object.values(done.nodes).filter((n: any) => n.status === 'COMPLETE').length, 3);
    assert.match(done.status_reason, /Loaded busybox\.tar\.gz into 3 of 3 nodes: docker\.io\/magnum-test\/busybox:latest\./);
    console.log(`archive loaded into 3 nodes in ${Date.now() - t0} ms`);
    const listed = await ok('GET', `/v1/clusters/${cluster.uuid}/images`, undefined, 200);
    assert.equal(listed.nodes.length, 3);
    for (const n of listed.nodes) {
      assert.equal(n.reachable, true);
      assert.ok(n.images.some((i: any) => i.name === WORKLOAD), `${n.address}: ${JSON.stringify(n.images)}`);
    }
    assert.deepEqual(listed.nodes.map((n: any) => n.role), ['master', 'worker', 'worker']);
  });

  test('pods: create (never pulled), show, list, update, refusals, delete', async () => {
    const t0 = Date.now();
    const made = await ok('POST', '/v1/pods', { cluster_uuid: cluster.uuid, manifest: webPod }, 201);
    assert.equal(made.name, 'web');
    assert.equal(made.coe, 'kubernetes');
    assert.deepEqual(made.images, [WORKLOAD]);
    assert.match(made.backend_id, /^[0-9a-f-]{36}$/, 'the Pod object\'s uid');
    const running = await podStatus('web', 'Running');
    console.log(`pod Running in ${Date.now() - t0} ms`);
    assert.equal(running.desc, 'the web page');
    assert.deepEqual(running.labels, { app: 'web' });
    assert.match(running.host, /-worker-\d+$/, 'on a worker (the master is tainted)');
    // No registry: the kubelet used the image the node has (IfNotPresent, although the tag is latest).
    assert.equal(await kubectl('get', 'pod', 'web', '-o', 'jsonpath={.spec.containers[0].imagePullPolicy}'), 'IfNotPresent');
    const events = await kubectl('get', 'events', '--field-selector', 'involvedObject.name=web', '-o', 'jsonpath={range .items[*]}{.reason} {end}');
    assert.ok(!/Pulling/.test(events) && /Pulled/.test(events), `events: ${events}`);

    // Lists: the stored fields, and the live ones in detail.
    const list = await ok('GET', `/v1/pods?cluster_ident=${cluster.name}`, undefined, 200);
    assert.deepEqual(list.pods.map((p: any) => [p.name, p.images]), [['web', [WORKLOAD]]]);
    const detail = await ok('GET', '/v1/pods/detail', undefined, 200);
    assert.deepEqual(detail.pods.map((p: any) => [p.name, p.status, p.host]), [['web', 'Running', running.host]]);

    // An update Kubernetes allows on a running pod (its labels); one it does not (the command): a 400 with its words.
    const labelled = await ok('PATCH', '/v1/pods/web', [{ op: 'add', path: '/manifest/metadata/labels/tier', value: 'front' }], 202);
    assert.deepEqual(labelled.manifest.metadata.labels, { app: 'web', tier: 'front' });
    assert.equal(await kubectl('get', 'pod', 'web', '-o', 'jsonpath={.metadata.labels.tier}'), 'front');
    await ok('PATCH', '/v1/pods/web', [{ op: 'remove', path: '/manifest/metadata/labels/tier' }], 202);
    assert.equal(await kubectl('get', 'pod', 'web', '-o', 'jsonpath={.metadata.labels}'), '{"app":"web"}', 'a label removed from the manifest is removed from the pod');
    await ok('PATCH', '/v1/pods/web', [{ op: 'add', path: '/manifest/metadata/labels/tier', value: 'front' }], 202);
    magnumError(await api('PATCH', '/v1/pods/web', owner, [{ op: 'replace', path: '/manifest/spec/containers/0/command', value: ['sleep', '1'] }]), 400,
      /^Kubernetes refused pod web: Pod "web" is invalid: spec: Forbidden: pod updates may not change fields other than/);
    assert.deepEqual((await ok('GET', '/v1/pods/web', undefined, 200)).manifest.spec.containers[0].command, webPod.spec.containers[0].command, 'the stored manifest is unchanged');
    magnumError(await api('PATCH', '/v1/pods/web', owner, [{ op: 'replace', path: '/manifest/metadata/name', value: 'other' }]), 400, /metadata\.name/);

    // Refusals: ours (the manifest) and Kubernetes' (an object it finds invalid, a name taken outside Magnum).
    magnumError(await api('POST', '/v1/pods', owner, { cluster_uuid: cluster.uuid, manifest: { kind: 'Pod', metadata: { name: 'x' }, spec: {} } }), 400, 'Invalid manifest: spec.containers: is required');
    magnumError(await api('POST', '/v1/pods', owner, { cluster_uuid: cluster.uuid, manifest: webPod }), 409, 'A pod named web already exists in cluster kw.');
    const badPort = { ...webPod, metadata: { name: 'badport' }, spec: { containers: [{ name: 'c', image: WORKLOAD, ports: [{ containerPort: 70000 }] }] } };
    magnumError(await api('POST', '/v1/pods', owner, { cluster_uuid: cluster.uuid, manifest: badPort }), 400, /^Kubernetes refused pod badport: Pod "badport" is invalid: spec\.containers\[0\]\.ports\[0\]\.containerPort: Invalid value: 70000/);
    await kubectl('run', 'taken', `--image=${WORKLOAD}`, '--image-pull-policy=IfNotPresent', '--restart=Never', '--', 'sleep', '3600');
    magnumError(await api('POST', '/v1/pods', owner, { cluster_uuid: cluster.uuid, manifest: { ...clientPod, metadata: { name: 'taken' } } }), 409, 'Kubernetes refused pod taken: pods "taken" already exists');
    await kubectl('delete', 'pod', 'taken', '--grace-period=0', '--force', '--wait=false');
    assert.deepEqual((await ok('GET', '/v1/pods', undefined, 200)).pods.map((p: any) => p.name), ['web'], 'no row for a refused pod');
  });

  test('a ClusterIP service: the pod answers through it, by name and by its ip', async () => {
    const svc = await ok('POST', '/v1/services', { cluster_uuid: cluster.uuid, manifest: webService }, 201);
    assert.equal(svc.name, 'web');
    assert.equal(svc.coe, 'kubernetes');
    assert.deepEqual(svc.selector, { app: 'web' });
    assert.deepEqual(svc.labels, { team: 'blue' });
    assert.match(svc.ip, /^10\.254\.\d+\.\d+$/);
    assert.equal(svc.ip, await kubectl('get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}'));
    await ok('POST', '/v1/pods', { cluster_uuid: cluster.uuid, manifest: clientPod }, 201);
    await podStatus('client', 'Running');
    const fetchVia = (host: string) => kubectl('exec', 'client', '--', 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${host} 80`);
    for (const host of ['web', svc.ip]) {
      const page = await waitFor(`HTTP through ${host}`, async () => {
        const out = await fetchVia(host).catch(() => '');
        return out.includes('magnum-test workload') ? out : undefined;
      }, 30_000);
      assert.match(page, /^HTTP\/1\.[01] 200/);
    }
    // Replaced whole: another port; the cluster IP stays.
    const moved = await ok('PATCH', '/v1/services/web', [{ op: 'replace', path: '/manifest/spec/ports/0/port', value: 8081 }], 202);
    assert.equal(moved.ip, svc.ip);
    assert.deepEqual(moved.ports.map((p: any) => p.port), [8081]);
    assert.equal(await kubectl('get', 'service', 'web', '-o', 'jsonpath={.spec.ports[0].port}'), '8081');
    const list = await ok('GET', `/v1/services/detail?cluster_ident=${cluster.uuid}`, undefined, 200);
    assert.deepEqual(list.services.map((s: any) => [s.name, s.ip, s.status]), [['web', svc.ip, 'ACTIVE']]);
    const shown = await ok('GET', '/v1/services/web', undefined, 200);
    assert.deepEqual([shown.ip, shown.status, shown.manifest.spec.ports[0].port], [svc.ip, 'ACTIVE', 8081]);
    const brief = await ok('GET', '/v1/services', undefined, 200);
    assert.deepEqual(brief.services.map((s: any) => [s.name, s.selector, s.ports.map((p: any) => p.port)]), [['web', { app: 'web' }, [8081]]]);
  });

  test('coe pod ... and coe service ...', async () => {
    const t0 = Date.now();
    const pods = coeOk(await runCoe(['pod', 'list', '--cluster', 'kw', '-f', 'json'], coeEnv));
    assert.deepEqual(pods.map((p: any) => p.name).sort(), ['client', 'web']);
    const web = coeOk(await runCoe(['pod', 'show', 'web', '-f', 'json'], coeEnv));
    assert.equal(web.status, 'Running');
    const file = join(dir, 'batch.yaml');
    writeFileSync(file, [
      'apiVersion: v1', 'kind: Pod', 'metadata: {name: batch, labels: {kind: batch}}',
      'spec:', '  restartPolicy: Never', `  containers: [{name: batch, image: "${WORKLOAD}", command: [sh, -c, "echo done"]}]`,
    ].join('\n'));
    const made = coeOk(await runCoe(['pod', 'create', '--cluster', 'kw', '--manifest', file, '-f', 'json'], coeEnv, { timeoutMs: 120_000 }));
    assert.equal(made.name, 'batch');
    await podStatus('batch', 'Succeeded');
    assert.equal(await kubectl('logs', 'batch'), 'done\n');
    const updated = coeOk(await runCoe(['pod', 'update', 'batch', 'replace', 'manifest/metadata/labels/kind=job', '-f', 'json'], coeEnv, { timeoutMs: 120_000 }));
    assert.deepEqual(updated.labels, { kind: 'job' });
    const services = coeOk(await runCoe(['service', 'list', '--cluster', 'kw', '-f', 'json'], coeEnv));
    assert.deepEqual(services.map((s: any) => s.name), ['web']);
    const svc = coeOk(await runCoe(['service', 'show', 'web', '-f', 'json'], coeEnv));
    assert.equal(svc.ip, await kubectl('get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}'));
    coeRefused(await runCoe(['pod', 'create', '--cluster', 'kw', '--manifest', file], coeEnv, { timeoutMs: 120_000 }), 409, 'A pod named batch already exists in cluster kw');
    const deleted = await runCoe(['pod', 'delete', 'batch'], coeEnv, { timeoutMs: 120_000 });
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.match(deleted.stdout, /Request to delete pod batch has been accepted\./);
    coeRefused(await runCoe(['pod', 'show', 'batch'], coeEnv), 404, 'Pod batch could not be found');
    console.log(`coe pod/service commands done in ${Date.now() - t0} ms`);
  });

  test('/v1/containers on a kubernetes cluster: a 400 that says to run a pod', async () => {
    magnumError(await api('POST', '/v1/containers', owner, { cluster_uuid: cluster.uuid, image: WORKLOAD, command: 'sleep 60' }), 400,
      'Cluster kw is a kubernetes cluster; containers run on swarm and swarm-mode clusters only. Run it as a pod instead: POST /v1/pods with a Kubernetes Pod manifest (coe pod create).');
    assert.deepEqual((await ok('GET', '/v1/containers', undefined, 200)).containers, []);
  });

  test('another project sees none of it', async () => {
    for (const [coll, ident, what] of [['pods', 'web', 'Pod'], ['services', 'web', 'Service']] as const) {
      magnumError(await api('GET', `/v1/${coll}/${ident}`, other), 404, `${what} ${ident} could not be found.`);
      magnumError(await api('PATCH', `/v1/${coll}/${ident}`, other, [{ op: 'add', path: '/manifest/metadata/labels/x', value: 'y' }]), 404, `${what} ${ident} could not be found.`);
      magnumError(await api('DELETE', `/v1/${coll}/${ident}`, other), 404, `${what} ${ident} could not be found.`);
      assert.deepEqual((await api('GET', `/v1/${coll}/detail`, other)).body, { [coll]: [] });
      magnumError(await api('GET', `/v1/${coll}?cluster_ident=${cluster.uuid}`, other), 404, `Cluster ${cluster.uuid} could not be found.`);
    }
    magnumError(await api('POST', '/v1/pods', other, { cluster_uuid: cluster.uuid, manifest: { ...clientPod, metadata: { name: 'intruder' } } }), 404, `Cluster ${cluster.uuid} could not be found.`);
    magnumError(await api('POST', `/v1/clusters/${cluster.uuid}/images`, other, { file: 'busybox.tar.gz' }), 404, `Cluster ${cluster.uuid} could not be found.`);
    assert.equal((await ok('GET', '/v1/pods/web', undefined, 200)).status, 'Running', 'untouched');
    assert.equal(await kubectl('get', 'pod', 'intruder', '--ignore-not-found', '-o', 'name'), '');
  });

  test('delete: gone from the API and from Kubernetes', async () => {
    await ok('DELETE', '/v1/services/web', undefined, 204);
    await ok('DELETE', '/v1/pods/client', undefined, 204);
    await ok('DELETE', '/v1/pods/web', undefined, 204);
    magnumError(await api('GET', '/v1/pods/web', owner), 404, 'Pod web could not be found.');
    assert.deepEqual((await ok('GET', '/v1/pods', undefined, 200)).pods, []);
    assert.deepEqual((await ok('GET', '/v1/services', undefined, 200)).services, []);
    assert.equal(await kubectl('get', 'service', 'web', '--ignore-not-found', '-o', 'name'), '');
    // httpd as PID 1 ignores SIGTERM: the pod goes after its grace period (30 s).
    await waitFor('the pods gone from Kubernetes', async () => ((await kubectl('get', 'pods', '-o', 'name')).trim() === '' ? true : undefined), 90_000);
  });

  test('a cluster whose API does not answer: a clear 503 at once; lists say why the state is unknown', async () => {
    const idle = await ok('POST', '/v1/pods', { cluster_uuid: cluster.uuid, manifest: { ...clientPod, metadata: { name: 'idle' } } }, 201);
    await podStatus('idle', 'Running');
    const masters = (await must('docker', ['ps', '--filter', `label=magnum.cluster=${cluster.uuid}`, '--format', '{{.Names}}'])).split('\n').filter((n) => n.includes('master'));
    assert.equal(masters.length, 1);
    await must('docker', ['kill', masters[0]]);
    const unreachable = /^The Kubernetes API of cluster kw cannot be reached: ECONNREFUSED \(https:\/\/127\.0\.0\.1:\d+\)\.$/;
    for (const [method, path, body] of [
      ['GET', '/v1/pods/idle', undefined],
      ['PATCH', '/v1/pods/idle', [{ op: 'add', path: '/manifest/metadata/labels', value: { a: 'b' } }]],
      ['DELETE', `/v1/pods/${idle.uuid}`, undefined],
      ['POST', '/v1/pods', { cluster_uuid: cluster.uuid, manifest: { ...clientPod, metadata: { name: 'new' } } }],
      ['POST', '/v1/services', { cluster_uuid: cluster.uuid, manifest: webService }],
    ] as const) {
      const t0 = Date.now();
      magnumError(await api(method, path, owner, body), 503, unreachable);
      assert.ok(Date.now() - t0 < 5_000, `${method} ${path} answered in ${Date.now() - t0} ms`);
    }
    // The list still answers: the stored fields, and why the live ones are unknown. (A create that
    // failed so keeps its row for now: the task operation's undo cannot reach the cluster either.)
    const list = await ok('GET', '/v1/pods/detail', undefined, 200);
    const row = list.pods.find((p: any) => p.name === 'idle');
    assert.equal(row.status, 'UNKNOWN');
    assert.match(row.status_reason, unreachable);
  });

  test('each route of /v1/pods and /v1/services had its success answer validated against /v1/openapi.json', () => {
    const missing = [...workloadRoutes('pods'), ...workloadRoutes('services')].filter((r) => !checkAnswer.seen.has(r));
    assert.deepEqual(missing, [], `validated: ${[...checkAnswer.seen].sort().join(', ')}`);
  });
});
