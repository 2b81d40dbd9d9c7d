// The domain records, as the storage layer returns them. Field names are Magnum's column names,
// so a record maps one to one onto a table row and onto the API representation.

import type { ClusterStatus, HealthStatus } from './fields.ts';

export type Labels = Record<string, string>;

interface Timestamps {
  created_at: Date | null;
  updated_at: Date | null;
}

export interface ClusterTemplate extends Timestamps {
  id: number;
  uuid: string;
  project_id: string | null;
  user_id: string | null;
  name: string | null;
  image_id: string | null;
  flavor_id: string | null;
  master_flavor_id: string | null;
  keypair_id: string | null;
  dns_nameserver: string | null;
  external_network_id: string | null;
  fixed_network: string | null;
  fixed_subnet: string | null;
  network_driver: string | null;
  volume_driver: string | null;
  apiserver_port: number | null;
  docker_volume_size: number | null;
  docker_storage_driver: string | null;
  cluster_distro: string | null;
  coe: string | null;
  http_proxy: string | null;
  https_proxy: string | null;
  no_proxy: string | null;
  registry_enabled: boolean;
  labels: Labels;
  tls_disabled: boolean;
  public: boolean;
  server_type: string | null;
  insecure_registry: string | null;
  master_lb_enabled: boolean;
  floating_ip_enabled: boolean;
  hidden: boolean;
  tags: string | null;
}

export interface Cluster extends Timestamps {
  id: number;
  uuid: string;
  project_id: string | null;
  user_id: string | null;
  name: string | null;
  cluster_template_id: string | null;
  keypair: string | null;
  docker_volume_size: number | null;
  labels: Labels;
  master_flavor_id: string | null;
  flavor_id: string | null;
  stack_id: string | null;
  api_address: string | null;
  status: ClusterStatus | null;
  status_reason: string | null;
  health_status: HealthStatus | null;
  health_status_reason: Labels;
  create_timeout: number | null;
  discovery_url: string | null;
  trust_id: string | null;
  trustee_username: string | null;
  trustee_user_id: string | null;
  trustee_password: string | null;
  coe_version: string | null;
  container_version: string | null;
  ca_cert_ref: string | null;
  magnum_cert_ref: string | null;
  etcd_ca_cert_ref: string | null;
  front_proxy_ca_cert_ref: string | null;
  fixed_network: string | null;
  fixed_subnet: string | null;
  floating_ip_enabled: boolean;
  master_lb_enabled: boolean;
}

export interface NodeGroup extends Timestamps {
  id: number;
  uuid: string;
  name: string;
  cluster_id: string;
  project_id: string | null;
  docker_volume_size: number | null;
  labels: Labels;
  flavor_id: string | null;
  image_id: string | null;
  node_addresses: string[];
  node_count: number;
  role: string;
  max_node_count: number | null;
  min_node_count: number;
  is_default: boolean;
  stack_id: string | null;
  status: ClusterStatus | null;
  status_reason: string | null;
  version: string | null;
}

export interface Quota extends Timestamps {
  id: number;
  project_id: string;
  resource: string;
  hard_limit: number;
}

export interface MagnumService extends Timestamps {
  id: number;
  host: string;
  binary: string;
  disabled: boolean;
  disabled_reason: string | null;
  last_seen_up: Date | null;
  forced_down: boolean;
  report_count: number;
}

export interface Federation extends Timestamps {
  id: number;
  uuid: string;
  project_id: string | null;
  name: string | null;
  hostcluster_id: string | null;
  member_ids: string[];
  status: string | null;
  status_reason: string | null;
  properties: Labels;
}

export interface X509KeyPair extends Timestamps {
  id: number;
  uuid: string;
  certificate: string | null;
  private_key: string | null;
  private_key_passphrase: string | null;
  intermediates: string | null;
  project_id: string | null;
  user_id: string | null;
}

