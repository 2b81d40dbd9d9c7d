// InProcessTransport: the same RpcTransport semantics as amqp.ts, inside one process.
// Run: node --import tsx --test src/rpc/in-process.test.ts

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
