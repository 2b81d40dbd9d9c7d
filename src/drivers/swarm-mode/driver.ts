// COE swarm-mode on Docker-engine nodes: each node is a machine from the infrastructure provider
// running its own Docker engine; the first master initialises a Swarm, other masters join as
// managers, workers as workers. Unless tls_disabled, every engine serves its API over TLS with a
// certificate from the cluster's CA, and api_address is the first manager's TLS endpoint.
//
// Steps look at the world first (the ledger, the provider, the Swarm) and do only what is
// missing, so an operation taken over after a conductor crash simply runs again.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../../conf/index.ts';
import { InfraUnavailable, type InfraProvider, type NodeInfo, type NodeSpec } from '../../infra/provider.ts';
import type { Cluster, ClusterResource, ClusterTemplate, NodeGroup, Operation, OperationKind } from '../../objects/models.ts';
import type { ClusterPki, Driver, DriverTuple, HealthReport, Step, StepContext, TlsMaterial } from '../driver.ts';
import type { WorkloadAccess, Workloads } from '../workloads.ts';
import { SwarmServices } from './services.ts';
import { engineContainers } from '../docker-engine/containers.ts';
import { engineImages } from '../docker-engine/images.ts';
import {
  baseNodeSpec, clusterLabels, clusterSubnet, ensureClusterNetwork, ensureNodeVolume, networkName, nodegroupOf, pkiOf, removeClusterNetwork,
  removeStrayNodes, runNode, unreachableReport,
} from '../cluster-infra.ts';

export const CLUSTER_LABEL = 'magnum.cluster';
const CERT_DIR = '/etc/docker/magnum';
const ENGINE_WAIT_MS = 90_000;

type Provider = InfraProvider;

interface NodeRecord {
  name: string;
  nodegroup: string;
  role: 'master' | 'worker';
  index: number;
  address: string;
  volume: string | null;
  /** Host port the engine API was published on: kept when the node is re-created (upgrade, healing). */
  apiHostPort?: number;
}

const short = (uuid: string) => uuid.slice(0, 8);
const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 20) || 'ng';

export { networkName };

function nodeRecords(resources: readonly ClusterResource[]): NodeRecord[] {
  return resources
    .filter((r) => r.kind === 'container' && r.state !== 'removed')
    .map((r) => ({ name: r.name, ...(r.details as Omit<NodeRecord, 'name'>) }));
}

export class SwarmModeDriver implements Driver {
  readonly name = 'swarm_mode_docker';
  readonly provides: readonly DriverTuple[];
  readonly #provider: Provider;

  constructor(conf: Config, provider: Provider, osDistros: readonly string[]) {
    this.#provider = provider;
    this.provides = osDistros.map((os) => ({ server_type: 'vm', os, coe: 'swarm-mode' }));
    void conf;
  }

  /**
   * Swarm services on the running cluster (/v1/services; pods are Kubernetes objects), and
   * containers and image loads on its nodes' Docker engines (src/drivers/docker-engine/).
   */
  workloads(access: WorkloadAccess): Workloads {
    return { services: new SwarmServices(access), containers: engineContainers(access), images: engineImages(access) };
  }

