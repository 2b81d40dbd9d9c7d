// Containers on a cluster's nodes (Magnum 2015's container_* RPC methods, reference §12.3), over
// the cluster's TLS with the conductor's client certificate. A container runs on one node's
// engine, addressed directly: placed on the least loaded worker (a master when the cluster has
// no workers) that already has the image, else pulled there the way `docker run` pulls. It is
// named magnum-<uuid>, with the uuid as its hostname (as Magnum did) and a magnum.container
// label; published ports bind on the node's address on the cluster network.
//
// Create, the actions (start, stop, reboot, pause, unpause) and delete are task operations
// (src/conductor/tasks.ts): the request is checked here first (a refusal changes nothing), then an
// operation with named idempotent steps runs under a lease and another conductor resumes it if
// this one dies. The container's row is its ledger entry: written with the create operation,
// before the Docker container is made (docker_id is set once it exists), and removed after it is
// gone, so no container is left that Magnum does not know about. Status is read live (docker inspect).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { E, MagnumError } from '../common/errors.ts';
import { UniqueViolation } from '../db/api.ts';
import {
  commandArgs, dockerMemoryBytes, parsePort, statusOf, type ContainerLive, type DockerState,
} from '../objects/container.ts';
import type { Container, Operation } from '../objects/models.ts';
import type { Step } from '../drivers/driver.ts';
import type { ClusterEngine, EngineTarget } from './cluster-engine.ts';
import {
  clusterLabel, clusterNodes, daemonMessage, endpointPort, mapLimit, probe, reachNode, type ClusterNode,
} from './docker-nodes.ts';
import type { MethodDeps, RpcMethods } from './rpc-methods.ts';
import type { TaskStarted } from './tasks.ts';


export type ContainerAction = 'start' | 'stop' | 'reboot' | 'pause' | 'unpause';
export const CONTAINER_ACTIONS: readonly ContainerAction[] = ['start', 'stop', 'reboot', 'pause', 'unpause'];

const INSPECT_TIMEOUT_MS = 15_000;
const COMMAND_TIMEOUT_MS = 45_000;
export const PULL_TIMEOUT_MS = 90_000;
const LIST_CONCURRENCY = 8;
/** Deadlines of the task operations: within the time the API waits for them. */
const CREATE_DEADLINE_MS = PULL_TIMEOUT_MS + COMMAND_TIMEOUT_MS + 2 * INSPECT_TIMEOUT_MS - 10_000;
const actionDeadlineMs = (grace: number | null) => COMMAND_TIMEOUT_MS + (grace ?? 10) * 1000 + 5_000;
const DELETE_DEADLINE_MS = COMMAND_TIMEOUT_MS + 5_000;

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

export const dockerName = (uuid: string): string => `magnum-${uuid}`;

/**
 * The lines of an env file for `docker create --env-file` (the docker CLI reads it on this host),
 * so that no value is on a command line, where any user of the host could read it in a process
 * list. The format takes every value literally (no quotes, no expansion) but cannot carry a line
 * break in a value, or a name with white space or starting with #: those are refused.
 */
export function envFileText(env: Record<string, string>): string {
  for (const [k, v] of Object.entries(env)) {
    if (/\s/.test(k) || k.startsWith('#')) throw E.InvalidParameterValue(`Environment variable name ${JSON.stringify(k)} cannot be passed to Docker: a name contains no white space and does not start with #.`);
    if (/[\r\n]/.test(v)) throw E.InvalidParameterValue(`The value of environment variable ${k} cannot be passed to Docker: it contains a line break.`);
  }
  return Object.entries(env).map(([k, v]) => `${k}=${v}\n`).join('');
}

