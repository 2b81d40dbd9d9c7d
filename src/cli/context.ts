// What every command needs: where to write, the global options, and (made on first use) the
// HTTP client, the session and the API client. Commands receive it; they never read
// process.stdout or process.env themselves, so tests can run them with their own streams.
import type { Command } from 'commander';
import { ApiClient } from './api-client.ts';
import { resolveAuthSettings, type AuthOptions } from './auth/settings.ts';
import { TokenCache, defaultCachePath } from './auth/token-cache.ts';
import { Http } from './http.ts';
import type { Writer } from './output.ts';
import { Session } from './session.ts';
import type { WaitSettings } from './wait.ts';

export interface Io {
  stdout: Writer;
  stderr: Writer;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export interface GlobalOptions extends AuthOptions {
  debug?: boolean;
  tokenCache?: boolean;
  httpTimeout?: string;
}

export class CliContext {
  readonly io: Io;
  #http: Http | undefined;
  #api: ApiClient | undefined;

  constructor(io: Io) {
    this.io = io;
  }

  /** The API client, built from the global options of `cmd` on first use. */
  api(cmd: Command): ApiClient {
    if (this.#api) return this.#api;
    const g = cmd.optsWithGlobals() as GlobalOptions;
    const settings = resolveAuthSettings(g, this.io.env, this.io.cwd);
    const debug = g.debug ? (line: string) => this.io.stderr.write(`DEBUG: ${line}\n`) : undefined;
    const timeout = g.httpTimeout !== undefined ? Number(g.httpTimeout) : 120;
    this.#http = new Http({ cacert: settings.cacert, insecure: settings.insecure, debug, timeoutMs: (Number.isFinite(timeout) && timeout > 0 ? timeout : 120) * 1000 });
    const cacheOff = g.tokenCache === false || /^(0|false|no|off)$/i.test(this.io.env.COE_TOKEN_CACHE ?? '');
    const cache = cacheOff ? null : new TokenCache(this.io.env.COE_TOKEN_CACHE_FILE || defaultCachePath(this.io.env));
    this.#api = new ApiClient(new Session(settings, this.#http, cache, debug), this.#http);
    return this.#api;
  }

  /** --wait's settings from a command's options. */
  waitSettings(opts: Record<string, any>): WaitSettings {
    const interval = Number(opts.pollInterval ?? 2);
    const timeout = Number(opts.waitTimeout ?? 0);
    return {
      interval: Number.isFinite(interval) && interval > 0 ? interval : 2,
      timeout: Number.isFinite(timeout) && timeout > 0 ? timeout : 0,
      progress: this.io.stderr,
      result: this.io.stdout,
    };
  }

  async close(): Promise<void> {
    await this.#http?.close();
  }
}
