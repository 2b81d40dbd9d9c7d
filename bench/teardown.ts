// What a bench made outside its own process (server processes, a database, a vhost, directories),
// undone last-made first when it ends, or when it is stopped by a signal (^C, SIGTERM).
import type { ChildProcess } from 'node:child_process';

export class Teardown {
  /** Server processes: killed first. */
  readonly children: ChildProcess[] = [];
  readonly #undo: (() => Promise<unknown>)[] = [];
  #done = false;

  constructor() {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void this.run().finally(() => process.exit(130)));
  }

  /** Something to undo; its failure is ignored (the rest is still undone). */
  push(undo: () => Promise<unknown>): void {
    this.#undo.push(undo);
  }

  async run(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    for (const c of this.children) c.kill('SIGKILL');
    for (const f of this.#undo.reverse()) await f().catch(() => undefined);
  }
}
