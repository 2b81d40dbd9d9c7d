// Bench: time to CREATE_COMPLETE of a real cluster of 1 master and 2 workers through the API,
// against the floor: the same three nodes brought up by a plain script in the same run.
//  - swarm-mode (default): Docker-engine nodes; floor bench/cluster-create-floor.sh (docker
//    commands); target within 1.5x.
//  - kubernetes (--coe kubernetes): nodes of the Kubernetes node image; floor
//    bench/kube-cluster-floor.sh (openssl and docker commands, until every node is Ready and the
//    CoreDNS pod Running, as the driver's CREATE_COMPLETE); target within 1.3x (issue 10).
//
//   node --import tsx bench/cluster-create.ts [--coe swarm-mode|kubernetes] [--runs 3] [--image IMAGE]
//
// Magnum: the all-in-one (API + conductor in one process, in-process RPC, SQLite, noauth) on a
// free port; each run POSTs /v1/clusters and polls GET /v1/clusters/<uuid> every 100 ms; the time
// is from the POST to the first GET that shows CREATE_COMPLETE. The cluster is then deleted (not
// timed). Runs alternate Magnum / floor (the order swapped every run) so both see the same
// machine load; the load average is printed with each run. It reports, it never asserts; it exits
// non-zero only when a run fails. Per step: Magnum's from the cluster's timeline
// (/v1/clusters/<uuid>/events, started → succeeded), with the time before the first step and
// between steps shown apart; the floor's from its own output.
// Everything it makes is removed at the end, also on failure or Ctrl-C: clusters through the API,
// then whatever is still labelled magnum.cluster=<one of its cluster uuids>.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
}
const RUNS = Math.max(1, Number(arg('runs', '3')));
const KUBE = arg('coe', 'swarm-mode') === 'kubernetes';
if (!KUBE && arg('coe', 'swarm-mode') !== 'swarm-mode') throw new Error('--coe is swarm-mode or kubernetes');
const KUBE_TAG = arg('kube-tag', 'v1.34.4');
const IMAGE = arg('image', KUBE
  ? process.env.MAGNUM_TEST_KUBE_IMAGE ?? `magnum-kube-node:${KUBE_TAG}`
  : process.env.MAGNUM_TEST_NODE_IMAGE ?? 'magnum-node:bookworm');
const COE = KUBE
  ? {
      name: 'kubernetes', target: 1.3, floor: 'bench/kube-cluster-floor.sh',
      builds: [['build', '--coe', 'kubernetes', '--kube-tag', KUBE_TAG], ['workload']],
      // No flavor: node containers without CPU/memory limits, as the floor's (FLOOR_CPUS unset).
      template: { coe: 'kubernetes', labels: { kube_tag: KUBE_TAG } },
    }
  : {
      name: 'swarm-mode', target: 1.5, floor: 'bench/cluster-create-floor.sh',
      builds: [['build']],
      template: { coe: 'swarm-mode', flavor_id: 'm1.small', master_flavor_id: 'm1.small' },
    };
const load = () => loadavg().map((x) => x.toFixed(1)).join(' ');
const POLL_MS = 100;
const H = { 'content-type': 'application/json', 'openstack-api-version': 'container-infra latest' };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function sh(cmd: string, args: string[], timeoutMs = 300_000): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

// ---- the all-in-one ----------------------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), 'magnum-bench-create-'));
let aio: ChildProcess | null = null;
let base = '';
const clusters = new Set<string>();

async function startAio(): Promise<void> {
  const port = await freePort();
  const conf = join(dir, 'magnum.conf');
  writeFileSync(conf, [
    '[DEFAULT]', 'auth_strategy = noauth', 'transport_url = inprocess://',
    '[api]', `port = ${port}`,
    '[database]', `connection = sqlite:///${join(dir, 'magnum.sqlite')}`,
    '[certificates]', `encryption_key_file = ${join(dir, 'cert.key')}`,
    '[conductor]', 'sweep_interval = 1', 'operation_lease = 5',
    // Health polls do docker work too; keep them out of the measured window's way as the
    // acceptance tests' all-in-one does (they run every 60 s by default).
    '[kubernetes]', 'health_polling_interval = 60',
    '[oslo_policy]', 'policy_file = /nonexistent/policy.yaml',
  ].join('\n'));
  aio = spawn(join(ROOT, 'bin/magnum-all-in-one'), ['--config-file', conf], {
    cwd: ROOT, detached: true, stdio: ['ignore', 'ignore', 'ignore'],
    env: { PATH: process.env.PATH, HOME: process.env.HOME, no_proxy: '127.0.0.1,localhost', NO_PROXY: '127.0.0.1,localhost' },
  });
  base = `http://127.0.0.1:${port}`;
  const until = Date.now() + 30_000;
  for (;;) {
    if (aio.exitCode !== null) throw new Error(`the all-in-one exited (${aio.exitCode})`);
    try {
      await (await fetch(`${base}/`, { signal: AbortSignal.timeout(1000) })).arrayBuffer();
      return;
    } catch { /* not yet */ }
    if (Date.now() > until) throw new Error('the all-in-one did not answer within 30 s');
    await sleep(100);
  }
}

