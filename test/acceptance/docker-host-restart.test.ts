// Nodes and clusters come back by themselves after the Docker host's engine restarts, and after a
// reboot of the conductor's host, HEALTHY again without user action, with the down and the up in
// the cluster's timeline.
//
// The Docker host is a second engine of this test's own, never the machine's: a container of the
// node image (magnum-node:bookworm runs an engine) on a network of its own with a fixed address,
// its dockerd serving TCP with TLS (certificates made here with openssl), reached by the
// all-in-one as `[docker] host = tcp://<address>:2376` with tls_ca_cert/tls_cert/tls_key: the
// remote-host path. The cluster's nodes run inside that engine (engines three levels deep: this
// machine's, the test's, each node's), and publish their API on that engine's address
// (`[docker] external_networks = public:<address>`), which this machine reaches directly.
//
//  1. engine restart: dockerd stopped (as `systemctl stop docker`: it stops every node), the
//     conductor sees the cluster UNHEALTHY, dockerd started again: the nodes restart by their
//     restart policy, the Swarm forms again from the state on the nodes' volumes; the conductor's
//     health polling turns the cluster HEALTHY; `docker node ls` (with a certificate from the
//     cluster's CA) lists every node Ready; api_address unchanged; no healing operation ran.
//  2. reboot of the conductor's host, with the Docker host losing power at the same time: the
//     all-in-one killed -9, the engine's container killed (every process in it gets SIGKILL, the
//     engine's /run is a fresh tmpfs afterwards); the container started again, the all-in-one
//     started again (it re-reads everything from its database: health polling resumes at once and
//     sees the host not answering), then the engine's dockerd: HEALTHY again, as above.
//  3. a node that does not come back by itself (killed by hand: the restart policy leaves it
//     stopped): auto-healing (label auto_healing_enabled=true) starts it once the grace period
//     ([conductor] auto_healing_grace_period, shortened for this step) has passed.
//  4. delete: nothing left on the engine (no container, volume or network besides Docker's own).
// The engine (container, volume, network) is removed in the after hook, whatever happened.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT } from '../helpers/env.ts';
import { must, sh } from '../helpers/commands.ts';
import { freePort, spawnProcess, tempDir, type ManagedProcess } from '../helpers/processes.ts';
import { waitFor } from '../helpers/stack.ts';

const NODE_IMAGE = process.env.MAGNUM_TEST_NODE_IMAGE ?? 'magnum-node:bookworm';
/** How long a cluster may take to be HEALTHY again once its engine runs. */
const RECOVERY_BOUND_MS = 120_000;
/** Auto-healing is on for the cluster, with a grace period longer than the recovery bound: a heal would mean the nodes did not come back by themselves. */
const GRACE_S = 180;
/** The grace period of the auto-healing step. */
const SHORT_GRACE_S = 6;
/** Flags a container running its own engine needs here (ENVIRONMENT.md: --privileged fails). */
const ENGINE_FLAGS = [
  '--cap-add', 'ALL', '--cap-drop', 'SYS_RESOURCE',
  '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined', '--security-opt', 'systempaths=unconfined',
  '--cgroupns', 'host', '-v', '/sys/fs/cgroup:/sys/fs/cgroup:rw', '--tmpfs', '/run', '--tmpfs', '/tmp',
];

const lines = (s: string) => s.split('\n').map((l) => l.trim()).filter(Boolean);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

interface Event { id: number; operation_id: string | null; step: string; outcome: string; message: string | null; created_at: string }

