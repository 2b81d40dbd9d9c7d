// Swarm services through /v1/services on a real swarm-mode cluster (1 master + 2 workers, nodes
// are containers running their own Docker engine): a service with 3 replicas publishing a port on
// 127.0.0.1 answers HTTP from several replicas; scaled to 5 running tasks over the nodes; rolled to
// a new image while it serves; deleted with nothing left on the engines. A member of another
// project gets 404 on every route; bad manifests get 400s; a cluster whose nodes are down gets a
// clear 503 at once, not a hang; deleting the cluster takes its services' rows along. Every answer
// of /v1/services and /v1/pods here (lists, shows, creates, updates, deletes, refusals) validates
// against /v1/openapi.json.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT } from '../helpers/env.ts';
import { serverAnswerChecker, workloadRoutes, type AnswerChecker } from '../helpers/openapi-answers.ts';
import { freePort, runCommand, spawnProcess, tempDir, type ManagedProcess } from '../helpers/processes.ts';
import { waitFor } from '../helpers/stack.ts';
import { writeFileSync } from 'node:fs';

const NODE_IMAGE = process.env.MAGNUM_TEST_NODE_IMAGE ?? 'magnum-node:bookworm';
const WORKLOAD = 'magnum-test/busybox:latest';
/** A second workload image: the same with another /www/index.html (made here, removed after). */
const WORKLOAD_V2 = 'magnum-test/busybox:services-v2';

async function must(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<string> {
  const r = await runCommand(cmd, args, { timeoutMs: opts.timeoutMs ?? 120_000, input: opts.input });
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} failed: ${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

const who = (project: string) => ({
  'x-project-id': project, 'x-user-id': `${project}-user`, 'x-roles': 'member',
  'openstack-api-version': 'container-infra latest', 'content-type': 'application/json',
});

interface Reply {
  status: number;
  body: any;
  ms: number;
}

/** One HTTP GET on a new connection (no keep-alive: each request may reach another replica). */
function httpGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c) => (body += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(body.trim()) : reject(new Error(`HTTP ${res.statusCode}: ${body}`))));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

