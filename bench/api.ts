// bench/api: requests/s and latency of the API against a floor measured in the same run: a bare
// Fastify route serving the same JSON from memory. Prints each figure and its ratio to the floor,
// and the resident memory of the API and conductor processes. A bench reports; it never fails CI.
//
//   node --import tsx bench/api.ts [--duration 10] [--clusters 1000] [--db postgres|sqlite|mysql]
//                                 [--only SUBSTRING] [--profile DIR] [--built DIR] [--pin]
//                                 [--calibrate] [--no-cache-sync] [--cache-window MS] [--slices 4]
// Needs PostgreSQL (or the --db given), RabbitMQ and Keystone from scripts/setup-services.sh
// (var/services.env). --only runs the endpoints whose name contains SUBSTRING; --profile DIR writes
// a V8 CPU profile (node --cpu-prof) of each API process and of the conductor into DIR
// (of the --built tree when given, else of the sources through tsx).
// Each endpoint's floor and APIs are loaded in turn, --slices times (4 by default), a quarter of
// --duration each time, and each one's slices added up: on a host whose speed drifts with other
// tenants' load (the floor moved by 2x between runs here) that drift weighs on the floor and the
// APIs alike. --slices 1 loads each for the whole duration, one after the other.
// --built DIR runs the processes from another built tree (the dist/ of `npm run build` in another
// checkout, whose node_modules its bundles find by walking up; or tsc's output of a tree from
// before the bundles, with DIR/node_modules linked to ours) instead of dist/ (npm run bench
// builds dist/ for bin/), still through bin/ (MAGNUM_DIST=DIR), so with the launcher's V8 flags.
// --calibrate also loads the floor made to spend 5, 10, 20 and 30 us of CPU (a busy loop) before
// each template-list answer, and prints what share of the plain floor's requests/s each keeps: the
// work a handler may add on this machine for a given ratio (every request's answer wakes the load
// generator, and the slower the server, the more often it sleeps, so each us costs more than one).
// --cache-window N runs the APIs with [api] read_cache_sync_window = N (ms; 0: a round trip to
// PostgreSQL after each request came, shared only by requests that came before it was sent).
// --no-cache-sync runs the APIs with [api] read_cache_sync = false (src/api/read-cache.ts: no
// round trip to PostgreSQL before a cached answer; a change made elsewhere is seen once its
// notification arrives): what the default's guarantee costs.
// The conductor makes a cluster's certificates for each POST: the bench sets [x509] rsa_key_size
// to 1024 (the smallest allowed) so that POST measures the API and the queue, not RSA key
// generation (4 keys per cluster; 2048-bit keys take about 50-100 ms of CPU each).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { Teardown } from './teardown.ts';
import { SqlStorage } from '../src/db/sql/storage.ts';
import { createTempDatabase } from '../test/helpers/databases.ts';
import { ROOT, need } from '../test/helpers/env.ts';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? dflt : Number(process.argv[i + 1]);
};
const DURATION = arg('duration', 10);
const CLUSTERS = arg('clusters', 1000);
const strArg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? dflt : String(process.argv[i + 1]);
};
const DB = strArg('db', 'postgres') as 'postgres' | 'sqlite' | 'mysql';
const ONLY = strArg('only', '');
const PROFILE = strArg('profile', '');
const CALIBRATE = process.argv.includes('--calibrate');
/** --slices N: the floor and the two APIs loaded in turn N times, DURATION / N seconds each (loadInTurn). */
const SLICES = Math.max(1, Math.floor(arg('slices', 4)));
const CACHE_SYNC = !process.argv.includes('--no-cache-sync');
/** [api] read_cache_sync_window in ms (--cache-window N); the default's when absent. */
const CACHE_WINDOW = strArg('cache-window', '');
const BUILT = strArg('built', '');
const CONNECTIONS = 8;
// The servers, database, vhost and directories it made go when it ends or is stopped (^C).
const teardown = new Teardown();
const children = teardown.children;