async function stopAio(): Promise<void> {
  if (!aio || aio.exitCode !== null || aio.signalCode !== null) return;
  const done = new Promise((r) => aio!.once('exit', r));
  try { process.kill(-aio.pid!, 'SIGTERM'); } catch { /* gone */ }
  const t = setTimeout(() => { try { process.kill(-aio!.pid!, 'SIGKILL'); } catch { /* gone */ } }, 10_000);
  await done;
  clearTimeout(t);
}

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const r = await fetch(base + path, { method, headers: H, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

async function magnumRun(i: number): Promise<number> {
  const t0 = performance.now();
  const r = await api('POST', '/v1/clusters', { name: `bench-${i}`, cluster_template_id: 'bench-template', master_count: 1, node_count: 2, create_timeout: 15 });
  if (r.status !== 202) throw new Error(`POST /v1/clusters: ${r.status} ${JSON.stringify(r.body)}`);
  const uuid = r.body.uuid as string;
  clusters.add(uuid);
  for (;;) {
    const c = await api('GET', `/v1/clusters/${uuid}`);
    if (c.body?.status === 'CREATE_COMPLETE') {
      const ms = performance.now() - t0;
      if (i > 0) stepTimes.push(await steps(uuid, Date.now() - ms, Date.now()));
      await deleteCluster(uuid);
      return ms;
    }
    if (c.body?.status === 'CREATE_FAILED') throw new Error(`bench-${i} CREATE_FAILED: ${c.body.status_reason}`);
    if (performance.now() - t0 > 15 * 60_000) throw new Error(`bench-${i} still ${c.body?.status} after 15 min`);
    await sleep(POLL_MS);
  }
}

/**
 * Milliseconds per step of a cluster's create, from its events (started → succeeded), in the
 * order they ran; "(before the first step)" is from the POST (postedAt, this clock) to the first
 * step's start, "(between steps)" the sum of the gaps from one step's end to the next's start,
 * "(after the last step)" from the last step's end to the GET that showed CREATE_COMPLETE.
 */
const stepTimes: Map<string, number>[] = [];
async function steps(uuid: string, postedAt: number, completeAt: number): Promise<Map<string, number>> {
  const ev = (await api('GET', `/v1/clusters/${uuid}/events?limit=1000`)).body?.events as { step: string; outcome: string; created_at: string }[] | undefined;
  const out = new Map<string, number>();
  const started = new Map<string, number>();
  let first: number | undefined;
  let lastEnd: number | undefined;
  let gaps = 0;
  for (const e of ev ?? []) {
    const at = Date.parse(e.created_at);
    if (e.outcome === 'started') {
      started.set(e.step, at);
      first ??= at;
      if (lastEnd !== undefined) gaps += Math.max(0, at - lastEnd);
    }
    if (e.outcome === 'succeeded' && started.has(e.step)) {
      out.set(e.step, at - started.get(e.step)!);
      lastEnd = at;
    }
  }
  const head = new Map<string, number>();
  if (first !== undefined) head.set('(before the first step)', Math.max(0, first - postedAt));
  return new Map([...head, ...out, ['(between steps)', gaps], ['(after the last step)', Math.max(0, completeAt - (lastEnd ?? completeAt))]]);
}

async function deleteCluster(uuid: string): Promise<void> {
  await api('DELETE', `/v1/clusters/${uuid}`);
  const until = Date.now() + 180_000;
  while (Date.now() < until) {
    if ((await api('GET', `/v1/clusters/${uuid}`)).status === 404) break;
    await sleep(250);
  }
  const left = leftovers(uuid);
  if (left.length) console.error(`# warning: after deleting ${uuid}: left ${left.join(', ')}`);
  else clusters.delete(uuid);
}

function leftovers(uuid: string): string[] {
  const f = `label=magnum.cluster=${uuid}`;
  return [
    ...sh('docker', ['ps', '-aq', '--filter', f]).stdout.split('\n').filter(Boolean).map((x) => `container ${x}`),
    ...sh('docker', ['network', 'ls', '-q', '--filter', f]).stdout.split('\n').filter(Boolean).map((x) => `network ${x}`),
    ...sh('docker', ['volume', 'ls', '-q', '--filter', f]).stdout.split('\n').filter(Boolean).map((x) => `volume ${x}`),
  ];
}

/** Last resort: remove whatever is still labelled for one of the bench's clusters. */
function removeLabelled(uuid: string): void {
  const f = `label=magnum.cluster=${uuid}`;
  const ids = (args: string[]) => sh('docker', [...args, '--filter', f]).stdout.split('\n').filter(Boolean);
  const c = ids(['ps', '-aq']);
  if (c.length) sh('docker', ['rm', '--force', '--volumes', ...c]);
  const v = ids(['volume', 'ls', '-q']);
  if (v.length) sh('docker', ['volume', 'rm', '--force', ...v]);
  const n = ids(['network', 'ls', '-q']);
  if (n.length) sh('docker', ['network', 'rm', ...n]);
}

async function cleanup(): Promise<void> {
  if (base && aio && aio.exitCode === null) for (const uuid of [...clusters]) await deleteCluster(uuid).catch(() => undefined);
  await stopAio().catch(() => undefined);
  for (const uuid of clusters) removeLabelled(uuid);
  rmSync(dir, { recursive: true, force: true });
}

const floorPhases: Map<string, number>[] = [];
function floorRun(record = true): number {
  const r = sh('bash', [join(ROOT, COE.floor), IMAGE], 600_000);
  const m = /floor_ms=(\d+)/.exec(r.stdout);
  if (r.code !== 0 || !m) throw new Error(`the floor script failed (exit ${r.code}): ${r.stderr.trim()}`);
  const phases = new Map<string, number>();
  // Only the timed steps' line ("phases: ..." or "steps: ..."), not the kube floor's untimed check.
  const line = r.stdout.split('\n').find((l) => /^(phases|steps): /.test(l)) ?? '';
  for (const p of line.matchAll(/(?:phases: |steps: |, )([a-z+0-9 ]+?) (\d+) ms/gi)) phases.set(p[1], Number(p[2]));
  if (record) floorPhases.push(phases);
  return Number(m[1]);
}

// ---- main ----------------------------------------------------------------------------------------

let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    interrupted = true;
    void cleanup().finally(() => process.exit(130));
  });
}