/** Our addition: one lifecycle operation, the unit a conductor claims, resumes and finishes. */
export type OperationKind =
  | 'cluster_create'
  | 'cluster_update'
  | 'cluster_resize'
  | 'cluster_upgrade'
  | 'cluster_delete'
  | 'nodegroup_create'
  | 'nodegroup_update'
  | 'nodegroup_delete'
  | 'rotate_ca'
  | 'cluster_heal';
/**
 * Operations on what runs on a cluster (containers, services, pods): rows, leases, deadlines and
 * named steps like the lifecycle operations, but they never change the cluster's status and run
 * beside a lifecycle operation (a cluster delete ends them).
 */
export type TaskKind =
  | 'container_create'
  | 'container_action'
  | 'container_delete'
  | 'workload_create'
  | 'workload_update'
  | 'workload_delete';
export type OperationState = 'pending' | 'running' | 'complete' | 'failed';

export interface Operation extends Timestamps {
  id: number;
  uuid: string;
  cluster_id: string;
  nodegroup_id: string | null;
  kind: OperationKind | TaskKind;
  params: Record<string, unknown>;
  state: OperationState;
  owner: string | null;
  lease_expires_at: Date | null;
  deadline_at: Date;
  step: string | null;
  attempts: number;
  last_error: string | null;
  request_id: string | null;
}

/** Our addition: one image load into a cluster's nodes, held under a lease while it runs. */
export interface ImageLoad extends Timestamps {
  id: number;
  uuid: string;
  cluster_id: string;
  file: string;
  state: 'running' | 'complete' | 'failed';
  owner: string | null;
  lease_expires_at: Date | null;
  deadline_at: Date;
  last_error: string | null;
}

/** Our addition: the per-cluster event timeline. */
export interface ClusterEvent {
  id: number;
  cluster_id: string;
  operation_id: string | null;
  step: string;
  outcome: 'started' | 'succeeded' | 'failed' | 'info';
  message: string | null;
  created_at: Date;
}

/** Our addition: one external resource a cluster made, in the cluster's ledger. */
export type ResourceKind = 'container' | 'network' | 'volume' | 'certificate' | 'image';
export interface ClusterResource {
  id: number;
  cluster_id: string;
  kind: ResourceKind;
  name: string;
  external_id: string | null;
  state: 'intended' | 'present' | 'removed';
  details: Record<string, unknown>;
  created_at: Date | null;
  updated_at: Date | null;
}

/** A container on a swarm or swarm-mode cluster (Magnum 2015's `container`, with our additions). */
export interface Container extends Timestamps {
  id: number;
  uuid: string;
  name: string | null;
  project_id: string | null;
  user_id: string | null;
  /** The cluster's uuid (the API shows it as bay_uuid and cluster_uuid). */
  cluster_id: string;
  image: string;
  /** As given: a string (split like a shell does) or a list of arguments. */
  command: string | string[] | null;
  /** Docker quantity <n>[b|k|m|g]. */
  memory: string | null;
  /** CPUs (docker --cpus). */
  cpu: number | null;
  environment: Record<string, string>;
  /** Published ports, docker's [host_port:]container_port[/protocol]. */
  ports: string[];
  /** no, always, unless-stopped, on-failure[:N]. */
  restart_policy: string | null;
  /** Address (on the cluster network) of the node the container was placed on. */
  host: string | null;
  docker_id: string | null;
  /** Last status read from the engine. */
  status: string | null;
}

/** Our addition: a workload object (a service or a pod) made through the API on a cluster's COE. */
export interface Workload extends Timestamps {
  id: number;
  uuid: string;
  kind: 'service' | 'pod';
  name: string;
  project_id: string | null;
  user_id: string | null;
  /** The cluster's uuid. */
  cluster_id: string;
  /** The cluster template's COE when the object was made (swarm-mode, kubernetes). */
  coe: string;
  /** The normalised manifest (src/objects/manifests.ts). */
  manifest: Record<string, unknown>;
  /** The COE's id of the object (a Swarm service id, a Kubernetes uid), null until it exists. */
  backend_id: string | null;
}
