// The bounded, error-safe connections of src/db/sql/connection.ts: a connection the server drops
// while it is checked out (57P01, a KILL) is an error of the statement, never an unhandled 'error'
// event; a server that does not answer costs a bounded wait; a request whose client has gone
// commits nothing. Real PostgreSQL and MariaDB (a database of the test's own on the shared server;
// only the test's own connections are terminated), and a fake session for the request scope.
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { sql } from 'kysely';
import { createTempDatabase, type DbKind, type TempDatabase } from '../../../test/helpers/databases.ts';
import { DatabaseUnavailable, RequestAbandoned, isDatabaseUnavailable, redactCredentials } from '../errors.ts';
import { GuardedSession, connect, parseDatabaseUrl, type Connection } from './connection.ts';
import { runInRequestScope } from '../../common/request-scope.ts';

const uncaught: unknown[] = [];
const onUncaught = (err: unknown) => void uncaught.push(err);
process.on('uncaughtException', onUncaught);
after(() => void process.off('uncaughtException', onUncaught));

for (const kind of ['postgres', 'mysql'] as DbKind[]) {
  describe(`${kind}: a connection dropped by the server`, () => {
    let db: TempDatabase;
    let conn: Connection;
    const errors: string[] = [];
    after(async () => {
      await conn?.destroy();
      await db?.drop();
    });

    test('while checked out in a transaction: the transaction fails with DatabaseUnavailable, the process goes on, the pool recovers', async () => {
      db = await createTempDatabase(kind);
      conn = connect(db.url, { poolSize: 3, poolTimeout: 3, statementTimeout: 5, onConnectionError: (r) => void errors.push(r) });
      const idOf = kind === 'postgres' ? sql<{ id: number }>`select pg_backend_pid() as id` : sql<{ id: number }>`select connection_id() as id`;
      const kill = (id: number) => (kind === 'postgres' ? sql`select pg_terminate_backend(${id})` : sql.raw(`KILL ${Number(id)}`));
      const failed = await conn.db.transaction().execute(async (tx) => {
        const { rows } = await idOf.execute(tx);
        // Another connection of the pool ends this one while it sits idle inside the transaction:
        // the server's goodbye (57P01 / a closed socket) reaches a client nobody is reading from.
        await kill(rows[0].id).execute(conn.db);
        await new Promise((r) => setTimeout(r, 300));
        return sql`select 1`.execute(tx).then(() => null, (err: unknown) => err);
      }).catch((err: unknown) => err);
      assert.ok(failed instanceof DatabaseUnavailable, `DatabaseUnavailable, got ${String(failed)}`);
      assert.equal(failed.status, 503);
      assert.deepEqual(uncaught, []);
      const { rows } = await sql<{ one: number }>`select 1 as one`.execute(conn.db);
      assert.equal(Number(rows[0].one), 1);
    });

    test('a statement past statement_timeout is cancelled by the server: DatabaseUnavailable', async () => {
      const quick = connect(db.url, { poolSize: 1, poolTimeout: 3, statementTimeout: 1 });
      try {
        const started = Date.now();
        const slow = kind === 'postgres' ? sql`select pg_sleep(5)` : sql`select sleep(5)`;
        const err = await slow.execute(quick.db).then(() => null, (e: unknown) => e);
        // MariaDB's max_statement_time ends SLEEP() with a result rather than an error.
        if (kind === 'postgres') assert.ok(err instanceof DatabaseUnavailable, String(err));
        assert.ok(Date.now() - started < 3_500, `took ${Date.now() - started} ms`);
      } finally {
        await quick.destroy();
      }
    });
  });
}

describe('a server that accepts connections and never answers (frozen)', () => {
  let server: Server;
  const sockets = new Set<Socket>();
  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server?.close(r));
  });

  for (const kind of ['postgresql', 'mysql'] as const) {
    test(`${kind}: no connection within pool_timeout is DatabaseUnavailable, in about pool_timeout`, async () => {
      server ??= await new Promise<Server>((resolve) => {
        const s = createServer((sock) => void sockets.add(sock)).listen(0, '127.0.0.1', () => resolve(s));
      });
      const port = (server.address() as { port: number }).port;
      const conn = connect(`${kind}://u:secret-pw@127.0.0.1:${port}/db`, { poolSize: 2, poolTimeout: 1, statementTimeout: 2 });
      try {
        const started = Date.now();
        const err = await sql`select 1`.execute(conn.db).then(() => null, (e: unknown) => e);
        const ms = Date.now() - started;
        assert.ok(err instanceof DatabaseUnavailable, String(err));
        assert.ok(ms >= 900 && ms < 3_000, `${ms} ms`);
        assert.ok(!String((err as Error).message).includes('secret-pw') && !(err as DatabaseUnavailable).reason.includes('secret-pw'));
      } finally {
        await conn.destroy().catch(() => undefined);
      }
    });
  }
});

/** A driver connection that records what it was sent and answers after `delayMs` (never, when null). */
function fakeRaw(delayMs: number | null) {
  const sent: string[] = [];
  let killed = false;
  return {
    sent,
    get killed() { return killed; },
    raw: {
      run: (q: string) => {
        sent.push(q);
        return delayMs === null ? new Promise<unknown>(() => undefined) : new Promise<unknown>((r) => setTimeout(() => r({ q }), delayMs));
      },
      kill: () => { killed = true; },
    },
  };
}

