// The conductor's side of /v1/services and /v1/pods: RPC methods that keep the rows (tenancy,
// names, listing) and ask the cluster driver's backend (Driver.workloads) for everything live, and
// the published ports of Swarm services (PortForwarders), reconciled every few seconds so that a
// restarted conductor serves them again and moved tasks are followed. Create, update and delete
// are task operations (src/conductor/tasks.ts): checked here (a refusal changes nothing), then run
// as named idempotent steps under a lease, resumed by another conductor if this one dies; the
// object's row, written with the create operation, is its ledger entry.
import type { Logger } from 'pino';
import { ClusterCertificates } from '../cert/cert-manager.ts';
import { E, MagnumError } from '../common/errors.ts';
import { DuplicateWorkload } from '../db/api.ts';
import type { DriverRegistry } from '../drivers/registry.ts';
import type { NodeImages, ObjectBackend, WorkloadAccess, Workloads } from '../drivers/workloads.ts';
import { backendKey, ingressPorts, publishAddress, type SwarmServiceManifest } from '../objects/manifests.ts';
import type { Cluster, ClusterTemplate, Operation, Workload } from '../objects/models.ts';
import type { Step } from '../drivers/driver.ts';
import { PortForwarders } from './port-forwarder.ts';
import type { MethodDeps, RpcMethods } from './rpc-methods.ts';
import type { TaskStarted } from './tasks.ts';

export const RECONCILE_INTERVAL_MS = 3_000;
/** A create, update or delete operation's deadline (within the API's wait, 90 s). */
const TASK_DEADLINE_MS = 80_000;
type Kind = Workload['kind'];
interface Target {
  cluster: Cluster;
  template: ClusterTemplate;
  backend: ObjectBackend;
}

interface PortListener {
  /** host:port */
  key: string;
  host: string;
  port: number;
  /** The key of the task endpoints behind it (target/protocol). */
  backend: string;
}

/** The ports a Swarm service publishes on the cluster's address. */
export function portListeners(manifest: Record<string, unknown>, cluster: Pick<Cluster, 'api_address'>): PortListener[] {
  const fallback = publishAddress(cluster);
  const out: PortListener[] = [];
  for (const p of ingressPorts(manifest as unknown as SwarmServiceManifest)) {
    const host = p.host_ip ?? fallback;
    if (!host || p.published === null) continue;
    out.push({ key: PortForwarders.key(host, p.published), host, port: p.published, backend: backendKey(p) });
  }
  return out;
}

export interface WorkloadInput {
  uuid: string;
  name: string;
  project_id: string | null;
  user_id: string | null;
  manifest: Record<string, unknown>;
}

/** What show answers: the live fields, or an error (show_many) for an object whose cluster failed. */
export type LiveReply = { live: Record<string, unknown> } | { error: { code: string; status: number; message: string } };

