// The RabbitMQ transport (rabbitmq-client): many API and conductor processes share one broker.
//
// Layout on the broker (per vhost):
// - exchange `magnum` (option `exchange`; oslo.messaging's control_exchange): durable, type topic.
// - one durable queue per topic, named after the topic (`magnum-conductor`), bound to that exchange
//   with routing key = topic. Publishers declare it before their first publish to a topic (again
//   after a reconnection, or when the broker returns a message as unroutable because the queue was
//   deleted) and servers declare it when they subscribe, so a cast sent while no conductor runs
//   waits in the queue instead of being dropped.
// - casts: published to the exchange with routing key = topic, persistent (delivery mode 2),
//   mandatory, publisher-confirmed. Servers on the same topic are competing consumers of the queue.
// - calls: same route, transient, with `expiration` = the call's timeout (the broker drops a request
//   still queued past the caller's deadline, so no server works on it), `replyTo` = RabbitMQ direct
//   reply-to (`amq.rabbitmq.reply-to`, consumed on the transport's one call channel) and a random
//   `correlationId`. The server answers an RpcReply JSON to that address on the default exchange.
// - servers: prefetch = concurrency, manual ack, sent only after the handler settles (resolved or
//   rejected: a failed cast is logged, not requeued forever). A server whose connection dies while
//   handling (crash, kill, network) leaves its unacked messages to the broker, which redelivers them
//   to another server. Delivery is therefore at least once: handlers must tolerate a repeat.
//
// Reconnection: rabbitmq-client's Connection reconnects with exponential backoff (capped by
// `reconnectMaxDelayMs`); its Consumers re-declare and re-subscribe (once their running handlers
// have settled); the cast and call channels here are re-opened by the next publish. A publish waits
// at most `publishTimeoutMs` for the broker (then 503); a call waits at most its timeout for the
// reply (then 504), or fails at once with 503 if the connection drops while it waits, since a direct
// reply-to answer cannot arrive on another channel. While the connection is known to be lost (an
// attempt failed), a publish waits at most DOWN_WAIT_MS before its 503.

import { randomUUID } from 'node:crypto';
import { AMQPChannelError, Connection } from 'rabbitmq-client';
import type { AsyncMessage, Channel, Consumer, ConnectionOptions, Envelope, MessageBody } from 'rabbitmq-client';
import { E, fromWire, MagnumError, toWire } from '../common/errors.ts';
import type { WireError } from '../common/errors.ts';
import type { RpcHandler, RpcReply, RpcRequest, RpcServer, RpcServerOptions, RpcTransport } from './transport.ts';

/** The subset of a pino logger this transport uses. */
export interface RpcLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface AmqpTransportOptions {
  /** Magnum's transport_url: rabbit://user:pass@host:port/vhost (amqp:// and amqps:// too). */
  url: string;
  logger?: RpcLogger;
  /** The control exchange. Default 'magnum'. */
  exchange?: string;
  /** How long a publish (cast, call request) may wait for the broker before failing with 503. Default 10 000. */
  publishTimeoutMs?: number;
  /** Cap of the reconnection backoff, in ms. Default 5 000. */
  reconnectMaxDelayMs?: number;
  /** Shown in the broker's management UI. */
  connectionName?: string;
}

export interface AmqpEndpoint {
  hosts: { hostname: string; port: number }[];
  username: string;
  password: string;
  vhost: string;
  tls: boolean;
}

const DIRECT_REPLY_TO = 'amq.rabbitmq.reply-to';
const DEFAULT_CALL_TIMEOUT_MS = 60_000;
/** How long a send waits for a reconnection while the broker is known to be down. */
const DOWN_WAIT_MS = 2_000;

/**
 * Parse Magnum's transport_url. Accepts rabbit://, amqp:// and amqps:// (and rabbit://...?ssl=1),
 * several comma-separated hosts (oslo.messaging's form: rabbit://u:p@h1:5672,u:p@h2:5672/vhost; the
 * first host's credentials are used), percent-encoded user, password and vhost. An empty or `/`
 * path is the default vhost `/`.
 */