describe('GuardedSession', () => {
  test('a statement without an answer within the bound kills the connection and fails with DatabaseUnavailable', async () => {
    const f = fakeRaw(null);
    const s = new GuardedSession(f.raw, 200);
    const started = Date.now();
    const err = await s.query('select 1', []).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof DatabaseUnavailable);
    assert.ok(Date.now() - started < 1_000);
    assert.ok(f.killed && s.broken);
    // Nothing more goes out on a killed connection.
    await assert.rejects(s.query('select 2', []), DatabaseUnavailable);
    assert.deepEqual(f.sent, ['select 1']);
  });

  test('a COMMIT without an answer says the change may or may not have been saved', async () => {
    const s = new GuardedSession(fakeRaw(null).raw, 100);
    await assert.rejects(s.query('commit', []), (e: DatabaseUnavailable) => /may or may not/.test(e.message));
  });

  test('in a request scope, a write outside a transaction is wrapped in one', async () => {
    const f = fakeRaw(1);
    const s = new GuardedSession(f.raw, 1_000);
    await runInRequestScope(new AbortController().signal, () => s.query('insert into t values (1)', []));
    assert.deepEqual(f.sent, ['begin', 'insert into t values (1)', 'commit']);
    await s.query('insert into t values (2)', []); // outside a request (the conductor): as it is
    assert.deepEqual(f.sent.slice(3), ['insert into t values (2)']);
  });

  test('a client gone before the commit: the request\'s transaction is rolled back, never committed', async () => {
    const f = fakeRaw(30);
    const s = new GuardedSession(f.raw, 1_000);
    const gone = new AbortController();
    const work = runInRequestScope(gone.signal, async () => {
      await s.query('begin', []);
      await s.query('insert into t values (1)', []);
      gone.abort(); // the client closed its connection meanwhile
      await s.query('commit', []);
    });
    await assert.rejects(work, RequestAbandoned);
    await runInRequestScope(gone.signal, () => s.query('rollback', []));
    assert.deepEqual(f.sent, ['begin', 'insert into t values (1)', 'rollback']);
    // Its own transaction too: the write is sent, the client leaves while it runs, then rollback.
    const g = fakeRaw(30);
    const s2 = new GuardedSession(g.raw, 1_000);
    const gone2 = new AbortController();
    const pending = runInRequestScope(gone2.signal, () => s2.query('update t set x = 1', []));
    setTimeout(() => gone2.abort(), 40);
    await assert.rejects(pending, RequestAbandoned);
    assert.deepEqual(g.sent, ['begin', 'update t set x = 1', 'rollback']);
  });
});

describe('unavailability errors', () => {
  test('driver errors of a database out of reach are recognised; statement errors are not', () => {
    for (const e of [
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
      new Error('Connection terminated unexpectedly'),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
      new Error('timeout exceeded when trying to connect'),
      Object.assign(new Error('Connection lost: The server closed the connection.'), { code: 'PROTOCOL_CONNECTION_LOST', fatal: true }),
      Object.assign(new Error("Can't add new command when connection is in closed state"), { fatal: true }),
      new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })]),
    ]) assert.ok(isDatabaseUnavailable(e), e.message);
    for (const e of [
      Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' }),
      Object.assign(new Error("Duplicate entry 'x' for key 'name'"), { code: 'ER_DUP_ENTRY', errno: 1062 }),
      new Error('syntax error at or near "selec"'),
      null,
    ]) assert.ok(!isDatabaseUnavailable(e), String(e));
  });

  test('no URL password in errors about the [database] connection', () => {
    assert.equal(redactCredentials('postgresql://magnum:s3cr@t/x@db:5432/magnum failed'), 'postgresql://magnum:***@db:5432/magnum failed');
    assert.throws(() => parseDatabaseUrl('postgresql://magnum:hunter2@[bad/magnum'), (e: Error) => !e.message.includes('hunter2') && e.message.includes('***'));
  });
});

for (const kind of ['postgres', 'mysql'] as DbKind[]) {
  describe(`${kind}: a deadlock victim`, () => {
    let db: TempDatabase;
    let conn: Connection;
    after(async () => {
      await conn?.destroy();
      await db?.drop();
    });

    test('a statement on its own chosen as the victim of a deadlock is run again and succeeds', async () => {
      db = await createTempDatabase(kind);
      conn = connect(db.url, { poolSize: 4, poolTimeout: 3, statementTimeout: 10 });
      await sql`create table dl (id integer primary key, v integer not null)`.execute(conn.db);
      await sql.raw(`insert into dl (id, v) values ${Array.from({ length: 200 }, (_, i) => `(${i + 1}, 0)`).join(', ')}`).execute(conn.db);
      // Transaction A holds row 1 (and, to be the heavier side that InnoDB keeps, rows 3..200);
      // the lone statement B takes row 2 and waits for row 1; A then asks for row 2: a cycle. B
      // waited first, so PostgreSQL's detector (run by the first waiter) and InnoDB's weight both
      // pick B. Without a retry B fails with ER_LOCK_DEADLOCK / 40P01.
      let b: Promise<unknown> | undefined;
      const order = kind === 'postgres' ? sql.raw('') : sql.raw(' order by id desc');
      await conn.db.transaction().execute(async (tx) => {
        await sql`update dl set v = v + 1 where id = 1 or id >= 3`.execute(tx);
        b = (kind === 'postgres'
          ? sql`update dl set v = v + 10 where id in (select id from dl where id in (1, 2) order by id desc for update)`
          : sql`update dl set v = v + 10 where id in (1, 2)${order}`).execute(conn.db).then(() => 'ok', (e: unknown) => e);
        await new Promise((r) => setTimeout(r, 300));
        await sql`update dl set v = v + 1 where id = 2`.execute(tx);
      }).catch(() => undefined); // when A is the victim instead, B goes on unblocked; the assertion below still holds
      assert.equal(await b, 'ok');
      const { rows } = await sql<{ id: number; v: number }>`select id, v from dl where id in (1, 2) order by id`.execute(conn.db);
      assert.deepEqual(rows.map((r) => Number(r.v) >= 10), [true, true]);
    });
  });
}
