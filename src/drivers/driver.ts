// The driver interface. A driver turns an operation into an ordered list of named steps. Each step
// is idempotent: it looks at the world first and does only what is missing, so a conductor that
// takes over an orphaned operation simply runs again from the saved step. Drivers never touch the
// database: they report changes through the StepContext and the conductor saves them.
import type { Cluster, ClusterResource, ClusterTemplate, NodeGroup, Operation, OperationKind, ResourceKind } from '../objects/models.ts';
import type { WorkloadAccess, Workloads } from './workloads.ts';

export interface DriverTuple {
  server_type: string;
  os: string;
  coe: string;
}

/** The cluster's ledger: record a resource before creating it, mark it after. */
export interface Ledger {
  intend(kind: ResourceKind, name: string, details?: Record<string, unknown>): Promise<void>;
  present(kind: ResourceKind, name: string, externalId?: string | null, details?: Record<string, unknown>): Promise<void>;
  removed(kind: ResourceKind, name: string): Promise<void>;
  list(): Promise<ClusterResource[]>;
}

export interface TlsMaterial {
  caPem: string;
  certificate: string;
  privateKey: string;
}

/** Which of the cluster's CAs issues a certificate: ca_cert_ref, etcd_ca_cert_ref, front_proxy_ca_cert_ref. */
export type ClusterCa = 'cluster' | 'etcd' | 'front-proxy';

export interface CertificateSpec {
  commonName: string;
  organization?: string;
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
  usage: 'client' | 'server' | 'server+client';
}

/** The cluster's certificates, kept by the conductor (drivers never see the CA key). */
export interface ClusterPki {
  /** The CA and the conductor's own client certificate; made on first use. */
  ensure(): Promise<TlsMaterial>;
  /** A server certificate for one node's engine (not stored: the node gets it as files). */
  issueNode(name: string, ips: string[], dnsNames: string[]): Promise<TlsMaterial>;
  /**
   * A certificate and new key issued by one of the cluster's CAs (not stored: the node gets it as
   * files); caPem is that CA's certificate.
   */
  issue(ca: ClusterCa, req: CertificateSpec): Promise<TlsMaterial>;
  /**
   * The cluster's service-account signing key pair (PEM), made on first use and kept in the
   * conductor's certificate store (recorded in the ledger) until the cluster is deleted.
   */
  serviceAccountKey(): Promise<{ publicKey: string; privateKey: string }>;
  /** A new CA and client certificate replace the old ones, which are deleted. */
  rotate(): Promise<void>;
  /** Deletes every certificate of the cluster (cluster delete). */
  destroy(): Promise<void>;
}

/** What a driver asks for when its cluster needs a subnet (see ClusterAddresses). */
export interface SubnetRequest {
  /** The CIDR cluster subnets are carved from, e.g. 10.213.0.0/16. */
  pool: string;
  /** The size of one cluster's subnet, e.g. 24. */
  prefixLength: number;
  /** Subnets in use where the network is made (the provider's host), whoever made them: skipped. */
  inUse: readonly string[];
  /** A CIDR the user gave (fixed_subnet): allocated as it is, or the step fails if another cluster holds it. */
  fixed: string | null;
}

/**
 * The cluster's address space, allocated by the conductor in the database so that concurrent
 * operations on any number of conductors never hand out the same subnet.
 */
export interface ClusterAddresses {
  /** The cluster's subnet: the one it holds already, else a new allocation (canonical CIDR text). */
  subnet(req: SubnetRequest): Promise<string>;
  /** Gives the cluster's subnet back (its network is gone). */
  release(): Promise<void>;
}

export interface StepContext {
  readonly operation: Operation;
  readonly cluster: Cluster;
  readonly template: ClusterTemplate;
  readonly nodegroups: readonly NodeGroup[];
  /** The template an upgrade moves to. */
  readonly targetTemplate: ClusterTemplate | null;
  /** Aborted when the deadline passes or this conductor loses the operation's lease. */
  readonly signal: AbortSignal;
  /** Driver state carried between steps and across conductor restarts (saved after each step). */
  readonly state: Record<string, unknown>;
  setCluster(changes: Partial<Cluster>): void;
  setNodeGroup(uuid: string, changes: Partial<NodeGroup>): void;
  /** Adds an informational event to the cluster's timeline. */
  note(message: string): void;
  readonly ledger: Ledger;
  /**
   * The cluster's certificates. Every cluster has them whatever tls_disabled says (the conductor
   * makes them at create, before the driver's steps); null only for a conductor built without a
   * certificate store (unit tests of the runner).
   */
  readonly pki: ClusterPki | null;
  readonly addresses: ClusterAddresses;
}

export interface Step {
  name: string;
  run(ctx: StepContext): Promise<void>;
}

export interface HealthReport {
  status: 'HEALTHY' | 'UNHEALTHY' | 'UNKNOWN';
  /** Magnum's health_status_reason: `<node>.Ready` ("True", or why not), `api`, and the like. */
  reason: Record<string, string>;
  /**
   * Set (to the cause, for the conductor's log) when the infrastructure itself did not answer: the
   * nodes may be fine, nothing an operation does could repair it, so auto-healing waits.
   */
  infrastructureUnavailable?: string;
}

export interface CertificateAuthority {
  getCa(cluster: Cluster, caType: string | null): Promise<string>;
  sign(cluster: Cluster, csr: string, caType: string | null): Promise<string>;
}

export interface Driver {
  readonly name: string;
  readonly provides: readonly DriverTuple[];
  steps(kind: OperationKind, operation: Operation): Step[];
  /** Health of a running cluster, polled periodically. */
  health?(cluster: Cluster, nodegroups: readonly NodeGroup[], resources: readonly ClusterResource[]): Promise<HealthReport>;
  /** Services and pods on a running cluster's COE (src/drivers/workloads.ts); absent: not supported. */
  workloads?(access: WorkloadAccess): Workloads;
}
