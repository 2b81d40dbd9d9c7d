// bench/scale: the API and the conductor with 1,000 and then 10,000 clusters in 100 projects.
// Prints, at each size: the p50/p99 latency and req/s of a cluster show, of one project's
// GET /v1/clusters and of the admin's first page of GET /v1/clusters/detail; the walk of every
// cluster through GET /v1/clusters pages of [api] max_limit (1,000) following the next links;
// the time a conductor started on that database takes until its health polling has covered
// every running cluster (each cluster's health_status set: the first poll writes every one); and
// the resident memory of the API and the conductor after that. A bench reports; it never fails CI.
//
//   node --import tsx bench/scale.ts [--db postgres|sqlite|mysql] [--duration 5] [--built DIR]
//
// --built DIR runs the API and the conductor from another built tree (see bench/api.ts) instead
// of dist/ (npm run bench:scale builds dist/ for bin/).
// Rows are written directly (multi-row INSERTs), not through the API: 100 projects, each cluster
// with a master and a worker nodegroup, CREATE_COMPLETE, health unknown, the fake driver's
// template. Needs the database and RabbitMQ of scripts/setup-services.sh (var/services.env); the
// API runs with noauth (identity headers), so Keystone is not used.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { Teardown } from './teardown.ts';
import { SqlStorage } from '../src/db/sql/storage.ts';
import { toRow } from '../src/db/sql/rows.ts';
import { createTempDatabase, type DbKind } from '../test/helpers/databases.ts';
import { ROOT, need } from '../test/helpers/env.ts';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? dflt : String(process.argv[i + 1]);
};
const DB = arg('db', 'postgres') as DbKind;
const DURATION = Number(arg('duration', '5'));
const BUILT = arg('built', '');
const PROJECTS = 100;
const SIZES = [1_000, 10_000];
const CONNECTIONS = 4;
// The servers, database, vhost and directory it made go when it ends or is stopped (^C).
const teardown = new Teardown();
const children = teardown.children;

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => {
    const port = (s.address() as { port: number }).port;
    s.close(() => resolve(port));
  });
});

/** bin/magnum-<name>, or the compiled tree's (--built). */
// --built runs through bin/ too (MAGNUM_DIST), so the processes get the launcher's V8 flags.
const magnum = (name: string, args: string[]) => start(`${ROOT}/bin/magnum-${name}`, args, BUILT ? { MAGNUM_DIST: BUILT } : {});

function start(cmd: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.on('data', (d: Buffer) => out.push(d));
  child.on('exit', (code, signal) => {
    if (code) process.stderr.write(`${cmd} exited ${code ?? signal}:\n${Buffer.concat(out).toString().slice(-3000)}\n`);
  });
  children.push(child);
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  await new Promise((res) => {
    child.once('exit', res);
    child.kill('SIGTERM');
  });
}

