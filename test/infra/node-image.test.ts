// The node image of real clusters, proven by hand (no driver involved): bin/magnum-node-image
// builds it (idempotent; a cheap second image from the cached root file system), then two node
// containers, each running its own Docker Engine (Docker-in-Docker), form a Docker Swarm on a
// fresh bridge network of their own, run a 2-replica service from the busybox workload image and
// answer HTTP on each node's address; a VXLAN overlay network spans both nodes.
//
// Needs the machine's Docker Engine (scripts/setup-services.sh docker); fails, never skips,
// without it. Everything created carries the label magnum.test=<run id> and is removed by the
// `after` hook, also when a test fails. Traffic goes only to our own containers.
//
// The exact node container flags are the ones scripts/node-image.sh documents (and
// /tmp/node-image-notes.md explains); nested containers are published in host mode because this
// kernel has no IPVS (the swarm routing mesh cannot work here).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { ROOT, servicesEnv } from '../helpers/env.ts';

const RUN = `mni-${randomBytes(4).toString('hex')}`;
const LABEL = `magnum.test=${RUN}`;
const NODE_IMAGE = 'magnum-node:bookworm';
const COLD_IMAGE = `magnum-test/node-${RUN}:cold`;
const WORKLOAD = 'magnum-test/busybox:latest';
const NET = `${RUN}-net`;
const NODES = [`${RUN}-n1`, `${RUN}-n2`];
const LAUNCHER = join(ROOT, 'bin/magnum-node-image');
const DOCKER_HOST = process.env.DOCKER_HOST ?? servicesEnv().MAGNUM_TEST_DOCKER_HOST ?? 'unix:///var/run/docker.sock';

/** The flags a node container needs here (--privileged fails: no CAP_SYS_RESOURCE). */
const NODE_FLAGS = [
  '--cap-add', 'ALL', '--cap-drop', 'SYS_RESOURCE',
  '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined',
  '--security-opt', 'systempaths=unconfined',
  '--cgroupns', 'host', '-v', '/sys/fs/cgroup:/sys/fs/cgroup:rw',
  '--tmpfs', '/run',
];

const timings: Record<string, string> = {};
const ms = (n: number) => `${(n / 1000).toFixed(2)} s`;

// ---------------------------------------------------------------------------------------------
// Commands

interface Result { code: number | null; stdout: string; stderr: string; ms: number }

function run(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(cmd, args, {
      cwd: ROOT,
      env: { ...process.env, DOCKER_HOST, LC_ALL: 'C' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => {
      stderr += `\n[test] timed out after ${opts.timeoutMs} ms: killed`;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 120_000);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr, ms: Date.now() - t0 }); });
    child.stdin.end(opts.input ?? '');
  });
}

async function must(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<Result> {
  const r = await run(cmd, args, opts);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
  return r;
}

const docker = (...args: string[]) => must('docker', args);
/** `docker exec NODE docker ARGS`: the node's own engine. */
const inner = (node: string, ...args: string[]) => must('docker', ['exec', node, 'docker', ...args]);

async function poll<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function note(t: TestContext, key: string, value: string) {
  timings[key] = value;
  t.diagnostic(`${key}: ${value}`);
}

// ---------------------------------------------------------------------------------------------
// Cleanup: everything labelled magnum.test=RUN, and the cgroups a root-level --cgroup-parent leaves

async function removeLabelled(kind: 'container' | 'volume' | 'network' | 'image') {
  const list = kind === 'container' ? ['ps', '-aq'] : [kind, 'ls', '-q'];
  const ids = (await run('docker', [...list, '--filter', `label=${LABEL}`])).stdout.split('\n').filter(Boolean);
  if (!ids.length) return;
  const rm = kind === 'container' ? ['rm', '-f', '-v'] : kind === 'image' ? ['rmi', '-f'] : [kind, 'rm'];
  const r = await run('docker', [...rm, ...ids], { timeoutMs: 60_000 });
  if (r.code !== 0) process.stderr.write(`[node-image test] cleanup of ${kind}s failed: ${r.stderr}\n`);
}

/** Removes /sys/fs/cgroup/<controller>/NAME trees; retries for a few seconds while the last
 * processes of just-removed containers are still being reaped (rmdir: EBUSY). */
function removeCgroups(name: string, timeoutMs = 5_000) {
  if (!existsSync('/sys/fs/cgroup')) return;
  const rmTree = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rmTree(join(dir, e.name));
    try { rmdirSync(dir); } catch { /* busy or gone */ }
  };
  const end = Date.now() + timeoutMs;
  for (;;) {
    const left = readdirSync('/sys/fs/cgroup').map((ctl) => join('/sys/fs/cgroup', ctl, name)).filter((d) => existsSync(d));
    for (const dir of left) rmTree(dir);
    if (!left.some((d) => existsSync(d))) return;
    if (Date.now() > end) {
      process.stderr.write(`[node-image test] cgroups left behind: ${left.filter((d) => existsSync(d)).join(' ')}\n`);
      return;
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
  }
}

// Interrupted (Ctrl-C, a CI timeout): `after` hooks do not run, so remove what we made right here.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    const env = { ...process.env, DOCKER_HOST };
    const sh = `c=$(docker ps -aq --filter label=${LABEL}); [ -z "$c" ] || docker rm -f -v $c
      v=$(docker volume ls -q --filter label=${LABEL}); [ -z "$v" ] || docker volume rm $v
      n=$(docker network ls -q --filter label=${LABEL}); [ -z "$n" ] || docker network rm $n
      i=$(docker images -q --filter label=${LABEL}); [ -z "$i" ] || docker rmi -f $i`;
    spawnSync('bash', ['-c', sh], { env, stdio: 'ignore', timeout: 60_000 });
    removeCgroups(`${RUN}-n1`);
    process.exit(sig === 'SIGINT' ? 130 : 143);
  });
}

