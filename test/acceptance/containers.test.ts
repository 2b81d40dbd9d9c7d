// Containers on a real swarm-mode cluster (Docker-engine nodes, TLS), through the API: load the
// workload image from the conductor's image directory into every node, create a container with a
// command, environment, a published port and limits, start it, reach its port, execute commands
// (output, exit code, separate streams), read its logs, pause, unpause, reboot, stop, delete —
// and check each step against the node's engine itself with the docker CLI and the certificates
// of `openstack coe cluster config`. A member of another project gets 404 everywhere; a cluster
// whose worker is stopped gives a clear 503 within seconds. Every answer of a container route, the
// refusals included, is validated against /v1/openapi.json (its route and status must be declared).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT } from '../helpers/env.ts';
import { serverAnswerChecker, type AnswerChecker } from '../helpers/openapi-answers.ts';
import { freePort, runCommand, runOpenstack, spawnProcess, tempDir, type ManagedProcess } from '../helpers/processes.ts';
import { waitFor } from '../helpers/stack.ts';

const NODE_IMAGE = process.env.MAGNUM_TEST_NODE_IMAGE ?? 'magnum-node:bookworm';
const WORKLOAD = 'magnum-test/busybox:latest';
const OWNER = 'demo';

async function must(cmd: string, args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<string> {
  const env = opts.env ? { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...opts.env } : undefined;
  const r = await runCommand(cmd, args, { env, timeoutMs: opts.timeoutMs ?? 120_000 });
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} failed: ${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

describe('containers on a swarm-mode cluster', { timeout: 10 * 60_000 }, () => {
  let proc: ManagedProcess;
  let base: string;
  let osEnv: Record<string, string>;
  let cluster: Record<string, any>;
  let workerName: string;
  let workerAddress: string;
  let certDir: string;
  const stoppedNodes: string[] = [];
  let checkAnswer: AnswerChecker;

  const headers = (project: string) => ({
    'x-project-id': project, 'x-user-id': `${project}-user`, 'x-roles': 'member',
    'openstack-api-version': 'container-infra latest', 'content-type': 'application/json',
  });
  async function api(method: string, path: string, body?: unknown, project = OWNER): Promise<{ status: number; json: any; ms: number }> {
    const t0 = Date.now();
    const res = await fetch(`${base}${path}`, { method, headers: headers(project), body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    const answer = { status: res.status, json: text ? JSON.parse(text) : undefined, ms: Date.now() - t0 };
    if (path.startsWith('/v1/containers')) checkAnswer(method, path, res.status, answer.json ?? null);
    // The image routes declare their successful answers (their refusals are Magnum's error body).
    if (/^\/v1\/clusters\/[^/]+\/images/.test(path) && res.status < 300) checkAnswer(method, path, res.status, answer.json ?? null);
    return answer;
  }
  async function ok(method: string, path: string, body?: unknown, status = 200): Promise<any> {
    const r = await api(method, path, body);
    assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.json)}`);
    return r.json;
  }
  function error(r: { status: number; json: any }, status: number, detail: RegExp): void {
    assert.equal(r.status, status, JSON.stringify(r.json));
    const e = r.json.errors[0];
    assert.equal(e.status, status);
    assert.match(e.detail, detail);
  }
  /** The docker CLI against the worker's own engine, with the certificates a cluster user gets. */
  const nodeDocker = (args: string[]) => runCommand('docker', [
    '--host', `tcp://${workerAddress}:2376`, '--tlsverify', '--tlscacert', join(certDir, 'ca.pem'), '--tlscert', join(certDir, 'cert.pem'), '--tlskey', join(certDir, 'key.pem'), ...args,
  ], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', DOCKER_CONFIG: certDir } });

  before(async () => {
    await must(`${ROOT}/bin/magnum-node-image`, ['build'], { timeoutMs: 15 * 60_000 });
    await must(`${ROOT}/bin/magnum-node-image`, ['workload'], { timeoutMs: 5 * 60_000 });
    const dir = tempDir('magnum-containers-');
    const imageDir = join(dir, 'images');
    mkdirSync(imageDir);
    await must(`${ROOT}/bin/magnum-node-image`, ['save', WORKLOAD, join(imageDir, 'busybox.tar')]);
    const port = await freePort();
    const conf = join(dir, 'magnum.conf');
    writeFileSync(conf, [
      '[DEFAULT]', 'auth_strategy = noauth', 'transport_url = inprocess://',
      // The openstack client (auth type none) sends no identity: it acts as a member of OWNER.
      '[noauth]', `default_project_id = ${OWNER}`, `default_user_id = ${OWNER}-user`, 'default_roles = member',
      '[api]', `port = ${port}`,
      '[database]', `connection = sqlite:///${join(dir, 'magnum.sqlite')}`,
      '[certificates]', `encryption_key_file = ${join(dir, 'cert.key')}`,
      '[conductor]', 'sweep_interval = 1', 'operation_lease = 5',
      '[kubernetes]', 'health_polling_interval = 60',
      '[oslo_policy]', 'policy_file = /nonexistent/policy.yaml',
      '[docker]', `image_dir = ${imageDir}`,
    ].join('\n'));
    proc = await spawnProcess(`${ROOT}/bin/magnum-all-in-one`, { args: ['--config-file', conf], port, readyPath: '/', name: 'aio-containers' });
    base = `http://127.0.0.1:${port}`;
    osEnv = { OS_AUTH_TYPE: 'none', OS_ENDPOINT: `${base}/v1`, SHELL: '/bin/bash' };
    checkAnswer = await serverAnswerChecker(base);

    await ok('POST', '/v1/clustertemplates', {
      name: 'ct', coe: 'swarm-mode', image_id: NODE_IMAGE, external_network_id: 'public', flavor_id: 'm1.small', master_flavor_id: 'm1.small', dns_nameserver: '127.0.0.1',
    }, 201);
    const { uuid } = await ok('POST', '/v1/clusters', { name: 'cx', cluster_template_id: 'ct', master_count: 1, node_count: 1 }, 202);
    cluster = await waitFor('cluster CREATE_COMPLETE', async () => {
      const c = await ok('GET', `/v1/clusters/${uuid}`);
      if (String(c.status).endsWith('FAILED')) throw new Error(`${c.status}: ${c.status_reason}`);
      return c.status === 'CREATE_COMPLETE' ? c : undefined;
    }, 240_000);
    workerAddress = cluster.node_addresses[0];
    workerName = (await must('docker', ['ps', '--filter', `label=magnum.cluster=${cluster.uuid}`, '--filter', 'label=magnum.role=worker', '--format', '{{.Names}}'])).trim();
    assert.ok(workerName, 'the worker node container');
    // Certificates as a cluster user gets them.
    certDir = tempDir('magnum-containers-cfg-');
    const cfg = await runOpenstack(['coe', 'cluster', 'config', 'cx', '--dir', certDir, '--output-certs', '--force'], osEnv, { timeoutMs: 60_000 });
    assert.equal(cfg.code, 0, cfg.stderr);
  });

  after(async () => {
    for (const n of stoppedNodes) await runCommand('docker', ['start', n]).catch(() => undefined);
    if (proc?.running && cluster) {
      await api('DELETE', `/v1/clusters/${cluster.uuid}`);
      await waitFor('cluster deleted', async () => ((await api('GET', `/v1/clusters/${cluster.uuid}`)).status === 404 ? true : undefined), 120_000).catch(() => undefined);
      // The conductor's cached client certificate of the cluster (ClientCredentialFiles keeps one per cluster).
      rmSync(join(tmpdir(), `magnum-cluster-certs-${process.getuid?.() ?? 0}`, cluster.uuid), { recursive: true, force: true });
    }
    await proc?.stop();
  });

  test('an image archive from the conductor\'s image directory is loaded into every node, with progress', async () => {
    const started = await ok('POST', `/v1/clusters/cx/images`, { file: 'busybox.tar' }, 202);
    assert.equal(started.cluster_uuid, cluster.uuid);
    assert.equal(started.nodes.length, 2);
    const done = await waitFor('image load', async () => {
      const s = await ok('GET', `/v1/clusters/${cluster.uuid}/images/${started.uuid}`);
      return s.status === 'IN_PROGRESS' ? undefined : s;
    }, 60_000);
    assert.equal(done.status, 'COMPLETE', JSON.stringify(done));
    assert.deepEqual(Object.keys(done.nodes).sort(), [...started.nodes].sort());
    assert.match(done.status_reason, new RegExp(`into 2 of 2 nodes: ${WORKLOAD}`));
    // The same progress is in the cluster's timeline.
    const events = (await ok('GET', `/v1/clusters/${cluster.uuid}/events`)).events.filter((e: any) => e.operation_id === started.uuid);
    assert.deepEqual(events.map((e: any) => e.outcome).sort(), ['started', 'succeeded', 'succeeded', 'succeeded']);
    const listed = await ok('GET', `/v1/clusters/cx/images`);
    for (const n of listed.nodes) assert.ok(n.images.some((i: any) => i.name === WORKLOAD), JSON.stringify(n));
    // The worker's engine has it too.
    assert.equal((await nodeDocker(['image', 'inspect', WORKLOAD])).code, 0);
  });

  test('an image no node has and no registry serves: 400 that says how to load it; bad values: 400', async () => {
    const before = (await ok('GET', '/v1/containers')).containers.length;
    error(await api('POST', '/v1/containers', { image: 'no-such/image:1', bay_uuid: 'cx' }), 400, /Image no-such\/image:1 is on no node of cluster cx and could not be pulled.*POST \/v1\/clusters\/.*\/images/s);
    error(await api('POST', '/v1/containers', { image: WORKLOAD, bay_uuid: 'cx', cpu: 64 }), 400, /Docker refused to create container.*Range of CPUs/);
    error(await api('POST', '/v1/containers', { image: WORKLOAD, bay_uuid: 'cx', memory: '2k' }), 400, /Docker Minimum memory limit/);
    assert.equal((await ok('GET', '/v1/containers')).containers.length, before);
    // Nothing was left on the engine either.
    assert.equal((await nodeDocker(['ps', '-aq', '--filter', 'label=magnum.container'])).stdout.trim(), '');
  });

  test('create, start, execute, logs, pause, unpause, reboot, stop, delete; another project sees none of it', async () => {
    const created = await ok('POST', '/v1/containers', {
      name: 'web', image: WORKLOAD, bay_uuid: 'cx',
      command: 'sh -c "echo hello $GREETING; sleep 0.2; echo oops >&2; exec httpd -f -p 80 -h /www"',
      environment: { GREETING: 'world', TRICKY: 'a b "c" $HOME=x' }, memory: '64m', cpu: 0.5, ports: ['8080:80'], restart_policy: 'on-failure:2',
    }, 201);
    const u = `/v1/containers/${created.uuid}`;
    assert.equal(created.status, 'Stopped');
    assert.equal(created.host, workerAddress);
    assert.equal(created.bay_uuid, cluster.uuid);
    assert.equal(created.cluster_uuid, cluster.uuid);
    assert.equal(created.project_id, OWNER);
    const name = `magnum-${created.uuid}`;
    const inspected = JSON.parse((await nodeDocker(['inspect', name])).stdout)[0];
    assert.equal(inspected.Config.Hostname, created.uuid);
    assert.equal(inspected.Config.Labels['magnum.container'], created.uuid);
    assert.ok(inspected.Config.Env.includes('GREETING=world'));
    assert.ok(inspected.Config.Env.includes('TRICKY=a b "c" $HOME=x'), 'passed literally through the env file');
    assert.equal(inspected.HostConfig.Memory, 64 * 1024 * 1024);
    assert.equal(inspected.HostConfig.NanoCpus, 500_000_000);
    assert.deepEqual(inspected.HostConfig.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 2 });

    // Start: Running, the port published on the node's address answers.
    const started = await ok('PUT', `${u}/start`);
    assert.equal(started.status, 'Running');
    assert.deepEqual(started.published_ports, [`${workerAddress}:8080->80/tcp`]);
    const page = await waitFor('the published port', async () => {
      try {
        return await (await fetch(`http://${workerAddress}:8080/`)).text();
      } catch {
        return undefined;
      }
    }, 10_000);
    assert.equal(page, 'magnum-test workload\n');
    error(await api('PUT', `${u}/start`), 409, /Cannot start container web: it is already running/);

    // Execute: the 2015 form and ours, exit codes and separate streams.
    const hostname = await ok('PUT', `${u}/execute?command=hostname`);
    assert.equal(hostname.output, `${created.uuid}\n`);
    assert.equal(hostname.exit_code, 0);
    const ran = await ok('POST', `${u}/execute`, { command: ['sh', '-c', 'echo $GREETING; echo bad >&2; exit 3'] });
    assert.deepEqual({ exit_code: ran.exit_code, stdout: ran.stdout, stderr: ran.stderr }, { exit_code: 3, stdout: 'world\n', stderr: 'bad\n' });
    assert.equal(ran.output, 'world\nbad\n');
    // A command that prints what the CLI's own errors look like is still the command's output.
    const refused = await ok('POST', `${u}/execute`, { command: 'sh -c "echo connection refused >&2; exit 1"' });
    assert.equal(refused.exit_code, 1);
    assert.equal(refused.stderr, 'connection refused\n');

    // Logs: both streams in order; tail; timestamps.
    const logs = await ok('GET', `${u}/logs`);
    assert.equal(logs.output, 'hello world\noops\n');
    assert.equal((await ok('GET', `${u}/logs?tail=1`)).output.split('\n').filter(Boolean).length, 1);
    assert.match((await ok('GET', `${u}/logs?timestamps=true`)).output, /^\d{4}-\d\d-\d\dT[\d:.]+Z hello world\n/);
    assert.equal((await ok('GET', `${u}/logs?since=2h`)).output, 'hello world\noops\n');

    // Another project: 404 on every route.
    for (const [method, path, body] of [
      ['GET', u], ['PATCH', u, [{ op: 'replace', path: '/name', value: 'x' }]], ['DELETE', u], ['PUT', `${u}/start`], ['PUT', `${u}/stop`],
      ['PUT', `${u}/reboot`], ['PUT', `${u}/pause`], ['PUT', `${u}/unpause`], ['GET', `${u}/logs`], ['PUT', `${u}/execute?command=ls`],
      ['POST', `${u}/execute`, { command: 'ls' }], ['GET', `/v1/containers?bay_ident=${cluster.uuid}`],
      ['POST', '/v1/containers', { image: WORKLOAD, bay_uuid: cluster.uuid }], ['POST', `/v1/clusters/${cluster.uuid}/images`, { file: 'busybox.tar' }],
      ['GET', `/v1/clusters/${cluster.uuid}/images`],
    ] as [string, string, unknown][]) {
      const r = await api(method, path, body, 'other');
      assert.equal(r.status, 404, `${method} ${path}: ${JSON.stringify(r.json)}`);
    }
    assert.deepEqual((await api('GET', '/v1/containers', undefined, 'other')).json.containers, []);
    assert.equal((await ok('GET', `${u}`)).status, 'Running', 'still running after the other project tried');

    // List with the cluster filter shows it live.
    const listed = (await ok('GET', `/v1/containers?cluster_ident=cx`)).containers;
    assert.deepEqual(listed.map((c: any) => [c.uuid, c.status]), [[created.uuid, 'Running']]);
    const detailed = await ok('GET', `/v1/containers/detail?bay_ident=${cluster.uuid}&limit=1`);
    assert.deepEqual(detailed.containers.map((c: any) => [c.uuid, c.status, c.published_ports]), [[created.uuid, 'Running', [`${workerAddress}:8080->80/tcp`]]]);
    assert.match(detailed.next, /\/v1\/containers\/detail\?.*limit=1&marker=/, 'a full page has a next link');

    // PATCH: a live limit change and a rename.
    const patched = await ok('PATCH', u, [{ op: 'replace', path: '/memory', value: '96m' }, { op: 'replace', path: '/name', value: 'web2' }]);
    assert.equal(patched.name, 'web2');
    assert.equal(patched.memory, '96m');
    assert.equal(JSON.parse((await nodeDocker(['inspect', name])).stdout)[0].HostConfig.Memory, 96 * 1024 * 1024);

    // Pause, unpause, reboot, stop, each checked on the engine.
    const state = async () => JSON.parse((await nodeDocker(['inspect', '--format', '{{json .State}}', name])).stdout);
    assert.equal((await ok('PUT', `${u}/pause`)).status, 'Paused');
    assert.equal((await state()).Paused, true);
    error(await api('PUT', `${u}/pause`), 409, /already paused/);
    error(await api('POST', `${u}/execute`, { command: 'ls' }), 409, /it is paused/);
    assert.equal((await ok('PUT', `${u}/unpause`)).status, 'Running');
    assert.equal((await state()).Paused, false);
    const startedAt = (await state()).StartedAt;
    assert.equal((await ok('PUT', `${u}/reboot?timeout=1`)).status, 'Running');
    assert.notEqual((await state()).StartedAt, startedAt);
    error(await api('DELETE', u), 409, /it is running \(stop it first, or delete it with force=true\)/);
    const stopped = await ok('PUT', `${u}/stop?timeout=1`);
    assert.equal(stopped.status, 'Stopped');
    assert.deepEqual(stopped.published_ports, []);
    assert.equal((await state()).Running, false);
    error(await api('PUT', `${u}/stop`), 409, /Cannot stop container web2: it is not running/);
    error(await api('PUT', `${u}/execute?command=ls`), 409, /it is not running/);

    // Delete: gone from the API and from the engine.
    assert.equal((await api('DELETE', u)).status, 204);
    error(await api('GET', u), 404, /^Container .* could not be found\.$/);
    const gone = await nodeDocker(['inspect', name]);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /No such object/);
  });

  test('a container uuid that exists, and two creates with one uuid at once: 409, one container', async () => {
    const uuid = randomUUID();
    const body = { image: WORKLOAD, bay_uuid: 'cx', uuid, command: 'sleep 1' };
    const both = await Promise.all([api('POST', '/v1/containers', body), api('POST', '/v1/containers', body)]);
    assert.deepEqual(both.map((r) => r.status).sort(), [201, 409], JSON.stringify(both.map((r) => r.json)));
    error(both.find((r) => r.status === 409)!, 409, new RegExp(`^A container with UUID ${uuid} already exists\\.$`));
    error(await api('POST', '/v1/containers', body), 409, new RegExp(`^A container with UUID ${uuid} already exists\\.$`));
    assert.equal((await ok('GET', '/v1/containers')).containers.filter((c: any) => c.uuid === uuid).length, 1);
    assert.equal((await nodeDocker(['ps', '-aq', '--filter', `label=magnum.container=${uuid}`])).stdout.trim().split('\n').length, 1);
    assert.equal((await api('DELETE', `/v1/containers/${uuid}`)).status, 204);
  });

  test('a cluster whose node is stopped: a clear 503 within seconds, Unknown status; back when the node is', async () => {
    const c = await ok('POST', '/v1/containers', { image: WORKLOAD, cluster_uuid: cluster.uuid, command: ['sleep', '600'] }, 201);
    const u = `/v1/containers/${c.uuid}`;
    await ok('PUT', `${u}/start`);
    stoppedNodes.push(workerName);
    await must('docker', ['stop', '--time', '1', workerName]);
    for (const [method, path, body] of [
      ['PUT', `${u}/stop`], ['PUT', `${u}/pause`], ['GET', `${u}/logs`], ['POST', `${u}/execute`, { command: 'ls' }], ['DELETE', u],
      ['POST', '/v1/containers', { image: WORKLOAD, bay_uuid: 'cx' }], ['POST', `/v1/clusters/cx/images`, { file: 'busybox.tar' }],
    ] as [string, string, unknown][]) {
      const r = await api(method, path, body);
      error(r, 503, /^Cluster cx cannot be reached: /);
      assert.ok(r.ms < 8_000, `${method} ${path} took ${r.ms} ms`);
    }
    const shown = await api('GET', u);
    assert.equal(shown.status, 200);
    assert.equal(shown.json.status, 'Unknown');
    assert.match(shown.json.status_reason, /cannot be reached/);
    assert.ok(shown.ms < 8_000);
    await must('docker', ['start', workerName]);
    stoppedNodes.pop();
    // The node's engine comes back with the container (stopped with its node).
    const back = await waitFor('the node\'s engine answers again', async () => {
      const r = await api('GET', u);
      return r.json.status === 'Unknown' ? undefined : r.json;
    }, 60_000);
    assert.equal(back.status, 'Stopped');
    const deleted = await api('DELETE', u);
    assert.equal(deleted.status, 204, JSON.stringify(deleted.json));
    assert.notEqual((await nodeDocker(['inspect', `magnum-${c.uuid}`])).code, 0);
  });

  test('the answers above validated against /v1/openapi.json: each container route\'s, its refusals, and the image loads', () => {
    const c = '/v1/containers';
    const expected = [
      `GET ${c} 200`, `GET ${c}/detail 200`, `GET ${c}/{ident} 200`, `POST ${c} 201`, `PATCH ${c}/{ident} 200`, `DELETE ${c}/{ident} 204`,
      ...['start', 'stop', 'reboot', 'pause', 'unpause'].map((a) => `PUT ${c}/{ident}/${a} 200`),
      `GET ${c}/{ident}/logs 200`, `PUT ${c}/{ident}/execute 200`, `POST ${c}/{ident}/execute 200`,
      `POST ${c} 400`, `POST ${c} 409`, `POST ${c} 503`, `GET ${c} 404`, `GET ${c}/{ident} 404`, `PATCH ${c}/{ident} 404`, `DELETE ${c}/{ident} 404`,
      `DELETE ${c}/{ident} 409`, `DELETE ${c}/{ident} 503`, `PUT ${c}/{ident}/start 409`, `PUT ${c}/{ident}/stop 409`, `PUT ${c}/{ident}/stop 503`,
      `PUT ${c}/{ident}/pause 409`, `PUT ${c}/{ident}/pause 503`, `GET ${c}/{ident}/logs 404`, `GET ${c}/{ident}/logs 503`,
      `PUT ${c}/{ident}/execute 404`, `PUT ${c}/{ident}/execute 409`, `POST ${c}/{ident}/execute 409`, `POST ${c}/{ident}/execute 503`,
    ];
    const images = ['POST /v1/clusters/{ident}/images 202', 'GET /v1/clusters/{ident}/images 200', 'GET /v1/clusters/{ident}/images/{load} 200'];
    assert.deepEqual([...expected, ...images].filter((k) => !checkAnswer.seen.has(k)), [], `validated: ${[...checkAnswer.seen].join(', ')}`);
  });
});
