// lowerCpuPriority, in a child process (the test runner keeps its own priority): every thread
// there is takes the value, threads made afterwards (libuv's pool, a worker) start with it, and a
// later call with a smaller value never lowers it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';

const child = `
  import { lowerCpuPriority, threadNices as nices } from ${JSON.stringify(new URL('./cpu-priority.ts', import.meta.url).href)};
  import { pbkdf2 } from 'node:crypto';
  import { Worker } from 'node:worker_threads';
  const before = nices().length;
  const first = lowerCpuPriority(7);
  // Threads made afterwards: libuv's pool (four threads) and a worker.
  await Promise.all([0, 1, 2, 3].map(() => new Promise((res) => pbkdf2('x', 'y', 20000, 32, 'sha256', res))));
  const w = new Worker('setTimeout(() => {}, 300)', { eval: true });
  await new Promise((res) => w.once('online', res));
  const after = nices();
  const second = lowerCpuPriority(3);
  const zero = lowerCpuPriority(0);
  await w.terminate();
  console.log(JSON.stringify({ before, first, after, second, zero, last: nices() }));
`;

test('lowerCpuPriority sets every thread of the process, threads made later start at the value, and it is never lowered', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], { timeout: 60_000 });
  const r = JSON.parse(stdout.trim());
  assert.ok(r.before >= 2, `threads at start: ${r.before}`);
  assert.deepEqual([r.first.set, r.first.failed], [r.before, 0]);
  assert.ok(r.after.length > r.before, `threads were made afterwards (the worker's, the pool's if it had none yet): ${r.before} then ${r.after.length}`);
  assert.deepEqual(r.after, r.after.map(() => 7));
  assert.equal(r.second.failed, 0);
  assert.deepEqual(r.last, r.last.map(() => 7));
  assert.deepEqual(r.zero, { set: 0, failed: 0 });
});
