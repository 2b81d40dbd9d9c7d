import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IMAGE_REFERENCE, RESTART_POLICY, commandArgs, dockerMemoryBytes, parsePort, shellSplit, statusOf } from './container.ts';

describe('container values', () => {
  it('splits commands like POSIX shlex', () => {
    assert.deepEqual(shellSplit('sh -c "echo hello $X; exit 3"'), ['sh', '-c', 'echo hello $X; exit 3']);
    assert.deepEqual(shellSplit("echo 'a  b' c\\ d \"e\\\"f\" ''"), ['echo', 'a  b', 'c d', 'e"f', '']);
    assert.deepEqual(shellSplit('  ls   -l  '), ['ls', '-l']);
    assert.deepEqual(shellSplit(''), []);
    assert.throws(() => shellSplit('echo "x'), /No closing quotation/);
    assert.throws(() => shellSplit("echo 'x"), /No closing quotation/);
    assert.deepEqual(commandArgs(['a', 'b c']), ['a', 'b c']);
    assert.deepEqual(commandArgs(null), []);
  });

  it('reads Docker memory quantities (Magnum: <number>[b|k|m|g])', () => {
    assert.equal(dockerMemoryBytes('64m'), 64 * 1024 * 1024);
    assert.equal(dockerMemoryBytes('1G'), 1024 ** 3);
    assert.equal(dockerMemoryBytes('4194304'), 4194304);
    assert.equal(dockerMemoryBytes('512k'), 512 * 1024);
    for (const bad of ['', 'm', '1.5g', '64mb', '-1m', '1t']) assert.equal(dockerMemoryBytes(bad), null, bad);
  });

  it('parses published ports', () => {
    assert.deepEqual(parsePort('8080:80'), { hostPort: 8080, containerPort: 80, protocol: 'tcp' });
    assert.deepEqual(parsePort('53/udp'), { hostPort: null, containerPort: 53, protocol: 'udp' });
    for (const bad of ['0', '65536', '1:0', 'a:80', '1.2.3.4:80:80', '80/icmp', '80-90']) assert.equal(parsePort(bad), null, bad);
  });

  it('knows image references and restart policies', () => {
    for (const ok of ['busybox', 'busybox:1.36', 'magnum-test/busybox:latest', 'registry.example.com:5000/a/b:c', `x@sha256:${'a'.repeat(64)}`]) assert.ok(IMAGE_REFERENCE.test(ok), ok);
    for (const bad of ['', 'BusyBox', '-rm', 'a b', 'a:', ':tag', 'a//b']) assert.ok(!IMAGE_REFERENCE.test(bad), bad);
    for (const ok of ['no', 'always', 'unless-stopped', 'on-failure', 'on-failure:5']) assert.ok(RESTART_POLICY.test(ok), ok);
    for (const bad of ['never', 'on-failure:', 'always:1', '']) assert.ok(!RESTART_POLICY.test(bad), bad);
  });

  it('maps Docker states onto Magnum\'s statuses', () => {
    assert.deepEqual(statusOf({ Status: 'running', Running: true }), { status: 'Running', reason: 'running' });
    assert.deepEqual(statusOf({ Status: 'paused', Running: true, Paused: true }), { status: 'Paused', reason: 'paused' });
    assert.deepEqual(statusOf({ Status: 'restarting', Running: true, Restarting: true }), { status: 'Running', reason: 'restarting' });
    assert.deepEqual(statusOf({ Status: 'created' }), { status: 'Stopped', reason: 'created' });
    assert.deepEqual(statusOf({ Status: 'exited', ExitCode: 137, OOMKilled: true }), { status: 'Stopped', reason: 'exited (137), out of memory' });
    assert.equal(statusOf({ Status: 'dead', Dead: true }).status, 'Error');
    assert.equal(statusOf({ Status: 'exited', Error: 'oci runtime error' }).status, 'Error');
  });
});
