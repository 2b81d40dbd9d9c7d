// The API's only door to the conductor. Lifecycle requests are written to the database as an
// operation in the same transaction as the status change (the database is the source of truth),
// then a cast wakes a conductor. A lost message or a dead conductor costs only time: every
// conductor's sweep claims orphaned operations. Certificate reads and signing are RPC calls.
import { randomUUID } from 'node:crypto';
import type { RequestContext } from '../common/context.ts';
import { E, MagnumError } from '../common/errors.ts';
import type { Config } from '../conf/index.ts';
import type { ClusterCreate, OperationStart, Storage } from '../db/api.ts';
import { RequestAbandoned, isDatabaseUnavailable } from '../db/errors.ts';
import { currentRequestScope, noteCommit, type RequestGone } from '../common/request-scope.ts';
import { GroupCommit } from '../common/group-commit.ts';
import { CLUSTER_STATUSES, IN_PROGRESS_STATUSES, RESIZE_ALLOWED, UPDATE_ALLOWED } from '../objects/fields.ts';
import type { ContainerLive } from '../objects/container.ts';
import type { Cluster, ClusterTemplate, Container, NodeGroup, OperationKind, Workload } from '../objects/models.ts';
import type { RpcTransport } from '../rpc/transport.ts';
import type { ContainerAction } from './containers.ts';
import type { ImageLoadStarted } from './images.ts';
import type { TaskStarted } from './tasks.ts';
import type { LiveReply, WorkloadInput } from './workloads.ts';

/** What the API shows of a workload's live state (services, pods). */
export type { LiveReply } from './workloads.ts';

/** How often a request waiting for a task operation reads its row. */
const TASK_POLL_MS = 250;

export const RUN_OPERATION = 'run_operation';
/** Several operations in one message (`args.operations`), as the API's group commit of creates sends them. */
export const RUN_OPERATIONS = 'run_operations';
/** At most this many creates share one statement and one message. */
const CREATE_BATCH = 32;
/** How long a request waits to wake a conductor over the broker; the sweep covers a wake that failed. */
const WAKE_TIMEOUT_MS = 3_000;

export function contextToWire(ctx: RequestContext): Record<string, unknown> {
  return {
    request_id: ctx.requestId, user_id: ctx.userId, user_name: ctx.userName, project_id: ctx.projectId,
    project_name: ctx.projectName, domain_id: ctx.domainId, domain_name: ctx.domainName, roles: ctx.roles,
    is_admin: ctx.isAdmin,
  };
}

export interface CertificateReply {
  cluster_uuid: string;
  pem: string;
  csr?: string;
  ca_cert_type?: string | null;
}

export class ConductorAPI {
  readonly #storage: Storage;
  readonly #transport: RpcTransport;
  readonly #conf: Config;

  constructor(opts: { storage: Storage; transport: RpcTransport; conf: Config }) {
    this.#storage = opts.storage;
    this.#transport = opts.transport;
    this.#conf = opts.conf;
  }

