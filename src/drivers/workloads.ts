// Workload objects on a running cluster's COE: services (a Swarm service; a Kubernetes Service),
// pods (Kubernetes only) and containers (Magnum 2015's, on nodes that run a Docker engine). A
// driver that supports them implements Driver.workloads(access), returning the backends it has;
// the conductor (src/conductor/workloads.ts, containers.ts, images.ts) keeps the rows, the
// tenancy, the operations and the published endpoints, and asks the backend for everything live.
//
// The swarm-mode driver supplies `services` (src/drivers/swarm-mode/services.ts), and `containers`
// and `images` through its nodes' Docker engines (src/drivers/docker-engine/). The kubernetes
// driver supplies a KubernetesClient (src/drivers/kubernetes/client.ts) through
// kubernetesWorkloads(client) (src/drivers/kubernetes-objects.ts), and `images`, the way image
// archives get into its nodes' containerd.
import type { ContainerLive, DockerState } from '../objects/container.ts';
import type { Cluster, ClusterResource, ClusterTemplate, Container, Workload } from '../objects/models.ts';
import type { TlsMaterial } from './driver.ts';

/** What the conductor gives a driver to reach a running cluster. */
export interface WorkloadAccess {
  readonly cluster: Cluster;
  readonly template: ClusterTemplate;
  /**
   * The directory of the conductor's client certificate files for the cluster (ca.pem, cert.pem,
   * key.pem: mode 0600 in a 0700 directory, kept current by the conductor and removed with the
   * cluster), for clients that read files (the docker CLI); null when the cluster has no
   * certificates or its template disables TLS.
   */
  tlsFiles(): Promise<string | null>;
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
  /** What answers on a node, as messages name it ("the Docker engine of node n1 does not answer"); absent: the node itself. */
  readonly answering?: string;
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

/** A node containers run on, as the cluster's ledger records it. */
export interface ContainerNode {
  name: string;
  role: 'master' | 'worker';
  index: number;
  address: string;
}

/** A container as its node's engine reports it. */
export interface ContainerInfo {
  id: string;
  state: DockerState;
  live: ContainerLive;
}

/**
 * Containers on a cluster's nodes (Magnum 2015's /v1/containers). The conductor keeps the rows,
 * chooses the node (the row's host is the node's address) and runs the operations; the backend
 * acts on one node's engine. Every method may reject with a MagnumError (a 503 when the node does
 * not answer).
 */
export interface ContainerBackend {
  /** What answers on a node, as messages name it ("no Docker engine of its nodes answers"). */
  readonly answering: string;
  /** The longest its calls wait (the conductor's operation deadlines cover them). */
  readonly timeouts: { readonly inspectMs: number; readonly commandMs: number; readonly pullMs: number };
  /** The nodes of the cluster, masters first, then by index. */
  nodes(): Promise<ContainerNode[]>;
  /** Whether each node answers now (a quick probe, in seconds). */
  answers(addresses: readonly string[]): Promise<boolean[]>;
  /** Resolves once the node answers; a 503 naming the node when it does not. */
  reach(node: ContainerNode): Promise<void>;
  /** Throws a 400 for a container the nodes cannot be given (e.g. its environment), before anything is made. */
  check(spec: { environment?: Record<string, string> | null }): void;
  /** Whether the node has the image. */
  hasImage(node: ContainerNode, image: string, signal?: AbortSignal): Promise<boolean>;
  /** The node pulls the image (no node has it); a 400 saying why when it cannot. */
  pull(node: ContainerNode, image: string): Promise<void>;
  /** The containers (by uuid) that exist on the node at `address`; missing ones are absent. */
  inspect(address: string, uuids: readonly string[]): Promise<Map<string, ContainerInfo>>;
  /** Makes the container (stopped) on the node of its row's host; resolves with its id. A 400 when refused. */
  create(c: Container, signal?: AbortSignal): Promise<string>;
  /** Runs the action; resolves with the engine's refusal (null: done). `grace`: seconds before a stop kills. */
  act(c: Container, action: 'start' | 'stop' | 'reboot' | 'pause' | 'unpause', grace: number | null, signal?: AbortSignal): Promise<string | null>;
  /** Removes the container (one already gone counts as removed); resolves with the engine's refusal (null: removed). */
  remove(c: Container, opts: { force: boolean; signal?: AbortSignal }): Promise<string | null>;
  /** The container's output, stdout and stderr merged back by time. */
  logs(c: Container, opts: { tail?: number | null; since?: string | null; timestamps?: boolean }): Promise<string>;
  /** Runs a command in the (running) container; a 504 when it does not finish within `timeoutS`. */
  exec(c: Container, command: string[], timeoutS: number): Promise<{ exit_code: number; stdout: string; stderr: string }>;
  /** Changes resource limits and restart policy live. */
  update(c: Container, changes: Partial<Pick<Container, 'memory' | 'cpu' | 'restart_policy'>>): Promise<void>;
}

export interface Workloads {
  services?: ObjectBackend;
  containers?: ContainerBackend;
  pods?: ObjectBackend;
  images?: NodeImages;
}
