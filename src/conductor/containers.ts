// Containers on a cluster's nodes (Magnum 2015's container_* RPC methods, reference §12.3), over
// the cluster's TLS with the conductor's client certificate. A container runs on one node's
// engine, addressed directly: placed on the least loaded worker (a master when the cluster has
// no workers) that already has the image, else pulled there the way `docker run` pulls. It is
// named magnum-<uuid>, with the uuid as its hostname (as Magnum did) and a magnum.container
// label; published ports bind on the node's address on the cluster network.
//
// The database row is written before the Docker container is made and removed after it is gone,
// so no container is left that Magnum does not know about. Status is read live (docker inspect).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { E, MagnumError } from '../common/errors.ts';
import { UniqueViolation } from '../db/api.ts';
import {
  commandArgs, dockerMemoryBytes, parsePort, statusOf, type ContainerLive, type DockerState,
} from '../objects/container.ts';
import type { Container } from '../objects/models.ts';
import type { ClusterEngine, EngineTarget } from './cluster-engine.ts';
import {
  clusterLabel, clusterNodes, daemonMessage, endpointPort, mapLimit, probe, reachNode, type ClusterNode,
} from './docker-nodes.ts';
import type { MethodDeps, RpcMethods } from './rpc-methods.ts';


export type ContainerAction = 'start' | 'stop' | 'reboot' | 'pause' | 'unpause';
export const CONTAINER_ACTIONS: readonly ContainerAction[] = ['start', 'stop', 'reboot', 'pause', 'unpause'];

