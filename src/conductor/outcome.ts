// What the end of each kind of operation does to the cluster and its nodegroups: Magnum's status
// transitions, made in one transaction with the operation's own end. A task operation (a
// container action, a service update) ends without touching the cluster, whatever its outcome:
// its result or error is kept in the operation's params for the request waiting on it.
import { isTaskKind } from '../objects/fields.ts';
import type { Cluster, ClusterTemplate, NodeGroup, Operation } from '../objects/models.ts';

export interface Finish {
  cluster?: { uuid: string; changes: Partial<Cluster> } | null;
  nodegroups?: Record<string, Partial<NodeGroup>>;
  destroyNodeGroups?: string[];
  destroyCluster?: string;
  /** A task operation's params with its error (set by the runner, not here). */
  params?: Record<string, unknown>;
}

const inProgress = (ng: NodeGroup) => ng.status?.endsWith('_IN_PROGRESS');

export function completion(op: Operation, cluster: Cluster, ngs: readonly NodeGroup[], target: ClusterTemplate | null): Finish {
  // A task operation (container, service) never changes the cluster or its nodegroups.
  if (isTaskKind(op.kind)) return {};
  const ngUuid = String(op.params.nodegroup ?? op.nodegroup_id ?? '');
  const c = (status: Cluster['status'], extra: Partial<Cluster> = {}) => ({ uuid: cluster.uuid, changes: { status, status_reason: null, ...extra } });
  switch (op.kind) {
    case 'cluster_create': {
      const nodegroups: Record<string, Partial<NodeGroup>> = {};
      for (const ng of ngs) if (inProgress(ng)) nodegroups[ng.uuid] = { status: 'CREATE_COMPLETE', status_reason: null };
      return { cluster: c('CREATE_COMPLETE'), nodegroups };
    }
    case 'cluster_update':
    case 'cluster_resize':
    case 'nodegroup_update':
      return { cluster: c('UPDATE_COMPLETE'), nodegroups: { [ngUuid]: { status: 'UPDATE_COMPLETE', status_reason: null } } };
    case 'cluster_upgrade': {
      const ng = ngs.find((n) => n.uuid === ngUuid);
      const extra: Partial<Cluster> = ng?.is_default && target ? { cluster_template_id: target.uuid } : {};
      return {
        cluster: c('UPDATE_COMPLETE', extra),
        nodegroups: { [ngUuid]: { status: 'UPDATE_COMPLETE', status_reason: null, ...(target ? { image_id: target.image_id } : {}) } },
      };
    }
    case 'rotate_ca':
    case 'cluster_heal':
      return { cluster: c('UPDATE_COMPLETE') };
    case 'cluster_delete':
      return { destroyCluster: cluster.uuid };
    case 'nodegroup_create':
      return { cluster: c('UPDATE_COMPLETE'), nodegroups: { [ngUuid]: { status: 'CREATE_COMPLETE', status_reason: null } } };
    case 'nodegroup_delete':
      return { cluster: c('UPDATE_COMPLETE'), destroyNodeGroups: [ngUuid] };
  }
}

export function failure(op: Operation, cluster: Cluster, ngs: readonly NodeGroup[], reason: string): Finish {
  if (isTaskKind(op.kind)) return {};
  const ngUuid = String(op.params.nodegroup ?? op.nodegroup_id ?? '');
  const ng = ngs.find((n) => n.uuid === ngUuid);
  const c = (status: Cluster['status'], why = reason) => ({ uuid: cluster.uuid, changes: { status, status_reason: why } });
  switch (op.kind) {
    case 'cluster_create': {
      const nodegroups: Record<string, Partial<NodeGroup>> = {};
      for (const n of ngs) if (inProgress(n)) nodegroups[n.uuid] = { status: 'CREATE_FAILED', status_reason: reason };
      return { cluster: c('CREATE_FAILED'), nodegroups };
    }
    case 'cluster_update':
    case 'cluster_resize': {
      const prev = op.params.previous_node_count;
      return {
        cluster: c('UPDATE_FAILED'),
        nodegroups: { [ngUuid]: { status: 'UPDATE_FAILED', status_reason: reason, ...(typeof prev === 'number' ? { node_count: prev } : {}) } },
      };
    }
    case 'cluster_upgrade':
    case 'nodegroup_update':
      return { cluster: c('UPDATE_FAILED'), nodegroups: { [ngUuid]: { status: 'UPDATE_FAILED', status_reason: reason } } };
    case 'rotate_ca':
    case 'cluster_heal':
      return { cluster: c('UPDATE_FAILED') };
    case 'cluster_delete':
      return { cluster: c('DELETE_FAILED') };
    case 'nodegroup_create':
      return { cluster: c('UPDATE_FAILED', `${ng?.name ?? ngUuid} failed`), nodegroups: { [ngUuid]: { status: 'CREATE_FAILED', status_reason: reason } } };
    case 'nodegroup_delete':
      return { cluster: c('UPDATE_FAILED', `${ng?.name ?? ngUuid} failed`), nodegroups: { [ngUuid]: { status: 'DELETE_FAILED', status_reason: reason } } };
  }
}
