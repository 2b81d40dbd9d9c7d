// Our addition: workload objects made through the API on a cluster's COE (Swarm services, and
// Kubernetes services and pods once a Kubernetes backend exists). A row holds what the API needs
// for tenancy, 404s and listing; the live state (tasks, replicas, nodes) is read from the COE.
import type { Kysely } from 'kysely';
import type { MigrationDialect } from './index.ts';

export function services(d: MigrationDialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('cluster_workload')
        .addColumn('id', d.serial, (c) => (d.name === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('created_at', d.datetime)
        .addColumn('updated_at', d.datetime)
        .addColumn('uuid', 'varchar(36)', (c) => c.notNull())
        // 'service' or 'pod'
        .addColumn('kind', 'varchar(16)', (c) => c.notNull())
        .addColumn('name', 'varchar(255)', (c) => c.notNull())
        .addColumn('project_id', 'varchar(255)')
        .addColumn('user_id', 'varchar(255)')
        .addColumn('cluster_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('coe', 'varchar(64)', (c) => c.notNull())
        // The normalised manifest (JSON).
        .addColumn('manifest', 'text')
        // The COE's id of the object (a Swarm service id, a Kubernetes uid); null until it exists.
        .addColumn('backend_id', 'varchar(255)')
        .addUniqueConstraint('uniq_cluster_workload0uuid', ['uuid'])
        .addUniqueConstraint('uniq_cluster_workload0cluster_id0kind0name', ['cluster_id', 'kind', 'name'])
        .execute();
      await db.schema.createIndex('ix_cluster_workload_project').on('cluster_workload').columns(['project_id', 'kind']).execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      await db.schema.dropTable('cluster_workload').execute();
    },
  };
}
