// Containers on a cluster's nodes (Magnum 2015's container_* RPC methods, reference §12.3). A
// container runs on one node, placed on the least loaded worker (a master when the cluster has no
// workers) that already has the image, else pulled there the way `docker run` pulls. What is done
// on the node is the cluster driver's (Workloads.containers, src/drivers/workloads.ts: the nodes'
// Docker engines, src/drivers/docker-engine/containers.ts); this keeps the rows, the tenancy and
// the operations.
//
// Create, the actions (start, stop, reboot, pause, unpause) and delete are task operations
// (src/conductor/tasks.ts): the request is checked here first (a refusal changes nothing), then an
// operation with named idempotent steps runs under a lease and another conductor resumes it if
// this one dies. The container's row is its ledger entry: written with the create operation,
// before the container is made (docker_id is set once it exists), and removed after it is gone,
// so no container is left that Magnum does not know about. Status is read live.
import { E, MagnumError } from '../common/errors.ts';
import { mapLimit } from '../common/map-limit.ts';
import { UniqueViolation } from '../db/api.ts';
import type { ContainerLive, DockerState } from '../objects/container.ts';
import type { Cluster, Container, Operation } from '../objects/models.ts';
import type { Step } from '../drivers/driver.ts';
import type { ContainerBackend, ContainerInfo, ContainerNode } from '../drivers/workloads.ts';
import type { MethodDeps, RpcMethods } from './rpc-methods.ts';
import type { TaskStarted } from './tasks.ts';


export type ContainerAction = 'start' | 'stop' | 'reboot' | 'pause' | 'unpause';
export const CONTAINER_ACTIONS: readonly ContainerAction[] = ['start', 'stop', 'reboot', 'pause', 'unpause'];

const LIST_CONCURRENCY = 8;
/** Deadlines of the task operations, from the backend's timeouts: within the time the API waits for them. */
type Timeouts = ContainerBackend['timeouts'];
const createDeadlineMs = (t: Timeouts) => t.pullMs + t.commandMs + 2 * t.inspectMs - 10_000;
const actionDeadlineMs = (t: Timeouts, grace: number | null) => t.commandMs + (grace ?? 10) * 1000 + 5_000;
const deleteDeadlineMs = (t: Timeouts) => t.commandMs + 5_000;

type ContainerSpec = Partial<Container> & { uuid: string; cluster_id: string; image: string };

/** Is the container already where the action leads (a resumed action does nothing more)? */
function actionDone(action: ContainerAction, state: DockerState, since: Date | null): boolean {
  switch (action) {
    case 'start': return Boolean(state.Running);
    case 'stop': return !state.Running;
    case 'pause': return Boolean(state.Paused);
    case 'unpause': return !state.Paused;
    case 'reboot': {
      // Restarted by this operation: running, started after the operation began.
      const started = state.StartedAt ? Date.parse(state.StartedAt) : NaN;
      return Boolean(state.Running) && since !== null && started >= since.getTime();
    }
  }
}

const label = (c: Pick<Container, 'name' | 'uuid'>) => c.name ?? c.uuid;
const clusterLabel = (cluster: Pick<Cluster, 'name' | 'uuid'>) => cluster.name ?? cluster.uuid;

const unknown = (reason: string): ContainerLive => ({ status: 'Unknown', status_reason: reason, published_ports: [] });
const error = (reason: string): ContainerLive => ({ status: 'Error', status_reason: reason, published_ports: [] });

/** A cluster and its driver's containers backend. */
interface Backend {
  cluster: Cluster;
  containers: ContainerBackend;
}

export interface ContainerServiceOptions {
  /** The cluster and what its driver offers on it (404 when the cluster is gone). */
  backendsOf(clusterUuid: string): Promise<{ cluster: Cluster; workloads: { containers?: ContainerBackend } }>;
}

export class ContainerService {
  readonly #d: MethodDeps;
  readonly #backendsOf: ContainerServiceOptions['backendsOf'];

