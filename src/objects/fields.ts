// Status values and the state rules that go with them (Magnum's objects/fields.py).

export const ClusterStatus = {
  CREATE_IN_PROGRESS: 'CREATE_IN_PROGRESS',
  CREATE_FAILED: 'CREATE_FAILED',
  CREATE_COMPLETE: 'CREATE_COMPLETE',
  UPDATE_IN_PROGRESS: 'UPDATE_IN_PROGRESS',
  UPDATE_FAILED: 'UPDATE_FAILED',
  UPDATE_COMPLETE: 'UPDATE_COMPLETE',
  DELETE_IN_PROGRESS: 'DELETE_IN_PROGRESS',
  DELETE_FAILED: 'DELETE_FAILED',
  DELETE_COMPLETE: 'DELETE_COMPLETE',
  RESUME_COMPLETE: 'RESUME_COMPLETE',
  RESUME_FAILED: 'RESUME_FAILED',
  RESTORE_COMPLETE: 'RESTORE_COMPLETE',
  ROLLBACK_IN_PROGRESS: 'ROLLBACK_IN_PROGRESS',
  ROLLBACK_FAILED: 'ROLLBACK_FAILED',
  ROLLBACK_COMPLETE: 'ROLLBACK_COMPLETE',
  SNAPSHOT_COMPLETE: 'SNAPSHOT_COMPLETE',
  CHECK_COMPLETE: 'CHECK_COMPLETE',
  ADOPT_COMPLETE: 'ADOPT_COMPLETE',
} as const;
export type ClusterStatus = (typeof ClusterStatus)[keyof typeof ClusterStatus];
export const CLUSTER_STATUSES = Object.values(ClusterStatus);

export const IN_PROGRESS_STATUSES: readonly ClusterStatus[] = [
  'CREATE_IN_PROGRESS', 'UPDATE_IN_PROGRESS', 'DELETE_IN_PROGRESS', 'ROLLBACK_IN_PROGRESS',
];
export const FAILED_STATUSES: readonly ClusterStatus[] = [
  'CREATE_FAILED', 'UPDATE_FAILED', 'DELETE_FAILED', 'ROLLBACK_FAILED', 'RESUME_FAILED',
];
/** Statuses from which update, upgrade and CA rotation may start (Magnum's conductor ALLOW list). */
export const UPDATE_ALLOWED: readonly ClusterStatus[] = [
  'CREATE_COMPLETE', 'UPDATE_COMPLETE', 'RESUME_COMPLETE', 'RESTORE_COMPLETE', 'ROLLBACK_COMPLETE',
  'SNAPSHOT_COMPLETE', 'CHECK_COMPLETE', 'ADOPT_COMPLETE',
];
/** Resize and nodegroup operations also start from UPDATE_FAILED. */
export const RESIZE_ALLOWED: readonly ClusterStatus[] = [...UPDATE_ALLOWED, 'UPDATE_FAILED'];

export const HEALTH_STATUSES = ['HEALTHY', 'UNHEALTHY', 'UNKNOWN'] as const;
export type HealthStatus = (typeof HEALTH_STATUSES)[number];

export const COE_TYPES = ['swarm-mode', 'dcos', 'kubernetes', 'mesos', 'swarm'] as const;
export const SERVER_TYPES = ['vm', 'bm'] as const;
export const QUOTA_RESOURCES = ['Cluster'] as const;

/** Operation kinds that act on what runs on a cluster, not on the cluster (see TaskKind). */
export const TASK_KINDS = ['container_create', 'container_action', 'container_delete', 'workload_create', 'workload_update', 'workload_delete'] as const;
export function isTaskKind(kind: string): kind is (typeof TASK_KINDS)[number] {
  return (TASK_KINDS as readonly string[]).includes(kind);
}
