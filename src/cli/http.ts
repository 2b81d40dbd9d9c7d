// The one place `coe` talks HTTP: undici with the TLS settings of --os-cacert / --insecure, and
// --debug lines (method, URL, status, time, request id; never a token or a body).
import { readFileSync } from 'node:fs';
import { Agent, fetch } from 'undici';
import { CommandError, UsageError } from './errors.ts';

export interface HttpResponse {
  status: number;
  headers: Headers;
  text: string;
}

export interface HttpOptions {
  cacert?: string;
  insecure?: boolean;
  debug?: (line: string) => void;
  timeoutMs?: number;
}

export class Http {
  readonly #agent: Agent;
  readonly #debug: ((line: string) => void) | undefined;
  readonly #timeoutMs: number;

  constructor(opts: HttpOptions = {}) {
    let ca: string | undefined;
    if (opts.cacert) {
      try {
        ca = readFileSync(opts.cacert, 'utf8');
      } catch (err) {
        throw new UsageError(`--os-cacert ${opts.cacert}: ${(err as Error).message}`);
      }
    }
    this.#agent = new Agent({ connect: { ca, rejectUnauthorized: !opts.insecure }, keepAliveTimeout: 10_000 });
    this.#debug = opts.debug;
    this.#timeoutMs = opts.timeoutMs ?? 120_000;
  }

  async send(method: string, url: string, init: { headers?: Record<string, string>; body?: string } = {}): Promise<HttpResponse> {
    const t0 = Date.now();
    let res;
    try {
      res = await fetch(url, { method, headers: init.headers, body: init.body, dispatcher: this.#agent, signal: AbortSignal.timeout(this.#timeoutMs) });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const why = e.name === 'TimeoutError' ? `no answer within ${this.#timeoutMs / 1000} s` : e.cause?.code ?? e.cause?.message ?? e.message;
      this.#debug?.(`${method} ${url} -> ${why}`);
      throw new CommandError(`Unable to establish connection to ${url}: ${why}`);
    }
    const text = await res.text();
    this.#debug?.(`${method} ${url} -> ${res.status} (${Date.now() - t0} ms)${res.headers.get('x-openstack-request-id') ? ` ${res.headers.get('x-openstack-request-id')}` : ''}`);
    return { status: res.status, headers: res.headers as unknown as Headers, text };
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}
