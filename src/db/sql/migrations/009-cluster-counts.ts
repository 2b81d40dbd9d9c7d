// Our addition: each project's number of clusters, kept by the database itself (triggers on the
// cluster table), so that the quota check of a cluster create reads one row instead of counting
// the project's clusters (a count costs PostgreSQL about 2 ms at 8,000 clusters, and grows with
// every cluster the project has). Every writer is counted alike: an API process, a conductor,
// magnum-db-manage, a benchmark's seeding or a person with a SQL shell.
//
// The triggers: an insert adds one to its project's row (made when missing), a delete takes one
// away, and an update that moves a cluster to another project does both. A cluster without a
// project is counted nowhere. The row of a project is written by every create of that project:
// two transactions creating clusters of one project take turns on it (within one API process
// creates are written in batches, one at a time, so this is between processes). A batch that
// creates clusters of several projects takes their rows in project order (the storage sorts
// them; PostgreSQL's insert trigger orders them too), so two such batches never deadlock.
//
// The backfill counts the clusters there are when the migration runs. On PostgreSQL and SQLite
// the migration is one transaction with the triggers (DDL is transactional there); MariaDB commits
// DDL at once, so a cluster created while it runs on MariaDB could be counted twice or not at all:
// run it, as any migration, with the services stopped.
import { sql, type Kysely } from 'kysely';
import type { MigrationDialect } from './index.ts';

export const COUNT_TABLE = 'project_cluster_count';

export function clusterCounts(d: MigrationDialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable(COUNT_TABLE)
        .addColumn('project_id', 'varchar(255)', (c) => c.primaryKey())
        .addColumn('clusters', 'integer', (c) => c.notNull())
        .execute();
      for (const statement of triggers(d)) await sql.raw(statement).execute(db);
      await sql.raw(`INSERT INTO ${COUNT_TABLE} (project_id, clusters) SELECT project_id, COUNT(*) FROM cluster WHERE project_id IS NOT NULL GROUP BY project_id`).execute(db);
    },
    async down(db: Kysely<any>): Promise<void> {
      for (const t of ['magnum_count_cluster_insert', 'magnum_count_cluster_delete', 'magnum_count_cluster_update']) {
        await sql.raw(d.name === 'postgres' ? `DROP TRIGGER IF EXISTS ${t} ON cluster` : `DROP TRIGGER IF EXISTS ${t}`).execute(db);
      }
      if (d.name === 'postgres') {
        for (const f of ['magnum_count_added()', 'magnum_count_removed()', 'magnum_count_moved()']) await sql.raw(`DROP FUNCTION IF EXISTS ${f}`).execute(db);
      }
      await db.schema.dropTable(COUNT_TABLE).execute();
    },
  };
}

function triggers(d: MigrationDialect): string[] {
  const T = COUNT_TABLE;
  if (d.name === 'postgres') {
    // Statement triggers with transition tables: one write per project a statement touched (a
    // batch of creates is one statement). The insert's upserts go in project order; an UPDATE ...
    // FROM takes its rows in no order an ORDER BY could fix, so a delete has none (one delete
    // statement of clusters of several projects is made only by hand).
    const add = (rows: string) => `INSERT INTO ${T} (project_id, clusters)
            SELECT project_id, COUNT(*) FROM ${rows} WHERE project_id IS NOT NULL GROUP BY project_id ORDER BY project_id
            ON CONFLICT (project_id) DO UPDATE SET clusters = ${T}.clusters + EXCLUDED.clusters`;
    const remove = (rows: string) => `UPDATE ${T} SET clusters = ${T}.clusters - r.n
            FROM (SELECT project_id, COUNT(*) AS n FROM ${rows} WHERE project_id IS NOT NULL GROUP BY project_id) r
            WHERE ${T}.project_id = r.project_id`;
    const fn = (name: string, body: string) => `CREATE OR REPLACE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          ${body};
          RETURN NULL;
        END $$`;
    return [
      fn('magnum_count_added', add('added')),
      fn('magnum_count_removed', remove('removed')),
      // A row trigger, fired only by an update that names project_id and changes it.
      fn('magnum_count_moved', `UPDATE ${T} SET clusters = ${T}.clusters - 1 WHERE project_id = OLD.project_id;
          IF NEW.project_id IS NOT NULL THEN
            INSERT INTO ${T} (project_id, clusters) VALUES (NEW.project_id, 1) ON CONFLICT (project_id) DO UPDATE SET clusters = ${T}.clusters + 1;
          END IF`),
      'CREATE TRIGGER magnum_count_cluster_insert AFTER INSERT ON cluster REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION magnum_count_added()',
      'CREATE TRIGGER magnum_count_cluster_delete AFTER DELETE ON cluster REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION magnum_count_removed()',
      'CREATE TRIGGER magnum_count_cluster_update AFTER UPDATE OF project_id ON cluster FOR EACH ROW WHEN (OLD.project_id IS DISTINCT FROM NEW.project_id) EXECUTE FUNCTION magnum_count_moved()',
    ];
  }
  if (d.name === 'sqlite') {
    const add = `INSERT INTO ${T} (project_id, clusters) VALUES (NEW.project_id, 1) ON CONFLICT (project_id) DO UPDATE SET clusters = clusters + 1`;
    const remove = `UPDATE ${T} SET clusters = clusters - 1 WHERE project_id = OLD.project_id`;
    return [
      `CREATE TRIGGER magnum_count_cluster_insert AFTER INSERT ON cluster WHEN NEW.project_id IS NOT NULL BEGIN ${add}; END`,
      `CREATE TRIGGER magnum_count_cluster_delete AFTER DELETE ON cluster WHEN OLD.project_id IS NOT NULL BEGIN ${remove}; END`,
      `CREATE TRIGGER magnum_count_cluster_update AFTER UPDATE OF project_id ON cluster WHEN OLD.project_id IS NOT NEW.project_id BEGIN
         ${remove}; INSERT INTO ${T} (project_id, clusters) SELECT NEW.project_id, 1 WHERE NEW.project_id IS NOT NULL ON CONFLICT (project_id) DO UPDATE SET clusters = clusters + 1;
       END`,
    ];
  }
  // MariaDB: row triggers, one event each.
  const add = `INSERT INTO ${T} (project_id, clusters) VALUES (NEW.project_id, 1) ON DUPLICATE KEY UPDATE clusters = clusters + 1`;
  const remove = `UPDATE ${T} SET clusters = clusters - 1 WHERE project_id = OLD.project_id`;
  return [
    `CREATE TRIGGER magnum_count_cluster_insert AFTER INSERT ON cluster FOR EACH ROW BEGIN IF NEW.project_id IS NOT NULL THEN ${add}; END IF; END`,
    `CREATE TRIGGER magnum_count_cluster_delete AFTER DELETE ON cluster FOR EACH ROW BEGIN IF OLD.project_id IS NOT NULL THEN ${remove}; END IF; END`,
    `CREATE TRIGGER magnum_count_cluster_update AFTER UPDATE ON cluster FOR EACH ROW BEGIN
       IF NOT (OLD.project_id <=> NEW.project_id) THEN
         IF OLD.project_id IS NOT NULL THEN ${remove}; END IF;
         IF NEW.project_id IS NOT NULL THEN ${add}; END IF;
       END IF;
     END`,
  ];
}
