// Route schemas (TypeBox): what a route answers, declared once, in Magnum's field order.
// @fastify/swagger puts every declared route into /v1/openapi.json (OpenAPI 3.1); routes without a
// declared schema are left out of that document (src/api/app.ts hides them), never guessed.
// test/api/openapi.test.ts checks the real answers against the document and the schemas' fields
// against the views' (the bodies are written by JSON.stringify: see src/api/app.ts).
import { Type, type TSchema } from 'typebox';

/** A JSON Schema `type` that also admits null (OpenAPI 3.1 / JSON Schema 2020-12). */
export const orNull = (kind: 'string' | 'integer' | 'number' | 'boolean') => Type.Unsafe<unknown>({ type: [kind, 'null'] });
export const str = () => orNull('string');
export const int = () => orNull('integer');
const bool = () => orNull('boolean');
/** A string-to-string object (labels, environment). */
export const dict = () => Type.Object({}, { additionalProperties: Type.String() });
export const strings = () => Type.Array(Type.String());

export const Link = Type.Object({ href: Type.String(), rel: Type.String() });
export const links = () => Type.Array(Link);
/** The fields that end a project's resource view, in their order: owner, links and times. */
export const ownedTail = () => ({ project_id: str(), user_id: str(), links: links(), created_at: str(), updated_at: str() });

/** GET /v1/clusters items (views.ts clusterBrief), in Magnum's order. */
export const ClusterBrief = Type.Object({
  uuid: Type.String(),
  name: str(),
  cluster_template_id: str(),
  keypair: str(),
  docker_volume_size: int(),
  labels: dict(),
  node_count: Type.Integer(),
  master_count: Type.Integer(),
  status: str(),
  health_status: str(),
  master_flavor_id: str(),
  flavor_id: str(),
  create_timeout: int(),
  stack_id: str(),
  merge_labels: Type.Boolean(),
  links: links(),
}, { additionalProperties: false });

/** A cluster as its show and GET /v1/clusters/detail give it (views.ts clusterFull). */
export const Cluster = Type.Object({
  uuid: Type.String(),
  name: str(),
  cluster_template_id: str(),
  keypair: str(),
  node_count: Type.Integer(),
  master_count: Type.Integer(),
  docker_volume_size: int(),
  labels: dict(),
  labels_overridden: dict(),
  labels_added: dict(),
  labels_skipped: dict(),
  merge_labels: Type.Boolean(),
  master_flavor_id: str(),
  flavor_id: str(),
  create_timeout: int(),
  discovery_url: str(),
  stack_id: str(),
  status: str(),
  status_reason: str(),
  health_status: str(),
  health_status_reason: dict(),
  api_address: str(),
  master_addresses: strings(),
  node_addresses: strings(),
  coe_version: str(),
  container_version: str(),
  fixed_network: str(),
  fixed_subnet: str(),
  floating_ip_enabled: bool(),
  master_lb_enabled: bool(),
  project_id: str(),
  user_id: str(),
  links: links(),
  created_at: str(),
  updated_at: str(),
  /** Only in a show of a cluster in a *_FAILED status: each failed nodegroup's reason. */
  faults: Type.Optional(dict()),
}, { additionalProperties: false });

export const page = (key: string, item: TSchema) => Type.Object({
  [key]: Type.Array(item),
  /** The next page, when this one is full (limit items). */
  next: Type.Optional(Type.String()),
}, { additionalProperties: false });

export const ClusterList = page('clusters', ClusterBrief);
export const ClusterDetailList = page('clusters', Cluster);
/** 202 of an accepted create or action: the cluster's uuid. */
export const ClusterUuid = Type.Object({ uuid: Type.String() }, { additionalProperties: false });

/** GET /v1/bays items (bays.ts bayBrief): a cluster under its legacy names. */
export const BayBrief = Type.Object({
  uuid: Type.String(),
  name: str(),
  baymodel_id: str(),
  docker_volume_size: int(),
  labels: dict(),
  master_flavor_id: str(),
  flavor_id: str(),
  node_count: Type.Integer(),
  status: str(),
  bay_create_timeout: int(),
  master_count: Type.Integer(),
  stack_id: str(),
  links: links(),
}, { additionalProperties: false });
/** A bay as its show, GET /v1/bays/detail and (before 1.2) its create and update give it (bays.ts bayFull). */
export const Bay = Type.Object({
  ...BayBrief.properties,
  status_reason: str(),
  discovery_url: str(),
  api_address: str(),
  coe_version: str(),
  container_version: str(),
  node_addresses: strings(),
  master_addresses: strings(),
  fixed_network: str(),
  fixed_subnet: str(),
  floating_ip_enabled: bool(),
  master_lb_enabled: bool(),
  created_at: str(),
  updated_at: str(),
}, { additionalProperties: false });

