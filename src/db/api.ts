// The storage interface: one method per intent. The API and the conductor depend on this type;
// only src/cmd builds the SQL implementation (src/db/sql/storage.ts).
import type { ClusterStatus } from '../objects/fields.ts';
import type { Cluster, NodeGroup, Operation } from '../objects/models.ts';
import type { SqlStorage } from './sql/storage.ts';

/** Project scoping of a query: one project, or all projects (see src/common/scope.ts: the one rule). */
export type { Scope } from '../common/scope.ts';

export type NewOperation = Pick<Operation, 'uuid' | 'cluster_id' | 'nodegroup_id' | 'kind' | 'params' | 'deadline_at' | 'request_id'>;

export interface OperationStart {
  clusterUuid: string;
  allowed: readonly ClusterStatus[];
  clusterStatus: ClusterStatus;
  clusterChanges?: Partial<Cluster>;
  nodegroupInserts?: Partial<NodeGroup>[];
  nodegroupChanges?: Record<string, Partial<NodeGroup>>;
  operation: NewOperation;
  /** When set, operations still active on the cluster are ended (failed, with this reason) instead of refusing. */
  supersede?: string;
}

export type { PageRequest } from './sql/paginate.ts';
export { UniqueViolation } from './sql/storage.ts';
export { COLUMNS as SORTABLE_COLUMNS } from './sql/rows.ts';

/** Everything the storage offers; SqlStorage is the one implementation. */
export type Storage = Omit<SqlStorage, 'conn'>;
