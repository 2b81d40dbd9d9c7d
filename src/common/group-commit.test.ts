import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BatchLoad } from './batch-load.ts';
import { GroupCommit } from './group-commit.ts';
import { Slots } from './slots.ts';
import { lastCommitAt, runInRequestScope } from './request-scope.ts';

const tick = () => new Promise((r) => setImmediate(r));

test('GroupCommit: alone a caller is written at once; callers arriving meanwhile go out together next', async () => {
  const writes: number[][] = [];
  let release!: () => void;
  const g = new GroupCommit<number>(async (items) => {
    writes.push(items);
    if (writes.length === 1) await new Promise<void>((r) => (release = r));
  });
  const first = g.submit(1);
  await tick();
  assert.deepEqual(writes, [[1]]);
  const rest = [2, 3, 4].map((n) => g.submit(n));
  await tick();
  assert.deepEqual(writes, [[1]], 'the next batch waits for the write under way');
  release();
  await Promise.all([first, ...rest]);
  assert.deepEqual(writes, [[1], [2, 3, 4]]);
});

test('GroupCommit: an item refused when its batch goes out fails with that error alone; the others are written', async () => {
  const writes: string[][] = [];
  let release!: () => void;
  const left = new Set<string>();
  const g = new GroupCommit<string>(async (items) => {
    writes.push(items);
    if (writes.length === 1) await new Promise<void>((r) => (release = r));
  }, { refuse: (x) => (left.has(x) ? new Error(`${x} left`) : undefined) });
  const first = g.submit('a');
  await tick();
  const rest = ['b', 'c', 'd'].map((x) => g.submit(x).then(() => 'ok', (e: Error) => e.message));
  left.add('c');
  release();
  await first;
  assert.deepEqual(await Promise.all(rest), ['ok', 'c left', 'ok']);
  assert.deepEqual(writes, [['a'], ['b', 'd']]);
  left.add('e');
  assert.equal(await g.submit('e').then(() => 'ok', (e: Error) => e.message), 'e left');
  assert.deepEqual(writes, [['a'], ['b', 'd']], 'a batch left empty is not written');
});

test('GroupCommit: a failed batch is retried one by one, so each caller gets its own outcome', async () => {
  const writes: string[][] = [];
  let release!: () => void;
  const g = new GroupCommit<string>(async (items) => {
    writes.push(items);
    if (writes.length === 1) await new Promise<void>((r) => (release = r));
    if (items.includes('bad')) throw new Error('bad row');
  });
  const first = g.submit('a');
  await tick();
  const batch = ['b', 'bad', 'c'].map((x) => g.submit(x).then(() => 'ok', (e: Error) => e.message));
  release();
  await first;
  assert.deepEqual(await Promise.all(batch), ['ok', 'bad row', 'ok']);
  assert.deepEqual(writes, [['a'], ['b', 'bad', 'c'], ['b'], ['bad'], ['c']]);
});

test('GroupCommit: an error that fails every item alike fails the batch without retries; maxBatch bounds a batch', async () => {
  const writes: number[][] = [];
  let release!: () => void;
  let down = false;
  const g = new GroupCommit<number>(async (items) => {
    writes.push(items);
    const failing = down;
    if (writes.length === 1) await new Promise<void>((r) => (release = r));
    if (failing) throw Object.assign(new Error('database down'), { down: true });
  }, { maxBatch: 2, alike: (e) => (e as { down?: boolean }).down === true });
  const first = g.submit(0);
  await tick();
  down = true;
  const rest = [1, 2, 3].map((n) => g.submit(n).then(() => 'ok', (e: Error) => e.message));
  release();
  await first;
  assert.deepEqual(await Promise.all(rest), ['database down', 'database down', 'database down']);
  assert.deepEqual(writes, [[0], [1, 2], [3]]);
});

