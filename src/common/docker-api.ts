// The Docker Engine API over HTTP, for calls on a hot path where spawning the docker CLI (a Go
// process per call, tens of milliseconds each on a loaded machine) is most of the cost: the
// infrastructure provider's host engine (unix socket, or TCP with TLS) and the swarm-mode driver's
// node engines (TCP with the cluster's client certificate). Plain node:http/https; one connection
// per request (nothing kept open, nothing to close). Answers are JSON or, for exec, Docker's
// multiplexed stream.
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface DockerApiTls {
  ca: string | Buffer;
  cert: string | Buffer;
  key: string | Buffer;
}

export interface DockerApiResponse {
  status: number;
  body: Buffer;
}

export interface DockerApiCall {
  /** A JSON body (sent as application/json), or raw bytes with their content type. */
  json?: unknown;
  raw?: { data: Buffer; contentType: string };
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** The engine did not answer at all (connection refused, no route, TLS refused): not an HTTP error. */
export class DockerApiUnreachable extends Error {
  override name = 'DockerApiUnreachable';
}

/** The engine took the request but gave no full answer in time (e.g. a command run in a container that hangs). */
export class DockerApiTimeout extends Error {
  override name = 'DockerApiTimeout';
}

export class DockerApi {
  readonly endpoint: string;
  readonly #base: RequestOptions;
  readonly #tls: DockerApiTls | null;

  /** endpoint: unix:///path/to/docker.sock or tcp://host:port (https when tls is given). */
  constructor(endpoint: string, tls: DockerApiTls | null = null) {
    this.endpoint = endpoint;
    this.#tls = tls;
    if (endpoint.startsWith('unix://')) this.#base = { socketPath: endpoint.slice('unix://'.length) };
    else {
      const m = /^(?:tcp|https?):\/\/\[?([^\]/]+?)\]?:(\d+)\/?$/.exec(endpoint);
      if (!m) throw new Error(`not a Docker endpoint: ${endpoint}`);
      this.#base = { host: m[1], port: Number(m[2]) };
    }
  }

