// bench/api-cpu: CPU time the API spends per request, measured in process (app.inject, no network,
// no client in the same process's way): process.cpuUsage() over N sequential requests. Unlike
// requests/s, it hardly moves with the load other processes put on the machine, so it is the
// figure to compare two trees with on a shared machine. Reports; never fails CI.
//
//   node --import tsx bench/api-cpu.ts [--db postgres|sqlite|mysql] [--clusters 1000]
//
// Also the database client's work (the driver parsing rows) is in the figure, as it is in the API
// process; the database server's is not. The "wall" figure is the time per request, which the
// server's work and the machine's load are in.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import pino from 'pino';
import { loadConfig } from '../src/conf/index.ts';
import { SqlStorage } from '../src/db/sql/storage.ts';
import { createTransport } from '../src/rpc/index.ts';
import { buildApi } from '../src/cmd/wiring.ts';
import { createTempDatabase, type DbKind } from '../test/helpers/databases.ts';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? dflt : String(process.argv[i + 1]);
};
const DB = arg('db', 'postgres') as DbKind;
const CLUSTERS = Number(arg('clusters', '1000'));
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

const db = await createTempDatabase(DB);
try {
  const conf = loadConfig({
    env: {},
    overrides: {
      DEFAULT: { auth_strategy: 'noauth', transport_url: 'inprocess://' }, database: { connection: db.url },
      drivers: { test_drivers: 'fake' }, oslo_policy: { policy_file: '/nonexistent/policy.yaml' },
    },
  });
  const storage = SqlStorage.open(db.url);
  await storage.migrate();
  const P = 'bench-project';
  const t = await storage.createClusterTemplate({ uuid: randomUUID(), name: 'bench', coe: 'swarm-mode', image_id: 'fake-image', cluster_distro: 'fake-os', server_type: 'vm', labels: { a: 'b' }, project_id: P, user_id: 'bench' });
  let first = '';
  for (let i = 0; i < CLUSTERS; i++) {
    const uuid = randomUUID();
    first ||= uuid;
    const ng = (name: string, role: string, count: number) => ({ uuid: randomUUID(), name, cluster_id: uuid, project_id: P, labels: { a: 'b' }, image_id: 'fake-image', node_addresses: Array.from({ length: count }, (_, k) => `192.0.2.${k + 1}`), node_count: count, role, min_node_count: 0, is_default: true, status: 'CREATE_COMPLETE' as const });
    await storage.createClusterWithOperation(
      { uuid, name: `bench-${i}`, project_id: P, user_id: 'bench', cluster_template_id: t.uuid, labels: { a: 'b' }, status: 'CREATE_COMPLETE', create_timeout: 60, api_address: 'tcp://192.0.2.250:2376', health_status_reason: {} },
      [ng('default-master', 'master', 1), ng('default-worker', 'worker', 2)],
      { uuid: randomUUID(), cluster_id: uuid, nodegroup_id: null, kind: 'cluster_create', params: {}, deadline_at: new Date(Date.now() + 3600_000), request_id: null },
    );
  }
  const app = buildApi({ conf, storage, transport: createTransport('inprocess://'), logger: pino({ level: 'silent' }), configDir: tmpdir() });
  await app.ready();
  const headers = { 'x-project-id': P, 'x-user-id': 'bench', 'x-roles': 'member', 'openstack-api-version': 'container-infra latest' };
  const lines: string[] = [];
  for (const [label, url, n] of [
    ['GET /v1/clustertemplates', '/v1/clustertemplates', 2000],
    ['GET /v1/clusters/{id}', `/v1/clusters/${first}`, 2000],
    [`GET /v1/clusters/detail (${CLUSTERS} clusters)`, '/v1/clusters/detail', 40],
  ] as const) {
    for (let i = 0; i < n / 4; i++) await app.inject({ url, headers }); // the JIT's warm-up, not measured
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    for (let i = 0; i < n; i++) {
      const r = await app.inject({ url, headers });
      if (r.statusCode !== 200) throw new Error(`GET ${url}: ${r.statusCode} ${r.body}`);
    }
    const cpu = process.cpuUsage(c0);
    const wall = performance.now() - w0;
    lines.push(`${label.padEnd(40)} CPU ${((cpu.user + cpu.system) / 1000 / n).toFixed(3)} ms/request  wall ${(wall / n).toFixed(3)} ms/request  (${n} requests)`);
  }
  console.log(`bench/api-cpu: ${DB}, in process, sequential; load average ${loadavg()}`);
  for (const l of lines) console.log(`  ${l}`);
  await app.close();
  await storage.close();
} finally {
  await db.drop();
}
