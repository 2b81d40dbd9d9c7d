// Every storage test runs once per database. MAGNUM_TEST_DATABASES (comma list of sqlite,
// postgres, mysql; default all three) picks them; each test gets its own fresh database.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { need } from './env.ts';

export type DbKind = 'sqlite' | 'postgres' | 'mysql';

export function databaseKinds(): DbKind[] {
  const v = process.env.MAGNUM_TEST_DATABASES ?? 'sqlite,postgres,mysql';
  return v.split(',').map((s) => s.trim()).filter(Boolean) as DbKind[];
}

export interface TempDatabase {
  kind: DbKind;
  /** A URL in Magnum's [database] connection form. */
  url: string;
  drop(): Promise<void>;
}

export async function createTempDatabase(kind: DbKind): Promise<TempDatabase> {
  const name = `magnum_test_${randomBytes(5).toString('hex')}`;
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'magnum-test-'));
    return { kind, url: `sqlite:///${join(dir, 'magnum.sqlite')}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  if (kind === 'postgres') {
    const base = need('MAGNUM_TEST_PG_URL');
    const admin = new pg.Client({ connectionString: `${base}/postgres` });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    return {
      kind,
      url: `postgresql://${base.replace(/^postgres(ql)?:\/\//, '')}/${name}`,
      drop: async () => {
        const c = new pg.Client({ connectionString: `${base}/postgres` });
        await c.connect();
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await c.end();
      },
    };
  }
  const base = need('MAGNUM_TEST_MYSQL_URL');
  const conn = await mysql.createConnection(base);
  await conn.query(`CREATE DATABASE ${name} CHARACTER SET utf8mb4`);
  await conn.end();
  return {
    kind,
    url: `mysql+pymysql://${base.replace(/^mysql:\/\//, '')}/${name}`,
    drop: async () => {
      const c = await mysql.createConnection(base);
      await c.query(`DROP DATABASE IF EXISTS ${name}`);
      await c.end();
    },
  };
}
