// The Kubernetes node image, proven without any driver: bin/magnum-node-image builds it (or
// reuses it: the first build on a fresh machine takes about 20 min, which scripts/test.sh does
// before any test runs), its labels and the versions of what is inside are checked, and
// bench/kube-cluster-floor.sh brings up 1 master + 2 workers from it with openssl and docker
// commands only: every node Ready, CoreDNS and two pods Running, logs, exec, DNS and a ClusterIP
// Service across nodes. Afterwards nothing the floor made remains.
//
// Uses the kubectl built here (bin/magnum-node-image kubectl-path), never /usr/bin/kubectl.
// Needs the machine's Docker Engine (scripts/setup-services.sh docker); fails, never skips.
// Everything this file creates itself carries the label magnum.test=<run id>; the floor labels
// its own things magnum.bench=<its id> and removes them (the `after` hook checks, and removes
// leftovers if the floor was killed).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { ROOT, servicesEnv } from '../helpers/env.ts';

const RUN = `kimg-${randomBytes(4).toString('hex')}`;
const LABEL = `magnum.test=${RUN}`;
const KUBE_TAG = 'v1.34.4';
const IMAGE = `magnum-kube-node:${KUBE_TAG}`;
const WORKLOAD = 'magnum-test/busybox:latest';
const LAUNCHER = join(ROOT, 'bin/magnum-node-image');
const FLOOR = join(ROOT, 'bench/kube-cluster-floor.sh');
const DOCKER_HOST = process.env.DOCKER_HOST ?? servicesEnv().MAGNUM_TEST_DOCKER_HOST ?? 'unix:///var/run/docker.sock';

interface Result { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }

/** Runs a command; on timeout it gets SIGTERM (the floor's trap then cleans up), SIGKILL 30 s later. */
function run(cmd: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, DOCKER_HOST, LC_ALL: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    let kill: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      stderr += `\n[test] timed out after ${opts.timeoutMs} ms: SIGTERM`;
      child.kill('SIGTERM');
      kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
    }, opts.timeoutMs ?? 120_000);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (kill) clearTimeout(kill);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