export function parseTransportUrl(url: string): AmqpEndpoint {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)(\/[^?#]*)?(\?[^#]*)?(#.*)?$/i.exec(url.trim());
  if (!m) throw new Error(`Invalid transport_url ${redactUrl(url)}: expected rabbit://user:pass@host:port/vhost.`);
  const scheme = m[1].toLowerCase();
  if (scheme !== 'rabbit' && scheme !== 'amqp' && scheme !== 'amqps') {
    throw new Error(`Invalid transport_url ${redactUrl(url)}: scheme ${scheme}:// is not RabbitMQ (use rabbit:// or amqp://).`);
  }
  const query = new URLSearchParams(m[4]?.slice(1) ?? '');
  const sslParam = (query.get('ssl') ?? '').toLowerCase();
  const tls = scheme === 'amqps' || ['1', 'true', 'yes', 'on'].includes(sslParam);
  const defaultPort = tls ? 5671 : 5672;
  let username = 'guest';
  let password = 'guest';
  const hosts: AmqpEndpoint['hosts'] = [];
  const netlocs = m[2].split(',').filter((s) => s !== '');
  if (!netlocs.length) throw new Error(`Invalid transport_url ${redactUrl(url)}: no host.`);
  netlocs.forEach((netloc, i) => {
    const at = netloc.lastIndexOf('@');
    const hostport = at >= 0 ? netloc.slice(at + 1) : netloc;
    if (at >= 0 && i === 0) {
      const userinfo = netloc.slice(0, at);
      const colon = userinfo.indexOf(':');
      username = decode(colon >= 0 ? userinfo.slice(0, colon) : userinfo, url);
      password = colon >= 0 ? decode(userinfo.slice(colon + 1), url) : '';
    }
    const hp = /^(\[[0-9a-f:.]+\]|[^:[\]]*)(?::(\d*))?$/i.exec(hostport);
    if (!hp || !hp[1]) throw new Error(`Invalid transport_url ${redactUrl(url)}: bad host '${hostport}'.`);
    const port = hp[2] ? Number(hp[2]) : defaultPort;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new Error(`Invalid transport_url ${redactUrl(url)}: bad port in '${hostport}'.`);
    }
    hosts.push({ hostname: hp[1].replace(/^\[(.*)\]$/, '$1'), port });
  });
  const path = m[3] ?? '';
  const vhost = path === '' || path === '/' ? '/' : decode(path.slice(1), url);
  return { hosts, username, password, vhost, tls };
}

function decode(s: string, url: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new Error(`Invalid transport_url ${redactUrl(url)}: bad percent-encoding.`);
  }
}

/** The URL with its password replaced by ***, for logs and error messages. */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/|,)([^:@/,]*):([^@/,]*)@/g, '$1$2:***@');
}

const consoleLogger: RpcLogger = {
  info: () => undefined,
  debug: () => undefined,
  warn: (obj, msg) => console.warn(msg ?? '', obj),
  error: (obj, msg) => console.error(msg ?? '', obj),
};

interface PendingCall {
  /** The channel the request went out on: its direct reply-to consumer is where the reply lands. */
  channel: Channel;
  method: string;
  resolve: (reply: RpcReply) => void;
  reject: (err: MagnumError) => void;
}

interface ServerEntry {
  consumer: Consumer;
  topic: string;
  stopping?: Promise<void>;
}

export class AmqpTransport implements RpcTransport {
  readonly exchange: string;
  readonly endpoint: AmqpEndpoint;
  #log: RpcLogger;
  #conn: Connection;
  #publishTimeoutMs: number;
  /** Confirm-mode channel for casts. */
  #castChannel: LazyChannel;
  /** Confirm-mode channel for calls, consuming direct reply-to (replies come back on it). */
  #callChannel: LazyChannel;
  /** Topics whose queue and binding were declared on the current connection. */
  #declared = new Map<string, Promise<void>>();
  #pending = new Map<string, PendingCall>();
  #servers = new Set<ServerEntry>();
  #closed = false;
  #closing?: Promise<void>;
  #where: string;
  /** Since when the connection is known to be lost (a failed connection or reconnection attempt). */
  #downSince: number | null = null;

