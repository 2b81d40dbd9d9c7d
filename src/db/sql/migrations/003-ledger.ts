// Our addition: the per-cluster ledger of external resources (containers, networks, volumes,
// certificates). A resource is recorded as intended before it is created and marked present
// after; delete walks the ledger in reverse, so teardown never orphans what a cluster made.
import type { Kysely } from 'kysely';
import type { MigrationDialect } from './index.ts';

export function ledger(d: MigrationDialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('cluster_resource')
        .addColumn('id', d.serial, (c) => (d.name === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('created_at', d.datetime)
        .addColumn('updated_at', d.datetime)
        .addColumn('cluster_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('kind', 'varchar(32)', (c) => c.notNull())
        .addColumn('name', 'varchar(255)', (c) => c.notNull())
        .addColumn('external_id', 'varchar(255)')
        .addColumn('state', 'varchar(16)', (c) => c.notNull())
        .addColumn('details', 'text')
        .addUniqueConstraint('uniq_cluster_resource0cluster_id0kind0name', ['cluster_id', 'kind', 'name'])
        .execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      await db.schema.dropTable('cluster_resource').execute();
    },
  };
}
