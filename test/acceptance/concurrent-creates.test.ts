// Concurrent real creates do not race for subnets: 4 one-node swarm-mode clusters created at once
// through magnum-api, run by two magnum-conductor processes (RabbitMQ on a fresh vhost, a fresh
// PostgreSQL database), each get their own subnet from the database's allocation (skipping a
// subnet of the pool that a network not of ours uses on the Docker host), all reach
// CREATE_COMPLETE, and their delete leaves no container, network, volume, allocation or key pair.
// The pool is this test's own ([docker] subnet_pool), so other tests' clusters do not interfere.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createTempDatabase, type TempDatabase } from '../helpers/databases.ts';
import { ROOT, need } from '../helpers/env.ts';
import { labelled, removeLabelled } from '../helpers/cluster-leftovers.ts';
import { freePort, runCommand, spawnProcess, tempDir, type ManagedProcess } from '../helpers/processes.ts';
import { waitFor } from '../helpers/stack.ts';

const NODE_IMAGE = process.env.MAGNUM_TEST_NODE_IMAGE ?? 'magnum-node:bookworm';
const BASE_ENV = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: process.env.HOME ?? '/root' };
const CLUSTERS = 4;
const octet = 64 + (randomBytes(1)[0] % 64);
const POOL = `10.${octet}.0.0/16`;
/** A network not of ours on the pool's first subnet: the allocation must skip it. */
const FOREIGN = `10.${octet}.0.0/24`;
const H = { 'openstack-api-version': 'container-infra latest', 'content-type': 'application/json' };

