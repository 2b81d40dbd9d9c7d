import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createRequire } from 'node:module';
import type SqliteDatabase from 'better-sqlite3';
import { CompiledQuery, Kysely, MysqlDialect, PostgresDialect, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver } from 'kysely';
import type { createPool as CreatePool, Pool as MysqlPool, PoolConnection as MysqlPoolConnection } from 'mysql2';
import type PgModule from 'pg';
import { PgChangeFeed } from './change-feed.ts';
import { currentRequestScope, noteCommit, type RequestGone } from '../../common/request-scope.ts';
import { DEADLOCK_RETRIES, DatabaseUnavailable, RequestAbandoned, deadlockPause, isDatabaseUnavailable, isDeadlock, redactCredentials, unavailableReason } from '../errors.ts';

// Only the database a process uses is loaded (each driver costs 6-17 MB of memory).
const requireDriver = createRequire(import.meta.url);

export type DialectName = 'sqlite' | 'postgres' | 'mysql';

export interface Connection {
  readonly db: Kysely<any>;
  readonly dialect: DialectName;
  /** Values as the driver binds them: better-sqlite3 takes neither booleans nor Dates. */
  bool(v: boolean): boolean | number;
  time(v: Date): Date | string;
  /**
   * Marks a statement text as one to keep prepared: PostgreSQL parses and plans it once per
   * connection (a named statement) instead of at every run. Only for texts built once (a bounded
   * set); SQLite keeps every statement already; MySQL/MariaDB: nothing.
   */
  keepPrepared(sql: string): void;
  /** PostgreSQL: its announcements of changed clusters and templates (change-feed.ts). Others: absent. */
  openChangeFeed?(opts: { onError?: (reason: string) => void; windowMs?: number }): PgChangeFeed;
  destroy(): Promise<void>;
}

export interface ParsedUrl {
  dialect: DialectName;
  /** sqlite: file path or ':memory:'; others: a driver connection string. */
  target: string;
  database?: string;
}

/** Magnum's SQLAlchemy URLs: sqlite:///rel/path, sqlite:////abs/path, postgresql[+driver]://, mysql[+pymysql]://. */
export function parseDatabaseUrl(url: string): ParsedUrl {
  const m = /^([a-z0-9]+)(?:\+[a-z0-9]+)?:\/\/(.*)$/i.exec(url.trim());
  if (!m) throw new Error(`[database] connection: not a database URL: ${redactCredentials(url)}`);
  const scheme = m[1].toLowerCase();
  const rest = m[2];
  if (scheme === 'sqlite') {
    if (rest === '' || rest === '/' || rest === '/:memory:') return { dialect: 'sqlite', target: ':memory:' };
    // After "sqlite://", one more slash then the path: "/rel" -> rel, "//abs" -> /abs.
    return { dialect: 'sqlite', target: rest.startsWith('/') ? rest.slice(1) : rest };
  }
  let u: URL;
  try {
    u = new URL(`${scheme}://${rest}`);
  } catch {
    // Node's own error carries the URL, password included, as `input`: never let it reach a log.
    throw new Error(`[database] connection: not a valid URL: ${redactCredentials(url)}`);
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (scheme === 'postgresql' || scheme === 'postgres') {
    u.protocol = 'postgresql:';
    return { dialect: 'postgres', target: u.toString(), database };
  }
  if (scheme === 'mysql' || scheme === 'mariadb') {
    u.protocol = 'mysql:';
    u.search = '';
    return { dialect: 'mysql', target: u.toString(), database };
  }
  throw new Error(`[database] connection: unsupported database ${scheme} (use sqlite, postgresql or mysql)`);
}

/**
 * SQLite transactions BEGIN IMMEDIATE: they take the write lock up front, so a writer in another
 * process waits (busy_timeout) instead of failing a read-then-write with SQLITE_BUSY(_SNAPSHOT).
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: ConstructorParameters<typeof SqliteDialect>[0];
  constructor(config: ConstructorParameters<typeof SqliteDialect>[0]) {
    super(config);
    this.#config = config;
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config);
  }
}

export interface ConnectOptions {
  poolSize?: number;
  baseDir?: string;
  /**
   * Seconds a statement may wait for a connection: a free one of the pool, or a new one being
   * opened (a server that accepts the TCP connection but never answers, as a frozen one does,
   * counts). Then DatabaseUnavailable. 0: no bound. Default 5 (as [database] pool_timeout).
   */
  poolTimeout?: number;
  /**
   * Seconds one statement may run. The server cancels it then (statement_timeout, MariaDB's
   * max_statement_time); a server that has not answered 2 s later (frozen, or the network gone)
   * has the connection closed under it, which also rolls back its open transaction. 0: no bound.
   * Default 10 (as [database] statement_timeout).
   */
  statementTimeout?: number;
  /** Seconds a connection is used before it is replaced. 0: never. Default 3600. */
  recycleTime?: number;
  /** Reports connection errors that reach no caller (a pooled connection the server dropped). */
  onConnectionError?: (reason: string) => void;
}