// --pin: the load generator (autocannon, in this process) on the last CPU, the servers on the
// others. Without it the scheduler places them, and a run's figures move by up to 1.7x on 2 CPUs
// (with the API alone on a CPU and the database server beside the client, or not); pinned, the
// figures repeat within a few percent, but the API shares its CPU with the database server (which
// is the machine's and is not pinned), so they are the low ones. For comparing two trees.
const CPUS = availableParallelism();
const PIN = process.argv.includes('--pin') && CPUS >= 2;
const SERVER_CPUS = `0-${CPUS - 2}`;
const CLIENT_CPU = String(CPUS - 1);
function pin(pid: number, cpus: string): void {
  if (!PIN) return;
  // -a: every thread of the process, the ones it starts later inherit it.
  const r = spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`taskset -p -c ${cpus} ${pid} failed (${r.error?.message ?? `status ${r.status}`}); run without --pin`);
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A server process; its output is kept in memory and its tail printed if it fails on its own. */
function start(cmd: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  child.stdout!.on('data', (d: Buffer) => chunks.push(d));
  child.stderr!.on('data', (d: Buffer) => chunks.push(d));
  child.on('exit', (code) => {
    if (code) process.stderr.write(`${cmd} exited ${code}:\n${Buffer.concat(chunks).toString().slice(-3000)}\n`);
  });
  children.push(child);
  if (child.pid) pin(child.pid, SERVER_CPUS);
  return child;
}

async function waitHttp(url: string, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      const r = await fetch(url);
      if (r.status < 500) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within ${ms} ms`);
}

/** A process's resident memory in MB from /proc: total, anonymous (its heap and code) and file-backed. */
function memMb(pid: number): { rss: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Math.round(Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) / 1024);
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') + kb('RssShmem') };
}

interface Figures {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  /** CPU time per answered request, in microseconds: of the server process, and of every database server process. */
  cpuUs: number;
  dbUs: number;
}

const TICK_US = 1e6 / 100; // USER_HZ: /proc's CPU times are in hundredths of a second

/** User + system CPU time of a process (all its threads), in clock ticks. */
function cpuTicks(pid: number): number {
  try {
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0; // gone
  }
}

/** The pids of the database server's processes (PostgreSQL's backends, MariaDB's server). */
function dbPids(): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
    try {
      return /^(postgres|mariadbd|mysqld)$/.test(readFileSync(`/proc/${pid}/comm`, 'utf8').trim());
    } catch {
      return false;
    }
  });
}

/**
 * Load on `url` for DURATION s; `pid` is the server's process. CPU per request moves less than
 * requests/s from run to run, but it still moves with where the scheduler puts the server beside
 * the database and the client (on 2 CPUs, 44-48 against 66-77 us for one cached GET): compare
 * trees with --pin, or in process with bench/api-cpu.ts.
 */
type LoadOpts = { method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string };

async function load(url: string, pid: number, opts: LoadOpts = {}): Promise<Figures> {
  return (await loadInTurn([{ url, pid, opts }], 1))[0];
}

/**
 * Loads each target in turn, `slices` times, DURATION / slices seconds each time, and adds up
 * each target's slices: the machine's speed drifting during the run (other tenants of the host)
 * then weighs on every target alike, which a run of the floor and then of each API does not
 * give. Requests/s and CPU per request are over all of a target's slices; p50 and p99 are the
 * median of its slices'.
 */
async function loadInTurn(targets: { url: string; pid: number; opts?: LoadOpts }[], slices = SLICES): Promise<Figures[]> {
  const sum = (pids: number[]) => pids.reduce((a, p) => a + cpuTicks(p), 0);
  const acc = targets.map(() => ({ requests: 0, seconds: 0, p50: [] as number[], p99: [] as number[], non2xx: 0, cpu: 0, db: 0 }));
  for (let s = 0; s < slices; s++) {
    for (const [i, t] of targets.entries()) {
      const dbs = dbPids();
      const [cpu0, db0] = [cpuTicks(t.pid), sum(dbs)];
      const o = t.opts ?? {};
      const r = await autocannon({ url: t.url, connections: CONNECTIONS, duration: DURATION / slices, method: o.method ?? 'GET', headers: o.headers, body: o.body });
      const a = acc[i];
      a.cpu += cpuTicks(t.pid) - cpu0;
      a.db += sum(dbs) - db0;
      a.requests += r.requests.total;
      a.seconds += r.duration;
      a.p50.push(r.latency.p50);
      a.p99.push(r.latency.p99);
      a.non2xx += r.non2xx;
    }
  }
  const median = (v: number[]) => [...v].sort((x, y) => x - y)[Math.floor((v.length - 1) / 2)];
  return acc.map((a) => {
    const n = Math.max(1, a.requests);
    return { rps: a.requests / Math.max(a.seconds, 1e-9), p50: median(a.p50), p99: median(a.p99), non2xx: a.non2xx, cpuUs: (a.cpu * TICK_US) / n, dbUs: (a.db * TICK_US) / n };
  });
}

async function keystoneToken(): Promise<{ token: string; projectId: string }> {
  const r = await fetch(`${need('KEYSTONE_URL')}/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: 'admin', domain: { name: 'Default' }, password: need('KEYSTONE_ADMIN_PASSWORD') } } },
        scope: { project: { name: 'admin', domain: { name: 'Default' } } },
      },
    }),
  });
  if (r.status !== 201) throw new Error(`Keystone login failed: ${r.status}`);
  const body = (await r.json()) as { token: { project: { id: string } } };
  return { token: r.headers.get('x-subject-token')!, projectId: body.token.project.id };
}