describe('the Docker host\'s engine restarts (and the conductor\'s host reboots): clusters come back by themselves', { timeout: 40 * 60_000 }, () => {
  const run = randomBytes(3).toString('hex');
  const engine = { name: `magnum-test-engine-${run}`, network: `magnum-test-engine-${run}`, volume: `magnum-test-engine-${run}`, address: '' };
  let dir = '';
  let conf = '';
  let port = 0;
  let aio: ManagedProcess | undefined;
  let engineDocker: string[] = [];
  const clusters = new Set<string>();
  const figures: string[] = [];
  const H = { 'openstack-api-version': 'container-infra latest', 'content-type': 'application/json' };

  /** The docker CLI against the test's engine, over TLS with the client certificate made here. */
  const onEngine = (args: string[], timeoutMs = 120_000) => sh('docker', [...engineDocker, ...args], { env: { DOCKER_CONFIG: dir }, timeoutMs });
  const engineAnswers = async () => (await onEngine(['version', '--format', '{{.Server.Version}}'], 10_000)).code === 0;

  async function startDockerd(): Promise<void> {
    await must('docker', ['exec', '-d', engine.name, 'sh', '-c',
      'exec magnum-node-entrypoint --host tcp://0.0.0.0:2376 --tlsverify --tlscacert /etc/magnum-test/ca.pem --tlscert /etc/magnum-test/server.pem --tlskey /etc/magnum-test/server-key.pem >>/var/log/dockerd.log 2>&1']);
    await waitFor('the test engine to answer over TLS', async () => ((await engineAnswers()) ? true : undefined), 60_000);
  }

  /** Stops dockerd as an init system would (SIGTERM: it stops its containers, then exits). */
  async function stopDockerd(): Promise<void> {
    await must('docker', ['exec', engine.name, 'pkill', '-TERM', '-x', 'dockerd']);
    await waitFor('dockerd to exit', async () => ((await sh('docker', ['exec', engine.name, 'pgrep', '-x', 'dockerd|containerd'])).code === 1 ? true : undefined), 90_000);
  }

  function writeConf(graceSeconds: number): void {
    writeFileSync(conf, [
      '[DEFAULT]', 'auth_strategy = noauth', 'transport_url = inprocess://',
      '[api]', `port = ${port}`,
      '[database]', `connection = sqlite:///${join(dir, 'magnum.sqlite')}`,
      '[certificates]', `encryption_key_file = ${join(dir, 'cert.key')}`,
      '[conductor]', 'sweep_interval = 1', 'operation_lease = 5', `auto_healing_grace_period = ${graceSeconds}`,
      '[kubernetes]', 'health_polling_interval = 2',
      '[docker]', `host = tcp://${engine.address}:2376`, `tls_ca_cert = ${join(dir, 'ca.pem')}`, `tls_cert = ${join(dir, 'client.pem')}`, `tls_key = ${join(dir, 'client-key.pem')}`,
      `external_networks = public:${engine.address}`,
      '[oslo_policy]', 'policy_file = /nonexistent/policy.yaml',
    ].join('\n'));
  }

  async function startAio(): Promise<void> {
    aio = await spawnProcess(`${ROOT}/bin/magnum-all-in-one`, { args: ['--config-file', conf], port, readyPath: '/', name: `aio-dhr-${run}`, logDir: dir });
  }

  async function api(method: string, path: string, body?: unknown) {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers: H, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    let json: any = null;
    try { json = text ? JSON.parse(text) : null; } catch { json = text; }
    return { status: r.status, body: json };
  }

  async function cluster(uuid: string): Promise<Record<string, any>> {
    const r = await api('GET', `/v1/clusters/${uuid}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  }

  async function events(uuid: string, afterId = 0): Promise<Event[]> {
    const out: Event[] = [];
    let marker = afterId;
    for (;;) {
      const r = await api('GET', `/v1/clusters/${uuid}/events?limit=500${marker ? `&marker=${marker}` : ''}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      out.push(...(r.body.events as Event[]));
      if (!r.body.next || !r.body.events.length) return out;
      marker = r.body.events[r.body.events.length - 1].id;
    }
  }

  /** Waits for a health status (and the cluster status), returning when it was first seen. */
  async function health(uuid: string, want: string, ms: number, status = 'CREATE_COMPLETE'): Promise<number> {
    return waitFor(`cluster health ${want}, status ${status}`, async () => {
      const c = await cluster(uuid);
      if (c.status.endsWith('FAILED') || (status === 'CREATE_COMPLETE' && c.status !== status)) throw new Error(`the cluster is ${c.status} (${c.status_reason}): no operation should run`);
      return c.health_status === want && c.status === status ? Date.now() : undefined;
    }, ms);
  }

  /** `docker node ls` through the cluster's API endpoint, with a client certificate from its CA. */
  async function swarmNodes(uuid: string, apiAddress: string): Promise<{ host: string; status: string }[]> {
    const certs = join(dir, `client-${uuid}`);
    const ca = join(certs, 'ca.pem');
    try {
      readFileSync(ca);
    } catch {
      await must('mkdir', ['-p', certs]);
      await must('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=admin', '-keyout', join(certs, 'key.pem'), '-out', join(certs, 'csr.pem')]);
      const caR = await api('GET', `/v1/certificates/${uuid}`);
      assert.equal(caR.status, 200, JSON.stringify(caR.body));
      const signed = await api('POST', '/v1/certificates', { cluster_uuid: uuid, csr: readFileSync(join(certs, 'csr.pem'), 'utf8') });
      assert.equal(signed.status, 201, JSON.stringify(signed.body));
      writeFileSync(join(certs, 'cert.pem'), signed.body.pem);
      writeFileSync(ca, caR.body.pem);
    }
    const r = await sh('docker', ['--host', apiAddress, '--tlsverify', '--tlscacert', ca, '--tlscert', join(certs, 'cert.pem'), '--tlskey', join(certs, 'key.pem'),
      'node', 'ls', '--format', '{{.Hostname}} {{.Status}}'], { env: { DOCKER_CONFIG: certs }, timeoutMs: 30_000 });
    if (r.code !== 0) return [];
    return lines(r.stdout).map((l) => {
      const [host, status] = l.split(' ');
      return { host, status };
    });
  }

  async function nodesReady(uuid: string, apiAddress: string, names: string[]): Promise<void> {
    await waitFor('docker node ls: every node Ready', async () => {
      const nodes = await swarmNodes(uuid, apiAddress);
      return names.every((n) => nodes.some((x) => x.host === n && x.status === 'Ready')) && nodes.length === names.length ? true : undefined;
    }, 60_000);
  }

  /** The health timeline since `afterId`: every node down and back, the cluster down and back, no healing. */
  async function assertTimeline(uuid: string, afterId: number, nodes: string[]): Promise<Event[]> {
    const ev = await events(uuid, afterId);
    const messages = ev.map((e) => e.message ?? '');
    const text = messages.join('\n');
    const downAt = messages.findIndex((m) => /^Health HEALTHY -> UNHEALTHY/.test(m));
    const upAt = messages.findIndex((m) => /^Health UNHEALTHY -> HEALTHY/.test(m));
    assert.ok(downAt >= 0 && upAt > downAt, `the timeline records the cluster down, then up:\n${text}`);
    for (const n of nodes) {
      const down = messages.findIndex((m) => m.startsWith(`Node ${n} is not Ready`));
      const back = messages.findIndex((m) => m === `Node ${n} is Ready again`);
      assert.ok(down >= 0 && back > down, `the timeline records node ${n} down, then Ready again:\n${text}`);
    }
    assert.ok(ev.every((e) => e.step === 'health' && e.operation_id === null), `only health entries, no operation (no healing):\n${JSON.stringify(ev, null, 1)}`);
    return ev;
  }

  const lastEventId = async (uuid: string) => (await events(uuid)).reduce((m, e) => Math.max(m, e.id), 0);

  /**
   * After the engine's start: HEALTHY within the bound with no operation, every node Ready in
   * `docker node ls`, the same api_address, the down and the up in the timeline since `mark`.
   */
  async function recovered(uuid: string, mark: number, engineStartAt: number): Promise<{ healthyAt: number; readyAt: number; timeline: string }> {
    const healthyAt = await health(uuid, 'HEALTHY', RECOVERY_BOUND_MS);
    await nodesReady(uuid, apiAddress, nodeNames);
    const readyAt = Date.now();
    const back = await cluster(uuid);
    assert.equal(back.api_address, apiAddress, 'api_address unchanged');
    assert.equal(back.status, 'CREATE_COMPLETE');
    assert.deepEqual(back.health_status_reason, { ...Object.fromEntries(nodeNames.map((n) => [`${n}.Ready`, 'True'])), quorum: '1/1 managers reachable', api: 'ok' });
    const ev = await assertTimeline(uuid, mark, nodeNames);
    // When each node was seen Ready again, from the engine's start (event times may be to the second).
    const timeline = ev.filter((e) => / is Ready again$|-> HEALTHY/.test(e.message ?? ''))
      .map((e) => `${(e.message ?? '').replace(/^(Health \S+ -> \S+):.*/, '$1')} +${seconds(new Date(e.created_at).getTime() - engineStartAt)}`).join(', ');
    return { healthyAt, readyAt, timeline };
  }

  before(async () => {
    await must(`${ROOT}/bin/magnum-node-image`, ['build'], { timeoutMs: 15 * 60_000 });
    dir = tempDir('magnum-dhr-');
    // The engine's network: a /24 of our own with a fixed address for the engine, so that its
    // address (the host of every published node port) survives restarts of its container.
    for (let attempt = 0; !engine.address; attempt++) {
      const subnet = `10.251.${Math.floor(Math.random() * 256)}`;
      const r = await sh('docker', ['network', 'create', '--driver', 'bridge', '--subnet', `${subnet}.0/24`, '--label', `magnum.test=${run}`, engine.network]);
      if (r.code === 0) engine.address = `${subnet}.2`;
      else if (!/overlap/i.test(r.stderr) || attempt > 20) assert.fail(`creating the engine's network: ${r.stderr}`);
    }
    // Certificates: a CA, the engine's server certificate (its address), a client certificate.
    const o = (...args: string[]) => must('openssl', args);
    await o('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=magnum-test-engine-ca-${run}`, '-keyout', join(dir, 'ca-key.pem'), '-out', join(dir, 'ca.pem'));
    for (const [name, ext] of [['server', `subjectAltName=IP:${engine.address},IP:127.0.0.1\nextendedKeyUsage=serverAuth\n`], ['client', 'extendedKeyUsage=clientAuth\n']] as const) {
      writeFileSync(join(dir, `${name}.ext`), ext);
      await o('req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=magnum-test-${name}`, '-keyout', join(dir, `${name}-key.pem`), '-out', join(dir, `${name}.csr`));
      await o('x509', '-req', '-in', join(dir, `${name}.csr`), '-CA', join(dir, 'ca.pem'), '-CAkey', join(dir, 'ca-key.pem'), '-CAcreateserial', '-days', '2', '-out', join(dir, `${name}.pem`), '-extfile', join(dir, `${name}.ext`));
    }
    engineDocker = ['--host', `tcp://${engine.address}:2376`, '--tlsverify', '--tlscacert', join(dir, 'ca.pem'), '--tlscert', join(dir, 'client.pem'), '--tlskey', join(dir, 'client-key.pem')];

    // The engine: PID 1 sleeps (as an init would), dockerd is started and stopped like a service.
    // Its /var/lib/docker is a volume (overlay2 cannot nest on the container's own overlay root).
    await must('docker', ['volume', 'create', '--label', `magnum.test=${run}`, engine.volume]);
    await must('docker', ['container', 'create', '--name', engine.name, '--hostname', engine.name, '--label', `magnum.test=${run}`,
      '--network', engine.network, '--ip', engine.address, ...ENGINE_FLAGS, '-v', `${engine.volume}:/var/lib/docker`, NODE_IMAGE, 'sleep', 'infinity']);
    await must('docker', ['start', engine.name]);
    await must('docker', ['exec', engine.name, 'mkdir', '-p', '/etc/magnum-test']);
    for (const f of ['ca.pem', 'server.pem', 'server-key.pem']) await must('docker', ['cp', join(dir, f), `${engine.name}:/etc/magnum-test/${f}`]);
    await startDockerd();
    // The node image on the engine: no registry, so it is copied (docker save | docker load).
    const t0 = Date.now();
    await must('bash', ['-o', 'pipefail', '-c', 'docker save "$1" | docker "${@:2}" load', 'load', NODE_IMAGE, ...engineDocker], { env: { DOCKER_CONFIG: dir }, timeoutMs: 10 * 60_000 });
    figures.push(`node image copied into the test engine: ${seconds(Date.now() - t0)}`);

    port = await freePort();
    conf = join(dir, 'magnum.conf');
    writeConf(GRACE_S);
    await startAio();
  });

  after(async () => {
    // Clusters a failed test left: deleted through the API while the engine still runs.
    if (aio?.running && clusters.size && await engineAnswers().catch(() => false)) {
      for (const uuid of clusters) await api('DELETE', `/v1/clusters/${uuid}`).catch(() => undefined);
      await waitFor('our clusters deleted', async () => {
        for (const uuid of clusters) if ((await api('GET', `/v1/clusters/${uuid}`)).status !== 404) return undefined;
        return true;
      }, 180_000).catch((e) => process.stderr.write(`[docker-host-restart] cleanup: ${(e as Error).message}\n`));
    }
    await aio?.stop().catch(() => undefined);
    // The engine and everything in it (its containers are inside its own volume).
    await sh('docker', ['rm', '--force', '--volumes', engine.name]);
    await sh('docker', ['volume', 'rm', '--force', engine.volume]);
    await sh('docker', ['network', 'rm', engine.network]);
    const left = await sh('docker', ['ps', '-a', '--filter', `label=magnum.test=${run}`, '-q']);
    const vols = await sh('docker', ['volume', 'ls', '--filter', `label=magnum.test=${run}`, '-q']);
    const nets = await sh('docker', ['network', 'ls', '--filter', `label=magnum.test=${run}`, '-q']);
    if (lines(left.stdout + vols.stdout + nets.stdout).length) process.stderr.write(`[docker-host-restart] the test engine could not be removed entirely: ${left.stdout} ${vols.stdout} ${nets.stdout}\n`);
    if (figures.length) process.stderr.write(`[docker-host-restart] figures:\n  ${figures.join('\n  ')}\n`);
  });

  let uuid = '';
  let apiAddress = '';
  let nodeNames: string[] = [];

  test('create on the remote engine over TLS; its engine restarts: the nodes come back by themselves and the cluster is HEALTHY again', async () => {
    const t = await api('POST', '/v1/clustertemplates', {
      name: `dhr-${run}`, coe: 'swarm-mode', image_id: NODE_IMAGE, external_network_id: 'public',
      flavor_id: 'm1.small', master_flavor_id: 'm1.small', dns_nameserver: '127.0.0.1',
    });
    assert.equal(t.status, 201, JSON.stringify(t.body));
    const t0 = Date.now();
    const c = await api('POST', '/v1/clusters', { name: `dhr-${run}`, cluster_template_id: t.body.uuid, master_count: 1, node_count: 1, labels: { auto_healing_enabled: 'true' } });
    assert.equal(c.status, 202, JSON.stringify(c.body));
    uuid = c.body.uuid;
    clusters.add(uuid);
    await waitFor('CREATE_COMPLETE', async () => {
      const s = await cluster(uuid);
      if (s.status.endsWith('FAILED')) throw new Error(`create failed: ${s.status_reason}`);
      return s.status === 'CREATE_COMPLETE' ? true : undefined;
    }, 10 * 60_000);
    figures.push(`create (1 master, 1 worker) on the remote engine: ${seconds(Date.now() - t0)}`);
    await health(uuid, 'HEALTHY', 60_000);
    const created = await cluster(uuid);
    apiAddress = created.api_address;
    assert.match(apiAddress, new RegExp(`^tcp://${engine.address.replace(/\./g, '\\.')}:\\d+$`), 'the API is published on the engine host\'s address');

    // The nodes run inside the test's engine (none on this machine's), each with the restart policy.
    const nodes = lines((await onEngine(['ps', '-a', '--filter', `label=magnum.cluster=${uuid}`, '--format', '{{.Names}}'])).stdout);
    nodeNames = nodes.sort();
    assert.equal(nodeNames.length, 2, `two node containers on the test engine: ${nodes.join(', ')}`);
    assert.deepEqual(lines((await sh('docker', ['ps', '-a', '--filter', `label=magnum.cluster=${uuid}`, '-q'])).stdout), [], 'no node on this machine\'s own engine');
    for (const n of nodeNames) {
      const policy = (await onEngine(['inspect', '--format', '{{.HostConfig.RestartPolicy.Name}} {{json .HostConfig.PortBindings}}', n])).stdout.trim();
      assert.match(policy, /^unless-stopped /, `${n}: ${policy}`);
    }
    await nodesReady(uuid, apiAddress, nodeNames);
    const mark = await lastEventId(uuid);

    // ---- stop the engine; the conductor sees the cluster UNHEALTHY.
    const stopAt = Date.now();
    await stopDockerd();
    const stoppedAt = Date.now();
    const seenDownAt = await health(uuid, 'UNHEALTHY', 60_000);
    const down = await cluster(uuid);
    assert.match(down.health_status_reason.api, /not accessible/);

    // ---- start it again; no user action from here on.
    const startAt = Date.now();
    await startDockerd();
    const engineUpAt = Date.now();
    const { healthyAt, readyAt, timeline } = await recovered(uuid, mark, startAt);
    figures.push(
      `engine restart: dockerd stopped in ${seconds(stoppedAt - stopAt)}; conductor saw UNHEALTHY ${seconds(seenDownAt - stopAt)} after the stop began; ` +
      `engine answering ${seconds(engineUpAt - startAt)} after its start; cluster HEALTHY ${seconds(healthyAt - startAt)} after the engine's start ` +
      `(docker node ls all Ready ${seconds(readyAt - startAt)}); whole outage ${seconds(healthyAt - stopAt)}; timeline: ${timeline}`,
    );
  });

  test('the conductor\'s host reboots while the Docker host loses power: polling resumes at start and the cluster is HEALTHY again', async () => {
    assert.ok(uuid && aio, 'the first test made the cluster');
    const mark = await lastEventId(uuid);
    await aio.kill9();
    // Power loss: every process of the engine's container gets SIGKILL (dockerd, containerd, the
    // nodes and their own engines); its /run starts empty again.
    const killedAt = Date.now();
    await must('docker', ['kill', engine.name]);
    await must('docker', ['start', engine.name]);
    // The conductor's host is back first: it re-reads its state and polls health at once.
    await startAio();
    const seenDownAt = await health(uuid, 'UNHEALTHY', 60_000);
    const startAt = Date.now();
    await startDockerd();
    const { healthyAt, readyAt, timeline } = await recovered(uuid, mark, startAt);
    figures.push(
      `conductor host reboot + engine power loss: restarted conductor saw UNHEALTHY ${seconds(seenDownAt - killedAt)} after the kill; ` +
      `cluster HEALTHY ${seconds(healthyAt - startAt)} after the engine's start (docker node ls all Ready ${seconds(readyAt - startAt)}); timeline: ${timeline}`,
    );
  });

  test('a node stopped by hand does not come back by itself: auto-healing starts it after the grace period', async () => {
    assert.ok(uuid && aio, 'the first test made the cluster');
    await aio.stop();
    writeConf(SHORT_GRACE_S);
    await startAio();
    await health(uuid, 'HEALTHY', 60_000);
    const mark = await lastEventId(uuid);
    const worker = nodeNames.find((n) => /worker/.test(n))!;
    assert.ok(worker, `a worker among ${nodeNames.join(', ')}`);
    const killedAt = Date.now();
    await must('docker', [...engineDocker, 'kill', worker], { env: { DOCKER_CONFIG: dir } });
    const seenDownAt = await waitFor('UNHEALTHY', async () => ((await cluster(uuid)).health_status === 'UNHEALTHY' ? Date.now() : undefined), 60_000);
    const healedAt = await health(uuid, 'HEALTHY', RECOVERY_BOUND_MS + SHORT_GRACE_S * 1000, 'UPDATE_COMPLETE');
    await nodesReady(uuid, apiAddress, nodeNames);
    assert.equal((await cluster(uuid)).api_address, apiAddress, 'api_address unchanged');
    const ev = await events(uuid, mark);
    const messages = ev.map((e) => e.message ?? '');
    const down = messages.findIndex((m) => m === `Node ${worker} is not Ready: False (container stopped)`);
    const heal = ev.findIndex((e) => e.step === 'cluster_heal' && e.outcome === 'info');
    const back = messages.findIndex((m) => m === `Node ${worker} is Ready again`);
    assert.ok(down >= 0 && heal > down && back > heal, `the timeline: ${worker} down, auto-healing, ${worker} Ready again:\n${messages.join('\n')}`);
    const healStart = new Date(ev[heal].created_at).getTime() - new Date(ev[down].created_at).getTime();
    // (event times may be stored to the second)
    assert.ok(healStart >= (SHORT_GRACE_S - 1) * 1000, `healing started ${healStart} ms after the node was seen down: not before the grace period (${SHORT_GRACE_S} s)`);
    figures.push(`node killed by hand: UNHEALTHY seen after ${seconds(seenDownAt - killedAt)}; healing began ${seconds(healStart)} after (grace ${SHORT_GRACE_S} s); HEALTHY ${seconds(healedAt - killedAt)} after the kill`);
  });

  test('delete: nothing is left on the engine', async () => {
    assert.ok(uuid, 'the first test made the cluster');
    const d = await api('DELETE', `/v1/clusters/${uuid}`);
    assert.equal(d.status, 204, JSON.stringify(d.body));
    await waitFor('the cluster gone', async () => ((await api('GET', `/v1/clusters/${uuid}`)).status === 404 ? true : undefined), 180_000);
    clusters.delete(uuid);
    assert.deepEqual(lines((await onEngine(['ps', '-a', '--format', '{{.Names}}'])).stdout), [], 'no container on the engine');
    assert.deepEqual(lines((await onEngine(['volume', 'ls', '--format', '{{.Name}}'])).stdout), [], 'no volume on the engine');
    assert.deepEqual(lines((await onEngine(['network', 'ls', '--format', '{{.Name}}'])).stdout).sort(), ['bridge', 'host', 'none'], 'only Docker\'s own networks on the engine');
  });
});
