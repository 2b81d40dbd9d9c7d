// Containers on nodes that run a Docker engine (Magnum 2015's container_* methods, reference
// §12.3), one node's engine addressed directly over the cluster's TLS. A container is named
// magnum-<uuid>, with the uuid as its hostname (as Magnum did) and a magnum.container label;
// published ports bind on the node's address on the cluster network. The conductor
// (src/conductor/containers.ts) keeps the rows and runs the operations; this is the engine side.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { E, MagnumError } from '../../common/errors.ts';
import { commandArgs, dockerMemoryBytes, parsePort, statusOf, type ContainerLive, type DockerState } from '../../objects/container.ts';
import type { Container } from '../../objects/models.ts';
import type { ContainerBackend, ContainerInfo, ContainerNode, WorkloadAccess } from '../workloads.ts';
import { daemonMessage, DockerEngine, ledgerEngineNodes, type EngineTarget } from './engine.ts';

const INSPECT_TIMEOUT_MS = 15_000;
const COMMAND_TIMEOUT_MS = 45_000;
export const PULL_TIMEOUT_MS = 90_000;

export const dockerName = (uuid: string): string => `magnum-${uuid}`;
const label = (c: Pick<Container, 'name' | 'uuid'>) => c.name ?? c.uuid;

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

/** The engine of a cluster: its certificate files asked of the conductor once. */
export function engineOf(access: WorkloadAccess): () => Promise<DockerEngine> {
  let engine: Promise<DockerEngine> | null = null;
  return () => (engine ??= access.tlsFiles().then((dir) => new DockerEngine(access.cluster, dir)));
}