// ---- request scope ---------------------------------------------------------------------------
//
// A request's statements run in its scope (src/common/request-scope.ts): once its client has gone
// they are refused (ROLLBACK excepted), so a transaction is never committed for a client that
// gave up; and a write the request makes outside a transaction is wrapped in one, committed only
// if the client is still there. (A COMMIT already sent when the client leaves completes; its
// answer just finds no reader.)

// ---- guarded sessions ------------------------------------------------------------------------

/** What a guarded session needs from one driver connection. */
interface RawSession {
  run(sql: string, params: readonly unknown[]): Promise<unknown>;
  /** Close the socket now: the server rolls back what was not committed when it reads the end. */
  kill(): void;
}

const verbOf = (sql: string): string => /^\s*([a-z]+)/i.exec(sql)?.[1]?.toLowerCase() ?? '';
const WRITES = new Set(['insert', 'update', 'delete', 'replace', 'merge']);
const CLIENT_GRACE_MS = 2_000;

/** Turns an unavailability error of a driver into DatabaseUnavailable; other errors pass through. */
export function asUnavailable(err: unknown): unknown {
  return isDatabaseUnavailable(err) && !(err instanceof DatabaseUnavailable) ? new DatabaseUnavailable(unavailableReason(err)) : err;
}

/**
 * One driver connection with bounded statements: a statement without an answer within the bound
 * kills the connection (nothing more is sent on it, it never goes back to the pool) and fails with
 * DatabaseUnavailable; the request scope's rules above apply.
 */
export class GuardedSession {
  #raw: RawSession;
  #limitMs: number;
  #inTransaction = false;
  /** The connection was killed after a timeout: it must not be reused. */
  broken = false;
  readonly createdAt = Date.now();

  constructor(raw: RawSession, limitMs: number) {
    this.#raw = raw;
    this.#limitMs = limitMs;
  }

  async query(sql: string, params: readonly unknown[]): Promise<unknown> {
    const verb = verbOf(sql);
    const signal = currentRequestScope();
    if (verb === 'rollback') {
      this.#inTransaction = false;
      return this.#timed(sql, params, verb);
    }
    if (signal?.aborted) throw new RequestAbandoned();
    if (verb === 'begin' || verb === 'start') this.#inTransaction = true;
    if (verb === 'commit') {
      this.#inTransaction = false;
      return this.#committing(sql, params, verb);
    }
    if (this.#inTransaction || verb === 'begin' || verb === 'start') return this.#timed(sql, params, verb);
    // A statement on its own is its own transaction: a deadlock victim is run again here (inside
    // a transaction the caller runs the whole transaction again: SqlStorage's #transaction).
    for (let attempt = 0; ; attempt++) {
      try {
        if (signal && WRITES.has(verb)) return await this.#inOwnTransaction(sql, params, verb, signal);
        // Anything else on its own (a statement that writes through a CTE, say) may have committed.
        return await (verb === 'select' ? this.#timed(sql, params, verb) : this.#committing(sql, params, verb));
      } catch (err) {
        if (!isDeadlock(err) || attempt >= DEADLOCK_RETRIES || signal?.aborted) throw err;
        await deadlockPause(attempt);
      }
    }
  }

  async #inOwnTransaction(sql: string, params: readonly unknown[], verb: string, signal: RequestGone): Promise<unknown> {
    await this.#timed('begin', [], 'begin');
    this.#inTransaction = true;
    try {
      const result = await this.#timed(sql, params, verb);
      if (signal.aborted) throw new RequestAbandoned();
      await this.#committing('commit', [], 'commit');
      return result;
    } catch (err) {
      if (!this.broken) await this.#timed('rollback', [], 'rollback').catch(() => undefined);
      throw err;
    } finally {
      this.#inTransaction = false;
    }
  }

  /**
   * A statement that commits (a COMMIT, or a write on its own), noted in the request's scope once
   * it is done (src/common/request-scope.ts); noted even when it fails: a COMMIT without an answer
   * may have been saved.
   */
  async #committing(sql: string, params: readonly unknown[], verb: string): Promise<unknown> {
    try {
      return await this.#timed(sql, params, verb);
    } finally {
      noteCommit();
    }
  }

