// Containers (Magnum 2015's `container` table, reference §12.3) with what Docker users expect
// beyond it: CPU limit, published ports, restart policy, and where the container was placed
// (`host`: the node's address on the cluster network; `docker_id` on that node's engine).
import type { Kysely } from 'kysely';
import type { MigrationDialect } from './index.ts';

export function containers(d: MigrationDialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      const s = 'varchar(255)';
      await db.schema
        .createTable('container')
        .addColumn('id', d.serial, (c) => (d.name === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('created_at', d.datetime)
        .addColumn('updated_at', d.datetime)
        .addColumn('uuid', 'varchar(36)', (c) => c.notNull())
        .addColumn('name', s)
        .addColumn('project_id', s)
        .addColumn('user_id', s)
        .addColumn('cluster_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('image', s)
        // JSON: the command as given, a string (split like a shell) or a list of arguments.
        .addColumn('command', 'text')
        .addColumn('memory', s)
        .addColumn('cpu', 'double precision')
        .addColumn('environment', 'text')
        .addColumn('ports', 'text')
        .addColumn('restart_policy', 'varchar(64)')
        .addColumn('host', s)
        .addColumn('docker_id', s)
        .addColumn('status', 'varchar(20)')
        .addUniqueConstraint('uniq_container0uuid', ['uuid'])
        .execute();
      await db.schema.createIndex('ix_container_project_id').on('container').column('project_id').execute();
      await db.schema.createIndex('ix_container_cluster_id').on('container').column('cluster_id').execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      await db.schema.dropTable('container').execute();
    },
  };
}