async function seed(storage: SqlStorage, project: string): Promise<{ template: string; cluster: string }> {
  const t = await storage.createClusterTemplate({ uuid: randomUUID(), name: 'bench', coe: 'swarm-mode', image_id: 'fake-image', cluster_distro: 'fake-os', server_type: 'vm', network_driver: 'docker', labels: { a: 'b' }, project_id: project, user_id: 'bench' });
  let first = '';
  for (let i = 0; i < CLUSTERS; i++) {
    const uuid = randomUUID();
    if (!first) first = uuid;
    const ng = (name: string, role: string, count: number) => ({ uuid: randomUUID(), name, cluster_id: uuid, project_id: project, labels: { a: 'b' }, image_id: 'fake-image', node_addresses: Array.from({ length: count }, (_, k) => `192.0.2.${k + 1}`), node_count: count, role, min_node_count: 0, is_default: true, status: 'CREATE_COMPLETE' as const });
    await storage.createClusterWithOperation(
      { uuid, name: `bench-${i}`, project_id: project, user_id: 'bench', cluster_template_id: t.uuid, labels: { a: 'b' }, status: 'CREATE_COMPLETE', create_timeout: 60, api_address: 'tcp://192.0.2.250:2376', health_status_reason: {} },
      [ng('default-master', 'master', 1), ng('default-worker', 'worker', 2)],
      { uuid: randomUUID(), cluster_id: uuid, nodegroup_id: null, kind: 'cluster_create', params: {}, deadline_at: new Date(Date.now() + 3600_000), request_id: null },
    );
  }
  // The seeded create operations are finished: they stand for clusters that already exist.
  await storage.conn.db.updateTable('operation').set({ state: 'complete' }).execute();
  return { template: t.uuid, cluster: first };
}