  get #topic() {
    return this.#conf.conductor.topic;
  }

  #deadline(minutes: number | null | undefined): Date {
    const m = minutes && minutes > 0 ? minutes : this.#conf.conductor.default_operation_timeout;
    return new Date(Date.now() + m * 60_000);
  }

  /** Wakes a conductor for saved operations, in one message: `run_operation` for one (with its
   *  request's context), `run_operations` for several (a batch of creates). */
  async #wake(woken: { ctx: RequestContext; operation: string }[]): Promise<void> {
    const req = woken.length === 1
      ? { method: RUN_OPERATION, context: contextToWire(woken[0].ctx), args: { operation: woken[0].operation } }
      : { method: RUN_OPERATIONS, context: { request_ids: woken.map((w) => w.ctx.requestId) }, args: { operations: woken.map((w) => w.operation) } };
    try {
      await this.#transport.cast(this.#topic, req, { timeoutMs: WAKE_TIMEOUT_MS });
    } catch {
      // The operations are already saved; a conductor's sweep takes them over when the bus is back.
    }
  }

  /** The "requested" line of the timeline, written after the operation: the request has done its work
   * by then, so a database that fails just now costs the line, not the answer. */
  async #requested(ev: Parameters<Storage['appendEvent']>[0]): Promise<void> {
    await this.#storage.appendEvent(ev).catch(() => undefined);
  }

  #operation(ctx: RequestContext, clusterUuid: string, kind: OperationKind, params: Record<string, unknown>, deadline: Date, nodegroup: string | null = null) {
    return { uuid: randomUUID(), cluster_id: clusterUuid, nodegroup_id: nodegroup, kind, params, deadline_at: deadline, request_id: ctx.requestId };
  }

  async clusterCreate(ctx: RequestContext, cluster: Partial<Cluster> & { uuid: string }, nodegroups: Partial<NodeGroup>[]): Promise<void> {
    const timeout = cluster.create_timeout && cluster.create_timeout > 0 ? cluster.create_timeout : this.#conf.cluster_heat.create_timeout;
    const op = this.#operation(ctx, cluster.uuid, 'cluster_create', {}, this.#deadline(timeout));
    // The "requested" line goes in the create's own write: one commit for the request.
    await this.#creates.submit({ ctx, gone: currentRequestScope(), create: { cluster, nodegroups, op, event: { cluster_id: cluster.uuid, operation_id: op.uuid, step: 'cluster_create', outcome: 'info', message: 'Create requested.' } } });
  }

  /** Concurrent creates are written together and woken with one message (src/common/group-commit.ts):
   * under load a create costs a share of one statement and one publish instead of its own. A
   * create whose own client left before its batch went out is refused (RequestAbandoned) and left
   * out, as it would have been alone. */
  readonly #creates = new GroupCommit<{ ctx: RequestContext; gone: RequestGone | undefined; create: ClusterCreate }>(async (batch) => {
    await this.#storage.createClustersWithOperations(batch.map((b) => b.create));
    // Committed: the answers are held from now (src/api/read-cache.ts), the publish meanwhile.
    const committedAt = performance.now();
    await this.#wake(batch.map((b) => ({ ctx: b.ctx, operation: b.create.op.uuid })));
    return committedAt;
  }, { maxBatch: CREATE_BATCH, alike: isDatabaseUnavailable, refuse: (b) => (b.gone?.aborted ? new RequestAbandoned() : undefined) });

  async #start(ctx: RequestContext, cluster: Cluster, verb: string, start: Omit<OperationStart, 'clusterUuid'>): Promise<void> {
    const ok = await this.#storage.startOperation({ ...start, clusterUuid: cluster.uuid });
    if (!ok) {
      const now = await this.#storage.getClusterByUuid(cluster.uuid);
      if (!now) throw E.ClusterNotFound(cluster.uuid);
      if (now.status && (IN_PROGRESS_STATUSES as string[]).includes(now.status)) throw E.OperationInProgress(now.name ?? now.uuid);
      throw E.NotSupported(`${verb} a cluster when status is "${now.status}" is not supported.`);
    }
    await this.#requested({ cluster_id: cluster.uuid, operation_id: start.operation.uuid, step: start.operation.kind, outcome: 'info', message: `${start.operation.kind.replace('_', ' ')} requested.` });
    await this.#wake([{ ctx, operation: start.operation.uuid }]);
  }

  /** PATCH /clusters: node_count of the default worker group. */
  async clusterUpdate(ctx: RequestContext, cluster: Cluster, worker: NodeGroup, nodeCount: number, rollback: boolean): Promise<void> {
    const op = this.#operation(ctx, cluster.uuid, 'cluster_update', { node_count: nodeCount, previous_node_count: worker.node_count, nodegroup: worker.uuid, rollback }, this.#deadline(null), worker.uuid);
    await this.#start(ctx, cluster, 'Updating', {
      allowed: UPDATE_ALLOWED,
      clusterStatus: 'UPDATE_IN_PROGRESS',
      nodegroupChanges: { [worker.uuid]: { node_count: nodeCount, status: 'UPDATE_IN_PROGRESS', status_reason: null } },
      operation: op,
    });
  }

  async clusterResize(ctx: RequestContext, cluster: Cluster, ng: NodeGroup, nodeCount: number, nodesToRemove: string[]): Promise<void> {
    const op = this.#operation(ctx, cluster.uuid, 'cluster_resize', { node_count: nodeCount, previous_node_count: ng.node_count, nodegroup: ng.uuid, nodes_to_remove: nodesToRemove }, this.#deadline(null), ng.uuid);
    await this.#start(ctx, cluster, 'Resizing', {
      allowed: RESIZE_ALLOWED,
      clusterStatus: 'UPDATE_IN_PROGRESS',
      nodegroupChanges: { [ng.uuid]: { node_count: nodeCount, status: 'UPDATE_IN_PROGRESS', status_reason: null } },
      operation: op,
    });
  }

  async clusterUpgrade(ctx: RequestContext, cluster: Cluster, template: ClusterTemplate, maxBatchSize: number | null, ng: NodeGroup): Promise<void> {
    const op = this.#operation(ctx, cluster.uuid, 'cluster_upgrade', { cluster_template: template.uuid, max_batch_size: maxBatchSize ?? 1, nodegroup: ng.uuid, previous_template: cluster.cluster_template_id }, this.#deadline(null), ng.uuid);
    await this.#start(ctx, cluster, 'Upgrading', {
      allowed: UPDATE_ALLOWED,
      clusterStatus: 'UPDATE_IN_PROGRESS',
      nodegroupChanges: { [ng.uuid]: { status: 'UPDATE_IN_PROGRESS', status_reason: null } },
      operation: op,
    });
  }

  async rotateCa(ctx: RequestContext, cluster: Cluster): Promise<void> {
    const op = this.#operation(ctx, cluster.uuid, 'rotate_ca', {}, this.#deadline(null));
    await this.#start(ctx, cluster, 'Updating', { allowed: UPDATE_ALLOWED, clusterStatus: 'UPDATE_IN_PROGRESS', operation: op });
  }

  /** Delete is accepted from any state; it supersedes an operation still running on the cluster. */
  async clusterDelete(ctx: RequestContext, cluster: Cluster, opts: { force?: boolean } = {}): Promise<void> {
    const op = this.#operation(ctx, cluster.uuid, 'cluster_delete', opts.force ? { force: true } : {}, this.#deadline(null));
    const allowed = CLUSTER_STATUSES.filter((s) => s !== 'DELETE_IN_PROGRESS');
    const ok = await this.#storage.startOperation({
      clusterUuid: cluster.uuid, allowed, clusterStatus: 'DELETE_IN_PROGRESS', operation: op, supersede: 'Cancelled: the cluster is being deleted.',
    });
    if (!ok) {
      const now = await this.#storage.getClusterByUuid(cluster.uuid);
      if (!now) throw E.ClusterNotFound(cluster.uuid);
      if (!opts.force) return; // a delete is already under way: DELETE is idempotent
      // A forced delete replaces the delete under way.
      const forced = await this.#storage.startOperation({ clusterUuid: cluster.uuid, allowed: ['DELETE_IN_PROGRESS'], clusterStatus: 'DELETE_IN_PROGRESS', operation: op, supersede: 'Replaced by a forced delete.' });
      if (!forced) return;
    }
    await this.#requested({ cluster_id: cluster.uuid, operation_id: op.uuid, step: 'cluster_delete', outcome: 'info', message: 'Delete requested.' });
    await this.#wake([{ ctx, operation: op.uuid }]);
  }

  async nodegroupCreate(ctx: RequestContext, cluster: Cluster, ng: Partial<NodeGroup> & { uuid: string }): Promise<void> {
    const op = this.#operation(ctx, cluster.uuid, 'nodegroup_create', { nodegroup: ng.uuid }, this.#deadline(null), ng.uuid);
    await this.#start(ctx, cluster, 'Updating', {
      allowed: RESIZE_ALLOWED,
      clusterStatus: 'UPDATE_IN_PROGRESS',
      nodegroupInserts: [{ ...ng, status: 'CREATE_IN_PROGRESS' }],
      operation: op,
    });
  }

  async nodegroupDelete(ctx: RequestContext, cluster: Cluster, ng: NodeGroup): Promise<void> {
    const op = this.#operation(ctx, cluster.uuid, 'nodegroup_delete', { nodegroup: ng.uuid }, this.#deadline(null), ng.uuid);
    await this.#start(ctx, cluster, 'Updating', {
      allowed: RESIZE_ALLOWED,
      clusterStatus: 'UPDATE_IN_PROGRESS',
      nodegroupChanges: { [ng.uuid]: { status: 'DELETE_IN_PROGRESS', status_reason: null } },
      operation: op,
    });
  }

  getCaCertificate(ctx: RequestContext, cluster: Cluster, caCertType: string | null): Promise<CertificateReply> {
    return this.#call(ctx, 'get_ca_certificate', { cluster: cluster.uuid, ca_cert_type: caCertType });
  }

  signCertificate(ctx: RequestContext, cluster: Cluster, csr: string, caCertType: string | null): Promise<CertificateReply> {
    return this.#call(ctx, 'sign_certificate', { cluster: cluster.uuid, csr, ca_cert_type: caCertType });
  }

  // ---- containers (/v1/containers) ------------------------------------------------------------

  /** Live status of containers (read from their nodes). */
  containerStatus(ctx: RequestContext, containers: Pick<Container, 'uuid' | 'cluster_id' | 'host' | 'status'>[], timeoutMs: number): Promise<Record<string, ContainerLive>> {
    return this.#call(ctx, 'container_status', { containers }, timeoutMs);
  }

  /** Creates a container (a task operation) and waits for it. */
  async containerCreate(ctx: RequestContext, spec: Partial<Container> & { uuid: string; cluster_id: string; image: string }, timeoutMs: number): Promise<ContainerLive> {
    return this.#task<ContainerLive>(ctx, 'container_create', { container: spec }, timeoutMs);
  }

  /** start, stop, reboot, pause, unpause (a task operation), waited for: the container's live state after it. */
  containerAction(ctx: RequestContext, uuid: string, action: ContainerAction, grace: number | null, timeoutMs: number): Promise<ContainerLive> {
    return this.#task<ContainerLive>(ctx, 'container_action', { container: uuid, action, timeout: grace }, timeoutMs);
  }

  async containerDelete(ctx: RequestContext, uuid: string, force: boolean, timeoutMs: number): Promise<void> {
    await this.#task(ctx, 'container_delete', { container: uuid, force }, timeoutMs);
  }

  /** Resource limits and restart policy changed live (docker update; the row follows). */
  containerUpdate(ctx: RequestContext, uuid: string, changes: Partial<Pick<Container, 'memory' | 'cpu' | 'restart_policy'>>, timeoutMs: number): Promise<ContainerLive> {
    return this.#call(ctx, 'container_update', { container: uuid, changes }, timeoutMs);
  }

  containerLogs(ctx: RequestContext, uuid: string, opts: { tail: number | null; since: string | null; timestamps: boolean }, timeoutMs: number): Promise<{ output: string }> {
    return this.#call(ctx, 'container_logs', { container: uuid, ...opts }, timeoutMs);
  }

  containerExec(ctx: RequestContext, uuid: string, command: string[], timeoutS: number, timeoutMs: number): Promise<{ output: string; exit_code: number; stdout: string; stderr: string }> {
    return this.#call(ctx, 'container_exec', { container: uuid, command, timeout: timeoutS }, timeoutMs);
  }

  // ---- services and pods (/v1/services, /v1/pods) ---------------------------------------------

  /** Creates a service or pod (a task operation) and waits for it: its live state. */
  workloadCreate(ctx: RequestContext, kind: Workload['kind'], clusterUuid: string, workload: WorkloadInput, timeoutMs: number): Promise<LiveReply> {
    return this.#task<LiveReply>(ctx, `${kind}_create`, { cluster: clusterUuid, workload }, timeoutMs);
  }

  workloadUpdate(ctx: RequestContext, kind: Workload['kind'], uuid: string, manifest: Record<string, unknown>, timeoutMs: number): Promise<LiveReply> {
    return this.#task<LiveReply>(ctx, `${kind}_update`, { workload: uuid, manifest }, timeoutMs);
  }

  async workloadDelete(ctx: RequestContext, kind: Workload['kind'], uuid: string, timeoutMs: number): Promise<void> {
    await this.#task(ctx, `${kind}_delete`, { workload: uuid }, timeoutMs);
  }

  workloadShow(ctx: RequestContext, kind: Workload['kind'], uuid: string, timeoutMs: number): Promise<LiveReply> {
    return this.#call(ctx, `${kind}_show`, { workload: uuid }, timeoutMs);
  }

  workloadShowMany(ctx: RequestContext, kind: Workload['kind'], uuids: string[], timeoutMs: number): Promise<Record<string, LiveReply>> {
    return this.#call(ctx, `${kind}_show_many`, { workloads: uuids }, timeoutMs);
  }

  // ---- images loaded into a cluster's nodes -----------------------------------------------------

  imageLoad(ctx: RequestContext, clusterUuid: string, file: string, timeoutMs: number): Promise<ImageLoadStarted> {
    return this.#call(ctx, 'cluster_load_image', { cluster: clusterUuid, file }, timeoutMs);
  }

  imageList(ctx: RequestContext, clusterUuid: string, timeoutMs: number): Promise<Record<string, unknown>> {
    return this.#call(ctx, 'cluster_list_images', { cluster: clusterUuid }, timeoutMs);
  }

  /**
   * A task operation: the conductor checks the request (a refusal is answered at once, nothing
   * written), writes the operation and starts it; the request then waits on the operation's row,
   * so it gets the end even when another conductor finished it after the first one died. Past
   * `timeoutMs` the answer is 504 and the operation goes on (as an RPC call that timed out).
   */
  async #task<T>(ctx: RequestContext, method: string, args: Record<string, unknown>, timeoutMs: number): Promise<T> {
    const until = Date.now() + timeoutMs;
    // The request names its operation: a repeat delivery to another conductor answers the same one.
    const started = await this.#call<TaskStarted | null>(ctx, method, { ...args, operation: randomUUID() }, timeoutMs);
    if (!started) return null as T; // nothing to do (e.g. a container whose cluster is gone: its row went)
    for (;;) {
      const op = await this.#storage.getOperation(started.operation);
      if (!op) throw E.ServiceUnavailable(`Operation ${started.operation} (${method}) disappeared: its cluster was deleted meanwhile.`);
      // A conductor committed the outcome (and what the task changed) for this request.
      if (op.state === 'complete' || op.state === 'failed') noteCommit();
      if (op.state === 'complete') return ((op.params.state as Record<string, unknown> | undefined)?.result ?? null) as T;
      if (op.state === 'failed') {
        const e = op.params.error as { code: string; status: number; message: string } | undefined;
        throw e ? new MagnumError(e.code, e.status, e.message) : E.ServiceUnavailable(op.last_error ?? `Operation ${op.uuid} failed.`);
      }
      if (Date.now() >= until) {
        throw E.GatewayTimeout(`Operation ${op.uuid} (${method}) did not finish within ${Math.round(timeoutMs / 1000)} s; it goes on (step ${op.step ?? 'start'}, deadline ${op.deadline_at.toISOString()}).`);
      }
      await new Promise((r) => setTimeout(r, TASK_POLL_MS));
    }
  }

  /** A call's answer may follow the conductor's commits for this request: noted as one (src/common/request-scope.ts). */
  async #call<T>(ctx: RequestContext, method: string, args: Record<string, unknown>, timeoutMs?: number): Promise<T> {
    try {
      return await this.#transport.call<T>(this.#topic, { method, context: contextToWire(ctx), args }, { timeoutMs: timeoutMs ?? this.#conf.DEFAULT.rpc_response_timeout * 1000 });
    } finally {
      noteCommit();
    }
  }
}
