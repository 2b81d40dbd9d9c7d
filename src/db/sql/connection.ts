import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createRequire } from 'node:module';
import type SqliteDatabase from 'better-sqlite3';
import { CompiledQuery, Kysely, MysqlDialect, PostgresDialect, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver } from 'kysely';
import type { createPool as CreatePool } from 'mysql2';
import type PgModule from 'pg';

// Only the database a process uses is loaded (each driver costs 6-17 MB of memory).
const requireDriver = createRequire(import.meta.url);

export type DialectName = 'sqlite' | 'postgres' | 'mysql';

export interface Connection {
  readonly db: Kysely<any>;
  readonly dialect: DialectName;
  /** Values as the driver binds them: better-sqlite3 takes neither booleans nor Dates. */
  bool(v: boolean): boolean | number;
  time(v: Date): Date | string;
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
  if (!m) throw new Error(`[database] connection: not a database URL: ${url}`);
  const scheme = m[1].toLowerCase();
  const rest = m[2];
  if (scheme === 'sqlite') {
    if (rest === '' || rest === '/' || rest === '/:memory:') return { dialect: 'sqlite', target: ':memory:' };
    // After "sqlite://", one more slash then the path: "/rel" -> rel, "//abs" -> /abs.
    return { dialect: 'sqlite', target: rest.startsWith('/') ? rest.slice(1) : rest };
  }
  const u = new URL(`${scheme}://${rest}`);
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

export function connect(url: string, opts: { poolSize?: number; baseDir?: string } = {}): Connection {
  const parsed = parseDatabaseUrl(url);
  const poolSize = opts.poolSize ?? 10;
  if (parsed.dialect === 'sqlite') {
    let file = parsed.target;
    if (file !== ':memory:') {
      file = resolve(opts.baseDir ?? process.cwd(), file);
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
      destroy: () => db.destroy(),
    };
  }
  if (parsed.dialect === 'postgres') {
    const pg = requireDriver('pg') as typeof PgModule;
    const pool = new pg.Pool({ connectionString: parsed.target, max: poolSize });
    pool.on('error', () => undefined); // a dropped idle connection is replaced on next use
    const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
    return { db, dialect: 'postgres', bool: (v) => v, time: (v) => v, destroy: () => db.destroy() };
  }
  const createPool = (requireDriver('mysql2') as { createPool: typeof CreatePool }).createPool;
  const pool = createPool({ uri: parsed.target, connectionLimit: poolSize, timezone: 'Z', dateStrings: false, supportBigNumbers: true });
  // READ COMMITTED as on PostgreSQL: no gap locks, whose waits deadlock concurrent inserts of
  // operations with claims; every statement reads what was committed before it.
  const onCreateConnection = async (c: DatabaseConnection): Promise<void> => {
    await c.executeQuery(CompiledQuery.raw('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED'));
  };
  const db = new Kysely<any>({ dialect: new MysqlDialect({ pool, onCreateConnection }) });
  return { db, dialect: 'mysql', bool: (v) => v, time: (v) => v, destroy: () => db.destroy() };
}