async function must(cmd: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<Result> {
  const r = await run(cmd, args, opts);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} exited ${r.code ?? r.signal}:\n${r.stderr}\n${r.stdout}`);
  return r;
}

const timings: Record<string, string> = {};
function note(t: TestContext, key: string, value: string) {
  timings[key] = value;
  t.diagnostic(`${key}: ${value}`);
}
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** What the floor run made: its id (from its first stdout line), for the leftover check. */
let floorId = '';

async function labelled(label: string): Promise<string[]> {
  const out: string[] = [];
  for (const list of [['ps', '-aq'], ['network', 'ls', '-q'], ['volume', 'ls', '-q']]) {
    const r = await run('docker', [...list, '--filter', `label=${label}`]);
    out.push(...r.stdout.split('\n').filter(Boolean).map((id) => `${list[0]}:${id}`));
  }
  return out;
}

after(async () => {
  // Our own throw-away containers (docker run --rm should have removed them already).
  const ours = (await run('docker', ['ps', '-aq', '--filter', `label=${LABEL}`])).stdout.split('\n').filter(Boolean);
  if (ours.length) await run('docker', ['rm', '-f', '-v', ...ours]);
  if (floorId) {
    // Only if the floor was killed before its trap ran: remove what it labelled.
    const left = await labelled(`magnum.bench=${floorId}`);
    if (left.length) {
      process.stderr.write(`[kube-image test] removing what the floor left: ${left.join(' ')}\n`);
      const ids = (k: string) => left.filter((l) => l.startsWith(`${k}:`)).map((l) => l.slice(k.length + 1));
      if (ids('ps').length) await run('docker', ['rm', '-f', '-v', ...ids('ps')]);
      if (ids('network').length) await run('docker', ['network', 'rm', ...ids('network')]);
      if (ids('volume').length) await run('docker', ['volume', 'rm', '-f', ...ids('volume')]);
    }
  }
  process.stderr.write(`[kube-image test] timings (${RUN}):\n${Object.entries(timings).map(([k, v]) => `  ${k}: ${v}`).join('\n')}\n`);
});

describe('Kubernetes node image', { concurrency: false }, () => {
  before(async () => {
    const r = await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 20_000 });
    if (r.code !== 0) throw new Error(`the Docker Engine does not answer on ${DOCKER_HOST}: run scripts/setup-services.sh docker\n${r.stderr}`);
  });

  test('build --coe kubernetes: built once (or reused), labelled, reported at once afterwards', { timeout: 3_600_000 }, async (t) => {
    // scripts/test.sh has built it already; run alone on a fresh machine this is the cold build
    // (about 20 min on 2 cores), with its progress lines on stderr.
    const first = await must(LAUNCHER, ['build', '--coe', 'kubernetes', '--kube-tag', KUBE_TAG], { timeoutMs: 3_500_000 });
    assert.equal(first.stdout, `${IMAGE}\n`, 'stdout is the image name and nothing else');
    if (first.stderr) note(t, 'build (not all cached)', secs(first.ms));
    const warm = await must(LAUNCHER, ['build', '--coe', 'kubernetes']);
    assert.equal(warm.stdout, `${IMAGE}\n`, 'the default tag is the same image');
    assert.equal(warm.stderr, '', 'nothing to report when the image is up to date');
    assert.ok(warm.ms < 5_000, `an up-to-date image is reported at once (took ${warm.ms} ms)`);
    note(t, 'build, image up to date (warm)', secs(warm.ms));

    const cfg = JSON.parse((await must('docker', ['image', 'inspect', '--format', '{{json .Config}}', IMAGE])).stdout);
    assert.equal(cfg.Labels.os_distro, 'debian');
    assert.equal(cfg.Labels.kube_tag, KUBE_TAG);
    assert.equal(cfg.Labels['magnum.node-image'], '1');
    assert.equal(cfg.Labels['magnum.node-image.coe'], 'kubernetes');
    assert.match(cfg.Labels['magnum.node-image.key'], /^[0-9a-f]{12}$/);
    assert.match(cfg.Labels.coredns_tag, /^\d+\.\d+\.\d+$/);
    assert.deepEqual(cfg.Entrypoint, ['/usr/bin/tini', '-s', '-g', '--', '/usr/local/bin/magnum-kube-node']);
    assert.ok(cfg.Volumes && '/var/lib/magnum-kube' in cfg.Volumes, 'node state on a volume');

    const bad = await run(LAUNCHER, ['build', '--coe', 'kubernetes', '--kube-tag', 'latest']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /not a Kubernetes release tag/);
  });

  test('what is inside: the versions of every component, and the kubectl built here', { timeout: 120_000 }, async () => {
    const script = [
      'for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do echo "$c: $($c --version)"; done',
      'echo "kubectl: $(kubectl version --client | head -n1)"',
      'echo "etcd: $(etcd --version | head -n1)"',
      'echo "containerd: $(containerd --version)"',
      'echo "runc: $(runc --version | head -n1)"',
      'echo "cni: $(ls /usr/lib/cni | tr "\\n" " ")"',
      'echo "images: $(ls /opt/magnum-kube/images | tr "\\n" " ")"',
      'cat /etc/magnum-node-image',
    ].join('; ');
    const r = await must('docker', ['run', '--rm', '--label', LABEL, '--entrypoint', 'bash', IMAGE, '-c', script], { timeoutMs: 90_000 });
    const out = r.stdout;
    for (const c of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy']) {
      assert.match(out, new RegExp(`^${c}: Kubernetes ${KUBE_TAG.replace(/\./g, '\\.')}$`, 'm'), `${c} --version\n${out}`);
    }
    assert.match(out, new RegExp(`^kubectl: Client Version: ${KUBE_TAG.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(out, /^etcd: etcd Version: 3\.4\.\d+$/m);
    assert.match(out, /^containerd: containerd .* 1\.6\.\d+/m);
    assert.match(out, /^runc: runc version 1\.1\.\d+/m);
    for (const p of ['ptp', 'host-local', 'portmap', 'loopback']) assert.match(out, new RegExp(`^cni: .*\\b${p}\\b`, 'm'));
    assert.match(out, /^images: coredns\.tar pause\.tar $/m);
    assert.match(out, new RegExp(`^kube_tag=${KUBE_TAG.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(out, /^pause_image=docker\.io\/magnum-kube\/pause:/m);

    const path = (await must(LAUNCHER, ['kubectl-path', '--kube-tag', KUBE_TAG])).stdout.trim();
    assert.ok(path.endsWith('/kubectl') && existsSync(path), `kubectl-path names a file: ${path}`);
    assert.ok(!path.startsWith(ROOT), `the kubectl built here lives outside the repository: ${path}`);
    assert.notEqual(path, '/usr/bin/kubectl');
    const v = await must(path, ['version', '--client']);
    assert.match(v.stdout, new RegExp(`Client Version: ${KUBE_TAG.replace(/\./g, '\\.')}`));
    const none = await run(LAUNCHER, ['kubectl-path', '--kube-tag', 'v1.29.6']);
    assert.notEqual(none.code, 0, 'a tag never built has no kubectl');
    assert.match(none.stderr, /not built yet/);
  });

  test('the floor: 1 master + 2 workers Ready, pods Running, then nothing left', { timeout: 900_000 }, async (t) => {
    await must(LAUNCHER, ['workload'], { timeoutMs: 300_000 });
    // The kubelet wants these host-global settings changed; the nodes shadow them (bind-mounted
    // files in their own mount namespaces), so the host keeps its values.
    const sysctls = ['vm/overcommit_memory', 'kernel/panic', 'kernel/panic_on_oops'];
    const hostSysctls = () => sysctls.map((k) => `${k}=${readFileSync(`/proc/sys/${k}`, 'utf8').trim()}`);
    const before = hostSysctls();
    const r = await run(FLOOR, [IMAGE], { timeoutMs: 600_000 });
    floorId = /^id=(kube-floor-[0-9a-f]+)$/m.exec(r.stdout)?.[1] ?? '';
    assert.equal(r.code, 0, `the floor failed (${r.code ?? r.signal}):\n${r.stderr}\n${r.stdout}`);
    assert.ok(floorId, `the floor printed its id:\n${r.stdout}`);
    const floorMs = Number(/^floor_ms=(\d+)$/m.exec(r.stdout)?.[1]);
    assert.ok(floorMs > 0, r.stdout);
    note(t, 'floor: docker commands -> 3 nodes Ready + CoreDNS Running', secs(floorMs));
    const steps = /^steps: (.*)$/m.exec(r.stdout)?.[1] ?? '';
    note(t, 'floor steps', steps);
    const check = /^check: (.*)$/m.exec(r.stdout)?.[1] ?? '';
    note(t, 'floor check', check);
    assert.match(check, /\bnodes_ready=3\b/);
    assert.match(check, /\bpod=Running\b/);
    for (const k of ['logs', 'exec', 'dns', 'service_http']) assert.match(check, new RegExp(`\\b${k}=ok\\b`), check);
    assert.match(check, /\bzombies=0\b/, 'no zombie processes on a node after a pod is deleted');
    assert.deepEqual(hostSysctls(), before, "the host's kernel settings are unchanged");

    // Nothing labelled or named by the floor remains: containers, networks, volumes, files.
    assert.deepEqual(await labelled(`magnum.bench=${floorId}`), [], 'nothing labelled by the floor remains');
    const named = (await run('docker', ['ps', '-a', '--format', '{{.Names}}', '--filter', `name=${floorId}`])).stdout.trim();
    assert.equal(named, '', 'no container named by the floor remains');
    const nets = (await run('docker', ['network', 'ls', '--format', '{{.Name}}', '--filter', `name=${floorId}`])).stdout.trim();
    assert.equal(nets, '', 'no network named by the floor remains');
    assert.deepEqual(readdirSync('/tmp').filter((f) => f.startsWith(floorId)), [], 'its certificates directory is gone');
    const volumes = (/^volumes=(.*)$/m.exec(r.stdout)?.[1] ?? '').split(' ').filter(Boolean);
    assert.equal(volumes.length, 3, `one state volume per node:\n${r.stdout}`);
    for (const v of volumes) assert.notEqual((await run('docker', ['volume', 'inspect', v])).code, 0, `volume ${v} is gone`);
    // cgroup v1, --cgroupns host: the kubelets' pod cgroups live under each node's own cgroup
    // (/docker/<id>/magnum-kube) and are removed with it.
    const ids = (/^containers=(.*)$/m.exec(r.stdout)?.[1] ?? '').split(' ').filter(Boolean);
    assert.equal(ids.length, 3, r.stdout);
    for (const id of ids) {
      const left = readdirSync('/sys/fs/cgroup').map((c) => join('/sys/fs/cgroup', c, 'docker', id)).filter((d) => existsSync(d));
      assert.deepEqual(left, [], `no cgroup of node ${id.slice(0, 12)} remains`);
    }
  });
});