let status = 0;
try {
  for (const args of COE.builds) {
    // Idempotent: an image already built is reported at once (a fresh machine builds the Kubernetes one: ~30 min).
    const built = sh(join(ROOT, 'bin/magnum-node-image'), args, 60 * 60_000);
    if (built.code !== 0) throw new Error(`bin/magnum-node-image ${args.join(' ')} failed: ${built.stderr.slice(-2000)}`);
  }
  await startAio();
  const t = await api('POST', '/v1/clustertemplates', {
    name: 'bench-template', image_id: IMAGE, external_network_id: 'public', dns_nameserver: '127.0.0.1', ...COE.template,
  });
  if (t.status !== 201) throw new Error(`POST /v1/clustertemplates: ${t.status} ${JSON.stringify(t.body)}`);
  const cpus = sh('nproc', []).stdout.trim();
  console.log(`# cluster create bench (${COE.name}): ${RUNS} runs each, image ${IMAGE}, 1 master + 2 workers, ${cpus} CPUs, load average ${load()}`);
  // A warm-up of each (page cache, the node image's layers, tsx compiling the driver): not counted.
  await magnumRun(0);
  floorRun(false);
  const magnum: number[] = [];
  const floor: number[] = [];
  for (let i = 1; i <= RUNS && !interrupted; i++) {
    const before = load();
    // Swapped every run, so neither always runs right after the other's teardown.
    let m: number;
    let f: number;
    if (i % 2) {
      m = await magnumRun(i);
      f = floorRun();
    } else {
      f = floorRun();
      m = await magnumRun(i);
    }
    magnum.push(m);
    floor.push(f);
    console.log(`run ${i} (${i % 2 ? 'magnum first' : 'floor first'}): magnum ${secs(m)}   floor ${secs(f)}   ratio ${(m / f).toFixed(2)}   load average ${before} → ${load()}`);
  }
  const mm = median(magnum);
  const fm = median(floor);
  console.log(`magnum median ${secs(mm)} (min ${secs(Math.min(...magnum))}, max ${secs(Math.max(...magnum))})`);
  console.log(`floor  median ${secs(fm)} (min ${secs(Math.min(...floor))}, max ${secs(Math.max(...floor))})`);
  console.log(`ratio  ${(mm / fm).toFixed(2)}x the floor (target: within ${COE.target}x); load average at the end ${load()}`);
  const mean = (runs: Map<string, number>[]) => {
    const avg = new Map<string, number>();
    for (const run of runs) for (const [k, v] of run) avg.set(k, (avg.get(k) ?? 0) + v / runs.length);
    return [...avg].map(([k, v]) => `${k} ${secs(v)}`).join(', ');
  };
  const med = (runs: Map<string, number>[]) => {
    const keys = [...new Set(runs.flatMap((r) => [...r.keys()]))];
    return keys.map((k) => `${k} ${secs(median(runs.map((r) => r.get(k) ?? 0)))}`).join(', ');
  };
  console.log(`magnum steps (mean, from the clusters' events): ${mean(stepTimes)}`);
  console.log(`magnum steps (median): ${med(stepTimes)}`);
  console.log(`floor steps (mean): ${mean(floorPhases)}`);
  console.log(`floor steps (median): ${med(floorPhases)}`);
} catch (err) {
  status = 1;
  console.error(`# bench failed: ${(err as Error).stack ?? err}`);
} finally {
  await cleanup();
}
process.exit(status);
