// What every driver of nodes from an infrastructure provider does alike: the cluster network (one
// per cluster, named by the cluster, on a subnet the conductor allocates in the database so that
// concurrent creates never pick the same one, skipping what the host's other networks use), the
// last sweep of what is labelled for a deleted cluster, and the health report when the host of the
// nodes does not answer.
import { SubnetOverlap, type InfraProvider, type InfraUnavailable, type NodeInfo, type NodeSpec } from '../infra/provider.ts';
import type { Cluster, NodeGroup } from '../objects/models.ts';
import type { ClusterPki, HealthReport, StepContext } from './driver.ts';

const short = (uuid: string) => uuid.slice(0, 8);

/** The operation's nodegroup of this uuid. */
export function nodegroupOf(ctx: StepContext, uuid: string): NodeGroup {
  const ng = ctx.nodegroups.find((n) => n.uuid === uuid);
  if (!ng) throw new Error(`nodegroup ${uuid} not found`);
  return ng;
}

/** The labels on everything made for the cluster: its uuid under the driver's label, and its project. */
export function clusterLabels(ctx: StepContext, clusterLabel: string, extra: Record<string, string> = {}): Record<string, string> {
  return { [clusterLabel]: ctx.cluster.uuid, 'magnum.project': ctx.cluster.project_id ?? '', ...extra };
}

/** The cluster's certificates (every conductor that runs drivers has a certificate store). */
export function pkiOf(ctx: StepContext): ClusterPki {
  if (!ctx.pki) throw new Error('the conductor has no certificate store');
  return ctx.pki;
}

/** What both drivers keep of a node in the ledger (as the details of its container). */
export interface NodeLedgerRecord {
  name: string;
  role: 'master' | 'worker';
  address: string;
  volume: string | null;
  /** Host port the node's API was published on: kept when the node is re-created (upgrade, healing). */
  apiHostPort?: number;
}

/** The node's volume, labelled with the node and the size asked, recorded in the ledger. */
export async function ensureNodeVolume(ctx: StepContext, provider: InfraProvider, clusterLabel: string, ng: NodeGroup, rec: NodeLedgerRecord): Promise<void> {
  if (!rec.volume) return;
  await ctx.ledger.intend('volume', rec.volume);
  await provider.ensureVolume(rec.volume, clusterLabels(ctx, clusterLabel, { 'magnum.node': rec.name, 'magnum.requested-size-gb': String(ng.docker_volume_size ?? ctx.cluster.docker_volume_size ?? '') }));
  await ctx.ledger.present('volume', rec.volume);
}

/**
 * The fields of a node's spec that do not depend on the COE: its names, image (an upgrade's, else
 * the nodegroup's, else the template's), network and address, flavor (the nodegroup's, else the
 * cluster's or template's for its role), volume, labels and external network.
 */
export function baseNodeSpec(
  ctx: StepContext, provider: InfraProvider, clusterLabel: string, ng: NodeGroup, rec: NodeLedgerRecord, image: string | undefined,
): Pick<NodeSpec, 'name' | 'hostname' | 'image' | 'network' | 'address' | 'flavor' | 'volume' | 'labels' | 'externalNetwork'> {
  const flavorName = ng.flavor_id ?? (rec.role === 'master' ? ctx.cluster.master_flavor_id ?? ctx.template.master_flavor_id : ctx.cluster.flavor_id ?? ctx.template.flavor_id);
  return {
    name: rec.name,
    hostname: rec.name,
    image: image ?? ng.image_id ?? ctx.template.image_id ?? '',
    network: networkName(ctx.cluster),
    address: rec.address,
    flavor: flavorName ? provider.flavor(flavorName) : null,
    volume: rec.volume,
    labels: clusterLabels(ctx, clusterLabel, { 'magnum.nodegroup': ng.uuid, 'magnum.role': rec.role, 'magnum.node': rec.name }),
    externalNetwork: ctx.template.external_network_id,
  };
}

