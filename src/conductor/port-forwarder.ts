// Published service ports on a cluster's address, without the Swarm routing mesh (this kernel has
// no IPVS): the conductor listens on <address>:<port> and forwards each TCP connection to one of
// the running tasks' endpoints (<node address>:<random host port>), round robin, trying the next
// endpoint when one refuses. What a load balancer in front of the nodes does in a cloud.
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { E } from '../common/errors.ts';

/** How long a connection waits for fresh endpoints when none answered. */
const REFRESH_WAIT_MS = 5_000;

interface Listener {
  key: string;
  owner: string;
  host: string;
  port: number;
  server: Server;
  backends: string[];
  next: number;
  sockets: Set<Socket>;
}

export interface ForwarderOptions {
  /**
   * Called when a connection found no endpoint answering: the owner's endpoints are stale. The
   * connection waits (a few seconds at most) for the promise, then tries the endpoints once more.
   */
  onStale?: (owner: string) => Promise<void> | void;
  connectTimeoutMs?: number;
  logger?: Logger;
}

export class PortForwarders {
  readonly #listeners = new Map<string, Listener>();
  readonly #opts: ForwarderOptions;

  constructor(opts: ForwarderOptions = {}) {
    this.#opts = opts;
  }

  static key(host: string, port: number): string {
    return `${host}:${port}`;
  }

  /** The owner (a service uuid) listening on host:port here, if any. */
  ownerOf(host: string, port: number): string | undefined {
    return this.#listeners.get(PortForwarders.key(host, port))?.owner;
  }

  /** host:port keys an owner listens on. */
  keysOf(owner: string): string[] {
    return [...this.#listeners.values()].filter((l) => l.owner === owner).map((l) => l.key);
  }

  get owners(): string[] {
    return [...new Set([...this.#listeners.values()].map((l) => l.owner))];
  }

  /** Listen on host:port for the owner. A port taken by anything else is a 409. */
  async open(owner: string, host: string, port: number): Promise<void> {
    const key = PortForwarders.key(host, port);
    const existing = this.#listeners.get(key);
    if (existing) {
      if (existing.owner === owner) return;
      throw E.Conflict(`Port ${port} on ${host} is already published by another service.`);
    }
    const server = createServer({ pauseOnConnect: true }, (sock) => this.#accept(key, sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((err: NodeJS.ErrnoException) => {
      server.close();
      if (err.code === 'EADDRINUSE') throw E.Conflict(`Port ${port} on ${host} is already in use.`);
      if (err.code === 'EACCES') throw E.Conflict(`Port ${port} on ${host} cannot be used (permission denied).`);
      if (err.code === 'EADDRNOTAVAIL') throw E.Conflict(`Address ${host} is not available on the conductor's host.`);
      throw err;
    });
    server.on('error', (err) => this.#opts.logger?.warn({ err, key }, 'published port listener failed'));
    // The conductor's other handles keep the process alive; a forgotten listener must not.
    server.unref();
    const l: Listener = { key, owner, host, port, server, backends: [], next: 0, sockets: new Set() };
    // Re-checked after the await: two opens of the same key race only within one owner.
    const raced = this.#listeners.get(key);
    if (raced) {
      server.close();
      if (raced.owner === owner) return;
      throw E.Conflict(`Port ${port} on ${host} is already published by another service.`);
    }
    this.#listeners.set(key, l);
  }

  setBackends(owner: string, key: string, backends: string[]): void {
    const l = this.#listeners.get(key);
    if (!l || l.owner !== owner) return;
    const sorted = [...backends].sort();
    if (sorted.join(',') !== l.backends.join(',')) l.backends = sorted;
  }

  backendsOf(key: string): string[] {
    return [...(this.#listeners.get(key)?.backends ?? [])];
  }

  async close(key: string): Promise<void> {
    const l = this.#listeners.get(key);
    if (!l) return;
    this.#listeners.delete(key);
    for (const s of l.sockets) s.destroy();
    await new Promise<void>((resolve) => l.server.close(() => resolve()));
  }

  async closeOwner(owner: string): Promise<void> {
    await Promise.all(this.keysOf(owner).map((k) => this.close(k)));
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.#listeners.keys()].map((k) => this.close(k)));
  }

  #accept(key: string, client: Socket): void {
    const l = this.#listeners.get(key);
    if (!l) {
      client.destroy();
      return;
    }
    l.sockets.add(client);
    client.on('close', () => l.sockets.delete(client));
    client.on('error', () => client.destroy());
    void this.#forward(l, client, true).catch(() => client.destroy());
  }

  /** Round robin over the endpoints, the next one when one refuses; once more after a refresh. */
  async #forward(l: Listener, client: Socket, mayRefresh: boolean): Promise<void> {
    const n = l.backends.length;
    const start = n ? l.next % n : 0;
    const candidates = [...l.backends.slice(start), ...l.backends.slice(0, start)];
    l.next = (start + 1) % Math.max(1, n);
    for (const candidate of candidates) {
      if (client.destroyed) return;
      const upstream = await this.#connect(candidate);
      if (!upstream) continue;
      if (client.destroyed) {
        upstream.destroy();
        return;
      }
      l.sockets.add(upstream);
      upstream.on('close', () => l.sockets.delete(upstream));
      upstream.on('error', () => client.destroy());
      // A client gone takes its upstream along; an upstream gone ends the client after what it sent.
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.end());
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
      return;
    }
    if (mayRefresh && this.#opts.onStale && !client.destroyed) {
      // Fresh endpoints, polled for a few seconds (a new or rolling service may have no running task yet).
      const until = Date.now() + REFRESH_WAIT_MS;
      const before = l.backends.join(',');
      while (Date.now() < until && !client.destroyed && this.#listeners.get(l.key) === l) {
        const wait = Promise.resolve(this.#opts.onStale(l.owner)).catch(() => undefined);
        await Promise.race([wait, new Promise((r) => setTimeout(r, Math.max(0, until - Date.now())).unref())]);
        if (l.backends.length && l.backends.join(',') !== before) return this.#forward(l, client, false);
        await new Promise((r) => setTimeout(r, 300).unref());
      }
      if (l.backends.length && this.#listeners.get(l.key) === l) return this.#forward(l, client, false);
    }
    client.destroy();
  }

  #connect(endpoint: string): Promise<Socket | null> {
    const [host, port] = splitEndpoint(endpoint);
    return new Promise((resolve) => {
      const upstream = createConnection({ host, port });
      const timer = setTimeout(() => upstream.destroy(new Error('connect timeout')), this.#opts.connectTimeoutMs ?? 3_000);
      upstream.once('connect', () => {
        clearTimeout(timer);
        upstream.removeAllListeners('error');
        upstream.on('error', () => upstream.destroy());
        resolve(upstream);
      });
      upstream.once('error', () => {
        clearTimeout(timer);
        upstream.destroy();
        resolve(null);
      });
    });
  }
}

function splitEndpoint(e: string): [string, number] {
  const i = e.lastIndexOf(':');
  return [e.slice(0, i), Number(e.slice(i + 1))];
}
