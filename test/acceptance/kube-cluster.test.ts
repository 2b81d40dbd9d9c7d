// Real Kubernetes clusters: the real `openstack coe` client makes a template with the Kubernetes
// node image (bin/magnum-node-image build --coe kubernetes) and a 1-master 2-worker cluster; the
// kubeconfig `openstack coe cluster config` writes (and the one `coe cluster config` writes) and
// the kubectl built for the image show 3 Ready nodes (the master is a tainted Node, as in
// Magnum's drivers); a Deployment of 2 replicas answers HTTP across nodes through a ClusterIP
// Service and CoreDNS; kubectl logs and exec; health; a killed worker and a restarted one (its
// pod routes) are auto-healed; resize 2->3->1 with --nodes-to-remove; a labelled nodegroup; CA
// rotation; upgrade to another image; delete leaves nothing labelled for the cluster. One cluster
// serves all of that; a second one has 3 masters behind the API load balancer, one stopped.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { labelled, removeLabelled } from '../helpers/cluster-leftovers.ts';
import { ROOT } from '../helpers/env.ts';
import { freePort, runCommand, runOpenstack, spawnProcess, tempDir, type ManagedProcess } from '../helpers/processes.ts';
import { waitFor } from '../helpers/stack.ts';
import { cleanEnv, newHome, runCoe } from '../cli/helpers.ts';

const KUBE_IMAGE = process.env.MAGNUM_TEST_KUBE_IMAGE ?? 'magnum-kube-node:v1.34.4';
const KUBE_TAG = 'v1.34.4';
const WORKLOAD = 'magnum-test/busybox:latest';
/** A second image of the same Kubernetes (another image id), to upgrade to; made and removed by this test. */
const UPGRADE_IMAGE = 'magnum-kube-node:upgrade-test';
const ENV = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: process.env.HOME ?? '/root' };

