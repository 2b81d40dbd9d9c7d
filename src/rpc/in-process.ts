import { AsyncResource } from 'node:async_hooks';
import { E, fromWire, MagnumError, toWire } from '../common/errors.ts';
import { Slots } from '../common/slots.ts';
import type { RpcLogger } from './amqp.ts';
import type { RpcHandler, RpcRequest, RpcServer, RpcServerOptions, RpcTransport } from './transport.ts';

interface Server {
  /** The handler, bound to the context serve() ran in (see serve()). */
  handler: RpcHandler;
  /** Handlers running or waiting for a free slot (stop() waits for all of them). */
  running: Set<Promise<unknown>>;
  /** At most this many handlers at once (the AMQP prefetch); the others wait in order. */
  slots: Slots;
}

const requestId = (req: RpcRequest) => (typeof req.context.request_id === 'string' ? req.context.request_id : undefined);

/** The all-in-one transport: same semantics as AMQP, delivered inside one process. */
export class InProcessTransport implements RpcTransport {
  #servers = new Map<string, Server[]>();
  #next = 0;
  readonly #log: RpcLogger | undefined;

  constructor(opts: { logger?: RpcLogger } = {}) {
    this.#log = opts.logger;
  }

  async call<T>(topic: string, req: RpcRequest, opts: { timeoutMs?: number } = {}): Promise<T> {
    const server = this.#pick(topic);
    const timeoutMs = opts.timeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(E.GatewayTimeout(`Timed out after ${timeoutMs / 1000} s waiting for the conductor to answer ${req.method}.`)),
        timeoutMs,
      );
    });
    try {
      // A round trip through JSON keeps the in-process path honest about what can cross the wire.
      const copy = JSON.parse(JSON.stringify(req)) as RpcRequest;
      const result = await Promise.race([this.#dispatch(topic, server, copy), timeout]);
      return (result === undefined ? undefined : JSON.parse(JSON.stringify(result))) as T;
    } catch (err) {
      throw fromWire(toWire(err));
    } finally {
      clearTimeout(timer);
    }
  }

  async cast(topic: string, req: RpcRequest): Promise<void> {
    const servers = this.#servers.get(topic);
    if (!servers?.length) {
      // Like a queue with no consumer: the conductors' sweep picks the work up later.
      this.#log?.warn({ topic, method: req.method, request_id: requestId(req) }, 'RPC cast with no server consuming its topic; left to the sweep');
      return;
    }
    const server = this.#pick(topic);
    const copy = JSON.parse(JSON.stringify(req)) as RpcRequest;
    // Failures are logged by #dispatch; what the cast was for (an operation) is the sweep's then.
    void this.#dispatch(topic, server, copy, true).catch(() => undefined);
  }

  async serve(handler: RpcHandler, opts: RpcServerOptions): Promise<RpcServer> {
    // Over AMQP a handler runs in the conductor's own context, never in the caller's: so here too.
    // A handler run in the API request's async context would inherit its database scope, and an
    // operation woken by a cast would have its statements refused once the request has answered.
    const entry: Server = { handler: AsyncResource.bind(handler), running: new Set(), slots: new Slots(Math.floor(opts.concurrency) || 1) };
    const list = this.#servers.get(opts.topic) ?? [];
    list.push(entry);
    this.#servers.set(opts.topic, list);
    return {
      stop: async () => {
        const l = this.#servers.get(opts.topic) ?? [];
        this.#servers.set(opts.topic, l.filter((s) => s !== entry));
        await Promise.allSettled([...entry.running]);
      },
    };
  }

  async close(): Promise<void> {
    const all = [...this.#servers.values()].flat().flatMap((s) => [...s.running]);
    this.#servers.clear();
    await Promise.allSettled(all);
  }

  #pick(topic: string): Server {
    const servers = this.#servers.get(topic);
    if (!servers?.length) throw E.ServiceUnavailable(`No conductor is consuming topic ${topic}.`);
    return servers[this.#next++ % servers.length];
  }

  /** Runs the handler when the server has a free slot; logs what fails (with the request id). */
  #dispatch(topic: string, server: Server, req: RpcRequest, cast = false): Promise<unknown> {
    const p = server.slots.run(async () => {
      try {
        return await server.handler(req);
      } catch (err) {
        const where = { topic, method: req.method, request_id: requestId(req) };
        if (err instanceof MagnumError && err.status < 500) {
          if (cast) this.#log?.warn({ ...where, err: err.message, code: err.code }, 'RPC cast failed');
        } else {
          this.#log?.error({ ...where, err: (err as Error)?.message ?? String(err), stack: (err as Error)?.stack },
            cast ? 'RPC cast failed; what it started is left to the sweep' : 'RPC handler failed');
        }
        throw err;
      }
    });
    server.running.add(p);
    void p.finally(() => server.running.delete(p)).catch(() => undefined);
    return p;
  }
}
