// `coe` on a real swarm-mode cluster (Docker-engine nodes): `cluster create --wait` in a terminal
// (a tmux pane, captured while it runs) shows the live line, status, latest step and elapsed time,
// and each finished step as it happens, and exits 0; `cluster config` writes working certificates
// (docker node ls over TLS); `ca show`/`ca sign`; containers, image loads and Swarm services when
// the API has them; `delete --wait` off a terminal prints plain lines; nothing is left behind.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT } from '../helpers/env.ts';
import { runCommand, tempDir } from '../helpers/processes.ts';
import { COE, cleanEnv, newHome, ok, refused, runCoe, show, startAio, type Aio } from './helpers.ts';

const NODE_IMAGE = process.env.MAGNUM_TEST_NODE_IMAGE ?? 'magnum-node:bookworm';
const WORKLOAD = 'magnum-test/busybox:latest';
const TMUX = `coe-test-${process.pid}`;
/** tmux on its own socket, in UTF-8 (the spinner), so the test never touches another tmux server. */
const tmux = (...args: string[]) => runCommand('tmux', ['-u', '-L', TMUX, ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', LANG: 'C.UTF-8' } });

async function must(cmd: string, args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<string> {
  const r = await runCommand(cmd, args, { env: opts.env ?? { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' }, timeoutMs: opts.timeoutMs ?? 120_000 });
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')}: ${show(r)}`);
  return r.stdout;
}

const shq = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;

describe('coe --wait and friends on a real swarm-mode cluster', { timeout: 20 * 60_000 }, () => {
  let aio: Aio;
  let env: Record<string, string>;
  let imageDir: string;
  let clusterUuid = '';
  const coe = (...args: string[]) => runCoe(args, env, { timeoutMs: 300_000 });

  before(async () => {
    await must(`${ROOT}/bin/magnum-node-image`, ['build'], { timeoutMs: 15 * 60_000 });
    await must(`${ROOT}/bin/magnum-node-image`, ['workload'], { timeoutMs: 5 * 60_000 });
    const dir = tempDir('coe-swarm-');
    imageDir = join(dir, 'images');
    mkdirSync(imageDir);
    await must('docker', ['save', '-o', join(imageDir, 'busybox.tar'), WORKLOAD]);
    aio = await startAio({ name: 'swarm', extra: ['[docker]', `image_dir = ${imageDir}`] });
    env = cleanEnv(newHome(), { OS_ENDPOINT: aio.endpoint });
    ok(await coe('cluster', 'template', 'create', 'swarm-t', '--coe', 'swarm-mode', '--image', NODE_IMAGE, '--external-network', 'public',
      '--flavor', 'm1.small', '--master-flavor', 'm1.small', '--dns-nameserver', '127.0.0.1'));
  });

  after(async () => {
    const socket = (await tmux('display-message', '-p', '#{socket_path}')).stdout.trim();
    await tmux('kill-server');
    if (socket) rmSync(socket, { force: true });
    if (aio?.proc.running) {
      const left = (await runCoe(['cluster', 'list', '-f', 'value', '-c', 'uuid'], env)).stdout.split('\n').filter(Boolean);
      if (left.length) await runCoe(['cluster', 'delete', ...left, '--wait'], env, { timeoutMs: 300_000 });
      await aio.proc.stop();
    }
  });

  test('create --wait in a terminal: the live line moves through the steps, finished steps stay, exit 0', async () => {
    const envArgs = Object.entries({ ...env, LANG: 'C.UTF-8', TERM: 'xterm-256color' }).map(([k, v]) => `${k}=${shq(v)}`).join(' ');
    const command = `env -i ${envArgs} ${COE} cluster create s1 --cluster-template swarm-t --master-count 1 --node-count 1 --wait --poll-interval 1; echo COE-EXIT=$?; sleep 3600`;
    const started = await tmux('new-session', '-d', '-s', TMUX, '-x', '150', '-y', '40', command);
    assert.equal(started.code, 0, show(started));
    const snapshots: string[] = [];
    const t0 = Date.now();
    let pane = '';
    while (Date.now() - t0 < 5 * 60_000) {
      pane = (await tmux('capture-pane', '-p', '-t', TMUX)).stdout;
      if (snapshots[snapshots.length - 1] !== pane) snapshots.push(pane);
      if (/COE-EXIT=\d+/.test(pane)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const final = pane.split('\n').filter((l) => l.trim());
    assert.ok(final.includes('COE-EXIT=0'), `the create did not exit 0:\n${pane}`);
    const accepted = /^Request to create cluster (\S+) accepted$/.exec(final[0]);
    assert.ok(accepted, pane);
    clusterUuid = accepted[1];
    assert.match(final[final.length - 2], /^Cluster s1 is CREATE_COMPLETE \(\d+:\d\d\)\.$/);
    // Finished steps stay above the live line, in the driver's order.
    const done = final.filter((l) => /^ {2}✔ /.test(l)).map((l) => l.replace(/^ {2}✔ /, '').replace(/: succeeded.*$/, ''));
    for (const step of ['create network', 'create certificates', 'start nodes', 'wait for engines', 'form swarm', 'publish api']) {
      assert.ok(done.includes(step), `"${step}" finished in the pane:\n${pane}`);
    }
    assert.ok(done.indexOf('create network') < done.indexOf('form swarm') && done.indexOf('form swarm') < done.indexOf('publish api'), done.join(', '));
    // While it ran, the live line showed the status, the latest step and the elapsed time, changing.
    const live = snapshots.flatMap((s) => s.split('\n')).map((l) => /^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] cluster s1: (CREATE_IN_PROGRESS) {2}\| {2}(.+?) {2}\| {2}(\d+:\d\d)\s*$/.exec(l)).filter((m) => m !== null);
    assert.ok(live.length >= 3, `the live line was seen ${live.length} times:\n${snapshots.join('\n----\n')}`);
    assert.ok(new Set(live.map((m) => m![2])).size >= 2, `the live line named several steps: ${[...new Set(live.map((m) => m![2]))].join(' / ')}`);
    assert.ok(new Set(live.map((m) => m![3])).size >= 2, 'the elapsed time moved');
    // The final pane has no live line left.
    assert.ok(!final.some((l) => /^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] /.test(l)), pane);
  });

  test('cluster config: certificates (key 0600) that docker accepts; ca show and ca sign', async () => {
    const dir = join(tempDir('coe-swarm-cfg-'), 'certs');
    const cfg = await coe('cluster', 'config', 's1', '--dir', dir);
    ok(cfg);
    const c = ok(await coe('cluster', 'show', 's1', '-f', 'json'));
    assert.equal(cfg.stdout, `export DOCKER_HOST=${c.api_address}\nexport DOCKER_CERT_PATH=${dir}\nexport DOCKER_TLS_VERIFY=True\n`);
    assert.equal(statSync(join(dir, 'key.pem')).mode & 0o777, 0o600);
    assert.match(readFileSync(join(dir, 'key.pem'), 'utf8'), /^-----BEGIN RSA PRIVATE KEY-----\n/);
    const subject = await must('openssl', ['x509', '-in', join(dir, 'cert.pem'), '-noout', '-subject']);
    assert.match(subject, /CN\s*=\s*admin, O\s*=\s*system:masters|O\s*=\s*system:masters, CN\s*=\s*admin/);
    const docker = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, DOCKER_CONFIG: dir, DOCKER_HOST: c.api_address, DOCKER_CERT_PATH: dir, DOCKER_TLS_VERIFY: '1' };
    const nodes = (await must('docker', ['node', 'ls', '--format', '{{.Status}}'], { env: docker })).split('\n').filter(Boolean);
    assert.deepEqual(nodes, ['Ready', 'Ready']);

    const ca = await coe('ca', 'show', 's1');
    ok(ca);
    assert.equal(ca.stdout.trim(), readFileSync(join(dir, 'ca.pem'), 'utf8').trim());
    const csrDir = tempDir('coe-csr-');
    await must('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(csrDir, 'me.key'), '-subj', '/CN=me', '-out', join(csrDir, 'me.csr')]);
    const signed = await runCoe(['ca', 'sign', 's1', 'me.csr'], env, { cwd: csrDir });
    ok(signed);
    writeFileSync(join(csrDir, 'me.pem'), signed.stdout);
    assert.match(await must('openssl', ['verify', '-CAfile', join(dir, 'ca.pem'), join(csrDir, 'me.pem')]), /me\.pem: OK/);

    // Rotation with --wait: when it returns, the old certificate is refused and a new config works.
    const rotated = await coe('ca', 'rotate', 's1', '--wait', '--poll-interval', '1');
    ok(rotated);
    assert.match(rotated.stdout, /^Request to rotate the CA certificate for cluster \S+ has been accepted\.\nCluster s1 is UPDATE_COMPLETE \(\d+:\d\d\)\.\n$/);
    assert.notEqual((await runCommand('docker', ['node', 'ls'], { env: docker })).code, 0, 'the old certificate is refused');
    ok(await coe('cluster', 'config', 's1', '--dir', dir, '--force'));
    let fresh = -1;
    for (let i = 0; i < 60 && fresh !== 0; i++) {
      fresh = (await runCommand('docker', ['node', 'ls'], { env: docker })).code ?? -1;
      if (fresh !== 0) await new Promise((r) => setTimeout(r, 1000));
    }
    assert.equal(fresh, 0, 'the new certificate works');
  });

  test('image load --wait, containers and Swarm services (when the API has them)', async () => {
    const v1 = await (await fetch(aio.endpoint)).json() as Record<string, unknown>;
    if (!('containers' in v1)) {
      refused(await coe('container', 'list'), 404, /^The API has no route GET \/v1\/containers/);
      return;
    }
    const load = await coe('image', 'load', 's1', 'busybox.tar', '--wait', '--poll-interval', '1');
    ok(load);
    assert.match(load.stdout, /^Request to load busybox\.tar into cluster s1 accepted: \S+\nImage load busybox\.tar into s1 is COMPLETE \(\d+:\d\d\)\.\n$/);
    const images = ok(await coe('image', 'list', 's1', '-f', 'json'));
    assert.equal(images.filter((i: any) => i.image === WORKLOAD).length, 2, JSON.stringify(images));

    const box = ok(await coe('container', 'create', '--cluster', 's1', '--image', WORKLOAD, '--name', 'box', '--command', "sh -c 'echo started; exec sleep 600'", '--environment', 'GREETING=hi there', '--start', '-f', 'json'));
    assert.equal(box.status, 'Running');
    assert.equal(box.name, 'box');
    assert.equal((await coe('container', 'logs', 'box')).stdout, 'started\n');
    assert.equal((await coe('container', 'pause', 'box')).stdout, 'Container box: Paused\n');
    refused(await coe('container', 'pause', 'box'), 409, /^Cannot pause container box: it is already paused/);
    assert.equal((await coe('container', 'unpause', 'box')).stdout, 'Container box: Running\n');
    assert.equal((await coe('container', 'reboot', 'box', '--timeout', '1')).stdout, 'Container box: Running\n');
    assert.equal(ok(await coe('container', 'update', 'box', 'replace', 'memory=64m', '-f', 'json')).memory, '64m');
    const hello = await coe('container', 'exec', 'box', '--', 'sh', '-c', 'echo $GREETING; echo oops >&2; exit 3');
    assert.equal(hello.code, 3, show(hello));
    assert.equal(hello.stdout, 'hi there\n');
    assert.equal(hello.stderr, 'oops\n');
    const listed = ok(await coe('container', 'list', '--cluster', 's1', '-f', 'json'));
    assert.deepEqual(listed.map((x: any) => [x.name, x.status]), [['box', 'Running']]);
    const stopped = await coe('container', 'stop', 'box', '--timeout', '1');
    ok(stopped);
    assert.equal(stopped.stdout, 'Container box: Stopped\n');
    assert.equal(ok(await coe('container', 'show', 'box', '-f', 'json')).status, 'Stopped');
    ok(await coe('container', 'delete', 'box'));
    refused(await coe('container', 'show', 'box'), 404, 'Container box could not be found');

    if ('services' in v1) {
      const dir = tempDir('coe-svc-');
      writeFileSync(join(dir, 'sleeper.yaml'), `image: ${WORKLOAD}\ncommand: ["sleep", "600"]\nreplicas: 1\n`);
      const svc = ok(await runCoe(['service', 'create', '--cluster', 's1', '--manifest', 'sleeper.yaml', '--name', 'sleeper', '-f', 'json'], env, { cwd: dir, timeoutMs: 180_000 }));
      assert.equal(svc.name, 'sleeper');
      assert.deepEqual(ok(await coe('service', 'list', '--cluster', 's1', '-f', 'json')).map((x: any) => [x.name, x.image, x.replicas]), [['sleeper', WORKLOAD, 1]]);
      const scaled = ok(await coe('service', 'update', 'sleeper', 'replace', 'replicas=2', '-f', 'json'));
      assert.equal(scaled.replicas, 2);
      ok(await coe('service', 'delete', 'sleeper'));
      assert.deepEqual(ok(await coe('service', 'list', '--cluster', 's1', '-f', 'json')), []);
    }
  });

  test('delete --wait off a terminal: plain lines, then nothing of the cluster is left', async () => {
    const del = await coe('cluster', 'delete', 's1', '--wait', '--poll-interval', '1');
    ok(del);
    assert.match(del.stdout, /^Request to delete cluster s1 has been accepted\.\nCluster s1 deleted \(\d+:\d\d\)\.\n$/);
    const lines = del.stderr.split('\n').filter(Boolean);
    assert.ok(lines.length >= 2, del.stderr);
    assert.ok(lines.every((l) => /^\[\d+:\d\d\] cluster s1: (DELETE_IN_PROGRESS|deleted)/.test(l)), del.stderr);
    assert.ok(!/\x1b\[/.test(del.stderr), 'no terminal escapes off a terminal');
    assert.match(del.stderr, /DELETE_IN_PROGRESS {2}cluster_delete: Delete requested\./);
    refused(await coe('cluster', 'show', 's1'), 404, 'Cluster s1 could not be found');
    const leftovers = await must('docker', ['ps', '-a', '--filter', `label=magnum.cluster=${clusterUuid}`, '--format', '{{.Names}}']);
    assert.equal(leftovers.trim(), '');
  });
});
