// A process's CPU priority (its nice value), for background services such as magnum-conductor.
//
// On Linux each thread has its own nice value, and a thread starts with that of the thread that
// made it. So every thread there is now is set (the main thread and V8's own helpers, listed in
// /proc/self/task), and every thread made later (libuv's pool, which makes the RSA keys; workers)
// starts with the main thread's value. Elsewhere the process as a whole is set.
//
// Linux shares the CPU between scheduling groups first (cgroups; with autogroup, terminal
// sessions) and only then by nice value within a group: a nice conductor yields to an API in the
// same group (started by one script, one service manager's cgroup), not to other groups.
import { readdirSync, readFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

export interface PriorityResult {
  /** Threads set to the value (or already at it or above). */
  set: number;
  /** Threads that could not be set (gone meanwhile, not permitted), with the first error. */
  failed: number;
  error?: string;
}

/** Raises this process's nice value to `nice` (never lowers it: that needs privileges). 0: nothing. */
export function lowerCpuPriority(nice: number): PriorityResult {
  const out: PriorityResult = { set: 0, failed: 0 };
  if (nice <= 0) return out;
  let threads: number[];
  try {
    threads = readdirSync('/proc/self/task').map(Number).filter((t) => t > 0);
  } catch {
    threads = [process.pid];
  }
  for (const tid of threads) {
    try {
      if (getPriority(tid) < nice) setPriority(tid, nice);
      out.set++;
    } catch (err) {
      out.failed++;
      out.error ??= (err as Error).message;
    }
  }
  return out;
}

/** The nice value of each thread of a process (Linux, /proc/PID/task); a thread gone meanwhile is left out. */
export function threadNices(pid: number | 'self' = 'self'): number[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((t) => {
    try {
      // Field 19 of stat, counted after the command name's closing parenthesis (field 2).
      return [Number(readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8').split(') ')[1].split(' ')[16])];
    } catch {
      return [];
    }
  });
}