/** Runs `fn` with the path of a private env file (mode 0600 in a 0700 directory; null when there is no variable), removed when `fn` settles. */
export async function withEnvFile<T>(text: string, fn: (path: string | null) => Promise<T>): Promise<T> {
  if (!text) return fn(null);
  const dir = await mkdtemp(join(tmpdir(), 'magnum-env-'));
  try {
    const path = join(dir, 'env');
    await writeFile(path, text, { mode: 0o600 });
    return await fn(path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The `docker create` arguments of a container: its environment only by reference to an env file. */
export function createArgs(spec: Partial<Container> & { uuid: string; image: string }, nodeAddress: string, envFile: string | null): string[] {
  const args = ['create', `--name=${dockerName(spec.uuid)}`, `--hostname=${spec.uuid}`, `--label=magnum.container=${spec.uuid}`, '--pull=never'];
  if (spec.project_id) args.push(`--label=magnum.project=${spec.project_id}`);
  if (envFile) args.push(`--env-file=${envFile}`);
  if (spec.memory) args.push(`--memory=${dockerMemoryBytes(spec.memory)}`);
  if (spec.cpu) args.push(`--cpus=${spec.cpu}`);
  for (const p of spec.ports ?? []) {
    const port = parsePort(p);
    if (port) args.push(`--publish=${nodeAddress}:${port.hostPort ?? ''}:${port.containerPort}/${port.protocol}`);
  }
  if (spec.restart_policy) args.push(`--restart=${spec.restart_policy}`);
  args.push(spec.image, ...commandArgs(spec.command));
  return args;
}
const label = (c: Pick<Container, 'name' | 'uuid'>) => c.name ?? c.uuid;

interface Inspected {
  Id: string;
  Name: string;
  State: DockerState;
  NetworkSettings?: { Ports?: Record<string, { HostIp: string; HostPort: string }[] | null> | null };
}

function liveOf(info: Inspected): ContainerLive {
  const { status, reason } = statusOf(info.State ?? {});
  const published: string[] = [];
  for (const [port, bindings] of Object.entries(info.NetworkSettings?.Ports ?? {})) {
    for (const b of bindings ?? []) published.push(`${b.HostIp}:${b.HostPort}->${port}`);
  }
  return { status, status_reason: reason, published_ports: published };
}

const unknown = (reason: string): ContainerLive => ({ status: 'Unknown', status_reason: reason, published_ports: [] });
const error = (reason: string): ContainerLive => ({ status: 'Error', status_reason: reason, published_ports: [] });

/** `docker inspect` of several containers on one engine; missing ones are absent from the map. */
async function inspect(engine: ClusterEngine, target: EngineTarget, names: string[]): Promise<Map<string, Inspected>> {
  const r = await engine.run(target, ['inspect', '--type', 'container', '--format', '{{json .}}', ...names], { timeoutMs: INSPECT_TIMEOUT_MS, raw: true });
  const found = new Map<string, Inspected>();
  for (const line of r.stdout.split('\n')) {
    if (!line.trim()) continue;
    const info = JSON.parse(line) as Inspected;
    found.set(info.Name.replace(/^\//, ''), info);
  }
  if (r.exitCode !== 0) {
    const other = r.stderr.split('\n').map((l) => l.trim()).filter((l) => l && !/No such (container|object)/i.test(l));
    if (other.length) throw E.ServiceUnavailable(`The Docker engine at ${target.endpoint} of cluster ${clusterLabel(engine)} failed: ${daemonMessage(other.join('\n'))}`);
  }
  return found;
}

export class ContainerService {
  readonly #d: MethodDeps;

  constructor(deps: MethodDeps) {
    this.#d = deps;
    deps.tasks.register('container_create', { steps: (op) => this.#createSteps(op), undo: (op, state) => this.#undoCreate(op, state) });
    deps.tasks.register('container_action', { steps: (op) => this.#actionSteps(op) });
    deps.tasks.register('container_delete', { steps: (op) => this.#deleteSteps(op) });
  }

  async #nodes(engine: ClusterEngine): Promise<ClusterNode[]> {
    return clusterNodes(await this.#d.storage.listResources(engine.cluster.uuid));
  }

  /** The container's row, its cluster's engine and its node's engine, which answers (else 503). */
  async #locate(uuid: string): Promise<{ c: Container; engine: ClusterEngine; target: EngineTarget }> {
    const c = await this.#d.storage.getContainerByUuid(uuid);
    if (!c) throw E.ContainerNotFound(uuid);
    const engine = await this.#d.engines.forCluster(c.cluster_id);
    const node = (await this.#nodes(engine)).find((n) => n.address === c.host);
    if (!node) throw E.Conflict(`Container ${label(c)} is gone with its node, which is no longer part of cluster ${clusterLabel(engine)}; delete it (it was on ${c.host ?? 'no node'}).`);
    return { c, engine, target: await reachNode(engine, node) };
  }

  async #inspectOne(engine: ClusterEngine, target: EngineTarget, c: Container): Promise<Inspected> {
    const info = (await inspect(engine, target, [dockerName(c.uuid)])).get(dockerName(c.uuid));
    if (!info) throw E.Conflict(`Container ${label(c)} no longer exists on its node (it was removed outside Magnum); delete it.`);
    return info;
  }

  async #save(c: Container, live: ContainerLive): Promise<ContainerLive> {
    if (c.status !== live.status) await this.#d.storage.setContainerStatuses({ [c.uuid]: live.status });
    return live;
  }

  /** The nodes a container may go to: the workers, or the masters when there are none. */
  async #candidates(engine: ClusterEngine): Promise<ClusterNode[]> {
    const nodes = await this.#nodes(engine);
    const workers = nodes.filter((n) => n.role === 'worker');
    return workers.length ? workers : nodes;
  }

  async #reachable(engine: ClusterEngine, candidates: ClusterNode[]): Promise<ClusterNode[]> {
    const up = await Promise.all(candidates.map((n) => probe(n.address, endpointPort(engine.node(n.address)))));
    const reachable = candidates.filter((_, i) => up[i]);
    if (!reachable.length) {
      throw E.ServiceUnavailable(`Cluster ${clusterLabel(engine)} cannot be reached: no Docker engine of its nodes ${candidates.map((n) => n.name).join(', ')} answers (${candidates.map((n) => n.address).join(', ')}).`);
    }
    return reachable;
  }

  /** Checks the request (a refusal changes nothing), then starts the create operation with the container's row. */
  async create(spec: ContainerSpec, operation: string | null = null): Promise<TaskStarted> {
    const engine = await this.#d.engines.forCluster(spec.cluster_id);
    const cl = clusterLabel(engine);
    if (engine.cluster.status === 'DELETE_IN_PROGRESS') throw E.Conflict(`Cluster ${cl} is being deleted.`);
    const candidates = await this.#candidates(engine);
    if (!candidates.length) throw E.Conflict(`Cluster ${cl} has no nodes to run containers on yet (status ${engine.cluster.status}).`);
    await this.#reachable(engine, candidates);
    envFileText(spec.environment ?? {});
    try {
      // The row first, with the operation: a conductor that dies from here on leaves an operation
      // that another one finishes or takes back, never a stray container.
      return await this.#d.tasks.start({
        uuid: operation, kind: 'container_create', cluster: spec.cluster_id, params: { container: spec.uuid }, deadlineMs: CREATE_DEADLINE_MS,
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
          const engine = await this.#d.engines.forCluster(c.cluster_id);
          const candidates = await this.#candidates(engine);
          if (!candidates.length) throw E.Conflict(`Cluster ${clusterLabel(engine)} has no nodes to run containers on.`);
          const reachable = await this.#reachable(engine, candidates);
          const hasImage = await Promise.all(reachable.map(async (n) => {
            const r = await engine.run(engine.node(n.address), ['image', 'inspect', '--format', '{{.Id}}', c.image!], { timeoutMs: INSPECT_TIMEOUT_MS, raw: true, signal: ctx.signal });
            return r.exitCode === 0;
          }));
          const load = new Map<string, number>();
          for (const other of await this.#d.storage.listContainersOfCluster(c.cluster_id)) if (other.host) load.set(other.host, (load.get(other.host) ?? 0) + 1);
          const leastLoaded = (list: ClusterNode[]) => [...list].sort((a, b) => (load.get(a.address) ?? 0) - (load.get(b.address) ?? 0) || a.index - b.index)[0];
          const withImage = reachable.filter((_, i) => hasImage[i]);
          const node = leastLoaded(withImage.length ? withImage : reachable);
          if (!withImage.length) await this.#pull(engine, engine.node(node.address), node, c.image!);
          await this.#d.storage.updateContainer(c.uuid, { host: node.address });
        },
      },
      {
        // docker create, unless an earlier attempt made it (found by name on the chosen node).
        name: 'create container',
        run: async (ctx) => {
          const c = await this.#row(op);
          const engine = await this.#d.engines.forCluster(c.cluster_id);
          const target = engine.node(c.host!);
          const name = dockerName(c.uuid);
          let dockerId = (await inspect(engine, target, [name])).get(name)?.Id ?? null;
          if (!dockerId) {
            ctx.state.createIssued = true; // from here the container may exist (undo must remove it)
            const spec = { ...c, image: c.image! };
            const r = await withEnvFile(envFileText(c.environment ?? {}), (envFile) => engine.run(target, createArgs(spec, c.host!, envFile), { timeoutMs: COMMAND_TIMEOUT_MS, raw: true, signal: ctx.signal }));
            if (r.exitCode !== 0) throw E.InvalidParameterValue(`Docker refused to create container ${label(c)}: ${daemonMessage(r.stderr)} (node ${c.host})`);
            dockerId = r.stdout.trim().split('\n').pop() ?? null;
          }
          await this.#d.storage.updateContainer(c.uuid, { docker_id: dockerId, status: 'Stopped' });
          ctx.state.result = { status: 'Stopped', status_reason: 'created', published_ports: [] } satisfies ContainerLive;
        },
      },
    ];
  }

  /**
   * A create that failed: the Docker container (if one may have been made: its create was issued,
   * in this attempt or an earlier one) and the row go; a container that cannot be removed now
   * keeps its row, so that nothing runs on a node without its row.
   */
  async #undoCreate(op: Operation, state: Record<string, unknown>): Promise<void> {
    const c = await this.#d.storage.getContainerByUuid(String(op.params.container));
    if (!c) return;
    if (c.host && (state.createIssued === true || op.attempts > 1)) {
      const engine = await this.#d.engines.forCluster(c.cluster_id).catch(() => null);
      if (engine) {
        const r = await engine.run(engine.node(c.host), ['rm', '--force', dockerName(c.uuid)], { timeoutMs: COMMAND_TIMEOUT_MS, raw: true });
        if (r.exitCode !== 0 && !/No such container/i.test(r.stderr)) throw new Error(`removing the container ${dockerName(c.uuid)} failed: ${daemonMessage(r.stderr)}`);
      }
    }
    await this.#d.storage.destroyContainer(c.uuid);
  }

  /** No node of the cluster has the image: the chosen node pulls it, as `docker run` would. */
  async #pull(engine: ClusterEngine, target: EngineTarget, node: ClusterNode, image: string): Promise<void> {
    const hint = `Load it into the cluster first (POST /v1/clusters/${engine.cluster.uuid}/images).`;
    let r;
    try {
      r = await engine.run(target, ['pull', image], { timeoutMs: PULL_TIMEOUT_MS, raw: true });
    } catch (e) {
      if (e instanceof MagnumError && e.status === 503) {
        throw E.InvalidParameterValue(`Image ${image} is on no node of cluster ${clusterLabel(engine)} and could not be pulled within ${PULL_TIMEOUT_MS / 1000} s (by node ${node.address}). ${hint}`);
      }
      throw e;
    }
    if (r.exitCode !== 0) {
      throw E.InvalidParameterValue(`Image ${image} is on no node of cluster ${clusterLabel(engine)} and could not be pulled: ${daemonMessage(r.stderr)} (node ${node.address}). ${hint}`);
    }
  }

  /** Live status of several containers: one inspect per node, a few nodes at a time. */
  async statuses(containers: Pick<Container, 'uuid' | 'cluster_id' | 'host' | 'status'>[]): Promise<Record<string, ContainerLive>> {
    const out: Record<string, ContainerLive> = {};
    const byCluster = new Map<string, typeof containers>();
    for (const c of containers) byCluster.set(c.cluster_id, [...(byCluster.get(c.cluster_id) ?? []), c]);
    const groups: { engine: ClusterEngine; host: string; list: typeof containers }[] = [];
    await mapLimit([...byCluster], LIST_CONCURRENCY, async ([clusterUuid, list]) => {
      let engine: ClusterEngine;
      try {
        engine = await this.#d.engines.forCluster(clusterUuid);
      } catch (e) {
        for (const c of list) out[c.uuid] = e instanceof MagnumError && e.status === 404 ? error(`cluster ${clusterUuid} no longer exists`) : unknown((e as Error).message);
        return;
      }
      const nodes = await this.#nodes(engine);
      const byHost = new Map<string, typeof containers>();
      for (const c of list) {
        if (!c.host) out[c.uuid] = unknown('the container is being created: it has no node yet');
        else if (!nodes.some((n) => n.address === c.host)) out[c.uuid] = error(`node ${c.host} is no longer part of cluster ${clusterLabel(engine)}`);
        else byHost.set(c.host, [...(byHost.get(c.host) ?? []), c]);
      }
      for (const [host, hostList] of byHost) groups.push({ engine, host, list: hostList });
    });
    await mapLimit(groups, LIST_CONCURRENCY, async ({ engine, host, list }) => {
      const target = engine.node(host);
      if (!(await probe(host, endpointPort(target)))) {
        for (const c of list) out[c.uuid] = unknown(`the Docker engine of node ${host} of cluster ${clusterLabel(engine)} cannot be reached`);
        return;
      }
      try {
        const found = await inspect(engine, target, list.map((c) => dockerName(c.uuid)));
        for (const c of list) {
          const info = found.get(dockerName(c.uuid));
          out[c.uuid] = info ? liveOf(info) : error(`the container no longer exists on node ${host}`);
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
    const { c, engine, target } = await this.#locate(uuid);
    const state = (await this.#inspectOne(engine, target, c)).State ?? {};
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
    return this.#d.tasks.start({ uuid: opts.operation, kind: 'container_action', cluster: c.cluster_id, params: { container: c.uuid, action, timeout: grace }, deadlineMs: actionDeadlineMs(grace) });
  }

  #actionSteps(op: Operation): Step[] {
    const action = op.params.action as ContainerAction;
    const grace = (op.params.timeout as number | null | undefined) ?? null;
    const verb = { start: 'start', stop: 'stop', reboot: 'restart', pause: 'pause', unpause: 'unpause' }[action];
    return [
      {
        name: `${verb} container`,
        run: async (ctx) => {
          const { c, engine, target } = await this.#locate(String(op.params.container));
          const state = (await this.#inspectOne(engine, target, c)).State ?? {};
          if (actionDone(action, state, op.created_at)) return;
          const args = [verb, ...((action === 'stop' || action === 'reboot') && grace !== null ? [`--time=${grace}`] : [])];
          const r = await engine.run(target, [...args, dockerName(c.uuid)], { timeoutMs: COMMAND_TIMEOUT_MS + (grace ?? 10) * 1000, raw: true, signal: ctx.signal });
          if (r.exitCode !== 0) throw E.Conflict(`Cannot ${action} container ${label(c)}: ${daemonMessage(r.stderr)}.`);
        },
      },
      {
        name: 'read container',
        run: async (ctx) => {
          const { c, engine, target } = await this.#locate(String(op.params.container));
          ctx.state.result = await this.#save(c, liveOf(await this.#inspectOne(engine, target, c)));
        },
      },
    ];
  }

  async logs(uuid: string, opts: { tail?: number | null; since?: string | null; timestamps?: boolean }): Promise<{ output: string }> {
    const { c, engine, target } = await this.#locate(uuid);
    const args = ['logs', '--timestamps'];
    if (opts.tail !== null && opts.tail !== undefined) args.push(`--tail=${opts.tail}`);
    if (opts.since) args.push(`--since=${opts.since}`);
    const r = await engine.run(target, [...args, dockerName(c.uuid)], { timeoutMs: COMMAND_TIMEOUT_MS, raw: true });
    if (r.exitCode !== 0) {
      if (/No such container/i.test(r.stderr)) throw E.Conflict(`Container ${label(c)} no longer exists on its node (it was removed outside Magnum); delete it.`);
      throw E.InvalidParameterValue(`Docker could not read the logs of container ${label(c)}: ${daemonMessage(r.stderr)}`);
    }
    return { output: mergeLogs(r.stdout, r.stderr, Boolean(opts.timestamps)) };
  }

  async exec(uuid: string, command: string[], opts: { timeout: number }): Promise<{ output: string; exit_code: number; stdout: string; stderr: string }> {
    const { c, engine, target } = await this.#locate(uuid);
    const state = (await this.#inspectOne(engine, target, c)).State ?? {};
    if (state.Paused) throw E.Conflict(`Cannot execute a command in container ${label(c)}: it is paused (unpause it first).`);
    if (!state.Running) throw E.Conflict(`Cannot execute a command in container ${label(c)}: it is not running.`);
    let r;
    try {
      r = await engine.run(target, ['exec', dockerName(c.uuid), ...command], { timeoutMs: opts.timeout * 1000, raw: true });
    } catch (e) {
      if (e instanceof MagnumError && e.status === 503 && /did not answer in time/.test(e.message)) {
        throw E.GatewayTimeout(`The command did not finish within ${opts.timeout} s (it may still be running in container ${label(c)}).`);
      }
      throw e;
    }
    if (r.exitCode === 1 && r.stdout === '' && /^Error response from daemon:/.test(r.stderr.trim())) {
      throw E.Conflict(`Cannot execute a command in container ${label(c)}: ${daemonMessage(r.stderr)}.`);
    }
    return { output: r.stdout + r.stderr, exit_code: r.exitCode, stdout: r.stdout, stderr: r.stderr };
  }

  /** Live changes of resource limits and restart policy (docker update), then the row. */
  async update(uuid: string, changes: Partial<Pick<Container, 'memory' | 'cpu' | 'restart_policy'>>): Promise<ContainerLive> {
    const { c, engine, target } = await this.#locate(uuid);
    await this.#inspectOne(engine, target, c);
    const args = ['update'];
    if (changes.memory !== undefined && changes.memory !== null) {
      const bytes = dockerMemoryBytes(changes.memory)!;
      // Docker's own default for a memory limit: as much swap again.
      args.push(`--memory=${bytes}`, `--memory-swap=${bytes * 2}`);
    }
    if (changes.cpu !== undefined) args.push(`--cpus=${changes.cpu ?? 0}`);
    if (changes.restart_policy !== undefined) args.push(`--restart=${changes.restart_policy ?? 'no'}`);
    if (args.length > 1) {
      const r = await engine.run(target, [...args, dockerName(c.uuid)], { timeoutMs: COMMAND_TIMEOUT_MS, raw: true });
      if (r.exitCode !== 0) throw E.InvalidParameterValue(`Docker refused to update container ${label(c)}: ${daemonMessage(r.stderr)}`);
    }
    await this.#d.storage.updateContainer(c.uuid, changes);
    return this.#save(c, liveOf(await this.#inspectOne(engine, target, c)));
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
    let engine: ClusterEngine;
    try {
      engine = await this.#d.engines.forCluster(c.cluster_id);
    } catch (e) {
      if (e instanceof MagnumError && e.status === 404) return storage.destroyContainer(uuid).then(() => null);
      throw e;
    }
    const node = (await this.#nodes(engine)).find((n) => n.address === c.host);
    if (!node) return storage.destroyContainer(uuid).then(() => null);
    const target = await reachNode(engine, node);
    const info = (await inspect(engine, target, [dockerName(uuid)])).get(dockerName(uuid));
    if (info && !opts.force && (info.State?.Running || info.State?.Paused)) {
      throw E.Conflict(`Cannot delete container ${label(c)}: it is ${info.State.Paused ? 'paused' : 'running'} (stop it first, or delete it with force=true).`);
    }
    return this.#d.tasks.start({ uuid: opts.operation, kind: 'container_delete', cluster: c.cluster_id, params: { container: uuid, force: opts.force }, deadlineMs: DELETE_DEADLINE_MS });
  }

  #deleteSteps(op: Operation): Step[] {
    const uuid = String(op.params.container);
    const force = op.params.force === true;
    return [
      {
        // docker rm on its node; a container (or node) already gone counts as removed.
        name: 'remove container',
        run: async (ctx) => {
          const c = await this.#d.storage.getContainerByUuid(uuid);
          if (!c) return;
          const engine = await this.#d.engines.forCluster(c.cluster_id);
          const node = (await this.#nodes(engine)).find((n) => n.address === c.host);
          if (!node) return;
          const target = await reachNode(engine, node);
          const r = await engine.run(target, ['rm', ...(force ? ['--force'] : []), dockerName(uuid)], { timeoutMs: COMMAND_TIMEOUT_MS, raw: true, signal: ctx.signal });
          if (r.exitCode !== 0 && !/No such container/i.test(r.stderr)) throw E.Conflict(`Cannot delete container ${label(c)}: ${daemonMessage(r.stderr)}.`);
        },
      },
      { name: 'forget container', run: async () => this.#d.storage.destroyContainer(uuid) },
    ];
  }
}

/** Docker prints a container's stdout and stderr on its own two streams: merged back by time. */
export function mergeLogs(stdout: string, stderr: string, keepTimestamps: boolean): string {
  const entries: { key: string; seq: number; text: string }[] = [];
  let seq = 0;
  for (const chunk of [stdout, stderr]) {
    const lines = chunk.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    for (const line of lines) {
      const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z /.exec(line);
      const key = m ? `${m[1]}.${(m[2] ?? '').padEnd(9, '0')}` : '';
      entries.push({ key, seq: seq++, text: m && !keepTimestamps ? line.slice(m[0].length) : line });
    }
  }
  entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.seq - b.seq));
  return entries.map((e) => `${e.text}\n`).join('');
}

const opOf = (a: Record<string, unknown>) => (typeof a.operation === 'string' ? a.operation : null);

export function containerMethods(d: MethodDeps): RpcMethods {
  const svc = new ContainerService(d);
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