async function main() {
  const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const loadBefore = loadavg();
  pin(process.pid, CLIENT_CPU);
  const db = await createTempDatabase(DB);
  teardown.push(() => db.drop());
  const amqp = await teardown.vhost('magnum-bench', need('MAGNUM_TEST_AMQP_URL'));
  try {
    const storage = SqlStorage.open(db.url);
    await storage.migrate();
    const project = 'bench-project';
    console.log(`seeding ${CLUSTERS} clusters ...`);
    const { cluster } = await seed(storage, project);
    const { token, projectId: adminProject } = await keystoneToken();
    for (const p of [project, adminProject]) await storage.createQuota({ project_id: p, resource: 'Cluster', hard_limit: 1_000_000 });
    await storage.close();

    const dir = mkdtempSync(join(tmpdir(), 'magnum-bench-conf-'));
    teardown.push(async () => rmSync(dir, { recursive: true, force: true }));
    const conf = (port: number, auth: string) => {
      const f = join(dir, `${auth}.conf`);
      writeFileSync(f, [
        '[DEFAULT]', `transport_url = ${amqp}`, `auth_strategy = ${auth}`, 'host = bench',
        '[api]', `port = ${port}`, `read_cache_sync = ${CACHE_SYNC}`, ...(CACHE_WINDOW ? [`read_cache_sync_window = ${Number(CACHE_WINDOW)}`] : []), '[database]', `connection = ${db.url}`,
        '[drivers]', 'test_drivers = fake', '[fake_driver]', 'step_delay_ms = 1', '[x509]', 'rsa_key_size = 1024',
        '[keystone_authtoken]', `auth_url = ${need('KEYSTONE_URL')}`, `www_authenticate_uri = ${need('KEYSTONE_URL')}`,
        'username = magnum', `password = ${need('MAGNUM_SERVICE_PASSWORD')}`, 'project_name = service',
        '[oslo_policy]', 'policy_file = /nonexistent/policy.yaml',
      ].join('\n'));
      return f;
    };
    const noauthPort = await freePort();
    const ksPort = await freePort();
    const floorPort = await freePort();
    // Profiled processes run their source through tsx, or the --built tree's JavaScript
    // (--cpu-prof is not allowed in NODE_OPTIONS, so not through bin/).
    const builtEntry = (name: string) => (existsSync(`${BUILT}/bundle/${name}.mjs`) ? [`${BUILT}/bundle/${name}.mjs`] : [`${BUILT}/src/cmd/${name}.js`]);
    const entry = (name: string) => (BUILT ? ['--enable-source-maps', ...builtEntry(name)] : ['--import', 'tsx', `${ROOT}/src/cmd/${name}.ts`]);
    const magnum = (name: string, args: string[], profileAs?: string) => (PROFILE && profileAs
      ? start(process.execPath, [`--cpu-prof`, `--cpu-prof-dir=${join(PROFILE, profileAs)}`, ...entry(name), ...args])
      : start(`${ROOT}/bin/magnum-${name}`, args, BUILT ? { MAGNUM_DIST: BUILT } : {}));
    const conductor = magnum('conductor', ['--config-file', conf(0, 'noauth')], 'conductor');
    const apiNoauth = magnum('api', ['--config-file', conf(noauthPort, 'noauth')], 'api-noauth');
    const apiKs = magnum('api', ['--config-file', conf(ksPort, 'keystone')], 'api-keystone');
    await Promise.all([waitHttp(`http://127.0.0.1:${noauthPort}/`), waitHttp(`http://127.0.0.1:${ksPort}/`)]);

    const noauth = { 'x-project-id': project, 'x-user-id': 'bench', 'x-roles': 'member', 'openstack-api-version': 'container-infra latest' };
    const ks = { 'x-auth-token': token, 'openstack-api-version': 'container-infra latest' };
    // Keystone's admin sees all projects; give it the same view by using the admin scope.
    const base = (port: number) => `http://127.0.0.1:${port}`;
    const endpoints = [
      { name: 'GET /v1/clustertemplates', path: '/v1/clustertemplates' },
      { name: 'GET /v1/clusters/{id}', path: `/v1/clusters/${cluster}` },
      { name: `GET /v1/clusters/detail (${CLUSTERS} clusters)`, path: '/v1/clusters/detail' },
    ];
    // The floor serves each endpoint's own response body from memory.
    const bodies: Record<string, string> = {};
    for (const e of endpoints) bodies[e.path] = await (await fetch(base(noauthPort) + e.path, { headers: noauth })).text();
    bodies['/v1/clusters'] = JSON.stringify({ uuid: randomUUID() });
    const floorSrc = join(dir, 'floor.mjs');
    writeFileSync(join(dir, 'bodies.json'), JSON.stringify(bodies));
    writeFileSync(floorSrc, `
      import Fastify from '${ROOT}/node_modules/fastify/fastify.js';
      import { readFileSync } from 'node:fs';
      const bodies = JSON.parse(readFileSync('${join(dir, 'bodies.json')}', 'utf8'));
      const app = Fastify();
      app.get('/*', async (req, reply) => reply.type('application/json').send(bodies[req.url]));
      // --calibrate: /busy/<us>/<path> answers <path> after <us> microseconds of CPU work.
      app.get('/busy/:us/*', async (req, reply) => {
        const until = process.hrtime.bigint() + BigInt(req.params.us) * 1000n;
        while (process.hrtime.bigint() < until);
        return reply.type('application/json').send(bodies['/' + req.params['*']]);
      });
      app.post('/v1/clusters', async (req, reply) => reply.code(202).type('application/json').send(bodies['/v1/clusters']));
      await app.listen({ host: '127.0.0.1', port: ${floorPort} });`);
    const floor = start('node', [floorSrc]);
    await waitHttp(`${base(floorPort)}/v1/clustertemplates`);

    const fmt = (n: number) => (Number.isFinite(n) ? n.toFixed(n >= 100 ? 0 : 1) : '-');
    const calibration: string[] = [];
    // Before the endpoints: after POST the conductor is still working off the queued creates.
    if (CALIBRATE) {
      const path = endpoints[0].path;
      await autocannon({ url: base(floorPort) + path, connections: CONNECTIONS, duration: 2 });
      const plain = await load(base(floorPort) + path, floor.pid!);
      for (const us of [5, 10, 20, 30]) {
        const url = `${base(floorPort)}/busy/${us}${path}`;
        await autocannon({ url, connections: CONNECTIONS, duration: 2 });
        const b = await load(url, floor.pid!);
        calibration.push(`floor + ${String(us).padStart(2)} us of work per request: ${fmt(b.rps)} req/s, ${((b.rps / plain.rps) * 100).toFixed(1)}% of the floor's ${fmt(plain.rps)}, CPU ${fmt(b.cpuUs)} us/req (the floor's ${fmt(plain.cpuUs)})`);
      }
    }
    const rows: string[][] = [];
    const post = { method: 'POST' as const, body: JSON.stringify({ cluster_template_id: 'bench', node_count: 1 }) };
    for (const e of [...endpoints, { name: 'POST /v1/clusters', path: '/v1/clusters' }].filter((x) => x.name.includes(ONLY))) {
      const isPost = e.path === '/v1/clusters';
      // A short unmeasured run of each first, so that no figure includes the JIT's warm-up.
      if (!isPost) {
        await autocannon({ url: base(floorPort) + e.path, connections: CONNECTIONS, duration: 2 });
        for (const [port, headers] of [[noauthPort, noauth], [ksPort, ks]] as const) await autocannon({ url: base(port) + e.path, connections: CONNECTIONS, duration: 2, headers });
      }
      const apis = [['noauth', noauthPort, noauth, apiNoauth], ['keystone', ksPort, ks, apiKs]] as const;
      const [f, ...ms] = await loadInTurn([
        { url: base(floorPort) + e.path, pid: floor.pid!, opts: isPost ? { ...post, headers: { 'content-type': 'application/json' } } : {} },
        ...apis.map(([, port, headers, api]) => {
          const h = { ...headers, 'content-type': 'application/json' };
          return { url: base(port) + e.path, pid: api.pid!, opts: isPost ? { ...post, headers: h } : { headers: h } };
        }),
      ]);
      for (const [k, [mode]] of apis.entries()) {
        const m = ms[k];
        rows.push([e.name, mode, fmt(m.rps), fmt(f.rps), `${((m.rps / f.rps) * 100).toFixed(1)}%`, fmt(m.p50), fmt(f.p50), `${(m.p50 / Math.max(f.p50, 1)).toFixed(2)}x`, fmt(m.p99), fmt(f.p99), String(m.non2xx), fmt(m.cpuUs), fmt(f.cpuUs), fmt(m.dbUs)]);
      }
    }
    const header = ['endpoint', 'auth', 'req/s', 'floor req/s', 'of floor', 'p50 ms', 'floor p50', 'p50 ratio', 'p99 ms', 'floor p99', 'non-2xx', 'CPU us/req', 'floor CPU', 'db CPU us/req'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ');
    console.log(`\nbench/api: ${CONNECTIONS} connections, ${DURATION} s per run in ${SLICES} slice${SLICES > 1 ? 's' : ''} taken in turn, 127.0.0.1, ${DB} + RabbitMQ; load average ${loadBefore} before, ${loadavg()} after; ${PIN ? `servers on CPU ${SERVER_CPUS}, client on CPU ${CLIENT_CPU}` : 'not pinned'}${CACHE_SYNC ? '' : '; read_cache_sync = false'}${CACHE_WINDOW ? `; read_cache_sync_window = ${Number(CACHE_WINDOW)}` : ''}`);
    console.log(line(header));
    for (const r of rows) console.log(line(r));
    if (calibration.length) console.log(`\ncalibration (${endpoints[0].name}'s answer):\n${calibration.join('\n')}`);
    const [a, k, c, f] = [apiNoauth, apiKs, conductor, floor].map((p) => memMb(p.pid!));
    // RssFile is mostly the node binary's pages, which the two processes share: counted once, the
    // pair's resident memory is their anonymous memory plus the larger file-backed part.
    const once = (api: typeof a, cond: typeof c) => api.anon + cond.anon + Math.max(api.file, cond.file);
    console.log(`\nresident memory (MB): magnum-api ${a.rss} (noauth), ${k.rss} (keystone); magnum-conductor ${c.rss}; API + conductor ${a.rss + c.rss} (noauth API), ${k.rss + c.rss} (Keystone API); floor process ${f.rss}`);
    console.log(`of which anonymous: magnum-api ${a.anon} (noauth), ${k.anon} (keystone), magnum-conductor ${c.anon}; file-backed (shared node binary): ${a.file}, ${k.file}, ${c.file}; the pair counted once ${once(a, c)} (noauth), ${once(k, c)} (Keystone)`);
    // Whether V8 gives back heap it grew under load once the allocation rate drops (its memory reducer).
    await new Promise((r) => setTimeout(r, 10_000));
    const [a2, k2, c2] = [memMb(apiNoauth.pid!), memMb(apiKs.pid!), memMb(conductor.pid!)];
    console.log(`10 s later: magnum-api ${a2.rss} (noauth), ${k2.rss} (keystone), magnum-conductor ${c2.rss}; API + conductor ${a2.rss + c2.rss} (noauth API), ${k2.rss + c2.rss} (Keystone API); the pair counted once ${once(a2, c2)}, ${once(k2, c2)}`);
    if (PROFILE) {
      // The profiles are written when the processes exit on their own (SIGTERM: a clean stop).
      await Promise.all([apiNoauth, apiKs, conductor].map((c) => new Promise((res) => { c.once('exit', res); c.kill('SIGTERM'); })));
      console.log(`CPU profiles in ${PROFILE}/api-noauth, ${PROFILE}/api-keystone and ${PROFILE}/conductor`);
    }
  } finally {
    await teardown.run();
  }
}

await main();