describe('Swarm services through /v1/services', { timeout: 10 * 60_000 }, () => {
  let aio: ManagedProcess;
  let endpoint: string;
  let cluster: Record<string, any>;
  let nodes: string[] = [];
  let port: number;
  let web: Record<string, any>;
  const p1 = who('p1');
  const p2 = who('p2');
  let checkAnswer: AnswerChecker;

  async function api(method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<Reply> {
    const t0 = Date.now();
    const r = await fetch(`${endpoint}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    const reply = { status: r.status, body: text ? JSON.parse(text) : null, ms: Date.now() - t0 };
    if (/^\/v1\/(services|pods)(\/|\?|$)/.test(path)) {
      checkAnswer(method, path, reply.status, reply.body);
    }
    return reply;
  }

  async function ok(method: string, path: string, body: unknown, status: number): Promise<any> {
    const r = await api(method, path, p1, body);
    assert.equal(r.status, status, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  function magnumError(r: Reply, status: number, detail: string | RegExp): void {
    assert.equal(r.status, status, JSON.stringify(r.body));
    const e = r.body.errors[0];
    assert.equal(e.status, status);
    assert.equal(e.code, status >= 500 ? 'server' : 'client');
    if (typeof detail === 'string') assert.equal(e.detail, detail);
    else assert.match(e.detail, detail);
  }

  /** The docker CLI inside a node container (the node's own engine). */
  const inNode = (node: string, args: string[]) => must('docker', ['exec', node, 'docker', ...args]);

  async function service(ident: string): Promise<Record<string, any>> {
    return ok('GET', `/v1/services/${ident}`, undefined, 200);
  }

  async function waitRunning(ident: string, replicas: number, image: string, ms = 60_000): Promise<Record<string, any>> {
    return waitFor(`${ident}: ${replicas} running tasks of ${image}`, async () => {
      const s = await service(ident);
      const tasks = s.tasks as Record<string, any>[];
      return s.status === 'RUNNING' && s.running_replicas === replicas && tasks.length === replicas && tasks.every((t) => t.image === image && t.state === 'running') ? s : undefined;
    }, ms);
  }

  /** Hostnames answering /cgi-bin/hostname over new connections, once `want` different ones did. */
  async function replicasAnswering(want: number, ms = 20_000): Promise<Set<string>> {
    const seen = new Set<string>();
    await waitFor(`${want} replicas answering`, async () => {
      for (let i = 0; i < want * 2; i++) {
        try {
          seen.add(await httpGet(port, '/cgi-bin/hostname'));
        } catch {
          // a replica starting or stopping: try again
        }
      }
      return seen.size >= want ? true : undefined;
    }, ms);
    return seen;
  }

  /** What `/` answers on `n` new connections (spread over the replicas). */
  async function pages(n: number): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(await httpGet(port, '/'));
    return out;
  }

  before(async () => {
    await must(`${ROOT}/bin/magnum-node-image`, ['build'], { timeoutMs: 15 * 60_000 });
    await must(`${ROOT}/bin/magnum-node-image`, ['workload'], { timeoutMs: 5 * 60_000 });
    const tmp = `magnum-services-v2-${process.pid}`;
    await runCommand('docker', ['rm', '-f', tmp]);
    await must('docker', ['run', '--name', tmp, WORKLOAD, 'sh', '-c', 'echo "magnum-test workload v2" > /www/index.html']);
    await must('docker', ['commit', '--change', 'CMD ["sh"]', tmp, WORKLOAD_V2]);
    await must('docker', ['rm', tmp]);

    const dir = tempDir('magnum-services-');
    const apiPort = await freePort();
    const conf = join(dir, 'magnum.conf');
    writeFileSync(conf, [
      '[DEFAULT]', 'auth_strategy = noauth', 'transport_url = inprocess://',
      '[api]', `port = ${apiPort}`,
      '[database]', `connection = sqlite:///${join(dir, 'magnum.sqlite')}`,
      '[certificates]', `encryption_key_file = ${join(dir, 'cert.key')}`,
      '[conductor]', 'sweep_interval = 1', 'operation_lease = 5',
      '[kubernetes]', 'health_polling_interval = 5',
      '[oslo_policy]', 'policy_file = /nonexistent/policy.yaml',
    ].join('\n'));
    aio = await spawnProcess(`${ROOT}/bin/magnum-all-in-one`, { args: ['--config-file', conf], port: apiPort, readyPath: '/', name: 'aio-services' });
    endpoint = `http://127.0.0.1:${apiPort}`;
    checkAnswer = await serverAnswerChecker(endpoint);

    await ok('POST', '/v1/clustertemplates', {
      name: 'swarm-svc', coe: 'swarm-mode', image_id: NODE_IMAGE, external_network_id: 'public', flavor_id: 'm1.small',
      master_flavor_id: 'm1.small', dns_nameserver: '127.0.0.1',
    }, 201);
    const { uuid } = await ok('POST', '/v1/clusters', { name: 'svc-c', cluster_template_id: 'swarm-svc', master_count: 1, node_count: 2 }, 202);
    cluster = await waitFor('the cluster CREATE_COMPLETE', async () => {
      const c = await ok('GET', `/v1/clusters/${uuid}`, undefined, 200);
      if (String(c.status).endsWith('FAILED')) throw new Error(`${c.status}: ${c.status_reason}`);
      return c.status === 'CREATE_COMPLETE' ? c : undefined;
    }, 240_000);
    nodes = (await must('docker', ['ps', '--filter', `label=magnum.cluster=${cluster.uuid}`, '--format', '{{.Names}}'])).split('\n').filter(Boolean).sort();
    assert.equal(nodes.length, 3);
    // No registry: the images go into every node's engine.
    await Promise.all(nodes.map((n) => must('bash', ['-c', `docker save ${WORKLOAD} ${WORKLOAD_V2} | docker exec -i ${n} docker load`], { timeoutMs: 120_000 })));
    port = await freePort();
  });

  after(async () => {
    console.log(`${checkAnswer?.count} answers of /v1/services and /v1/pods validated against /v1/openapi.json`);
    try {
      if (aio?.running && cluster) {
        await api('DELETE', `/v1/clusters/${cluster.uuid}`, p1);
        await waitFor('the cluster deleted', async () => ((await api('GET', `/v1/clusters/${cluster.uuid}`, p1)).status === 404 ? true : undefined), 180_000);
      }
    } finally {
      await aio?.stop();
      await runCommand('docker', ['rmi', WORKLOAD_V2]);
    }
    if (cluster) {
      const left = await runCommand('docker', ['ps', '-aq', '--filter', `label=magnum.cluster=${cluster.uuid}`]);
      assert.equal(left.stdout.trim(), '', 'no node container of the cluster is left');
    }
  });

  test('create 3 replicas on 127.0.0.1, HTTP reaches several; scale to 5; roll to a new image; delete, nothing left', async () => {
    const manifest = [
      `image: ${WORKLOAD}`,
      'command: httpd -f -p 80 -h /www',
      'init: true',
      'replicas: 3',
      `ports: ["127.0.0.1:${port}:80"]`,
      'environment: {GREETING: hello}',
      'deploy:',
      '  labels: {tier: web}',
      '  update_config: {parallelism: 1, monitor: 1s}',
    ].join('\n');
    let t0 = Date.now();
    web = await ok('POST', '/v1/services', { cluster_uuid: cluster.uuid, name: 'web', manifest }, 201);
    assert.equal(web.name, 'web');
    assert.equal(web.cluster_uuid, cluster.uuid);
    assert.equal(web.coe, 'swarm-mode');
    assert.deepEqual(web.endpoints, [`127.0.0.1:${port}`]);
    assert.deepEqual(web.ports, [{ target: 80, published: port, host_ip: '127.0.0.1', protocol: 'tcp', mode: 'ingress', endpoint: `127.0.0.1:${port}` }]);
    assert.equal(web.manifest.deploy.replicas, 3);
    assert.match(web.backend_id, /^\w{20,}$/);
    let s = await waitRunning('web', 3, WORKLOAD);
    for (const t of s.tasks) {
      assert.ok(nodes.includes(t.node), `task ${t.name} on ${t.node}`);
      assert.match(t.node_address, /^\d+\.\d+\.\d+\.\d+$/);
      assert.equal(t.ports.length, 1);
      assert.equal(t.ports[0].endpoint, `${t.node_address}:${t.ports[0].published}`);
    }
    assert.deepEqual(s.labels, { tier: 'web' });
    // HTTP on 127.0.0.1:<port> reaches the replicas: three different hostnames answer.
    let answers = await replicasAnswering(3);
    assert.equal(answers.size, 3);
    assert.deepEqual([...new Set(await pages(6))], ['magnum-test workload']);
    console.log(`service created and serving from 3 replicas in ${Date.now() - t0} ms`);

    // The stored view (brief list) and the live one (detail list).
    const list = await ok('GET', `/v1/services?cluster_ident=${cluster.name}`, undefined, 200);
    assert.deepEqual(list.services.map((x: any) => [x.name, x.replicas, x.image]), [['web', 3, WORKLOAD]]);
    const detail = await ok('GET', '/v1/services/detail', undefined, 200);
    assert.deepEqual(detail.services.map((x: any) => [x.name, x.status, x.running_replicas]), [['web', 'RUNNING', 3]]);

    // Scale to 5: five running tasks over the three nodes (each task has its own host port).
    t0 = Date.now();
    const scaled = await ok('PATCH', '/v1/services/web', [{ op: 'replace', path: '/replicas', value: 5 }], 202);
    assert.equal(scaled.replicas, 5);
    s = await waitRunning('web', 5, WORKLOAD);
    assert.deepEqual(s.nodes, nodes, 'the tasks run on all three nodes');
    const perNode = await Promise.all(nodes.map(async (n) => (await inNode(n, ['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=web'])).split('\n').filter(Boolean).length));
    assert.equal(perNode.reduce((a, b) => a + b, 0), 5, `running containers per node: ${perNode.join(', ')}`);
    answers = await replicasAnswering(5);
    assert.equal(answers.size, 5);
    console.log(`scaled to 5 (per node ${perNode.join('/')}) and serving from 5 replicas in ${Date.now() - t0} ms`);

    // Roll to the new image, one task at a time, while requests keep coming.
    t0 = Date.now();
    const rolled = await ok('PATCH', '/v1/services/web', [{ op: 'replace', path: '/image', value: WORKLOAD_V2 }], 202);
    assert.equal(rolled.manifest.image, WORKLOAD_V2);
    assert.ok(['UPDATING', 'RUNNING'].includes(rolled.status), rolled.status);
    let served = 0;
    let failed = 0;
    let rolling = true;
    const load = (async () => {
      while (rolling) {
        try {
          await httpGet(port, '/');
          served++;
        } catch {
          failed++;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    try {
      s = await waitRunning('web', 5, WORKLOAD_V2, 120_000);
    } finally {
      rolling = false;
      await load;
    }
    assert.equal(s.update_status?.state, 'completed');
    assert.ok(served > 0, 'requests were served during the roll');
    answers = await replicasAnswering(5);
    assert.equal(answers.size, 5);
    assert.deepEqual([...new Set(await pages(10))], ['magnum-test workload v2']);
    console.log(`rolled to ${WORKLOAD_V2} in ${Date.now() - t0} ms; during the roll ${served} requests served, ${failed} failed`);

    // Bad values on the real cluster: 400 (nothing changes), a published port taken: 409.
    magnumError(await api('PATCH', '/v1/services/web', p1, [{ op: 'replace', path: '/replicas', value: -1 }]), 400, 'Invalid manifest: deploy.replicas: must be between 0 and 1000, got -1');
    magnumError(await api('POST', '/v1/services', p1, { cluster_uuid: cluster.uuid, manifest: { image: WORKLOAD, ports: [`127.0.0.1:${port}:8080`] } }), 409,
      `Port ${port} on 127.0.0.1 is already published by another service.`);
    magnumError(await api('POST', '/v1/services', p1, { cluster_uuid: cluster.uuid, name: 'web', manifest: { image: WORKLOAD } }), 409,
      'A service named web already exists in cluster svc-c.');
    magnumError(await api('POST', '/v1/pods', p1, { cluster_uuid: cluster.uuid, manifest: { kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: WORKLOAD }] } } }), 400,
      'Pods are not supported for COE swarm-mode.');
    assert.equal((await ok('GET', '/v1/services', undefined, 200)).services.length, 1);

    // Another project: 404 on every route of the service.
    for (const ident of [web.uuid, 'web']) {
      magnumError(await api('GET', `/v1/services/${ident}`, p2), 404, `Service ${ident} could not be found.`);
      magnumError(await api('PATCH', `/v1/services/${ident}`, p2, [{ op: 'replace', path: '/replicas', value: 0 }]), 404, `Service ${ident} could not be found.`);
      magnumError(await api('DELETE', `/v1/services/${ident}`, p2), 404, `Service ${ident} could not be found.`);
    }
    magnumError(await api('GET', `/v1/services?cluster_ident=${cluster.uuid}`, p2), 404, `Cluster ${cluster.uuid} could not be found.`);
    magnumError(await api('GET', `/v1/services/detail?cluster_ident=${cluster.uuid}`, p2), 404, `Cluster ${cluster.uuid} could not be found.`);
    magnumError(await api('POST', '/v1/services', p2, { cluster_uuid: cluster.uuid, manifest: { image: WORKLOAD } }), 404, `Cluster ${cluster.uuid} could not be found.`);
    assert.deepEqual((await api('GET', '/v1/services/detail', p2)).body, { services: [] });
    assert.equal((await service('web')).running_replicas, 5, 'untouched by the other project');

    // Delete: gone from the API, the published port closed, nothing left on the engines.
    t0 = Date.now();
    await ok('DELETE', '/v1/services/web', undefined, 204);
    magnumError(await api('GET', `/v1/services/${web.uuid}`, p1), 404, `Service ${web.uuid} could not be found.`);
    await assert.rejects(httpGet(port, '/'), 'the published port is closed');
    await waitFor('nothing of the service left on any node', async () => {
      const left = await Promise.all(nodes.map((n) => inNode(n, ['ps', '-aq', '--filter', 'label=com.docker.swarm.service.name=web'])));
      return left.every((l) => !l.trim()) ? true : undefined;
    }, 60_000);
    const master = nodes.find((n) => n.includes('master'))!;
    assert.equal((await inNode(master, ['service', 'ls', '-q'])).trim(), '', 'no Swarm service left');
    await waitFor('the services network gone', async () => ((await inNode(master, ['network', 'ls', '-q', '--filter', 'name=magnum-services'])).trim() === '' ? true : undefined), 30_000);
    console.log(`deleted, nothing left, in ${Date.now() - t0} ms`);
  });

  test('a cluster whose nodes are down: a clear 503 at once on every route, nothing stored', async () => {
    const idle = await ok('POST', '/v1/services', { cluster_uuid: cluster.uuid, name: 'idle', manifest: { image: WORKLOAD, command: ['sleep', '3600'], init: true } }, 201);
    await waitRunning('idle', 1, WORKLOAD);
    await must('docker', ['kill', ...nodes]);
    const unreachable = /^The Docker engine of cluster svc-c at tcp:\/\/127\.0\.0\.1:\d+ cannot be reached\.$/;
    for (const [method, path, body] of [
      ['GET', '/v1/services/idle', undefined],
      ['PATCH', '/v1/services/idle', [{ op: 'replace', path: '/replicas', value: 2 }]],
      ['DELETE', `/v1/services/${idle.uuid}`, undefined],
      ['POST', '/v1/services', { cluster_uuid: cluster.uuid, name: 'new', manifest: { image: WORKLOAD } }],
    ] as const) {
      const r = await api(method, path, p1, body);
      magnumError(r, 503, unreachable);
      assert.ok(r.ms < 5_000, `${method} ${path} answered in ${r.ms} ms`);
    }
    // The list still answers: stored fields, and the live state says why it is unknown.
    const list = await ok('GET', '/v1/services/detail', undefined, 200);
    assert.deepEqual(list.services.map((x: any) => [x.name, x.status]), [['idle', 'UNKNOWN']]);
    assert.match(list.services[0].status_reason, unreachable);
    assert.equal((await ok('GET', '/v1/services', undefined, 200)).services.length, 1, 'the failed create stored nothing');
    // Deleting the cluster takes the service's row along.
    await ok('DELETE', `/v1/clusters/${cluster.uuid}`, undefined, 204);
    await waitFor('the cluster deleted', async () => ((await api('GET', `/v1/clusters/${cluster.uuid}`, p1)).status === 404 ? true : undefined), 120_000);
    magnumError(await api('GET', `/v1/services/${idle.uuid}`, p1), 404, `Service ${idle.uuid} could not be found.`);
    assert.deepEqual((await ok('GET', '/v1/services', undefined, 200)).services, []);
  });

  test('each route of /v1/services had its success answer validated against /v1/openapi.json', () => {
    const missing = workloadRoutes('services').filter((r) => !checkAnswer.seen.has(r));
    assert.deepEqual(missing, [], `validated: ${[...checkAnswer.seen].sort().join(', ')}`);
  });
});
