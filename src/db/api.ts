// The storage interface: one method per intent, declared here and implemented by the SQL layer
// (src/db/sql/storage.ts, the one implementation, built only in src/cmd). The API and the
// conductor depend on this interface, never on the SQL classes.
import type { ClusterStatus } from '../objects/fields.ts';
import type {
  Cluster, ClusterEvent, ClusterResource, ClusterTemplate, Container, ImageLoad, MagnumService, NodeGroup, Operation, Quota, Workload, X509KeyPair,
} from '../objects/models.ts';
import type { Scope } from '../common/scope.ts';

/** Project scoping of a query: one project, or all projects (see src/common/scope.ts: the one rule). */
export type { Scope } from '../common/scope.ts';
export { DuplicateWorkload, UniqueViolation } from './errors.ts';
export { COLUMNS as SORTABLE_COLUMNS } from './sql/rows.ts';

export interface PageRequest {
  limit: number;
  sortKey: string;
  sortDir: 'asc' | 'desc';
  /** The marker row itself (already resolved and visible to the caller), or none. */
  marker?: object | null;
}

/** An ident lookup: by uuid (any case), name or integer id; at most two rows come back. */
export interface IdentLookup {
  uuid?: string;
  name?: string;
  id?: number;
}

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

export interface OperationFinish {
  uuid: string;
  /** When given, the write happens only while that owner still holds the operation. */
  owner: string | null;
  state: 'complete' | 'failed';
  error?: string | null;
  cluster?: { uuid: string; changes: Partial<Cluster> } | null;
  nodegroups?: Record<string, Partial<NodeGroup>>;
  destroyNodeGroups?: string[];
  destroyCluster?: string;
  /** The operation's params replaced (a task operation's result or error). */
  params?: Record<string, unknown>;
}

/** What one finished step of an operation leaves: its name, the operation's params, and the cluster and nodegroup changes it made. */
export interface StepOutcome {
  uuid: string;
  /** The write happens only while this owner holds the running operation. */
  owner: string;
  step: string;
  params?: Record<string, unknown>;
  cluster?: { uuid: string; changes: Partial<Cluster> } | null;
  nodegroups?: Record<string, Partial<NodeGroup>>;
}

export type ClusterWithTemplateLabels = Cluster & { template_labels: Record<string, string> | null };
/** A cluster as its show reads it: with its template's labels and its nodegroups (ordered by id). */
export type ClusterView = ClusterWithTemplateLabels & { nodegroups: NodeGroup[] };
/** What the cluster list views read of a nodegroup. */
export type NodeGroupSummary = Pick<NodeGroup, 'cluster_id' | 'role' | 'node_count' | 'node_addresses'>;

export type NewWorkload = Pick<Workload, 'uuid' | 'kind' | 'name' | 'project_id' | 'user_id' | 'cluster_id' | 'coe' | 'manifest'> & { backend_id?: string | null };

/** Services and pods made through the API (/v1/services, /v1/pods). */
export interface WorkloadStorage {
  /** Throws DuplicateWorkload when the cluster has one of that kind and name. */
  create(values: NewWorkload): Promise<Workload>;
  get(uuid: string): Promise<Workload | null>;
  find(kind: Workload['kind'], scope: Scope, by: { uuid?: string; name?: string }, clusterUuid?: string): Promise<Workload[]>;
  list(kind: Workload['kind'], scope: Scope, page: PageRequest, clusterUuid?: string): Promise<Workload[]>;
  /** Every workload of a kind (all projects), oldest first: the conductor's reconciliation. */
  listAll(kind: Workload['kind'], limit?: number): Promise<Workload[]>;
  update(uuid: string, changes: Partial<Pick<Workload, 'manifest' | 'backend_id'>>): Promise<Workload | null>;
  destroy(uuid: string): Promise<void>;
  count(): Promise<number>;
}

/** One cluster create as the API writes it: the cluster, its nodegroups, its operation and the operation's first event. */
export interface ClusterCreate {
  cluster: Partial<Cluster>;
  nodegroups: Partial<NodeGroup>[];
  op: NewOperation;
  event?: Omit<ClusterEvent, 'id' | 'created_at'>;
}

export interface Storage {
  readonly workloads: WorkloadStorage;

  // Schema and lifetime.
  migrate(): Promise<string[]>;
  migrateDown(steps?: number): Promise<void>;
  version(): Promise<string | null>;
  close(): Promise<void>;

  // Cluster templates. Visibility: own project's, public ones, or all (admins).
  createClusterTemplate(values: Partial<ClusterTemplate>): Promise<ClusterTemplate>;
  findClusterTemplates(scope: Scope, by: IdentLookup): Promise<ClusterTemplate[]>;
  listClusterTemplates(scope: Scope, page: PageRequest): Promise<ClusterTemplate[]>;
  updateClusterTemplate(uuid: string, changes: Partial<ClusterTemplate>): Promise<ClusterTemplate>;
  /** Deletes the template unless a cluster (of any project) uses it; false when one does. */
  deleteClusterTemplateIfUnused(uuid: string): Promise<boolean>;
  isClusterTemplateReferenced(uuid: string): Promise<boolean>;
  getClusterTemplateByUuid(uuid: string): Promise<ClusterTemplate | null>;
  getClusterTemplatesByUuids(uuids: string[]): Promise<ClusterTemplate[]>;

