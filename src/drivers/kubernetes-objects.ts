// Kubernetes pods and services as Magnum 2015 made them (§12.2 of the architecture reference):
// created from the manifest in namespace `default`, read, replaced and deleted through the
// cluster's Kubernetes API. The kubernetes driver supplies a KubernetesClient
// (src/drivers/kubernetes/client.ts: @kubernetes/client-node against its api_address with
// WorkloadAccess.credentials()) and returns kubernetesWorkloads(client) from Driver.workloads();
// the rows, the tenancy and the API are the conductor's (src/conductor/workloads.ts). A cluster
// whose driver supplies no client answers 400 "... not supported: no Kubernetes backend is available".
//
// No registry is reachable: images get into the nodes by POST /v1/clusters/{ident}/images. A pod's
// container whose manifest gives no imagePullPolicy gets IfNotPresent, whatever its tag: the
// kubelet's default for `:latest` or no tag is Always, which tries the registry even when the node
// has the image, and the pod would never start (ErrImagePull).
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
  /** With a uid, only that object (a precondition): another one of the same name is left alone, without error. */
  deletePod(namespace: string, name: string, uid?: string): Promise<void>;
  createService(namespace: string, manifest: KubeObject): Promise<KubeObject>;
  readService(namespace: string, name: string): Promise<KubeObject | null>;
  replaceService(namespace: string, name: string, manifest: KubeObject): Promise<KubeObject>;
  deleteService(namespace: string, name: string, uid?: string): Promise<void>;
}

export const NAMESPACE = 'default';
/**
 * The Magnum uuid of the object's row, set on every object made or replaced: an object of the
 * same name made outside Magnum (kubectl) is not taken for ours, so a create meets Kubernetes'
 * 409 instead of adopting it, and a delete never removes it.
 */
export const OWNER_ANNOTATION = 'magnum.openstack.org/uuid';

/**
 * A pod's new manifest as a strategic merge patch: labels and annotations the old manifest had and
 * the new one drops are deleted (null), as `kubectl apply` prunes what it applied before.
 */
function podPatch(old: KubeObject, manifest: KubeObject): KubeObject {
  const dropped = (key: 'labels' | 'annotations') => {
    const before: Record<string, unknown> = old.metadata?.[key] ?? {};
    const after: Record<string, unknown> = manifest.metadata?.[key] ?? {};
    return Object.fromEntries(Object.keys(before).filter((k) => !(k in after)).map((k) => [k, null]));
  };
  const metadata = { ...(manifest.metadata ?? {}) };
  for (const key of ['labels', 'annotations'] as const) {
    const gone = dropped(key);
    if (Object.keys(gone).length) metadata[key] = { ...(metadata[key] ?? {}), ...gone };
  }
  return { ...manifest, metadata };
}

function owned(manifest: KubeObject, uuid: string): KubeObject {
  const metadata = manifest.metadata ?? {};
  return { ...manifest, metadata: { ...metadata, annotations: { ...(metadata.annotations ?? {}), [OWNER_ANNOTATION]: uuid } } };
}

/** The manifest with imagePullPolicy IfNotPresent on every container (and init container) that does not say. */
export function withPullPolicy(manifest: KubeObject): KubeObject {
  const spec = manifest.spec;
  if (!spec || typeof spec !== 'object') return manifest;
  const fill = (list: unknown) => (Array.isArray(list)
    ? list.map((c) => (c && typeof c === 'object' && !Array.isArray(c) && (c as KubeObject).imagePullPolicy === undefined ? { ...c, imagePullPolicy: 'IfNotPresent' } : c))
    : list);
  const out: KubeObject = { ...manifest, spec: { ...spec, containers: fill(spec.containers) } };
  if (spec.initContainers !== undefined) out.spec.initContainers = fill(spec.initContainers);
  return out;
}

/** Magnum 2015's pod fields: desc, images, status (the phase), host (the node). */
export function podFields(o: KubeObject): Record<string, unknown> {
  const containers: KubeObject[] = o.spec?.containers ?? [];
  return {
    desc: o.metadata?.annotations?.description ?? null,
    images: containers.map((c) => c.image),
    labels: o.metadata?.labels ?? {},
    // A deleted pod stays for its grace period (30 s by default), as `kubectl get` shows it.
    status: o.metadata?.deletionTimestamp ? 'Terminating' : o.status?.phase ?? 'Unknown',
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
    ? { create: client.createPod.bind(client), read: client.readPod.bind(client), replace: client.replacePod.bind(client), del: client.deletePod.bind(client), fields: podFields, prepare: withPullPolicy }
    : { create: client.createService.bind(client), read: client.readService.bind(client), replace: client.replaceService.bind(client), del: client.deleteService.bind(client), fields: serviceFields, prepare: (m: KubeObject) => m };
  /** The object of the row's name, when it is the row's own. */
  const ours = async (w: Workload) => {
    const o = await ops.read(namespace, w.name);
    return o && o.metadata?.annotations?.[OWNER_ANNOTATION] === w.uuid ? o : null;
  };
  return {
    async create(w: Workload) {
      const made = await ops.create(namespace, owned(ops.prepare(w.manifest), w.uuid));
      return { backend_id: String(made.metadata?.uid ?? w.name) };
    },
    async show(w: Workload): Promise<LiveState | null> {
      const o = await ours(w);
      return o ? { fields: ops.fields(o) } : null;
    },
    async update(w: Workload, manifest: Record<string, unknown>) {
      const name = (manifest.metadata as KubeObject | undefined)?.name;
      if (name !== w.name) throw E.Invalid(`Invalid manifest: metadata.name: cannot be changed (${w.name})`);
      const body = owned(ops.prepare(manifest), w.uuid);
      await ops.replace(namespace, w.name, kind === 'Pod' ? podPatch(w.manifest, body) : body);
    },
    async remove(w: Workload) {
      const o = await ours(w);
      if (o) await ops.del(namespace, w.name, o.metadata?.uid);
    },
  };
}

/** Pods and services over a driver's Kubernetes client. */
export function kubernetesWorkloads(client: KubernetesClient, namespace = NAMESPACE): Workloads {
  return { pods: backend('Pod', client, namespace), services: backend('Service', client, namespace) };
}
