// Magnum 15's schema (alembic head of 15.0.1), one set for SQLite, PostgreSQL and MariaDB.
import type { Kysely } from 'kysely';
import type { MigrationDialect } from './index.ts';

export function initial(d: MigrationDialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      const table = (name: string) =>
        db.schema
          .createTable(name)
          .addColumn('id', d.serial, (c) => (d.name === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
          .addColumn('created_at', d.datetime)
          .addColumn('updated_at', d.datetime);
      const s = 'varchar(255)';

      await table('cluster_template')
        .addColumn('uuid', 'varchar(36)', (c) => c.notNull())
        .addColumn('project_id', s).addColumn('user_id', s).addColumn('name', s)
        .addColumn('image_id', s).addColumn('flavor_id', s).addColumn('master_flavor_id', s)
        .addColumn('keypair_id', s).addColumn('external_network_id', s).addColumn('fixed_network', s)
        .addColumn('fixed_subnet', s).addColumn('network_driver', s).addColumn('volume_driver', s)
        .addColumn('dns_nameserver', s).addColumn('apiserver_port', 'integer')
        .addColumn('docker_volume_size', 'integer').addColumn('docker_storage_driver', s)
        .addColumn('cluster_distro', s).addColumn('coe', s)
        .addColumn('http_proxy', s).addColumn('https_proxy', s).addColumn('no_proxy', s)
        .addColumn('registry_enabled', d.bool, (c) => c.defaultTo(d.false))
        .addColumn('labels', 'text')
        .addColumn('tls_disabled', d.bool, (c) => c.defaultTo(d.false))
        .addColumn('public', d.bool, (c) => c.defaultTo(d.false))
        .addColumn('server_type', s).addColumn('insecure_registry', s)
        .addColumn('master_lb_enabled', d.bool, (c) => c.defaultTo(d.false))
        .addColumn('floating_ip_enabled', d.bool, (c) => c.defaultTo(d.true))
        .addColumn('hidden', d.bool, (c) => c.defaultTo(d.false))
        .addColumn('tags', s)
        .addUniqueConstraint('uniq_baymodel0uuid', ['uuid'])
        .execute();

      await table('cluster')
        .addColumn('uuid', 'varchar(36)', (c) => c.notNull())
        .addColumn('project_id', s).addColumn('user_id', s).addColumn('name', s)
        .addColumn('cluster_template_id', s).addColumn('keypair', s)
        .addColumn('docker_volume_size', 'integer').addColumn('labels', 'text')
        .addColumn('master_flavor_id', s).addColumn('flavor_id', s).addColumn('stack_id', s)
        .addColumn('api_address', s).addColumn('status', 'varchar(20)').addColumn('status_reason', 'text')
        .addColumn('health_status', 'varchar(20)').addColumn('health_status_reason', 'text')
        .addColumn('create_timeout', 'integer').addColumn('discovery_url', s)
        .addColumn('trust_id', s).addColumn('trustee_username', s).addColumn('trustee_user_id', s)
        .addColumn('trustee_password', s).addColumn('coe_version', s).addColumn('container_version', s)
        .addColumn('ca_cert_ref', 'varchar(512)').addColumn('magnum_cert_ref', 'varchar(512)')
        .addColumn('etcd_ca_cert_ref', 'varchar(512)').addColumn('front_proxy_ca_cert_ref', 'varchar(512)')
        .addColumn('fixed_network', s).addColumn('fixed_subnet', s)
        .addColumn('floating_ip_enabled', d.bool, (c) => c.defaultTo(d.true))
        .addColumn('master_lb_enabled', d.bool, (c) => c.defaultTo(d.false))
        .addUniqueConstraint('uniq_bay0uuid', ['uuid'])
        .execute();
      await db.schema.createIndex('ix_cluster_project_id').on('cluster').column('project_id').execute();
      await db.schema.createIndex('ix_cluster_status').on('cluster').column('status').execute();
      await db.schema.createIndex('ix_cluster_template_id').on('cluster').column('cluster_template_id').execute();

      await table('nodegroup')
        .addColumn('uuid', 'varchar(36)', (c) => c.notNull())
        .addColumn('name', s, (c) => c.notNull())
        .addColumn('cluster_id', s, (c) => c.notNull())
        .addColumn('project_id', s).addColumn('docker_volume_size', 'integer').addColumn('labels', 'text')
        .addColumn('flavor_id', s).addColumn('image_id', s).addColumn('node_addresses', 'text')
        .addColumn('node_count', 'integer').addColumn('role', s)
        .addColumn('max_node_count', 'integer').addColumn('min_node_count', 'integer')
        .addColumn('is_default', d.bool, (c) => c.defaultTo(d.false))
        .addColumn('stack_id', s).addColumn('status', 'varchar(20)').addColumn('status_reason', 'text')
        .addColumn('version', 'varchar(20)')
        .addUniqueConstraint('uniq_nodegroup0uuid', ['uuid'])
        .addUniqueConstraint('uniq_nodegroup0cluster_id0name', ['cluster_id', 'name'])
        .execute();

      await table('x509keypair')
        .addColumn('uuid', 'varchar(36)', (c) => c.notNull())
        .addColumn('certificate', 'text').addColumn('private_key', 'text')
        .addColumn('private_key_passphrase', 'text').addColumn('intermediates', 'text')
        .addColumn('project_id', s).addColumn('user_id', s)
        .addUniqueConstraint('uniq_x509keypair0uuid', ['uuid'])
        .execute();

      await table('magnum_service')
        .addColumn('host', s).addColumn('binary', s)
        .addColumn('disabled', d.bool, (c) => c.defaultTo(d.false))
        .addColumn('disabled_reason', s)
        .addColumn('last_seen_up', d.datetime)
        .addColumn('forced_down', d.bool, (c) => c.defaultTo(d.false))
        .addColumn('report_count', 'integer', (c) => c.notNull().defaultTo(0))
        .addUniqueConstraint('uniq_magnum_service0host0binary', ['host', 'binary'])
        .execute();

      await table('quotas')
        .addColumn('project_id', s).addColumn('resource', s).addColumn('hard_limit', 'integer')
        .addUniqueConstraint('uniq_quotas0project_id0resource', ['project_id', 'resource'])
        .execute();

      await table('federation')
        .addColumn('uuid', 'varchar(36)', (c) => c.notNull())
        .addColumn('project_id', s).addColumn('name', s).addColumn('hostcluster_id', s)
        .addColumn('member_ids', 'text').addColumn('status', 'varchar(20)').addColumn('status_reason', 'text')
        .addColumn('properties', 'text')
        .addUniqueConstraint('uniq_federation0uuid', ['uuid'])
        .execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      for (const t of ['federation', 'quotas', 'magnum_service', 'x509keypair', 'nodegroup', 'cluster', 'cluster_template']) {
        await db.schema.dropTable(t).execute();
      }
    },
  };
}
