// Our additions: lifecycle operations (the unit a conductor claims under a lease) and the
// per-cluster event timeline.
import type { Kysely } from 'kysely';
import type { MigrationDialect } from './index.ts';

export function operations(d: MigrationDialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('operation')
        .addColumn('id', d.serial, (c) => (d.name === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('created_at', d.datetime)
        .addColumn('updated_at', d.datetime)
        .addColumn('uuid', 'varchar(36)', (c) => c.notNull())
        .addColumn('cluster_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('nodegroup_id', 'varchar(36)')
        .addColumn('kind', 'varchar(32)', (c) => c.notNull())
        .addColumn('params', 'text')
        .addColumn('state', 'varchar(16)', (c) => c.notNull())
        .addColumn('owner', 'varchar(255)')
        .addColumn('lease_expires_at', d.datetime)
        .addColumn('deadline_at', d.datetime, (c) => c.notNull())
        .addColumn('step', 'varchar(255)')
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('last_error', 'text')
        .addColumn('request_id', 'varchar(64)')
        .addUniqueConstraint('uniq_operation0uuid', ['uuid'])
        .execute();
      await db.schema.createIndex('ix_operation_state_lease').on('operation').columns(['state', 'lease_expires_at']).execute();
      await db.schema.createIndex('ix_operation_cluster').on('operation').column('cluster_id').execute();

      await db.schema
        .createTable('cluster_event')
        .addColumn('id', d.serial, (c) => (d.name === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('cluster_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('operation_id', 'varchar(36)')
        .addColumn('step', 'varchar(255)', (c) => c.notNull())
        .addColumn('outcome', 'varchar(16)', (c) => c.notNull())
        .addColumn('message', 'text')
        .addColumn('created_at', d.datetime, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('ix_cluster_event_cluster').on('cluster_event').columns(['cluster_id', 'id']).execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      await db.schema.dropTable('cluster_event').execute();
      await db.schema.dropTable('operation').execute();
    },
  };
}