  constructor(deps: MethodDeps, opts: ContainerServiceOptions) {
    this.#d = deps;
    this.#backendsOf = opts.backendsOf;
    deps.tasks.register('container_create', { steps: (op) => this.#createSteps(op), undo: (op, state) => this.#undoCreate(op, state) });
    deps.tasks.register('container_action', { steps: (op) => this.#actionSteps(op) });
    deps.tasks.register('container_delete', { steps: (op) => this.#deleteSteps(op) });
  }

  /** The cluster and its driver's containers backend (404 when the cluster is gone). */
  async #backend(clusterUuid: string): Promise<Backend> {
    const { cluster, workloads } = await this.#backendsOf(clusterUuid);
    if (!workloads.containers) throw E.NotSupported(`Containers are not supported on cluster ${clusterLabel(cluster)}: its driver does not run them.`);
    return { cluster, containers: workloads.containers };
  }

  /** The container's row, its cluster's backend and its node, which answers (else 503). */
  async #locate(uuid: string): Promise<{ c: Container; b: Backend; node: ContainerNode }> {
    const c = await this.#d.storage.getContainerByUuid(uuid);
    if (!c) throw E.ContainerNotFound(uuid);
    const b = await this.#backend(c.cluster_id);
    const node = (await b.containers.nodes()).find((n) => n.address === c.host);
    if (!node) throw E.Conflict(`Container ${label(c)} is gone with its node, which is no longer part of cluster ${clusterLabel(b.cluster)}; delete it (it was on ${c.host ?? 'no node'}).`);
    await b.containers.reach(node);
    return { c, b, node };
  }

  async #inspectOne(b: Backend, c: Container): Promise<ContainerInfo> {
    const info = (await b.containers.inspect(c.host!, [c.uuid])).get(c.uuid);
    if (!info) throw E.Conflict(`Container ${label(c)} no longer exists on its node (it was removed outside Magnum); delete it.`);
    return info;
  }

  async #save(c: Container, live: ContainerLive): Promise<ContainerLive> {
    if (c.status !== live.status) await this.#d.storage.setContainerStatuses({ [c.uuid]: live.status });
    return live;
  }

  /** The nodes a container may go to: the workers, or the masters when there are none. */
  async #candidates(b: Backend): Promise<ContainerNode[]> {
    const nodes = await b.containers.nodes();
    const workers = nodes.filter((n) => n.role === 'worker');
    return workers.length ? workers : nodes;
  }

  async #reachable(b: Backend, candidates: ContainerNode[]): Promise<ContainerNode[]> {
    const up = await b.containers.answers(candidates.map((n) => n.address));
    const reachable = candidates.filter((_, i) => up[i]);
    if (!reachable.length) {
      throw E.ServiceUnavailable(`Cluster ${clusterLabel(b.cluster)} cannot be reached: no ${b.containers.answering} of its nodes ${candidates.map((n) => n.name).join(', ')} answers (${candidates.map((n) => n.address).join(', ')}).`);
    }
    return reachable;
  }