async function must(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string; env?: Record<string, string> } = {}): Promise<string> {
  const r = await runCommand(cmd, args, { env: { ...ENV, ...opts.env }, timeoutMs: opts.timeoutMs ?? 120_000, input: opts.input });
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} failed (exit ${r.code}): ${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

describe('Kubernetes clusters on Docker-container nodes', { timeout: 20 * 60_000 }, () => {
  let dir: string;
  let aio: ManagedProcess;
  let osEnv: Record<string, string>;
  let kubectlPath: string;
  const uuids: string[] = [];

  const coe = async (...args: string[]) => {
    const r = await runOpenstack(['coe', ...args], osEnv, { timeoutMs: 120_000 });
    assert.equal(r.code, 0, `openstack coe ${args.join(' ')} failed: ${r.stderr}`);
    return r;
  };
  const show = async (name: string): Promise<Record<string, any>> => JSON.parse((await coe('cluster', 'show', name, '-f', 'json')).stdout);
  const waitUpdated = (name: string) => waitFor(`${name} UPDATE_COMPLETE`, async () => {
    const s = await show(name);
    if (s.status.endsWith('FAILED')) throw new Error(`${name} is ${s.status}: ${s.status_reason}`);
    return s.status === 'UPDATE_COMPLETE' ? s : undefined;
  }, 300_000);
  const workerNames = async (kubeconfig: string) => (JSON.parse(await kubectl(kubeconfig, 'get', 'nodes', '-l', 'magnum.openstack.org/role=worker', '-o', 'json')).items as any[])
    .map((n) => n.metadata.name as string).sort();
  const kubectl = (kubeconfig: string, ...args: string[]) => must(kubectlPath, ['--kubeconfig', kubeconfig, '--request-timeout=20s', ...args]);

  before(async () => {
    // Both are idempotent and report an existing image at once (a fresh machine builds the Kubernetes one: ~20 min).
    await must(`${ROOT}/bin/magnum-node-image`, ['build', '--coe', 'kubernetes', '--kube-tag', KUBE_TAG], { timeoutMs: 60 * 60_000 });
    await must(`${ROOT}/bin/magnum-node-image`, ['workload'], { timeoutMs: 10 * 60_000 });
    await must(`${ROOT}/bin/magnum-node-image`, ['build', '--coe', 'kubernetes', '--kube-tag', KUBE_TAG, '--name', UPGRADE_IMAGE, '--label', 'magnum.test=kube-upgrade'], { timeoutMs: 10 * 60_000 });
    kubectlPath = (await must(`${ROOT}/bin/magnum-node-image`, ['kubectl-path', '--kube-tag', KUBE_TAG])).trim();
    dir = tempDir('magnum-kube-');
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
    ].join('\n'));
    aio = await spawnProcess(`${ROOT}/bin/magnum-all-in-one`, { args: ['--config-file', conf], port, readyPath: '/', name: 'aio-kube' });
    osEnv = { OS_AUTH_TYPE: 'none', OS_ENDPOINT: `http://127.0.0.1:${port}/v1`, SHELL: '/bin/bash' };
  });

  after(async () => {
    if (aio?.running) {
      const list = await runOpenstack(['coe', 'cluster', 'list', '-f', 'json'], osEnv);
      for (const c of (list.json ?? []) as { uuid: string }[]) await runOpenstack(['coe', 'cluster', 'delete', c.uuid], osEnv);
      await waitFor('clusters deleted', async () => (((await runOpenstack(['coe', 'cluster', 'list', '-f', 'json'], osEnv)).json ?? []).length === 0 ? true : undefined), 180_000).catch(() => undefined);
    }
    await aio?.stop();
    for (const u of uuids) await removeLabelled(u);
    await runCommand('docker', ['rmi', UPGRADE_IMAGE], { env: ENV, timeoutMs: 120_000 });
  });

  test('a kube_tag the image does not run, or tls_disabled, fails the create clearly', async () => {
    await coe('cluster', 'template', 'create', 'k8s-other', '--coe', 'kubernetes', '--image', KUBE_IMAGE, '--external-network', 'public', '--labels', 'kube_tag=v1.33.0');
    await coe('cluster', 'create', 'kbad', '--cluster-template', 'k8s-other', '--master-count', '1', '--node-count', '1');
    const c = await waitFor('kbad CREATE_FAILED', async () => {
      const s = await show('kbad');
      return s.status === 'CREATE_FAILED' ? s : undefined;
    }, 60_000);
    uuids.push(c.uuid);
    assert.match(c.status_reason, /kube_tag=v1\.33\.0 does not match image magnum-kube-node:v1\.34\.4, which runs Kubernetes v1\.34\.4/);
    assert.deepEqual((await labelled(c.uuid)).filter((x) => x.startsWith('container')), []);
    await coe('cluster', 'delete', 'kbad');

    // tls_disabled: the API here always requires client certificates, so it is refused, not ignored.
    await coe('cluster', 'template', 'create', 'k8s-plain', '--coe', 'kubernetes', '--image', KUBE_IMAGE, '--external-network', 'public', '--tls-disabled');
    await coe('cluster', 'create', 'kplain', '--cluster-template', 'k8s-plain', '--master-count', '1', '--node-count', '1');
    const p = await waitFor('kplain CREATE_FAILED', async () => {
      const s = await show('kplain');
      return s.status === 'CREATE_FAILED' ? s : undefined;
    }, 60_000);
    uuids.push(p.uuid);
    assert.match(p.status_reason, /tls_disabled is not supported by the kubernetes driver/);
    await coe('cluster', 'delete', 'kplain');
  });

  test('1 master + 2 workers: config, kubectl, a Deployment behind a Service and DNS, logs, exec, health, healing, resize, nodegroup, CA rotation, upgrade, delete', async () => {
    const tpl = (await coe('cluster', 'template', 'create', 'k8s-t', '--coe', 'kubernetes', '--image', KUBE_IMAGE,
      '--external-network', 'public', '--labels', `kube_tag=${KUBE_TAG}`, '-f', 'json')).json;
    assert.equal(tpl.coe, 'kubernetes');
    assert.equal(tpl.cluster_distro, 'debian');

    const t0 = Date.now();
    await coe('cluster', 'create', 'k1', '--cluster-template', 'k8s-t', '--master-count', '1', '--node-count', '2', '--labels', 'auto_healing_enabled=true,some_unknown_label=kept', '--merge-labels');
    const c = await waitFor('k1 CREATE_COMPLETE', async () => {
      const s = await show('k1');
      if (s.status.endsWith('FAILED')) throw new Error(`k1 is ${s.status}: ${s.status_reason}`);
      return s.status === 'CREATE_COMPLETE' ? s : undefined;
    }, 300_000);
    uuids.push(c.uuid);
    console.log(`# 1 master + 2 workers: CREATE_COMPLETE after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.match(c.api_address, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(c.coe_version, KUBE_TAG);
    assert.match(c.container_version, /^1\.6\.\d+/);
    assert.equal(c.master_addresses.length, 1);
    assert.equal(c.node_addresses.length, 2);
    assert.equal(c.discovery_url, `https://${c.master_addresses[0]}:2380`);
    assert.equal(c.labels.some_unknown_label, 'kept');

    // openstack coe cluster config: the client's own key and CSR (CN=admin, O=system:masters), signed by the cluster CA.
    const cfgDir = tempDir('magnum-kcfg-');
    const cfg = await coe('cluster', 'config', 'k1', '--dir', cfgDir, '--force', '--output-certs');
    assert.match(cfg.stdout, new RegExp(`export KUBECONFIG=${cfgDir}/config`));
    const kubeconfig = join(cfgDir, 'config');
    assert.ok(readFileSync(kubeconfig, 'utf8').includes(`server: ${c.api_address}`));
    const cert = new X509Certificate(readFileSync(join(cfgDir, 'cert.pem')));
    assert.match(cert.subject, /CN=admin/);
    assert.match(cert.subject, /O=system:masters/);
    const who = JSON.parse(await kubectl(kubeconfig, 'auth', 'whoami', '-o', 'json'));
    assert.equal(who.status.userInfo.username, 'admin');
    assert.ok(who.status.userInfo.groups.includes('system:masters'));

    const nodes = JSON.parse(await kubectl(kubeconfig, 'get', 'nodes', '-o', 'json')).items as any[];
    assert.equal(nodes.length, 3);
    for (const n of nodes) assert.equal(n.status.conditions.find((x: any) => x.type === 'Ready').status, 'True', n.metadata.name);
    const masters = nodes.filter((n) => n.metadata.labels['magnum.openstack.org/role'] === 'master');
    assert.equal(masters.length, 1);
    assert.deepEqual(masters[0].spec.taints.map((t: any) => `${t.key}:${t.effect}`), ['node-role.kubernetes.io/master:NoSchedule']);
    const workers = nodes.filter((n) => n.metadata.labels['magnum.openstack.org/role'] === 'worker').map((n) => n.metadata.name as string).sort();
    assert.equal(workers.length, 2);

    // The TypeScript client's `coe cluster config` writes a kubeconfig that works the same way.
    const coeDir = tempDir('magnum-coecfg-');
    const mine = await runCoe(['cluster', 'config', 'k1', '--dir', coeDir, '--force'], cleanEnv(newHome(), { OS_ENDPOINT: osEnv.OS_ENDPOINT }));
    assert.equal(mine.code, 0, mine.stderr);
    assert.equal(JSON.parse(await kubectl(join(coeDir, 'config'), 'get', 'nodes', '-o', 'json')).items.length, 3);

    // The workload image into both workers (no registry: docker save | the node's containerd).
    await Promise.all(workers.map((w) => must('bash', ['-c', `docker save ${WORKLOAD} | docker exec -i ${w} magnum-kube-node load-image`], { timeoutMs: 180_000 })));
    await kubectl(kubeconfig, 'apply', '-f', writeManifest(cfgDir, 'web.yaml', webManifest(WORKLOAD)));
    await kubectl(kubeconfig, 'rollout', 'status', 'deployment/web', '--timeout=120s');
    await kubectl(kubeconfig, 'wait', '--for=condition=Ready', 'pod/client', '--timeout=120s');
    const pods = JSON.parse(await kubectl(kubeconfig, 'get', 'pods', '-l', 'app=web', '-o', 'json')).items as any[];
    assert.deepEqual(pods.map((p) => p.spec.nodeName).sort(), workers, 'one web replica on each worker');

    // kubectl logs and exec.
    assert.match(await kubectl(kubeconfig, 'logs', 'client'), /^hello from client$/m);
    assert.equal((await kubectl(kubeconfig, 'exec', 'client', '--', 'sh', '-c', 'echo exec-ok')).trim(), 'exec-ok');
    // DNS (CoreDNS) and HTTP through the ClusterIP Service reach both replicas, on both workers.
    const svcIp = JSON.parse(await kubectl(kubeconfig, 'get', 'svc', 'web', '-o', 'json')).spec.clusterIP;
    assert.match(await kubectl(kubeconfig, 'exec', 'client', '--', 'nslookup', 'web.default.svc.cluster.local'), new RegExp(svcIp.replace(/\./g, '\\.')));
    const seen = new Set<string>();
    await waitFor('both replicas answer through the Service', async () => {
      const out = await kubectl(kubeconfig, 'exec', 'client', '--', 'sh', '-c', "printf 'GET /cgi-bin/hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 3 web 80");
      const host = out.trim().split('\n').pop()!.trim();
      if (pods.some((p) => p.metadata.name === host)) seen.add(host);
      return seen.size === 2 ? true : undefined;
    }, 60_000);

    // Health in Magnum's shape.
    const healthy = await waitFor('HEALTHY', async () => {
      const s = await show('k1');
      return s.health_status === 'HEALTHY' ? s : undefined;
    }, 30_000);
    const expected: Record<string, string> = { api: 'ok' };
    for (const n of nodes) expected[`${n.metadata.name}.Ready`] = 'True';
    assert.deepEqual(healthy.health_status_reason, expected);

    // A killed worker: UNHEALTHY, then auto-healed (auto_healing_enabled=true), Ready again with its pods.
    const victim = workers[0];
    await must('docker', ['kill', victim]);
    const sick = await waitFor('UNHEALTHY', async () => {
      const s = await show('k1');
      return s.health_status === 'UNHEALTHY' ? s : undefined;
    }, 60_000);
    assert.match(sick.health_status_reason[`${victim}.Ready`], /^False/);
    await waitFor('HEALTHY again', async () => {
      const s = await show('k1');
      return s.health_status === 'HEALTHY' && s.status === 'UPDATE_COMPLETE' ? true : undefined;
    }, 240_000);
    await kubectl(kubeconfig, 'rollout', 'status', 'deployment/web', '--timeout=120s');

    // A worker that restarts by itself (as after the Docker host's engine restarts) comes back
    // Ready but without its pod routes: UNHEALTHY (<node>.PodRoutes), healed, and both replicas
    // answer through the Service again.
    const restarted = workers[1];
    await must('docker', ['restart', '--time', '2', restarted]);
    const noRoutes = await waitFor('UNHEALTHY for the pod routes', async () => {
      const s = await show('k1');
      return s.health_status === 'UNHEALTHY' && s.health_status_reason[`${restarted}.PodRoutes`] ? s : undefined;
    }, 90_000);
    assert.match(noRoutes.health_status_reason[`${restarted}.PodRoutes`], /^missing: 10\.100\./);
    await waitFor('HEALTHY after healing the routes', async () => {
      const s = await show('k1');
      return s.health_status === 'HEALTHY' && s.status === 'UPDATE_COMPLETE' ? true : undefined;
    }, 240_000);
    await kubectl(kubeconfig, 'rollout', 'status', 'deployment/web', '--timeout=120s');
    await kubectl(kubeconfig, 'wait', '--for=condition=Ready', 'pod', '-l', 'app=web', '--timeout=120s');
    const clientNode = JSON.parse(await kubectl(kubeconfig, 'get', 'pod', 'client', '-o', 'json')).spec.nodeName;
    if (clientNode === restarted) await kubectl(kubeconfig, 'wait', '--for=condition=Ready', 'pod/client', '--timeout=120s');
    seen.clear();
    await waitFor('both replicas answer through the Service after the restart', async () => {
      const r = await runCommand(kubectlPath, ['--kubeconfig', kubeconfig, '--request-timeout=20s', 'exec', 'client', '--', 'sh', '-c',
        "printf 'GET /cgi-bin/hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 3 web 80"], { env: ENV, timeoutMs: 30_000 });
      const host = r.stdout.trim().split('\n').pop()?.trim() ?? '';
      if (pods.some((p) => p.metadata.name === host)) seen.add(host);
      return seen.size === 2 ? true : undefined;
    }, 90_000);

    // Resize 2 -> 3 workers, then 3 -> 1 naming the two to remove: drained, their Node objects deleted.
    await coe('cluster', 'resize', 'k1', '3');
    const r3 = await waitUpdated('k1');
    assert.equal(r3.node_addresses.length, 3);
    const workers3 = await workerNames(kubeconfig);
    assert.equal(workers3.length, 3);
    // The new worker and one of the first two go; the one left has the workload image loaded.
    const removeThese = [workers3[0], workers3[2]];
    await coe('cluster', 'resize', 'k1', '1', '--nodes-to-remove', removeThese[0], '--nodes-to-remove', removeThese[1]);
    const r1 = await waitUpdated('k1');
    assert.equal(r1.node_addresses.length, 1);
    assert.deepEqual(await workerNames(kubeconfig), [workers3[1]]);
    for (const gone of removeThese) assert.notEqual((await runCommand('docker', ['inspect', gone], { env: ENV })).code, 0, `${gone} removed`);
    const placed = (JSON.parse(await kubectl(kubeconfig, 'get', 'pods', '-A', '-o', 'json')).items as any[]).map((p) => p.spec.nodeName);
    for (const gone of removeThese) assert.ok(!placed.includes(gone), `no pod left on ${gone}`);

    // A nodegroup whose labels become its nodes' labels; deleted again with its Node.
    await coe('nodegroup', 'create', 'k1', 'ng-extra', '--node-count', '1', '--labels', 'tier=batch');
    await waitFor('nodegroup CREATE_COMPLETE', async () => {
      const ng = JSON.parse((await coe('nodegroup', 'show', 'k1', 'ng-extra', '-f', 'json')).stdout);
      if (ng.status.endsWith('FAILED')) throw new Error(ng.status_reason);
      return ng.status === 'CREATE_COMPLETE' ? ng : undefined;
    }, 240_000);
    const extra = JSON.parse(await kubectl(kubeconfig, 'get', 'nodes', '-l', 'magnum.openstack.org/nodegroup=ng-extra', '-o', 'json')).items as any[];
    assert.equal(extra.length, 1);
    assert.equal(extra[0].metadata.labels.tier, 'batch');
    assert.equal(extra[0].status.conditions.find((x: any) => x.type === 'Ready').status, 'True');
    await coe('nodegroup', 'delete', 'k1', 'ng-extra');
    await waitFor('nodegroup gone', async () => ((await runOpenstack(['coe', 'nodegroup', 'show', 'k1', 'ng-extra'], osEnv)).code !== 0 ? true : undefined), 180_000);
    await waitUpdated('k1');
    assert.equal(JSON.parse(await kubectl(kubeconfig, 'get', 'nodes', '-o', 'json')).items.length, 2);

    // CA rotation: every component re-certified; the old client certificate is refused, a new config works.
    await coe('ca', 'rotate', 'k1');
    await waitUpdated('k1');
    const refused = await runCommand(kubectlPath, ['--kubeconfig', kubeconfig, '--request-timeout=20s', 'get', 'nodes'], { env: ENV, timeoutMs: 60_000 });
    assert.notEqual(refused.code, 0, 'the old certificate must be refused after the rotation');
    await coe('cluster', 'config', 'k1', '--dir', cfgDir, '--force');
    const after = JSON.parse(await kubectl(kubeconfig, 'get', 'nodes', '-o', 'json')).items as any[];
    assert.equal(after.length, 2);
    for (const n of after) assert.equal(n.status.conditions.find((x: any) => x.type === 'Ready').status, 'True', n.metadata.name);
    assert.match(await kubectl(kubeconfig, 'exec', 'client', '--', 'nslookup', 'kubernetes.default.svc.cluster.local').catch(async () => {
      // The client pod was on a removed worker (drained away): a fresh one on the remaining worker.
      await kubectl(kubeconfig, 'delete', 'pod', 'client', '--ignore-not-found', '--wait=true');
      await kubectl(kubeconfig, 'apply', '-f', join(cfgDir, 'web.yaml'));
      await kubectl(kubeconfig, 'wait', '--for=condition=Ready', 'pod/client', '--timeout=120s');
      return kubectl(kubeconfig, 'exec', 'client', '--', 'nslookup', 'kubernetes.default.svc.cluster.local');
    }), /10\.254\.0\.1/);

    // Upgrade to a template with another image (same kube_tag): masters first, then workers, one
    // at a time; every node runs the new image, Ready, and the workload is back.
    await coe('cluster', 'template', 'create', 'k8s-t2', '--coe', 'kubernetes', '--image', UPGRADE_IMAGE, '--external-network', 'public', '--labels', `kube_tag=${KUBE_TAG}`);
    await coe('cluster', 'upgrade', 'k1', 'k8s-t2', '--max-batch-size', '1');
    const up = await waitUpdated('k1');
    assert.equal(up.cluster_template_id, (await coe('cluster', 'template', 'show', 'k8s-t2', '-f', 'json')).json.uuid);
    const upNodes = JSON.parse(await kubectl(kubeconfig, 'get', 'nodes', '-o', 'json')).items as any[];
    assert.equal(upNodes.length, 2);
    for (const n of upNodes) {
      assert.equal(n.status.conditions.find((x: any) => x.type === 'Ready').status, 'True', n.metadata.name);
      assert.ok(!n.spec.unschedulable, `${n.metadata.name} uncordoned`);
      assert.equal((await must('docker', ['inspect', '--format', '{{.Config.Image}}', n.metadata.name])).trim(), UPGRADE_IMAGE);
    }
    await waitFor('a web pod Running on the upgraded worker', async () => {
      const items = JSON.parse(await kubectl(kubeconfig, 'get', 'pods', '-l', 'app=web', '-o', 'json')).items as any[];
      return items.some((p) => p.status.phase === 'Running' && p.status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True')) ? true : undefined;
    }, 120_000);

    // Delete: nothing labelled for the cluster is left.
    await coe('cluster', 'delete', 'k1');
    await waitFor('k1 deleted', async () => ((await runOpenstack(['coe', 'cluster', 'show', 'k1'], osEnv)).code !== 0 ? true : undefined), 180_000);
    assert.deepEqual(await labelled(c.uuid), []);
  });

  test('master_count 3 behind a load balancer: one master stopped, the API still answers and writes', async () => {
    const tpl = await runOpenstack(['coe', 'cluster', 'template', 'show', 'k8s-ha'], osEnv);
    if (tpl.code !== 0) await coe('cluster', 'template', 'create', 'k8s-ha', '--coe', 'kubernetes', '--image', KUBE_IMAGE, '--external-network', 'public', '--master-lb-enabled');
    const t0 = Date.now();
    // master_lb_enabled comes from the template: python-magnumclient 4.0.0's --master-lb-enabled sends false.
    await coe('cluster', 'create', 'kha', '--cluster-template', 'k8s-ha', '--master-count', '3', '--node-count', '1');
    const c = await waitFor('kha CREATE_COMPLETE', async () => {
      const s = await show('kha');
      if (s.status.endsWith('FAILED')) throw new Error(`kha is ${s.status}: ${s.status_reason}`);
      return s.status === 'CREATE_COMPLETE' ? s : undefined;
    }, 400_000);
    uuids.push(c.uuid);
    console.log(`# 3 masters + 1 worker: CREATE_COMPLETE after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.equal(c.master_addresses.length, 3);
    assert.deepEqual(c.discovery_url.split(','), c.master_addresses.map((a: string) => `https://${a}:2380`));
    const cfgDir = tempDir('magnum-kcfg-ha-');
    await coe('cluster', 'config', 'kha', '--dir', cfgDir, '--force');
    const kubeconfig = join(cfgDir, 'config');
    const nodes = JSON.parse(await kubectl(kubeconfig, 'get', 'nodes', '-o', 'json')).items as any[];
    assert.equal(nodes.length, 4);
    for (const n of nodes) assert.equal(n.status.conditions.find((x: any) => x.type === 'Ready').status, 'True', n.metadata.name);

    // Stop the first master: api_address (the load balancer) still answers, reads and writes (etcd keeps its quorum).
    const first = nodes.map((n) => n.metadata.name as string).filter((n) => n.includes('master')).sort()[0];
    await must('docker', ['stop', first]);
    // The load balancer probes the masters every second: a connection made before it noticed may
    // go to the stopped master (and time out); once it has, every request answers.
    const stoppedAt = Date.now();
    const lb = `magnum-${c.uuid.slice(0, 8)}-api-lb`;
    const stoppedIp = nodes.find((n) => n.metadata.name === first).status.addresses.find((a: any) => a.type === 'InternalIP').address;
    await waitFor('the load balancer to drop the stopped master', async () => {
      const last = (await must('docker', ['logs', '--tail', '1', lb])).trim();
      return /API servers: /.test(last) && !last.split(' ').includes(stoppedIp) ? true : undefined;
    }, 15_000);
    console.log(`# the load balancer dropped the stopped master ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s after docker stop returned`);
    for (let i = 0; i < 10; i++) {
      assert.equal(JSON.parse(await kubectl(kubeconfig, 'get', 'nodes', '-o', 'json')).items.length, 4);
    }
    await kubectl(kubeconfig, 'create', 'configmap', 'still-writable', '--from-literal=a=b');
    assert.equal(JSON.parse(await kubectl(kubeconfig, 'get', 'configmap', 'still-writable', '-o', 'json')).data.a, 'b');
    const sick = await waitFor('UNHEALTHY', async () => {
      const s = await show('kha');
      return s.health_status === 'UNHEALTHY' && /^False|^Unknown/.test(s.health_status_reason[`${first}.Ready`] ?? '') ? s : undefined;
    }, 120_000);
    assert.equal(sick.health_status_reason.api, 'ok');

    await coe('cluster', 'delete', 'kha');
    await waitFor('kha deleted', async () => ((await runOpenstack(['coe', 'cluster', 'show', 'kha'], osEnv)).code !== 0 ? true : undefined), 180_000);
    assert.deepEqual(await labelled(c.uuid), []);
  });
});

function writeManifest(dir: string, name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** Two web replicas spread over the workers (busybox httpd), a Service, and a client pod. */
function webManifest(image: string): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}}
      containers:
      - {name: web, image: ${image}, imagePullPolicy: Never, command: ["httpd", "-f", "-p", "8080", "-h", "/www"]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  containers:
  - {name: client, image: ${image}, imagePullPolicy: Never, command: ["sh", "-c", "echo hello from $(hostname); exec sleep 3600"]}
`;
}