async function inBatches<T>(items: T[], size: number, fn: (t: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

export class WorkloadService {
  readonly #drivers: DriverRegistry;
  readonly forwarders: PortForwarders;
  #deps: MethodDeps | null = null;
  #certs: ClusterCertificates | null = null;
  #log: Logger | undefined;
  #timer: NodeJS.Timeout | null = null;
  #reconciling: Promise<void> | null = null;
  readonly #stale = new Map<string, Promise<void>>();
  #stopped = false;

  readonly #interval: number;

  constructor(drivers: DriverRegistry, opts: { reconcileIntervalMs?: number } = {}) {
    this.#drivers = drivers;
    this.forwarders = new PortForwarders({ onStale: (owner) => this.#markStale(owner) });
    this.#interval = opts.reconcileIntervalMs ?? RECONCILE_INTERVAL_MS;
  }

  /** The RPC methods (for ConductorService's `methods`); starts the reconciliation. */
  methods(deps: MethodDeps): RpcMethods {
    this.#deps = deps;
    this.#log = deps.logger;
    this.#certs = ClusterCertificates.fromConfig(deps.conf, deps.storage);
    if (!this.#timer && !this.#stopped) {
      this.#timer = setInterval(() => void this.reconcile().catch((err) => this.#log?.warn({ err }, 'published ports reconciliation failed')), this.#interval);
      this.#timer.unref();
      // A restarted conductor serves the published ports again at once, not after a period.
      setTimeout(() => void this.reconcile().catch((err) => this.#log?.warn({ err }, 'published ports reconciliation failed')), 100).unref();
    }
    deps.tasks.register('workload_create', { steps: (op) => this.#createSteps(op), undo: (op, state) => this.#undoCreate(op, state) });
    deps.tasks.register('workload_update', { steps: (op) => this.#updateSteps(op) });
    deps.tasks.register('workload_delete', { steps: (op) => this.#deleteSteps(op) });
    const m: RpcMethods = {};
    for (const kind of ['service', 'pod'] as const) {
      const op = (a: Record<string, unknown>) => (typeof a.operation === 'string' ? a.operation : null);
      m[`${kind}_create`] = async (a) => (await deps.tasks.repeat(a)) ?? this.create(kind, String(a.cluster), a.workload as WorkloadInput, op(a));
      m[`${kind}_show`] = (a) => this.show(kind, String(a.workload));
      m[`${kind}_show_many`] = (a) => this.showMany(kind, (a.workloads as string[]) ?? []);
      m[`${kind}_update`] = async (a) => (await deps.tasks.repeat(a)) ?? this.update(kind, String(a.workload), a.manifest as Record<string, unknown>, op(a));
      m[`${kind}_delete`] = async (a) => (await deps.tasks.repeat(a)) ?? this.remove(kind, String(a.workload), op(a));
    }
    return m;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#reconciling?.catch(() => undefined);
    await this.forwarders.closeAll();
  }

  get #storage() {
    if (!this.#deps) throw new Error('WorkloadService.methods() was not called');
    return this.#deps.storage;
  }

  #access(cluster: Cluster, template: ClusterTemplate): WorkloadAccess {
    const deps = this.#deps!;
    return {
      cluster,
      template,
      tlsFiles: () => deps.credentialFiles.dirFor(cluster, template),
      // Every cluster has its CAs; a driver whose API needs no TLS when the template disables it
      // (swarm-mode engines) uses tlsFiles() instead, which follows tls_disabled.
      credentials: async () => (cluster.ca_cert_ref && cluster.magnum_cert_ref ? this.#certs!.getClientCredentials(cluster) : null),
      resources: () => deps.storage.listResources(cluster.uuid),
    };
  }

  /** The cluster and what its driver offers on it (404 when the cluster is gone; nothing when its template or driver is). */
  async backendsOf(clusterUuid: string): Promise<{ cluster: Cluster; workloads: Workloads }> {
    const cluster = await this.#storage.getClusterByUuid(clusterUuid);
    if (!cluster) throw E.ClusterNotFound(clusterUuid);
    const template = await this.#storage.getClusterTemplateByUuid(cluster.cluster_template_id ?? '');
    if (!template) return { cluster, workloads: {} };
    const driver = this.#drivers.find(template.server_type ?? 'vm', template.cluster_distro, template.coe ?? '');
    return { cluster, workloads: driver?.workloads?.(this.#access(cluster, template)) ?? {} };
  }

  /** How images get into the cluster's nodes (null: its driver has no way). */
  async nodeImages(clusterUuid: string): Promise<{ cluster: Cluster; images: NodeImages | null }> {
    const { cluster, workloads } = await this.backendsOf(clusterUuid);
    return { cluster, images: workloads.images ?? null };
  }

  /** The cluster, its template and the backend for one kind of object, or a clear 4xx. */
  async #target(kind: Kind, clusterUuid: string): Promise<Target> {
    const cluster = await this.#storage.getClusterByUuid(clusterUuid);
    if (!cluster) throw E.ClusterNotFound(clusterUuid);
    const template = await this.#storage.getClusterTemplateByUuid(cluster.cluster_template_id ?? '');
    if (!template) throw E.ClusterTemplateNotFound(cluster.cluster_template_id ?? '');
    const coe = template.coe ?? '';
    if (kind === 'pod' && coe !== 'kubernetes') throw E.NotSupported(`Pods are not supported for COE ${coe}.`);
    if (kind === 'service' && coe !== 'kubernetes' && coe !== 'swarm-mode') throw E.NotSupported(`Services are not supported for COE ${coe}.`);
    const driver = this.#drivers.find(template.server_type ?? 'vm', template.cluster_distro, coe);
    const backends = driver?.workloads?.(this.#access(cluster, template));
    const backend = kind === 'pod' ? backends?.pods : backends?.services;
    if (!backend) {
      if (coe === 'kubernetes') throw E.NotSupported(`Kubernetes ${kind}s are not supported: no Kubernetes backend is available.`);
      throw E.NotSupported(`Services are not supported by the ${driver?.name ?? 'cluster\'s'} driver.`);
    }
    if (!cluster.api_address) throw E.ClusterAPIAddressUnavailable();
    return { cluster, template, backend };
  }

  async #row(kind: Kind, uuid: string): Promise<Workload> {
    const row = await this.#storage.workloads.get(uuid);
    if (!row || row.kind !== kind) throw kind === 'pod' ? E.PodNotFound(uuid) : E.ServiceNotFound(uuid);
    return row;
  }

  #notBeingDeleted(cluster: Cluster): void {
    if (cluster.status === 'DELETE_IN_PROGRESS') throw E.Conflict(`Cluster ${cluster.name ?? cluster.uuid} is being deleted.`);
  }

  /** The live fields; the published ports follow the running tasks. */
  async #live(row: Workload, cluster: Cluster, backend: ObjectBackend): Promise<Record<string, unknown>> {
    const state = await backend.show(row);
    if (!state) {
      return { status: 'MISSING', status_reason: `The ${row.kind} no longer exists on cluster ${cluster.name ?? cluster.uuid}; delete it.`, tasks: [] };
    }
    if (state.backends) this.#applyBackends(row, cluster, state.backends);
    return state.fields;
  }

  #applyBackends(row: Workload, cluster: Pick<Cluster, 'api_address'>, backends: Record<string, string[]>): void {
    if (row.coe !== 'swarm-mode') return;
    for (const l of portListeners(row.manifest, cluster)) this.forwarders.setBackends(row.uuid, l.key, backends[l.backend] ?? []);
  }

  /**
   * Checks the request and opens the published ports (a port that is taken is a 409 before
   * anything is made), then starts the create operation with the object's row.
   */
  async create(kind: Kind, clusterUuid: string, input: WorkloadInput, operation: string | null = null): Promise<TaskStarted> {
    const { cluster, template } = await this.#target(kind, clusterUuid);
    this.#notBeingDeleted(cluster);
    const coe = template.coe ?? '';
    const listeners = coe === 'swarm-mode' ? portListeners(input.manifest, cluster) : [];
    const opened: string[] = [];
    try {
      for (const l of listeners) {
        await this.forwarders.open(input.uuid, l.host, l.port);
        opened.push(l.key);
      }
      try {
        return await this.#deps!.tasks.start({
          uuid: operation, kind: 'workload_create', cluster: cluster.uuid, params: { kind, workload: input.uuid }, deadlineMs: TASK_DEADLINE_MS,
          rows: { workload: { ...input, kind, cluster_id: cluster.uuid, coe } },
        });
      } catch (err) {
        if (err instanceof DuplicateWorkload) throw E.Conflict(`A ${kind} named ${input.name} already exists in cluster ${cluster.name ?? cluster.uuid}.`);
        throw err;
      }
    } catch (err) {
      await Promise.all(opened.map((k) => this.forwarders.close(k)));
      throw err;
    }
  }

  /** The row and its backend, for a step of a task operation. */
  async #ofOperation(op: Operation): Promise<{ row: Workload } & Target> {
    const kind = op.params.kind as Kind;
    const row = await this.#row(kind, String(op.params.workload));
    return { row, ...(await this.#target(kind, row.cluster_id)) };
  }

  /** The live state as the request answers it: a failure to read is UNKNOWN, not a failed operation. */
  async #result(op: Operation): Promise<LiveReply> {
    const { row, cluster, backend } = await this.#ofOperation(op);
    const live = await this.#live(row, cluster, backend).catch((err) => {
      this.#log?.warn({ err, workload: row.uuid }, 'reading a workload failed');
      return { status: 'UNKNOWN', status_reason: (err as Error).message };
    });
    return { live };
  }

  #createSteps(op: Operation): Step[] {
    const kind = op.params.kind as Kind;
    return [
      {
        // Made unless an earlier attempt made it (the backend finds it by the row's uuid label).
        name: `create ${kind}`,
        run: async (ctx) => {
          const { row, backend } = await this.#ofOperation(op);
          if (await backend.show(row)) return;
          ctx.state.createIssued = true; // from here the object may exist (undo must find it)
          const made = await backend.create(row);
          await this.#storage.workloads.update(row.uuid, { backend_id: made.backend_id });
        },
      },
      { name: `read ${kind}`, run: async (ctx) => void (ctx.state.result = await this.#result(op)) },
    ];
  }

  /**
   * A create that failed: its published ports, the object (if it may have been made) and the row
   * go. When the object may exist (its create was issued, in this attempt or an earlier one) and
   * cannot be removed now, the row stays, so that nothing runs on the cluster without its row.
   */
  async #undoCreate(op: Operation, state: Record<string, unknown>): Promise<void> {
    const uuid = String(op.params.workload);
    await this.forwarders.closeOwner(uuid);
    const row = await this.#storage.workloads.get(uuid);
    if (!row) return;
    if (state.createIssued === true || op.attempts > 1) {
      const target = await this.#target(row.kind, row.cluster_id).catch(() => null);
      await target?.backend.remove(row);
    }
    await this.#storage.workloads.destroy(uuid);
  }

  async show(kind: Kind, uuid: string): Promise<LiveReply> {
    const row = await this.#row(kind, uuid);
    const { cluster, backend } = await this.#target(kind, row.cluster_id);
    return { live: await this.#live(row, cluster, backend) };
  }

  /** Live state of several objects; one whose cluster fails gets an error, not the whole list. */
  async showMany(kind: Kind, uuids: string[]): Promise<Record<string, LiveReply>> {
    const out: Record<string, LiveReply> = {};
    const byCluster = new Map<string, Workload[]>();
    for (const uuid of uuids) {
      const row = await this.#storage.workloads.get(uuid);
      if (!row || row.kind !== kind) continue;
      byCluster.set(row.cluster_id, [...(byCluster.get(row.cluster_id) ?? []), row]);
    }
    const fail = (err: unknown) => {
      const e = err instanceof MagnumError ? err : new MagnumError('InternalError', 500, (err as Error)?.message ?? String(err));
      return { error: { code: e.code, status: e.status, message: e.message } };
    };
    await Promise.all([...byCluster.entries()].map(async ([clusterUuid, rows]) => {
      let target: Target;
      try {
        target = await this.#target(kind, clusterUuid);
      } catch (err) {
        for (const r of rows) out[r.uuid] = fail(err);
        return;
      }
      await inBatches(rows, 4, async (r) => {
        try {
          out[r.uuid] = { live: await this.#live(r, target.cluster, target.backend) };
        } catch (err) {
          out[r.uuid] = fail(err);
        }
      });
    }));
    return out;
  }

  async update(kind: Kind, uuid: string, manifest: Record<string, unknown>, operation: string | null = null): Promise<TaskStarted> {
    const row = await this.#row(kind, uuid);
    const { cluster } = await this.#target(kind, row.cluster_id);
    this.#notBeingDeleted(cluster);
    if (row.coe === 'swarm-mode') {
      const keys = (m: Record<string, unknown>) => JSON.stringify(portListeners(m, cluster).map((l) => [l.key, l.backend]));
      if (keys(row.manifest) !== keys(manifest)) throw E.Invalid('Invalid manifest: ports: cannot be changed by an update; delete the service and create it again');
    }
    return this.#deps!.tasks.start({ uuid: operation, kind: 'workload_update', cluster: cluster.uuid, params: { kind, workload: uuid, manifest }, deadlineMs: TASK_DEADLINE_MS });
  }

  #updateSteps(op: Operation): Step[] {
    const kind = op.params.kind as Kind;
    const manifest = op.params.manifest as Record<string, unknown>;
    return [
      // The new manifest applied (again, on a resume: the same spec changes nothing), then saved.
      { name: `update ${kind}`, run: async () => { const { row, backend } = await this.#ofOperation(op); await backend.update(row, manifest); } },
      { name: 'save manifest', run: async () => void (await this.#storage.workloads.update(String(op.params.workload), { manifest })) },
      { name: `read ${kind}`, run: async (ctx) => void (ctx.state.result = await this.#result(op)) },
    ];
  }

  async remove(kind: Kind, uuid: string, operation: string | null = null): Promise<TaskStarted> {
    const row = await this.#row(kind, uuid);
    await this.#target(kind, row.cluster_id);
    return this.#deps!.tasks.start({ uuid: operation, kind: 'workload_delete', cluster: row.cluster_id, params: { kind, workload: uuid }, deadlineMs: TASK_DEADLINE_MS });
  }

  #deleteSteps(op: Operation): Step[] {
    const kind = op.params.kind as Kind;
    const uuid = String(op.params.workload);
    return [
      {
        // Removed from the cluster (one already gone counts as removed).
        name: `remove ${kind}`,
        run: async () => {
          const row = await this.#storage.workloads.get(uuid);
          if (!row) return;
          const { backend } = await this.#target(kind, row.cluster_id);
          await backend.remove(row);
        },
      },
      {
        name: `forget ${kind}`,
        run: async () => {
          await this.forwarders.closeOwner(uuid);
          await this.#storage.workloads.destroy(uuid);
        },
      },
    ];
  }

  /** Fresh endpoints for a service whose published port found none answering (one refresh at a time). */
  #markStale(owner: string): Promise<void> {
    const pending = this.#stale.get(owner);
    if (pending) return pending;
    if (this.#stopped) return Promise.resolve();
    const p = (async () => {
      try {
        const row = await this.#storage.workloads.get(owner);
        if (row) await this.#refresh(row);
      } catch (err) {
        this.#log?.debug?.({ err, workload: owner }, 'refreshing published endpoints failed');
      } finally {
        this.#stale.delete(owner);
      }
    })();
    this.#stale.set(owner, p);
    return p;
  }

  async #refresh(row: Workload): Promise<void> {
    const { cluster, backend } = await this.#target('service', row.cluster_id);
    const backends = backend.backends ? await backend.backends(row) : (await backend.show(row))?.backends;
    this.#applyBackends(row, cluster, backends ?? {});
  }

  /**
   * Every Swarm service's published ports listened on here (unless another conductor on this host
   * has them), listeners of services that are gone closed, and every listener's task endpoints
   * refreshed.
   */
  reconcile(): Promise<void> {
    if (this.#reconciling || this.#stopped || !this.#deps) return this.#reconciling ?? Promise.resolve();
    this.#reconciling = this.#reconcile().finally(() => {
      this.#reconciling = null;
    });
    return this.#reconciling;
  }

  async #reconcile(): Promise<void> {
    const rows = (await this.#storage.workloads.listAll('service')).filter((r) => r.coe === 'swarm-mode');
    const clusters = new Map<string, Cluster | null>();
    const wanted = new Map<string, { row: Workload; listener: PortListener }>();
    for (const row of rows) {
      if (!ingressPorts(row.manifest as unknown as SwarmServiceManifest).length) continue;
      if (!clusters.has(row.cluster_id)) clusters.set(row.cluster_id, await this.#storage.getClusterByUuid(row.cluster_id));
      const cluster = clusters.get(row.cluster_id);
      if (!cluster) continue;
      for (const l of portListeners(row.manifest, cluster)) if (!wanted.has(l.key)) wanted.set(l.key, { row, listener: l });
    }
    for (const owner of this.forwarders.owners) {
      for (const key of this.forwarders.keysOf(owner)) if (wanted.get(key)?.row.uuid !== owner) await this.forwarders.close(key);
    }
    for (const { row, listener } of wanted.values()) {
      if (this.#stopped) return;
      if (this.forwarders.ownerOf(listener.host, listener.port) === row.uuid) continue;
      // Held by another conductor on this host (or by something else): not ours to serve.
      await this.forwarders.open(row.uuid, listener.host, listener.port).catch(() => undefined);
    }
    const mine = rows.filter((r) => this.forwarders.keysOf(r.uuid).length > 0);
    await inBatches(mine, 8, (r) => this.#refresh(r).catch((err) => this.#log?.debug?.({ err, workload: r.uuid }, 'refreshing published endpoints failed')));
  }
}
