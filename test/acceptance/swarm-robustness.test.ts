// Robustness of real swarm-mode clusters with magnum-api and magnum-conductor as separate
// processes (RabbitMQ on a fresh vhost, a temporary SQLite database):
//  - kill -9 of the conductor in the middle of a create and in the middle of a delete: a new
//    conductor resumes each operation from its saved step, and the delete leaves no container,
//    network or volume labelled for the cluster;
//  - two clusters of two projects: no network path between their nodes (with a positive control
//    inside each cluster), and neither project sees or can use the other's certificates.
// Everything made here is deleted through the API in the after hook, then (last resort) whatever
// is still labelled magnum.cluster=<one of our cluster uuids> is removed. Nothing else on the
// Docker engine is touched.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { ROOT, need } from '../helpers/env.ts';
import { labelled, removeLabelled } from '../helpers/cluster-leftovers.ts';
import { freePort, runCommand, runOpenstack, spawnProcess, tempDir, type ManagedProcess } from '../helpers/processes.ts';
import { as, waitFor } from '../helpers/stack.ts';

const NODE_IMAGE = process.env.MAGNUM_TEST_NODE_IMAGE ?? 'magnum-node:bookworm';
const WORKLOAD = 'magnum-test/busybox:latest';
const BASE_ENV = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: process.env.HOME ?? '/root' };

async function sh(cmd: string, args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}) {
  return runCommand(cmd, args, { env: { ...BASE_ENV, ...opts.env }, timeoutMs: opts.timeoutMs ?? 120_000 });
}

