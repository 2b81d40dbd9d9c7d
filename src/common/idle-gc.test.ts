// collectWhenIdle: a full collection only when the loop was idle over the last interval and the
// heap grew enough since the last one; nothing without a collector. And with node's real `gc`
// (--expose-gc, in a child process): garbage made under load is gone shortly after the load stops.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { collectWhenIdle } from './idle-gc.ts';

const MB = 1024 * 1024;

test('collects when idle and grown, not when busy or not grown, and only once per growth', async () => {
  let used = 20 * MB;
  let busy = 0.5;
  const calls: number[] = [];
  const w = collectWhenIdle({ everyMs: 10, minGrowthBytes: 16 * MB, gc: () => { calls.push(used); used = 22 * MB; }, heapUsed: () => used, utilization: () => busy });
  try {
    used = 60 * MB; // grown under load
    await sleep(60);
    assert.deepEqual(calls, [], 'busy: no collection');
    busy = 0.01;
    await sleep(60);
    assert.deepEqual(calls, [60 * MB], 'idle and grown: one collection');
    used = 30 * MB; // grown by less than the threshold since
    await sleep(60);
    assert.equal(w.stats.collections, 1);
    used = 40 * MB; // 18 MB over the 22 MB left by the last one
    await sleep(60);
    assert.deepEqual(calls, [60 * MB, 40 * MB]);
  } finally {
    w.stop();
  }
});

test('without a collector (no --expose-gc) it does nothing', () => {
  const saved = (globalThis as { gc?: unknown }).gc;
  delete (globalThis as { gc?: unknown }).gc;
  try {
    const w = collectWhenIdle({ everyMs: 1, heapUsed: () => 1e12, utilization: () => 0 });
    assert.equal(w.stats.collections, 0);
    w.stop();
  } finally {
    if (saved) (globalThis as { gc?: unknown }).gc = saved;
  }
});

test('with node\'s gc: the garbage a burst left is collected soon after the loop goes idle', async () => {
  const child = `
    import { collectWhenIdle } from ${JSON.stringify(new URL('./idle-gc.ts', import.meta.url).href)};
    import { getHeapStatistics } from 'node:v8';
    const used = () => getHeapStatistics().used_heap_size;
    const w = collectWhenIdle({ everyMs: 100 });
    // A burst that leaves garbage in the old generation: objects kept a while, then dropped.
    let keep = [];
    const end = Date.now() + 1500;
    while (Date.now() < end) {
      keep.push({ a: new Array(64).fill(Math.random()), s: 'x'.repeat(256) + Math.random() });
      if (keep.length > 20000) keep = [];
      if (keep.length % 2000 === 0) await new Promise((r) => setImmediate(r));
    }
    keep = [];
    const atEnd = used();
    await new Promise((r) => setTimeout(r, 1000));
    console.log(JSON.stringify({ atEnd, later: used(), collections: w.stats.collections }));
    w.stop();
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', child], { timeout: 60_000 });
  const r = JSON.parse(stdout.trim());
  assert.ok(r.collections >= 1, JSON.stringify(r));
  assert.ok(r.later < r.atEnd / 2, `used heap ${r.atEnd} at the end of the burst, ${r.later} a second later`);
});