async function sh(cmd: string, args: string[]) {
  const r = await runCommand(cmd, args, { env: BASE_ENV, timeoutMs: 120_000 });
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

async function rabbitmqctl(...args: string[]) {
  const r = await runCommand('rabbitmqctl', args, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`rabbitmqctl ${args.join(' ')} failed: ${r.stderr}`);
}

describe('concurrent real swarm-mode creates on two conductors', { timeout: 15 * 60_000 }, () => {
  const vhost = `magnum-subnets-${randomBytes(4).toString('hex')}`;
  const foreign = `magnum-test-foreign-${randomBytes(4).toString('hex')}`;
  let db: TempDatabase | undefined;
  let api: ManagedProcess | undefined;
  const conductors: ManagedProcess[] = [];
  const ours: string[] = [];

  async function call(method: string, path: string, body?: unknown) {
    const r = await fetch(`${api!.url}${path}`, { method, headers: H, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  }

  async function query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    const c = new pg.Client({ connectionString: db!.url.replace(/^postgresql:/, 'postgres:') });
    await c.connect();
    try {
      return (await c.query(sql, params)).rows as T[];
    } finally {
      await c.end();
    }
  }

  before(async () => {
    await sh(`${ROOT}/bin/magnum-node-image`, ['build']);
    await sh('docker', ['network', 'create', '--subnet', FOREIGN, foreign]);
    db = await createTempDatabase('postgres');
    await rabbitmqctl('add_vhost', vhost);
    await rabbitmqctl('set_permissions', '-p', vhost, 'magnum', '.*', '.*', '.*');
    const dir = tempDir('magnum-subnets-');
    const conf = join(dir, 'magnum.conf');
    const port = await freePort();
    writeFileSync(conf, [
      '[DEFAULT]',
      `transport_url = ${need('MAGNUM_TEST_AMQP_URL').replace(/^amqp:/, 'rabbit:')}/${vhost}`,
      'auth_strategy = noauth',
      '[api]', `port = ${port}`,
      '[database]', `connection = ${db.url}`,
      // Two operations per conductor at a time: the four creates are spread over both processes.
      '[conductor]', 'max_concurrent_operations = 2',
      '[docker]', `subnet_pool = ${POOL}`,
      '[certificates]', `encryption_key_file = ${join(dir, 'cert.key')}`,
      '[oslo_policy]', 'policy_file = /nonexistent/policy.yaml',
    ].join('\n'));
    const up = await runCommand(`${ROOT}/bin/magnum-db-manage`, ['--config-file', conf, 'upgrade']);
    assert.equal(up.code, 0, up.stderr);
    api = await spawnProcess(`${ROOT}/bin/magnum-api`, { name: 'subnets-api', args: ['--config-file', conf], port, readyPath: '/' });
    for (const host of ['subnets-conductor-a', 'subnets-conductor-b']) {
      conductors.push(await spawnProcess(`${ROOT}/bin/magnum-conductor`, { name: host, args: ['--config-file', conf], env: { MAGNUM__DEFAULT__HOST: host } }));
    }
  });

  after(async () => {
    if (api?.running && conductors.some((c) => c.running)) {
      for (const uuid of ours) await call('DELETE', `/v1/clusters/${uuid}`).catch(() => undefined);
      await waitFor('our clusters deleted', async () => {
        for (const uuid of ours) if ((await call('GET', `/v1/clusters/${uuid}`)).status !== 404) return undefined;
        return true;
      }, 180_000).catch((e) => process.stderr.write(`[concurrent-creates] cleanup: ${(e as Error).message}\n`));
    }
    for (const p of [api, ...conductors]) await p?.stop().catch(() => undefined);
    for (const uuid of ours) await removeLabelled(uuid);
    await runCommand('docker', ['network', 'rm', foreign], { env: BASE_ENV }).catch(() => undefined);
    await rabbitmqctl('delete_vhost', vhost).catch(() => undefined);
    await db?.drop().catch(() => undefined);
  });

  test(`${CLUSTERS} creates at once: distinct subnets, none used on the host, all CREATE_COMPLETE; delete leaves nothing`, async () => {
    let r = await call('POST', '/v1/clustertemplates', {
      name: 'subnets-t', coe: 'swarm-mode', image_id: NODE_IMAGE, external_network_id: 'public', flavor_id: 'm1.small', master_flavor_id: 'm1.small', dns_nameserver: '127.0.0.1',
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const started = Date.now();
    const posted = await Promise.all(Array.from({ length: CLUSTERS }, (_, i) => call('POST', '/v1/clusters', { name: `subnets-${i}`, cluster_template_id: 'subnets-t', master_count: 1, node_count: 0 })));
    for (const p of posted) {
      assert.equal(p.status, 202, JSON.stringify(p.body));
      ours.push(p.body.uuid);
    }
    const final = await waitFor('every create finished', async () => {
      const all = await Promise.all(ours.map(async (u) => (await call('GET', `/v1/clusters/${u}`)).body));
      return all.every((c) => c.status !== 'CREATE_IN_PROGRESS') ? all : undefined;
    }, 10 * 60_000);
    const took = Date.now() - started;
    assert.deepEqual(final.map((c) => `${c.name}:${c.status}`), ours.map((_, i) => `subnets-${i}:CREATE_COMPLETE`), JSON.stringify(final.map((c) => c.status_reason)));

    // Distinct subnets, as the Docker host has them and as the database allocated them.
    const onHost = await Promise.all(ours.map(async (u) => (await sh('docker', ['network', 'inspect', '--format', '{{range .IPAM.Config}}{{.Subnet}}{{end}}', `magnum-${u.slice(0, 8)}`])).trim()));
    assert.equal(new Set(onHost).size, CLUSTERS, onHost.join(' '));
    assert.ok(!onHost.includes(FOREIGN), `the subnet of the network not of ours is skipped: ${onHost.join(' ')}`);
    assert.ok(onHost.every((s) => s.startsWith(`10.${octet}.`) && s.endsWith('.0/24')), onHost.join(' '));
    const allocated = await query<{ cluster_id: string; subnet: string }>('SELECT cluster_id, subnet FROM cluster_subnet');
    assert.deepEqual(new Map(allocated.map((a) => [a.cluster_id, a.subnet])), new Map(ours.map((u, i) => [u, onHost[i]])));
    // Both conductor processes took part.
    const owners = await query<{ owner: string }>("SELECT owner FROM operation WHERE kind = 'cluster_create'");
    const hosts = [...new Set(owners.map((o) => String(o.owner).split(':')[0]))].sort();
    assert.deepEqual(hosts, ['subnets-conductor-a', 'subnets-conductor-b']);
    console.log(`# ${CLUSTERS} concurrent creates: CREATE_COMPLETE in ${took} ms; subnets ${onHost.join(', ')}; run by ${owners.map((o) => String(o.owner).split(':')[0]).join(', ')}`);

    const deleting = Date.now();
    for (const u of ours) {
      r = await call('DELETE', `/v1/clusters/${u}`);
      assert.equal(r.status, 204, JSON.stringify(r.body));
    }
    await waitFor('every cluster deleted', async () => {
      for (const u of ours) if ((await call('GET', `/v1/clusters/${u}`)).status !== 404) return undefined;
      return true;
    }, 5 * 60_000);
    console.log(`# deleted in ${Date.now() - deleting} ms`);
    for (const u of ours) assert.deepEqual(await labelled(u), [], `nothing of ${u} left on the Docker host`);
    for (const table of ['cluster_subnet', 'x509keypair', 'cluster_resource', 'cluster']) {
      const [{ n }] = await query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
      assert.equal(Number(n), 0, `${table} is empty`);
    }
  });
});
