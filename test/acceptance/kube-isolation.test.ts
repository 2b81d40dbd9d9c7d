// Two Kubernetes clusters of two projects cannot reach each other's nodes or APIs (issue 10).
// One all-in-one (noauth: the project comes from the request's headers); projects A and B each
// make a template and a 1-master 1-worker cluster (the worker gives each cluster a positive
// control across its own network). Then, from every node of each cluster:
//  - its own cluster: the master's API server (internal address :6443) and the other node's
//    kubelet (:10250) accept a TCP connection, and the other node answers ping;
//  - the other cluster: none of its nodes answers ping, neither its API server's internal
//    address nor its kubelets accept a TCP connection, and its published API port (api_address)
//    cannot be reached through the node's gateway (the Docker host) either.
// And from the host, with the certificates API: neither project can read the other's CA or have a
// certificate signed for the other's cluster; a client certificate signed for one cluster is
// refused by the other's API server, and one cluster's CA does not vouch for the other's.
// The pod networks are not probed: both clusters use the same pod range (10.100.0.0/16), so a
// pod address of the other cluster names a pod of one's own.
// Everything made here is deleted through the API (checked: nothing labelled for either cluster
// is left); the after hook removes what a failed test left.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { labelled, removeLabelled } from '../helpers/cluster-leftovers.ts';
import { ROOT } from '../helpers/env.ts';
import { freePort, runCommand, spawnProcess, tempDir, type ManagedProcess } from '../helpers/processes.ts';
import { as, waitFor } from '../helpers/stack.ts';

const KUBE_IMAGE = process.env.MAGNUM_TEST_KUBE_IMAGE ?? 'magnum-kube-node:v1.34.4';
const KUBE_TAG = 'v1.34.4';
const ENV = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: process.env.HOME ?? '/root' };
const lines = (s: string) => s.split('\n').map((l) => l.trim()).filter(Boolean);

async function sh(cmd: string, args: string[], timeoutMs = 120_000) {
  return runCommand(cmd, args, { env: ENV, timeoutMs });
}

