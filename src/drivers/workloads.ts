// Workload objects on a running cluster's COE: services (a Swarm service; a Kubernetes Service)
// and pods (Kubernetes only). A driver that supports them implements Driver.workloads(access),
// returning the backends it has; the conductor (src/conductor/workloads.ts) keeps the rows, the
// tenancy and the published endpoints, and asks the backend for everything live.
//
// The swarm-mode driver supplies `services` (src/drivers/swarm-mode/services.ts). The kubernetes
// driver supplies a KubernetesClient (src/drivers/kubernetes/client.ts) through
// kubernetesWorkloads(client) (src/drivers/kubernetes-objects.ts), and `images`, the way image
// archives get into its nodes' containerd. A driver without `images` has nodes running a Docker
// engine, which the conductor loads itself (src/conductor/images.ts).
import type { ExecResult } from '../infra/provider.ts';
import type { Cluster, ClusterResource, ClusterTemplate, Workload } from '../objects/models.ts';
import type { TlsMaterial } from './driver.ts';

/** What the conductor gives a driver to reach a running cluster. */
export interface WorkloadAccess {
  readonly cluster: Cluster;
  readonly template: ClusterTemplate;
  /**
   * The docker CLI against the cluster's API endpoint, with the conductor's client certificate.
   * Rejects with a 503 (ServiceUnavailable) when the engine cannot be reached or does not answer.
   */
  docker(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<ExecResult>;
  /**
   * The cluster CA and the conductor's client certificate for the cluster's API (CN=admin,
   * O=system:masters); null when the cluster has no certificates, or its template disables TLS and
   * its driver's API works without them (swarm-mode engines).
   */
  credentials(): Promise<TlsMaterial | null>;
  /** The cluster's ledger (what the driver recorded: its nodes among them), read-only. */
  resources(): Promise<readonly ClusterResource[]>;
}

/** What a backend reports about an object, read live from the COE. */
export interface LiveState {
  /** Fields of the API representation (status, tasks, replicas, ...), shown over the stored ones. */
  fields: Record<string, unknown>;
  /**
   * Swarm services: for each published port, "TARGET/PROTOCOL", the "address:port" endpoints of its
   * running tasks. The conductor spreads the connections to the port's published address over them.
   */
  backends?: Record<string, string[]>;
}

/** One kind of object on one cluster. Every method may reject with a MagnumError (4xx/5xx). */
export interface ObjectBackend {
  /** Makes the object from the row's (validated, normalised) manifest; returns the COE's id of it. */
  create(w: Workload): Promise<{ backend_id: string }>;
  /** The live state, or null when the object no longer exists on the cluster. */
  show(w: Workload): Promise<LiveState | null>;
  /** Applies a new manifest (a rolling update where the COE does them). */
  update(w: Workload, manifest: Record<string, unknown>): Promise<void>;
  /** Removes the object; an object that is already gone is not an error. */
  remove(w: Workload): Promise<void>;
  /** Only the published endpoints (cheaper than show); swarm services. */
  backends?(w: Workload): Promise<Record<string, string[]> | null>;
}

/** A node an image archive goes into. */
export interface ImageNode {
  /** The node's name at the infrastructure provider. */
  name: string;
  /** Its address on the cluster network (how the API names it). */
  address: string;
  role: 'master' | 'worker';
  /** It answers now. */
  reachable: boolean;
}

export interface NodeImage {
  name: string;
  id: string;
  size: string;
}

/** How images get into a cluster's nodes without a registry (POST /v1/clusters/{ident}/images). */
export interface NodeImages {
  /** Every node of the cluster, masters first; none (an empty list) before the nodes exist. */
  nodes(): Promise<ImageNode[]>;
  /**
   * Loads an image archive (what `docker save` writes, possibly compressed) from a file on the
   * conductor's host into one node; resolves with the names of the images loaded. Rejects with an
   * Error whose message says why (recorded in the cluster's timeline).
   */
  load(node: ImageNode, archivePath: string, opts: { signal: AbortSignal; timeoutMs: number }): Promise<string[]>;
  /** The images a node has. */
  list(node: ImageNode): Promise<NodeImage[]>;
  /** Throws a 400 MagnumError, before anything is loaded, for an archive these nodes cannot take (e.g. its compression). */
  checkArchive?(archivePath: string): void;
}

export interface Workloads {
  services?: ObjectBackend;
  pods?: ObjectBackend;
  images?: NodeImages;
}