after(async () => {
  await removeLabelled('container');
  await removeLabelled('volume');
  await removeLabelled('network');
  await removeLabelled('image');
  // Node 1 runs its nested containers under the root-level cgroup /RUN-n1: `docker rm -f` of the
  // node leaves those (empty) cgroups behind. Node 2's are inside its own cgroup and go with it.
  removeCgroups(`${RUN}-n1`);
  const left = [
    ...(await run('docker', ['ps', '-aq', '--filter', `label=${LABEL}`])).stdout.split('\n'),
    ...(await run('docker', ['volume', 'ls', '-q', '--filter', `label=${LABEL}`])).stdout.split('\n'),
    ...(await run('docker', ['network', 'ls', '-q', '--filter', `label=${LABEL}`])).stdout.split('\n'),
  ].filter(Boolean);
  if (left.length) process.stderr.write(`[node-image test] left behind: ${left.join(' ')}\n`);
  process.stderr.write(`[node-image test] timings (${RUN}):\n${Object.entries(timings).map(([k, v]) => `  ${k}: ${v}`).join('\n')}\n`);
});

// ---------------------------------------------------------------------------------------------

describe('node image (Docker-in-Docker swarm nodes)', { concurrency: false }, () => {
  before(async () => {
    const r = await run('docker', ['info', '--format', '{{.ServerVersion}} {{.Driver}}'], { timeoutMs: 20_000 });
    if (r.code !== 0) {
      throw new Error(`the Docker Engine does not answer on ${DOCKER_HOST}: run scripts/setup-services.sh docker\n${r.stderr}`);
    }
  });

  test('build is idempotent, labelled, and cheap from the cached root file system', { timeout: 900_000 }, async (t) => {
    // First call: may debootstrap (fresh machine, minutes) or import the cached tarball.
    const first = await must(LAUNCHER, ['build'], { timeoutMs: 900_000 });
    assert.equal(first.stdout, `${NODE_IMAGE}\n`, 'stdout is the image name and nothing else');
    if (/debootstrap/.test(first.stderr)) note(t, 'build from scratch (debootstrap + import)', ms(first.ms));
    else if (/docker import/.test(first.stderr)) note(t, 'build from the cached tarball (import)', ms(first.ms));

    const warm = await must(LAUNCHER, ['build']);
    assert.equal(warm.stdout, `${NODE_IMAGE}\n`);
    assert.equal(warm.stderr, '', 'nothing to report when the image exists');
    assert.ok(warm.ms < 3_000, `an existing image is reported at once (took ${warm.ms} ms)`);
    note(t, 'build, image present (warm)', ms(warm.ms));

    const labels = JSON.parse((await docker('image', 'inspect', '--format', '{{json .Config.Labels}}', NODE_IMAGE)).stdout);
    assert.equal(labels.os_distro, 'debian');
    assert.equal(labels['magnum.node-image'], '1');
    const cfg = JSON.parse((await docker('image', 'inspect', '--format', '{{json .Config}}', NODE_IMAGE)).stdout);
    assert.deepEqual(cfg.Entrypoint, ['/usr/bin/tini', '-g', '--', '/usr/local/bin/magnum-node-entrypoint']);

    // Another name: the cached root file system imported again (what `--name magnum-node:v2`
    // does), a distinct image with its own os_distro.
    const cold = await must(LAUNCHER, ['build', '--name', COLD_IMAGE, '--os-distro', 'debian-bookworm', '--label', LABEL], { timeoutMs: 900_000 });
    assert.equal(cold.stdout, `${COLD_IMAGE}\n`);
    note(t, 'build of a second image from the cached tarball (cold import)', ms(cold.ms));
    const [idA, idB] = await Promise.all([NODE_IMAGE, COLD_IMAGE].map(async (i) => (await docker('image', 'inspect', '--format', '{{.Id}}', i)).stdout.trim()));
    assert.notEqual(idA, idB, 'a second name is a distinct image');
    assert.equal((await docker('image', 'inspect', '--format', '{{index .Config.Labels "os_distro"}}', COLD_IMAGE)).stdout.trim(), 'debian-bookworm');
    const release = (await docker('run', '--rm', '--label', LABEL, '--entrypoint', 'cat', COLD_IMAGE, '/etc/magnum-node-image')).stdout;
    assert.match(release, new RegExp(`^name=${COLD_IMAGE.replace(/[/.]/g, '\\$&')}$`, 'm'));

    const wl = await must(LAUNCHER, ['workload'], { timeoutMs: 300_000 });
    assert.equal(wl.stdout, `${WORKLOAD}\n`);
    const wl2 = await must(LAUNCHER, ['workload']);
    assert.equal(wl2.stdout, `${WORKLOAD}\n`);
    note(t, 'workload image, present', ms(wl2.ms));
  });

  test('two nodes form a swarm and serve a 2-replica service on their own addresses', { timeout: 600_000 }, async (t) => {
    // A fresh bridge network with an explicit subnet. --internal: no route out, and the engine's
    // DNS does not forward names outside; the host still reaches the nodes' addresses.
    let subnet = '';
    for (let i = 0; i < 8 && !subnet; i++) {
      const candidate = `10.213.${Math.floor(Math.random() * 250) + 1}.0/24`;
      const r = await run('docker', ['network', 'create', '--driver', 'bridge', '--internal', '--subnet', candidate, '--label', LABEL, NET]);
      if (r.code === 0) subnet = candidate;
      else if (!/overlap/i.test(r.stderr)) assert.fail(`docker network create failed: ${r.stderr}`);
    }
    assert.ok(subnet, 'a free subnet');
    t.diagnostic(`network ${NET} ${subnet}`);

    // The nodes: /var/lib/docker on a named volume (overlay2 inside works on it: it is ext4 here,
    // not the container's overlay root). Node 1 gets an explicit root-level cgroup parent; node 2
    // the entrypoint's default, a cgroup inside the node's own.
    const started: Record<string, number> = {};
    for (const [i, node] of NODES.entries()) {
      await docker('volume', 'create', '--label', LABEL, `${node}-docker`);
      const dockerdArgs = i === 0 ? ['--cgroup-parent', `/${node}`] : [];
      started[node] = Date.now();
      await docker('run', '-d', '--name', node, '--hostname', node, '--label', LABEL, '--network', NET,
        ...NODE_FLAGS, '-v', `${node}-docker:/var/lib/docker`, NODE_IMAGE, ...dockerdArgs);
    }
    await Promise.all(NODES.map(async (node) => {
      await poll(`the engine in ${node}`, 60_000, async () =>
        (await run('docker', ['exec', node, 'docker', 'info', '--format', '{{.ServerVersion}}'])).code === 0 ? true : undefined);
      note(t, `${node}: docker run -> inner dockerd answers`, ms(Date.now() - started[node]));
    }));
    const ip: Record<string, string> = {};
    for (const node of NODES) {
      assert.equal((await inner(node, 'info', '--format', '{{.Driver}}')).stdout.trim(), 'overlay2', `${node} stores images with overlay2`);
      ip[node] = (await docker('inspect', '--format', `{{(index .NetworkSettings.Networks "${NET}").IPAddress}}`, node)).stdout.trim();
      assert.match(ip[node], /^10\.213\.\d+\.\d+$/);
    }
    const [n1, n2] = NODES;

    // Swarm: init on node 1, join node 2 as a worker.
    const s0 = Date.now();
    await inner(n1, 'swarm', 'init', '--advertise-addr', ip[n1]);
    const token = (await inner(n1, 'swarm', 'join-token', '-q', 'worker')).stdout.trim();
    await inner(n2, 'swarm', 'join', '--token', token, `${ip[n1]}:2377`);
    await poll('2 Ready swarm nodes', 60_000, async () => {
      const ls = (await inner(n1, 'node', 'ls', '--format', '{{.Hostname}} {{.Status}}')).stdout;
      return (ls.match(/ Ready$/gm) ?? []).length === 2 ? ls : undefined;
    });
    note(t, 'swarm init + join (both Ready)', ms(Date.now() - s0));

    // The workload image into both nodes (no registry: docker save | docker load).
    const l0 = Date.now();
    await Promise.all(NODES.map((node) =>
      must('bash', ['-c', 'set -o pipefail; docker save "$1" | docker exec -i "$2" docker load', 'load', WORKLOAD, node])));
    note(t, 'workload image loaded into both nodes', ms(Date.now() - l0));

    // 2 replicas publishing 8080 in host mode: one task per node, each node answers on its own
    // address. (The ingress routing mesh needs IPVS, which this kernel lacks.)
    const v0 = Date.now();
    await inner(n1, 'service', 'create', '--detach', '--name', `${RUN}-web`, '--replicas', '2', '--no-resolve-image',
      '--publish', 'mode=host,published=8080,target=8080', WORKLOAD, 'httpd', '-f', '-p', '8080', '-h', '/www');
    const served = new Set<string>();
    for (const node of NODES) {
      const body = await poll(`http://${ip[node]}:8080/ (${node})`, 90_000, async () => {
        const res = await fetch(`http://${ip[node]}:8080/cgi-bin/hostname`, { signal: AbortSignal.timeout(3_000) });
        return res.ok ? (await res.text()).trim() : undefined;
      });
      served.add(body);
    }
    note(t, 'service create -> both nodes answer HTTP', ms(Date.now() - v0));
    assert.equal(served.size, 2, `two distinct replicas answered: ${[...served].join(', ')}`);
    const tasks = (await inner(n1, 'service', 'ps', '--filter', 'desired-state=running', '--format', '{{.Node}} {{.CurrentState}}', `${RUN}-web`)).stdout;
    assert.deepEqual(tasks.trim().split('\n').map((l) => l.split(' ')[0]).sort(), [...NODES].sort(), tasks);

    // No pull was attempted (DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 in the image): no lookups of a
    // registry, which is unreachable here anyway.
    const logs = await run('docker', ['logs', n1]);
    assert.doesNotMatch(logs.stdout + logs.stderr, /pulling image failed|registry-1\.docker\.io/);

    // Nested containers' cgroups: node 1 under /RUN-n1 (root level), node 2 inside its own cgroup.
    if (existsSync('/sys/fs/cgroup/memory')) {
      const id2 = (await docker('inspect', '--format', '{{.Id}}', n2)).stdout.trim();
      assert.ok(existsSync(`/sys/fs/cgroup/memory/${n1}`), `nested cgroups of ${n1} under /${n1}`);
      assert.ok(existsSync(`/sys/fs/cgroup/memory/docker/${id2}/magnum-nested`), `nested cgroups of ${n2} inside its own cgroup`);
    }
  });

  test('an overlay network spans both nodes (VXLAN)', { timeout: 300_000 }, async (t) => {
    const [n1, n2] = NODES;
    const o0 = Date.now();
    await inner(n1, 'network', 'create', '--driver', 'overlay', '--label', LABEL, `${RUN}-app`);
    // dnsrr: no virtual IP (which would need IPVS); DNS returns the tasks' addresses.
    await inner(n1, 'service', 'create', '--detach', '--name', `${RUN}-back`, '--replicas', '2', '--no-resolve-image',
      '--endpoint-mode', 'dnsrr', '--network', `${RUN}-app`, '--placement-pref', 'spread=node.id',
      WORKLOAD, 'httpd', '-f', '-p', '80', '-h', '/www');
    // The task on node 2 answers a request from the task on node 1 across the overlay.
    const local = await poll(`a ${RUN}-back task on ${n1}`, 60_000, async () =>
      (await inner(n1, 'ps', '-q', '--filter', `name=${RUN}-back`)).stdout.trim().split('\n')[0] || undefined);
    const remote = await poll(`a ${RUN}-back task on ${n2}`, 60_000, async () =>
      (await inner(n2, 'ps', '-q', '--filter', `name=${RUN}-back`)).stdout.trim().split('\n')[0] || undefined);
    const remoteIp = (await inner(n2, 'inspect', '--format', `{{(index .NetworkSettings.Networks "${RUN}-app").IPAddress}}`, remote)).stdout.trim();
    const remoteHost = (await inner(n2, 'inspect', '--format', '{{.Config.Hostname}}', remote)).stdout.trim();
    // busybox-static's `wget -T` crashes: bound the request with `timeout` instead.
    const body = await poll(`http://${remoteIp}/ from ${n1}`, 60_000, async () => {
      const r = await run('docker', ['exec', n1, 'docker', 'exec', local, 'timeout', '5', 'wget', '-qO-', `http://${remoteIp}/cgi-bin/hostname`]);
      return r.code === 0 ? r.stdout.trim() : undefined;
    });
    assert.equal(body, remoteHost);
    note(t, 'overlay network + service -> cross-node request', ms(Date.now() - o0));
  });
});
