// COE kubernetes on Docker-container nodes made from the Kubernetes node image
// (bin/magnum-node-image build --coe kubernetes; its entrypoint is scripts/kube-node/magnum-kube-node).
// Every master runs etcd (master_count members: 1, 3 or 5), kube-apiserver, controller-manager
// and scheduler, and is also a Node (registered with Magnum's master taint, so a 1-master
// 2-worker cluster lists 3 Ready nodes); every node runs containerd, kube-proxy and the kubelet.
// Pods get a /24 per node (ptp + host-local CNI) and reach other nodes' pods through static
// routes the driver sets; CoreDNS runs on the masters. api_address is the first master's API
// server, published on the external network's address: https://<address>:<port>.
//
// Steps look at the world first (the ledger, the provider, the cluster's API) and do only what is
// missing, so an operation taken over after a conductor crash simply runs again.
import { request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../../conf/index.ts';
import { InfraUnavailable, type InfraProvider, type NodeInfo, type NodeSpec } from '../../infra/provider.ts';
import type { Cluster, ClusterResource, ClusterTemplate, NodeGroup, Operation, OperationKind } from '../../objects/models.ts';
import type { ClusterPki, Driver, DriverTuple, HealthReport, Step, StepContext, TlsMaterial } from '../driver.ts';
import {
  baseNodeSpec, clusterLabels, clusterSubnet, ensureClusterNetwork, ensureNodeVolume, networkName, nodegroupOf, pkiOf, removeClusterNetwork,
  removeStrayNodes, runNode, unreachableReport,
} from '../cluster-infra.ts';
import type { WorkloadAccess, Workloads } from '../workloads.ts';
import { apiLbCommand } from './api-lb.ts';
import { coreDnsManifest } from './manifests.ts';
import { nodePkiFiles } from './pki.ts';
import { kubernetesClusterWorkloads } from './workloads.ts';

export const CLUSTER_LABEL = 'magnum.cluster';
/** The image os_distro values this driver takes (the tuple's os). */
export const KUBERNETES_OS_DISTROS = ['debian'] as const;
const API_PORT = 6443;
const STATE_DIR = '/var/lib/magnum-kube';
const ENV_FILE = '/etc/kubernetes/magnum-kube-node.env';
/** The cluster's pod range (Magnum's flannel_network_cidr default) and the Services' (Magnum's default). */
const CLUSTER_CIDR = '10.100.0.0/16';
const SERVICE_CIDR = '10.254.0.0/16';
const SERVICE_IP = '10.254.0.1';
const CLUSTER_DNS = '10.254.0.10';
const CLUSTER_DOMAIN = 'cluster.local';
const READY_WAIT_MS = 300_000;
const MASTER_COUNTS = [1, 3, 5];

interface NodeRecord {
  name: string;
  nodegroup: string;
  role: 'master' | 'worker';
  index: number;
  address: string;
  volume: string;
  /** k in 10.100.k.0/24, the node's pod range. */
  podIndex: number;
  /** Host port the API server was published on (masters): kept when the node is made again. */
  apiHostPort?: number;
}

const short = (uuid: string) => uuid.slice(0, 8);
const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 20) || 'ng';
const podCidr = (n: Pick<NodeRecord, 'podIndex'>) => `10.100.${n.podIndex}.0/24`;
/** A Kubernetes label key (optional DNS prefix + name) and value. */
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** The API load balancer in front of the masters: a container of the node image (src/drivers/kubernetes/api-lb.ts). */
interface LbRecord {
  name: string;
  role: typeof LB_ROLE;
  address: string;
  apiHostPort?: number;
}
const LB_ROLE = 'api-lb';

function nodeRecords(resources: readonly ClusterResource[]): NodeRecord[] {
  return resources
    .filter((r) => r.kind === 'container' && r.state !== 'removed' && r.details?.role !== LB_ROLE)
    .map((r) => ({ name: r.name, ...(r.details as Omit<NodeRecord, 'name'>) }))
    .sort((a, b) => (a.role === b.role ? a.index - b.index : a.role === 'master' ? -1 : 1));
}

function lbRecord(resources: readonly ClusterResource[]): LbRecord | null {
  const r = resources.find((x) => x.kind === 'container' && x.state !== 'removed' && x.details?.role === LB_ROLE);
  return r ? { name: r.name, ...(r.details as Omit<LbRecord, 'name'>) } : null;
}

interface KubeNode {
  metadata: { name: string; labels?: Record<string, string> };
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[]; nodeInfo?: { containerRuntimeVersion?: string; kubeletVersion?: string } };
}

/** The Ready condition of each Node: "True", or "False"/"Unknown" with the kubelet's reason. */
function readiness(nodes: KubeNode[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const n of nodes) {
    const c = n.status?.conditions?.find((x) => x.type === 'Ready');
    out.set(n.metadata.name, !c ? 'Unknown' : c.status === 'True' ? 'True' : `${c.status}${c.reason ? ` (${c.reason})` : ''}`);
  }
  return out;
}

