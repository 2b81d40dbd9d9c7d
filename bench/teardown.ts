// What a bench made outside its own process (server processes, a database, a vhost, directories),
// undone last-made first when it ends, or when it is stopped by a signal (^C, SIGTERM).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';

function rabbitmqctl(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => spawn('rabbitmqctl', args, { stdio: 'ignore' })
    .on('error', reject)
    .on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`rabbitmqctl ${args.join(' ')} failed (status ${c})`)))));
}

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

  /**
   * A RabbitMQ vhost of its own (`<prefix>-<8 hex>`) for user magnum, deleted at the end: the
   * transport URL of `amqpUrl` (the broker's, without a vhost) for it.
   */
  async vhost(prefix: string, amqpUrl: string): Promise<string> {
    const name = `${prefix}-${randomUUID().slice(0, 8)}`;
    await rabbitmqctl(['add_vhost', name]);
    this.push(() => rabbitmqctl(['delete_vhost', name]));
    await rabbitmqctl(['set_permissions', '-p', name, 'magnum', '.*', '.*', '.*']);
    return `${amqpUrl}/${encodeURIComponent(name)}`;
  }

  async run(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    for (const c of this.children) c.kill('SIGKILL');
    for (const f of this.#undo.reverse()) await f().catch(() => undefined);
  }
}