/** A cluster template (views.ts templateView, TEMPLATE_FIELDS' order), as /v1/clustertemplates gives it. */
export const ClusterTemplate = Type.Object({
  uuid: Type.String(),
  name: str(),
  coe: str(),
  image_id: str(),
  flavor_id: str(),
  master_flavor_id: str(),
  keypair_id: str(),
  dns_nameserver: str(),
  external_network_id: str(),
  fixed_network: str(),
  fixed_subnet: str(),
  network_driver: str(),
  volume_driver: str(),
  apiserver_port: int(),
  docker_volume_size: int(),
  docker_storage_driver: str(),
  cluster_distro: str(),
  http_proxy: str(),
  https_proxy: str(),
  no_proxy: str(),
  insecure_registry: str(),
  registry_enabled: bool(),
  labels: dict(),
  tls_disabled: bool(),
  public: bool(),
  hidden: bool(),
  server_type: str(),
  master_lb_enabled: bool(),
  floating_ip_enabled: bool(),
  tags: str(),
  ...ownedTail(),
}, { additionalProperties: false });
export const ClusterTemplateList = page('clustertemplates', ClusterTemplate);
/** A legacy baymodel (/v1/baymodels): a cluster template without project_id and user_id. */
export const Baymodel = Type.Object(Object.fromEntries(Object.entries(ClusterTemplate.properties).filter(([k]) => k !== 'project_id' && k !== 'user_id')), { additionalProperties: false });
export const BaymodelList = page('baymodels', Baymodel);

/** GET /v1/clusters/{cluster}/nodegroups items (views.ts nodegroupBrief). */
export const NodeGroupBrief = Type.Object({
  uuid: Type.String(),
  name: Type.String(),
  flavor_id: str(),
  image_id: str(),
  node_count: int(),
  role: str(),
  is_default: bool(),
  status: str(),
  stack_id: str(),
  merge_labels: Type.Boolean(),
}, { additionalProperties: false });

/** A nodegroup as its show, create and update give it (views.ts nodegroupFull). */
export const NodeGroup = Type.Object({
  id: Type.Integer(),
  uuid: Type.String(),
  name: Type.String(),
  cluster_id: Type.String(),
  project_id: str(),
  docker_volume_size: int(),
  labels: dict(),
  labels_overridden: dict(),
  labels_added: dict(),
  labels_skipped: dict(),
  merge_labels: Type.Boolean(),
  flavor_id: str(),
  image_id: str(),
  node_addresses: strings(),
  node_count: int(),
  role: str(),
  max_node_count: int(),
  min_node_count: int(),
  is_default: bool(),
  stack_id: str(),
  status: str(),
  status_reason: str(),
  version: str(),
  links: links(),
  created_at: str(),
  updated_at: str(),
}, { additionalProperties: false });
export const NodeGroupList = page('nodegroups', NodeGroupBrief);

/** A quota (views.ts quotaView). */
export const Quota = Type.Object({
  id: Type.Integer(),
  project_id: Type.String(),
  resource: Type.String(),
  hard_limit: Type.Integer(),
  created_at: str(),
  updated_at: str(),
}, { additionalProperties: false });
export const QuotaList = page('quotas', Quota);
/** A quota's show: the quota, or the default when the project has none set. */
export const QuotaShown = Type.Union([Quota, Type.Object({ project_id: Type.String(), hard_limit: Type.Integer(), resource: Type.String() }, { additionalProperties: false })]);

/** A cluster's CA certificate (GET /v1/certificates/{cluster}). */
export const CertificateShown = Type.Object({
  cluster_uuid: Type.String(),
  bay_uuid: Type.String(),
  pem: Type.String(),
  links: links(),
}, { additionalProperties: false });
/** A signed certificate (POST /v1/certificates): ca_cert_type only when the request named one. */
export const CertificateSigned = Type.Object({
  cluster_uuid: Type.String(),
  bay_uuid: Type.String(),
  csr: Type.String(),
  pem: Type.String(),
  links: links(),
  ca_cert_type: Type.Optional(Type.String()),
}, { additionalProperties: false });

/** A federation (Magnum's view; none is ever stored here, so the lists are empty). */
export const Federation = Type.Object({
  uuid: Type.String(),
  name: str(),
  hostcluster_id: str(),
  member_ids: strings(),
  properties: dict(),
  status: str(),
  status_reason: str(),
  links: links(),
  created_at: str(),
  updated_at: str(),
}, { additionalProperties: false });