  request(method: string, path: string, call: DockerApiCall = {}): Promise<DockerApiResponse> {
    const body = call.json !== undefined ? Buffer.from(JSON.stringify(call.json)) : call.raw?.data;
    // Over a unix socket the Host header is any name; over TCP Node's own (host:port) is kept, as
    // https checks the engine's certificate against the name in it.
    const headers: Record<string, string | number> = this.#base.socketPath ? { host: 'docker' } : {};
    if (body) {
      headers['content-type'] = call.json !== undefined ? 'application/json' : call.raw!.contentType;
      headers['content-length'] = body.length;
    }
    const opts: RequestOptions = { ...this.#base, method, path, headers, agent: false, signal: call.signal };
    return new Promise((resolve, reject) => {
      const req = this.#tls
        ? httpsRequest({ ...opts, ca: this.#tls.ca, cert: this.#tls.cert, key: this.#tls.key })
        : httpRequest(opts);
      const timer = setTimeout(() => req.destroy(new DockerApiTimeout(`${method} ${path} on ${this.endpoint}: no answer within ${call.timeoutMs ?? 60_000} ms`)), call.timeoutMs ?? 60_000);
      req.once('response', (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('error', (e) => { clearTimeout(timer); reject(e); });
        res.once('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) });
        });
      });
      req.once('error', (e: Error & { code?: string }) => {
        clearTimeout(timer);
        if (e.name === 'AbortError' || e instanceof DockerApiTimeout) return reject(e);
        // Refused, missing socket, reset, TLS failure: the engine cannot be talked to.
        reject(new DockerApiUnreachable(`${method} ${path} on ${this.endpoint}: ${e.code ?? ''} ${e.message}`.trim()));
      });
      req.end(body);
    });
  }

  /** The JSON answer of a 2xx (or 304: nothing to do); null on 404 when allowed; else an error with the daemon's message. */
  async json<T>(method: string, path: string, call: DockerApiCall & { notFound?: 'null' } = {}): Promise<T | null> {
    const r = await this.request(method, path, call);
    if (r.status === 404 && call.notFound === 'null') return null;
    if ((r.status < 200 || r.status >= 300) && r.status !== 304) throw new DockerApiError(r.status, `${method} ${path}: ${daemonError(r)}`);
    return r.body.length ? JSON.parse(r.body.toString('utf8')) as T : ({} as T);
  }

  /** Runs a command in a container (no standard input) and returns its exit code and output. */
  async exec(container: string, cmd: string[], call: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const created = await this.json<{ Id: string }>('POST', `/containers/${encodeURIComponent(container)}/exec`, {
      json: { AttachStdout: true, AttachStderr: true, Cmd: cmd }, ...call,
    });
    const id = created!.Id;
    const started = await this.request('POST', `/exec/${id}/start`, { json: { Detach: false, Tty: false }, ...call });
    if (started.status !== 200) throw new DockerApiError(started.status, `exec in ${container}: ${daemonError(started)}`);
    const { stdout, stderr } = demultiplex(started.body);
    const state = await this.json<{ ExitCode: number | null; Running: boolean }>('GET', `/exec/${id}/json`, call);
    return { exitCode: state!.ExitCode ?? -1, stdout, stderr };
  }
}

export class DockerApiError extends Error {
  override name = 'DockerApiError';
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** The daemon's message of an error answer ({"message": ...}), or its body. */
export function daemonError(r: DockerApiResponse): string {
  const text = r.body.toString('utf8').trim();
  try {
    const m = (JSON.parse(text) as { message?: unknown }).message;
    if (typeof m === 'string') return m;
  } catch { /* not JSON */ }
  return text || `HTTP ${r.status}`;
}

/** Docker's multiplexed stream (8-byte frame headers: stream 1 stdout, 2 stderr, then a big-endian length). */
export function demultiplex(buf: Buffer): { stdout: string; stderr: string } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const len = buf.readUInt32BE(i + 4);
    const frame = buf.subarray(i + 8, i + 8 + len);
    (buf[i] === 2 ? err : out).push(frame);
    i += 8 + len;
  }
  return { stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}

/** A tar archive (ustar) of regular files, with their parent directories, for PUT /containers/{id}/archive at "/". */
export function tarFiles(files: readonly { path: string; content: string | Buffer; mode: number }[]): Buffer {
  const blocks: Buffer[] = [];
  const dirs = new Set<string>();
  const header = (name: string, size: number, mode: number, type: '0' | '5') => {
    if (Buffer.byteLength(name) > 100) throw new Error(`path too long for the archive: ${name}`);
    const h = Buffer.alloc(512);
    h.write(name, 0, 100, 'utf8');
    h.write(`${mode.toString(8).padStart(7, '0')}\0`, 100, 8, 'ascii');
    h.write('0000000\0', 108, 8, 'ascii'); // uid root
    h.write('0000000\0', 116, 8, 'ascii'); // gid root
    h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 12, 'ascii');
    h.write(`${Math.floor(Date.now() / 1000).toString(8).padStart(11, '0')}\0`, 136, 12, 'ascii');
    h.write('        ', 148, 8, 'ascii');
    h.write(type, 156, 1, 'ascii');
    h.write('ustar\0', 257, 6, 'ascii');
    h.write('00', 263, 2, 'ascii');
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
    blocks.push(h);
  };
  for (const f of files) {
    const rel = f.path.replace(/^\/+/, '');
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const d = `${parts.slice(0, i).join('/')}/`;
      if (!dirs.has(d)) {
        dirs.add(d);
        header(d, 0, 0o755, '5');
      }
    }
    const data = Buffer.isBuffer(f.content) ? f.content : Buffer.from(f.content);
    header(rel, data.length, f.mode, '0');
    blocks.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}