const INSPECT_TIMEOUT_MS = 15_000;
const COMMAND_TIMEOUT_MS = 45_000;
export const PULL_TIMEOUT_MS = 90_000;
const LIST_CONCURRENCY = 8;

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

  async create(spec: Partial<Container> & { uuid: string; cluster_id: string; image: string }): Promise<ContainerLive> {
    const { storage } = this.#d;
    const engine = await this.#d.engines.forCluster(spec.cluster_id);
    const cl = clusterLabel(engine);
    if (engine.cluster.status === 'DELETE_IN_PROGRESS') throw E.Conflict(`Cluster ${cl} is being deleted.`);
    const nodes = await this.#nodes(engine);
    const workers = nodes.filter((n) => n.role === 'worker');
    const candidates = workers.length ? workers : nodes;
    if (!candidates.length) throw E.Conflict(`Cluster ${cl} has no nodes to run containers on yet (status ${engine.cluster.status}).`);
    const reachable = (await Promise.all(candidates.map(async (n) => ((await probe(n.address, endpointPort(engine.node(n.address)))) ? n : null))))
      .filter((n): n is ClusterNode => n !== null);
    if (!reachable.length) {
      throw E.ServiceUnavailable(`Cluster ${cl} cannot be reached: no Docker engine of its nodes ${candidates.map((n) => n.name).join(', ')} answers (${candidates.map((n) => n.address).join(', ')}).`);
    }
    const hasImage = await Promise.all(reachable.map(async (n) => {
      const r = await engine.run(engine.node(n.address), ['image', 'inspect', '--format', '{{.Id}}', spec.image], { timeoutMs: INSPECT_TIMEOUT_MS, raw: true });
      return r.exitCode === 0;
    }));
    const load = new Map<string, number>();
    for (const other of await storage.listContainersOfCluster(engine.cluster.uuid)) if (other.host) load.set(other.host, (load.get(other.host) ?? 0) + 1);
    const leastLoaded = (list: ClusterNode[]) => [...list].sort((a, b) => (load.get(a.address) ?? 0) - (load.get(b.address) ?? 0) || a.index - b.index)[0];
    const withImage = reachable.filter((_, i) => hasImage[i]);
    const node = leastLoaded(withImage.length ? withImage : reachable);
    const target = engine.node(node.address);
    if (!withImage.length) await this.#pull(engine, target, node, spec.image);

    const name = dockerName(spec.uuid);
    const envText = envFileText(spec.environment ?? {});

    // The row first: a conductor that dies from here on leaves a row to delete, never a stray container.
    try {
      await storage.createContainer({ ...spec, host: node.address, docker_id: null, status: null });
    } catch (e) {
      // Another request with the same uuid got there first (the API checked before either wrote).
      if (e instanceof UniqueViolation) throw E.Conflict(`A container with UUID ${spec.uuid} already exists.`);
      throw e;
    }
    try {
      const r = await withEnvFile(envText, (envFile) => engine.run(target, createArgs(spec, node.address, envFile), { timeoutMs: COMMAND_TIMEOUT_MS, raw: true }));
      if (r.exitCode !== 0) throw E.InvalidParameterValue(`Docker refused to create container ${label(spec as Container)}: ${daemonMessage(r.stderr)} (node ${node.address})`);
      const dockerId = r.stdout.trim().split('\n').pop() ?? null;
      await storage.updateContainer(spec.uuid, { docker_id: dockerId, status: 'Stopped' });
    } catch (e) {
      await engine.run(target, ['rm', '--force', name], { timeoutMs: COMMAND_TIMEOUT_MS, raw: true }).catch(() => undefined);
      await storage.destroyContainer(spec.uuid);
      throw e;
    }
    return { status: 'Stopped', status_reason: 'created', published_ports: [] };
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
        if (!c.host) out[c.uuid] = error('the container was never created on a node');
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

  async action(uuid: string, action: ContainerAction, opts: { timeout?: number | null } = {}): Promise<ContainerLive> {
    const { c, engine, target } = await this.#locate(uuid);
    const state = (await this.#inspectOne(engine, target, c)).State ?? {};
    const running = Boolean(state.Running);
    const paused = Boolean(state.Paused);
    const refuse = (why: string) => E.Conflict(`Cannot ${action} container ${label(c)}: ${why}.`);
    let args: string[];
    const grace = opts.timeout ?? null;
    switch (action) {
      case 'start':
        if (paused) throw refuse('it is paused (unpause it instead)');
        if (running) throw refuse('it is already running');
        args = ['start'];
        break;
      case 'stop':
        if (!running) throw refuse('it is not running');
        args = ['stop', ...(grace !== null ? [`--time=${grace}`] : [])];
        break;
      case 'reboot':
        if (paused) throw refuse('it is paused (unpause it first)');
        args = ['restart', ...(grace !== null ? [`--time=${grace}`] : [])];
        break;
      case 'pause':
        if (paused) throw refuse('it is already paused');
        if (!running) throw refuse('it is not running');
        args = ['pause'];
        break;
      case 'unpause':
        if (!paused) throw refuse('it is not paused');
        args = ['unpause'];
        break;
    }
    const r = await engine.run(target, [...args, dockerName(c.uuid)], { timeoutMs: COMMAND_TIMEOUT_MS + (grace ?? 10) * 1000, raw: true });
    if (r.exitCode !== 0) throw refuse(daemonMessage(r.stderr));
    return this.#save(c, liveOf(await this.#inspectOne(engine, target, c)));
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

  /** Removes the Docker container, then the row. A container whose node or cluster is gone is gone. */
  async delete(uuid: string, opts: { force: boolean }): Promise<void> {
    const { storage } = this.#d;
    const c = await storage.getContainerByUuid(uuid);
    if (!c) throw E.ContainerNotFound(uuid);
    let engine: ClusterEngine;
    try {
      engine = await this.#d.engines.forCluster(c.cluster_id);
    } catch (e) {
      if (e instanceof MagnumError && e.status === 404) return storage.destroyContainer(uuid);
      throw e;
    }
    const node = (await this.#nodes(engine)).find((n) => n.address === c.host);
    if (!node) return storage.destroyContainer(uuid);
    const target = await reachNode(engine, node);
    const info = (await inspect(engine, target, [dockerName(uuid)])).get(dockerName(uuid));
    if (info) {
      if (!opts.force && (info.State?.Running || info.State?.Paused)) {
        throw E.Conflict(`Cannot delete container ${label(c)}: it is ${info.State.Paused ? 'paused' : 'running'} (stop it first, or delete it with force=true).`);
      }
      const r = await engine.run(target, ['rm', ...(opts.force ? ['--force'] : []), dockerName(uuid)], { timeoutMs: COMMAND_TIMEOUT_MS, raw: true });
      if (r.exitCode !== 0 && !/No such container/i.test(r.stderr)) throw E.Conflict(`Cannot delete container ${label(c)}: ${daemonMessage(r.stderr)}.`);
    }
    await storage.destroyContainer(uuid);
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

export function containerMethods(d: MethodDeps): RpcMethods {
  const svc = new ContainerService(d);
  return {
    container_create: async (a) => svc.create(a.container as Partial<Container> & { uuid: string; cluster_id: string; image: string }),
    container_status: async (a) => svc.statuses(a.containers as Pick<Container, 'uuid' | 'cluster_id' | 'host' | 'status'>[]),
    container_action: async (a) => svc.action(String(a.container), a.action as ContainerAction, { timeout: (a.timeout as number | null | undefined) ?? null }),
    container_logs: async (a) => svc.logs(String(a.container), { tail: a.tail as number | null, since: a.since as string | null, timestamps: Boolean(a.timestamps) }),
    container_exec: async (a) => svc.exec(String(a.container), a.command as string[], { timeout: Number(a.timeout) }),
    container_update: async (a) => svc.update(String(a.container), a.changes as Partial<Pick<Container, 'memory' | 'cpu' | 'restart_policy'>>),
    container_delete: async (a) => {
      await svc.delete(String(a.container), { force: Boolean(a.force) });
      return null;
    },
  };
}
