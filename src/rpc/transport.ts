// The RPC transport: how the API reaches the conductors. Two implementations share this interface:
// amqp.ts (RabbitMQ; many API and conductor processes) and in-process.ts (the all-in-one).
//
// Semantics, as oslo.messaging gives Magnum:
// - cast: fire and forget; one of the servers consuming the topic gets the message. The message is
//   acknowledged only after the handler settles, so a server that dies mid-handling leaves it to
//   be redelivered to another one.
// - call: one server handles it and the caller gets the handler's result, or its MagnumError
//   (same class name, status and message), or a 504 MagnumError when no reply comes in time, or a
//   503 MagnumError when the broker cannot be reached (at once, or within a couple of seconds, when
//   the connection to it is known to be down). Never a hang.

import type { WireError } from '../common/errors.ts';

export interface RpcRequest {
  method: string;
  /** The caller's RequestContext, as plain JSON. */
  context: Record<string, unknown>;
  args: Record<string, unknown>;
}

export type RpcHandler = (req: RpcRequest) => Promise<unknown>;

export interface RpcServerOptions {
  topic: string;
  /** Messages handled at once by this server (the AMQP prefetch). */
  concurrency: number;
}

export interface RpcServer {
  /** Stop consuming; waits for handlers that are running to settle. */
  stop(): Promise<void>;
}

export interface RpcTransport {
  call<T = unknown>(topic: string, req: RpcRequest, opts?: { timeoutMs?: number }): Promise<T>;
  /** `timeoutMs` bounds how long the send may wait for the broker (then a 503 MagnumError). */
  cast(topic: string, req: RpcRequest, opts?: { timeoutMs?: number }): Promise<void>;
  serve(handler: RpcHandler, opts: RpcServerOptions): Promise<RpcServer>;
  close(): Promise<void>;
}

/** What a call's reply carries on the wire. */
export type RpcReply = { ok: true; result: unknown } | { ok: false; error: WireError };
