// What /v1/services and /v1/pods answer (src/api/controllers/v1/services.ts briefView/fullView),
// declared once for /v1/openapi.json, as src/api/schemas.ts declares the other routes' answers.
// A brief item holds the stored fields; a full one adds the live fields the COE reports (the
// conductor's src/drivers/swarm-mode/services.ts and src/drivers/kubernetes-objects.ts), the
// normalised manifest, the owners and the times. A live field the COE did not report (the cluster
// could not be read, the object is gone) is absent: those are optional here.
import { Type, type TSchema } from 'typebox';
import { dict, int, links, page, str, strings } from './schemas.ts';
const closed = <T extends Record<string, TSchema>>(props: T, description?: string) =>
  Type.Object(props, { additionalProperties: false, ...(description ? { description } : {}) });

/** A published port of a Swarm service (its normalised manifest's), with its endpoint when ingress. */
const SwarmPort = closed({
  target: Type.Integer(),
  published: int(),
  host_ip: str(),
  protocol: Type.String(),
  mode: Type.String(),
  endpoint: Type.Optional(Type.String({ description: 'address:port, ingress ports only' })),
});
/** A Kubernetes ServicePort, as the manifest gives it. */
const KubePort = Type.Object({ port: Type.Integer() }, { additionalProperties: true, description: 'A Kubernetes ServicePort' });

/** A Swarm service's manifest as stored: normalised from the Compose-style definition (src/objects/manifests.ts). */
const SwarmManifest = closed({
  image: Type.String(),
  command: Type.Optional(strings()),
  entrypoint: Type.Optional(strings()),
  environment: dict(),
  labels: dict(),
  ports: Type.Array(closed({ target: Type.Integer(), published: int(), host_ip: str(), protocol: Type.String(), mode: Type.String() })),
  init: Type.Optional(Type.Boolean()),
  stop_grace_period: Type.Optional(Type.String()),
  working_dir: Type.Optional(Type.String()),
  user: Type.Optional(Type.String()),
  deploy: closed({
    replicas: Type.Integer(),
    labels: dict(),
    placement: closed({ constraints: strings() }),
    update_config: closed({
      parallelism: Type.Optional(Type.Integer()),
      delay: Type.Optional(Type.String()),
      order: Type.Optional(Type.String()),
      failure_action: Type.Optional(Type.String()),
      monitor: Type.Optional(Type.String()),
    }),
  }),
}, 'The normalised Compose-style service definition');
/** A Kubernetes object's manifest as stored (validated by src/objects/manifests.ts; Kubernetes checks the rest). */
const KubeManifest = (kind: 'Service' | 'Pod') => Type.Object({
  apiVersion: Type.String(),
  kind: Type.Literal(kind),
  metadata: Type.Object({ name: Type.String() }, { additionalProperties: true }),
}, { additionalProperties: true, description: `A Kubernetes ${kind} manifest` });

/** A Swarm task of a service (src/drivers/swarm-mode/services.ts SwarmTask). */
const SwarmTask = closed({
  id: Type.String(),
  name: Type.String(),
  slot: int(),
  node: str(),
  node_address: str(),
  state: Type.String(),
  desired_state: Type.String(),
  image: Type.String(),
  error: str(),
  ports: Type.Array(closed({ target: Type.Integer(), published: Type.Integer(), protocol: Type.String(), endpoint: str() })),
});
/** Live: a Swarm service's rolling update, when one ran. */
const UpdateStatus = Type.Union([Type.Null(), closed({ state: str(), message: str(), started_at: str(), completed_at: str() })]);

const identity = { uuid: Type.String(), name: Type.String(), cluster_uuid: Type.String(), bay_uuid: Type.String() };
/** Live fields every full view has (status UNKNOWN with the reason when the COE could not be read). */
const live = { status: Type.String(), status_reason: str() };
/** A missing object's live answer lists no tasks, whatever the COE. */
const missingTasks = { tasks: Type.Optional(Type.Array(Type.Unknown(), { maxItems: 0 })) };
const owners = (manifest: TSchema) => ({
  manifest,
  backend_id: str(),
  project_id: Type.String(),
  user_id: str(),
  links: links(),
  created_at: Type.String(),
  updated_at: str(),
});

const swarmStored = { image: str(), replicas: Type.Integer(), ports: Type.Array(SwarmPort), endpoints: strings() };
const kubeServiceStored = { ports: Type.Array(KubePort) };

/** A Swarm service in a list: its stored fields. */
export const SwarmServiceBrief = closed({ ...identity, coe: Type.Literal('swarm-mode'), ...swarmStored, labels: dict(), links: links() });
/** A Kubernetes service in a list. */
export const KubeServiceBrief = closed({ ...identity, coe: Type.Literal('kubernetes'), labels: dict(), selector: dict(), ...kubeServiceStored, links: links() });
/** A pod in a list. */
export const PodBrief = closed({ ...identity, coe: Type.Literal('kubernetes'), labels: dict(), images: strings(), links: links() });

/** A Swarm service in full: the stored fields, the live ones, the manifest. */
export const SwarmService = closed({
  ...identity,
  coe: Type.Literal('swarm-mode'),
  ...live,
  image: str(),
  replicas: Type.Integer(),
  running_replicas: Type.Optional(Type.Integer()),
  ports: Type.Array(SwarmPort),
  endpoints: strings(),
  update_status: Type.Optional(UpdateStatus),
  nodes: Type.Optional(strings()),
  tasks: Type.Optional(Type.Array(SwarmTask)),
  labels: dict(),
  ...owners(SwarmManifest),
});
/** A Kubernetes service in full. */
export const KubeService = closed({
  ...identity,
  coe: Type.Literal('kubernetes'),
  ...live,
  ...kubeServiceStored,
  ...missingTasks,
  labels: dict(),
  selector: dict(),
  ip: Type.Optional(str()),
  ...owners(KubeManifest('Service')),
});
/** A pod in full. */
export const Pod = closed({
  ...identity,
  coe: Type.Literal('kubernetes'),
  ...live,
  images: strings(),
  ...missingTasks,
  labels: dict(),
  host: Type.Optional(str()),
  desc: Type.Optional(str()),
  ...owners(KubeManifest('Pod')),
});

export const Service = Type.Union([SwarmService, KubeService]);
export const ServiceBrief = Type.Union([SwarmServiceBrief, KubeServiceBrief]);
export const ServiceList = page('services', ServiceBrief);
export const ServiceDetailList = page('services', Service);
export const PodList = page('pods', PodBrief);
export const PodDetailList = page('pods', Pod);
