// Workload objects on a running cluster's COE: services (a Swarm service; a Kubernetes Service)
// and pods (Kubernetes only). A driver that supports them implements Driver.workloads(access),
// returning the backends it has; the conductor (src/conductor/workloads.ts) keeps the rows, the
// tenancy and the published endpoints, and asks the backend for everything live.
//
// The swarm-mode driver supplies `services` (src/drivers/swarm-mode/services.ts). A Kubernetes
// driver only has to supply a KubernetesClient and return kubernetesWorkloads(client)
// (src/drivers/kubernetes-objects.ts).
import type { ExecResult } from '../infra/provider.ts';
import type { Cluster, ClusterTemplate, Workload } from '../objects/models.ts';
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
  /** The conductor's client credentials for the cluster's API (null when the template disables TLS). */
  credentials(): Promise<TlsMaterial | null>;
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

export interface Workloads {
  services?: ObjectBackend;
  pods?: ObjectBackend;
}
