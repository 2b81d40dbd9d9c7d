// A full garbage collection when the process has gone idle after work that left garbage.
//
// Under load V8 lets the old generation grow to several times what is live before it collects it
// in full (an API with about 22 MB live read 186-208 MB resident after some bench/api.ts runs and
// about 100 MB after others, depending only on when it last collected), and its own memory
// reducer gives it back only long after the load stops. Here, every `everyMs` the event loop's
// utilization over the last interval is looked at: below `idleBelow` (idle), with the heap grown
// by `minGrowthBytes` since the last collection, the heap is collected in full at once. The pause
// (tens of milliseconds for a heap of tens of MB) falls in a quiet moment, and the next burst
// starts from what is live. It needs `gc`, which node gives with --expose-gc (scripts/launch.sh
// runs the API so); without it nothing is done.
import { getHeapStatistics } from 'node:v8';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';

export interface IdleGcOptions {
  everyMs?: number;
  idleBelow?: number;
  minGrowthBytes?: number;
  /** For tests: the collector, the heap's used size, the loop's utilization since the last call. */
  gc?: () => void;
  heapUsed?: () => number;
  utilization?: () => number;
}

/** Starts watching; returns the function that stops it. Collections made are counted in `stats`. */
export function collectWhenIdle(opts: IdleGcOptions = {}): { stop: () => void; stats: { collections: number } } {
  const gc = opts.gc ?? (globalThis as { gc?: () => void }).gc;
  const stats = { collections: 0 };
  if (typeof gc !== 'function') return { stop: () => undefined, stats };
  const heapUsed = opts.heapUsed ?? (() => getHeapStatistics().used_heap_size);
  const utilization = opts.utilization ?? loopUtilization();
  const idleBelow = opts.idleBelow ?? 0.05;
  const minGrowth = opts.minGrowthBytes ?? 16 * 1024 * 1024;
  let after = heapUsed();
  const timer = setInterval(() => {
    if (utilization() >= idleBelow) return;
    const used = heapUsed();
    if (used < after + minGrowth) {
      after = Math.min(after, used); // a collection of V8's own made it smaller
      return;
    }
    gc();
    stats.collections++;
    after = heapUsed();
  }, opts.everyMs ?? 500);
  timer.unref();
  return { stop: () => clearInterval(timer), stats };
}

function loopUtilization(): () => number {
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const u = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    return u;
  };
}
