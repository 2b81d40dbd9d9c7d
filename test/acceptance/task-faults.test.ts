// kill -9 of a conductor at random points while a real swarm-mode cluster is resized, while images
// are loaded into it, containers are created, started, stopped and deleted on it and a Swarm
// service is created, updated and deleted on it, and finally while it is deleted. Two conductors
// and one API as separate processes on a PostgreSQL and a RabbitMQ of the test's own (never the
// machine's shared ones). After each round: every operation and image load terminal (and when,
// against its deadline); no process died but the one killed; no container or service on the
// cluster's engines without its row, and no row without its object; the host's objects labelled
// for the cluster exactly those the ledger has present; the cluster HEALTHY again. The figures of
// every round are printed as the note's table row. Rounds: FAULT_ROUNDS (default 2), 8 with
// FAULT_SOAK=1.
import assert from 'node:assert/strict';
import { rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SqlStorage } from '../../src/db/sql/storage.ts';
import { ClientCredentialFiles } from '../../src/conductor/credential-files.ts';
import { ROOT } from '../helpers/env.ts';
import { labelled, removeLabelled } from '../helpers/cluster-leftovers.ts';
import { startPrivatePostgres, startPrivateRabbitmq, type PrivateService } from '../helpers/private-services.ts';
import { freePort, runCommand, spawnProcess, tempDir, type ManagedProcess } from '../helpers/processes.ts';
import { waitFor } from '../helpers/stack.ts';

const NODE_IMAGE = process.env.MAGNUM_TEST_NODE_IMAGE ?? 'magnum-node:bookworm';
const WORKLOAD = 'magnum-test/busybox:latest';
const ROUNDS = Number(process.env.FAULT_ROUNDS ?? (process.env.FAULT_SOAK === '1' ? 8 : 2));
const LEASE_S = 3;
const BASE_ENV = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: process.env.HOME ?? '/root' };
const H = { 'content-type': 'application/json', 'openstack-api-version': 'container-infra latest', 'x-project-id': 'p-faults', 'x-user-id': 'u-faults', 'x-roles': 'admin' };
const lines = (s: string) => s.split('\n').map((l) => l.trim()).filter(Boolean);

