// Every table of the schema (read from the database itself, so a new migration's table is included
// without edits here), to tell whether a request changed anything. `fingerprint` asks the database
// for one value per table in a single query, and not even that when the database says nothing was
// committed since (fast enough to take after every request); `snapshot` reads the rows, to say
// what changed. What the conductor changes on its own, whatever the
// requests, is left out: the magnum_service heartbeat and the health events of its polling.
import { createHash } from 'node:crypto';
import Sqlite from 'better-sqlite3';
import { sql } from 'kysely';
import { parseDatabaseUrl } from '../../src/db/sql/connection.ts';
import type { SqlStorage } from '../../src/db/sql/storage.ts';

/** Columns that change with time alone, per table. */
const VOLATILE: Record<string, readonly string[]> = {
  magnum_service: ['report_count', 'last_seen_up', 'updated_at'],
};
/** Rows the conductor writes on its own, per table. */
const OWN_ROWS: Record<string, string> = {
  cluster_event: "step <> 'health'",
};

export type Row = Record<string, unknown>;

export class SchemaDigest {
  readonly tables: readonly string[];
  readonly #storage: SqlStorage;
  readonly #query: string;
  /** SQLite: a connection of our own, whose PRAGMA data_version changes when another commits. */
  readonly #watcher: Sqlite.Database | null;
  /** PostgreSQL, MariaDB: the server's log position, which every commit moves (others' too). */
  #logPosition: string | null;
  #last: { version: unknown; fingerprint: Record<string, string> } | null = null;

  private constructor(storage: SqlStorage, tables: Record<string, string[]>, url: string) {
    this.#storage = storage;
    this.tables = Object.keys(tables).sort();
    this.#query = fingerprintQuery(storage.conn.dialect, tables);
    const target = parseDatabaseUrl(url);
    this.#watcher = target.dialect === 'sqlite' ? new Sqlite(target.target, { readonly: true, fileMustExist: true }) : null;
    this.#logPosition = target.dialect === 'postgres' ? 'SELECT pg_current_wal_insert_lsn()::text AS v'
      : target.dialect === 'mysql' ? "SELECT VARIABLE_VALUE AS v FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'INNODB_LSN_CURRENT'" : null;
  }

  /** The tables of the schema: every table with an id column, but the migrator's and SQLite's own.
   *  `url` is the database's, in Magnum's form. */
  static async of(storage: SqlStorage, url: string): Promise<SchemaDigest> {
    const found = await storage.conn.db.introspection.getTables();
    const tables: Record<string, string[]> = {};
    for (const t of found) {
      if (t.name.startsWith('kysely_') || t.name.startsWith('sqlite_') || !t.columns.some((c) => c.name === 'id')) continue;
      tables[t.name] = t.columns.map((c) => c.name).filter((c) => !(VOLATILE[t.name] ?? []).includes(c));
    }
    return new SchemaDigest(storage, tables, url);
  }

  close(): void {
    this.#watcher?.close();
  }

