import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { updateArgs } from '../drivers/swarm-mode/services.ts';
import { dockerPorts } from '../drivers/swarm-mode/services.ts';
import { ManifestError, parseKubernetesPod, parseSwarmService, shellJoin, shellSplit } from './manifests.ts';

describe('Compose-style service manifests', () => {
  it('normalise the short forms: YAML text, shorthands, ports, environment and labels lists', () => {
    const { name, manifest } = parseSwarmService([
      'name: web',
      'image: magnum-test/busybox:latest',
      'command: httpd -f -p 80 -h "/www root"',
      'replicas: 3',
      'constraints: ["node.role == worker"]',
      'ports: ["127.0.0.1:8080:80", "8443:443", "53/udp", {target: 9000, published: 9000, mode: host}]',
      'environment: [A=1, "B=x=y"]',
      'labels: {team: blue}',
      'init: true',
      'stop_grace_period: 2s',
      'deploy: {labels: [tier=web], update_config: {parallelism: 2, delay: 1s, order: start-first}}',
    ].join('\n'));
    assert.equal(name, 'web');
    assert.deepEqual(manifest, {
      image: 'magnum-test/busybox:latest',
      command: ['httpd', '-f', '-p', '80', '-h', '/www root'],
      environment: { A: '1', B: 'x=y' },
      labels: { team: 'blue' },
      ports: [
        { target: 80, published: 8080, host_ip: '127.0.0.1', protocol: 'tcp', mode: 'ingress' },
        { target: 443, published: 8443, host_ip: null, protocol: 'tcp', mode: 'ingress' },
        { target: 53, published: null, host_ip: null, protocol: 'udp', mode: 'host' },
        { target: 9000, published: 9000, host_ip: null, protocol: 'tcp', mode: 'host' },
      ],
      init: true,
      stop_grace_period: '2s',
      deploy: {
        replicas: 3,
        labels: { tier: 'web' },
        placement: { constraints: ['node.role==worker'] },
        update_config: { parallelism: 2, delay: '1s', order: 'start-first' },
      },
    });
    // The normalised form parses to itself (PATCH works on it).
    assert.deepEqual(parseSwarmService(manifest).manifest, manifest);
  });

  it('take a Compose file with one service; its key is the name', () => {
    const r = parseSwarmService({ version: '3.8', services: { api: { image: 'nginx:1.25', deploy: { replicas: 0 } } } });
    assert.equal(r.name, 'api');
    assert.equal(r.manifest.deploy.replicas, 0);
    assert.equal(parseSwarmService({ image: 'x' }).name, null);
    assert.equal(parseSwarmService({ image: 'x' }).manifest.deploy.replicas, 1);
  });

  it('name the field that is wrong', () => {
    const err = (m: unknown) => {
      try {
        parseSwarmService(m);
      } catch (e) {
        assert.ok(e instanceof ManifestError);
        return e.message;
      }
      return 'no error';
    };
    assert.equal(err({ image: 'x', ports: ['8080:80', { target: 'a' }] }), 'ports[1].target: expected an integer, got a string "a"');
    assert.equal(err({ image: 'x', deploy: { placement: { constraints: 'node.role==worker' } } }), 'deploy.placement.constraints: expected a list of strings, got a string');
    assert.equal(err({ services: { w: { image: 'x', environment: { A: [] } } } }), 'services.w.environment.A: expected a string, number or boolean, got a list');
  });

  it('docker ports: ingress ports get a random port on each task\'s node', () => {
    const { manifest } = parseSwarmService({ image: 'x', ports: ['8080:80', '8081:80', '53/udp', { target: 9000, published: 9000, mode: 'host' }] });
    assert.deepEqual(dockerPorts(manifest), ['mode=host,target=80,protocol=tcp', 'mode=host,target=53,protocol=udp', 'mode=host,target=9000,published=9000,protocol=tcp']);
  });

  it('updates become docker service update flags', () => {
    const a = parseSwarmService({ image: 'x:1', replicas: 3, environment: { A: '1', B: '2' }, constraints: ['node.role==worker'] }).manifest;
    const b = parseSwarmService({ image: 'x:2', replicas: 5, environment: { B: '3', C: '4' }, command: ['sh', '-c', "echo 'hi'"], deploy: { update_config: { parallelism: 2 } } }).manifest;
    assert.deepEqual(updateArgs(a, b), [
      '--image', 'x:2', '--replicas', '5', '--args', "sh -c 'echo '\\''hi'\\'''",
      '--env-rm', 'A', '--env-add', 'B=3', '--env-add', 'C=4', '--constraint-rm', 'node.role==worker', '--update-parallelism', '2',
    ]);
    assert.deepEqual(updateArgs(a, a), []);
  });

  it('shell splitting and joining round-trip', () => {
    for (const args of [['a'], ['sh', '-c', "echo 'x' \"y\" $HOME"], ['', 'a b'], ['back\\slash']]) {
      assert.deepEqual(shellSplit('x', shellJoin(args)), args);
    }
    assert.deepEqual(shellSplit('x', 'a\\ b "c d" \'e\''), ['a b', 'c d', 'e']);
  });
});

describe('Kubernetes manifests', () => {
  it('a pod keeps its manifest, with apiVersion and kind', () => {
    const p = parseKubernetesPod('metadata: {name: web, labels: {app: w}}\nspec:\n  containers:\n  - name: c\n    image: nginx\n');
    assert.equal(p.name, 'web');
    assert.deepEqual(p.labels, { app: 'w' });
    assert.equal(p.manifest.kind, 'Pod');
    assert.equal(p.manifest.apiVersion, 'v1');
  });
});