  /** Checks the request (a refusal changes nothing), then starts the create operation with the container's row. */
  async create(spec: ContainerSpec, operation: string | null = null): Promise<TaskStarted> {
    const b = await this.#backend(spec.cluster_id);
    const cl = clusterLabel(b.cluster);
    if (b.cluster.status === 'DELETE_IN_PROGRESS') throw E.Conflict(`Cluster ${cl} is being deleted.`);
    const candidates = await this.#candidates(b);
    if (!candidates.length) throw E.Conflict(`Cluster ${cl} has no nodes to run containers on yet (status ${b.cluster.status}).`);
    await this.#reachable(b, candidates);
    b.containers.check(spec);
    try {
      // The row first, with the operation: a conductor that dies from here on leaves an operation
      // that another one finishes or takes back, never a stray container.
      return await this.#d.tasks.start({
        uuid: operation, kind: 'container_create', cluster: spec.cluster_id, params: { container: spec.uuid }, deadlineMs: createDeadlineMs(b.containers.timeouts),
        rows: { container: { ...spec, host: null, docker_id: null, status: null } },
      });
    } catch (e) {
      // Another request with the same uuid got there first (the API checked before either wrote).
      if (e instanceof UniqueViolation) throw E.Conflict(`A container with UUID ${spec.uuid} already exists.`);
      throw e;
    }
  }

  async #row(op: Operation): Promise<Container> {
    const c = await this.#d.storage.getContainerByUuid(String(op.params.container));
    if (!c) throw E.ContainerNotFound(String(op.params.container));
    return c;
  }

  #createSteps(op: Operation): Step[] {
    return [
      {
        // The least loaded worker (a master when there is none) that answers and has the image,
        // else one that pulls it. Kept on the row: a resumed create stays on the chosen node.
        name: 'place container',
        run: async (ctx) => {
          const c = await this.#row(op);
          if (c.host) return;
          const b = await this.#backend(c.cluster_id);
          const candidates = await this.#candidates(b);
          if (!candidates.length) throw E.Conflict(`Cluster ${clusterLabel(b.cluster)} has no nodes to run containers on.`);
          const reachable = await this.#reachable(b, candidates);
          const hasImage = await Promise.all(reachable.map((n) => b.containers.hasImage(n, c.image!, ctx.signal)));
          const load = new Map<string, number>();
          for (const other of await this.#d.storage.listContainersOfCluster(c.cluster_id)) if (other.host) load.set(other.host, (load.get(other.host) ?? 0) + 1);
          const leastLoaded = (list: ContainerNode[]) => [...list].sort((a, b) => (load.get(a.address) ?? 0) - (load.get(b.address) ?? 0) || a.index - b.index)[0];
          const withImage = reachable.filter((_, i) => hasImage[i]);
          const node = leastLoaded(withImage.length ? withImage : reachable);
          // No node of the cluster has the image: the chosen node pulls it (as `docker run` would).
          if (!withImage.length) await b.containers.pull(node, c.image!);
          await this.#d.storage.updateContainer(c.uuid, { host: node.address });
        },
      },
      {
        // Made, unless an earlier attempt made it (found by its uuid on the chosen node).
        name: 'create container',
        run: async (ctx) => {
          const c = await this.#row(op);
          const b = await this.#backend(c.cluster_id);
          let dockerId = (await b.containers.inspect(c.host!, [c.uuid])).get(c.uuid)?.id ?? null;
          if (!dockerId) {
            ctx.state.createIssued = true; // from here the container may exist (undo must remove it)
            dockerId = await b.containers.create(c, ctx.signal);
          }
          await this.#d.storage.updateContainer(c.uuid, { docker_id: dockerId, status: 'Stopped' });
          ctx.state.result = { status: 'Stopped', status_reason: 'created', published_ports: [] } satisfies ContainerLive;
        },
      },
    ];
  }

  /**
   * A create that failed: the container (if one may have been made: its create was issued, in
   * this attempt or an earlier one) and the row go; a container that cannot be removed now keeps
   * its row, so that nothing runs on a node without its row.
   */
  async #undoCreate(op: Operation, state: Record<string, unknown>): Promise<void> {
    const c = await this.#d.storage.getContainerByUuid(String(op.params.container));
    if (!c) return;
    if (c.host && (state.createIssued === true || op.attempts > 1)) {
      const b = await this.#backend(c.cluster_id).catch(() => null);
      if (b) {
        const refused = await b.containers.remove(c, { force: true });
        if (refused !== null) throw new Error(`removing container ${label(c)} failed: ${refused}`);
      }
    }
    await this.#d.storage.destroyContainer(c.uuid);
  }

  /** Live status of several containers: one inspect per node, a few nodes at a time. */
  async statuses(containers: Pick<Container, 'uuid' | 'cluster_id' | 'host' | 'status'>[]): Promise<Record<string, ContainerLive>> {
    const out: Record<string, ContainerLive> = {};
    const byCluster = new Map<string, typeof containers>();
    for (const c of containers) byCluster.set(c.cluster_id, [...(byCluster.get(c.cluster_id) ?? []), c]);
    const groups: { b: Backend; host: string; list: typeof containers }[] = [];
    await mapLimit([...byCluster], LIST_CONCURRENCY, async ([clusterUuid, list]) => {
      let b: Backend;
      try {
        b = await this.#backend(clusterUuid);
      } catch (e) {
        for (const c of list) out[c.uuid] = e instanceof MagnumError && e.status === 404 ? error(`cluster ${clusterUuid} no longer exists`) : unknown((e as Error).message);
        return;
      }
      const nodes = await b.containers.nodes();
      const byHost = new Map<string, typeof containers>();
      for (const c of list) {
        if (!c.host) out[c.uuid] = unknown('the container is being created: it has no node yet');
        else if (!nodes.some((n) => n.address === c.host)) out[c.uuid] = error(`node ${c.host} is no longer part of cluster ${clusterLabel(b.cluster)}`);
        else byHost.set(c.host, [...(byHost.get(c.host) ?? []), c]);
      }
      for (const [host, hostList] of byHost) groups.push({ b, host, list: hostList });
    });
    await mapLimit(groups, LIST_CONCURRENCY, async ({ b, host, list }) => {
      if (!(await b.containers.answers([host]))[0]) {
        for (const c of list) out[c.uuid] = unknown(`the ${b.containers.answering} of node ${host} of cluster ${clusterLabel(b.cluster)} cannot be reached`);
        return;
      }
      try {
        const found = await b.containers.inspect(host, list.map((c) => c.uuid));
        for (const c of list) {
          const info = found.get(c.uuid);
          out[c.uuid] = info ? info.live : error(`the container no longer exists on node ${host}`);
        }
      } catch (e) {
        for (const c of list) out[c.uuid] = unknown((e as Error).message);
      }
    });
    const changed: Record<string, string> = {};
    for (const c of containers) if (out[c.uuid] && out[c.uuid].status !== 'Unknown' && out[c.uuid].status !== c.status) changed[c.uuid] = out[c.uuid].status;
    if (Object.keys(changed).length) await this.#d.storage.setContainerStatuses(changed);
    return out;
  }

  /** Checks that the action applies to the container's state now (else 409, nothing done), then starts it as an operation. */
  async action(uuid: string, action: ContainerAction, opts: { timeout?: number | null; operation?: string | null } = {}): Promise<TaskStarted> {
    const { c, b } = await this.#locate(uuid);
    const state = (await this.#inspectOne(b, c)).state;
    const running = Boolean(state.Running);
    const paused = Boolean(state.Paused);
    const refuse = (why: string) => E.Conflict(`Cannot ${action} container ${label(c)}: ${why}.`);
    switch (action) {
      case 'start':
        if (paused) throw refuse('it is paused (unpause it instead)');
        if (running) throw refuse('it is already running');
        break;
      case 'stop':
        if (!running) throw refuse('it is not running');
        break;
      case 'reboot':
        if (paused) throw refuse('it is paused (unpause it first)');
        break;
      case 'pause':
        if (paused) throw refuse('it is already paused');
        if (!running) throw refuse('it is not running');
        break;
      case 'unpause':
        if (!paused) throw refuse('it is not paused');
        break;
    }
    const grace = opts.timeout ?? null;
    return this.#d.tasks.start({ uuid: opts.operation, kind: 'container_action', cluster: c.cluster_id, params: { container: c.uuid, action, timeout: grace }, deadlineMs: actionDeadlineMs(b.containers.timeouts, grace) });
  }

  #actionSteps(op: Operation): Step[] {
    const action = op.params.action as ContainerAction;
    const grace = (op.params.timeout as number | null | undefined) ?? null;
    const verb = { start: 'start', stop: 'stop', reboot: 'restart', pause: 'pause', unpause: 'unpause' }[action];
    return [
      {
        name: `${verb} container`,
        run: async (ctx) => {
          const { c, b } = await this.#locate(String(op.params.container));
          const state = (await this.#inspectOne(b, c)).state;
          if (actionDone(action, state, op.created_at)) return;
          const refused = await b.containers.act(c, action, grace, ctx.signal);
          if (refused !== null) throw E.Conflict(`Cannot ${action} container ${label(c)}: ${refused}.`);
        },
      },
      {
        name: 'read container',
        run: async (ctx) => {
          const { c, b } = await this.#locate(String(op.params.container));
          ctx.state.result = await this.#save(c, (await this.#inspectOne(b, c)).live);
        },
      },
    ];
  }

  async logs(uuid: string, opts: { tail?: number | null; since?: string | null; timestamps?: boolean }): Promise<{ output: string }> {
    const { c, b } = await this.#locate(uuid);
    return { output: await b.containers.logs(c, opts) };
  }

  async exec(uuid: string, command: string[], opts: { timeout: number }): Promise<{ output: string; exit_code: number; stdout: string; stderr: string }> {
    const { c, b } = await this.#locate(uuid);
    const state = (await this.#inspectOne(b, c)).state;
    if (state.Paused) throw E.Conflict(`Cannot execute a command in container ${label(c)}: it is paused (unpause it first).`);
    if (!state.Running) throw E.Conflict(`Cannot execute a command in container ${label(c)}: it is not running.`);
    const r = await b.containers.exec(c, command, opts.timeout);
    return { output: r.stdout + r.stderr, exit_code: r.exit_code, stdout: r.stdout, stderr: r.stderr };
  }

  /** Live changes of resource limits and restart policy, then the row. */
  async update(uuid: string, changes: Partial<Pick<Container, 'memory' | 'cpu' | 'restart_policy'>>): Promise<ContainerLive> {
    const { c, b } = await this.#locate(uuid);
    await this.#inspectOne(b, c);
    await b.containers.update(c, changes);
    await this.#d.storage.updateContainer(c.uuid, changes);
    return this.#save(c, (await this.#inspectOne(b, c)).live);
  }

  /**
   * Checks that the container may go (a running one only with force, else 409), then starts the
   * delete operation; a container whose node or cluster is gone is gone: its row goes at once
   * (null: nothing to wait for).
   */
  async delete(uuid: string, opts: { force: boolean; operation?: string | null }): Promise<TaskStarted | null> {
    const { storage } = this.#d;
    const c = await storage.getContainerByUuid(uuid);
    if (!c) throw E.ContainerNotFound(uuid);
    let b: Backend;
    try {
      b = await this.#backend(c.cluster_id);
    } catch (e) {
      if (e instanceof MagnumError && e.status === 404) return storage.destroyContainer(uuid).then(() => null);
      throw e;
    }
    const node = (await b.containers.nodes()).find((n) => n.address === c.host);
    if (!node) return storage.destroyContainer(uuid).then(() => null);
    await b.containers.reach(node);
    const info = (await b.containers.inspect(node.address, [uuid])).get(uuid);
    if (info && !opts.force && (info.state.Running || info.state.Paused)) {
      throw E.Conflict(`Cannot delete container ${label(c)}: it is ${info.state.Paused ? 'paused' : 'running'} (stop it first, or delete it with force=true).`);
    }
    return this.#d.tasks.start({ uuid: opts.operation, kind: 'container_delete', cluster: c.cluster_id, params: { container: uuid, force: opts.force }, deadlineMs: deleteDeadlineMs(b.containers.timeouts) });
  }

  #deleteSteps(op: Operation): Step[] {
    const uuid = String(op.params.container);
    const force = op.params.force === true;
    return [
      {
        // Removed from its node; a container (or node) already gone counts as removed.
        name: 'remove container',
        run: async (ctx) => {
          const c = await this.#d.storage.getContainerByUuid(uuid);
          if (!c) return;
          const b = await this.#backend(c.cluster_id);
          const node = (await b.containers.nodes()).find((n) => n.address === c.host);
          if (!node) return;
          await b.containers.reach(node);
          const refused = await b.containers.remove(c, { force, signal: ctx.signal });
          if (refused !== null) throw E.Conflict(`Cannot delete container ${label(c)}: ${refused}.`);
        },
      },
      { name: 'forget container', run: async () => this.#d.storage.destroyContainer(uuid) },
    ];
  }
}

const opOf = (a: Record<string, unknown>) => (typeof a.operation === 'string' ? a.operation : null);

export function containerMethods(d: MethodDeps, opts: ContainerServiceOptions): RpcMethods {
  const svc = new ContainerService(d, opts);
  return {
    container_create: async (a) => (await d.tasks.repeat(a)) ?? svc.create(a.container as ContainerSpec, opOf(a)),
    container_status: async (a) => svc.statuses(a.containers as Pick<Container, 'uuid' | 'cluster_id' | 'host' | 'status'>[]),
    container_action: async (a) => (await d.tasks.repeat(a)) ?? svc.action(String(a.container), a.action as ContainerAction, { timeout: (a.timeout as number | null | undefined) ?? null, operation: opOf(a) }),
    container_logs: async (a) => svc.logs(String(a.container), { tail: a.tail as number | null, since: a.since as string | null, timestamps: Boolean(a.timestamps) }),
    container_exec: async (a) => svc.exec(String(a.container), a.command as string[], { timeout: Number(a.timeout) }),
    container_update: async (a) => svc.update(String(a.container), a.changes as Partial<Pick<Container, 'memory' | 'cpu' | 'restart_policy'>>),
    container_delete: async (a) => (await d.tasks.repeat(a)) ?? svc.delete(String(a.container), { force: Boolean(a.force), operation: opOf(a) }),
  };
}