  /** One value per table that changes when any of its rows does. */
  async fingerprint(): Promise<Record<string, string>> {
    // Nothing was committed since the last time if the version is the same: no need to read.
    const version = await this.#version();
    if (version !== undefined && this.#last?.version === version) return this.#last.fingerprint;
    const r = await sql.raw<Record<string, unknown>>(this.#query).execute(this.#storage.conn.db);
    const row = r.rows[0];
    const out: Record<string, string> = {};
    for (const t of this.tables) {
      const v = row[t] ?? '';
      out[t] = typeof v === 'string' && v.length <= 40 ? v : createHash('sha1').update(String(v)).digest('hex');
    }
    this.#last = { version, fingerprint: out };
    return out;
  }

  async #version(): Promise<unknown> {
    if (this.#watcher) return this.#watcher.pragma('data_version', { simple: true });
    if (!this.#logPosition) return undefined;
    try {
      const r = await sql.raw<{ v: unknown }>(this.#logPosition).execute(this.#storage.conn.db);
      return r.rows[0]?.v ?? undefined;
    } catch {
      this.#logPosition = null; // not allowed to read it: every fingerprint reads the tables
      return undefined;
    }
  }

  /** Every row of every table (normalised), to describe a difference. */
  async snapshot(): Promise<Record<string, Row[]>> {
    const db = this.#storage.conn.db;
    const out: Record<string, Row[]> = {};
    await Promise.all(this.tables.map(async (t) => {
      let q = db.selectFrom(t).selectAll().orderBy('id');
      if (t === 'cluster_event') q = q.where('step', '!=', 'health');
      const rows = (await q.execute()) as Row[];
      out[t] = rows.map((r) => normalise(r, VOLATILE[t] ?? []));
    }));
    return out;
  }
}

function fingerprintQuery(dialect: 'sqlite' | 'postgres' | 'mysql', tables: Record<string, string[]>): string {
  const q = (id: string) => (dialect === 'mysql' ? `\`${id}\`` : `"${id}"`);
  const parts = Object.entries(tables).map(([t, cols]) => {
    const where = OWN_ROWS[t] ? ` WHERE ${OWN_ROWS[t]}` : '';
    let expr: string;
    if (dialect === 'postgres') {
      expr = `(SELECT md5(coalesce(string_agg(ROW(${cols.map((c) => `x.${q(c)}`).join(', ')})::text, E'\\n' ORDER BY x.id), '')) FROM ${q(t)} x${where})`;
    } else if (dialect === 'mysql') {
      // Row hashes keep GROUP_CONCAT far below its default length limit.
      expr = `(SELECT MD5(COALESCE(GROUP_CONCAT(MD5(CONCAT_WS(0x1f, ${cols.map((c) => `QUOTE(${q(c)})`).join(', ')})) ORDER BY id SEPARATOR ','), '')) FROM ${q(t)}${where})`;
    } else {
      expr = `(SELECT group_concat(r, char(30)) FROM (SELECT ${cols.map((c) => `quote(${q(c)})`).join(" || char(31) || ")} AS r FROM ${q(t)}${where} ORDER BY id))`;
    }
    return `${expr} AS ${q(t)}`;
  });
  return `SELECT ${parts.join(',\n  ')}`;
}

function normalise(row: Row, drop: readonly string[]): Row {
  const out: Row = {};
  for (const [k, v] of Object.entries(row)) {
    if (drop.includes(k)) continue;
    out[k] = v instanceof Date ? v.toISOString() : Buffer.isBuffer(v) ? v.toString('hex') : typeof v === 'bigint' ? String(v) : v;
  }
  return out;
}

export function sameFingerprint(a: Record<string, string>, b: Record<string, string>): boolean {
  return Object.keys({ ...a, ...b }).every((k) => a[k] === b[k]);
}

/** What differs between two snapshots, in a few lines (tables, row ids added, removed, changed). */
export function describeDifference(a: Record<string, Row[]>, b: Record<string, Row[]>): string[] {
  const out: string[] = [];
  for (const t of Object.keys({ ...a, ...b })) {
    const byId = (rows: Row[] = []) => new Map(rows.map((r) => [String(r.id), JSON.stringify(r)]));
    const before = byId(a[t]);
    const after = byId(b[t]);
    const added = [...after.keys()].filter((k) => !before.has(k));
    const removed = [...before.keys()].filter((k) => !after.has(k));
    const changed = [...after.keys()].filter((k) => before.has(k) && before.get(k) !== after.get(k));
    if (!added.length && !removed.length && !changed.length) continue;
    const sample = changed.length ? ` e.g. ${after.get(changed[0])!.slice(0, 300)}` : added.length ? ` e.g. ${after.get(added[0])!.slice(0, 300)}` : '';
    out.push(`${t}: +${added.length} -${removed.length} ~${changed.length}${sample}`);
  }
  return out;
}
