// Dependency faults: real magnum-api and magnum-conductor processes on a PostgreSQL, a MariaDB and a
// RabbitMQ of the test's own (test/helpers/private-services.ts; the machine's shared services are
// never touched). During cluster creates the test restarts PostgreSQL (pg_ctl stop -m fast, start),
// freezes it (SIGSTOP of every server process, then SIGCONT), restarts and freezes MariaDB, and
// restarts RabbitMQ. After each round:
// - no process died (nothing here kills any);
// - while the dependency was down the API answered 503 in Magnum's error format (never another 5xx),
//   each answer within its bound (no hang): the largest latency is measured and reported;
// - a create the API refused with 503 was not carried out later (no cluster of that name appears);
// - every operation reached a terminal state within its deadline, with nobody restarting anything;
// - no process logged an unhandled promise rejection, and no log shows a password.
// Bounded counts; FAULT_SOAK=1 runs more rounds with more creates.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT } from '../helpers/env.ts';
import { freePort, runCommand, spawnProcess, tempDir, type ManagedProcess } from '../helpers/processes.ts';
import { startPrivateMariadb, startPrivatePostgres, startPrivateRabbitmq, type PrivateService } from '../helpers/private-services.ts';

const SOAK = process.env.FAULT_SOAK === '1';
const ROUNDS = SOAK ? 6 : 2;
const CREATES_PER_ROUND = SOAK ? 12 : 4;
/** How long each dependency stays down or frozen. */
const DOWN_MS = SOAK ? 12_000 : 6_000;
/** A frozen server answers nothing, so a probe gets its 503 only statement_timeout + 2 s after it
 *  started: the window must hold a whole such probe begun after the freeze took effect, even on a
 *  loaded machine where the first probe of the window started just before the signals landed. */
const FROZEN_MS = SOAK ? 20_000 : 14_000;
// [database] pool_timeout = 2 and statement_timeout = 3 below: a statement gives up after 3 s + 2 s
// of grace at most, so no request should take longer than this while a dependency is down.
const POOL_TIMEOUT_S = 2;
const STATEMENT_TIMEOUT_S = 3;
const LATENCY_BOUND_MS = (STATEMENT_TIMEOUT_S + 2) * 1000 + 2_500;
const CREATE_TIMEOUT_MIN = 2;

const H = { 'content-type': 'application/json', 'openstack-api-version': 'container-infra latest', 'x-project-id': 'p-faults', 'x-user-id': 'u-faults', 'x-roles': 'admin' };

interface Answer { status: number; ms: number; body: any; at: number }