  constructor(opts: AmqpTransportOptions) {
    this.endpoint = parseTransportUrl(opts.url);
    this.exchange = opts.exchange ?? 'magnum';
    this.#log = opts.logger ?? consoleLogger;
    this.#publishTimeoutMs = opts.publishTimeoutMs ?? 10_000;
    const ep = this.endpoint;
    this.#where = `${ep.hosts.map((h) => `${h.hostname}:${h.port}`).join(',')} vhost ${ep.vhost}`;
    const connOpts: ConnectionOptions = {
      username: ep.username,
      password: ep.password,
      vhost: ep.vhost,
      hostname: ep.hosts[0].hostname,
      port: ep.hosts[0].port,
      tls: ep.tls,
      // Waiting for a channel (i.e. for the broker to come back) is bounded like a publish.
      acquireTimeout: this.#publishTimeoutMs,
      connectionTimeout: Math.min(10_000, this.#publishTimeoutMs),
      retryLow: 500,
      retryHigh: opts.reconnectMaxDelayMs ?? 5_000,
      heartbeat: 30,
      connectionName: opts.connectionName,
    };
    if (ep.hosts.length > 1) connOpts.hosts = ep.hosts.map((h) => `${h.hostname}:${h.port}`);
    this.#conn = new Connection(connOpts);
    this.#conn.on('error', (err: unknown) => {
      if (!this.#conn.ready) this.#downSince ??= Date.now();
      if (!this.#closed) this.#log.warn({ err: errText(err), broker: this.#where }, 'RabbitMQ connection error; reconnecting');
    });
    let connections = 0;
    this.#conn.on('connection', () => {
      this.#downSince = null;
      // After a reconnection, declare topic queues again on first use: cheap, and it survives a
      // broker that lost its definitions. (Not on the first connection: declarations made while
      // it was being established are fine.)
      if (++connections > 1) this.#declared.clear();
      this.#log.info({ broker: this.#where }, connections > 1 ? 'Reconnected to RabbitMQ' : 'Connected to RabbitMQ');
    });
    this.#conn.on('connection.blocked', (reason: string) =>
      this.#log.warn({ reason, broker: this.#where }, 'RabbitMQ blocked publishing'));
    this.#castChannel = new LazyChannel(this.#conn, this.#log, 'cast', async (ch) => {
      await ch.confirmSelect();
    });
    this.#callChannel = new LazyChannel(
      this.#conn,
      this.#log,
      'call',
      async (ch) => {
        await ch.confirmSelect();
        await ch.basicConsume({ queue: DIRECT_REPLY_TO, noAck: true }, (m) => this.#onReply(m));
      },
      (ch) => {
        // Direct reply-to is bound to this channel: replies to what was sent on it cannot come any more.
        for (const [id, p] of this.#pending) {
          if (p.channel !== ch) continue;
          this.#pending.delete(id);
          p.reject(E.ServiceUnavailable(
            `Lost the connection to the message broker while waiting for the conductor to answer ${p.method}; ` +
              'the request may or may not have been carried out.',
          ));
        }
      },
    );
  }

  async cast(topic: string, req: RpcRequest, opts: { timeoutMs?: number } = {}): Promise<void> {
    this.#assertOpen(req.method);
    await this.#publish(req.method, topic, Math.min(this.#publishTimeoutMs, opts.timeoutMs ?? Infinity), async (cancelled) => {
      await this.#declare(topic);
      const ch = await this.#castChannel.get();
      if (cancelled()) return;
      const id = randomUUID();
      await ch.basicPublish(
        {
          exchange: this.exchange,
          routingKey: topic,
          mandatory: true, // a vanished queue comes back as basic.return, not as silence
          durable: true, // persistent: survives a broker restart in the durable queue
          messageId: id,
          timestamp: Math.floor(Date.now() / 1000),
          type: req.method,
        },
        req,
      );
      await this.#checkRouted(this.#castChannel, id, topic);
    });
  }

  async call<T = unknown>(topic: string, req: RpcRequest, opts: { timeoutMs?: number } = {}): Promise<T> {
    this.#assertOpen(req.method);
    const timeoutMs = opts.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    if (!(timeoutMs > 0)) throw new Error(`call timeout must be > 0 ms (got ${timeoutMs})`);
    const started = Date.now();
    const id = randomUUID();
    const slot: { reply?: Promise<RpcReply> } = {};
    try {
      await this.#publish(req.method, topic, Math.min(this.#publishTimeoutMs, timeoutMs), async (cancelled) => {
        await this.#declare(topic);
        const ch = await this.#callChannel.get();
        if (cancelled()) return;
        // Registered before publishing: the reply may come before the publisher confirm. A fresh
        // entry per attempt: a retry must not inherit the rejection of the channel that died.
        const reply = new Promise<RpcReply>((resolve, reject) => {
          this.#pending.set(id, { channel: ch, method: req.method, resolve, reject });
        });
        reply.catch(() => undefined); // raced below; never an unhandled rejection
        slot.reply = reply;
        await ch.basicPublish(
          {
            exchange: this.exchange,
            routingKey: topic,
            mandatory: true,
            replyTo: DIRECT_REPLY_TO,
            correlationId: id,
            // The broker drops the request if it is still queued when the caller stops waiting.
            expiration: String(Math.max(1, Math.ceil(timeoutMs - (Date.now() - started)))),
            messageId: id,
            timestamp: Math.floor(started / 1000),
            type: req.method,
          },
          req,
        );
        await this.#checkRouted(this.#callChannel, id, topic);
      });
    } catch (err) {
      this.#pending.delete(id);
      throw err;
    }
    const reply = slot.reply;
    if (!reply) throw E.ServiceUnavailable(`The RPC transport was closed while sending ${req.method}.`);

    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(E.GatewayTimeout(`Timed out after ${timeoutMs / 1000} s waiting for the conductor to answer ${req.method}.`));
      }, Math.max(0, started + timeoutMs - Date.now()));
    });
    try {
      const r = await Promise.race([reply, timeout]);
      if (r.ok) return r.result as T;
      throw fromWire(r.error);
    } finally {
      clearTimeout(timer);
      this.#pending.delete(id);
    }
  }

  async serve(handler: RpcHandler, opts: RpcServerOptions): Promise<RpcServer> {
    if (this.#closed) throw E.ServiceUnavailable('The RPC transport is closed.');
    const concurrency = opts.concurrency;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new Error(`RPC server concurrency must be a positive integer (got ${concurrency}).`);
    }
    const topic = opts.topic;
    const consumer = this.#conn.createConsumer(
      {
        queue: topic,
        queueOptions: { durable: true },
        exchanges: [{ exchange: this.exchange, type: 'topic', durable: true }],
        queueBindings: [{ queue: topic, exchange: this.exchange, routingKey: topic }],
        qos: { prefetchCount: concurrency },
        concurrency,
        noAck: false,
        requeue: true,
      },
      (msg, reply) => this.#handle(topic, handler, msg, reply),
    );
    let lastError: unknown;
    consumer.on('error', (err: unknown) => {
      lastError = err;
      if (!this.#closed) this.#log.warn({ err: errText(err), topic }, 'RPC server error');
    });
    const entry: ServerEntry = { consumer, topic };
    this.#servers.add(entry);
    let readyOnce = false;
    consumer.on('ready', () => {
      if (readyOnce) this.#log.info({ topic }, 'RPC server consuming again');
      readyOnce = true;
    });
    const ready = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), this.#publishTimeoutMs);
      consumer.once('ready', () => {
        clearTimeout(t);
        resolve(true);
      });
    });
    if (!ready) {
      this.#servers.delete(entry);
      await consumer.close().catch(() => undefined);
      throw E.ServiceUnavailable(
        `Could not start consuming topic ${topic} within ${this.#publishTimeoutMs / 1000} s: ` +
          `the message broker is unreachable (${errText(lastError) || 'no answer'}).`,
      );
    }
    this.#log.info({ topic, concurrency }, 'RPC server consuming');
    return { stop: () => this.#stopServer(entry) };
  }

  /** Graceful: stops the servers (waiting for running handlers), then closes channels and the connection. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /**
   * Abrupt: drops the broker connection now, acking nothing and waiting for nothing, as a crash
   * would. Unacked messages go back to their queue for another server. For tests and fatal exits.
   */
  destroy(): void {
    this.#closed = true;
    this.#rejectPending(() => E.ServiceUnavailable('The RPC transport was destroyed before the conductor answered.'));
    this.#conn.unsafeDestroy();
  }

  async #close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#servers].map((s) => this.#stopServer(s)));
    this.#rejectPending((method) =>
      E.ServiceUnavailable(`The RPC transport was closed before the conductor answered ${method}.`));
    await Promise.allSettled(this.#declared.values());
    await Promise.allSettled([this.#castChannel.close(), this.#callChannel.close()]);
    // Graceful close waits for every channel; should one hang (a dead socket), cut it after a bound.
    let timer: NodeJS.Timeout | undefined;
    const cut = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.#log.warn({ broker: this.#where }, 'RabbitMQ connection did not close in time; destroying it');
        this.#conn.unsafeDestroy();
        resolve();
      }, this.#publishTimeoutMs);
    });
    try {
      await Promise.race([this.#conn.close().catch(() => undefined), cut]);
    } finally {
      clearTimeout(timer);
    }
  }

  #stopServer(entry: ServerEntry): Promise<void> {
    entry.stopping ??= entry.consumer
      .close()
      .catch((err: unknown) => this.#log.warn({ err: errText(err), topic: entry.topic }, 'RPC server did not stop cleanly'))
      .finally(() => this.#servers.delete(entry));
    return entry.stopping;
  }

  async #handle(
    topic: string,
    handler: RpcHandler,
    msg: AsyncMessage,
    reply: (body: MessageBody, envelope?: Envelope) => Promise<void>,
  ): Promise<void> {
    let req: RpcRequest;
    try {
      req = decodeRequest(msg.body);
    } catch (err) {
      this.#log.error({ topic, err: errText(err) }, 'Dropping an RPC message that is not a request');
      if (msg.replyTo) {
        await reply({ ok: false, error: toWire(new Error('bad request')) } satisfies RpcReply).catch(() => undefined);
      }
      return; // ack: redelivering a malformed message would not make it any better
    }
    const isCall = Boolean(msg.replyTo);
    if (msg.redelivered) {
      this.#log.info({ topic, method: req.method, messageId: msg.messageId }, 'Handling a redelivered RPC message');
    }
    let out: RpcReply;
    try {
      const result = await handler(req);
      out = { ok: true, result };
    } catch (err) {
      const error: WireError = toWire(err);
      if (!(err instanceof MagnumError)) {
        this.#log.error({ topic, method: req.method, err: errText(err), stack: (err as Error)?.stack }, 'RPC handler failed');
      } else if (!isCall) {
        this.#log.warn({ topic, method: req.method, err: err.message, code: err.code }, 'RPC cast failed');
      }
      out = { ok: false, error };
    }
    if (isCall) {
      try {
        await reply(out);
      } catch (err) {
        this.#log.warn({ topic, method: req.method, err: errText(err) }, 'Could not send an RPC reply');
      }
    }
    // Returning acks the message (after the handler settled, resolved or rejected).
  }

  #onReply(msg: AsyncMessage): void {
    const id = msg.correlationId;
    const p = id ? this.#pending.get(id) : undefined;
    if (!id || !p) {
      this.#log.debug({ correlationId: id }, 'Dropping an RPC reply nobody waits for (late or unknown)');
      return;
    }
    this.#pending.delete(id);
    try {
      p.resolve(decodeReply(msg.body));
    } catch (err) {
      p.reject(new MagnumError('InternalError', 500, `The conductor sent an unreadable reply to ${p.method}.`));
      this.#log.error({ err: errText(err), method: p.method }, 'Unreadable RPC reply');
    }
  }

  /** Declare the topic's exchange, queue and binding once per connection. */
  #declare(topic: string): Promise<void> {
    let p = this.#declared.get(topic);
    if (!p) {
      const run = async () => {
        await this.#conn.exchangeDeclare({ exchange: this.exchange, type: 'topic', durable: true });
        await this.#conn.queueDeclare({ queue: topic, durable: true });
        await this.#conn.queueBind({ queue: topic, exchange: this.exchange, routingKey: topic });
      };
      const created: Promise<void> = run();
      p = created;
      this.#declared.set(topic, created);
      created.catch(() => {
        if (this.#declared.get(topic) === created) this.#declared.delete(topic);
      });
    }
    return p;
  }

  /**
   * Run a publish step within `ms`, retrying once on a fresh channel if the channel or connection
   * dropped under it (a broker restart). Any failure is the broker's: 503 with a clear message.
   * Once the deadline has passed, `cancelled()` is true and the step must not publish any more, so
   * the caller's 503 is not followed by a late delivery.
   */
  async #publish(method: string, topic: string, ms: number, step: (cancelled: () => boolean) => Promise<void>): Promise<void> {
    // While the broker is known to be unreachable, a send waits only briefly for the reconnection
    // (a blip), so an API request that needs the conductor answers 503 within a few seconds.
    if (this.#downSince !== null && !this.#conn.ready) ms = Math.min(ms, DOWN_WAIT_MS);
    let expired = false;
    const cancelled = () => expired || this.#closed;
    const work = (async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await step(cancelled);
        } catch (err) {
          const retriable = err instanceof AMQPChannelError || err instanceof UnroutableError;
          if (attempt >= 2 || cancelled() || !retriable) throw err;
          this.#log.debug({ err: errText(err), method, topic }, 'Retrying an RPC publish');
        }
      }
    })();
    work.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        expired = true;
        reject(E.ServiceUnavailable(
          `The message broker is unreachable: could not send ${method} to topic ${topic} within ${ms / 1000} s.`,
        ));
      }, ms);
    });
    try {
      await Promise.race([work, timeout]);
    } catch (err) {
      if (err instanceof MagnumError) throw err;
      this.#log.warn({ err: errText(err), method, topic, broker: this.#where }, 'RPC publish failed');
      throw E.ServiceUnavailable(`The message broker is unreachable: could not send ${method} to topic ${topic} (${errText(err)}).`);
    } finally {
      clearTimeout(timer);
    }
  }

  /** A message the broker returned as unroutable: the topic queue is gone; declare it again and retry. */
  async #checkRouted(lc: LazyChannel, messageId: string, topic: string): Promise<void> {
    if (!(await lc.wasReturned(messageId))) return;
    this.#declared.delete(topic);
    throw new UnroutableError(`no queue is bound for topic ${topic} on exchange ${this.exchange}`);
  }

  #assertOpen(method: string): void {
    if (this.#closed) throw E.ServiceUnavailable(`The RPC transport is closed; cannot send ${method}.`);
  }

  #rejectPending(make: (method: string) => MagnumError): void {
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id);
      p.reject(make(p.method));
    }
  }
}

