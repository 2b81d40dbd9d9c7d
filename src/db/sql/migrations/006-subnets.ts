// Our addition: the address space each cluster's network uses, allocated in the database so that
// concurrent creates (on any number of conductors) never pick the same subnet. One subnet per
// cluster, one cluster per subnet; the row goes with the cluster row (foreign key, on delete
// cascade) or when the cluster's network is removed.
import type { Kysely } from 'kysely';
import type { MigrationDialect } from './index.ts';

export function subnets(d: MigrationDialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('cluster_subnet')
        .addColumn('id', d.serial, (c) => (d.name === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('created_at', d.datetime)
        .addColumn('cluster_id', 'varchar(36)', (c) => c.notNull())
        // A CIDR in its canonical form (network address / prefix length), e.g. 10.213.4.0/24.
        .addColumn('subnet', 'varchar(64)', (c) => c.notNull())
        .addUniqueConstraint('uniq_cluster_subnet0cluster_id', ['cluster_id'])
        .addUniqueConstraint('uniq_cluster_subnet0subnet', ['subnet'])
        .addForeignKeyConstraint('fk_cluster_subnet0cluster_id', ['cluster_id'], 'cluster', ['uuid'], (fk) => fk.onDelete('cascade'))
        .execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      await db.schema.dropTable('cluster_subnet').execute();
    },
  };
}