/** One HTTPS GET with the cluster's CA and a client certificate: status and body (no redirects). */
function httpsGet(url: string, tls: TlsMaterial, signal: AbortSignal | undefined, timeoutMs = 5_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: tls.caPem, cert: tls.certificate, key: tls.privateKey, timeout: timeoutMs, signal }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export class KubernetesDriver implements Driver {
  readonly name = 'k8s_debian_docker';
  readonly provides: readonly DriverTuple[] = KUBERNETES_OS_DISTROS.map((os) => ({ server_type: 'vm', os, coe: 'kubernetes' }));
  readonly #provider: InfraProvider;

  constructor(conf: Config, provider: InfraProvider) {
    this.#provider = provider;
    void conf;
  }

  /** Pods and services through the cluster's API (/v1/pods, /v1/services), images into the nodes' containerd. */
  workloads(access: WorkloadAccess): Workloads {
    return kubernetesClusterWorkloads(this.#provider, access);
  }

  steps(kind: OperationKind, op: Operation): Step[] {
    const s = (name: string, run: (ctx: StepContext) => Promise<void>): Step => ({ name, run });
    const ngParam = String(op.params.nodegroup ?? op.nodegroup_id ?? '');
    const settle = [
      s('set pod routes', (ctx) => this.#routes(ctx)),
      s('wait for api', (ctx) => this.#waitApi(ctx)),
      s('deploy coredns', (ctx) => this.#coreDns(ctx)),
      s('wait for nodes ready', (ctx) => this.#waitReady(ctx)),
      s('publish api', (ctx) => this.#publish(ctx)),
    ];
    switch (kind) {
      case 'cluster_create':
        return [
          // The cluster's CAs are made by the conductor before these steps (every driver).
          s('check template', (ctx) => this.#checkTemplate(ctx)),
          s('create network', (ctx) => this.#network(ctx)),
          s('certificates', (ctx) => this.#certificates(ctx)),
          s('start nodes', (ctx) => this.#reconcileAll(ctx)),
          ...settle,
        ];
      case 'cluster_update':
      case 'cluster_resize':
      case 'nodegroup_create':
        return [
          s('scale nodegroup', (ctx) => this.#reconcile(ctx, nodegroupOf(ctx, ngParam), (op.params.nodes_to_remove as string[] | undefined) ?? [])),
          ...settle,
        ];
      case 'cluster_heal':
        return [s('restart failed nodes', (ctx) => this.#reconcileAll(ctx)), ...settle];
      case 'nodegroup_delete':
        return [
          s('remove nodegroup nodes', (ctx) => this.#reconcile(ctx, { ...nodegroupOf(ctx, ngParam), node_count: 0 }, [])),
          s('set pod routes', (ctx) => this.#routes(ctx)),
          s('publish api', (ctx) => this.#publish(ctx)),
        ];
      case 'nodegroup_update':
        return [];
      case 'cluster_upgrade':
        return [
          s('check target template', (ctx) => this.#checkTemplate(ctx, ctx.targetTemplate ?? undefined)),
          s('upgrade nodes', (ctx) => this.#upgrade(ctx, ngParam, Number(op.params.max_batch_size ?? 1))),
          s('set pod routes', (ctx) => this.#routes(ctx)),
          s('wait for nodes ready', (ctx) => this.#waitReady(ctx)),
          s('publish api', (ctx) => this.#publish(ctx)),
        ];
      case 'rotate_ca':
        return [
          s('rotate ca', async (ctx) => {
            if (!ctx.state.rotated) await pkiOf(ctx).rotate();
            ctx.state.rotated = true;
          }),
          s('renew node certificates', (ctx) => this.#renewCertificates(ctx)),
          s('set pod routes', (ctx) => this.#routes(ctx)),
          s('wait for api', (ctx) => this.#waitApi(ctx)),
          s('restart coredns', (ctx) => this.#restartCoreDns(ctx)),
          s('wait for nodes ready', (ctx) => this.#waitReady(ctx)),
          s('publish api', (ctx) => this.#publish(ctx)),
        ];
      case 'cluster_delete':
        return [
          s('remove nodes', (ctx) => this.#removeAll(ctx)),
          s('remove network', (ctx) => removeClusterNetwork(ctx, this.#provider, CLUSTER_LABEL)),
        ];
    }
  }

  /**
   * What Magnum's Kubernetes drivers check before anything is made: the master count an etcd
   * cluster can have, and a kube_tag label that the node image runs (this driver runs the
   * Kubernetes the image was built with; another version is another image).
   */
  async #checkTemplate(ctx: StepContext, target?: ClusterTemplate): Promise<void> {
    const masters = ctx.nodegroups.filter((g) => g.role === 'master').reduce((n, g) => n + g.node_count, 0);
    if (!MASTER_COUNTS.includes(masters)) throw new Error(`master_count must be 1, 3 or 5 (an etcd cluster of that size), not ${masters}`);
    if (target && !target.image_id) throw new Error('the target cluster template has no image');
    // Magnum's Kubernetes with tls_disabled serves its API without authentication; this driver's
    // API always requires the cluster's client certificates, so such a template is refused.
    if ((target ?? ctx.template).tls_disabled) {
      throw new Error('tls_disabled is not supported by the kubernetes driver: the API always requires TLS client certificates from the cluster CA');
    }
    const images = target ? new Set([target.image_id!]) : new Set(ctx.nodegroups.map((g) => g.image_id ?? ctx.template.image_id ?? ''));
    const want = target ? target.labels.kube_tag : ctx.cluster.labels.kube_tag ?? ctx.template.labels.kube_tag;
    for (const name of images) {
      const img = await this.#provider.image(name);
      if (!img) throw new Error(`image ${name} not found`);
      const tag = img.labels?.kube_tag;
      if (!tag) throw new Error(`image ${name} is not a Kubernetes node image (it has no kube_tag label; bin/magnum-node-image build --coe kubernetes)`);
      if (want && want !== tag) {
        throw new Error(`label kube_tag=${want} does not match image ${name}, which runs Kubernetes ${tag} (build one with bin/magnum-node-image build --coe kubernetes --kube-tag ${want})`);
      }
    }
  }

  async #network(ctx: StepContext): Promise<void> {
    await ensureClusterNetwork(ctx, this.#provider, clusterLabels(ctx, CLUSTER_LABEL));
  }

  /** The CAs and the service-account key, before any node needs them (timed as a step of its own). */
  async #certificates(ctx: StepContext): Promise<void> {
    await pkiOf(ctx).ensure();
    await pkiOf(ctx).serviceAccountKey();
  }

  async #reconcileAll(ctx: StepContext): Promise<void> {
    const ordered = [...ctx.nodegroups].sort((a, b) => (a.role === 'master' ? -1 : 0) - (b.role === 'master' ? -1 : 0));
    const starts: { ng: NodeGroup; rec: NodeRecord }[] = [];
    for (const ng of ordered) for (const rec of await this.#plan(ctx, ng, [])) starts.push({ ng, rec });
    const masters = await this.#masters(ctx, starts.map((x) => x.rec));
    const lb = await this.#planLb(ctx);
    await Promise.all([
      ...(lb ? [this.#startLb(ctx, lb, masters)] : []),
      ...starts.map(({ ng, rec }) => this.#startNode(ctx, ng, rec, masters, lb)),
    ]);
  }

  async #reconcile(ctx: StepContext, ng: NodeGroup, toRemove: string[]): Promise<void> {
    const records = await this.#plan(ctx, ng, toRemove);
    const masters = await this.#masters(ctx, records);
    const lb = lbRecord(await ctx.ledger.list());
    await Promise.all(records.map((rec) => this.#startNode(ctx, ng, rec, masters, lb)));
  }

  /**
   * With more than one master (or master_lb_enabled), the API is reached through a load balancer
   * on the cluster network, as Magnum puts an Octavia load balancer in front of the masters: it
   * spreads connections over the masters' API servers that answer (api-lb.ts). api_address
   * and the workers' API_SERVER point at it, so the API keeps answering when a master stops.
   */
  async #planLb(ctx: StepContext): Promise<LbRecord | null> {
    const masterCount = ctx.nodegroups.filter((g) => g.role === 'master').reduce((n, g) => n + g.node_count, 0);
    const existing = lbRecord(await ctx.ledger.list());
    if (existing || !(ctx.cluster.master_lb_enabled || masterCount > 1)) return existing;
    const base = (await clusterSubnet(ctx, this.#provider, clusterLabels(ctx, CLUSTER_LABEL))).split('/')[0].split('.').slice(0, 3).join('.');
    const lb: LbRecord = { name: `magnum-${short(ctx.cluster.uuid)}-api-lb`, role: LB_ROLE, address: `${base}.9` };
    const { name: _n, ...details } = lb;
    await ctx.ledger.intend('container', lb.name, details);
    return lb;
  }

  async #startLb(ctx: StepContext, lb: LbRecord, masters: NodeRecord[]): Promise<void> {
    if (lb.apiHostPort === undefined) lb.apiHostPort = await this.#provider.freePort(ctx.template.external_network_id);
    const info = await this.#provider.ensureNode({
      name: lb.name,
      hostname: lb.name,
      image: ctx.template.image_id ?? '',
      network: networkName(ctx.cluster),
      address: lb.address,
      flavor: null,
      volume: null,
      volumePath: STATE_DIR,
      labels: clusterLabels(ctx, CLUSTER_LABEL, { 'magnum.role': LB_ROLE, 'magnum.node': lb.name }),
      files: [],
      // The node image's entrypoint runs any other command as it is.
      args: apiLbCommand(API_PORT, masters.map((m) => m.address)),
      publish: [{ port: API_PORT, hostPort: lb.apiHostPort }],
      externalNetwork: ctx.template.external_network_id,
      dns: [],
    });
    const published = info.published[API_PORT];
    const { name: _n, ...details } = lb;
    if (published) details.apiHostPort = Number(published.split(':').pop());
    await ctx.ledger.present('container', lb.name, info.id, details);
  }

  /** Every master of the cluster (recorded, and planned now), in order. */
  async #masters(ctx: StepContext, planned: NodeRecord[]): Promise<NodeRecord[]> {
    const all = new Map(nodeRecords(await ctx.ledger.list()).map((n) => [n.name, n]));
    for (const p of planned) all.set(p.name, p);
    return [...all.values()].filter((n) => n.role === 'master').sort((a, b) => a.index - b.index);
  }

  /** Removes the nodes a nodegroup has too many of; returns the records of the nodes it must run. */
  async #plan(ctx: StepContext, ng: NodeGroup, toRemove: string[]): Promise<NodeRecord[]> {
    const all = nodeRecords(await ctx.ledger.list());
    const mine = all.filter((n) => n.nodegroup === ng.uuid).sort((a, b) => a.index - b.index);
    const wanted = new Set(toRemove);
    const removing = mine.filter((n) => wanted.has(n.name) || wanted.has(n.address));
    const missing = toRemove.filter((t) => !mine.some((n) => n.name === t || n.address === t));
    if (missing.length) throw new Error(`nodes_to_remove names nodes that are not in nodegroup ${ng.name}: ${missing.join(', ')}`);
    let keep = mine.filter((n) => !removing.includes(n));
    while (keep.length > ng.node_count) removing.push(keep.pop()!);
    if (ng.role === 'master' && removing.length) throw new Error('the masters of a Kubernetes cluster cannot be removed (etcd members)');
    for (const n of removing) await this.#removeNode(ctx, n);
    keep = keep.slice(0, ng.node_count);
    const remaining = all.filter((n) => !removing.includes(n));
    const used = new Set(remaining.map((n) => n.address));
    const usedPods = new Set(remaining.map((n) => n.podIndex));
    const base = (await clusterSubnet(ctx, this.#provider, clusterLabels(ctx, CLUSTER_LABEL))).split('/')[0].split('.').slice(0, 3).join('.');
    let host = 10;
    const nextAddress = () => {
      while (used.has(`${base}.${host}`)) host++;
      if (host > 254) throw new Error('the cluster network has no address left');
      used.add(`${base}.${host}`);
      return `${base}.${host}`;
    };
    let pod = 0;
    const nextPod = () => {
      while (usedPods.has(pod)) pod++;
      if (pod > 255) throw new Error(`the pod range ${CLUSTER_CIDR} has no /24 left`);
      usedPods.add(pod);
      return pod;
    };
    let nextIndex = mine.reduce((m, n) => Math.max(m, n.index + 1), 0);
    const records = [...keep];
    while (records.length < ng.node_count) {
      const index = nextIndex++;
      const name = `magnum-${short(ctx.cluster.uuid)}-${slug(ng.name)}-${index}`;
      const rec: NodeRecord = {
        name, nodegroup: ng.uuid, role: ng.role === 'master' ? 'master' : 'worker', index,
        address: nextAddress(), volume: `${name}-kube`, podIndex: nextPod(),
      };
      const { name: _n, ...details } = rec;
      await ctx.ledger.intend('container', name, details);
      records.push(rec);
    }
    return records;
  }

  /** The node's Kubernetes labels: its nodegroup, and a non-default nodegroup's labels that are valid Kubernetes labels. */
  #nodeLabels(ng: NodeGroup): string {
    const labels: Record<string, string> = {};
    if (LABEL_VALUE.test(ng.name)) labels['magnum.openstack.org/nodegroup'] = ng.name;
    if (!ng.is_default) for (const [k, v] of Object.entries(ng.labels ?? {})) if (LABEL_KEY.test(k) && LABEL_VALUE.test(v)) labels[k] = v;
    return Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
  }

  #externalAddress(ctx: StepContext): string {
    return this.#provider.externalNetworkAddress(ctx.template.external_network_id) ?? '127.0.0.1';
  }

  async #startNode(ctx: StepContext, ng: NodeGroup, rec: NodeRecord, masters: NodeRecord[], lb: LbRecord | null, image?: string): Promise<NodeInfo> {
    if (!masters.length) throw new Error('the cluster has no master node');
    if (rec.role === 'master' && rec.apiHostPort === undefined) rec.apiHostPort = await this.#provider.freePort(ctx.template.external_network_id);
    const existing = await this.#provider.inspectNode(rec.name);
    // Files are copied only into a node that is not running: a running one keeps its own.
    const files = existing?.running ? [] : await this.#pkiFiles(ctx, rec);
    const env: Record<string, string> = {
      NODE_ROLE: rec.role,
      NODE_NAME: rec.name,
      NODE_IP: rec.address,
      POD_CIDR: podCidr(rec),
      CLUSTER_CIDR,
      SERVICE_CIDR,
      CLUSTER_DNS,
      CLUSTER_DOMAIN,
      // Workers use the load balancer in front of the masters, or the only master.
      API_SERVER: rec.role === 'master' ? `https://127.0.0.1:${API_PORT}` : `https://${lb?.address ?? masters[0].address}:${API_PORT}`,
      NODE_LABELS: this.#nodeLabels(ng),
    };
    if (rec.role === 'master') {
      env.ETCD_INITIAL_CLUSTER = masters.map((m) => `${m.name}=https://${m.address}:2380`).join(',');
      env.ETCD_INITIAL_CLUSTER_TOKEN = `magnum-${ctx.cluster.uuid}`;
    }
    if (ctx.template.dns_nameserver) env.UPSTREAM_DNS = ctx.template.dns_nameserver;
    if (files.length) files.push({ path: ENV_FILE, content: Object.entries(env).map(([k, v]) => `${k}=${v}\n`).join(''), mode: 0o644 });
    await ensureNodeVolume(ctx, this.#provider, CLUSTER_LABEL, ng, rec);
    const spec: NodeSpec = {
      ...baseNodeSpec(ctx, this.#provider, CLUSTER_LABEL, ng, rec, image),
      volumePath: STATE_DIR,
      devices: ['/dev/kmsg'],
      files,
      args: ['run'],
      publish: rec.role === 'master' ? [{ port: API_PORT, hostPort: rec.apiHostPort }] : [],
      dns: [],
    };
    const info = await runNode(ctx, this.#provider, spec, rec, API_PORT);
    return info;
  }

  /**
   * After a CA rotation: every node gets certificates from the new CAs (the service-account key
   * stays, so tokens stay valid) and restarts; clients with certificates of the old CA are refused.
   */
  async #renewCertificates(ctx: StepContext): Promise<void> {
    const nodes = nodeRecords(await ctx.ledger.list());
    await Promise.all(nodes.map(async (n) => {
      await this.#provider.writeFiles(n.name, await this.#pkiFiles(ctx, n));
      await this.#provider.restartNode(n.name);
    }));
  }

  async #pkiFiles(ctx: StepContext, rec: NodeRecord) {
    const lb = lbRecord(await ctx.ledger.list());
    return nodePkiFiles(pkiOf(ctx), rec, {
      serviceIp: SERVICE_IP, clusterDomain: CLUSTER_DOMAIN, externalAddresses: [this.#externalAddress(ctx), ...(lb ? [lb.address] : [])],
    });
  }

  /**
   * Rolling upgrade to the target template's image: masters first, then workers, max_batch_size
   * nodes at a time; each is drained (workers), made again from the new image on its own volume
   * (etcd data, containerd's images and pods' state stay) with new certificates, and is Ready
   * (and uncordoned) before the next batch. Pods on the other nodes keep running.
   */
  async #upgrade(ctx: StepContext, ngUuid: string, batch: number): Promise<void> {
    const image = ctx.targetTemplate!.image_id!;
    const ng = nodegroupOf(ctx, ngUuid);
    const groups = ng.is_default ? ctx.nodegroups.filter((g) => g.is_default) : [ng];
    const resources = await ctx.ledger.list();
    const all = nodeRecords(resources);
    const lb = lbRecord(resources);
    const masters = all.filter((n) => n.role === 'master');
    const order = [...groups].sort((a, b) => (a.role === 'master' ? -1 : 1) - (b.role === 'master' ? -1 : 1))
      .flatMap((g) => all.filter((n) => n.nodegroup === g.uuid).sort((a, b) => a.index - b.index).map((n) => ({ n, g })));
    const pending: typeof order = [];
    for (const item of order) if ((await this.#provider.inspectNode(item.n.name))?.image !== image) pending.push(item);
    const size = Math.max(1, batch);
    for (let i = 0; i < pending.length; i += size) {
      const slice = pending.slice(i, i + size);
      await Promise.all(slice.map(async ({ n, g }) => {
        const master = await this.#firstMaster(ctx).catch(() => null);
        if (master && n.role === 'worker') {
          const d = await this.#kubectl(master.name, ['drain', n.name, '--ignore-daemonsets', '--delete-emptydir-data', '--force', '--grace-period=5', '--timeout=60s'], { signal: ctx.signal, timeoutMs: 90_000, watch: true });
          if (d.exitCode !== 0) ctx.note(`draining ${n.name} failed, upgrading it anyway: ${(d.stderr || d.stdout).trim().split('\n').pop()}`);
        }
        await this.#provider.removeNode(n.name); // its volume stays
        await this.#startNode(ctx, g, n, masters, lb, image);
      }));
      await this.#routes(ctx);
      await this.#waitApi(ctx);
      await this.#waitReady(ctx);
      const master = await this.#firstMaster(ctx);
      for (const { n } of slice) {
        const r = await this.#kubectl(master.name, ['uncordon', n.name], { signal: ctx.signal });
        if (r.exitCode !== 0) throw new Error(`uncordoning ${n.name} failed: ${(r.stderr || r.stdout).trim()}`);
        ctx.note(`node ${n.name} now runs ${image}`);
      }
    }
  }

  /** Every running node gets a route to every other node's pod range (and loses routes to nodes that left). */
  async #routes(ctx: StepContext): Promise<void> {
    const nodes = nodeRecords(await ctx.ledger.list());
    await Promise.all(nodes.map(async (n) => {
      const routes = nodes.filter((o) => o.name !== n.name).map((o) => `${podCidr(o)}=${o.address}`);
      const r = await this.#provider.exec(n.name, ['magnum-kube-node', 'routes', ...routes], { signal: ctx.signal, timeoutMs: 30_000 });
      if (r.exitCode !== 0) throw new Error(`setting the pod routes on ${n.name} failed: ${(r.stderr || r.stdout).trim()}`);
    }));
  }

  /** kubectl as the cluster admin on a master (magnum-kube-node kubectl). */
  async #kubectl(node: string, args: string[], opts: { input?: string; signal?: AbortSignal; timeoutMs?: number; watch?: boolean } = {}) {
    const { watch, ...execOpts } = opts;
    // A watch (rollout status, wait) ends by its own --timeout; anything else gives up after 10 s.
    const limit = watch ? [] : ['--request-timeout=10s'];
    return this.#provider.exec(node, ['magnum-kube-node', 'kubectl', ...limit, ...args], { timeoutMs: 30_000, ...execOpts });
  }

  /** The published API endpoint (https://address:port) of the first master, or null when it has none. */
  async #apiAddress(ctx: StepContext): Promise<string | null> {
    const resources = await ctx.ledger.list();
    const lb = lbRecord(resources);
    if (lb) {
      const endpoint = (await this.#provider.inspectNode(lb.name))?.published[API_PORT];
      return endpoint ? `https://${endpoint}` : null;
    }
    const masters = nodeRecords(resources).filter((n) => n.role === 'master');
    for (const m of masters) {
      const info = await this.#provider.inspectNode(m.name);
      const endpoint = info?.published[API_PORT];
      if (endpoint) return `https://${endpoint}`;
    }
    return null;
  }

  /** Until the API server answers /readyz at api_address, with the cluster CA and the conductor's certificate. */
  async #waitApi(ctx: StepContext): Promise<void> {
    const api = await this.#apiAddress(ctx);
    if (!api) throw new Error('no master publishes the API server');
    const tls = await pkiOf(ctx).ensure();
    const until = Date.now() + READY_WAIT_MS;
    let last = '';
    for (;;) {
      try {
        const r = await httpsGet(`${api}/readyz`, tls, ctx.signal);
        if (r.status === 200) return;
        last = `HTTP ${r.status}: ${r.body.trim().split('\n').filter((l) => l.includes('failed')).join('; ').slice(0, 300)}`;
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        last = (err as Error).message;
      }
      await this.#stillRunning(ctx);
      if (Date.now() > until) throw new Error(`the API server at ${api} was not ready within ${READY_WAIT_MS / 1000} s: ${last}`);
      await sleep(250, undefined, { signal: ctx.signal });
    }
  }

  /** A node that stopped while the cluster was coming up fails the step at once, with its last log lines. */
  async #stillRunning(ctx: StepContext): Promise<void> {
    for (const n of nodeRecords(await ctx.ledger.list())) {
      const info = await this.#provider.inspectNode(n.name);
      if (!info?.running) throw new Error(`node ${n.name} ${info ? 'stopped' : 'disappeared'} while the cluster was starting`);
    }
  }

  async #firstMaster(ctx: StepContext): Promise<NodeRecord> {
    const masters = nodeRecords(await ctx.ledger.list()).filter((n) => n.role === 'master');
    for (const m of masters) if ((await this.#provider.inspectNode(m.name))?.running) return m;
    throw new Error('no master node is running');
  }

  async #coreDns(ctx: StepContext): Promise<void> {
    const master = await this.#firstMaster(ctx);
    const info = await this.#provider.inspectNode(master.name);
    const img = info ? await this.#provider.image(info.image) : null;
    const image = img?.labels?.['magnum.kube.coredns-image'];
    if (!image) throw new Error(`the node image ${info?.image ?? '?'} names no CoreDNS image (label magnum.kube.coredns-image)`);
    const manifest = coreDnsManifest({ image, clusterIp: CLUSTER_DNS, domain: CLUSTER_DOMAIN });
    // This master's own API server may come up after the one that answered at api_address (its
    // admin kubeconfig is written once it does): retried until the apply goes through.
    const until = Date.now() + READY_WAIT_MS;
    for (;;) {
      const r = await this.#kubectl(master.name, ['apply', '-f', '-'], { input: manifest, signal: ctx.signal, timeoutMs: 60_000 });
      if (r.exitCode === 0) return;
      await this.#stillRunning(ctx);
      if (Date.now() > until) throw new Error(`applying CoreDNS failed: ${(r.stderr || r.stdout).trim()}`);
      await sleep(500, undefined, { signal: ctx.signal });
    }
  }

  /**
   * Pods read the cluster CA from the kube-root-ca.crt ConfigMap when they start: once the
   * controller-manager has published the new CA there, CoreDNS restarts to take it (it could not
   * reach the API with the old one). Other pods that talk to the API need the same.
   */
  async #restartCoreDns(ctx: StepContext): Promise<void> {
    const master = await this.#firstMaster(ctx);
    const ca = (await pkiOf(ctx).ensure()).caPem.trim();
    const until = Date.now() + READY_WAIT_MS;
    for (;;) {
      const r = await this.#kubectl(master.name, ['-n', 'kube-system', 'get', 'configmap', 'kube-root-ca.crt', '-o', 'jsonpath={.data.ca\\.crt}'], { signal: ctx.signal });
      if (r.exitCode === 0 && r.stdout.trim() === ca) break;
      if (Date.now() > until) throw new Error('the controller-manager did not publish the new CA in kube-system/kube-root-ca.crt');
      await sleep(500, undefined, { signal: ctx.signal });
    }
    const r = await this.#kubectl(master.name, ['-n', 'kube-system', 'rollout', 'restart', 'deployment/coredns'], { signal: ctx.signal });
    if (r.exitCode !== 0) throw new Error(`restarting CoreDNS failed: ${(r.stderr || r.stdout).trim()}`);
    const done = await this.#kubectl(master.name, ['-n', 'kube-system', 'rollout', 'status', 'deployment/coredns', '--timeout=240s'], { signal: ctx.signal, timeoutMs: 250_000, watch: true });
    if (done.exitCode !== 0) throw new Error(`CoreDNS did not come back after the CA rotation: ${(done.stderr || done.stdout).trim()}`);
  }

  /** Until every recorded node is a Ready Node and CoreDNS answers (its pod Ready). */
  async #waitReady(ctx: StepContext): Promise<void> {
    const nodes = nodeRecords(await ctx.ledger.list());
    const master = await this.#firstMaster(ctx);
    const until = Date.now() + READY_WAIT_MS;
    let last = '';
    for (;;) {
      const r = await this.#kubectl(master.name, ['get', 'nodes', '-o', 'json'], { signal: ctx.signal });
      if (r.exitCode === 0) {
        const ready = readiness((JSON.parse(r.stdout) as { items: KubeNode[] }).items);
        const waiting = nodes.filter((n) => ready.get(n.name) !== 'True');
        last = waiting.map((n) => `${n.name}: ${ready.get(n.name) ?? 'not registered'}`).join(', ');
        if (!waiting.length) {
          const dns = await this.#kubectl(master.name, ['-n', 'kube-system', 'get', 'deployment', 'coredns', '-o', 'jsonpath={.status.readyReplicas}'], { signal: ctx.signal });
          if (dns.exitCode === 0 && Number(dns.stdout.trim()) >= 1) return;
          last = 'CoreDNS is not ready';
        }
      } else last = (r.stderr || r.stdout).trim();
      await this.#stillRunning(ctx);
      if (Date.now() > until) throw new Error(`the cluster's nodes were not Ready within ${READY_WAIT_MS / 1000} s: ${last}`);
      await sleep(500, undefined, { signal: ctx.signal });
    }
  }

  /** api_address, versions, addresses and discovery_url as the cluster runs them. */
  async #publish(ctx: StepContext): Promise<void> {
    const nodes = nodeRecords(await ctx.ledger.list());
    const api = await this.#apiAddress(ctx);
    const changes: Partial<Cluster> = { stack_id: networkName(ctx.cluster) };
    if (api) {
      changes.api_address = api;
      const v = await httpsGet(`${api}/version`, await pkiOf(ctx).ensure(), ctx.signal).catch(() => null);
      if (v?.status === 200) changes.coe_version = (JSON.parse(v.body) as { gitVersion?: string }).gitVersion ?? null;
    }
    const master = await this.#firstMaster(ctx);
    const r = await this.#kubectl(master.name, ['get', 'nodes', '-o', 'json'], { signal: ctx.signal });
    if (r.exitCode === 0) {
      const items = (JSON.parse(r.stdout) as { items: KubeNode[] }).items;
      const runtime = items.find((n) => n.metadata.name === master.name)?.status?.nodeInfo?.containerRuntimeVersion;
      if (runtime) changes.container_version = runtime.replace(/^containerd:\/\//, '');
    }
    // The static etcd bootstrap (initial cluster) stands in for etcd discovery: its peer URLs are
    // what the members found each other by. A user's discovery_url is kept (and not used).
    if (!ctx.cluster.discovery_url) {
      changes.discovery_url = nodes.filter((n) => n.role === 'master').map((m) => `https://${m.address}:2380`).join(',');
    }
    ctx.setCluster(changes);
    for (const ng of ctx.nodegroups) {
      const addrs = nodes.filter((n) => n.nodegroup === ng.uuid).sort((a, b) => a.index - b.index).map((n) => n.address);
      ctx.setNodeGroup(ng.uuid, { node_addresses: addrs, stack_id: networkName(ctx.cluster) });
    }
  }

  /** Drain the node, delete its Node object, remove its container and volume. */
  async #removeNode(ctx: StepContext, n: NodeRecord): Promise<void> {
    const master = await this.#firstMaster(ctx).catch(() => null);
    if (master && master.name !== n.name && (await this.#provider.inspectNode(n.name))?.running) {
      const d = await this.#kubectl(master.name, ['drain', n.name, '--ignore-daemonsets', '--delete-emptydir-data', '--force', '--grace-period=5', '--timeout=60s'], { signal: ctx.signal, timeoutMs: 90_000, watch: true });
      if (d.exitCode !== 0) ctx.note(`draining ${n.name} failed, removing it anyway: ${(d.stderr || d.stdout).trim().split('\n').pop()}`);
    }
    await this.#provider.removeNode(n.name);
    if (master && master.name !== n.name) {
      const r = await this.#kubectl(master.name, ['delete', 'node', n.name, '--ignore-not-found'], { signal: ctx.signal });
      if (r.exitCode !== 0) throw new Error(`deleting Node ${n.name} failed: ${(r.stderr || r.stdout).trim()}`);
    }
    await this.#provider.removeVolume(n.volume);
    await ctx.ledger.removed('volume', n.volume);
    await ctx.ledger.removed('container', n.name);
  }

  async #removeAll(ctx: StepContext): Promise<void> {
    const resources = await ctx.ledger.list();
    await Promise.all(resources.filter((r) => r.kind === 'container').map(async (n) => {
      await this.#provider.removeNode(n.name);
      await ctx.ledger.removed('container', n.name);
    }));
    for (const r of resources.filter((x) => x.kind === 'volume')) {
      await this.#provider.removeVolume(r.name);
      await ctx.ledger.removed('volume', r.name);
    }
    await removeStrayNodes(this.#provider, CLUSTER_LABEL, ctx.cluster.uuid);
  }

  async health(cluster: Cluster, nodegroups: readonly NodeGroup[], resources: readonly ClusterResource[]): Promise<HealthReport> {
    void nodegroups;
    const nodes = nodeRecords(resources);
    try {
      return await this.#health(cluster, nodes, lbRecord(resources));
    } catch (err) {
      if (!(err instanceof InfraUnavailable)) throw err;
      return unreachableReport(cluster, nodes.map((n) => n.name), err);
    }
  }

  /** Magnum's shape: {"<node>.Ready": "True" | why not, "api": "ok" | not accessible}. */
  async #health(cluster: Cluster, nodes: readonly NodeRecord[], lb: LbRecord | null): Promise<HealthReport> {
    const reason: Record<string, string> = {};
    const running = new Map<string, boolean>();
    for (const n of nodes) running.set(n.name, !!(await this.#provider.inspectNode(n.name))?.running);
    let ready: Map<string, string> | null = null;
    for (const m of nodes.filter((n) => n.role === 'master' && running.get(n.name))) {
      const r = await this.#kubectl(m.name, ['get', 'nodes', '-o', 'json'], { timeoutMs: 20_000 });
      if (r.exitCode !== 0) continue;
      ready = readiness((JSON.parse(r.stdout) as { items: KubeNode[] }).items);
      break;
    }
    let healthy = ready !== null;
    for (const n of nodes) {
      const state = !running.get(n.name) ? 'False (container stopped)' : ready ? ready.get(n.name) ?? 'False (not registered)' : 'Unknown (the API does not answer)';
      reason[`${n.name}.Ready`] = state;
      if (state !== 'True') healthy = false;
    }
    // A node that restarted by itself (the Docker host's engine restarted) lost its pod routes:
    // pods on different nodes cannot reach each other until healing (or any operation) sets them.
    await Promise.all(nodes.filter((n) => reason[`${n.name}.Ready`] === 'True').map(async (n) => {
      const r = await this.#provider.exec(n.name, ['ip', '-4', 'route', 'show', 'proto', 'static'], { timeoutMs: 15_000 });
      if (r.exitCode !== 0) return;
      const have = new Set(r.stdout.split('\n').map((l) => l.split(' ')[0]));
      const missing = nodes.filter((o) => o.name !== n.name && !have.has(podCidr(o))).map(podCidr);
      if (missing.length) {
        reason[`${n.name}.PodRoutes`] = `missing: ${missing.join(', ')}`;
        healthy = false;
      }
    }));
    // With a load balancer in front of the masters, api_address answers only while it runs.
    const lbUp = !lb || !!(await this.#provider.inspectNode(lb.name))?.running;
    if (!lbUp) healthy = false;
    reason.api = ready && lbUp ? 'ok' : `The cluster ${cluster.name ?? cluster.uuid} is not accessible.`;
    if (!nodes.length) return { status: 'UNKNOWN', reason };
    return { status: healthy ? 'HEALTHY' : 'UNHEALTHY', reason };
  }
}