/**
 * A channel opened on first use and re-opened on the first use after it closed (connection loss,
 * broker restart, channel error). `init` runs on every new channel; `onClose` when one closes.
 */
class UnroutableError extends Error {}

class LazyChannel {
  #ch?: Channel;
  #returned = new Set<string>();
  #setup?: Promise<Channel>;
  #closed = false;

  constructor(
    private readonly conn: Connection,
    private readonly log: RpcLogger,
    private readonly name: string,
    private readonly init: (ch: Channel) => Promise<void>,
    private readonly onClose?: (ch: Channel) => void,
  ) {}

  get(): Promise<Channel> {
    if (this.#closed) return Promise.reject(new Error('the RPC transport is closed'));
    if (this.#ch?.active) return Promise.resolve(this.#ch);
    this.#setup ??= this.#open().finally(() => {
      this.#setup = undefined;
    });
    return this.#setup;
  }

  async #open(): Promise<Channel> {
    const ch = await this.conn.acquire({ emitErrorsFromChannel: true });
    ch.on('error', (err: unknown) => this.log.warn({ err: errText(err) }, `RPC ${this.name} channel error`));
    ch.on('basic.return', (m) => {
      if (m.messageId) this.#returned.add(m.messageId);
    });
    ch.once('close', () => {
      if (this.#ch === ch) this.#ch = undefined;
      this.onClose?.(ch);
    });
    try {
      await this.init(ch);
      if (this.#closed) throw new Error('the RPC transport is closed');
    } catch (err) {
      await ch.close().catch(() => undefined);
      throw err;
    }
    this.#ch = ch;
    return ch;
  }

  /**
   * Whether the broker returned this mandatory message as unroutable. Call after the publish was
   * confirmed: the broker sends basic.return before the ack, and rabbitmq-client emits the return on
   * setImmediate, so one more turn of the event loop lets it land first.
   */
  async wasReturned(messageId: string): Promise<boolean> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    return this.#returned.delete(messageId);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#setup?.catch(() => undefined);
    await this.#ch?.close().catch(() => undefined);
  }
}

function decodeJson(body: unknown): unknown {
  if (Buffer.isBuffer(body)) return JSON.parse(body.toString('utf8'));
  if (typeof body === 'string') return JSON.parse(body);
  return body;
}

function decodeRequest(body: unknown): RpcRequest {
  const v = decodeJson(body) as Partial<RpcRequest> | null;
  if (!v || typeof v !== 'object' || typeof v.method !== 'string') throw new Error('no method');
  return { method: v.method, context: v.context ?? {}, args: v.args ?? {} };
}

function decodeReply(body: unknown): RpcReply {
  const v = decodeJson(body) as RpcReply | null;
  if (!v || typeof v !== 'object' || typeof v.ok !== 'boolean') throw new Error('not an RpcReply');
  if (!v.ok && (!v.error || typeof v.error.code !== 'string' || typeof v.error.status !== 'number')) {
    throw new Error('RpcReply without a usable error');
  }
  return v;
}

function errText(err: unknown): string {
  if (err === undefined || err === null) return '';
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return code && typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