  // Clusters.
  findClusters(scope: Scope, by: IdentLookup): Promise<Cluster[]>;
  getClusterByUuid(uuid: string): Promise<Cluster | null>;
  listClusters(scope: Scope, page: PageRequest): Promise<Cluster[]>;
  /** Clusters (at most 2) with their template's labels and their nodegroups, in one query. */
  findClustersForView(scope: Scope, by: { uuid?: string; name?: string }): Promise<ClusterView[]>;
  listClustersForView(scope: Scope, page: PageRequest): Promise<ClusterWithTemplateLabels[]>;
  /** Clusters of one project (the quota check). */
  countClusters(projectId: string): Promise<number>;
  /** The project's Cluster quota (null: none set) and how many clusters it has, in one query. */
  clusterQuotaUsage(projectId: string): Promise<{ hardLimit: number | null; count: number }>;
  clusterStats(scope: Scope): Promise<{ clusters: number; nodes: number }>;
  /** Clusters in these statuses, in id order, the first `limit` after id `afterId` (pages). */
  listClustersInStatus(statuses: readonly string[], limit: number, afterId?: number): Promise<Cluster[]>;
  updateCluster(uuid: string, changes: Partial<Cluster>): Promise<Cluster | null>;
  /**
   * A health change, written only while the cluster's health is still what the caller read
   * (`before`): of several conductors polling the same cluster, one writes the change (and its
   * timeline lines); false for the others.
   */
  setClusterHealth(uuid: string, before: Pick<Cluster, 'health_status' | 'health_status_reason'>, after: Pick<Cluster, 'health_status' | 'health_status_reason'>): Promise<boolean>;
  /** Removes the cluster row with its nodegroups, operations and events. */
  destroyCluster(uuid: string): Promise<void>;

  // Nodegroups.
  listNodeGroupsOf(clusterUuids: string[]): Promise<NodeGroup[]>;
  /** The columns the list views read, of the nodegroups of these clusters, ordered by id. */
  listNodeGroupSummariesOf(clusterUuids: string[]): Promise<NodeGroupSummary[]>;
  listNodeGroups(clusterUuid: string, scope: Scope, page: PageRequest, role?: string): Promise<NodeGroup[]>;
  findNodeGroups(clusterUuid: string, scope: Scope, by: IdentLookup): Promise<NodeGroup[]>;
  updateNodeGroup(uuid: string, changes: Partial<NodeGroup>): Promise<NodeGroup | null>;
  destroyNodeGroup(uuid: string): Promise<void>;

  // Operations: every lifecycle change is a row, claimed under a lease (DESIGN-NOTES.md).
  /** The cluster, its nodegroups, its first operation and (given) that operation's first event, in one transaction. */
  createClusterWithOperation(cluster: Partial<Cluster>, nodegroups: Partial<NodeGroup>[], op: NewOperation, event?: Omit<ClusterEvent, 'id' | 'created_at'>): Promise<Cluster>;
  /**
   * Several creates committed together (group commit): every cluster, nodegroup, operation and
   * event in one statement on PostgreSQL, one transaction elsewhere. All or nothing: a caller that
   * must not share another's failure tries its own create alone (src/common/group-commit.ts).
   */
  createClustersWithOperations(creates: ClusterCreate[]): Promise<void>;
  /** Move the cluster to a new status and insert the operation, all or nothing; false when the cluster's state does not allow it. */
  startOperation(start: OperationStart): Promise<boolean>;
  /**
   * A task operation (container, service), with the row it acts on when it makes one (container,
   * workload: the row is the ledger entry of the object it makes), in one transaction, the
   * cluster's status untouched; false when the cluster is gone or being deleted. Throws
   * UniqueViolation / DuplicateWorkload for a row that exists.
   */
  startTaskOperation(op: NewOperation, rows?: { container?: Partial<Container> & { uuid: string; cluster_id: string }; workload?: NewWorkload }): Promise<boolean>;
  getOperation(uuid: string): Promise<Operation | null>;
  listOperations(clusterUuid: string): Promise<Operation[]>;
  /** Take an operation nobody holds (or whose holder's lease ran out). True if this owner got it. */
  claimOperation(uuid: string, owner: string, leaseUntil: Date, now: Date): Promise<boolean>;
  /** Renews every given operation `owner` holds running, in one statement; answers those it still holds. */
  renewLeases(owner: string, uuids: readonly string[], leaseUntil: Date): Promise<string[]>;
  saveOperationStep(uuid: string, owner: string, step: string, params?: Record<string, unknown>): Promise<boolean>;
  /** A step's outcome: the step, the params and its cluster and nodegroup changes, in one transaction; false (nothing written) unless `owner` holds it. */
  saveStepOutcome(outcome: StepOutcome): Promise<boolean>;
  /** Give an operation back (this owner stopped working on it). */
  releaseOperation(uuid: string, owner: string): Promise<void>;
  /** Operations a sweep should look at: unowned or lease expired, or past their deadline. */
  listStaleOperations(now: Date, limit?: number): Promise<Operation[]>;
  /** Finish an operation and apply the final cluster and nodegroup changes atomically. */
  finishOperation(fin: OperationFinish): Promise<boolean>;

