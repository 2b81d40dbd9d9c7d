// InProcessTransport: the same RpcTransport semantics as amqp.ts, inside one process.
// Run: node --import tsx --test src/rpc/in-process.test.ts

import { AsyncLocalStorage } from 'node:async_hooks';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { E, MagnumError } from '../common/errors.ts';
import { InProcessTransport } from './in-process.ts';
import type { RpcRequest } from './transport.ts';

const req = (method: string, args: Record<string, unknown> = {}): RpcRequest => ({ method, context: { request_id: 'r1' }, args });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('call returns the result as it would cross the wire (a JSON copy)', async () => {
  const t = new InProcessTransport();
  const arg = { nested: { a: 1 } };
  await t.serve(async (r) => {
    (r.args.arg as { nested: { a: number } }).nested.a = 2; // the caller's object is not shared
    return { got: r.args, when: new Date(0) };
  }, { topic: 'magnum-conductor', concurrency: 1 });
  const res = await t.call<{ got: unknown; when: unknown }>('magnum-conductor', req('m', { arg }));
  assert.deepEqual(res, { got: { arg: { nested: { a: 2 } } }, when: '1970-01-01T00:00:00.000Z' });
  assert.equal(arg.nested.a, 1);
  await t.close();
});

test('call rejects with the handler MagnumError; other errors become a 500 without details', async () => {
  const t = new InProcessTransport();
  await t.serve(async (r) => {
    if (r.method === 'a') throw E.ClusterNotFound('c1');
    throw new Error('secret');
  }, { topic: 'x', concurrency: 1 });
  await assert.rejects(t.call('x', req('a')), (e: unknown) => e instanceof MagnumError && e.status === 404 && e.code === 'ClusterNotFound' && e.message === 'Cluster c1 could not be found.');
  await assert.rejects(t.call('x', req('b')), (e: unknown) => e instanceof MagnumError && e.status === 500 && !e.message.includes('secret'));
  await t.close();
});

test('call: 504 after the timeout; 503 when no server consumes the topic', async () => {
  const t = new InProcessTransport();
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  await t.serve(() => held, { topic: 'slow', concurrency: 1 });
  const t0 = Date.now();
  await assert.rejects(t.call('slow', req('m'), { timeoutMs: 200 }), (e: unknown) => e instanceof MagnumError && e.status === 504 && /0\.2 s.*m\./.test(e.message));
  assert.ok(Date.now() - t0 < 1000);
  await assert.rejects(t.call('nobody', req('m')), (e: unknown) => e instanceof MagnumError && e.status === 503);
  release();
  await t.close();
});

test('cast goes to one server per message; stop() waits for running handlers', async () => {
  const t = new InProcessTransport();
  const by: Record<string, number> = { a: 0, b: 0 };
  let running = 0;
  const mk = (who: string) => async () => {
    running++;
    await sleep(20);
    by[who]++;
    running--;
  };
  const a = await t.serve(mk('a'), { topic: 'c', concurrency: 1 });
  const b = await t.serve(mk('b'), { topic: 'c', concurrency: 1 });
  for (let i = 0; i < 10; i++) await t.cast('c', req('m', { i }));
  await Promise.all([a.stop(), b.stop()]);
  assert.equal(running, 0);
  assert.equal(by.a + by.b, 10);
  assert.ok(by.a > 0 && by.b > 0);
  await t.cast('c', req('m')); // no server: accepted and dropped (the periodic sweep recovers the work)
  await t.close();
});