  steps(kind: OperationKind, op: Operation): Step[] {
    const s = (name: string, run: (ctx: StepContext) => Promise<void>): Step => ({ name, run });
    const ngParam = String(op.params.nodegroup ?? op.nodegroup_id ?? '');
    switch (kind) {
      case 'cluster_create':
        return [
          // The cluster's certificates are made by the conductor before these steps (every driver).
          s('create network', (ctx) => this.#network(ctx)),
          s('start nodes', (ctx) => this.#reconcileAll(ctx)),
          s('wait for engines', (ctx) => this.#waitEngines(ctx)),
          s('form swarm', (ctx) => this.#formSwarm(ctx)),
          s('publish api', (ctx) => this.#publish(ctx)),
        ];
      case 'cluster_update':
      case 'cluster_resize':
      case 'nodegroup_create':
        return [
          s('scale nodegroup', (ctx) => this.#reconcile(ctx, nodegroupOf(ctx, ngParam), (op.params.nodes_to_remove as string[] | undefined) ?? [])),
          s('wait for engines', (ctx) => this.#waitEngines(ctx)),
          s('form swarm', (ctx) => this.#formSwarm(ctx)),
          s('publish api', (ctx) => this.#publish(ctx)),
        ];
      case 'cluster_heal':
        return [
          s('restart failed nodes', (ctx) => this.#reconcileAll(ctx)),
          s('wait for engines', (ctx) => this.#waitEngines(ctx)),
          s('form swarm', (ctx) => this.#formSwarm(ctx)),
          s('publish api', (ctx) => this.#publish(ctx)),
        ];
      case 'nodegroup_delete':
        return [
          s('remove nodegroup nodes', (ctx) => this.#reconcile(ctx, { ...nodegroupOf(ctx, ngParam), node_count: 0 }, [])),
          s('publish api', (ctx) => this.#publish(ctx)),
        ];
      case 'nodegroup_update':
        return [];
      case 'cluster_upgrade':
        return [
          s('upgrade nodes', (ctx) => this.#upgrade(ctx, ngParam, Number(op.params.max_batch_size ?? 1))),
          s('publish api', (ctx) => this.#publish(ctx)),
        ];
      case 'rotate_ca':
        return [
          s('rotate ca', async (ctx) => {
            if (ctx.template.tls_disabled) throw new Error('the cluster\'s engines do not use TLS (tls_disabled)');
            if (!ctx.state.rotated) await pkiOf(ctx).rotate();
            ctx.state.rotated = true;
          }),
          s('renew node certificates', (ctx) => this.#renewCertificates(ctx)),
          s('wait for engines', (ctx) => this.#waitEngines(ctx)),
          s('publish api', (ctx) => this.#publish(ctx)),
        ];
      case 'cluster_delete':
        return [
          s('remove nodes', (ctx) => this.#removeAll(ctx)),
          s('remove network', (ctx) => this.#removeNetwork(ctx)),
        ];
    }
  }

  /** The node's engine certificate, or null when the template has tls_disabled. */
  async #nodeTls(ctx: StepContext, rec: Pick<NodeRecord, 'name' | 'address'>): Promise<TlsMaterial | null> {
    if (ctx.template.tls_disabled) return null;
    return pkiOf(ctx).issueNode(rec.name, [rec.address, '127.0.0.1', ...this.#publishAddresses(ctx)], [rec.name, 'localhost']);
  }

  async #network(ctx: StepContext): Promise<void> {
    await ensureClusterNetwork(ctx, this.#provider, clusterLabels(ctx, CLUSTER_LABEL));
  }

  async #subnet(ctx: StepContext): Promise<string> {
    return clusterSubnet(ctx, this.#provider, clusterLabels(ctx, CLUSTER_LABEL));
  }

  /** Every nodegroup to its node_count, and every recorded node running. */
  async #reconcileAll(ctx: StepContext): Promise<void> {
    // Masters first: workers need a manager to join.
    const ordered = [...ctx.nodegroups].sort((a, b) => (a.role === 'master' ? -1 : 0) - (b.role === 'master' ? -1 : 0));
    // Plan one nodegroup after the other (addresses come from one pool), then start every node at once.
    const starts: { ng: NodeGroup; rec: NodeRecord }[] = [];
    for (const ng of ordered) for (const rec of await this.#plan(ctx, ng, [])) starts.push({ ng, rec });
    await Promise.all(starts.map(({ ng, rec }) => this.#startNode(ctx, ng, rec)));
  }

  async #reconcile(ctx: StepContext, ng: NodeGroup, toRemove: string[]): Promise<void> {
    const records = await this.#plan(ctx, ng, toRemove);
    await Promise.all(records.map((rec) => this.#startNode(ctx, ng, rec)));
  }

  /** Removes the nodes a nodegroup has too many of; returns the records of the nodes it must run. */
  async #plan(ctx: StepContext, ng: NodeGroup, toRemove: string[]): Promise<NodeRecord[]> {
    const all = nodeRecords(await ctx.ledger.list());
    const mine = all.filter((n) => n.nodegroup === ng.uuid).sort((a, b) => a.index - b.index);
    // Removals: the named nodes first (by name, address or hostname), then the newest.
    const removing: NodeRecord[] = [];
    const wanted = new Set(toRemove);
    for (const n of mine) if (wanted.has(n.name) || wanted.has(n.address)) removing.push(n);
    const missingNames = toRemove.filter((t) => !mine.some((n) => n.name === t || n.address === t));
    if (missingNames.length) throw new Error(`nodes_to_remove names nodes that are not in nodegroup ${ng.name}: ${missingNames.join(', ')}`);
    let keep = mine.filter((n) => !removing.includes(n));
    while (keep.length > ng.node_count) removing.push(keep.pop()!);
    for (const n of removing) await this.#removeNode(ctx, n);
    keep = keep.slice(0, ng.node_count);
    // Additions.
    const used = new Set(all.filter((n) => !removing.includes(n)).map((n) => n.address));
    const subnet = await this.#subnet(ctx);
    const base = subnet.split('/')[0].split('.').slice(0, 3).join('.');
    let host = 10;
    const nextAddress = () => {
      while (used.has(`${base}.${host}`)) host++;
      const a = `${base}.${host}`;
      used.add(a);
      return a;
    };
    let nextIndex = mine.reduce((m, n) => Math.max(m, n.index + 1), 0);
    const records = [...keep];
    while (records.length < ng.node_count) {
      const index = nextIndex++;
      const name = `magnum-${short(ctx.cluster.uuid)}-${slug(ng.name)}-${index}`;
      const rec: NodeRecord = { name, nodegroup: ng.uuid, role: ng.role === 'master' ? 'master' : 'worker', index, address: nextAddress(), volume: `${name}-docker` };
      await ctx.ledger.intend('container', name, { nodegroup: rec.nodegroup, role: rec.role, index: rec.index, address: rec.address, volume: rec.volume });
      records.push(rec);
    }
    return records;
  }

  async #startNode(ctx: StepContext, ng: NodeGroup, rec: NodeRecord, image?: string): Promise<NodeInfo> {
    // The port, the certificate and the volume do not depend on each other: all at once.
    const [, tls] = await Promise.all([
      (async () => {
        if (rec.role === 'master' && rec.apiHostPort === undefined) {
          // Saved in the ledger once the node runs (present), from the port it really got.
          rec.apiHostPort = await this.#provider.freePort(ctx.template.external_network_id);
        }
      })(),
      this.#nodeTls(ctx, rec),
      ensureNodeVolume(ctx, this.#provider, CLUSTER_LABEL, ng, rec),
    ]);
    const spec: NodeSpec = {
      ...baseNodeSpec(ctx, this.#provider, CLUSTER_LABEL, ng, rec, image),
      files: tls ? [
        { path: `${CERT_DIR}/ca.pem`, content: tls.caPem, mode: 0o644 },
        { path: `${CERT_DIR}/server.pem`, content: tls.certificate, mode: 0o644 },
        { path: `${CERT_DIR}/server-key.pem`, content: tls.privateKey, mode: 0o600 },
      ] : [],
      args: this.#engineArgs(ctx, rec),
      publish: rec.role === 'master' ? [{ port: this.#apiPort(ctx), hostPort: rec.apiHostPort }] : [],
      dns: ctx.template.dns_nameserver ? ctx.template.dns_nameserver.split(',').map((s) => s.trim()) : [],
    };
    return runNode(ctx, this.#provider, spec, rec, this.#apiPort(ctx));
  }

  #publishAddresses(ctx: StepContext): string[] {
    const a = this.#provider.externalNetworkAddress(ctx.template.external_network_id);
    return a && a !== '127.0.0.1' ? [a] : [];
  }

  #apiPort(ctx: StepContext): number {
    return ctx.template.tls_disabled ? 2375 : 2376;
  }

  #engineArgs(ctx: StepContext, rec: NodeRecord): string[] {
    // The node image's entrypoint adds a --cgroup-parent inside the node's own cgroup (nested
    // containers then count against the node's flavor limits) and picks the iptables backend.
    void rec;
    const args = ['--host', 'unix:///var/run/docker.sock'];
    if (ctx.template.tls_disabled) args.push('--host', 'tcp://0.0.0.0:2375');
    else args.push('--host', 'tcp://0.0.0.0:2376', '--tlsverify', '--tlscacert', `${CERT_DIR}/ca.pem`, '--tlscert', `${CERT_DIR}/server.pem`, '--tlskey', `${CERT_DIR}/server-key.pem`);
    if (ctx.template.insecure_registry) args.push('--insecure-registry', ctx.template.insecure_registry);
    for (const [k, v] of Object.entries(ctx.cluster.labels)) if (k.startsWith('engine_label_')) args.push('--label', `${k.slice(13)}=${v}`);
    return args;
  }

  async #docker(ctx: StepContext, node: string, args: string[], opts: { allowFail?: boolean } = {}) {
    const r = await this.#provider.exec(node, ['docker', ...args], { signal: ctx.signal, timeoutMs: 60_000 });
    if (r.exitCode !== 0 && !opts.allowFail) throw new Error(`docker ${args.slice(0, 3).join(' ')} on ${node} failed: ${r.stderr.trim() || r.stdout.trim()}`);
    return r;
  }

  /** Every node's engine answers; the version each said is kept in the operation's state (publish api reports the first master's). */
  async #waitEngines(ctx: StepContext): Promise<void> {
    const nodes = nodeRecords(await ctx.ledger.list());
    const versions = (ctx.state.engineVersions ??= {}) as Record<string, string>;
    await Promise.all(nodes.map(async (n) => {
      const until = Date.now() + ENGINE_WAIT_MS;
      for (;;) {
        const r = await this.#provider.exec(n.name, ['docker', 'version', '--format', '{{.Server.Version}}'], { signal: ctx.signal, timeoutMs: 10_000 });
        if (r.exitCode === 0) {
          versions[n.name] = r.stdout.trim();
          return;
        }
        if (/is not running|No such container/i.test(r.stderr)) {
          throw new Error(`node ${n.name} stopped while its Docker engine was starting: ${r.stderr.trim()}`);
        }
        if (Date.now() > until) throw new Error(`the Docker engine of node ${n.name} did not start within ${ENGINE_WAIT_MS / 1000} s: ${r.stderr.trim()}`);
        await sleep(100, undefined, { signal: ctx.signal });
      }
    }));
  }

  /** The node's Swarm state (LocalNodeState, 'unknown' when its engine does not say) and whether it is an active manager. */
  async #swarmInfo(ctx: StepContext, node: string): Promise<{ state: string; manager: boolean }> {
    const r = await this.#docker(ctx, node, ['info', '--format', '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}'], { allowFail: true });
    const [state, control] = r.exitCode === 0 ? r.stdout.trim().split(' ') : [];
    return { state: state || 'unknown', manager: control === 'true' };
  }

  /** The first master whose engine says it is an active manager, or the first master. */
  async #manager(ctx: StepContext, nodes: NodeRecord[]): Promise<NodeRecord> {
    const masters = nodes.filter((n) => n.role === 'master').sort((a, b) => a.index - b.index);
    if (!masters.length) throw new Error('the cluster has no master node');
    for (const m of masters) if ((await this.#swarmInfo(ctx, m.name)).manager) return m;
    return masters[0];
  }

  /**
   * Every node in the Swarm with its labels, in as few rounds as the Swarm allows: every node's
   * state at once (one `docker info` each); init on the leader when it is not in a Swarm; then each
   * node that is not in it joins and is labelled right after (managers one at a time, workers all
   * at once), the leader's own labels meanwhile.
   */
  async #formSwarm(ctx: StepContext): Promise<void> {
    const nodes = nodeRecords(await ctx.ledger.list());
    const masters = nodes.filter((n) => n.role === 'master').sort((a, b) => a.index - b.index);
    if (!masters.length) throw new Error('the cluster has no master node');
    const states = new Map(await Promise.all(nodes.map(async (n) => [n.name, await this.#swarmInfo(ctx, n.name)] as const)));
    const leader = masters.find((m) => states.get(m.name)!.manager) ?? masters[0];
    if (states.get(leader.name)!.state !== 'active') {
      await this.#docker(ctx, leader.name, ['swarm', 'init', '--advertise-addr', leader.address, '--listen-addr', `${leader.address}:2377`]);
    }
    // Nodegroup labels on the Swarm nodes (constraints: node.labels.magnum.nodegroup == NAME).
    const label = (n: NodeRecord) => {
      const ng = ctx.nodegroups.find((g) => g.uuid === n.nodegroup);
      const labels: Record<string, string> = { 'magnum.nodegroup': ng?.name ?? n.nodegroup, 'magnum.role': n.role, ...(ng?.labels ?? {}) };
      const args = Object.entries(labels).flatMap(([k, v]) => ['--label-add', `${k}=${v}`]);
      return this.#docker(ctx, leader.name, ['node', 'update', ...args, n.name]);
    };
    const token = async (role: 'manager' | 'worker') => (await this.#docker(ctx, leader.name, ['swarm', 'join-token', '-q', role])).stdout.trim();
    const joinAndLabel = async (n: NodeRecord, t: string | null) => {
      if (t !== null) await this.#docker(ctx, n.name, ['swarm', 'join', '--token', t, '--advertise-addr', n.address, `${leader.address}:2377`]);
      await label(n);
    };
    const others = nodes.filter((n) => n.name !== leader.name);
    const waiting = (role: 'master' | 'worker') => others.filter((n) => n.role === role && states.get(n.name)!.state !== 'active');
    const joined = (role: 'master' | 'worker') => others.filter((n) => n.role === role && states.get(n.name)!.state === 'active');
    await Promise.all([
      label(leader),
      ...joined('master').map((n) => joinAndLabel(n, null)),
      ...joined('worker').map((n) => joinAndLabel(n, null)),
      // Managers one at a time (each changes the Raft quorum).
      (async () => {
        const managers = waiting('master');
        if (!managers.length) return;
        const t = await token('manager');
        for (const n of managers) await joinAndLabel(n, t);
      })(),
      // Workers all at once.
      (async () => {
        const workers = waiting('worker');
        if (!workers.length) return;
        const t = await token('worker');
        await Promise.all(workers.map((n) => joinAndLabel(n, t)));
      })(),
    ]);
  }

  async #publish(ctx: StepContext): Promise<void> {
    const nodes = nodeRecords(await ctx.ledger.list());
    const masters = nodes.filter((n) => n.role === 'master').sort((a, b) => a.index - b.index);
    if (masters.length) {
      // The version its engine said when this operation waited for it, else asked now.
      const seen = (ctx.state.engineVersions as Record<string, string> | undefined)?.[masters[0].name];
      const [info, version] = await Promise.all([
        this.#provider.inspectNode(masters[0].name),
        seen ? { exitCode: 0, stdout: seen } : this.#docker(ctx, masters[0].name, ['version', '--format', '{{.Server.Version}}'], { allowFail: true }),
      ]);
      const endpoint = info?.published[this.#apiPort(ctx)];
      if (endpoint) ctx.setCluster({ api_address: `tcp://${endpoint}` });
      if (version.exitCode === 0) ctx.setCluster({ coe_version: version.stdout.trim(), container_version: version.stdout.trim() });
    }
    ctx.setCluster({ stack_id: networkName(ctx.cluster) });
    for (const ng of ctx.nodegroups) {
      const addrs = nodes.filter((n) => n.nodegroup === ng.uuid).sort((a, b) => a.index - b.index).map((n) => n.address);
      ctx.setNodeGroup(ng.uuid, { node_addresses: addrs, stack_id: networkName(ctx.cluster) });
    }
  }

  /** Drain a node, take it out of the Swarm, remove its container and volume. */
  async #removeNode(ctx: StepContext, n: NodeRecord, opts: { keepVolume?: boolean; leaveSwarm?: boolean } = {}): Promise<void> {
    const all = nodeRecords(await ctx.ledger.list());
    const others = all.filter((o) => o.name !== n.name);
    const running = await this.#provider.inspectNode(n.name);
    let manager: NodeRecord | null = null;
    if (others.some((o) => o.role === 'master')) manager = await this.#manager(ctx, others).catch(() => null);
    if (manager && running?.running && opts.leaveSwarm !== false) {
      await this.#docker(ctx, manager.name, ['node', 'update', '--availability', 'drain', n.name], { allowFail: true });
      const until = Date.now() + 30_000;
      while (Date.now() < until) {
        const r = await this.#docker(ctx, manager.name, ['node', 'ps', n.name, '--filter', 'desired-state=running', '-q'], { allowFail: true });
        if (r.exitCode !== 0 || !r.stdout.trim()) break;
        await sleep(300, undefined, { signal: ctx.signal });
      }
      if (n.role === 'master') await this.#docker(ctx, manager.name, ['node', 'demote', n.name], { allowFail: true });
    }
    await this.#provider.removeNode(n.name);
    if (manager && opts.leaveSwarm !== false) await this.#docker(ctx, manager.name, ['node', 'rm', '--force', n.name], { allowFail: true });
    if (n.volume && !opts.keepVolume) {
      await this.#provider.removeVolume(n.volume);
      await ctx.ledger.removed('volume', n.volume);
    }
    if (!opts.keepVolume) await ctx.ledger.removed('container', n.name);
  }

  async #removeAll(ctx: StepContext): Promise<void> {
    const resources = await ctx.ledger.list();
    const nodes = nodeRecords(resources);
    await Promise.all(nodes.map(async (n) => {
      await this.#provider.removeNode(n.name);
      await ctx.ledger.removed('container', n.name);
    }));
    for (const r of resources.filter((x) => x.kind === 'volume').reverse()) {
      await this.#provider.removeVolume(r.name);
      await ctx.ledger.removed('volume', r.name);
    }
    await removeStrayNodes(this.#provider, CLUSTER_LABEL, ctx.cluster.uuid);
  }

  async #removeNetwork(ctx: StepContext): Promise<void> {
    await removeClusterNetwork(ctx, this.#provider, CLUSTER_LABEL);
  }

  /** Rolling upgrade to the target template's image, max_batch_size nodes at a time, each drained first. */
  async #upgrade(ctx: StepContext, ngUuid: string, batch: number): Promise<void> {
    const target = ctx.targetTemplate;
    if (!target?.image_id) throw new Error('the target cluster template has no image');
    const ng = nodegroupOf(ctx, ngUuid);
    const groups = ng.is_default ? ctx.nodegroups.filter((g) => g.is_default) : [ng];
    const nodes = nodeRecords(await ctx.ledger.list());
    const order = groups.sort((a, b) => (a.role === 'master' ? -1 : 1) - (b.role === 'master' ? -1 : 1))
      .flatMap((g) => nodes.filter((n) => n.nodegroup === g.uuid).sort((a, b) => a.index - b.index).map((n) => ({ n, g })));
    const pending = [];
    for (const item of order) {
      const info = await this.#provider.inspectNode(item.n.name);
      if (info?.image !== target.image_id) pending.push(item);
    }
    for (let i = 0; i < pending.length; i += Math.max(1, batch)) {
      const slice = pending.slice(i, i + Math.max(1, batch));
      await Promise.all(slice.map(async ({ n, g }) => {
        const others = nodes.filter((o) => o.name !== n.name);
        const manager = others.some((o) => o.role === 'master') ? await this.#manager(ctx, others).catch(() => null) : null;
        if (manager) await this.#docker(ctx, manager.name, ['node', 'update', '--availability', 'drain', n.name], { allowFail: true });
        await this.#provider.removeNode(n.name); // the volume keeps the engine's state, Swarm membership included
        await this.#startNode(ctx, g, n, target.image_id!);
        await this.#waitEngines({ ...ctx, ledger: { ...ctx.ledger, list: async () => (await ctx.ledger.list()).filter((r) => r.name === n.name) } });
        const m = manager ?? n;
        const until = Date.now() + 60_000;
        while (Date.now() < until) {
          const r = await this.#docker(ctx, m.name, ['node', 'update', '--availability', 'active', n.name], { allowFail: true });
          if (r.exitCode === 0) break;
          await sleep(500, undefined, { signal: ctx.signal });
        }
        ctx.note(`node ${n.name} now runs ${target.image_id}`);
      }));
    }
  }

  /** After a CA rotation: every engine gets a certificate from the new CA and restarts. */
  async #renewCertificates(ctx: StepContext): Promise<void> {
    const nodes = nodeRecords(await ctx.ledger.list());
    await Promise.all(nodes.map(async (n) => {
      const tls = await this.#nodeTls(ctx, n);
      if (!tls) throw new Error('the cluster\'s engines do not use TLS (tls_disabled)');
      await this.#provider.writeFiles(n.name, [
        { path: `${CERT_DIR}/ca.pem`, content: tls.caPem, mode: 0o644 },
        { path: `${CERT_DIR}/server.pem`, content: tls.certificate, mode: 0o644 },
        { path: `${CERT_DIR}/server-key.pem`, content: tls.privateKey, mode: 0o600 },
      ]);
      await this.#provider.restartNode(n.name);
    }));
  }

  async health(cluster: Cluster, nodegroups: readonly NodeGroup[], resources: readonly ClusterResource[]): Promise<HealthReport> {
    void nodegroups;
    const nodes = nodeRecords(resources);
    try {
      return await this.#health(cluster, nodes);
    } catch (err) {
      if (!(err instanceof InfraUnavailable)) throw err;
      return unreachableReport(cluster, nodes.map((n) => n.name), err);
    }
  }

  async #health(cluster: Cluster, nodes: readonly NodeRecord[]): Promise<HealthReport> {
    const reason: Record<string, string> = {};
    let healthy = true;
    const running = new Map<string, boolean>();
    for (const n of nodes) {
      const info = await this.#provider.inspectNode(n.name);
      running.set(n.name, !!info?.running);
      if (!info?.running) {
        healthy = false;
        reason[`${n.name}.Ready`] = info ? 'False (container stopped)' : 'False (container missing)';
      }
    }
    const masters = nodes.filter((n) => n.role === 'master' && running.get(n.name));
    let listed = false;
    for (const m of masters) {
      const r = await this.#provider.exec(m.name, ['docker', 'node', 'ls', '--format', '{{.Hostname}} {{.Status}} {{.ManagerStatus}}'], { timeoutMs: 15_000 });
      if (r.exitCode !== 0) continue;
      listed = true;
      let managers = 0;
      let reachable = 0;
      for (const line of r.stdout.split('\n').filter(Boolean)) {
        const [host, status, managerStatus] = line.split(' ');
        if (!nodes.some((n) => n.name === host)) continue;
        if (reason[`${host}.Ready`] === undefined) reason[`${host}.Ready`] = status === 'Ready' ? 'True' : 'False';
        if (status !== 'Ready') healthy = false;
        if (managerStatus) {
          managers++;
          if (managerStatus === 'Leader' || managerStatus === 'Reachable') reachable++;
        }
      }
      const quorum = reachable > managers / 2;
      reason.quorum = `${reachable}/${managers} managers reachable`;
      if (!quorum) healthy = false;
      break;
    }
    // A running node no manager reports on: none answers yet (engines starting), or it is not in the Swarm.
    for (const n of nodes) {
      if (reason[`${n.name}.Ready`] !== undefined) continue;
      reason[`${n.name}.Ready`] = listed ? 'False (not in the Swarm)' : 'Unknown (no manager answers)';
      healthy = false;
    }
    reason.api = listed ? 'ok' : `The cluster ${cluster.name ?? cluster.uuid} is not accessible.`;
    if (!listed) return { status: nodes.length ? 'UNHEALTHY' : 'UNKNOWN', reason };
    return { status: healthy ? 'HEALTHY' : 'UNHEALTHY', reason };
  }
}

export type { ClusterTemplate };