  // The cluster's ledger of external resources (nothing is created before it is recorded here).
  /** Record (or re-record) a resource before creating it; a present one stays present. */
  intendResource(clusterUuid: string, kind: ClusterResource['kind'], name: string, details?: Record<string, unknown>): Promise<void>;
  markResource(clusterUuid: string, kind: ClusterResource['kind'], name: string, state: 'present' | 'removed', externalId?: string | null, details?: Record<string, unknown>): Promise<void>;
  listResources(clusterUuid: string, opts?: { includeRemoved?: boolean }): Promise<ClusterResource[]>;
  /** The resources (not removed) of these clusters, in id order. */
  listResourcesOf(clusterUuids: string[]): Promise<ClusterResource[]>;

  // Per-cluster address space (one subnet per cluster, unique across clusters).
  findClusterSubnet(clusterUuid: string): Promise<string | null>;
  listAllocatedSubnets(): Promise<{ clusterUuid: string; subnet: string }[]>;
  /** Allocate `subnet` unless another cluster holds it: the subnet the cluster holds afterwards, or null when it is taken. */
  claimClusterSubnet(clusterUuid: string, subnet: string): Promise<string | null>;
  releaseClusterSubnet(clusterUuid: string): Promise<void>;

  // Image loads: a row per load, held by its conductor under a lease (the cluster's status is not touched).
  /** Record a load before it starts, running and held by `owner` until `leaseUntil`. */
  startImageLoad(load: Pick<ImageLoad, 'uuid' | 'cluster_id' | 'file' | 'owner' | 'lease_expires_at' | 'deadline_at'>): Promise<void>;
  getImageLoad(uuid: string): Promise<ImageLoad | null>;
  renewImageLoad(uuid: string, owner: string, leaseUntil: Date): Promise<boolean>;
  /** Take over a running load whose holder's lease ran out (not past its deadline): true if `owner` got it. */
  claimImageLoad(uuid: string, owner: string, leaseUntil: Date, now: Date): Promise<boolean>;
  /** End a running load (only while `owner` holds it, unless null: the sweep); false when it had ended. */
  finishImageLoad(uuid: string, owner: string | null, state: 'complete' | 'failed', error: string | null): Promise<boolean>;
  /** Running loads whose lease ran out, or past their deadline. */
  listStaleImageLoads(now: Date, limit?: number): Promise<ImageLoad[]>;

  // The cluster's timeline.
  appendEvent(ev: Omit<ClusterEvent, 'id' | 'created_at'>): Promise<void>;
  /** Several events in one statement, in the given order (ascending ids). */
  appendEvents(evs: Omit<ClusterEvent, 'id' | 'created_at'>[]): Promise<void>;
  listEvents(clusterUuid: string, opts: { limit: number; afterId?: number }): Promise<ClusterEvent[]>;

  // Quotas.
  createQuota(values: Partial<Quota>): Promise<Quota>;
  getQuota(projectId: string, resource: string): Promise<Quota | null>;
  getQuotaById(id: number): Promise<Quota | null>;
  listQuotas(scope: Scope, page: PageRequest): Promise<Quota[]>;
  updateQuota(id: number, changes: Partial<Quota>): Promise<Quota>;
  deleteQuota(id: number): Promise<void>;

  // Conductor services (heartbeats).
  reportServiceUp(host: string, binary: string): Promise<void>;
  listServices(): Promise<MagnumService[]>;

  // Certificates (private keys stored encrypted by src/cert).
  createX509KeyPair(values: Partial<X509KeyPair>): Promise<X509KeyPair>;
  getX509KeyPair(uuid: string): Promise<X509KeyPair | null>;
  deleteX509KeyPair(uuid: string): Promise<void>;

  // Containers (/v1/containers).
  createContainer(values: Partial<Container> & { uuid: string; cluster_id: string }): Promise<Container>;
  findContainers(scope: Scope, by: { uuid?: string; name?: string }): Promise<Container[]>;
  getContainerByUuid(uuid: string): Promise<Container | null>;
  listContainers(scope: Scope, page: PageRequest, clusterUuid?: string): Promise<Container[]>;
  /** Every container of a cluster (placement counts containers per node). */
  listContainersOfCluster(clusterUuid: string): Promise<Container[]>;
  updateContainer(uuid: string, changes: Partial<Container>): Promise<Container | null>;
  /** Several containers' last seen status at once (a list refresh). */
  setContainerStatuses(statuses: Record<string, string>): Promise<void>;
  destroyContainer(uuid: string): Promise<void>;

  /** For tests and the sample data loader: how many rows each table has. */
  tableCounts(): Promise<Record<string, number>>;
}
