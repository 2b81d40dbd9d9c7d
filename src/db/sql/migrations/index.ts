import { Migrator, type Kysely, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely';
import type { DialectName } from '../connection.ts';
import { initial } from './001-initial.ts';
import { operations } from './002-operations.ts';
import { ledger } from './003-ledger.ts';
import { containers } from './004-containers.ts';
import { services } from './005-services.ts';
import { subnets } from './006-subnets.ts';
import { imageLoads } from './007-image-loads.ts';
import { changeNotify } from './008-change-notify.ts';
import { clusterCounts } from './009-cluster-counts.ts';

/** Column types that differ between the three databases. */
export interface MigrationDialect {
  name: DialectName;
  serial: 'integer' | 'serial';
  datetime: 'text' | 'timestamptz' | 'datetime(6)';
  bool: 'integer' | 'boolean';
  true: number | boolean;
  false: number | boolean;
}

function dialectTypes(name: DialectName): MigrationDialect {
  if (name === 'sqlite') return { name, serial: 'integer', datetime: 'text', bool: 'integer', true: 1, false: 0 };
  if (name === 'postgres') return { name, serial: 'serial', datetime: 'timestamptz', bool: 'boolean', true: true, false: false };
  return { name, serial: 'integer', datetime: 'datetime(6)', bool: 'boolean', true: true, false: false };
}

/** Ordered by name; the name is the version `magnum-db-manage version` prints. */

export function migrations(name: DialectName): Record<string, Migration> {
  const d = dialectTypes(name);
  return { '001_initial': initial(d), '002_operations': operations(d), '003_ledger': ledger(d), '004_containers': containers(d), '005_services': services(d), '006_subnets': subnets(d), '007_image_loads': imageLoads(d), '008_change_notify': changeNotify(d), '009_cluster_counts': clusterCounts(d) };
}

/** The newest migration's name. */
export const HEAD = Object.keys(migrations('sqlite')).sort().at(-1)!;

export function migrator(db: Kysely<any>, name: DialectName): Migrator {
  const provider: MigrationProvider = { getMigrations: async () => migrations(name) };
  return new Migrator({ db, provider, migrationTableName: 'magnum_migration', migrationLockTableName: 'magnum_migration_lock' });
}

export function check(result: MigrationResultSet): void {
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error');
    throw new Error(`migration ${failed?.migrationName ?? ''} failed: ${(result.error as Error).message ?? result.error}`);
  }
}