/** A logger that keeps what it is given. */
function recorder() {
  const lines: { level: string; obj: Record<string, unknown>; msg?: string }[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj: obj as Record<string, unknown>, msg });
  return { lines, logger: { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') } };
}

test('a conductor error that becomes a 500 is logged with the request id and the error; a 4xx is not', async () => {
  const { lines, logger } = recorder();
  const t = new InProcessTransport({ logger });
  await t.serve(async (r) => {
    if (r.method === 'a') throw E.ClusterNotFound('c1');
    throw new TypeError('boom in the conductor');
  }, { topic: 'x', concurrency: 1 });
  await assert.rejects(t.call('x', req('a')), (e: unknown) => e instanceof MagnumError && e.status === 404);
  assert.equal(lines.length, 0);
  await assert.rejects(t.call('x', { method: 'b', context: { request_id: 'req-42' }, args: {} }), (e: unknown) => e instanceof MagnumError && e.status === 500);
  assert.equal(lines.length, 1);
  assert.equal(lines[0].level, 'error');
  assert.deepEqual({ ...lines[0].obj, stack: undefined }, { topic: 'x', method: 'b', request_id: 'req-42', err: 'boom in the conductor', stack: undefined });
  assert.match(String(lines[0].obj.stack), /TypeError: boom in the conductor/);
  await t.close();
});

test('a failed cast is logged (error, or warn for a MagnumError below 500); a cast nobody consumes is logged', async () => {
  const { lines, logger } = recorder();
  const t = new InProcessTransport({ logger });
  const s = await t.serve(async (r) => {
    if (r.method === 'gone') throw E.ClusterNotFound('c9');
    throw new Error('database exploded');
  }, { topic: 'c', concurrency: 2 });
  await t.cast('c', { method: 'run_operation', context: { request_id: 'req-7' }, args: { operation: 'op-1' } });
  await t.cast('c', { method: 'gone', context: { request_id: 'req-8' }, args: {} });
  await s.stop();
  const byReq = (id: string) => lines.find((l) => l.obj.request_id === id);
  assert.equal(byReq('req-7')?.level, 'error');
  assert.equal(byReq('req-7')?.obj.err, 'database exploded');
  assert.equal(byReq('req-7')?.obj.method, 'run_operation');
  assert.match(byReq('req-7')?.msg ?? '', /sweep/);
  assert.equal(byReq('req-8')?.level, 'warn');
  assert.equal(byReq('req-8')?.obj.code, 'ClusterNotFound');
  await t.cast('c', { method: 'm', context: { request_id: 'req-9' }, args: {} });
  assert.equal(byReq('req-9')?.level, 'warn', 'no server: logged');
  await t.close();
});

test('concurrency: at most that many handlers of a server at once (calls and casts); the rest wait in order', async () => {
  const t = new InProcessTransport();
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const s = await t.serve(async (r) => {
    running++;
    peak = Math.max(peak, running);
    await sleep(15);
    order.push(r.args.i as number);
    running--;
    return r.args.i;
  }, { topic: 'q', concurrency: 3 });
  const calls = Array.from({ length: 6 }, (_, i) => t.call<number>('q', req('m', { i })));
  for (let i = 6; i < 12; i++) await t.cast('q', req('m', { i }));
  assert.deepEqual(await Promise.all(calls), [0, 1, 2, 3, 4, 5]);
  await s.stop();
  assert.equal(peak, 3);
  assert.equal(order.length, 12);
  assert.deepEqual([...order].sort((a, b) => a - b), Array.from({ length: 12 }, (_, i) => i));
  // concurrency 1: strictly one after the other.
  peak = 0;
  const one = await t.serve(async () => {
    running++;
    peak = Math.max(peak, running);
    await sleep(5);
    running--;
  }, { topic: 'one', concurrency: 1 });
  await Promise.all(Array.from({ length: 5 }, () => t.call('one', req('m'))));
  await one.stop();
  assert.equal(peak, 1);
  await t.close();
});

test('a call waiting for a slot still times out with a 504', async () => {
  const t = new InProcessTransport();
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let ran = 0;
  await t.serve(async (r) => {
    ran++;
    if (r.method === 'hold') await held;
  }, { topic: 'busy', concurrency: 1 });
  const first = t.call('busy', req('hold'), { timeoutMs: 5_000 });
  await assert.rejects(t.call('busy', req('quick'), { timeoutMs: 150 }), (e: unknown) => e instanceof MagnumError && e.status === 504);
  assert.equal(ran, 1, 'the second waited for the slot');
  release();
  await first;
  await t.close();
});

test('handlers run in the server\'s async context, not the caller\'s (as over AMQP)', async () => {
  const t = new InProcessTransport();
  const scope = new AsyncLocalStorage<string>();
  const seen: (string | undefined)[] = [];
  let castDone!: () => void;
  const casted = new Promise<void>((r) => (castDone = r));
  await scope.run('conductor', () => t.serve(async (r) => {
    await sleep(1);
    seen.push(`${r.method}:${scope.getStore()}`);
    if (r.method === 'cast') castDone();
    return null;
  }, { topic: 'x', concurrency: 2 }));
  await scope.run('api request', async () => {
    await t.call('x', req('call'));
    await t.cast('x', req('cast'));
  });
  await casted;
  assert.deepEqual(seen, ['call:conductor', 'cast:conductor']);
  await t.close();
});