async function must(cmd: string, args: string[], timeoutMs = 120_000): Promise<string> {
  const r = await runCommand(cmd, args, { env: BASE_ENV, timeoutMs });
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} failed: ${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

interface Answer { what: string; status: number; body: any }

describe('kill -9 of a conductor during operations on a real swarm-mode cluster', { timeout: 90 * 60_000 }, () => {
  let pg: PrivateService | undefined;
  let mq: PrivateService | undefined;
  let storage: SqlStorage | undefined;
  let api: ManagedProcess | undefined;
  const conductors: ManagedProcess[] = [];
  let conf = '';
  let dbUrl = '';
  let cluster = '';
  let seq = 0;
  const answers: Answer[] = [];
  const rows: string[] = [];

  const startConductor = async () => {
    const host = `fault-conductor-${seq++}`;
    const p = await spawnProcess(`${ROOT}/bin/magnum-conductor`, { name: host, args: ['--config-file', conf], env: { MAGNUM__DEFAULT__HOST: host } });
    conductors.push(p);
    return p;
  };

  async function call(what: string, method: string, path: string, body?: unknown): Promise<Answer> {
    let a: Answer;
    try {
      const r = await fetch(`${api!.url}${path}`, { method, headers: H, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(300_000) });
      const text = await r.text();
      let json: any = null;
      try { json = text ? JSON.parse(text) : null; } catch { json = text; }
      a = { what, status: r.status, body: json };
    } catch (err) {
      a = { what, status: 599, body: String(err) }; // no answer at all (counted with the 5xx)
    }
    answers.push(a);
    return a;
  }

  const clusterRow = async () => (await call('show cluster', 'GET', `/v1/clusters/${cluster}`)).body;

  /** Node container names of the cluster (on this host's engine), master first. */
  async function nodes(): Promise<string[]> {
    const out = lines(await must('docker', ['ps', '--filter', `label=magnum.cluster=${cluster}`, '--format', '{{.Label "magnum.role"}} {{.Names}}']));
    return out.sort().map((l) => l.split(' ')[1]);
  }

  /** What the cluster's engines run for us: container uuids (magnum.container) and service uuids (magnum.service). */
  async function onEngines(): Promise<{ containers: Set<string>; services: Set<string> }> {
    const containers = new Set<string>();
    const services = new Set<string>();
    for (const n of await nodes()) {
      const r = await runCommand('docker', ['exec', n, 'docker', 'ps', '-a', '--filter', 'label=magnum.container', '--format', '{{.Label "magnum.container"}}'], { env: BASE_ENV, timeoutMs: 60_000 });
      assert.equal(r.code, 0, `listing the containers of node ${n}: ${r.stderr}`);
      for (const u of lines(r.stdout)) containers.add(u);
    }
    const master = (await nodes()).find((n) => n.includes('master')) ?? (await nodes())[0];
    const ids = lines(await must('docker', ['exec', master, 'docker', 'service', 'ls', '-q', '--filter', 'label=magnum.service']));
    if (ids.length) {
      for (const u of lines(await must('docker', ['exec', master, 'docker', 'service', 'inspect', '--format', '{{index .Spec.Labels "magnum.service"}}', ...ids]))) services.add(u);
    }
    return { containers, services };
  }

  /** Orphans: objects without their row or ledger entry, rows or ledger entries without their object. */
  async function orphans(): Promise<string[]> {
    const out: string[] = [];
    const db = storage!.conn.db;
    const engines = await onEngines();
    const containerRows = await db.selectFrom('container').select(['uuid', 'docker_id']).where('cluster_id', '=', cluster).execute();
    for (const u of engines.containers) if (!containerRows.some((r) => r.uuid === u)) out.push(`container ${u} on an engine without its row`);
    for (const r of containerRows) if (r.docker_id && !engines.containers.has(r.uuid as string)) out.push(`container row ${r.uuid} without its container`);
    const serviceRows = await db.selectFrom('cluster_workload').select(['uuid']).where('cluster_id', '=', cluster).execute();
    for (const u of engines.services) if (!serviceRows.some((r) => r.uuid === u)) out.push(`service ${u} on the swarm without its row`);
    for (const r of serviceRows) if (!engines.services.has(r.uuid as string)) out.push(`service row ${r.uuid} without its service`);
    const ledger = (await storage!.listResources(cluster)).filter((r) => r.state === 'present' && ['container', 'network', 'volume'].includes(r.kind)).map((r) => `${r.kind} ${r.name}`).sort();
    const host = (await labelled(cluster)).sort();
    for (const h of host) if (!ledger.includes(h)) out.push(`${h} labelled for the cluster, not in its ledger`);
    for (const l of ledger) if (!host.includes(l)) out.push(`ledger entry ${l} without its object`);
    return out;
  }

  /** Every operation and image load terminal; how many, and how many ended after their deadline. */
  async function settled(since: Date): Promise<{ operations: number; late: string[]; resumed: string[] }> {
    const db = storage!.conn.db;
    await waitFor('every operation and image load terminal', async () => {
      const ops = await db.selectFrom('operation').select('uuid').where('state', 'in', ['pending', 'running']).execute();
      const loads = await db.selectFrom('image_load').select('uuid').where('state', '=', 'running').execute();
      return ops.length + loads.length === 0 ? true : undefined;
    }, 20 * 60_000);
    const ops = (await storage!.listOperations(cluster)).filter((o) => (o.created_at?.getTime() ?? 0) >= since.getTime());
    const loads = await db.selectFrom('image_load').selectAll().where('cluster_id', '=', cluster).execute();
    const late: string[] = [];
    for (const o of ops) if ((o.updated_at?.getTime() ?? 0) > o.deadline_at.getTime() + 1_000) late.push(`${o.kind} ${o.uuid} ended ${(o.updated_at!.getTime() - o.deadline_at.getTime())} ms after its deadline`);
    const recentLoads = loads.filter((l) => new Date(String(l.created_at)).getTime() >= since.getTime() - 1_000);
    const resumed = ops.filter((o) => o.attempts > 1).map((o) => `${o.kind}${o.kind === 'container_action' ? ` ${String(o.params.action)}` : ''} ${o.state}`);
    // An image load taken over by another conductor says so in the timeline.
    const events = await storage!.listEvents(cluster, { limit: 10_000 });
    for (const l of recentLoads) if (events.some((e) => e.operation_id === l.uuid && e.outcome === 'info' && /^Resumed by /.test(e.message ?? ''))) resumed.push(`image_load ${String(l.state)}`);
    return { operations: ops.length + recentLoads.length, late, resumed };
  }

  before(async () => {
    await must(`${ROOT}/bin/magnum-node-image`, ['build'], 15 * 60_000);
    await must(`${ROOT}/bin/magnum-node-image`, ['workload'], 5 * 60_000);
    const dir = tempDir('magnum-task-faults-');
    const imageDir = join(dir, 'images');
    mkdirSync(imageDir);
    await must(`${ROOT}/bin/magnum-node-image`, ['save', WORKLOAD, join(imageDir, 'busybox.tar')]);
    [pg, mq] = await Promise.all([startPrivatePostgres(), startPrivateRabbitmq()]);
    dbUrl = pg.url;
    const port = await freePort();
    conf = join(dir, 'magnum.conf');
    writeFileSync(conf, [
      '[DEFAULT]', `transport_url = ${mq.url}`, 'auth_strategy = noauth', 'periodic_interval_max = 2',
      '[api]', `port = ${port}`,
      '[database]', `connection = ${dbUrl}`,
      '[conductor]', `operation_lease = ${LEASE_S}`, 'sweep_interval = 1',
      '[certificates]', `encryption_key_file = ${join(dir, 'cert.key')}`,
      '[kubernetes]', 'health_polling_interval = 2',
      '[docker]', `image_dir = ${imageDir}`,
      '[x509]', 'rsa_key_size = 1024',
      '[oslo_policy]', 'policy_file = /nonexistent/policy.yaml',
    ].join('\n'));
    const up = await runCommand(`${ROOT}/bin/magnum-db-manage`, ['--config-file', conf, 'upgrade']);
    assert.equal(up.code, 0, up.stderr);
    storage = SqlStorage.open(dbUrl, { poolSize: 2 });
    api = await spawnProcess(`${ROOT}/bin/magnum-api`, { name: 'fault-api', args: ['--config-file', conf], port, readyPath: '/' });
    await startConductor();
    await startConductor();
    const t = await call('create template', 'POST', '/v1/clustertemplates', {
      name: 'ft', coe: 'swarm-mode', image_id: NODE_IMAGE, external_network_id: 'public', flavor_id: 'm1.small', master_flavor_id: 'm1.small', dns_nameserver: '127.0.0.1',
    });
    assert.equal(t.status, 201, JSON.stringify(t.body));
    const c = await call('create cluster', 'POST', '/v1/clusters', { name: 'fc', cluster_template_id: 'ft', master_count: 1, node_count: 1, create_timeout: 15 });
    assert.equal(c.status, 202, JSON.stringify(c.body));
    cluster = c.body.uuid;
    await waitFor('cluster CREATE_COMPLETE', async () => {
      const row = await clusterRow();
      if (String(row.status).endsWith('FAILED')) throw new Error(`${row.status}: ${row.status_reason}`);
      return row.status === 'CREATE_COMPLETE' ? row : undefined;
    }, 10 * 60_000);
  });

  after(async () => {
    if (api?.running && cluster && (await call('show cluster', 'GET', `/v1/clusters/${cluster}`)).status !== 404) {
      if (!conductors.some((c) => c.running)) await startConductor().catch(() => undefined);
      await call('delete cluster', 'DELETE', `/v1/clusters/${cluster}`);
      await waitFor('cluster deleted', async () => ((await call('show cluster', 'GET', `/v1/clusters/${cluster}`)).status === 404 ? true : undefined), 300_000).catch(() => undefined);
    }
    for (const p of [api, ...conductors]) await p?.stop().catch(() => undefined);
    if (cluster) {
      const left = await labelled(cluster).catch(() => []);
      if (left.length) {
        process.stderr.write(`[task-faults] removing leftovers of ${cluster}: ${left.join(', ')}\n`);
        await removeLabelled(cluster);
      }
    }
    if (dbUrl) rmSync(ClientCredentialFiles.cacheDirFor(dbUrl), { recursive: true, force: true });
    await storage?.close();
    await pg?.destroy();
    await mq?.destroy();
    if (rows.length) {
      console.log('# | scenario | rounds | operations | terminal within deadline | orphans | 5xx |');
      for (const r of rows) console.log(`# ${r}`);
    }
  });

  /**
   * Kills a conductor after `delayMs` (at the first moment after it that one holds a running
   * operation or image load, else at random within 10 s more), and starts a new one.
   */
  async function killOne(delayMs: number, prefer = ''): Promise<string> {
    await new Promise((r) => setTimeout(r, delayMs));
    const live = conductors.filter((c) => c.running);
    const db = storage!.conn.db;
    const holding = async () => {
      const held = [
        ...(await db.selectFrom('operation').select(['owner', 'kind', 'step']).where('state', '=', 'running').execute()).map((h) => ({ owner: String(h.owner), what: `${h.kind} at ${h.step ?? 'start'}` })),
        ...(await db.selectFrom('image_load').select(['owner']).where('state', '=', 'running').execute()).map((h) => ({ owner: String(h.owner), what: 'image_load' })),
      ];
      const holders = live.map((c) => ({ c, what: held.filter((h) => h.owner.startsWith(`${c.name}:`)).map((h) => h.what) })).filter((x) => x.what.length);
      return holders.find((x) => x.what.some((w) => w.startsWith(prefer))) ?? (preferUntil < Date.now() ? holders[0] : undefined);
    };
    const preferUntil = prefer ? Date.now() + 5_000 : 0;
    const found = await waitFor('a conductor holding work', holding, 10_000).catch(() => undefined);
    const victim = found?.c ?? live[Math.floor(Math.random() * live.length)];
    await victim.kill9();
    await startConductor();
    return `${victim.name} ${found ? `holding ${JSON.stringify(found.what)}` : '(holding nothing)'} after ${delayMs} ms`;
  }

  function checkProcesses(): void {
    assert.ok(api!.running, `the API died: ${api!.logTail()}`);
    for (const c of conductors) assert.ok(c.running || c.stopRequested, `${c.name} died without being killed: ${c.logTail()}`);
  }

  test(`${ROUNDS} rounds: resize, image load, container actions, service create/update/delete, each with a conductor killed at a random point`, async () => {
    let ops = 0;
    let late = 0;
    let orphanCount = 0;
    let resumed = 0;
    const first5xx = answers.length;
    for (let round = 0; round < ROUNDS; round++) {
      const since = new Date(Date.now() - 1_000);
      const count = round % 2 === 0 ? 2 : 1;
      const work = [
        (async () => {
          const r = await call('resize', 'POST', `/v1/clusters/${cluster}/actions/resize`, { node_count: count });
          assert.ok([202, 400, 409].includes(r.status), `resize: ${r.status} ${JSON.stringify(r.body)}`);
        })(),
        (async () => {
          const r = await call('image load', 'POST', `/v1/clusters/${cluster}/images`, { file: 'busybox.tar' });
          assert.ok(r.status < 500 || r.status === 503, `image load: ${r.status} ${JSON.stringify(r.body)}`);
        })(),
        (async () => {
          for (let i = 0; i < 2; i++) {
            const c = await call('container create', 'POST', '/v1/containers', { name: `c${round}-${i}`, image: WORKLOAD, bay_uuid: cluster, command: 'sleep 3600' });
            if (c.status !== 201) continue;
            for (const action of ['start', 'pause', 'unpause', 'reboot', 'stop']) await call(`container ${action}`, 'PUT', `/v1/containers/${c.body.uuid}/${action}`);
            await call('container delete', 'DELETE', `/v1/containers/${c.body.uuid}?force=true`);
          }
        })(),
        (async () => {
          const s = await call('service create', 'POST', '/v1/services', { cluster_uuid: cluster, name: `s${round}`, manifest: { image: WORKLOAD, command: ['sleep', '3600'], deploy: { replicas: 1 } } });
          if (s.status !== 201) return;
          await call('service update', 'PATCH', `/v1/services/${s.body.uuid}`, [{ op: 'replace', path: '/replicas', value: 2 }]);
          await call('service delete', 'DELETE', `/v1/services/${s.body.uuid}`);
        })(),
      ];
      // Odd rounds kill the conductor loading the image when there is one (an image load resumed elsewhere).
      const killed = await killOne(round % 2 ? 300 : 500 + Math.floor(Math.random() * 6_000), round % 2 ? 'image_load' : '');
      await Promise.all(work);
      const s = await settled(since);
      ops += s.operations;
      late += s.late.length;
      resumed += s.resumed.length;
      // Leftovers of chains that a kill cut short (a container or service whose delete answered 5xx)
      // are deleted now, so the round ends with the cluster as it began.
      for (const c of (await call('list containers', 'GET', '/v1/containers')).body.containers ?? []) await call('container delete', 'DELETE', `/v1/containers/${c.uuid}?force=true`);
      for (const sv of (await call('list services', 'GET', '/v1/services')).body.services ?? []) await call('service delete', 'DELETE', `/v1/services/${sv.uuid}`);
      await settled(since);
      const row = await waitFor('cluster settled and HEALTHY', async () => {
        const c = await clusterRow();
        return !String(c.status).endsWith('_IN_PROGRESS') && c.health_status === 'HEALTHY' ? c : undefined;
      }, 5 * 60_000).catch(async () => clusterRow());
      const found = await orphans();
      orphanCount += found.length;
      checkProcesses();
      const fives = answers.slice(first5xx).filter((a) => a.status >= 500);
      console.log(`# round ${round + 1}: killed ${killed}; ${s.operations} operations/loads, ${s.late.length} past their deadline ${JSON.stringify(s.late)}; resumed by another conductor ${JSON.stringify(s.resumed)}; cluster ${row.status} ${row.health_status}; orphans ${JSON.stringify(found)}; 5xx so far ${fives.length} ${JSON.stringify(fives.map((a) => `${a.what}: ${a.status} ${JSON.stringify(a.body).slice(0, 200)}`))}`);
      assert.equal(row.health_status, 'HEALTHY', `round ${round + 1}: the cluster is ${row.status} ${row.health_status} ${JSON.stringify(row.health_status_reason)}`);
    }
    const fives = answers.slice(first5xx).filter((a) => a.status >= 500).length;
    rows.push(`| kill -9 during resize, image load, container actions, service create/update/delete (${resumed} resumed by another conductor) | ${ROUNDS} | ${ops} | ${ops - late}/${ops} | ${orphanCount} | ${fives} |`);
    assert.equal(late, 0, 'every operation ended within its deadline');
    assert.equal(orphanCount, 0, 'no orphans');
  });

  test('kill -9 during the cluster delete: a new conductor finishes it, nothing is left', async () => {
    const first5xx = answers.length;
    const since = new Date(Date.now() - 1_000);
    const d = await call('delete cluster', 'DELETE', `/v1/clusters/${cluster}`);
    assert.equal(d.status, 204, JSON.stringify(d.body));
    const killed = await killOne(Math.floor(Math.random() * 1_500));
    await waitFor('cluster deleted', async () => ((await call('show cluster', 'GET', `/v1/clusters/${cluster}`)).status === 404 ? true : undefined), 10 * 60_000);
    const left = await labelled(cluster);
    const ledger = await storage!.listResources(cluster, { includeRemoved: true });
    const keys = await storage!.conn.db.selectFrom('operation').select('uuid').where('cluster_id', '=', cluster).execute();
    checkProcesses();
    const fives = answers.slice(first5xx).filter((a) => a.status >= 500).length;
    console.log(`# delete: killed ${killed}; left on the host ${JSON.stringify(left)}; ledger rows ${ledger.length}; operations ${keys.length}; ${Date.now() - since.getTime()} ms`);
    rows.push(`| kill -9 during cluster delete | 1 | 1 | 1/1 | ${left.length + ledger.length} | ${fives} |`);
    assert.deepEqual(left, []);
    assert.equal(ledger.length, 0);
    cluster = '';
  });
});