async function must(cmd: string, args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}) {
  const r = await sh(cmd, args, opts);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} failed: ${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

const lines = (s: string) => s.split('\n').map((l) => l.trim()).filter(Boolean);

/** "name=state" of each node container of a cluster (one docker call: cheap enough to poll). */
async function nodeStates(uuid: string): Promise<string[]> {
  return lines((await sh('docker', ['ps', '-a', '--filter', `label=magnum.cluster=${uuid}`, '--format', '{{.Names}}={{.State}}'])).stdout);
}

/** Node containers of a cluster: name → state, role, address on the cluster network. */
async function nodesOf(uuid: string): Promise<{ name: string; state: string; role: string; address: string }[]> {
  const out = lines(await must('docker', ['ps', '-a', '--filter', `label=magnum.cluster=${uuid}`, '--format', '{{.Names}}|{{.State}}|{{.Label "magnum.role"}}']));
  return Promise.all(out.map(async (l) => {
    const [name, state, role] = l.split('|');
    const address = (await must('docker', ['inspect', '--format', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', name])).trim();
    return { name, state, role, address };
  }));
}

interface Deployment {
  dir: string;
  conf: string;
  vhost: string;
  api?: ManagedProcess;
  conductors: ManagedProcess[];
  /** The openstack CLI environment (none auth: the [noauth] default identity, project admin). */
  cli: Record<string, string>;
}

async function rabbitmqctl(...args: string[]) {
  const r = await runCommand('rabbitmqctl', args, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`rabbitmqctl ${args.join(' ')} failed: ${r.stderr}`);
}

interface Event { id: number; operation_id: string | null; step: string; outcome: string; message: string | null; created_at: string }

describe('swarm-mode clusters with magnum-api and magnum-conductor as separate processes', { timeout: 30 * 60_000 }, () => {
  let d: Deployment | undefined;
  let hostSeq = 0;
  /** Every cluster made here, with the headers of its project (for the cleanup). */
  const ours = new Map<string, Record<string, string>>();
  const ADMIN: Record<string, string> = { 'openstack-api-version': 'container-infra latest', 'content-type': 'application/json' };

  const startConductor = async () => {
    const host = `robust-conductor-${hostSeq++}`;
    // The schema first, as an operator would before starting a conductor (idempotent; it also
    // keeps a long run working when src/ gains a migration meanwhile).
    const up = await runCommand(`${ROOT}/bin/magnum-db-manage`, ['--config-file', d!.conf, 'upgrade']);
    assert.equal(up.code, 0, up.stderr);
    const p = await spawnProcess(`${ROOT}/bin/magnum-conductor`, { name: host, args: ['--config-file', d!.conf], env: { MAGNUM__DEFAULT__HOST: host } });
    d!.conductors.push(p);
    return p;
  };
  const liveConductor = () => d?.conductors.find((c) => c.running);

  async function api(method: string, path: string, headers: Record<string, string> = ADMIN, body?: unknown) {
    const r = await fetch(`${d!.api!.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    let json: any = null;
    try { json = text ? JSON.parse(text) : null; } catch { json = text; }
    return { status: r.status, body: json };
  }

  async function events(uuid: string, afterId = 0): Promise<Event[]> {
    const r = await api('GET', `/v1/clusters/${uuid}/events?limit=1000${afterId ? `&marker=${afterId}` : ''}`);
    return r.status === 200 ? (r.body.events as Event[]) : [];
  }

  /** Certificates (CA and client key pairs) stored in the deployment's database. */
  function storedKeyPairs(): number {
    const db = new Database(join(d!.dir, 'magnum.sqlite'), { readonly: true, fileMustExist: true });
    try {
      return Number((db.prepare('SELECT count(*) AS n FROM x509keypair').get() as { n: number }).n);
    } finally {
      db.close();
    }
  }

  async function coe(args: string[]) {
    const r = await runOpenstack(['coe', ...args], d!.cli, { timeoutMs: 120_000 });
    assert.equal(r.code, 0, `openstack coe ${args.join(' ')} failed: ${r.stderr}`);
    return r;
  }

  before(async () => {
    await must(`${ROOT}/bin/magnum-node-image`, ['build'], { timeoutMs: 15 * 60_000 });
    await must(`${ROOT}/bin/magnum-node-image`, ['workload'], { timeoutMs: 5 * 60_000 });
    const vhost = `magnum-robust-${randomBytes(4).toString('hex')}`;
    const dir = tempDir('magnum-robust-');
    const conf = join(dir, 'magnum.conf');
    d = { dir, conf, vhost, conductors: [], cli: {} };
    await rabbitmqctl('add_vhost', vhost);
    await rabbitmqctl('set_permissions', '-p', vhost, 'magnum', '.*', '.*', '.*');
    const port = await freePort();
    writeFileSync(conf, [
      '[DEFAULT]',
      `transport_url = ${need('MAGNUM_TEST_AMQP_URL').replace(/^amqp:/, 'rabbit:')}/${vhost}`,
      'auth_strategy = noauth',
      'periodic_interval_max = 2',
      '[api]', `port = ${port}`,
      '[database]', `connection = sqlite:///${join(dir, 'magnum.sqlite')}`,
      '[conductor]', 'operation_lease = 3', 'sweep_interval = 1',
      '[certificates]', `encryption_key_file = ${join(dir, 'cert.key')}`,
      '[kubernetes]', 'health_polling_interval = 2',
      '[oslo_policy]', 'policy_file = /nonexistent/policy.yaml',
    ].join('\n'));
    const up = await runCommand(`${ROOT}/bin/magnum-db-manage`, ['--config-file', conf, 'upgrade']);
    assert.equal(up.code, 0, up.stderr);
    d.api = await spawnProcess(`${ROOT}/bin/magnum-api`, { name: 'robust-api', args: ['--config-file', conf], port, readyPath: '/' });
    d.cli = { ...BASE_ENV, OS_AUTH_TYPE: 'none', OS_ENDPOINT: `${d.api.url}/v1`, SHELL: '/bin/bash', PYTHONWARNINGS: 'ignore', no_proxy: '127.0.0.1,localhost', NO_PROXY: '127.0.0.1,localhost' };
    await startConductor();
  });

  after(async () => {
    if (d) {
      // Delete what a failed test left, through the API (a conductor must be alive for that).
      if (d.api?.running && ours.size) {
        if (!liveConductor()) await startConductor().catch(() => undefined);
        for (const [uuid, h] of ours) {
          const r = await api('GET', `/v1/clusters/${uuid}`, h).catch(() => null);
          if (r && r.status !== 404 && !String(r.body?.status).startsWith('DELETE_IN_PROGRESS')) await api('DELETE', `/v1/clusters/${uuid}`, h).catch(() => undefined);
        }
        await waitFor('our clusters deleted', async () => {
          for (const [uuid, h] of ours) if ((await api('GET', `/v1/clusters/${uuid}`, h)).status !== 404) return undefined;
          return true;
        }, 180_000).catch((e) => process.stderr.write(`[swarm-robustness] cleanup: ${(e as Error).message}\n`));
      }
      for (const p of [d.api, ...d.conductors]) await p?.stop().catch(() => undefined);
      // Last resort: anything still labelled for our clusters.
      for (const uuid of ours.keys()) {
        const left = await labelled(uuid).catch(() => []);
        if (left.length) {
          process.stderr.write(`[swarm-robustness] removing leftovers of ${uuid}: ${left.join(', ')}\n`);
          await removeLabelled(uuid);
        }
      }
      await rabbitmqctl('delete_vhost', d.vhost).catch(() => undefined);
    }
  });

  test('kill -9 of the conductor mid-create and mid-delete: resumed from the saved step, nothing left behind', async () => {
    await coe(['cluster', 'template', 'create', 'robust-t', '--coe', 'swarm-mode', '--image', NODE_IMAGE, '--external-network', 'public', '--flavor', 'm1.small', '--master-flavor', 'm1.small', '--dns-nameserver', '127.0.0.1', '-f', 'json']);
    const postedAt = Date.now();
    // The CLI takes a second or two to start: watch the cluster (by name) while it runs.
    const creating = coe(['cluster', 'create', 'robust-1', '--cluster-template', 'robust-t', '--master-count', '1', '--node-count', '2', '--timeout', '10']);
    creating.catch(() => undefined);
    const deadline = postedAt + 10 * 60_000;

    // ---- kill -9 mid-create: in "start nodes" as soon as a node container exists (a node is
    // then typically created but not yet started: the narrowest spot), or at the latest in
    // "wait for engines".
    const victim = d!.conductors[d!.conductors.length - 1];
    let uuid = '';
    const killPoint = await waitFor('a node container in "start nodes" or the "wait for engines" step', async () => {
      if (!uuid) {
        const c = await api('GET', '/v1/clusters/robust-1');
        if (c.status !== 200) return undefined;
        uuid = c.body.uuid;
        ours.set(uuid, ADMIN);
      }
      const ev = await events(uuid);
      const inStep = (s: string) => ev.some((e) => e.step === s && e.outcome === 'started') && !ev.some((e) => e.step === s && e.outcome !== 'started');
      if (ev.some((e) => e.outcome === 'failed')) throw new Error(`the create failed before the kill: ${JSON.stringify(ev.filter((e) => e.outcome === 'failed'))}`);
      if (inStep('wait for engines')) return { step: 'wait for engines', nodes: await nodeStates(uuid) };
      if (inStep('start nodes')) {
        const nodes = await nodeStates(uuid);
        if (nodes.length) return { step: 'start nodes', nodes };
      }
      if (ev.some((e) => e.step === 'wait for engines' && e.outcome === 'succeeded')) throw new Error('missed the window: "wait for engines" already finished');
      return undefined;
    }, 120_000);
    await victim.kill9();
    const killedAt = Date.now();
    await creating;
    const lastIdBeforeKill = Math.max(0, ...(await events(uuid)).map((e) => e.id));
    const doneBeforeKill = (await events(uuid)).filter((e) => e.outcome === 'succeeded').map((e) => e.step);
    console.log(`# killed ${victim.name} in step "${killPoint.step}" ${killedAt - postedAt} ms after the create command started; node containers then: ${killPoint.nodes.join(', ') || 'none'}`);

    await startConductor();
    const settled = await waitFor('robust-1 out of CREATE_IN_PROGRESS', async () => {
      const c = JSON.parse((await coe(['cluster', 'show', uuid, '-f', 'json'])).stdout);
      return c.status === 'CREATE_IN_PROGRESS' ? undefined : c;
    }, deadline - Date.now());
    const settledAt = Date.now();
    assert.ok(settledAt <= deadline, 'settled within the create deadline');
    const since = (await events(uuid)).filter((e) => e.id > lastIdBeforeKill);
    console.log(`# after the kill: ${settled.status} ${settledAt - killedAt} ms later; events since: ${since.map((e) => `${e.step}:${e.outcome}${e.message ? ` (${e.message})` : ''}`).join('; ')}`);
    assert.ok(['CREATE_COMPLETE', 'CREATE_FAILED'].includes(settled.status), settled.status);
    if (settled.status === 'CREATE_FAILED') assert.ok(settled.status_reason && settled.status_reason.length > 10, `a reason for CREATE_FAILED: ${settled.status_reason}`);
    // Taken over by the new conductor, from the saved step: no finished step starts again.
    const resumed = since.find((e) => e.outcome === 'info' && /^Resumed by robust-conductor-1/.test(e.message ?? ''));
    assert.ok(resumed, `a "Resumed by robust-conductor-1" event: ${JSON.stringify(since)}`);
    const restarted = since.filter((e) => e.outcome === 'started' && doneBeforeKill.includes(e.step)).map((e) => e.step);
    assert.deepEqual(restarted, [], 'steps finished before the kill are not run again');
    assert.equal(since.find((e) => e.outcome === 'started')?.step, killPoint.step, 'the resume starts with the interrupted step');

    if (settled.status === 'CREATE_COMPLETE') {
      assert.equal(settled.node_addresses.length, 2);
      assert.equal(settled.master_addresses.length, 1);
      // Exactly the planned node containers exist (the resume made none twice).
      assert.deepEqual((await nodesOf(uuid)).map((n) => `${n.role}:${n.state}`).sort(), ['master:running', 'worker:running', 'worker:running']);
      const cfgDir = tempDir('magnum-robust-cfg-');
      const cfg = await coe(['cluster', 'config', uuid, '--dir', cfgDir, '--output-certs', '--force']);
      const denv: Record<string, string> = { DOCKER_CONFIG: cfgDir };
      for (const m of cfg.stdout.matchAll(/^export (\w+)=(.*)$/gm)) denv[m[1]] = m[2];
      assert.equal(denv.DOCKER_HOST, settled.api_address);
      await waitFor('docker node ls: 3 Ready nodes', async () => {
        const r = await sh('docker', ['node', 'ls', '--format', '{{.Hostname}} {{.Status}}'], { env: denv });
        const st = lines(r.stdout);
        return r.code === 0 && st.length === 3 && st.every((s) => s.endsWith(' Ready')) ? st : undefined;
      }, 60_000);
    } else {
      console.log(`# the create ended CREATE_FAILED after the kill: ${settled.status_reason}`);
    }

    // ---- kill -9 mid-delete, after "remove nodes" started.
    const beforeDelete = Math.max(0, ...(await events(uuid)).map((e) => e.id));
    const deleter = d!.conductors[d!.conductors.length - 1];
    const deleting = coe(['cluster', 'delete', uuid]);
    deleting.catch(() => undefined);
    let seen = beforeDelete;
    await waitFor('"remove nodes" started', async () => {
      const ev = await events(uuid, seen);
      if (ev.length) seen = ev[ev.length - 1].id;
      return ev.some((e) => e.step === 'remove nodes' && e.outcome === 'started') ? true : undefined;
    }, 60_000);
    await deleter.kill9();
    const delKilledAt = Date.now();
    await deleting;
    const leftAtKill = await labelled(uuid);
    console.log(`# killed ${deleter.name} after "remove nodes" started; labelled resources then: ${leftAtKill.join(', ') || 'none'}`);
    await startConductor();
    await waitFor('robust-1 gone (404)', async () => ((await api('GET', `/v1/clusters/${uuid}`)).status === 404 ? true : undefined), 180_000);
    console.log(`# the delete finished ${Date.now() - delKilledAt} ms after the kill`);
    assert.deepEqual(await labelled(uuid), [], 'no container, network or volume labelled for the cluster remains');
    assert.equal(storedKeyPairs(), 0, 'the cluster\'s certificates are deleted with it');
    const show = await runOpenstack(['coe', 'cluster', 'show', uuid], d!.cli);
    assert.notEqual(show.code, 0);
  });

  test('two clusters of two projects: no network path between them, no access to each other\'s certificates', async () => {
    const A = as('robust-proj-a', { user: 'robust-user-a' });
    const B = as('robust-proj-b', { user: 'robust-user-b' });
    const mk = async (h: Record<string, string>, name: string) => {
      const t = await api('POST', '/v1/clustertemplates', h, { name: `${name}-t`, coe: 'swarm-mode', image_id: NODE_IMAGE, external_network_id: 'public', flavor_id: 'm1.small', master_flavor_id: 'm1.small', dns_nameserver: '127.0.0.1' });
      assert.equal(t.status, 201, JSON.stringify(t.body));
      const c = await api('POST', '/v1/clusters', h, { name, cluster_template_id: t.body.uuid, master_count: 1, node_count: 1, create_timeout: 10 });
      assert.equal(c.status, 202, JSON.stringify(c.body));
      ours.set(c.body.uuid, h);
      return c.body.uuid as string;
    };
    const [ua, ub] = await Promise.all([mk(A, 'robust-a'), mk(B, 'robust-b')]);
    const ready = (uuid: string, h: Record<string, string>) => waitFor(`${uuid} CREATE_COMPLETE`, async () => {
      const c = await api('GET', `/v1/clusters/${uuid}`, h);
      if (c.body.status === 'CREATE_FAILED') throw new Error(`${uuid} CREATE_FAILED: ${c.body.status_reason}`);
      return c.body.status === 'CREATE_COMPLETE' ? c.body : undefined;
    }, 300_000);
    const [ca, cb] = await Promise.all([ready(ua, A), ready(ub, B)]);

    // ---- the network.
    const na = await nodesOf(ua);
    const nb = await nodesOf(ub);
    assert.equal(na.length, 2);
    assert.equal(nb.length, 2);
    assert.deepEqual(na.map((n) => n.address).sort(), [...ca.master_addresses, ...ca.node_addresses].sort());
    assert.deepEqual(nb.map((n) => n.address).sort(), [...cb.master_addresses, ...cb.node_addresses].sort());
    // ping from inside a node: busybox in the node's own engine, sharing the node's network.
    for (const n of [na[0], nb[0]]) await must('bash', ['-c', `set -o pipefail; docker save ${WORKLOAD} | docker exec -i ${n.name} docker load`], { timeoutMs: 120_000 });
    // Exit codes: bash's /dev/tcp gives 0 (connected) or 1 (refused), timeout 124 (no answer:
    // dropped); busybox ping 0 (answered) or 1 (no answer). Anything else means the probe itself
    // did not run, which must not pass for "unreachable".
    const tcp = async (from: string, addr: string, port: number) => {
      const r = await sh('docker', ['exec', from, 'timeout', '4', 'bash', '-c', `exec 3<>/dev/tcp/${addr}/${port}`], { timeoutMs: 30_000 });
      assert.ok([0, 1, 124].includes(r.code ?? -1), `the TCP probe from ${from} did not run: ${r.code} ${r.stderr}`);
      return r.code === 0;
    };
    const ping = async (from: string, addr: string) => {
      const r = await sh('docker', ['exec', from, 'docker', 'run', '--rm', '--network', 'host', WORKLOAD, 'ping', '-c', '1', '-W', '2', addr], { timeoutMs: 60_000 });
      assert.ok([0, 1].includes(r.code ?? -1), `the ping probe from ${from} did not run: ${r.code} ${r.stderr}`);
      return r.code === 0;
    };
    const apiPort = (c: { api_address: string }) => Number(c.api_address.split(':').pop());
    for (const [own, other, otherCluster] of [[na, nb, cb], [nb, na, ca]] as const) {
      const [from, sibling] = own;
      // Positive controls: the probes work inside the cluster.
      assert.ok(await tcp(from.name, sibling.address, 2376), `TCP ${from.name} → ${sibling.name} ${sibling.address}:2376 (same cluster) must connect`);
      assert.ok(await ping(from.name, sibling.address), `ping ${from.name} → ${sibling.name} ${sibling.address} (same cluster) must answer`);
      for (const o of other) {
        assert.equal(await tcp(from.name, o.address, 2376), false, `TCP ${from.name} → ${o.name} ${o.address}:2376 (other project) must not connect`);
        assert.equal(await ping(from.name, o.address), false, `ping ${from.name} → ${o.name} ${o.address} (other project) must not answer`);
      }
      // Nor through the Docker host: the other cluster's engine endpoint is published on the
      // host's 127.0.0.1 only, not on the gateway address a node can reach.
      const gateway = (await must('docker', ['exec', from.name, 'sh', '-c', "ip route | awk '/^default/ {print $3}'"])).trim();
      assert.match(gateway, /^\d+\.\d+\.\d+\.\d+$/);
      assert.equal(await tcp(from.name, gateway, apiPort(otherCluster)), false, `TCP ${from.name} → host ${gateway}:${apiPort(otherCluster)} (the other cluster's published engine port) must not connect`);
    }

    // ---- the certificates API.
    assert.equal((await api('GET', `/v1/certificates/${ua}`, B)).status, 404);
    assert.equal((await api('GET', `/v1/certificates/${ub}`, A)).status, 404);
    const dir = tempDir('magnum-robust-certs-');
    const csrFor = async (who: string) => {
      await must('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=admin', '-keyout', join(dir, `${who}-key.pem`), '-out', join(dir, `${who}.csr`)]);
      return readFileSync(join(dir, `${who}.csr`), 'utf8');
    };
    const csrB = await csrFor('b');
    const cross = await api('POST', '/v1/certificates', B, { cluster_uuid: ua, csr: csrB });
    assert.equal(cross.status, 400, JSON.stringify(cross.body));
    assert.match(JSON.stringify(cross.body), /could not be found/);
    // Each project gets its own cluster's CA and a client certificate signed for it.
    const creds: Record<'a' | 'b', { ca: string; cert: string; key: string }> = {} as never;
    for (const [who, uuid, h] of [['a', ua, A], ['b', ub, B]] as const) {
      const caR = await api('GET', `/v1/certificates/${uuid}`, h);
      assert.equal(caR.status, 200, JSON.stringify(caR.body));
      const signed = await api('POST', '/v1/certificates', h, { cluster_uuid: uuid, csr: who === 'b' ? csrB : await csrFor(who) });
      assert.equal(signed.status, 201, JSON.stringify(signed.body));
      writeFileSync(join(dir, `${who}-ca.pem`), caR.body.pem);
      writeFileSync(join(dir, `${who}-cert.pem`), signed.body.pem);
      creds[who] = { ca: join(dir, `${who}-ca.pem`), cert: join(dir, `${who}-cert.pem`), key: join(dir, `${who}-key.pem`) };
    }
    assert.notEqual(readFileSync(creds.a.ca, 'utf8'), readFileSync(creds.b.ca, 'utf8'), 'the two clusters have different CAs');
    const dockerWith = (host: string, trust: string, cert: { cert: string; key: string }) =>
      sh('docker', ['--host', host, '--tlsverify', '--tlscacert', trust, '--tlscert', cert.cert, '--tlskey', cert.key, 'version', '--format', '{{.Server.Version}}'], { env: { DOCKER_CONFIG: dir }, timeoutMs: 30_000 });
    // Positive controls: each project's certificate works against its own cluster's engine.
    for (const [who, c] of [['a', ca], ['b', cb]] as const) {
      const r = await dockerWith(c.api_address, creds[who].ca, creds[who]);
      assert.equal(r.code, 0, `project ${who}'s certificate on its own cluster: ${r.stderr}`);
    }
    // The other project's client certificate is refused by the engine (the server is trusted
    // through its own CA, so the refusal is about the client certificate), and the other
    // cluster's CA does not vouch for the engine either.
    for (const [who, other, c] of [['a', 'b', cb], ['b', 'a', ca]] as const) {
      const refused = await dockerWith(c.api_address, creds[other].ca, creds[who]);
      assert.notEqual(refused.code, 0, `project ${who}'s certificate must not authenticate on ${c.api_address}`);
      assert.match(refused.stderr, /certificate|tls|handshake/i, refused.stderr);
      const untrusted = await dockerWith(c.api_address, creds[who].ca, creds[who]);
      assert.notEqual(untrusted.code, 0, `cluster ${who}'s CA must not vouch for ${c.api_address}`);
      assert.match(untrusted.stderr, /certificate|x509|authority/i, untrusted.stderr);
    }

    // Delete both; nothing labelled for either remains.
    for (const [uuid, h] of [[ua, A], [ub, B]] as const) assert.equal((await api('DELETE', `/v1/clusters/${uuid}`, h)).status, 204);
    for (const [uuid, h] of [[ua, A], [ub, B]] as const) {
      await waitFor(`${uuid} gone`, async () => ((await api('GET', `/v1/clusters/${uuid}`, h)).status === 404 ? true : undefined), 180_000);
      assert.deepEqual(await labelled(uuid), []);
    }
    assert.equal(storedKeyPairs(), 0, 'the clusters\' certificates are deleted with them');
  });
});