test('BatchLoad: keys asked for during a read are read together next, repeats once; an error reaches that batch only', async () => {
  const reads: string[][] = [];
  let release!: () => void;
  const l = new BatchLoad<string, number>(async (keys) => {
    reads.push(keys);
    if (reads.length === 1) await new Promise<void>((r) => (release = r));
    if (keys.includes('boom')) throw new Error('read failed');
    return new Map(keys.filter((k) => k !== 'missing').map((k) => [k, k.length]));
  });
  const first = l.load('a');
  await tick();
  const rest = ['bb', 'ccc', 'bb', 'missing'].map((k) => l.load(k).then((v) => v, (e: Error) => e.message));
  await tick();
  release();
  assert.equal(await first, 1);
  assert.deepEqual(await Promise.all(rest), [2, 3, 2, 'batched read returned nothing for missing']);
  assert.deepEqual(reads, [['a'], ['bb', 'ccc', 'missing']]);
  assert.equal(await l.load('boom').catch((e: Error) => e.message), 'read failed');
  assert.equal(await l.load('dd'), 2, 'a failed read leaves the loader working');
});

test('Slots: at most the limit run at once, the others in arrival order', async () => {
  const slots = new Slots(2);
  let running = 0;
  let most = 0;
  const order: number[] = [];
  await Promise.all([0, 1, 2, 3, 4, 5].map((i) => slots.run(async () => {
    running++;
    most = Math.max(most, running);
    order.push(i);
    await tick();
    running--;
  })));
  assert.equal(most, 2);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
  await assert.rejects(slots.run(async () => { throw new Error('x'); }), /x/);
  assert.equal(await slots.run(async () => 'free again'), 'free again');
});

test('Slots.tryRun: runs only in a free slot, never queues', async () => {
  const slots = new Slots(1);
  let release!: () => void;
  const held = slots.run(() => new Promise<void>((r) => (release = r)));
  let ran = false;
  assert.equal(slots.tryRun(async () => void (ran = true)), false, 'no free slot');
  release();
  await held;
  assert.equal(ran, false, 'a refused tryRun does not run later');
  assert.equal(slots.tryRun(async () => void (ran = true)), true);
  await tick();
  assert.equal(ran, true);
});

test('Slots: a raised limit lets waiters in at once; a lowered one waits for holders above it to finish', async () => {
  const slots = new Slots(1);
  const release: (() => void)[] = [];
  let running = 0;
  const job = () => slots.run(() => new Promise<void>((r) => {
    running++;
    release.push(() => {
      running--;
      r();
    });
  }));
  const jobs = [job(), job(), job(), job()];
  await tick();
  assert.equal(running, 1);
  slots.limit = 3;
  await tick();
  assert.equal(running, 3, 'two waiters let in by the new limit');
  assert.equal(slots.held, 3);
  slots.limit = 1;
  release.shift()!();
  await tick();
  assert.equal(running, 2, 'a finished holder above the new limit hands on no slot');
  release.shift()!();
  await tick();
  assert.equal(running, 1);
  release.shift()!();
  await tick();
  assert.equal(running, 1, 'at the limit, the slot passes to the last waiter');
  release.shift()!();
  await Promise.all(jobs);
  assert.equal(slots.held, 0);
});

test('GroupCommit: each caller\'s request scope has a commit noted once its item is written, its own scope only', async () => {
  let release!: () => void;
  const g = new GroupCommit<number>(async () => {
    await new Promise<void>((r) => (release = r));
  });
  const seen: number[] = [];
  const inScope = (n: number) => runInRequestScope({ aborted: false }, async () => {
    assert.equal(lastCommitAt(), 0);
    const before = performance.now();
    await g.submit(n);
    seen.push(n);
    assert.ok(lastCommitAt() >= before, `commit noted for ${n}`);
  });
  const a = inScope(1);
  await tick();
  const b = inScope(2);
  await tick();
  assert.deepEqual(seen, []);
  release();
  await tick();
  release();
  await Promise.all([a, b]);
  assert.deepEqual(seen, [1, 2]);
  assert.equal(lastCommitAt(), 0, 'outside any request nothing is noted');
});

test('GroupCommit: a write that says when it committed has that time noted, not when it resolved', async () => {
  const g = new GroupCommit<number>(async () => {
    const at = performance.now();
    await new Promise((r) => setTimeout(r, 20));
    return at;
  });
  await runInRequestScope({ aborted: false }, async () => {
    const before = performance.now();
    await g.submit(1);
    const noted = lastCommitAt();
    assert.ok(noted >= before && performance.now() - noted >= 15, `noted ${noted - before} ms after the submit`);
  });
});
