// Private instances of PostgreSQL, MariaDB and RabbitMQ for tests that stop, restart or freeze their
// database or broker: each runs from its own temporary directory on its own free port, so the
// machine's shared services (the ones scripts/setup-services.sh started) are never touched. Every
// instance is stopped and its directory removed by destroy() (and, for the processes, by the
// registry of test/helpers/processes.ts should a test die first).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, runCommand, spawnProcess, tempDir, type ManagedProcess } from './processes.ts';

const isRoot = process.getuid?.() === 0;

function userIds(name: string): { uid: number; gid: number } {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === name) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  throw new Error(`no user ${name} on this machine`);
}

/** A command as `user` when we are root (the servers refuse to run as root), else as ourselves. */
function as(user: string, cmd: string, args: string[]): [string, string[]] {
  return isRoot ? ['runuser', ['-u', user, '--', cmd, ...args]] : [cmd, args];
}

async function must(what: string, cmd: string, args: string[], opts: { env?: Record<string, string>; timeoutMs?: number; input?: string } = {}): Promise<string> {
  const r = await runCommand(cmd, args, { env: opts.env ?? { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' }, timeoutMs: opts.timeoutMs ?? 60_000, input: opts.input });
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** Pids of a process and all its descendants. */
function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      /* gone meanwhile */
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

function signalTree(pid: number, sig: NodeJS.Signals): void {
  for (const p of processTree(pid)) {
    try {
      process.kill(p, sig);
    } catch {
      /* gone */
    }
  }
}

export interface PrivateService {
  /** Magnum's URL for it (with the password of a user made for the test). */
  readonly url: string;
  /** The password in `url`: tests check that no log shows it. */
  readonly password: string;
  readonly port: number;
  start(): Promise<void>;
  /** A clean but abrupt stop (PostgreSQL: pg_ctl stop -m fast; MariaDB, RabbitMQ: shutdown). */
  stop(): Promise<void>;
  /** Freeze every process of the server (SIGSTOP): connections stay open and nothing answers. */
  freeze(): void;
  thaw(): void;
  destroy(): Promise<void>;
}

/** freeze, thaw and destroy of a server that runs as one spawned process (and its children). */
function processControls(current: () => ManagedProcess | null): Pick<PrivateService, 'freeze' | 'thaw' | 'destroy'> {
  let frozen = false;
  const signal = (sig: NodeJS.Signals) => {
    const s = current();
    if (s?.running) signalTree(s.pid, sig);
  };
  return {
    freeze: () => {
      signal('SIGSTOP');
      frozen = true;
    },
    thaw: () => {
      signal('SIGCONT');
      frozen = false;
    },
    destroy: async () => {
      if (frozen) signal('SIGCONT');
      await current()?.stop(30_000);
    },
  };
}

// ---- PostgreSQL --------------------------------------------------------------------------------

function postgresBin(): string {
  const versions = readdirSync('/usr/lib/postgresql').filter((v) => existsSync(`/usr/lib/postgresql/${v}/bin/initdb`)).sort((a, b) => Number(b) - Number(a));
  if (!versions.length) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (apt-get install postgresql)');
  return `/usr/lib/postgresql/${versions[0]}/bin`;
}

export async function startPrivatePostgres(): Promise<PrivateService> {
  const bin = postgresBin();
  const dir = tempDir('magnum-private-pg-');
  const data = join(dir, 'data');
  if (isRoot) {
    const { uid, gid } = userIds('postgres');
    chownSync(dir, uid, gid);
  }
  const port = await freePort();
  const password = `pg-${randomBytes(9).toString('hex')}`;
  await must('initdb', ...as('postgres', `${bin}/initdb`, ['-D', data, '-U', 'postgres', '-A', 'trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync']));
  const pgCtl = (...args: string[]) => must(`pg_ctl ${args[0]}`, ...as('postgres', `${bin}/pg_ctl`, ['-D', data, ...args]), { timeoutMs: 90_000 });
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
  const start = async () => {
    await pgCtl('start', '-w', '-t', '60', '-l', join(dir, 'postgres.log'), '-o', options);
  };
  await start();
  // pg_ctl daemonizes the server, out of reach of the process registry: a test run that is
  // interrupted (SIGTERM, SIGINT end in process.exit) still stops it.
  const stopAtExit = () => {
    if (!existsSync(join(data, 'postmaster.pid'))) return;
    const [cmd, args] = as('postgres', `${bin}/pg_ctl`, ['-D', data, '-m', 'immediate', '-w', 'stop']);
    spawnSync(cmd, args, { stdio: 'ignore', timeout: 30_000 });
  };
  process.on('exit', stopAtExit);
  const psql = (sql: string) => must('psql', ...as('postgres', `${bin}/psql`, ['-h', dir, '-p', String(port), '-U', 'postgres', '-v', 'ON_ERROR_STOP=1', '-c', sql]));
  await psql(`CREATE ROLE magnum LOGIN PASSWORD '${password}'`);
  await psql('CREATE DATABASE magnum OWNER magnum');
  const postmaster = () => Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  let frozen: number | null = null;
  return {
    url: `postgresql://magnum:${password}@127.0.0.1:${port}/magnum`,
    password,
    port,
    start,
    stop: async () => {
      await pgCtl('stop', '-m', 'fast', '-w', '-t', '60');
    },
    freeze: () => {
      frozen = postmaster();
      signalTree(frozen, 'SIGSTOP');
    },
    thaw: () => {
      if (frozen !== null) signalTree(frozen, 'SIGCONT');
      frozen = null;
    },
    destroy: async () => {
      process.off('exit', stopAtExit);
      if (frozen !== null) signalTree(frozen, 'SIGCONT');
      if (existsSync(join(data, 'postmaster.pid'))) await pgCtl('stop', '-m', 'immediate', '-w', '-t', '60').catch(() => undefined);
    },
  };
}

// ---- MariaDB -----------------------------------------------------------------------------------

export async function startPrivateMariadb(): Promise<PrivateService> {
  const dir = tempDir('magnum-private-mariadb-');
  const data = join(dir, 'data');
  const socket = join(dir, 'mariadb.sock');
  if (isRoot) {
    const { uid, gid } = userIds('mysql');
    chownSync(dir, uid, gid);
  }
  const port = await freePort();
  const password = `my-${randomBytes(9).toString('hex')}`;
  await must('mariadb-install-db', 'mariadb-install-db', [
    '--no-defaults', `--datadir=${data}`, ...(isRoot ? ['--user=mysql'] : []), '--auth-root-authentication-method=socket',
    '--skip-test-db', '--skip-name-resolve',
  ], { timeoutMs: 120_000 });
  let server: ManagedProcess | null = null;
  const start = async () => {
    server = await spawnProcess('/usr/sbin/mariadbd', {
      name: `mariadbd-${port}`,
      logDir: dir,
      args: [
        '--no-defaults', `--datadir=${data}`, `--socket=${socket}`, `--port=${port}`, '--bind-address=127.0.0.1',
        `--pid-file=${join(dir, 'mariadbd.pid')}`, ...(isRoot ? ['--user=mysql'] : []), '--skip-name-resolve', '--skip-log-bin',
        '--innodb-buffer-pool-size=64M', '--innodb-flush-log-at-trx-commit=0', '--max-connections=300', '--performance-schema=OFF',
      ],
    });
    const until = Date.now() + 60_000;
    for (;;) {
      const r = await runCommand('mariadb-admin', ['--no-defaults', `--socket=${socket}`, '-uroot', 'ping'], { timeoutMs: 10_000 });
      if (r.code === 0) break;
      if (!server.running || Date.now() > until) throw new Error(`private MariaDB did not start: ${server.logTail()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  await start();
  await must('mariadb', 'mariadb', ['--no-defaults', `--socket=${socket}`, '-uroot', '-e',
    `CREATE DATABASE magnum CHARACTER SET utf8mb4; CREATE USER 'magnum'@'127.0.0.1' IDENTIFIED BY '${password}'; GRANT ALL ON magnum.* TO 'magnum'@'127.0.0.1';`]);
  return {
    url: `mysql+pymysql://magnum:${password}@127.0.0.1:${port}/magnum`,
    password,
    port,
    start,
    stop: async () => {
      const s = server;
      if (!s?.running) return;
      // SIGTERM is MariaDB's shutdown: it closes every connection and exits.
      const exit = await s.stop(60_000);
      if (exit.code !== 0 && exit.signal !== 'SIGTERM') throw new Error(`private MariaDB stopped with ${JSON.stringify(exit)}`);
    },
    ...processControls(() => server),
  };
}

// ---- RabbitMQ ----------------------------------------------------------------------------------

/** A RabbitMQ node of its own (name, ports, data, cookie), beside the shared broker. */
export async function startPrivateRabbitmq(): Promise<PrivateService> {
  const dir = tempDir('magnum-private-rabbit-');
  const port = await freePort();
  const distPort = await freePort();
  const node = `magnum-fault-${randomBytes(4).toString('hex')}@localhost`;
  const password = `mq-${randomBytes(9).toString('hex')}`;
  writeFileSync(join(dir, 'rabbitmq-env.conf'), '# empty: everything is in the environment\n');
  writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
  writeFileSync(join(dir, 'rabbitmq.conf'), ['loopback_users = none', 'log.console = true', 'log.console.level = warning', 'log.file = false'].join('\n') + '\n');
  writeFileSync(join(dir, '.erlang.cookie'), randomBytes(16).toString('hex').toUpperCase());
  chmodSync(join(dir, '.erlang.cookie'), 0o400);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    LANG: 'C.UTF-8',
    HOME: dir,
    RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_PID_FILE: join(dir, 'rabbitmq.pid'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq'),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
    RABBITMQ_CTL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
  };
  const ctl = (...args: string[]) => must(`rabbitmqctl ${args[0]}`, '/usr/lib/rabbitmq/bin/rabbitmqctl', ['-n', node, ...args], { env, timeoutMs: 120_000 });
  let server: ManagedProcess | null = null;
  const start = async () => {
    server = await spawnProcess('/usr/lib/rabbitmq/bin/rabbitmq-server', { name: `rabbitmq-${port}`, logDir: dir, env, cwd: dir });
    await ctl('wait', join(dir, 'rabbitmq.pid'), '--timeout', '90');
  };
  await start();
  await ctl('add_user', 'magnum', password);
  await ctl('set_permissions', '-p', '/', 'magnum', '.*', '.*', '.*');
  return {
    url: `rabbit://magnum:${password}@127.0.0.1:${port}/`,
    password,
    port,
    start,
    stop: async () => {
      // SIGTERM: the VM shuts the broker down cleanly (as `rabbitmqctl shutdown` does).
      if (server?.running) await server.stop(30_000);
    },
    ...processControls(() => server),
  };
}
