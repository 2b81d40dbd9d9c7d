// Our addition, PostgreSQL only: every change to a cluster, a nodegroup or a cluster template is
// announced on the channel `magnum_changes` by the database itself (a row trigger calling
// pg_notify), whoever writes it: an API process, a conductor, magnum-db-manage or a person with
// psql. PostgreSQL delivers a notification only when (and if) its transaction commits, to every
// session listening then. The API's read cache (src/api/read-cache.ts) is invalidated by it
// (src/db/sql/change-feed.ts). Payloads: `c:<cluster uuid>` for a cluster or one of its
// nodegroups, `c` for every cluster (a TRUNCATE), `t` for a template. SQLite and MariaDB get nothing here (no cache there).
import { sql, type Kysely } from 'kysely';
import type { MigrationDialect } from './index.ts';

export const CHANGE_CHANNEL = 'magnum_changes';
const TABLES = ['cluster', 'nodegroup', 'cluster_template'];

export function changeNotify(d: MigrationDialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      if (d.name !== 'postgres') return;
      await sql.raw(`
        CREATE OR REPLACE FUNCTION magnum_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE r record;
        BEGIN
          IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
          IF TG_TABLE_NAME = 'cluster' THEN
            PERFORM pg_notify('${CHANGE_CHANNEL}', 'c:' || r.uuid);
            IF TG_OP = 'UPDATE' AND OLD.uuid IS DISTINCT FROM NEW.uuid THEN PERFORM pg_notify('${CHANGE_CHANNEL}', 'c:' || OLD.uuid); END IF;
          ELSIF TG_TABLE_NAME = 'nodegroup' THEN
            PERFORM pg_notify('${CHANGE_CHANNEL}', 'c:' || r.cluster_id);
            IF TG_OP = 'UPDATE' AND OLD.cluster_id IS DISTINCT FROM NEW.cluster_id THEN PERFORM pg_notify('${CHANGE_CHANNEL}', 'c:' || OLD.cluster_id); END IF;
          ELSE
            PERFORM pg_notify('${CHANGE_CHANNEL}', 't');
          END IF;
          RETURN NULL;
        END $$`).execute(db);
      // A TRUNCATE fires no row trigger: it is announced as a change of every cluster (`c`).
      await sql.raw(`
        CREATE OR REPLACE FUNCTION magnum_notify_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_notify('${CHANGE_CHANNEL}', CASE WHEN TG_TABLE_NAME = 'cluster_template' THEN 't' ELSE 'c' END);
          RETURN NULL;
        END $$`).execute(db);
      for (const t of TABLES) {
        await sql.raw(`CREATE TRIGGER magnum_notify_${t} AFTER INSERT OR UPDATE OR DELETE ON ${t} FOR EACH ROW EXECUTE FUNCTION magnum_notify_change()`).execute(db);
        await sql.raw(`CREATE TRIGGER magnum_notify_${t}_truncate AFTER TRUNCATE ON ${t} FOR EACH STATEMENT EXECUTE FUNCTION magnum_notify_truncate()`).execute(db);
      }
    },
    async down(db: Kysely<any>): Promise<void> {
      if (d.name !== 'postgres') return;
      for (const t of TABLES) {
        await sql.raw(`DROP TRIGGER IF EXISTS magnum_notify_${t} ON ${t}`).execute(db);
        await sql.raw(`DROP TRIGGER IF EXISTS magnum_notify_${t}_truncate ON ${t}`).execute(db);
      }
      await sql.raw('DROP FUNCTION IF EXISTS magnum_notify_change()').execute(db);
      await sql.raw('DROP FUNCTION IF EXISTS magnum_notify_truncate()').execute(db);
    },
  };
}
