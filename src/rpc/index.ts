// Picks the RPC transport from Magnum's transport_url.
//   inprocess://                        → the process's one InProcessTransport (API and conductor share it)
//   rabbit://user:pass@host:port/vhost  → AmqpTransport (amqp:// and amqps:// too)

import { AmqpTransport, redactUrl } from './amqp.ts';
import type { RpcLogger } from './amqp.ts';
import { InProcessTransport } from './in-process.ts';
import type { RpcTransport } from './transport.ts';

export { AmqpTransport, parseTransportUrl, redactUrl } from './amqp.ts';
export type { AmqpEndpoint, AmqpTransportOptions, RpcLogger } from './amqp.ts';
export { InProcessTransport } from './in-process.ts';
export type { RpcHandler, RpcReply, RpcRequest, RpcServer, RpcServerOptions, RpcTransport } from './transport.ts';

let shared: InProcessTransport | undefined;

/** The in-process transport of this process: every inprocess:// user gets this same one. */
export function getInProcessTransport(logger?: RpcLogger): InProcessTransport {
  shared ??= new InProcessTransport({ logger });
  return shared;
}

/** Forget the shared in-process transport (tests); the next user gets a fresh one. */
export function resetInProcessTransport(): void {
  shared = undefined;
}

export function createTransport(url: string, logger?: RpcLogger): RpcTransport {
  const scheme = /^\s*([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  switch (scheme) {
    case 'inprocess':
      return getInProcessTransport(logger);
    case 'rabbit':
    case 'amqp':
    case 'amqps':
      return new AmqpTransport({ url, logger });
    default:
      throw new Error(
        `Unsupported transport_url '${redactUrl(url)}': use rabbit://user:pass@host:port/vhost (or amqp://) ` +
          'for RabbitMQ, or inprocess:// when the API and the conductor run in one process.',
      );
  }
}
