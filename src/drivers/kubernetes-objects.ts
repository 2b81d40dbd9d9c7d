// Kubernetes pods and services as Magnum 2015 made them (§12.2 of the architecture reference):
// created from the manifest in namespace `default`, read, replaced and deleted through the
// cluster's Kubernetes API. A Kubernetes driver supplies a KubernetesClient (REST against its
// api_address with WorkloadAccess.credentials()) and returns kubernetesWorkloads(client) from
// Driver.workloads(); everything else (rows, tenancy, the API) is already in place.
//
// No driver supplies a client yet: on a kubernetes cluster /v1/pods and /v1/services answer 400
// "... not supported: no Kubernetes backend is available".
import { E } from '../common/errors.ts';
import type { Workload } from '../objects/models.ts';
import type { LiveState, ObjectBackend, Workloads } from './workloads.ts';

/** A Kubernetes object as the API returns it (apiVersion, kind, metadata, spec, status). */
export type KubeObject = Record<string, any>;

/**
 * The calls Magnum makes (python-k8sclient's create/read/replace/delete_namespaced_*). read* and
 * delete* resolve null / without error for an object that does not exist (HTTP 404); other
 * failures reject (the client should map them to MagnumErrors: 503 when the API is unreachable).
 */
export interface KubernetesClient {
  createPod(namespace: string, manifest: KubeObject): Promise<KubeObject>;
  readPod(namespace: string, name: string): Promise<KubeObject | null>;
  replacePod(namespace: string, name: string, manifest: KubeObject): Promise<KubeObject>;
  deletePod(namespace: string, name: string): Promise<void>;
  createService(namespace: string, manifest: KubeObject): Promise<KubeObject>;
  readService(namespace: string, name: string): Promise<KubeObject | null>;
  replaceService(namespace: string, name: string, manifest: KubeObject): Promise<KubeObject>;
  deleteService(namespace: string, name: string): Promise<void>;
}

export const NAMESPACE = 'default';

/** Magnum 2015's pod fields: desc, images, status (the phase), host (the node). */
export function podFields(o: KubeObject): Record<string, unknown> {
  const containers: KubeObject[] = o.spec?.containers ?? [];
  return {
    desc: o.metadata?.annotations?.description ?? null,
    images: containers.map((c) => c.image),
    labels: o.metadata?.labels ?? {},
    status: o.status?.phase ?? 'Unknown',
    host: o.spec?.nodeName ?? null,
  };
}

/** Magnum 2015's service fields: selector, ip (the cluster IP), ports, labels. */
export function serviceFields(o: KubeObject): Record<string, unknown> {
  return {
    labels: o.metadata?.labels ?? {},
    selector: o.spec?.selector ?? {},
    ip: o.spec?.clusterIP ?? null,
    ports: o.spec?.ports ?? [],
    status: 'ACTIVE',
  };
}

function backend(kind: 'Pod' | 'Service', client: KubernetesClient, namespace: string): ObjectBackend {
  const ops = kind === 'Pod'
    ? { create: client.createPod.bind(client), read: client.readPod.bind(client), replace: client.replacePod.bind(client), del: client.deletePod.bind(client), fields: podFields }
    : { create: client.createService.bind(client), read: client.readService.bind(client), replace: client.replaceService.bind(client), del: client.deleteService.bind(client), fields: serviceFields };
  return {
    async create(w: Workload) {
      const made = await ops.create(namespace, w.manifest);
      return { backend_id: String(made.metadata?.uid ?? w.name) };
    },
    async show(w: Workload): Promise<LiveState | null> {
      const o = await ops.read(namespace, w.name);
      return o ? { fields: ops.fields(o) } : null;
    },
    async update(w: Workload, manifest: Record<string, unknown>) {
      const name = (manifest.metadata as KubeObject | undefined)?.name;
      if (name !== w.name) throw E.Invalid(`Invalid manifest: metadata.name: cannot be changed (${w.name})`);
      await ops.replace(namespace, w.name, manifest);
    },
    async remove(w: Workload) {
      await ops.del(namespace, w.name);
    },
  };
}

/** Pods and services over a driver's Kubernetes client. */
export function kubernetesWorkloads(client: KubernetesClient, namespace = NAMESPACE): Workloads {
  return { pods: backend('Pod', client, namespace), services: backend('Service', client, namespace) };
}
