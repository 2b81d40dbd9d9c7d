// Real processes for acceptance tests: spawn any project launcher (bin/magnum-all-in-one,
// bin/magnum-api, bin/magnum-conductor, …) with its output captured to a log file, wait until it
// answers HTTP, stop it gracefully or with SIGKILL; and run the real `openstack` CLI with an
// explicit OS_* environment (the developer's own OS_* variables are never inherited).
//
// Every spawned process is kept in a registry and killed by a root-level `after` hook (registered
// when this module is imported by a test file), by the process `exit` event and on SIGINT/SIGTERM,
// so a failing or interrupted test does not leave servers behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { ROOT } from './env.ts';

// ---------------------------------------------------------------------------------------------
// Registry and cleanup

const live = new Set<ManagedProcess>();
const spawned: ManagedProcess[] = [];
const tempDirs = new Set<string>();

/** Stops every process still running (SIGTERM, then SIGKILL after `graceMs`). */
export async function stopAll(graceMs = 5_000): Promise<void> {
  await Promise.all([...live].map((p) => p.stop(graceMs).catch(() => undefined)));
}

after(async () => {
  await stopAll();
  // A process that died on its own (or did not exit cleanly when stopped) shows its log here,
  // before the temporary directories holding the logs go away.
  for (const p of spawned) {
    if (p.exitedCleanly) continue;
    process.stderr.write(`[processes] ${p.name} (pid ${p.pid}) ${p.stopRequested ? 'did not stop cleanly' : 'exited on its own'}: ${JSON.stringify(p.exitInfo)}; last lines of ${p.logFile}:\n${p.logTail()}\n`);
  }
  if (!process.env.MAGNUM_TEST_KEEP_TMP) for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

process.on('exit', () => {
  for (const p of live) p.kill9Sync();
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    for (const p of live) p.kill9Sync();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  });
}

/** A fresh temporary directory, removed after the tests (kept when MAGNUM_TEST_KEEP_TMP is set). */
export function tempDir(prefix = 'magnum-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

/** A TCP port that was free a moment ago (listen on port 0, read it, close). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('could not get a free port'))));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Spawning

export interface SpawnOptions {
  /** Arguments after the executable. */
  args?: string[];
  /** Extra environment; merged over a minimal base (PATH, HOME, LANG, TMPDIR, NODE_OPTIONS-free). */
  env?: Record<string, string | undefined>;
  /** Inherit the whole parent environment under `env` (default false: minimal base only). */
  inheritEnv?: boolean;
  cwd?: string;
  /** Label for logs and errors; default the executable's base name. */
  name?: string;
  /** Directory of the log file; default a fresh temp dir. */
  logDir?: string;
  /** When set, spawnProcess() resolves only once GET `readyPath` on this port answers. */
  port?: number;
  host?: string;
  readyPath?: string;
  readyTimeoutMs?: number;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  readonly port: number | undefined;
  readonly host: string;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  #exit: ExitInfo | null = null;
  #stopRequested = false;
  #killed = false;

  constructor(name: string, child: ChildProcess, logFile: string, port: number | undefined, host: string) {
    this.name = name;
    this.child = child;
    this.logFile = logFile;
    this.port = port;
    this.host = host;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        live.delete(this);
        resolve(this.#exit);
      });
      child.once('error', () => {
        this.#exit ??= { code: null, signal: null };
        live.delete(this);
        resolve(this.#exit);
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** http://host:port (no trailing slash); throws when spawned without a port. */
  get url(): string {
    if (this.port === undefined) throw new Error(`${this.name} was spawned without a port`);
    return `http://${this.host}:${this.port}`;
  }

  get running(): boolean {
    return this.#exit === null;
  }

  get exitInfo(): ExitInfo | null {
    return this.#exit;
  }

  /** stop() or kill9() was called. */
  get stopRequested(): boolean {
    return this.#stopRequested;
  }

  /** Still running, or exited as asked: code 0 after stop(), or killed by kill9(). */
  get exitedCleanly(): boolean {
    if (!this.#exit) return true;
    if (this.#killed) return true;
    return this.#stopRequested && (this.#exit.code === 0 || this.#exit.signal === 'SIGTERM');
  }

  /** Everything the process wrote to stdout and stderr so far. */
  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** The last `lines` lines of the log, for error messages. */
  logTail(lines = 40): string {
    return this.log().split('\n').slice(-lines).join('\n');
  }

  #signal(sig: NodeJS.Signals): void {
    if (!this.running || !this.child.pid) return;
    try {
      process.kill(-this.child.pid, sig); // the whole process group (launcher scripts, workers)
    } catch {
      try {
        this.child.kill(sig);
      } catch {
        /* already gone */
      }
    }
  }

  /** SIGTERM, then SIGKILL when still running after `graceMs`. Resolves with the exit info. */
  async stop(graceMs = 10_000): Promise<ExitInfo> {
    if (!this.running) return this.#exit!;
    this.#stopRequested = true;
    this.#signal('SIGTERM');
    const timer = setTimeout(() => this.#signal('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL (a crash, as far as the process can tell); resolves when it has exited. */
  async kill9(): Promise<ExitInfo> {
    this.#stopRequested = this.#killed = true;
    this.#signal('SIGKILL');
    return this.exited;
  }

  /** Synchronous SIGKILL for exit handlers. */
  kill9Sync(): void {
    this.#signal('SIGKILL');
  }

  /** Polls GET `path` until any HTTP answer; fails early (with the log tail) if the process exits. */
  async waitReady(path = '/', timeoutMs = 20_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) {
        throw new Error(`${this.name} exited (${JSON.stringify(this.#exit)}) before listening; log ${this.logFile}:\n${this.logTail()}`);
      }
      try {
        const res = await fetch(`${this.url}${path}`, { signal: AbortSignal.timeout(1_000) });
        await res.arrayBuffer();
        return;
      } catch {
        /* not yet */
      }
      if (Date.now() > until) {
        throw new Error(`${this.name} did not answer GET ${path} on ${this.url} within ${timeoutMs} ms; log ${this.logFile}:\n${this.logTail()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function baseEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TMPDIR', 'TZ', 'USER', 'http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY']) {
    const v = process.env[k];
    if (v !== undefined) out[k] = v;
  }
  const noProxy = ['127.0.0.1', 'localhost', process.env.no_proxy ?? process.env.NO_PROXY].filter(Boolean).join(',');
  out.no_proxy = out.NO_PROXY = noProxy;
  return out;
}

/**
 * Spawns `command` (a path relative to the repository root such as `bin/magnum-all-in-one`, or
 * an absolute path / command on PATH) in its own process group, with stdout and stderr appended to
 * `<logDir>/<name>.log`. With `port`, resolves once it answers HTTP there.
 */
export async function spawnProcess(command: string, opts: SpawnOptions = {}): Promise<ManagedProcess> {
  const exe = /^(bin|scripts)\//.test(command) ? join(ROOT, command) : command;
  const name = opts.name ?? command.split('/').pop()!;
  const logDir = opts.logDir ?? tempDir(`${name}-`);
  const logFile = join(logDir, `${name}.log`);
  const fd = openSync(logFile, 'a');
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...(opts.inheritEnv ? process.env : baseEnv()), ...opts.env })) if (v !== undefined) env[k] = v;
  let child: ChildProcess;
  try {
    child = spawn(exe, opts.args ?? [], { cwd: opts.cwd ?? ROOT, env, stdio: ['ignore', fd, fd], detached: true });
  } finally {
    closeSync(fd);
  }
  const p = new ManagedProcess(name, child, logFile, opts.port, opts.host ?? '127.0.0.1');
  live.add(p);
  spawned.push(p);
  if (opts.port !== undefined) {
    try {
      await p.waitReady(opts.readyPath ?? '/', opts.readyTimeoutMs);
    } catch (err) {
      await p.kill9();
      throw err;
    }
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// Running commands and the openstack CLI

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON, or undefined when it is not JSON. */
  json: any;
}

/**
 * stdout as JSON: the whole text, or else the text from the first line that starts with `{` or `[`
 * (some commands print a message line before the JSON, e.g. `coe cluster template create -f json`
 * prints "Request to create cluster template X accepted" first). undefined when not JSON.
 */
export function parseJsonOutput(stdout: string): any {
  const lines = stdout.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^[[{]/.test(lines[i])) continue;
    try {
      return JSON.parse(lines.slice(i).join('\n'));
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Runs a command to completion (never rejects on a non-zero exit). */
export function runCommand(command: string, args: string[], opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: opts.cwd ?? ROOT, env: opts.env ?? baseEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, json: parseJsonOutput(stdout) });
    });
    child.stdin!.on('error', () => undefined); // a child that exits without reading its input
    child.stdin!.end(opts.input ?? '');
  });
}

export interface OpenstackCredentials {
  authUrl: string;
  username: string;
  password: string;
  projectName: string;
  userDomainName?: string;
  projectDomainName?: string;
  regionName?: string;
  interface?: string;
}

/** The complete OS_* environment of one user (nothing inherited from the caller's shell). */
export function openstackEnv(c: OpenstackCredentials, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...baseEnv(),
    SHELL: '/bin/bash', // python-magnumclient reads os.environ['SHELL'] without a default
    PYTHONWARNINGS: 'ignore',
    OS_AUTH_URL: c.authUrl,
    OS_USERNAME: c.username,
    OS_PASSWORD: c.password,
    OS_PROJECT_NAME: c.projectName,
    OS_USER_DOMAIN_NAME: c.userDomainName ?? 'Default',
    OS_PROJECT_DOMAIN_NAME: c.projectDomainName ?? 'Default',
    OS_IDENTITY_API_VERSION: '3',
    OS_REGION_NAME: c.regionName ?? 'RegionOne',
    OS_INTERFACE: c.interface ?? 'public',
    ...extra,
  };
}

/**
 * Runs `openstack <args>` as the given user. Pass `-f json` in `args` for show/list commands
 * (`json` is then the parsed output); commands that print text (`coe cluster create`, …) leave
 * `json` undefined. `env` is either credentials or a full environment from openstackEnv().
 * MAGNUM_TEST_TRACE_CLI=1 logs each call's duration on stderr.
 */
export async function runOpenstack(args: string[], env: OpenstackCredentials | Record<string, string>, opts: { timeoutMs?: number } = {}): Promise<RunResult> {
  const full = 'authUrl' in env && typeof env.authUrl === 'string' ? openstackEnv(env as OpenstackCredentials) : (env as Record<string, string>);
  for (let attempt = 0; ; attempt++) {
    const t0 = Date.now();
    const r = await runCommand('openstack', args, { env: full, timeoutMs: opts.timeoutMs ?? 60_000 });
    if (process.env.MAGNUM_TEST_TRACE_CLI) process.stderr.write(`[openstack] ${((Date.now() - t0) / 1000).toFixed(2)}s exit ${r.code} (${full.OS_USERNAME}) ${args.join(' ')}\n`);
    // The client's token request found its connection to Keystone closed without an answer (seen
    // once in a full run, uwsgi logging nothing): nothing reached Magnum yet, so it is asked again.
    if (r.code === 0 || attempt >= 2 || !KEYSTONE_DROPPED.test(r.stderr)) return r;
    await new Promise((res) => setTimeout(res, 300));
  }
}
const KEYSTONE_DROPPED = /Unable to establish connection to \S+\/v3\/auth\/tokens: \('Connection aborted\.', RemoteDisconnected/;
