// AmqpTransport against a real RabbitMQ (scripts/setup-services.sh starts one).
// Run: node --import tsx --test src/rpc/amqp.test.ts
// Broker: $MAGNUM_TEST_AMQP_URL, else MAGNUM_TEST_AMQP_URL in var/services.env, else
// amqp://magnum:magnum@127.0.0.1:5672. Each run works in its own vhost (magnum-test-<random>),
// created with rabbitmqctl and deleted at the end, so parallel runs never see each other.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Connection } from 'rabbitmq-client';
import type { ConnectionOptions } from 'rabbitmq-client';
import { E, MagnumError } from '../common/errors.ts';
import { AmqpTransport, parseTransportUrl, redactUrl } from './amqp.ts';
import type { AmqpTransportOptions, RpcLogger } from './amqp.ts';
import { createTransport, getInProcessTransport, InProcessTransport } from './index.ts';
import type { RpcRequest, RpcServer } from './transport.ts';
import { startPrivateRabbitmq } from '../../test/helpers/private-services.ts';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../', import.meta.url));

function brokerBaseUrl(): string {
  if (process.env.MAGNUM_TEST_AMQP_URL) return process.env.MAGNUM_TEST_AMQP_URL;
  const envFile = `${repo}var/services.env`;
  if (existsSync(envFile)) {
    const m = /^\s*(?:export\s+)?MAGNUM_TEST_AMQP_URL=["']?([^"'\s]+)/m.exec(readFileSync(envFile, 'utf8'));
    if (m) return m[1];
  }
  return 'amqp://magnum:magnum@127.0.0.1:5672';
}

const base = brokerBaseUrl().replace(/\/+$/, '');
const baseEp = parseTransportUrl(base);
const vhost = `magnum-test-${randomBytes(5).toString('hex')}`;
/** Magnum's own form, to exercise the rabbit:// → amqp:// handling. */
const url = `${base.replace(/^amqp:/, 'rabbit:')}/${encodeURIComponent(vhost)}`;
let vhostCreated = false;

async function rabbitmqctl(...args: string[]): Promise<string> {
  try {
    const { stdout } = await run('rabbitmqctl', args, { timeout: 60_000 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`rabbitmqctl ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

function tcpReachable(host: string, port: number, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(ms, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

// ---- helpers ----

const logs: { level: string; msg?: string; obj: object }[] = [];
const logger: RpcLogger = {
  info: (obj, msg) => void logs.push({ level: 'info', msg, obj }),
  debug: (obj, msg) => void logs.push({ level: 'debug', msg, obj }),
  warn: (obj, msg) => {
    logs.push({ level: 'warn', msg, obj });
    if (process.env.AMQP_TEST_VERBOSE) console.warn('[warn]', msg, obj);
  },
  error: (obj, msg) => {
    logs.push({ level: 'error', msg, obj });
    if (process.env.AMQP_TEST_VERBOSE) console.error('[error]', msg, obj);
  },
};

function transport(opts: Partial<AmqpTransportOptions> = {}): AmqpTransport {
  return new AmqpTransport({ url, logger, ...opts });
}

/** A plain rabbitmq-client connection to this run's vhost, for test-side admin actions. */
function connectionOptions(): ConnectionOptions {
  const ep = parseTransportUrl(url);
  return { hostname: ep.hosts[0].hostname, port: ep.hosts[0].port, username: ep.username, password: ep.password, vhost: ep.vhost };
}

function topicName(what: string): string {
  return `magnum-conductor-${what}-${randomBytes(3).toString('hex')}`;
}

function req(method: string, args: Record<string, unknown> = {}): RpcRequest {
  return { method, context: { request_id: `req-${randomBytes(4).toString('hex')}`, project_id: 'p1', roles: ['member'] }, args };
}

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

async function expectMagnumError(p: Promise<unknown>, code: string, status: number, message?: RegExp): Promise<MagnumError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof MagnumError, `expected a MagnumError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.equal(err.status, status);
    if (message) assert.match(err.message, message);
    return err;
  }
  assert.fail(`expected ${code} (${status}), but the promise resolved`);
}

// ---- tests that need no broker ----

test('parseTransportUrl: Magnum transport_url forms', () => {
  assert.deepEqual(parseTransportUrl('rabbit://magnum:p%40ss%3Aw@10.1.2.3:5673/'), {
    hosts: [{ hostname: '10.1.2.3', port: 5673 }],
    username: 'magnum',
    password: 'p@ss:w',
    vhost: '/',
    tls: false,
  });
  assert.equal(parseTransportUrl('rabbit://u:p@mq').vhost, '/');
  assert.equal(parseTransportUrl('rabbit://u:p@mq').hosts[0].port, 5672);
  assert.equal(parseTransportUrl('amqp://u:p@mq:5672/magnum').vhost, 'magnum');
  assert.equal(parseTransportUrl('amqp://u:p@mq:5672/%2F').vhost, '/');
  assert.equal(parseTransportUrl('amqp://u:p@mq:5672/a%2Fb').vhost, 'a/b');
  assert.deepEqual(parseTransportUrl('rabbit://u:p@h1:5672,u:p@h2:5673/v').hosts, [
    { hostname: 'h1', port: 5672 },
    { hostname: 'h2', port: 5673 },
  ]);
  assert.deepEqual(parseTransportUrl('rabbit://u:p@[::1]:5673/v').hosts, [{ hostname: '::1', port: 5673 }]);
  const tls = parseTransportUrl('amqps://u:p@mq/v');
  assert.equal(tls.tls, true);
  assert.equal(tls.hosts[0].port, 5671);
  assert.equal(parseTransportUrl('rabbit://u:p@mq/v?ssl=1').tls, true);
  assert.throws(() => parseTransportUrl('http://mq/'), /not RabbitMQ/);
  assert.throws(() => parseTransportUrl('rabbit://u:p@mq:99999/'), /bad port/);
  assert.equal(redactUrl('rabbit://magnum:secret@mq:5672/'), 'rabbit://magnum:***@mq:5672/');
});

test('createTransport picks the implementation from the URL', async () => {
  const a = createTransport('inprocess://');
  assert.ok(a instanceof InProcessTransport);
  assert.equal(createTransport('inprocess://'), a, 'one shared in-process transport per process');
  assert.equal(getInProcessTransport(), a);
  const r = createTransport(url, logger);
  assert.ok(r instanceof AmqpTransport);
  await r.close();
  const r2 = createTransport(base.replace(/^rabbit:/, 'amqp:'), logger);
  assert.ok(r2 instanceof AmqpTransport);
  await r2.close();
  assert.throws(() => createTransport('kafka://u:secret@host/'), (err: Error) => {
    assert.match(err.message, /Unsupported transport_url 'kafka:\/\/u:\*\*\*@host\/'/);
    assert.doesNotMatch(err.message, /secret/);
    return true;
  });
  assert.throws(() => createTransport(''), /Unsupported transport_url/);
});

// ---- against RabbitMQ ----

describe('AmqpTransport against RabbitMQ', () => {
  before(async () => {
    const { hostname, port } = baseEp.hosts[0];
    if (!(await tcpReachable(hostname, port, 3000))) {
      throw new Error(
        `RabbitMQ is not reachable at ${hostname}:${port} (${redactUrl(base)}). ` +
          'Start it with scripts/setup-services.sh (or scripts/rabbitmq-ctl.sh start), or set MAGNUM_TEST_AMQP_URL.',
      );
    }
    await rabbitmqctl('add_vhost', vhost);
    vhostCreated = true;
    await rabbitmqctl('set_permissions', '-p', vhost, baseEp.username, '.*', '.*', '.*');
  });

  after(async () => {
    if (!vhostCreated) return;
    // The broker may still be coming back from the restart test (or someone else's): retry a while.
    for (let attempt = 1; ; attempt++) {
      try {
        await rabbitmqctl('delete_vhost', vhost);
        return;
      } catch (err) {
        if (attempt >= 12) throw err;
        await sleep(5000);
      }
    }
  });


  test('cast: 200 casts over two competing servers are each handled exactly once', async (t) => {
    const topic = topicName('cast');
    const client = transport();
    const s1 = transport();
    const s2 = transport();
    t.after(() => Promise.all([client.close(), s1.close(), s2.close()]));
    const seen = new Map<number, number>();
    const by = { s1: 0, s2: 0 };
    const handler = (who: 's1' | 's2') => async (r: RpcRequest) => {
      await sleep(1 + Math.random() * 3);
      const n = r.args.n as number;
      seen.set(n, (seen.get(n) ?? 0) + 1);
      by[who]++;
    };
    await s1.serve(handler('s1'), { topic, concurrency: 2 });
    await s2.serve(handler('s2'), { topic, concurrency: 2 });
    const started = Date.now();
    await Promise.all(Array.from({ length: 200 }, (_, n) => client.cast(topic, req('cluster_update', { n }))));
    await waitFor(() => seen.size === 200, 20_000, '200 distinct casts to be handled');
    await sleep(300); // would a duplicate still show up?
    const total = [...seen.values()].reduce((a, b) => a + b, 0);
    assert.equal(total, 200, `handled ${total} times for 200 casts`);
    assert.ok([...seen.values()].every((c) => c === 1));
    assert.ok(by.s1 > 0 && by.s2 > 0, `both servers share the work (s1=${by.s1}, s2=${by.s2})`);
    t.diagnostic(`200 casts in ${Date.now() - started} ms: s1=${by.s1} s2=${by.s2}`);
  });

  test('call: returns the handler result, with context and args across the wire', async (t) => {
    const topic = topicName('call');
    const client = transport();
    const server = transport();
    t.after(() => Promise.all([client.close(), server.close()]));
    await server.serve(async (r) => ({ method: r.method, args: r.args, rid: r.context.request_id }), { topic, concurrency: 4 });
    const rq = req('sign_certificate', { cluster: 'c1', csr: 'x'.repeat(20_000) });
    const res = await client.call<{ method: string; args: Record<string, unknown>; rid: unknown }>(topic, rq, { timeoutMs: 5000 });
    assert.deepEqual(res, { method: 'sign_certificate', args: rq.args, rid: rq.context.request_id });
    // Many calls at once on one reply channel are matched to their own replies.
    const many = await Promise.all(
      Array.from({ length: 50 }, (_, i) => client.call<{ args: { i: number } }>(topic, req('ping_conductor', { i }), { timeoutMs: 5000 })),
    );
    assert.deepEqual(many.map((m) => m.args.i), Array.from({ length: 50 }, (_, i) => i));
    assert.equal(await client.call(topic, req('nothing'), { timeoutMs: 5000 }).then(() => 'done'), 'done');
  });

  test('call: rejects with the handler MagnumError (class, status, message kept); other errors become 500', async (t) => {
    const topic = topicName('err');
    const client = transport();
    const server = transport();
    t.after(() => Promise.all([client.close(), server.close()]));
    await server.serve(async (r) => {
      if (r.method === 'cluster_upgrade') throw E.ClusterNotFound(String(r.args.uuid));
      if (r.method === 'rotate_ca_certificate') throw E.OperationInProgress('k8s');
      throw new TypeError('secret internals');
    }, { topic, concurrency: 1 });
    await expectMagnumError(client.call(topic, req('cluster_upgrade', { uuid: 'abc' }), { timeoutMs: 5000 }), 'ClusterNotFound', 404, /^Cluster abc could not be found\.$/);
    await expectMagnumError(client.call(topic, req('rotate_ca_certificate'), { timeoutMs: 5000 }), 'OperationInProgress', 400, /^Cluster k8s already has an operation in progress\.$/);
    const e = await expectMagnumError(client.call(topic, req('object_action'), { timeoutMs: 5000 }), 'InternalError', 500);
    assert.doesNotMatch(e.message, /secret internals/);
  });

  test('call: no reply in time → 504 MessagingTimeout near the timeout; the expired request is never handled', async (t) => {
    const topic = topicName('timeout');
    const client = transport();
    const server = transport();
    t.after(() => Promise.all([client.close(), server.close()]));
    const release = deferred();
    let handled = 0;
    const srv = await server.serve(async () => {
      handled++;
      await release.promise;
    }, { topic, concurrency: 1 });

    // 1. A handler that does not finish in time.
    let t0 = Date.now();
    await expectMagnumError(client.call(topic, req('cluster_upgrade'), { timeoutMs: 700 }), 'MessagingTimeout', 504, /0\.7 s.*cluster_upgrade/);
    let took = Date.now() - t0;
    assert.ok(took >= 650 && took < 1500, `timed out after ${took} ms`);
    release.resolve();
    await srv.stop();
    assert.equal(handled, 1);

    // 2. Nobody consumes the topic: 504 as well (oslo.messaging behaviour), and the request expires
    //    in the queue, so a server started afterwards does not run it.
    handled = 0;
    t0 = Date.now();
    await expectMagnumError(client.call(topic, req('sign_certificate'), { timeoutMs: 500 }), 'MessagingTimeout', 504, /0\.5 s.*sign_certificate/);
    took = Date.now() - t0;
    assert.ok(took >= 450 && took < 1300, `timed out after ${took} ms`);
    await sleep(200);
    await server.serve(async () => void handled++, { topic, concurrency: 1 });
    await sleep(1000);
    assert.equal(handled, 0, 'an expired call request must not be handled');
    // The server is live, though: a fresh call gets through.
    await client.call(topic, req('ping_conductor'), { timeoutMs: 5000 });
    assert.equal(handled, 1);
  });

  test('crash: a server that dies mid-handling (connection dropped, no ack) → the message goes to another server', async (t) => {
    const topic = topicName('crash');
    const client = transport();
    const doomed = transport();
    const survivor = transport();
    const stuck = deferred();
    t.after(async () => {
      stuck.resolve();
      doomed.destroy();
      await Promise.all([client.close(), survivor.close()]);
    });
    const doomedGot: RpcRequest[] = [];
    const survivorGot: RpcRequest[] = [];
    await doomed.serve(async (r) => {
      doomedGot.push(r);
      await stuck.promise; // never finishes before the crash
    }, { topic, concurrency: 2 });

    const castReq = req('cluster_create', { uuid: 'c-crash' });
    await client.cast(topic, castReq);
    const callP = client.call<string>(topic, req('cluster_upgrade', { uuid: 'c-call' }), { timeoutMs: 15_000 });
    await waitFor(() => doomedGot.length === 2, 5000, 'the doomed server to start both messages');

    await survivor.serve(async (r) => {
      survivorGot.push(r);
      return `survivor handled ${r.method}`;
    }, { topic, concurrency: 2 });
    await sleep(300);
    assert.equal(survivorGot.length, 0, 'unacked messages stay with the server handling them');

    const t0 = Date.now();
    doomed.destroy(); // what a kill -9 does: the TCP connection drops, nothing acked
    await waitFor(() => survivorGot.length === 2, 10_000, 'redelivery to the surviving server');
    assert.deepEqual(survivorGot.map((r) => r.method).sort(), ['cluster_create', 'cluster_upgrade']);
    assert.deepEqual(survivorGot.find((r) => r.method === 'cluster_create'), castReq);
    // The caller still gets its answer: the survivor replies to the caller's reply address.
    assert.equal(await callP, 'survivor handled cluster_upgrade');
    t.diagnostic(`redelivered ${Date.now() - t0} ms after the crash`);
    await sleep(300);
    assert.equal(survivorGot.length, 2, 'no further duplicates');
  });

  test('crash: a conductor process killed with SIGKILL mid-handling → the cast goes to another server', async (t) => {
    const topic = topicName('kill');
    const client = transport();
    const survivor = transport();
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `import { AmqpTransport } from ${JSON.stringify(fileURLToPath(new URL('./amqp.ts', import.meta.url)))};
         const t = new AmqpTransport({ url: process.env.URL, logger: { info() {}, debug() {}, warn() {}, error() {} } });
         await t.serve(async (r) => { console.log('started ' + r.args.uuid); await new Promise(() => {}); },
                       { topic: process.env.TOPIC, concurrency: 1 });
         console.log('ready');`,
      ],
      { cwd: repo, env: { ...process.env, URL: url, TOPIC: topic }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    t.after(async () => {
      child.kill('SIGKILL');
      await exited;
      await Promise.all([client.close(), survivor.close()]);
    });
    await waitFor(() => out.includes('ready\n'), 20_000, 'the child conductor to consume');
    await client.cast(topic, req('cluster_create', { uuid: 'c-killed' }));
    await waitFor(() => out.includes('started c-killed\n'), 5000, 'the child to start handling');
    const got: unknown[] = [];
    await survivor.serve(async (r) => void got.push(r.args.uuid), { topic, concurrency: 1 });
    await sleep(300);
    assert.deepEqual(got, [], 'the message is still held, unacked, by the child');
    child.kill('SIGKILL');
    await exited;
    await waitFor(() => got.length === 1, 10_000, 'redelivery after the kill');
    assert.deepEqual(got, ['c-killed']);
  });

  test('cast with no server waits in the durable queue, even if the queue was deleted under the publisher', async (t) => {
    const topic = topicName('queued');
    const client = transport();
    const server = transport();
    const admin = new Connection({ ...connectionOptions(), connectionName: 'amqp.test admin' });
    admin.on('error', () => undefined);
    t.after(() => Promise.all([client.close(), server.close(), admin.close()]));
    await client.cast(topic, req('cluster_create', { n: 1 }));
    // An operator deletes the queue (message 1 goes with it); the publisher's declaration cache is
    // now stale: the next cast comes back unroutable, the queue is declared again, the cast retried.
    await admin.queueDelete({ queue: topic });
    await client.cast(topic, req('cluster_create', { n: 2 }));
    assert.ok(
      logs.some((l) => l.msg?.startsWith('Retrying an RPC publish') && (l.obj as { topic?: string }).topic === topic),
      'the unroutable cast was retried after declaring the queue again',
    );
    await client.cast(topic, req('cluster_create', { n: 3 }));
    const got: unknown[] = [];
    await server.serve(async (r) => void got.push(r.args.n), { topic, concurrency: 1 });
    await waitFor(() => got.length === 2, 5000, 'the queued casts');
    assert.deepEqual(got, [2, 3]);
  });

  test('stop() waits for running handlers, and nothing is lost', async (t) => {
    const topic = topicName('stop');
    const client = transport();
    const server = transport();
    const server2 = transport();
    t.after(() => Promise.all([client.close(), server.close(), server2.close()]));
    const release = deferred();
    let finished = 0;
    const srv: RpcServer = await server.serve(async () => {
      await release.promise;
      finished++;
    }, { topic, concurrency: 1 });
    await client.cast(topic, req('cluster_delete', { n: 1 }));
    await client.cast(topic, req('cluster_delete', { n: 2 }));
    await sleep(200);
    let stopped = false;
    const stopping = srv.stop().then(() => (stopped = true));
    await sleep(200);
    assert.equal(stopped, false, 'stop() is still waiting for the running handler');
    release.resolve();
    await stopping;
    assert.equal(finished, 1, 'the running handler finished; the second cast was not started');
    // The second cast is still in the queue for the next server.
    const got: unknown[] = [];
    await server2.serve(async (r) => void got.push(r.args.n), { topic, concurrency: 1 });
    await waitFor(() => got.length === 1, 5000, 'the queued cast');
    assert.deepEqual(got, [2]);
  });

  test('broker unreachable → 503 ServiceUnavailable promptly, and close() does not hang', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer();
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const dead = new AmqpTransport({ url: `rabbit://magnum:magnum@127.0.0.1:${port}/`, logger, publishTimeoutMs: 800 });
    let t0 = Date.now();
    await expectMagnumError(dead.cast('magnum-conductor', req('cluster_create')), 'ServiceUnavailable', 503, /message broker is unreachable.*cluster_create/);
    assert.ok(Date.now() - t0 < 2500, `cast failed after ${Date.now() - t0} ms`);
    t0 = Date.now();
    await expectMagnumError(dead.call('magnum-conductor', req('sign_certificate'), { timeoutMs: 60_000 }), 'ServiceUnavailable', 503, /sign_certificate/);
    assert.ok(Date.now() - t0 < 2500, `call failed after ${Date.now() - t0} ms`);
    await expectMagnumError(dead.serve(async () => undefined, { topic: 'magnum-conductor', concurrency: 1 }), 'ServiceUnavailable', 503, /magnum-conductor/);
    t0 = Date.now();
    await dead.close();
    assert.ok(Date.now() - t0 < 2500, `close took ${Date.now() - t0} ms`);
    await expectMagnumError(dead.cast('magnum-conductor', req('cluster_create')), 'ServiceUnavailable', 503, /closed/);
  });

  test('broker restart: publisher, reply channel and consumers reconnect on their own', { timeout: 240_000 }, async (t) => {
    // A broker of the test's own: the machine's shared RabbitMQ is never restarted.
    const broker = await startPrivateRabbitmq();
    t.after(() => broker.destroy());
    const topic = topicName('restart');
    const client = new AmqpTransport({ url: broker.url, logger });
    const server = new AmqpTransport({ url: broker.url, logger });
    t.after(() => Promise.all([client.close(), server.close()]));
    const casts: unknown[] = [];
    await server.serve(async (r) => {
      if (r.method === 'cluster_create') casts.push(r.args.n);
      return { pong: r.args.n };
    }, { topic, concurrency: 2 });
    assert.deepEqual(await client.call(topic, req('ping_conductor', { n: 0 }), { timeoutMs: 5000 }), { pong: 0 });
    await client.cast(topic, req('cluster_create', { n: 0 }));
    await waitFor(() => casts.length === 1, 5000, 'the first cast');

    // A call waiting when the broker goes away fails fast with 503, not after its 60 s timeout.
    const orphanTopic = topicName('orphan');
    const waiting = client.call(orphanTopic, req('cluster_upgrade'), { timeoutMs: 60_000 });
    waiting.catch(() => undefined);
    await sleep(200);

    const t0 = Date.now();
    await broker.stop();
    await broker.start();
    const restartMs = Date.now() - t0;
    await expectMagnumError(waiting, 'ServiceUnavailable', 503, /Lost the connection.*cluster_upgrade/);
    assert.ok(Date.now() - t0 < 60_000);

    // Same transports, no re-creation. Until the client has reconnected a send fails fast with
    // a 503 (what an API request answers then); it goes through once the connection is back.
    const t1 = Date.now();
    for (;;) {
      try {
        await client.cast(topic, req('cluster_create', { n: 1 }));
        break;
      } catch (err) {
        assert.equal((err as { status?: number }).status, 503, String(err));
        assert.ok(Date.now() - t1 < 30_000, 'the client reconnects within 30 s of the broker\'s return');
        await sleep(250);
      }
    }
    await waitFor(() => casts.length === 2, 30_000, 'the cast after the restart to be consumed');
    assert.deepEqual(casts, [0, 1]);
    assert.deepEqual(await client.call(topic, req('ping_conductor', { n: 2 }), { timeoutMs: 15_000 }), { pong: 2 });
    t.diagnostic(`broker restart took ${restartMs} ms; cast+call worked ${Date.now() - t1} ms after it`);
    assert.ok(logs.some((l) => l.msg === 'Reconnected to RabbitMQ'), 'the connections reconnected');
    assert.ok(logs.some((l) => l.msg === 'RPC server consuming again'), 'the consumer re-subscribed');
  });
});