async function waitHttp(url: string, ms = 60_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      if ((await fetch(url)).status < 500) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within ${ms} ms`);
}

const rssMb = (pid: number) => Math.round(Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024);
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** Writes clusters [from, to) with their nodegroups, 500 rows a statement. */
async function seed(storage: SqlStorage, template: string, from: number, to: number, uuids: string[]): Promise<void> {
  const db = storage.conn.db;
  const now = new Date();
  for (let i = from; i < to; i += 500) {
    const clusters: Record<string, unknown>[] = [];
    const ngs: Record<string, unknown>[] = [];
    for (let k = i; k < Math.min(to, i + 500); k++) {
      const uuid = randomUUID();
      uuids.push(uuid);
      const project = `scale-project-${k % PROJECTS}`;
      clusters.push(toRow(storage.conn, 'cluster', {
        uuid, name: `scale-${k}`, project_id: project, user_id: 'scale', cluster_template_id: template, labels: { a: 'b' },
        status: 'CREATE_COMPLETE', create_timeout: 60, api_address: 'tcp://192.0.2.250:2376', health_status_reason: {},
        master_lb_enabled: false, floating_ip_enabled: true, created_at: now,
      }));
      for (const [name, role, count] of [['default-master', 'master', 1], ['default-worker', 'worker', 2]] as const) {
        ngs.push(toRow(storage.conn, 'nodegroup', {
          uuid: randomUUID(), name, cluster_id: uuid, project_id: project, labels: { a: 'b' }, image_id: 'fake-image',
          node_addresses: Array.from({ length: count }, (_, n) => `192.0.2.${n + 1}`), node_count: count, role, min_node_count: 0,
          is_default: true, status: 'CREATE_COMPLETE', created_at: now,
        }));
      }
    }
    await db.insertInto('cluster').values(clusters).execute();
    await db.insertInto('nodegroup').values(ngs).execute();
  }
}

interface Load { rps: number; p50: number; p99: number; errors: number }

async function load(url: string, headers: Record<string, string>): Promise<Load> {
  const r = await autocannon({ url, connections: CONNECTIONS, duration: DURATION, headers });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.non2xx + r.errors };
}

async function main() {
  const loadBefore = loadavg();
  const db = await createTempDatabase(DB);
  teardown.push(() => db.drop());
  const lines: string[] = [];
  try {
    const amqp = await teardown.vhost('magnum-scale', need('MAGNUM_TEST_AMQP_URL'));
    const storage = SqlStorage.open(db.url);
    await storage.migrate();
    const template = (await storage.createClusterTemplate({
      uuid: randomUUID(), name: 'scale', coe: 'swarm-mode', image_id: 'fake-image', cluster_distro: 'fake-os', server_type: 'vm',
      network_driver: 'docker', labels: { a: 'b' }, project_id: 'scale-project-0', user_id: 'scale', public: true,
    })).uuid;
    const dir = mkdtempSync(join(tmpdir(), 'magnum-scale-'));
    teardown.push(async () => rmSync(dir, { recursive: true, force: true }));
    const port = await freePort();
    const conf = join(dir, 'magnum.conf');
    writeFileSync(conf, [
      '[DEFAULT]', `transport_url = ${amqp}`, 'auth_strategy = noauth', 'host = scale',
      '[api]', `port = ${port}`, '[database]', `connection = ${db.url}`,
      '[drivers]', 'test_drivers = fake', '[certificates]', `encryption_key_file = ${join(dir, 'cert.key')}`,
      '[oslo_policy]', 'policy_file = /nonexistent/policy.yaml',
    ].join('\n'));
    const api = magnum('api', ['--config-file', conf]);
    await waitHttp(`http://127.0.0.1:${port}/`);
    const base = `http://127.0.0.1:${port}/v1`;
    const member = (p: number) => ({ 'x-project-id': `scale-project-${p}`, 'x-user-id': 'scale', 'x-roles': 'member', 'openstack-api-version': 'container-infra latest' });
    const admin = { 'x-project-id': 'scale-project-0', 'x-user-id': 'admin', 'x-roles': 'admin', 'openstack-api-version': 'container-infra latest' };
    const uuids: string[] = [];
    let seeded = 0;
    for (const size of SIZES) {
      const t0 = Date.now();
      await seed(storage, template, seeded, size, uuids);
      seeded = size;
      lines.push(`\n${size} clusters in ${PROJECTS} projects (rows written in ${((Date.now() - t0) / 1000).toFixed(1)} s); load average ${loadavg()}`);
      // A show of the last cluster written (project 99's).
      const last = uuids[uuids.length - 1];
      const show = await load(`${base}/clusters/${last}`, member((size - 1) % PROJECTS));
      const list = await load(`${base}/clusters`, member(7));
      const detail = await load(`${base}/clusters/detail`, admin);
      const fmt = (name: string, l: Load) => `  ${name.padEnd(44)} ${l.rps.toFixed(0).padStart(6)} req/s  p50 ${String(l.p50).padStart(4)} ms  p99 ${String(l.p99).padStart(5)} ms${l.errors ? `  ${l.errors} errors` : ''}`;
      lines.push(fmt('GET /v1/clusters/{uuid} (member)', show));
      lines.push(fmt(`GET /v1/clusters (member, ${size / PROJECTS} clusters)`, list));
      lines.push(fmt('GET /v1/clusters/detail (admin, first page)', detail));
      // Every cluster, page by page through the next links.
      const w0 = Date.now();
      let url: string | undefined = `${base}/clusters`;
      let pages = 0;
      let seen = 0;
      const pageSizes: number[] = [];
      while (url) {
        const r = await fetch(url, { headers: admin });
        if (r.status !== 200) throw new Error(`GET ${url}: ${r.status} ${await r.text()}`);
        const body = (await r.json()) as { clusters: unknown[]; next?: string };
        pages++;
        seen += body.clusters.length;
        pageSizes.push(body.clusters.length);
        url = body.next;
      }
      lines.push(`  GET /v1/clusters (admin) walked by next links: ${seen} clusters in ${pages} pages (${[...new Set(pageSizes)].join('/')} a page) in ${((Date.now() - w0) / 1000).toFixed(2)} s`);
      // Health polling: a conductor started now polls at once; every cluster is covered when
      // each has a health_status (the fake driver reports HEALTHY).
      await storage.conn.db.updateTable('cluster').set({ health_status: null }).execute();
      const c0 = Date.now();
      const conductor = magnum('conductor', ['--config-file', conf]);
      let covered = 0;
      while (covered < size && Date.now() - c0 < 600_000) {
        await new Promise((r) => setTimeout(r, 200));
        const row = await storage.conn.db.selectFrom('cluster').select((eb) => eb.fn.countAll().as('n')).where('health_status', 'is not', null).executeTakeFirst();
        covered = Number(row?.n ?? 0);
      }
      const coverage = (Date.now() - c0) / 1000;
      await new Promise((r) => setTimeout(r, 2_000)); // settled, idle
      lines.push(`  health polling: ${covered} of ${size} clusters covered ${(covered === size ? 'in' : 'NOT all after')} ${coverage.toFixed(1)} s from the conductor's start (first poll: every cluster's health written)`);
      lines.push(`  resident memory: magnum-conductor ${rssMb(conductor.pid!)} MB (idle, after the poll), magnum-api ${rssMb(api.pid!)} MB`);
      await stop(conductor);
    }
    await storage.close();
    console.log(`bench/scale: ${DB}, noauth, ${CONNECTIONS} connections, ${DURATION} s per run; load average ${loadBefore} before, ${loadavg()} after`);
    for (const l of lines) console.log(l);
  } finally {
    await teardown.run();
  }
}

await main();