/** Containers on the nodes' Docker engines. */
export function engineContainers(access: WorkloadAccess): ContainerBackend {
  const engine = engineOf(access);
  const target = async (address: string): Promise<{ e: DockerEngine; t: EngineTarget }> => {
    const e = await engine();
    return { e, t: e.node(address) };
  };

  /** `docker inspect` of several containers on one engine; missing ones are absent from the map. */
  const inspect = async (address: string, uuids: readonly string[]): Promise<Map<string, ContainerInfo>> => {
    const { e, t } = await target(address);
    const r = await e.run(t, ['inspect', '--type', 'container', '--format', '{{json .}}', ...uuids.map(dockerName)], { timeoutMs: INSPECT_TIMEOUT_MS, raw: true });
    const found = new Map<string, ContainerInfo>();
    for (const line of r.stdout.split('\n')) {
      if (!line.trim()) continue;
      const info = JSON.parse(line) as Inspected;
      const uuid = info.Name.replace(/^\//, '').replace(/^magnum-/, '');
      found.set(uuid, { id: info.Id, state: info.State ?? {}, live: liveOf(info) });
    }
    if (r.exitCode !== 0) {
      const other = r.stderr.split('\n').map((l) => l.trim()).filter((l) => l && !/No such (container|object)/i.test(l));
      if (other.length) throw E.ServiceUnavailable(`The Docker engine at ${t.endpoint} of cluster ${e.label} failed: ${daemonMessage(other.join('\n'))}`);
    }
    return found;
  };

  return {
    answering: 'Docker engine',
    timeouts: { inspectMs: INSPECT_TIMEOUT_MS, commandMs: COMMAND_TIMEOUT_MS, pullMs: PULL_TIMEOUT_MS },
    async nodes() {
      return ledgerEngineNodes(await access.resources());
    },
    async answers(addresses) {
      const e = await engine();
      return Promise.all(addresses.map((a) => e.answers(a)));
    },
    async reach(node: ContainerNode) {
      await (await engine()).reach(node);
    },
    check(spec) {
      envFileText(spec.environment ?? {});
    },
    async hasImage(node, image, signal) {
      const { e, t } = await target(node.address);
      const r = await e.run(t, ['image', 'inspect', '--format', '{{.Id}}', image], { timeoutMs: INSPECT_TIMEOUT_MS, raw: true, signal });
      return r.exitCode === 0;
    },
    async pull(node, image) {
      const { e, t } = await target(node.address);
      const hint = `Load it into the cluster first (POST /v1/clusters/${access.cluster.uuid}/images).`;
      let r;
      try {
        r = await e.run(t, ['pull', image], { timeoutMs: PULL_TIMEOUT_MS, raw: true });
      } catch (err) {
        if (err instanceof MagnumError && err.status === 503) {
          throw E.InvalidParameterValue(`Image ${image} is on no node of cluster ${e.label} and could not be pulled within ${PULL_TIMEOUT_MS / 1000} s (by node ${node.address}). ${hint}`);
        }
        throw err;
      }
      if (r.exitCode !== 0) {
        throw E.InvalidParameterValue(`Image ${image} is on no node of cluster ${e.label} and could not be pulled: ${daemonMessage(r.stderr)} (node ${node.address}). ${hint}`);
      }
    },
    inspect,
    async create(c, signal) {
      const { e, t } = await target(c.host!);
      const spec = { ...c, image: c.image! };
      const r = await withEnvFile(envFileText(c.environment ?? {}), (envFile) => e.run(t, createArgs(spec, c.host!, envFile), { timeoutMs: COMMAND_TIMEOUT_MS, raw: true, signal }));
      if (r.exitCode !== 0) throw E.InvalidParameterValue(`Docker refused to create container ${label(c)}: ${daemonMessage(r.stderr)} (node ${c.host})`);
      return r.stdout.trim().split('\n').pop() ?? '';
    },
    async act(c, action, grace, signal) {
      const { e, t } = await target(c.host!);
      const verb = { start: 'start', stop: 'stop', reboot: 'restart', pause: 'pause', unpause: 'unpause' }[action];
      const args = [verb, ...((action === 'stop' || action === 'reboot') && grace !== null ? [`--time=${grace}`] : [])];
      const r = await e.run(t, [...args, dockerName(c.uuid)], { timeoutMs: COMMAND_TIMEOUT_MS + (grace ?? 10) * 1000, raw: true, signal });
      return r.exitCode === 0 ? null : daemonMessage(r.stderr);
    },
    async remove(c, opts) {
      const { e, t } = await target(c.host!);
      const r = await e.run(t, ['rm', ...(opts.force ? ['--force'] : []), dockerName(c.uuid)], { timeoutMs: COMMAND_TIMEOUT_MS, raw: true, signal: opts.signal });
      return r.exitCode !== 0 && !/No such container/i.test(r.stderr) ? daemonMessage(r.stderr) : null;
    },
    async logs(c, opts) {
      const { e, t } = await target(c.host!);
      const args = ['logs', '--timestamps'];
      if (opts.tail !== null && opts.tail !== undefined) args.push(`--tail=${opts.tail}`);
      if (opts.since) args.push(`--since=${opts.since}`);
      const r = await e.run(t, [...args, dockerName(c.uuid)], { timeoutMs: COMMAND_TIMEOUT_MS, raw: true });
      if (r.exitCode !== 0) {
        if (/No such container/i.test(r.stderr)) throw E.Conflict(`Container ${label(c)} no longer exists on its node (it was removed outside Magnum); delete it.`);
        throw E.InvalidParameterValue(`Docker could not read the logs of container ${label(c)}: ${daemonMessage(r.stderr)}`);
      }
      return mergeLogs(r.stdout, r.stderr, Boolean(opts.timestamps));
    },
    async exec(c, command, timeoutS) {
      const { e, t } = await target(c.host!);
      let r;
      try {
        r = await e.run(t, ['exec', dockerName(c.uuid), ...command], { timeoutMs: timeoutS * 1000, raw: true });
      } catch (err) {
        if (err instanceof MagnumError && err.status === 503 && /did not answer in time/.test(err.message)) {
          throw E.GatewayTimeout(`The command did not finish within ${timeoutS} s (it may still be running in container ${label(c)}).`);
        }
        throw err;
      }
      if (r.exitCode === 1 && r.stdout === '' && /^Error response from daemon:/.test(r.stderr.trim())) {
        throw E.Conflict(`Cannot execute a command in container ${label(c)}: ${daemonMessage(r.stderr)}.`);
      }
      return { exit_code: r.exitCode, stdout: r.stdout, stderr: r.stderr };
    },
    async update(c, changes) {
      const args = ['update'];
      if (changes.memory !== undefined && changes.memory !== null) {
        const bytes = dockerMemoryBytes(changes.memory)!;
        // Docker's own default for a memory limit: as much swap again.
        args.push(`--memory=${bytes}`, `--memory-swap=${bytes * 2}`);
      }
      if (changes.cpu !== undefined) args.push(`--cpus=${changes.cpu ?? 0}`);
      if (changes.restart_policy !== undefined) args.push(`--restart=${changes.restart_policy ?? 'no'}`);
      if (args.length === 1) return;
      const { e, t } = await target(c.host!);
      const r = await e.run(t, [...args, dockerName(c.uuid)], { timeoutMs: COMMAND_TIMEOUT_MS, raw: true });
      if (r.exitCode !== 0) throw E.InvalidParameterValue(`Docker refused to update container ${label(c)}: ${daemonMessage(r.stderr)}`);
    },
  };
}