  #timed(sql: string, params: readonly unknown[], verb: string): Promise<unknown> {
    if (this.broken) return Promise.reject(new DatabaseUnavailable('the connection was closed after a statement timed out'));
    const running = this.#raw.run(sql, params);
    if (!this.#limitMs) return running.catch((err: unknown) => Promise.reject(asUnavailable(err)));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.broken = true;
        this.#raw.kill();
        const s = `${Math.round(this.#limitMs / 1000)} s`;
        reject(verb === 'commit'
          ? new DatabaseUnavailable(`no answer to COMMIT within ${s}`, 'The database did not confirm the change in time; it may or may not have been saved.')
          : new DatabaseUnavailable(`no answer to ${verb.toUpperCase() || 'a statement'} within ${s}`));
      }, this.#limitMs);
      running.then(
        (v) => { clearTimeout(timer); resolve(v); },
        (err: unknown) => { clearTimeout(timer); reject(asUnavailable(err)); },
      );
    });
  }
}

// ---- connect ---------------------------------------------------------------------------------

export function connect(url: string, opts: ConnectOptions = {}): Connection {
  const parsed = parseDatabaseUrl(url);
  const poolSize = opts.poolSize ?? 10;
  const poolTimeoutMs = (opts.poolTimeout ?? 5) * 1000;
  const statementMs = (opts.statementTimeout ?? 10) * 1000;
  const recycleMs = (opts.recycleTime ?? 3600) * 1000;
  const clientLimitMs = statementMs ? statementMs + CLIENT_GRACE_MS : 0;
  const report = (err: unknown) => opts.onConnectionError?.(unavailableReason(err));
  if (parsed.dialect === 'sqlite') return connectSqlite(parsed.target, opts.baseDir);
  if (parsed.dialect === 'postgres') {
    const pg = requireDriver('pg') as typeof PgModule;
    const pool = new pg.Pool({
      connectionString: parsed.target,
      max: poolSize,
      connectionTimeoutMillis: poolTimeoutMs,
      idleTimeoutMillis: 30_000,
      maxLifetimeSeconds: recycleMs / 1000,
      keepAlive: true,
      ...(statementMs ? { statement_timeout: statementMs, lock_timeout: statementMs, idle_in_transaction_session_timeout: 3 * statementMs } : {}),
    });
    // A connection the server drops (57P01 at a restart, a reset) emits 'error' on its client: on
    // the pool while idle, on the client itself while in use. Unheard, either would end the process.
    pool.on('error', report);
    pool.on('connect', (client) => client.on('error', report));
    const sessions = new WeakMap<PgModule.PoolClient, { query: (sql: string, params: unknown[]) => Promise<unknown>; release: () => void }>();
    const named = new Map<string, string>();
    const guardedPool = {
      async connect() {
        let client: PgModule.PoolClient;
        try {
          client = await pool.connect();
        } catch (err) {
          throw asUnavailable(err);
        }
        let wrapped = sessions.get(client);
        if (!wrapped) {
          const session = new GuardedSession({
            run: (sql, params) => {
              const name = named.get(sql);
              return name ? client.query({ name, text: sql, values: params as unknown[] }) : client.query(sql, params as unknown[]);
            },
            kill: () => (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy(),
          }, clientLimitMs);
          wrapped = {
            query: (sql, params) => session.query(sql, params),
            // A killed connection goes out of the pool (an error given to release() removes it).
            release: () => client.release(session.broken ? new Error('connection closed after a timeout') : undefined),
          };
          sessions.set(client, wrapped);
        }
        return wrapped;
      },
      end: () => pool.end(),
    };
    const db = new Kysely<any>({ dialect: new PostgresDialect({ pool: guardedPool as unknown as PgModule.Pool }) });
    const keepPrepared = (sql: string) => {
      if (!named.has(sql)) named.set(sql, `magnum_${named.size + 1}`);
    };
    const openChangeFeed = (o: { onError?: (reason: string) => void; windowMs?: number }) => new PgChangeFeed(parsed.target, o);
    return { db, dialect: 'postgres', bool: (v) => v, time: (v) => v, keepPrepared, openChangeFeed, destroy: () => db.destroy() };
  }
  const createPool = (requireDriver('mysql2') as { createPool: typeof CreatePool }).createPool;
  const pool = createPool({
    uri: parsed.target, connectionLimit: poolSize, maxIdle: poolSize, idleTimeout: 30_000, connectTimeout: poolTimeoutMs || 10_000,
    enableKeepAlive: true, timezone: 'Z', dateStrings: false, supportBigNumbers: true,
  });
  // mysql2 listens once for a connection's 'error'; a second one (a write on a closed connection)
  // would go unheard and end the process.
  pool.on('connection', (c) => c.on('error', report));
  const guardedPool = mysqlGuardedPool(pool, { poolTimeoutMs, recycleMs, clientLimitMs });
  // READ COMMITTED as on PostgreSQL: no gap locks, whose waits deadlock concurrent inserts of
  // operations with claims; every statement reads what was committed before it. And the
  // statement bound on the server (MariaDB's max_statement_time; MySQL's max_execution_time).
  const onCreateConnection = async (c: DatabaseConnection): Promise<void> => {
    await c.executeQuery(CompiledQuery.raw('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED'));
    if (!statementMs) return;
    await c.executeQuery(CompiledQuery.raw(`SET SESSION innodb_lock_wait_timeout = ${Math.max(1, Math.ceil(statementMs / 1000))}`));
    try {
      await c.executeQuery(CompiledQuery.raw(`SET SESSION max_statement_time = ${statementMs / 1000}`));
    } catch (err) {
      if (err instanceof DatabaseUnavailable) throw err;
      await c.executeQuery(CompiledQuery.raw(`SET SESSION max_execution_time = ${statementMs}`));
    }
  };
  const db = new Kysely<any>({ dialect: new MysqlDialect({ pool: guardedPool as unknown as MysqlPool, onCreateConnection }) });
  return { db, dialect: 'mysql', bool: (v) => v, time: (v) => v, keepPrepared: () => undefined, destroy: () => db.destroy() };
}

type MysqlCallback = (err: unknown, result?: unknown) => void;

/** mysql2's pool as Kysely uses it (getConnection, end), with a bounded wait and guarded sessions. */
function mysqlGuardedPool(pool: MysqlPool, o: { poolTimeoutMs: number; recycleMs: number; clientLimitMs: number }) {
  const sessions = new WeakMap<MysqlPoolConnection, { query: (sql: string, params: unknown[], cb: MysqlCallback) => void; release: () => void }>();
  const wrap = (conn: MysqlPoolConnection) => {
    let wrapped = sessions.get(conn);
    if (wrapped) return wrapped;
    const session = new GuardedSession({
      run: (sql, params) => new Promise((resolve, reject) => {
        conn.query(sql, params as unknown[], (err: unknown, result: unknown) => (err ? reject(err) : resolve(result)));
      }),
      kill: () => conn.destroy(),
    }, o.clientLimitMs);
    wrapped = {
      query: (sql, params, cb) => void session.query(sql, params).then((r) => cb(null, r), (err: unknown) => cb(err)),
      release: () => {
        if (session.broken || (o.recycleMs && Date.now() - session.createdAt > o.recycleMs)) conn.destroy();
        else conn.release();
      },
    };
    sessions.set(conn, wrapped);
    return wrapped;
  };
  return {
    // mysql2 waits for a free connection without bound: the bound is here.
    getConnection(cb: MysqlCallback) {
      let settled = false;
      const timer = o.poolTimeoutMs
        ? setTimeout(() => {
          settled = true;
          cb(new DatabaseUnavailable(`no connection within ${o.poolTimeoutMs / 1000} s`));
        }, o.poolTimeoutMs)
        : undefined;
      pool.getConnection((err, conn) => {
        if (settled) {
          conn?.release(); // came too late: its caller has gone
          return;
        }
        settled = true;
        clearTimeout(timer);
        if (err) cb(asUnavailable(err));
        else cb(null, wrap(conn));
      });
    },
    end: (cb: (err?: unknown) => void) => pool.end(cb),
  };
}

function connectSqlite(target: string, baseDir: string | undefined): Connection {
  let file = target;
  if (file !== ':memory:') {
    file = resolve(baseDir ?? process.cwd(), file);
    mkdirSync(dirname(file), { recursive: true });
  }
  const Sqlite = requireDriver('better-sqlite3') as typeof SqliteDatabase;
  const sqlite = new Sqlite(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('busy_timeout = 10000');
  sqlite.pragma('foreign_keys = ON');
  // Kysely prepares every query afresh; better-sqlite3 statements are reusable, so keep them.
  const statements = new Map<string, SqliteDatabase.Statement>();
  const prepare = sqlite.prepare.bind(sqlite);
  const cached = Object.assign(Object.create(sqlite) as SqliteDatabase.Database, {
    prepare: (source: string) => {
      let st = statements.get(source);
      if (!st) {
        st = prepare(source);
        if (statements.size > 500) statements.clear();
        statements.set(source, st);
      }
      return st;
    },
    close: () => sqlite.close(),
  });
  const db = new Kysely<any>({ dialect: new ImmediateSqliteDialect({ database: cached }) });
  return {
    db,
    dialect: 'sqlite',
    bool: (v) => (v ? 1 : 0),
    time: (v) => v.toISOString(),
    keepPrepared: () => undefined,
    destroy: () => db.destroy(),
  };
}
