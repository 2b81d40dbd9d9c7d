// Real clusters: a swarm-mode cluster of Docker-engine nodes (containers running their own
// engine) made through the real `openstack coe` client, then used with the real docker CLI
// through `openstack coe cluster config`. Resize, nodegroups, CA rotation, auto-healing, upgrade,
// delete with nothing left behind, isolation between clusters.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT } from '../helpers/env.ts';
import { freePort, runCommand, runOpenstack, spawnProcess, tempDir, type ManagedProcess } from '../helpers/processes.ts';
import { waitFor } from '../helpers/stack.ts';

const NODE_IMAGE = process.env.MAGNUM_TEST_NODE_IMAGE ?? 'magnum-node:bookworm';
const NODE_IMAGE_V2 = 'magnum-node:v2';
const WORKLOAD = 'magnum-test/busybox:latest';

interface Aio {
  proc: ManagedProcess;
  env: Record<string, string>;
  dir: string;
}

async function sh(cmd: string, args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}) {
  const env = opts.env ? { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...opts.env } : undefined;
  const r = await runCommand(cmd, args, { env, timeoutMs: opts.timeoutMs ?? 120_000 });
  return r;
}

async function must(cmd: string, args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}) {
  const r = await sh(cmd, args, opts);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} failed: ${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

async function startAio(extra: string[] = []): Promise<Aio> {
  const dir = tempDir('magnum-swarm-');
  const port = await freePort();
  const conf = join(dir, 'magnum.conf');
  writeFileSync(conf, [
    '[DEFAULT]', 'auth_strategy = noauth', 'transport_url = inprocess://',
    '[api]', `port = ${port}`,
    '[database]', `connection = sqlite:///${join(dir, 'magnum.sqlite')}`,
    '[certificates]', `encryption_key_file = ${join(dir, 'cert.key')}`,
    '[conductor]', 'sweep_interval = 1', 'operation_lease = 5', 'auto_healing_grace_period = 4',
    '[kubernetes]', 'health_polling_interval = 2',
    '[oslo_policy]', 'policy_file = /nonexistent/policy.yaml',
    ...extra,
  ].join('\n'));
  const proc = await spawnProcess(`${ROOT}/bin/magnum-all-in-one`, { args: ['--config-file', conf], port, readyPath: '/', name: 'aio-swarm' });
  const env = { OS_AUTH_TYPE: 'none', OS_ENDPOINT: `http://127.0.0.1:${port}/v1`, SHELL: '/bin/bash' };
  return { proc, env, dir };
}

async function coe(aio: Aio, args: string[], opts: { project?: string } = {}) {
  const env = { ...aio.env };
  // The none-auth client sends no identity headers: the all-in-one's [noauth] identity applies.
  void opts;
  const r = await runOpenstack(['coe', ...args], env, { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `openstack coe ${args.join(' ')} failed: ${r.stderr}`);
  return r;
}

async function show(aio: Aio, name: string): Promise<Record<string, any>> {
  const r = await coe(aio, ['cluster', 'show', name, '-f', 'json']);
  return JSON.parse(r.stdout);
}

async function waitStatus(aio: Aio, name: string, want: string, ms = 240_000): Promise<Record<string, any>> {
  return waitFor(`${name} ${want}`, async () => {
    const c = await show(aio, name);
    if (c.status.endsWith('FAILED')) throw new Error(`${name} is ${c.status}: ${c.status_reason}`);
    return c.status === want ? c : undefined;
  }, ms);
}

async function labelled(clusterUuid: string): Promise<string[]> {
  const out: string[] = [];
  for (const kind of [['ps', '-a', '--format', '{{.Names}}'], ['network', 'ls', '--format', '{{.Name}}'], ['volume', 'ls', '--format', '{{.Name}}']]) {
    const r = await sh('docker', [...kind.slice(0, kind.length - 2), '--filter', `label=magnum.cluster=${clusterUuid}`, ...kind.slice(-2)]);
    out.push(...r.stdout.split('\n').filter(Boolean));
  }
  return out;
}

/** The docker CLI with the environment `openstack coe cluster config` printed. */
function dockerEnv(configOut: string, dir: string): Record<string, string> {
  const env: Record<string, string> = { DOCKER_CONFIG: dir };
  for (const line of configOut.split('\n')) {
    const m = /^export (\w+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]] = m[2];
  }
  return env;
}

describe('swarm-mode clusters on Docker-engine nodes', { timeout: 25 * 60_000 }, () => {
  let aio: Aio;
  before(async () => {
    await must(`${ROOT}/bin/magnum-node-image`, ['build'], { timeoutMs: 15 * 60_000 });
    await must(`${ROOT}/bin/magnum-node-image`, ['build', '--name', NODE_IMAGE_V2], { timeoutMs: 10 * 60_000 });
    await must(`${ROOT}/bin/magnum-node-image`, ['workload'], { timeoutMs: 5 * 60_000 });
    aio = await startAio();
    await coe(aio, ['cluster', 'template', 'create', 'swarm-t', '--coe', 'swarm-mode', '--image', NODE_IMAGE, '--external-network', 'public', '--flavor', 'm1.small', '--master-flavor', 'm1.small', '--dns-nameserver', '127.0.0.1', '-f', 'json']);
    await coe(aio, ['cluster', 'template', 'create', 'swarm-t2', '--coe', 'swarm-mode', '--image', NODE_IMAGE_V2, '--external-network', 'public', '--flavor', 'm1.small', '--master-flavor', 'm1.small', '--dns-nameserver', '127.0.0.1', '-f', 'json']);
  });
  after(async () => {
    // Whatever a failed test left: delete the clusters through the API, then stop the service.
    if (aio?.proc.running) {
      const list = await runOpenstack(['coe', 'cluster', 'list', '-f', 'json'], aio.env);
      for (const c of (list.json ?? []) as { uuid: string }[]) await runOpenstack(['coe', 'cluster', 'delete', c.uuid], aio.env);
      await waitFor('clusters deleted', async () => (((await runOpenstack(['coe', 'cluster', 'list', '-f', 'json'], aio.env)).json ?? []).length === 0 ? true : undefined), 180_000).catch(() => undefined);
    }
    await aio?.proc.stop();
  });

  test('unknown images, flavors and external networks get Magnum\'s 400s', async () => {
    for (const [args, msg] of [
      [['--image', 'no-such-image', '--external-network', 'public'], /Image no-such-image could not be found/],
      [['--image', NODE_IMAGE, '--flavor', 'no-such-flavor', '--external-network', 'public'], /Unable to find flavor no-such-flavor/],
      [['--image', NODE_IMAGE, '--external-network', 'no-such-net'], /Unable to find external network no-such-net/],
    ] as const) {
      const r = await runOpenstack(['coe', 'cluster', 'template', 'create', 'bad', '--coe', 'swarm-mode', ...args], aio.env);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, msg);
    }
  });

  test('create, config, docker node ls, a service on a worker, resize, nodegroups, CA rotation, healing, upgrade, delete', async () => {
    await coe(aio, ['cluster', 'create', 's1', '--cluster-template', 'swarm-t', '--master-count', '1', '--node-count', '2', '--labels', 'auto_healing_enabled=true']);
    const c = await waitStatus(aio, 's1', 'CREATE_COMPLETE');
    assert.match(c.api_address, /^tcp:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(c.node_addresses.length, 2);
    assert.equal(c.master_addresses.length, 1);

    // cluster config → docker env and certificates; docker node ls shows 3 Ready nodes.
    const cfgDir = tempDir('magnum-cfg-');
    const cfg = await coe(aio, ['cluster', 'config', 's1', '--dir', cfgDir, '--output-certs', '--force']);
    for (const f of ['ca.pem', 'cert.pem', 'key.pem']) assert.ok(existsSync(join(cfgDir, f)), f);
    const denv = dockerEnv(cfg.stdout, cfgDir);
    assert.equal(denv.DOCKER_HOST, c.api_address);
    assert.equal(denv.DOCKER_TLS_VERIFY, 'True');
    const nodes = await must('docker', ['node', 'ls', '--format', '{{.Hostname}} {{.Status}}'], { env: denv });
    const lines = nodes.split('\n').filter(Boolean);
    assert.equal(lines.length, 3, nodes);
    assert.ok(lines.every((l) => l.endsWith(' Ready')), nodes);

    // A client without a certificate from the cluster CA is refused.
    const noCert = await sh('docker', ['--host', c.api_address, 'version'], { env: { DOCKER_CONFIG: cfgDir } });
    assert.notEqual(noCert.code, 0);

    // A service started through that endpoint runs on a worker.
    const names = c.node_addresses as string[];
    void names;
    const containers = (await must('docker', ['ps', '--filter', `label=magnum.cluster=${c.uuid}`, '--format', '{{.Names}}'])).split('\n').filter(Boolean);
    for (const node of containers) await must('bash', ['-c', `docker save ${WORKLOAD} | docker exec -i ${node} docker load`], { timeoutMs: 120_000 });
    await must('docker', ['service', 'create', '--detach', '--name', 'w', '--constraint', 'node.role==worker', WORKLOAD, 'sleep', '3600'], { env: denv });
    const placed = await waitFor('the service task running', async () => {
      const r = await sh('docker', ['service', 'ps', 'w', '--filter', 'desired-state=running', '--format', '{{.Node}} {{.CurrentState}}'], { env: denv });
      const line = r.stdout.split('\n').find((l) => / Running /.test(l));
      return line ? line.split(' ')[0] : undefined;
    }, 60_000);
    const workers = (await must('docker', ['node', 'ls', '--filter', 'role=worker', '--format', '{{.Hostname}}'], { env: denv })).split('\n').filter(Boolean);
    assert.ok(workers.includes(placed), `${placed} is a worker (${workers.join(', ')})`);
    await must('docker', ['service', 'rm', 'w'], { env: denv });

    // Resize to 3 workers, then back to 1 naming the nodes to remove.
    await coe(aio, ['cluster', 'resize', 's1', '3']);
    const r3 = await waitStatus(aio, 's1', 'UPDATE_COMPLETE');
    assert.equal(r3.node_addresses.length, 3);
    const workerNames = (await must('docker', ['node', 'ls', '--filter', 'role=worker', '--format', '{{.Hostname}}'], { env: denv })).split('\n').filter(Boolean).sort();
    assert.equal(workerNames.length, 3);
    const removeThese = workerNames.slice(0, 2);
    await coe(aio, ['cluster', 'resize', 's1', '1', '--nodes-to-remove', removeThese[0], '--nodes-to-remove', removeThese[1]]);
    const r1 = await waitStatus(aio, 's1', 'UPDATE_COMPLETE');
    assert.equal(r1.node_addresses.length, 1);
    const left = (await must('docker', ['node', 'ls', '--filter', 'role=worker', '--format', '{{.Hostname}}'], { env: denv })).split('\n').filter(Boolean);
    assert.deepEqual(left, [workerNames[2]]);
    for (const gone of removeThese) assert.equal((await sh('docker', ['inspect', gone])).code, 1, `${gone} removed`);

    // A nodegroup: its own nodes, labelled in the Swarm; then deleted.
    await coe(aio, ['nodegroup', 'create', 's1', 'ng-extra', '--node-count', '1', '--labels', 'tier=batch']);
    await waitFor('nodegroup CREATE_COMPLETE', async () => {
      const ng = JSON.parse((await coe(aio, ['nodegroup', 'show', 's1', 'ng-extra', '-f', 'json'])).stdout);
      if (ng.status.endsWith('FAILED')) throw new Error(ng.status_reason);
      return ng.status === 'CREATE_COMPLETE' ? ng : undefined;
    }, 180_000);
    const labelledNodes = await must('docker', ['node', 'ls', '--filter', 'node.label=magnum.nodegroup=ng-extra', '--format', '{{.Hostname}}'], { env: denv });
    assert.equal(labelledNodes.split('\n').filter(Boolean).length, 1);
    const tier = await must('docker', ['node', 'inspect', labelledNodes.trim(), '--format', '{{index .Spec.Labels "tier"}}'], { env: denv });
    assert.equal(tier.trim(), 'batch');
    await coe(aio, ['nodegroup', 'delete', 's1', 'ng-extra']);
    await waitFor('nodegroup gone', async () => ((await runOpenstack(['coe', 'nodegroup', 'show', 's1', 'ng-extra'], aio.env)).code !== 0 ? true : undefined), 120_000);
    await waitStatus(aio, 's1', 'UPDATE_COMPLETE');

    // CA rotation: the old client certificate is refused, a new config works.
    await coe(aio, ['ca', 'rotate', 's1']);
    await waitStatus(aio, 's1', 'UPDATE_COMPLETE');
    const old = await sh('docker', ['node', 'ls'], { env: denv });
    assert.notEqual(old.code, 0, 'the old certificate must be refused after rotation');
    const cfg2 = await coe(aio, ['cluster', 'config', 's1', '--dir', cfgDir, '--output-certs', '--force']);
    const denv2 = dockerEnv(cfg2.stdout, cfgDir);
    await waitFor('the engines to take the new CA', async () => ((await sh('docker', ['node', 'ls'], { env: denv2 })).code === 0 ? true : undefined), 60_000);

    // Auto-healing: kill a worker node by hand; the cluster turns UNHEALTHY, then HEALTHY again.
    const worker = (await must('docker', ['ps', '--filter', `label=magnum.cluster=${c.uuid}`, '--filter', 'label=magnum.role=worker', '--format', '{{.Names}}'])).split('\n').filter(Boolean)[0];
    await must('docker', ['kill', worker]);
    await waitFor('UNHEALTHY', async () => ((await show(aio, 's1')).health_status === 'UNHEALTHY' ? true : undefined), 30_000);
    await waitFor('HEALTHY again', async () => {
      const s = await show(aio, 's1');
      return s.health_status === 'HEALTHY' && s.status === 'UPDATE_COMPLETE' ? true : undefined;
    }, 180_000);

    // Upgrade to the second node image, rolling.
    await coe(aio, ['cluster', 'upgrade', 's1', 'swarm-t2', '--max-batch-size', '1']);
    const up = await waitStatus(aio, 's1', 'UPDATE_COMPLETE');
    const t2 = JSON.parse((await coe(aio, ['cluster', 'template', 'show', 'swarm-t2', '-f', 'json'])).stdout);
    assert.equal(up.cluster_template_id, t2.uuid);
    assert.equal(up.api_address, c.api_address, 'the API endpoint survives the upgrade');
    const images = (await must('docker', ['ps', '--filter', `label=magnum.cluster=${c.uuid}`, '--format', '{{.Image}}'])).split('\n').filter(Boolean);
    assert.ok(images.length >= 2 && images.every((i) => i === NODE_IMAGE_V2), images.join(', '));
    await waitFor('all nodes Ready after the upgrade', async () => {
      const r = await sh('docker', ['node', 'ls', '--format', '{{.Status}}'], { env: denv2 });
      const st = r.stdout.split('\n').filter(Boolean);
      return r.code === 0 && st.length === 2 && st.every((s) => s === 'Ready') ? true : undefined;
    }, 120_000);

    // The timeline shows the steps.
    const events = await (await fetch(`${aio.env.OS_ENDPOINT}/clusters/s1/events`)).json() as { events: { step: string; outcome: string }[] };
    assert.ok(events.events.some((e) => e.step === 'form swarm' && e.outcome === 'succeeded'));

    // Delete: nothing labelled for the cluster remains.
    await coe(aio, ['cluster', 'delete', 's1']);
    await waitFor('s1 gone', async () => ((await runOpenstack(['coe', 'cluster', 'show', 's1'], aio.env)).code !== 0 ? true : undefined), 180_000);
    assert.deepEqual(await labelled(c.uuid), []);
    void readFileSync;
  });
});
