// Our addition: image loads (POST /v1/clusters/{ident}/images), each a row held by the conductor
// running it under a lease, with a deadline; a load whose conductor died is ended by another
// conductor's sweep. The cluster's status never changes for an image load.
import type { Kysely } from 'kysely';
import type { MigrationDialect } from './index.ts';

export function imageLoads(d: MigrationDialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('image_load')
        .addColumn('id', d.serial, (c) => (d.name === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('created_at', d.datetime)
        .addColumn('updated_at', d.datetime)
        .addColumn('uuid', 'varchar(36)', (c) => c.notNull())
        .addColumn('cluster_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('file', 'varchar(255)', (c) => c.notNull())
        // running, complete or failed
        .addColumn('state', 'varchar(16)', (c) => c.notNull())
        .addColumn('owner', 'varchar(255)')
        .addColumn('lease_expires_at', d.datetime)
        .addColumn('deadline_at', d.datetime, (c) => c.notNull())
        .addColumn('last_error', 'text')
        .addUniqueConstraint('uniq_image_load0uuid', ['uuid'])
        .execute();
      await db.schema.createIndex('ix_image_load_state_lease').on('image_load').columns(['state', 'lease_expires_at']).execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      await db.schema.dropTable('image_load').execute();
    },
  };
}