async function must(cmd: string, args: string[], timeoutMs = 120_000): Promise<string> {
  const r = await sh(cmd, args, timeoutMs);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} failed (exit ${r.code}): ${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

interface Node { name: string; role: string; address: string }

/** The cluster's node containers with their role and address on the cluster network. */
async function nodesOf(uuid: string): Promise<Node[]> {
  const out = lines(await must('docker', ['ps', '--filter', `label=magnum.cluster=${uuid}`, '--filter', 'label=magnum.role', '--format', '{{.Names}}|{{.Label "magnum.role"}}']));
  return Promise.all(out.map(async (l) => {
    const [name, role] = l.split('|');
    const address = (await must('docker', ['inspect', '--format', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', name])).trim();
    return { name, role, address };
  }));
}

// Exit codes: bash's /dev/tcp gives 0 (connected) or 1 (refused), timeout 124 (no answer: dropped);
// ping 0 (answered) or 1 (no answer). Anything else means the probe did not run, which must not
// pass for "unreachable".
async function tcp(from: string, addr: string, port: number): Promise<boolean> {
  const r = await sh('docker', ['exec', from, 'timeout', '4', 'bash', '-c', `exec 3<>/dev/tcp/${addr}/${port}`], 30_000);
  assert.ok([0, 1, 124].includes(r.code ?? -1), `the TCP probe from ${from} did not run: ${r.code} ${r.stderr}`);
  return r.code === 0;
}

async function ping(from: string, addr: string): Promise<boolean> {
  const r = await sh('docker', ['exec', from, 'ping', '-c', '1', '-W', '2', addr], 30_000);
  assert.ok([0, 1].includes(r.code ?? -1), `the ping probe from ${from} did not run: ${r.code} ${r.stderr}`);
  return r.code === 0;
}

describe('two Kubernetes clusters of two projects', { timeout: 20 * 60_000 }, () => {
  let dir: string;
  let aio: ManagedProcess;
  /** Every cluster made here, with the headers of its project (for the cleanup). */
  const ours = new Map<string, Record<string, string>>();

  async function api(method: string, path: string, headers: Record<string, string>, body?: unknown) {
    const r = await fetch(`${aio.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    let json: any = null;
    try { json = text ? JSON.parse(text) : null; } catch { json = text; }
    return { status: r.status, body: json };
  }

  before(async () => {
    // Idempotent: an image already built is reported at once (a fresh machine builds it: ~30 min).
    await must(`${ROOT}/bin/magnum-node-image`, ['build', '--coe', 'kubernetes', '--kube-tag', KUBE_TAG], 60 * 60_000);
    dir = tempDir('magnum-kube-isolation-');
    const port = await freePort();
    const conf = join(dir, 'magnum.conf');
    writeFileSync(conf, [
      '[DEFAULT]', 'auth_strategy = noauth', 'transport_url = inprocess://',
      '[api]', `port = ${port}`,
      '[database]', `connection = sqlite:///${join(dir, 'magnum.sqlite')}`,
      '[certificates]', `encryption_key_file = ${join(dir, 'cert.key')}`,
      '[conductor]', 'sweep_interval = 1', 'operation_lease = 5',
      '[kubernetes]', 'health_polling_interval = 60',
      '[oslo_policy]', 'policy_file = /nonexistent/policy.yaml',
    ].join('\n'));
    aio = await spawnProcess(`${ROOT}/bin/magnum-all-in-one`, { args: ['--config-file', conf], port, readyPath: '/', name: 'aio-kube-isolation' });
  });

  after(async () => {
    if (aio?.running && ours.size) {
      for (const [uuid, h] of ours) {
        const r = await api('GET', `/v1/clusters/${uuid}`, h).catch(() => null);
        if (r && r.status !== 404 && !String(r.body?.status).startsWith('DELETE_IN_PROGRESS')) await api('DELETE', `/v1/clusters/${uuid}`, h).catch(() => undefined);
      }
      await waitFor('our clusters deleted', async () => {
        for (const [uuid, h] of ours) if ((await api('GET', `/v1/clusters/${uuid}`, h)).status !== 404) return undefined;
        return true;
      }, 180_000).catch((e) => process.stderr.write(`[kube-isolation] cleanup: ${(e as Error).message}\n`));
    }
    await aio?.stop();
    for (const uuid of ours.keys()) {
      const left = await labelled(uuid).catch(() => []);
      if (left.length) {
        process.stderr.write(`[kube-isolation] removing leftovers of ${uuid}: ${left.join(', ')}\n`);
        await removeLabelled(uuid);
      }
    }
  });

  test('no network path between their nodes or to each other\'s API; certificates of one are refused by the other', async () => {
    const A = as('kiso-proj-a', { user: 'kiso-user-a' });
    const B = as('kiso-proj-b', { user: 'kiso-user-b' });
    const mk = async (h: Record<string, string>, name: string) => {
      const t = await api('POST', '/v1/clustertemplates', h, { name: `${name}-t`, coe: 'kubernetes', image_id: KUBE_IMAGE, external_network_id: 'public', labels: { kube_tag: KUBE_TAG } });
      assert.equal(t.status, 201, JSON.stringify(t.body));
      const c = await api('POST', '/v1/clusters', h, { name, cluster_template_id: t.body.uuid, master_count: 1, node_count: 1, create_timeout: 15 });
      assert.equal(c.status, 202, JSON.stringify(c.body));
      ours.set(c.body.uuid, h);
      return c.body.uuid as string;
    };
    const ua = await mk(A, 'kiso-a');
    const ub = await mk(B, 'kiso-b');
    const ready = (uuid: string, h: Record<string, string>) => waitFor(`${uuid} CREATE_COMPLETE`, async () => {
      const c = await api('GET', `/v1/clusters/${uuid}`, h);
      if (c.body.status === 'CREATE_FAILED') throw new Error(`${uuid} CREATE_FAILED: ${c.body.status_reason}`);
      return c.body.status === 'CREATE_COMPLETE' ? c.body : undefined;
    }, 600_000);
    const ca = await ready(ua, A);
    const cb = await ready(ub, B);
    // Each project sees only its own cluster.
    assert.equal((await api('GET', `/v1/clusters/${ua}`, B)).status, 404);
    assert.equal((await api('GET', `/v1/clusters/${ub}`, A)).status, 404);

    // ---- the network.
    const na = await nodesOf(ua);
    const nb = await nodesOf(ub);
    for (const [nodes, c] of [[na, ca], [nb, cb]] as const) {
      assert.deepEqual(nodes.map((n) => n.role).sort(), ['master', 'worker'], JSON.stringify(nodes));
      assert.deepEqual(nodes.map((n) => n.address).sort(), [...c.master_addresses, ...c.node_addresses].sort());
    }
    const port = (n: Node) => (n.role === 'master' ? 6443 : 10250);
    const apiPort = (c: { api_address: string }) => Number(new URL(c.api_address).port);
    for (const [own, other, otherCluster] of [[na, nb, cb], [nb, na, ca]] as const) {
      for (const from of own) {
        // Positive controls: the probes work inside the cluster.
        for (const sibling of own.filter((n) => n.name !== from.name)) {
          assert.ok(await tcp(from.name, sibling.address, port(sibling)), `TCP ${from.name} → ${sibling.name} ${sibling.address}:${port(sibling)} (same cluster) must connect`);
          assert.ok(await ping(from.name, sibling.address), `ping ${from.name} → ${sibling.name} ${sibling.address} (same cluster) must answer`);
        }
        for (const o of other) {
          assert.equal(await tcp(from.name, o.address, port(o)), false, `TCP ${from.name} → ${o.name} ${o.address}:${port(o)} (other project) must not connect`);
          assert.equal(await ping(from.name, o.address), false, `ping ${from.name} → ${o.name} ${o.address} (other project) must not answer`);
        }
        // Nor through the Docker host: the other cluster's API is published on the external
        // network's address, not on the gateway address a node can reach.
        const gateway = (await must('docker', ['exec', from.name, 'sh', '-c', "ip route | awk '/^default/ {print $3}'"])).trim();
        assert.match(gateway, /^\d+\.\d+\.\d+\.\d+$/);
        assert.equal(await tcp(from.name, gateway, apiPort(otherCluster)), false, `TCP ${from.name} → host ${gateway}:${apiPort(otherCluster)} (the other cluster's published API port) must not connect`);
      }
    }

    // ---- the certificates API and the API servers.
    assert.equal((await api('GET', `/v1/certificates/${ua}`, B)).status, 404);
    assert.equal((await api('GET', `/v1/certificates/${ub}`, A)).status, 404);
    const certs = tempDir('magnum-kube-isolation-certs-');
    const csrFor = async (who: string) => {
      await must('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', '/O=system:masters/CN=admin', '-keyout', join(certs, `${who}-key.pem`), '-out', join(certs, `${who}.csr`)]);
      return readFileSync(join(certs, `${who}.csr`), 'utf8');
    };
    const cross = await api('POST', '/v1/certificates', B, { cluster_uuid: ua, csr: await csrFor('b') });
    assert.equal(cross.status, 400, JSON.stringify(cross.body));
    assert.match(JSON.stringify(cross.body), /could not be found/);
    const creds: Record<'a' | 'b', { ca: string; cert: string; key: string }> = {} as never;
    for (const [who, uuid, h] of [['a', ua, A], ['b', ub, B]] as const) {
      const caR = await api('GET', `/v1/certificates/${uuid}`, h);
      assert.equal(caR.status, 200, JSON.stringify(caR.body));
      const signed = await api('POST', '/v1/certificates', h, { cluster_uuid: uuid, csr: who === 'b' ? readFileSync(join(certs, 'b.csr'), 'utf8') : await csrFor(who) });
      assert.equal(signed.status, 201, JSON.stringify(signed.body));
      writeFileSync(join(certs, `${who}-ca.pem`), caR.body.pem);
      writeFileSync(join(certs, `${who}-cert.pem`), signed.body.pem);
      creds[who] = { ca: join(certs, `${who}-ca.pem`), cert: join(certs, `${who}-cert.pem`), key: join(certs, `${who}-key.pem`) };
    }
    assert.notEqual(readFileSync(creds.a.ca, 'utf8'), readFileSync(creds.b.ca, 'utf8'), 'the two clusters have different CAs');
    // curl prints the HTTP status (000 when there was no HTTP answer); its exit code says why not.
    const get = async (c: { api_address: string }, trust: string, cert: { cert: string; key: string }) => {
      const r = await sh('curl', ['-sS', '--noproxy', '*', '--max-time', '20', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', trust, '--cert', cert.cert, '--key', cert.key, `${c.api_address}/api/v1/nodes`], 60_000);
      return { code: r.code, http: r.stdout.trim(), stderr: r.stderr };
    };
    for (const [who, c] of [['a', ca], ['b', cb]] as const) {
      const r = await get(c, creds[who].ca, creds[who]);
      assert.equal(r.http, '200', `project ${who}'s certificate on its own cluster's API: ${JSON.stringify(r)}`);
    }
    for (const [who, other, c] of [['a', 'b', cb], ['b', 'a', ca]] as const) {
      // The server trusted through its own CA: the refusal is about the client certificate.
      const refused = await get(c, creds[other].ca, creds[who]);
      assert.ok(refused.http === '401' || (refused.http === '000' && refused.code !== 0), `project ${who}'s certificate must not authenticate on ${c.api_address}: ${JSON.stringify(refused)}`);
      // And one cluster's CA does not vouch for the other's API server (curl 60: peer certificate not verified).
      const untrusted = await get(c, creds[who].ca, creds[who]);
      assert.equal(untrusted.code, 60, `cluster ${who}'s CA must not vouch for ${c.api_address}: ${JSON.stringify(untrusted)}`);
    }

    // Delete both; nothing labelled for either remains.
    for (const [uuid, h] of [[ua, A], [ub, B]] as const) assert.equal((await api('DELETE', `/v1/clusters/${uuid}`, h)).status, 204);
    for (const [uuid, h] of [[ua, A], [ub, B]] as const) {
      await waitFor(`${uuid} gone`, async () => ((await api('GET', `/v1/clusters/${uuid}`, h)).status === 404 ? true : undefined), 180_000);
      assert.deepEqual(await labelled(uuid), []);
    }
  });
});
