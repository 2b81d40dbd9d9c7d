// Swarm services of a swarm-mode cluster, through the docker CLI against the cluster's manager
// (TLS with the conductor's client certificate). A Magnum service is a Swarm service labelled
// magnum.service=<uuid>, in endpoint mode dnsrr, on the cluster's attachable overlay network
// `magnum-services` (every Magnum service of a cluster resolves the others by name; the network is
// made with the first service and removed with the last).
//
// This machine's kernel has no IPVS, so the Swarm routing mesh (ingress, VIPs) does not work: every
// port is published in mode host. A port published "on the cluster's address" (mode ingress in the
// manifest) gets a random port on each task's node, and the conductor listens on the cluster's
// address and spreads connections over those task endpoints (src/conductor/port-forwarder.ts);
// `backends` reports them. A mode host port with a number is that port on each task's node (one
// such task per node).
//
// No registry is reachable: images are never resolved (--no-resolve-image); the image must already
// be on the nodes (POST /v1/clusters/{ident}/images, or docker load on each node).
import { setTimeout as sleep } from 'node:timers/promises';
import { E, MagnumError } from '../../common/errors.ts';
import type { ExecResult } from '../../infra/provider.ts';
import { backendKey, shellJoin, type SwarmServiceManifest, type UpdateConfig } from '../../objects/manifests.ts';
import type { Workload } from '../../objects/models.ts';
import type { LiveState, ObjectBackend, WorkloadAccess } from '../workloads.ts';
import { engineOf } from '../docker-engine/containers.ts';
import type { DockerEngine } from '../docker-engine/engine.ts';

export const SERVICE_LABEL = 'magnum.service';
export const SERVICES_NETWORK = 'magnum-services';
const READ_TIMEOUT_MS = 15_000;
const WRITE_TIMEOUT_MS = 30_000;
const NODE_CACHE_MS = 15_000;

/** Swarm's defaults, restored when a manifest drops a setting. */
const UPDATE_DEFAULTS: Required<UpdateConfig> = { parallelism: 1, delay: '0s', order: 'stop-first', failure_action: 'pause', monitor: '5s' };

export interface SwarmTask {
  id: string;
  name: string;
  slot: number | null;
  node: string | null;
  node_address: string | null;
  state: string;
  desired_state: string;
  image: string;
  error: string | null;
  ports: { target: number; published: number; protocol: string; endpoint: string | null }[];
}

/** Node hostname → address, per cluster, for a few seconds (node addresses rarely change). */
const nodeCache = new Map<string, { at: number; addresses: Map<string, string> }>();

/** The docker --publish values of a manifest: one per (target, protocol, published). */
export function dockerPorts(m: SwarmServiceManifest): string[] {
  const out = new Set<string>();
  for (const p of m.ports) {
    const published = p.mode === 'host' && p.published !== null ? `,published=${p.published}` : '';
    out.add(`mode=host,target=${p.target}${published},protocol=${p.protocol}`);
  }
  return [...out];
}


function parseTaskPorts(text: string): { target: number; published: number; protocol: string }[] {
  const out: { target: number; published: number; protocol: string }[] = [];
  for (const m of text.matchAll(/:(\d+)->(\d+)\/(\w+)/g)) out.push({ published: Number(m[1]), target: Number(m[2]), protocol: m[3] });
  return out;
}

function lines(stdout: string): Record<string, unknown>[] {
  return stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);
}

const unquote = (s: unknown): string => String(s ?? '').replace(/^"(.*)"$/s, '$1').trim();

export class SwarmServices implements ObjectBackend {
  readonly #access: WorkloadAccess;

  readonly #engine: () => Promise<DockerEngine>;

  constructor(access: WorkloadAccess) {
    this.#access = access;
    this.#engine = engineOf(access);
  }

