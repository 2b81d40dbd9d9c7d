import { E, fromWire, toWire } from '../common/errors.ts';
import type { RpcHandler, RpcRequest, RpcServer, RpcServerOptions, RpcTransport } from './transport.ts';

/** The all-in-one transport: same semantics as AMQP, delivered inside one process. */
export class InProcessTransport implements RpcTransport {
  #servers = new Map<string, { handler: RpcHandler; running: Set<Promise<unknown>> }[]>();
  #next = 0;

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
      const result = await Promise.race([this.#track(server, server.handler(copy)), timeout]);
      return (result === undefined ? undefined : JSON.parse(JSON.stringify(result))) as T;
    } catch (err) {
      throw fromWire(toWire(err));
    } finally {
      clearTimeout(timer);
    }
  }

  async cast(topic: string, req: RpcRequest): Promise<void> {
    const servers = this.#servers.get(topic);
    if (!servers?.length) return; // like a queue with no consumer: the sweep picks the work up later
    const server = this.#pick(topic);
    const copy = JSON.parse(JSON.stringify(req)) as RpcRequest;
    void this.#track(server, server.handler(copy)).catch(() => undefined);
  }

  async serve(handler: RpcHandler, opts: RpcServerOptions): Promise<RpcServer> {
    const entry = { handler, running: new Set<Promise<unknown>>() };
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

  #pick(topic: string) {
    const servers = this.#servers.get(topic);
    if (!servers?.length) throw E.ServiceUnavailable(`No conductor is consuming topic ${topic}.`);
    return servers[this.#next++ % servers.length];
  }

  #track<T>(server: { running: Set<Promise<unknown>> }, p: Promise<T>): Promise<T> {
    server.running.add(p);
    void p.finally(() => server.running.delete(p)).catch(() => undefined);
    return p;
  }
}