async function request(base: string, method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<Answer> {
  const at = Date.now();
  try {
    const r = await fetch(base + path, { method, headers: H, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
    const text = await r.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON */
    }
    return { status: r.status, ms: Date.now() - at, body: parsed, at };
  } catch (err) {
    // A hang past the client's timeout, or a connection the API dropped: both count as failures.
    return { status: 0, ms: Date.now() - at, body: String(err), at };
  }
}

interface Deployment {
  name: string;
  db: PrivateService;
  api: ManagedProcess;
  conductors: ManagedProcess[];
  all: ManagedProcess[];
  close(): Promise<void>;
}

async function deploy(name: string, db: PrivateService, broker: PrivateService): Promise<Deployment> {
  const dir = tempDir(`magnum-faults-${name}-`);
  const confFile = join(dir, 'magnum.conf');
  writeFileSync(confFile, [
    '[DEFAULT]',
    `transport_url = ${broker.url}`,
    'auth_strategy = noauth',
    'periodic_interval_max = 2',
    'rpc_response_timeout = 10',
    '[database]', `connection = ${db.url}`,
    `pool_timeout = ${POOL_TIMEOUT_S}`, `statement_timeout = ${STATEMENT_TIMEOUT_S}`, 'max_pool_size = 5',
    '[drivers]', 'test_drivers = fake',
    '[fake_driver]', 'step_delay_ms = 400',
    '[conductor]', `topic = magnum-conductor-${name}`, 'operation_lease = 6', 'sweep_interval = 1',
    '[kubernetes]', 'health_polling_interval = 2',
    '[quotas]', 'max_clusters_per_project = 10000',
    '[oslo_policy]', 'policy_file = /nonexistent/policy.yaml',
  ].join('\n'));
  const up = await runCommand(`${ROOT}/bin/magnum-db-manage`, ['--config-file', confFile, 'upgrade']);
  assert.equal(up.code, 0, up.stderr);
  const conductors = await Promise.all([0, 1].map((i) =>
    spawnProcess(`${ROOT}/bin/magnum-conductor`, { name: `${name}-conductor-${i}`, logDir: dir, args: ['--config-file', confFile], env: { MAGNUM__DEFAULT__HOST: `${name}-conductor-${i}` } })));
  const port = await freePort();
  const api = await spawnProcess(`${ROOT}/bin/magnum-api`, { name: `${name}-api`, logDir: dir, args: ['--config-file', confFile], env: { MAGNUM__API__PORT: String(port) }, port, readyPath: '/' });
  const all = [api, ...conductors];
  return { name, db, api, conductors, all, close: async () => void (await Promise.all(all.map((p) => p.stop()))) };
}

interface Row { scenario: string; rounds: number; operations: number; terminal: number; complete: number; other5xx: number; answered503: number; refusedNotCarriedOut: string; maxDownMs: number; recoveryMs: number }
const table: Row[] = [];
const impatient: string[] = [];

/**
 * One scenario: `rounds` times, start creates, break the dependency while probing the API, bring
 * it back, then check everything the header promises.
 */
async function scenario(name: string, d: Deployment, template: string, fault: { down(): Promise<void> | void; up(): Promise<void> | void; downMs?: number }, probePath: (base: string) => string, probeCreates: boolean) {
  const row: Row = { scenario: name, rounds: ROUNDS, operations: 0, terminal: 0, complete: 0, other5xx: 0, answered503: 0, refusedNotCarriedOut: '', maxDownMs: 0, recoveryMs: 0 };
  let refused = 0;
  let refusedAbsent = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const tag = `${name.replace(/\W+/g, '-')}-r${round}`;
    const accepted: { name: string; at: number }[] = [];
    const refusedNames: string[] = [];
    const create = async (n: string) => {
      const a = await request(d.api.url, 'POST', '/v1/clusters', { name: n, cluster_template_id: template, node_count: 1, create_timeout: CREATE_TIMEOUT_MIN });
      return a;
    };
    for (let i = 0; i < CREATES_PER_ROUND; i++) {
      const a = await create(`${tag}-c${i}`);
      assert.equal(a.status, 202, `create before the fault: ${JSON.stringify(a.body)}`);
      accepted.push({ name: `${tag}-c${i}`, at: a.at });
    }
    // Probe while the fault lasts: reads that need the dependency, and (database faults) creates.
    const probes: Answer[] = [];
    let probing = true;
    const prober = (async () => {
      let i = 0;
      while (probing) {
        const reads = request(d.api.url, 'GET', probePath(d.api.url));
        const writes = probeCreates ? create(`${tag}-during-${i}`).then((a) => ({ ...a, name: `${tag}-during-${i}` })) : null;
        const [r, w] = await Promise.all([reads, writes]);
        probes.push(r);
        if (w) {
          probes.push(w);
          if (w.status === 202) accepted.push({ name: w.name, at: w.at });
          else refusedNames.push(w.name);
        }
        i++;
        await new Promise((res) => setTimeout(res, 250));
      }
    })();
    await new Promise((res) => setTimeout(res, 500)); // the creates are under way
    const downAt = Date.now();
    await fault.down();
    await new Promise((res) => setTimeout(res, fault.downMs ?? DOWN_MS));
    await fault.up();
    const upAt = Date.now();
    // Recovery without help: the API answers the probe 2xx/4xx again.
    for (;;) {
      const a = await request(d.api.url, 'GET', probePath(d.api.url));
      if (a.status > 0 && a.status < 500) break;
      assert.ok(Date.now() - upAt < 60_000, `${name}: the API did not recover within 60 s of the dependency's return (last: ${a.status} ${JSON.stringify(a.body)})`);
      await new Promise((res) => setTimeout(res, 200));
    }
    row.recoveryMs = Math.max(row.recoveryMs, Date.now() - upAt);
    probing = false;
    await prober;
    const during = probes.filter((p) => p.at >= downAt && p.at <= upAt);
    const bad = during.filter((p) => p.status === 0 || (p.status >= 500 && p.status !== 503));
    row.other5xx += probes.filter((p) => p.status === 0 || (p.status >= 500 && p.status !== 503)).length;
    row.answered503 += probes.filter((p) => p.status === 503).length;
    row.maxDownMs = Math.max(row.maxDownMs, ...during.map((p) => p.ms));
    assert.deepEqual(bad.map((p) => `${p.status} after ${p.ms} ms: ${JSON.stringify(p.body)}`), [], `${name}: answers other than 503 while down`);
    assert.ok(during.some((p) => p.status === 503), `${name}: no 503 while the dependency was down (${during.map((p) => p.status).join(',')})`);
    for (const p of probes.filter((x) => x.status === 503)) {
      const e = p.body?.errors?.[0];
      assert.ok(e && e.status === 503 && e.code === 'server' && typeof e.detail === 'string', `503 in Magnum's format: ${JSON.stringify(p.body)}`);
    }
    const slow = during.filter((p) => p.ms > LATENCY_BOUND_MS);
    assert.deepEqual(slow.map((p) => `${p.status} after ${p.ms} ms`), [], `${name}: answers slower than ${LATENCY_BOUND_MS} ms while down`);
    // Every accepted create ends, within its deadline; a refused one never appears.
    const deadlineOf = (at: number) => at + CREATE_TIMEOUT_MIN * 60_000;
    const lastDeadline = Math.max(...accepted.map((a) => deadlineOf(a.at)));
    let clusters: { name: string; status: string; status_reason: string | null }[] = [];
    for (;;) {
      const list = await request(d.api.url, 'GET', '/v1/clusters/detail?limit=10000');
      assert.equal(list.status, 200, JSON.stringify(list.body));
      clusters = (list.body.clusters as typeof clusters).filter((c) => c.name.startsWith(`${tag}-`));
      const mine = accepted.map((a) => clusters.find((c) => c.name === a.name));
      if (mine.every((c) => c && !c.status.endsWith('_IN_PROGRESS'))) break;
      assert.ok(Date.now() < lastDeadline + 5_000, `${name}: operations still in progress past their deadline: ${JSON.stringify(mine.filter((c) => !c || c.status.endsWith('_IN_PROGRESS')))}`);
      await new Promise((res) => setTimeout(res, 500));
    }
    const ended = Date.now();
    row.operations += accepted.length;
    row.terminal += accepted.filter((a) => ended <= deadlineOf(a.at)).length;
    row.complete += clusters.filter((c) => c.status === 'CREATE_COMPLETE').length;
    const failed = clusters.filter((c) => c.status !== 'CREATE_COMPLETE');
    assert.deepEqual(failed.map((c) => `${c.name} ${c.status}: ${c.status_reason}`), [], `${name}: creates that did not complete`);
    refused += refusedNames.length;
    const carriedOut = refusedNames.filter((n) => clusters.some((c) => c.name === n));
    refusedAbsent += refusedNames.length - carriedOut.length;
    assert.deepEqual(carriedOut, [], `${name}: creates answered 503 were carried out later`);
    // Nothing died, nothing leaked.
    for (const p of d.all) assert.ok(p.running, `${p.name} died: ${JSON.stringify(p.exitInfo)}\n${p.logTail()}`);
  }
  row.refusedNotCarriedOut = probeCreates ? `${refusedAbsent}/${refused}` : 'n/a';
  table.push(row);
}

describe('conductors and the API outlive their dependencies', () => {
  let pg: PrivateService;
  let my: PrivateService;
  let mq: PrivateService;
  let onPg: Deployment;
  let onMy: Deployment;

  before(async () => {
    [pg, my, mq] = await Promise.all([startPrivatePostgres(), startPrivateMariadb(), startPrivateRabbitmq()]);
    onPg = await deploy('pg', pg, mq);
    onMy = await deploy('my', my, mq);
    for (const d of [onPg, onMy]) {
      const t = await request(d.api.url, 'POST', '/v1/clustertemplates', { name: 'faults', coe: 'swarm-mode', image_id: 'fake-image' });
      assert.equal(t.status, 201, JSON.stringify(t.body));
    }
  });

  after(async () => {
    await Promise.all([onPg?.close(), onMy?.close()]);
    await Promise.all([pg?.destroy(), my?.destroy(), mq?.destroy()]);
    if (table.length) {
      const lines = [
        '| scenario | rounds | operations | terminal within deadline | CREATE_COMPLETE | 5xx other than 503 | 503 answers | refused creates not carried out | max latency while down | recovery after return |',
        '|---|---|---|---|---|---|---|---|---|---|',
        ...table.map((r) => `| ${r.scenario} | ${r.rounds} | ${r.operations} | ${r.terminal}/${r.operations} | ${r.complete} | ${r.other5xx} | ${r.answered503} | ${r.refusedNotCarriedOut} | ${(r.maxDownMs / 1000).toFixed(2)} s | ${(r.recoveryMs / 1000).toFixed(2)} s |`),
      ];
      if (impatient.length) lines.push('', `creates whose client gave up during a 1.5 s freeze, not carried out: ${impatient.join(', ')}`);
      console.log(`dependency faults (${SOAK ? 'soak' : 'bounded'}; each fault ${DOWN_MS / 1000} s, a freeze ${FROZEN_MS / 1000} s; statement_timeout ${STATEMENT_TIMEOUT_S} s, pool_timeout ${POOL_TIMEOUT_S} s)\n${lines.join('\n')}`);
    }
  });

  const clusters = (base: string) => (void base, '/v1/clusters?limit=5');

  test('PostgreSQL restarted (pg_ctl stop -m fast, start) during creates', async () => {
    await scenario('postgresql restart', onPg, 'faults', { down: () => pg.stop(), up: () => pg.start() }, clusters, true);
  });

  test('PostgreSQL frozen (SIGSTOP, SIGCONT) during creates', async () => {
    await scenario('postgresql frozen', onPg, 'faults', { down: () => pg.freeze(), up: () => pg.thaw(), downMs: FROZEN_MS }, clusters, true);
  });

  test('MariaDB restarted during creates', async () => {
    await scenario('mariadb restart', onMy, 'faults', { down: () => my.stop(), up: () => my.start() }, clusters, true);
  });

  test('MariaDB frozen (SIGSTOP, SIGCONT) during creates', async () => {
    await scenario('mariadb frozen', onMy, 'faults', { down: () => my.freeze(), up: () => my.thaw(), downMs: FROZEN_MS }, clusters, true);
  });

  test('a client that gives up while the database is briefly frozen: its create is not carried out later', async () => {
    // The freeze (1.5 s) is shorter than statement_timeout: the statements of these requests go on
    // once the server is back, after their clients left (0.7 s). Nothing of theirs may be committed.
    for (const [label, d, db] of [['postgresql', onPg, pg], ['mariadb', onMy, my]] as const) {
      const names = Array.from({ length: 6 }, (_, i) => `impatient-${label}-${i}`);
      db.freeze();
      const answers = await Promise.all(names.map((n) => request(d.api.url, 'POST', '/v1/clusters', { name: n, cluster_template_id: 'faults', node_count: 1 }, 700)));
      await new Promise((r) => setTimeout(r, 800));
      db.thaw();
      assert.deepEqual(answers.map((a) => a.status), names.map(() => 0), 'every client gave up');
      await new Promise((r) => setTimeout(r, 3_000)); // whatever the API still had to do is done
      const list = await request(d.api.url, 'GET', '/v1/clusters?limit=10000');
      assert.equal(list.status, 200);
      const carried = (list.body.clusters as { name: string }[]).filter((c) => names.includes(c.name)).map((c) => c.name);
      assert.deepEqual(carried, [], `${label}: creates whose clients gave up were carried out`);
      impatient.push(`${label}: ${names.length - carried.length}/${names.length}`);
      for (const p of d.all) assert.ok(p.running, `${p.name} died`);
    }
  });

  test('RabbitMQ restarted during creates: calls that need a conductor answer 503, creates still complete', async () => {
    // A call to the conductor: the CA of a cluster (200, or 400 for a cluster without one).
    const list = await request(onPg.api.url, 'GET', '/v1/clusters?limit=1');
    const uuid = list.body.clusters[0].uuid as string;
    await scenario('rabbitmq restart', onPg, 'faults', { down: () => mq.stop(), up: () => mq.start() }, () => `/v1/certificates/${uuid}`, false);
  });

  test('no process died, none logged an unhandled rejection, no log shows a password', () => {
    for (const d of [onPg, onMy]) {
      for (const p of d.all) {
        assert.ok(p.running, `${p.name} died`);
        const log = p.log();
        assert.ok(!log.includes('unhandled promise rejection'), `${p.name} logged an unhandled promise rejection:\n${log.split('\n').filter((l) => l.includes('unhandled')).slice(0, 3).join('\n')}`);
        for (const secret of [pg.password, my.password, mq.password]) assert.ok(!log.includes(secret), `${p.name}'s log shows a password`);
      }
    }
  });
});