  get #clusterName(): string {
    return this.#access.cluster.name ?? this.#access.cluster.uuid;
  }

  /** The docker CLI against the cluster's manager; a 503 when its engine cannot be reached or does not answer. */
  async #docker(args: string[], timeoutMs = READ_TIMEOUT_MS): Promise<ExecResult> {
    const engine = await this.#engine();
    return engine.run(engine.api, args, { timeoutMs });
  }

  /** A docker failure as the API should report it. */
  #failure(what: string, w: Pick<Workload, 'name'>, r: ExecResult): MagnumError {
    const msg = (r.stderr.trim() || r.stdout.trim()).replace(/^Error response from daemon: /, '').replace(/^rpc error: code = \w+ desc = /, '');
    if (/name conflicts with an existing object|already exists/i.test(msg)) {
      return E.Conflict(`A service named ${w.name} already exists on cluster ${this.#clusterName}.`);
    }
    if (/This node is not a swarm manager|swarm is not active/i.test(msg)) {
      return E.ServiceUnavailable(`The Swarm of cluster ${this.#clusterName} is not available: ${msg}`);
    }
    return new MagnumError('SwarmAPIFailed', 500, `${what} on cluster ${this.#clusterName} failed: ${msg}`);
  }

  async #ensureNetwork(): Promise<void> {
    const r = await this.#docker(['network', 'create', '--driver', 'overlay', '--attachable', '--label', `${SERVICE_LABEL}s=true`, SERVICES_NETWORK], WRITE_TIMEOUT_MS);
    if (r.exitCode !== 0 && !/already exists/i.test(r.stderr)) throw this.#failure('Creating the services network', { name: SERVICES_NETWORK }, r);
  }

  /** The Swarm service id: the stored one, or found by label (a create interrupted before it was saved). */
  async #serviceId(w: Workload): Promise<string | null> {
    if (w.backend_id) return w.backend_id;
    const r = await this.#docker(['service', 'ls', '--filter', `label=${SERVICE_LABEL}=${w.uuid}`, '--format', '{{.ID}}']);
    if (r.exitCode !== 0) throw this.#failure('Listing services', w, r);
    return r.stdout.trim().split('\n').filter(Boolean)[0] ?? null;
  }

  async create(w: Workload): Promise<{ backend_id: string }> {
    const m = w.manifest as unknown as SwarmServiceManifest;
    const args = [
      'service', 'create', '--detach', '--no-resolve-image', '--name', w.name,
      '--label', `${SERVICE_LABEL}=${w.uuid}`, '--label', `magnum.project=${w.project_id ?? ''}`,
      '--endpoint-mode', 'dnsrr', '--network', SERVICES_NETWORK, '--replicas', String(m.deploy.replicas),
    ];
    for (const [k, v] of Object.entries(m.deploy.labels)) args.push('--label', `${k}=${v}`);
    for (const [k, v] of Object.entries(m.labels)) args.push('--container-label', `${k}=${v}`);
    for (const [k, v] of Object.entries(m.environment)) args.push('--env', `${k}=${v}`);
    for (const c of m.deploy.placement.constraints) args.push('--constraint', c);
    for (const p of dockerPorts(m)) args.push('--publish', p);
    if (m.init !== undefined) args.push(`--init=${m.init}`);
    if (m.stop_grace_period !== undefined) args.push('--stop-grace-period', m.stop_grace_period);
    if (m.working_dir !== undefined) args.push('--workdir', m.working_dir);
    if (m.user !== undefined) args.push('--user', m.user);
    if (m.entrypoint !== undefined) args.push('--entrypoint', shellJoin(m.entrypoint));
    args.push(...updateFlags(m.deploy.update_config, {}));
    args.push(m.image, ...(m.command ?? []));
    await this.#ensureNetwork();
    let r = await this.#docker(args, WRITE_TIMEOUT_MS);
    // The last service's removal is taking the network away meanwhile: wait until it is gone, make it again.
    for (let i = 0; i < 20 && r.exitCode !== 0 && /network .*not found/i.test(r.stderr); i++) {
      await sleep(500);
      await this.#ensureNetwork();
      r = await this.#docker(args, WRITE_TIMEOUT_MS);
    }
    if (r.exitCode !== 0) throw this.#failure('Creating the service', w, r);
    return { backend_id: r.stdout.trim().split('\n').pop()!.trim() };
  }

  async #nodeAddresses(needed: string[]): Promise<Map<string, string>> {
    const key = this.#access.cluster.uuid;
    const cached = nodeCache.get(key);
    if (cached && Date.now() - cached.at < NODE_CACHE_MS && needed.every((n) => cached.addresses.has(n))) return cached.addresses;
    const ids = await this.#docker(['node', 'ls', '--format', '{{.ID}}']);
    if (ids.exitCode !== 0) throw this.#failure('Listing nodes', { name: '' }, ids);
    const list = ids.stdout.split('\n').map((s) => s.trim()).filter(Boolean);
    const addresses = new Map<string, string>();
    if (list.length) {
      const r = await this.#docker(['node', 'inspect', '--format', '{{.Description.Hostname}} {{.Status.Addr}}', ...list]);
      if (r.exitCode !== 0) throw this.#failure('Inspecting nodes', { name: '' }, r);
      for (const line of r.stdout.split('\n')) {
        const [host, addr] = line.trim().split(/\s+/);
        if (host && addr) addresses.set(host, addr);
      }
    }
    nodeCache.set(key, { at: Date.now(), addresses });
    return addresses;
  }

  /** Every task of the service Swarm still keeps (the current ones and a few past ones per slot). */
  async #tasks(id: string, w: Workload, opts: { current?: boolean } = {}): Promise<SwarmTask[] | null> {
    const args = ['service', 'ps', id, '--no-trunc', '--format', '{{json .}}'];
    if (opts.current) args.push('--filter', 'desired-state=running');
    const r = await this.#docker(args);
    if (r.exitCode !== 0) {
      if (/no such service|not found/i.test(r.stderr)) return null;
      throw this.#failure('Listing the service\'s tasks', w, r);
    }
    const raw = lines(r.stdout);
    const addresses = await this.#nodeAddresses(raw.map((t) => String(t.Node ?? '')).filter(Boolean));
    return raw.map((t) => {
      const node = String(t.Node ?? '') || null;
      const address = node ? addresses.get(node) ?? null : null;
      const slot = /\.(\d+)$/.exec(String(t.Name ?? ''));
      return {
        id: String(t.ID),
        name: String(t.Name ?? ''),
        slot: slot ? Number(slot[1]) : null,
        node,
        node_address: address,
        state: String(t.CurrentState ?? '').split(' ')[0].toLowerCase() || 'unknown',
        desired_state: String(t.DesiredState ?? '').toLowerCase(),
        image: String(t.Image ?? ''),
        error: unquote(t.Error) || null,
        ports: parseTaskPorts(String(t.Ports ?? '')).map((p) => ({ ...p, endpoint: address ? `${address}:${p.published}` : null })),
      };
    });
  }

  static backendsOf(tasks: SwarmTask[]): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const t of tasks) {
      if (t.state !== 'running' || t.desired_state !== 'running') continue;
      for (const p of t.ports) if (p.endpoint) (out[backendKey(p)] ??= []).push(p.endpoint);
    }
    return out;
  }

  async backends(w: Workload): Promise<Record<string, string[]> | null> {
    const id = await this.#serviceId(w);
    if (!id) return null;
    const tasks = await this.#tasks(id, w, { current: true });
    return tasks ? SwarmServices.backendsOf(tasks) : null;
  }

  async show(w: Workload): Promise<LiveState | null> {
    const id = await this.#serviceId(w);
    if (!id) return null;
    const [inspect, tasks] = await Promise.all([this.#docker(['service', 'inspect', id]), this.#tasks(id, w)]);
    if (inspect.exitCode !== 0) {
      if (/no such service|not found/i.test(inspect.stderr)) return null;
      throw this.#failure('Inspecting the service', w, inspect);
    }
    if (!tasks) return null;
    const svc = (JSON.parse(inspect.stdout) as Record<string, any>[])[0];
    const spec = svc?.Spec ?? {};
    const desired: number = spec.Mode?.Replicated?.Replicas ?? 0;
    const current = tasks.filter((t) => t.desired_state === 'running' || t.desired_state === 'ready');
    const running = current.filter((t) => t.state === 'running' && t.desired_state === 'running');
    const update = svc?.UpdateStatus ?? null;
    const failing = current.find((t) => t.error) ?? tasks.find((t) => t.error && ['failed', 'rejected'].includes(t.state));
    let status: string;
    let reason: string | null = null;
    switch (update?.State) {
      case 'updating': status = 'UPDATING'; break;
      case 'paused': status = 'UPDATE_PAUSED'; reason = update.Message ?? null; break;
      case 'rollback_started': status = 'ROLLING_BACK'; break;
      case 'rollback_paused': status = 'ROLLBACK_PAUSED'; reason = update.Message ?? null; break;
      default:
        if (running.length === desired && current.length === desired) status = 'RUNNING';
        else if (running.length < desired && failing) status = 'DEGRADED';
        else status = 'STARTING';
    }
    if (!reason && running.length < desired && failing) reason = `task ${failing.name}: ${failing.error}`;
    const nodes = [...new Set(running.map((t) => t.node).filter((n): n is string => !!n))].sort();
    return {
      fields: {
        backend_id: svc?.ID ?? id,
        image: spec.TaskTemplate?.ContainerSpec?.Image ?? null,
        replicas: desired,
        running_replicas: running.length,
        status,
        status_reason: reason,
        update_status: update ? {
          state: update.State ?? null,
          message: update.Message ?? null,
          started_at: update.StartedAt ?? null,
          completed_at: update.CompletedAt ?? null,
        } : null,
        nodes,
        tasks: current.sort((a, b) => (a.slot ?? 0) - (b.slot ?? 0) || a.name.localeCompare(b.name)),
      },
      backends: SwarmServices.backendsOf(current),
    };
  }

  async update(w: Workload, manifest: Record<string, unknown>): Promise<void> {
    const before = w.manifest as unknown as SwarmServiceManifest;
    const after = manifest as unknown as SwarmServiceManifest;
    if (JSON.stringify(dockerPorts(before)) !== JSON.stringify(dockerPorts(after))) {
      throw E.Invalid('Invalid manifest: ports: cannot be changed by an update; delete the service and create it again');
    }
    const flags = updateArgs(before, after);
    if (!flags.length) return;
    const id = await this.#serviceId(w);
    if (!id) throw E.Conflict(`Service ${w.name} no longer exists on cluster ${this.#clusterName}; delete it.`);
    const r = await this.#docker(['service', 'update', '--detach', '--no-resolve-image', ...flags, id], WRITE_TIMEOUT_MS);
    if (r.exitCode !== 0) {
      if (/no such service|not found/i.test(r.stderr)) throw E.Conflict(`Service ${w.name} no longer exists on cluster ${this.#clusterName}; delete it.`);
      throw this.#failure('Updating the service', w, r);
    }
  }

  async remove(w: Workload): Promise<void> {
    const id = await this.#serviceId(w);
    if (id) {
      const r = await this.#docker(['service', 'rm', id], WRITE_TIMEOUT_MS);
      if (r.exitCode !== 0 && !/no such service|not found/i.test(r.stderr)) throw this.#failure('Removing the service', w, r);
    }
    // The last Magnum service of the cluster takes the services network with it.
    const left = await this.#docker(['service', 'ls', '--filter', `label=${SERVICE_LABEL}`, '--format', '{{.ID}}']);
    if (left.exitCode === 0 && !left.stdout.trim()) {
      const r = await this.#docker(['network', 'rm', SERVICES_NETWORK], WRITE_TIMEOUT_MS);
      if (r.exitCode !== 0 && !/not found|No such network/i.test(r.stderr)) {
        // In use by a service made meanwhile, or still detaching: harmless, the next removal retries.
      }
    }
  }
}

function updateFlags(next: UpdateConfig, prev: UpdateConfig): string[] {
  const out: string[] = [];
  const flag: Record<keyof UpdateConfig, string> = {
    parallelism: '--update-parallelism', delay: '--update-delay', order: '--update-order', failure_action: '--update-failure-action', monitor: '--update-monitor',
  };
  for (const k of Object.keys(flag) as (keyof UpdateConfig)[]) {
    if (next[k] === prev[k]) continue;
    out.push(flag[k], String(next[k] ?? UPDATE_DEFAULTS[k]));
  }
  return out;
}

function mapDiff(before: Record<string, string>, after: Record<string, string>, rm: string, add: string): string[] {
  const out: string[] = [];
  for (const k of Object.keys(before)) if (!(k in after)) out.push(rm, k);
  for (const [k, v] of Object.entries(after)) if (before[k] !== v) out.push(add, `${k}=${v}`);
  return out;
}

/** `docker service update` flags taking a service from one manifest to the next (ports excepted). */
export function updateArgs(before: SwarmServiceManifest, after: SwarmServiceManifest): string[] {
  const out: string[] = [];
  const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
  if (before.image !== after.image) out.push('--image', after.image);
  if (before.deploy.replicas !== after.deploy.replicas) out.push('--replicas', String(after.deploy.replicas));
  if (!same(before.command, after.command)) out.push('--args', after.command ? shellJoin(after.command) : '');
  if (!same(before.entrypoint, after.entrypoint)) out.push('--entrypoint', after.entrypoint ? shellJoin(after.entrypoint) : '');
  out.push(...mapDiff(before.environment, after.environment, '--env-rm', '--env-add'));
  out.push(...mapDiff(before.labels, after.labels, '--container-label-rm', '--container-label-add'));
  out.push(...mapDiff(before.deploy.labels, after.deploy.labels, '--label-rm', '--label-add'));
  for (const c of before.deploy.placement.constraints) if (!after.deploy.placement.constraints.includes(c)) out.push('--constraint-rm', c);
  for (const c of after.deploy.placement.constraints) if (!before.deploy.placement.constraints.includes(c)) out.push('--constraint-add', c);
  if (!same(before.init, after.init)) out.push(`--init=${after.init ?? false}`);
  if (!same(before.stop_grace_period, after.stop_grace_period)) out.push('--stop-grace-period', after.stop_grace_period ?? '10s');
  if (!same(before.working_dir, after.working_dir)) out.push('--workdir', after.working_dir ?? '');
  if (!same(before.user, after.user)) out.push('--user', after.user ?? '');
  out.push(...updateFlags(after.deploy.update_config, before.deploy.update_config));
  return out;
}