/** GET /v1/stats: the clusters and their nodes counted. */
export const Stats = Type.Object({ clusters: Type.Integer(), nodes: Type.Integer() }, { additionalProperties: false });

/** GET /v1/mservices: each Magnum service (conductor) and whether it reported within service_down_time. */
export const MServiceList = Type.Object({
  mservices: Type.Array(Type.Object({
    id: Type.Integer(),
    host: str(),
    binary: str(),
    state: Type.Union([Type.Literal('up'), Type.Literal('down')]),
    report_count: Type.Integer(),
    disabled: Type.Boolean(),
    disabled_reason: str(),
    created_at: str(),
    updated_at: str(),
  }, { additionalProperties: false })),
}, { additionalProperties: false });

const resourceLinks = () => Type.Array(Type.Object({ href: Type.String(), rel: Type.String() }, { additionalProperties: false }));
/** GET /v1: the version's media types, links and each resource collection's links. */
export const V1 = Type.Object({
  id: Type.Literal('v1'),
  media_types: Type.Array(Type.Object({ base: Type.String(), type: Type.String() }, { additionalProperties: false })),
  links: Type.Array(Type.Object({ href: Type.String(), rel: Type.String(), type: Type.Optional(Type.String()) }, { additionalProperties: false })),
  ...Object.fromEntries(['baymodels', 'bays', 'clustertemplates', 'clusters', 'quotas', 'certificates', 'mservices', 'stats', 'federations', 'containers', 'services', 'pods', 'nodegroups'].map((k) => [k, resourceLinks()])),
}, { additionalProperties: false });

/** 202 of POST /v1/clusters/{ident}/images: the load started (src/conductor/images.ts) and its link. */
export const ImageLoadAccepted = Type.Object({
  uuid: Type.String(),
  cluster_uuid: Type.String(),
  file: Type.String(),
  size: Type.Integer(),
  nodes: strings(),
  links: links(),
}, { additionalProperties: false });
/** GET /v1/clusters/{ident}/images: each node's images (an unreachable node's list is empty). */
export const ClusterImages = Type.Object({
  cluster_uuid: Type.String(),
  nodes: Type.Array(Type.Object({
    address: Type.String(),
    role: Type.String(),
    reachable: Type.Boolean(),
    images: Type.Array(Type.Object({ name: Type.String(), id: Type.String(), size: Type.String() }, { additionalProperties: false })),
  }, { additionalProperties: false })),
}, { additionalProperties: false });
/** GET /v1/clusters/{ident}/images/{load}: a load's status, each node's outcome, its timeline. */
export const ImageLoad = Type.Object({
  uuid: Type.String(),
  cluster_uuid: Type.String(),
  status: Type.String(),
  status_reason: str(),
  nodes: Type.Object({}, { additionalProperties: Type.Object({ status: Type.String(), message: str() }, { additionalProperties: false }) }),
  events: Type.Array(Type.Object({ id: Type.Integer(), step: Type.String(), outcome: Type.String(), message: str(), created_at: str() }, { additionalProperties: false })),
}, { additionalProperties: false });

/** Magnum's error answer (src/api/hooks/errors.ts), declared by the routes that can only refuse. */
export const ErrorAnswer = Type.Object({
  errors: Type.Array(Type.Object({
    request_id: Type.String(),
    code: Type.String(),
    status: Type.Integer(),
    title: Type.String(),
    detail: Type.String(),
    links: Type.Array(Type.Unknown()),
  }, { additionalProperties: false })),
}, { additionalProperties: false });
/** Magnum's error answer under each status a route gives on its own. */
export const refusals = (...statuses: number[]): Record<number, TSchema> => Object.fromEntries(statuses.map((s) => [s, ErrorAnswer]));

/** A cluster's event timeline (GET /v1/clusters/{ident}/events), oldest first. */
export const ClusterEventList = Type.Object({
  events: Type.Array(Type.Object({
    id: Type.Integer(),
    operation_id: str(),
    step: str(),
    outcome: str(),
    message: str(),
    created_at: Type.String(),
  }, { additionalProperties: false })),
  next: Type.Optional(Type.String()),
}, { additionalProperties: false });

/** An answer without a body (204). */
export const NoContent = Type.Null({ description: 'No body' });

/**
 * What a route declares (Fastify's `schema` route option): its path parameters, query and body
 * (src/api/request-schemas.ts; the handlers check them) and its responses by status.
 */
export interface RouteSchema {
  summary: string;
  tags?: string[];
  params?: TSchema;
  querystring?: TSchema;
  body?: TSchema;
  response: Record<number, TSchema>;
}