/** Makes (or finds) and starts the node, then records it in the ledger with the API host port it really got. */
export async function runNode(ctx: StepContext, provider: InfraProvider, spec: NodeSpec, rec: NodeLedgerRecord, apiPort: number): Promise<NodeInfo> {
  const info = await provider.ensureNode(spec);
  const published = info.published[apiPort];
  const { name: _n, ...details } = rec;
  if (published) details.apiHostPort = Number(published.split(':').pop());
  await ctx.ledger.present('container', rec.name, info.id, details);
  return info;
}

export function networkName(cluster: Pick<Cluster, 'uuid'>): string {
  return `magnum-${short(cluster.uuid)}`;
}

/** Makes (or finds) the cluster's network; ctx.state.subnet holds its CIDR afterwards. */
export async function ensureClusterNetwork(ctx: StepContext, provider: InfraProvider, labels: Record<string, string>): Promise<void> {
  const name = networkName(ctx.cluster);
  await ctx.ledger.intend('network', name);
  const fixed = ctx.cluster.fixed_subnet && /\//.test(ctx.cluster.fixed_subnet) ? ctx.cluster.fixed_subnet : null;
  const pool = provider.subnetPool;
  let net = await provider.network(name);
  for (let attempt = 1; !net; attempt++) {
    const subnet = await ctx.addresses.subnet({ pool: pool.cidr, prefixLength: pool.prefixLength, inUse: await provider.usedSubnets(), fixed });
    try {
      net = await provider.ensureNetwork(name, { subnet, labels });
    } catch (err) {
      // A network made on the host since it was asked took the subnet: give it back, take another.
      if (!(err instanceof SubnetOverlap) || fixed || attempt >= 3) throw err;
      await ctx.addresses.release();
      ctx.note(`subnet ${subnet} is in use on the Docker host; allocating another`);
    }
  }
  await ctx.ledger.present('network', name, net.id, { subnet: net.subnet });
  ctx.state.subnet = net.subnet;
}

/** The cluster network's subnet (made when it is missing). */
export async function clusterSubnet(ctx: StepContext, provider: InfraProvider, labels: Record<string, string>): Promise<string> {
  if (typeof ctx.state.subnet === 'string') return ctx.state.subnet;
  const net = await provider.network(networkName(ctx.cluster));
  if (net) ctx.state.subnet = net.subnet;
  else await ensureClusterNetwork(ctx, provider, labels);
  return ctx.state.subnet as string;
}

/** Removes the cluster's network and gives its subnet back. */
export async function removeClusterNetwork(ctx: StepContext, provider: InfraProvider, clusterLabel: string): Promise<void> {
  const name = networkName(ctx.cluster);
  await provider.removeNetwork(name);
  await ctx.ledger.removed('network', name);
  await ctx.addresses.release();
  for (const stray of await provider.listLabelled(clusterLabel, ctx.cluster.uuid)) {
    if (stray.kind === 'network') await provider.removeNetwork(stray.name);
  }
}

/** Containers and volumes labelled for the cluster that the ledger does not know (they should not exist). */
export async function removeStrayNodes(provider: InfraProvider, clusterLabel: string, clusterUuid: string): Promise<void> {
  for (const stray of await provider.listLabelled(clusterLabel, clusterUuid)) {
    if (stray.kind === 'container') await provider.removeNode(stray.name);
    if (stray.kind === 'volume') await provider.removeVolume(stray.name);
  }
}

/**
 * The host of the nodes does not answer: neither they nor the cluster's endpoint (published there)
 * can be reached, which Magnum reports as UNHEALTHY ("not accessible"). Nothing an operation does
 * could help until the host is back, so the report says so (no auto-healing).
 */
export function unreachableReport(cluster: Cluster, nodeNames: readonly string[], err: InfraUnavailable): HealthReport {
  const reason: Record<string, string> = {};
  for (const n of nodeNames) reason[`${n}.Ready`] = 'Unknown (the host of the nodes does not answer)';
  reason.api = `The cluster ${cluster.name ?? cluster.uuid} is not accessible.`;
  return { status: nodeNames.length ? 'UNHEALTHY' : 'UNKNOWN', reason, infrastructureUnavailable: err.message };
}
