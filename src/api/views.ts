// API representations (WSME's serialisation): field order as Magnum emits it, unset attributes
// omitted, None as null, merge_labels always false, links from the request host.
import { FAILED_STATUSES } from '../objects/fields.ts';
import type { Cluster, ClusterTemplate, NodeGroup, Quota } from '../objects/models.ts';

/** What the cluster views read of a nodegroup: the lists read a summary, the show the whole row (faults). */
export type ViewNodeGroup = Pick<NodeGroup, 'role' | 'node_count' | 'node_addresses'> & Partial<Pick<NodeGroup, 'name' | 'status' | 'status_reason'>>;
import { isoTime, labelDiff, resourceLinks } from './common.ts';

export const TEMPLATE_FIELDS = [
  'uuid', 'name', 'coe', 'image_id', 'flavor_id', 'master_flavor_id', 'keypair_id', 'dns_nameserver',
  'external_network_id', 'fixed_network', 'fixed_subnet', 'network_driver', 'volume_driver', 'apiserver_port',
  'docker_volume_size', 'docker_storage_driver', 'cluster_distro', 'http_proxy', 'https_proxy', 'no_proxy',
  'insecure_registry', 'registry_enabled', 'labels', 'tls_disabled', 'public', 'hidden', 'server_type',
  'master_lb_enabled', 'floating_ip_enabled', 'tags', 'project_id', 'user_id',
] as const;

export function templateView(t: ClusterTemplate, host: string, coll = 'clustertemplates', opts: { owner?: boolean } = {}) {
  const out: Record<string, unknown> = {};
  for (const f of TEMPLATE_FIELDS) {
    if (opts.owner === false && (f === 'project_id' || f === 'user_id')) continue;
    out[f] = (t as unknown as Record<string, unknown>)[f] ?? null;
  }
  out.links = resourceLinks(host, `${coll}/${t.uuid}`);
  out.created_at = isoTime(t.created_at);
  out.updated_at = isoTime(t.updated_at);
  return out;
}

export interface ClusterAggregate {
  node_count: number;
  master_count: number;
  node_addresses: string[];
  master_addresses: string[];
}

export function aggregate(ngs: readonly ViewNodeGroup[]): ClusterAggregate {
  const out: ClusterAggregate = { node_count: 0, master_count: 0, node_addresses: [], master_addresses: [] };
  for (const ng of ngs) {
    if (ng.role === 'master') {
      out.master_count += ng.node_count;
      out.master_addresses.push(...ng.node_addresses);
    } else {
      out.node_count += ng.node_count;
      out.node_addresses.push(...ng.node_addresses);
    }
  }
  return out;
}

export function clusterBrief(c: Cluster, ngs: readonly ViewNodeGroup[], host: string) {
  const agg = aggregate(ngs);
  return {
    uuid: c.uuid,
    name: c.name,
    cluster_template_id: c.cluster_template_id,
    keypair: c.keypair,
    docker_volume_size: c.docker_volume_size,
    labels: c.labels,
    node_count: agg.node_count,
    master_count: agg.master_count,
    status: c.status,
    health_status: c.health_status,
    master_flavor_id: c.master_flavor_id,
    flavor_id: c.flavor_id,
    create_timeout: c.create_timeout,
    stack_id: c.stack_id,
    merge_labels: false,
    links: resourceLinks(host, `clusters/${c.uuid}`),
  };
}

export function clusterFull(c: Cluster, ngs: readonly ViewNodeGroup[], template: Pick<ClusterTemplate, 'labels'> | null, host: string, opts: { faults?: boolean } = {}) {
  const agg = aggregate(ngs);
  const out: Record<string, unknown> = {
    uuid: c.uuid,
    name: c.name,
    cluster_template_id: c.cluster_template_id,
    keypair: c.keypair,
    node_count: agg.node_count,
    master_count: agg.master_count,
    docker_volume_size: c.docker_volume_size,
    labels: c.labels,
    ...labelDiff(c.labels, template?.labels ?? {}),
    merge_labels: false,
    master_flavor_id: c.master_flavor_id,
    flavor_id: c.flavor_id,
    create_timeout: c.create_timeout,
    discovery_url: c.discovery_url,
    stack_id: c.stack_id,
    status: c.status,
    status_reason: c.status_reason,
    health_status: c.health_status,
    health_status_reason: c.health_status_reason,
    api_address: c.api_address,
    master_addresses: agg.master_addresses,
    node_addresses: agg.node_addresses,
    coe_version: c.coe_version,
    container_version: c.container_version,
    fixed_network: c.fixed_network,
    fixed_subnet: c.fixed_subnet,
    floating_ip_enabled: c.floating_ip_enabled,
    master_lb_enabled: c.master_lb_enabled,
    project_id: c.project_id,
    user_id: c.user_id,
    links: resourceLinks(host, `clusters/${c.uuid}`),
    created_at: isoTime(c.created_at),
    updated_at: isoTime(c.updated_at),
  };
  if (opts.faults && c.status && (FAILED_STATUSES as string[]).includes(c.status)) {
    const faults: Record<string, string> = {};
    for (const ng of ngs) if (ng.status?.endsWith('FAILED')) faults[ng.name ?? ''] = ng.status_reason ?? '';
    out.faults = faults;
  }
  return out;
}

export function nodegroupBrief(ng: NodeGroup) {
  return {
    uuid: ng.uuid,
    name: ng.name,
    flavor_id: ng.flavor_id,
    image_id: ng.image_id,
    node_count: ng.node_count,
    role: ng.role,
    is_default: ng.is_default,
    status: ng.status,
    stack_id: ng.stack_id,
    merge_labels: false,
  };
}

export function nodegroupFull(ng: NodeGroup, clusterLabels: Record<string, string>, host: string) {
  return {
    id: ng.id,
    uuid: ng.uuid,
    name: ng.name,
    cluster_id: ng.cluster_id,
    project_id: ng.project_id,
    docker_volume_size: ng.docker_volume_size,
    labels: ng.labels,
    ...labelDiff(ng.labels, clusterLabels),
    merge_labels: false,
    flavor_id: ng.flavor_id,
    image_id: ng.image_id,
    node_addresses: ng.node_addresses,
    node_count: ng.node_count,
    role: ng.role,
    max_node_count: ng.max_node_count,
    min_node_count: ng.min_node_count,
    is_default: ng.is_default,
    stack_id: ng.stack_id,
    status: ng.status,
    status_reason: ng.status_reason,
    version: ng.version,
    links: resourceLinks(host, `clusters/${ng.cluster_id}/nodegroups/${ng.uuid}`),
    created_at: isoTime(ng.created_at),
    updated_at: isoTime(ng.updated_at),
  };
}

export function quotaView(q: Quota) {
  return {
    id: q.id,
    project_id: q.project_id,
    resource: q.resource,
    hard_limit: q.hard_limit,
    created_at: isoTime(q.created_at),
    updated_at: isoTime(q.updated_at),
  };
}
