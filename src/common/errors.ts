// The one error catalog. Every failure a client can cause is a MagnumError with Magnum's class
// name, HTTP status and message text; api/hooks/errors.ts renders it in Magnum's wire format.
// Errors cross RPC by class name (toWire / fromWire), keeping their status, as oslo.messaging does.

export class MagnumError extends Error {
  readonly status: number;
  readonly code: string;
  /** webob-style errors (routing 404/405, microversion 406) carry no title or detail on the wire. */
  readonly bare: boolean;
  constructor(code: string, status: number, message: string, bare = false) {
    super(message);
    this.name = code;
    this.code = code;
    this.status = status;
    this.bare = bare;
  }
}

type Maker<A extends unknown[]> = (...args: A) => MagnumError;
const def =
  <A extends unknown[]>(code: string, status: number, template: (...args: A) => string): Maker<A> =>
  (...args: A) =>
    new MagnumError(code, status, template(...args));

export const E = {
  // 400
  Invalid: def('Invalid', 400, (msg: string) => msg),
  InvalidParameterValue: def('InvalidParameterValue', 400, (msg: string) => msg),
  InvalidInput: def('InvalidInput', 400, (field: string, value: unknown, reason: string) =>
    `Invalid input for field/attribute ${field}. Value: '${pyRepr(value)}'. ${reason}`),
  UnknownAttribute: def('UnknownAttribute', 400, (arg: string, attrs: string[]) =>
    `Unknown attribute${attrs.length > 1 ? 's' : ''} for argument ${arg}: ${attrs.join(', ')}`),
  UnknownArgument: def('UnknownArgument', 400, (name: string) => `Unknown argument: "${name}"`),
  InvalidJson: def('ClientSideError', 400, (reason: string) => `Invalid data in the request body: ${reason}`),
  InvalidUUID: def('InvalidUUID', 400, (v: string) => `Expected a uuid but received ${v}.`),
  InvalidDNS: def('InvalidDNS', 400, (v: string) => `Expected a single dns address or comma separated dns list, but received ${v}.`),
  PatchError: def('PatchError', 400, (patch: string, reason: string) => `Couldn't apply patch '${patch}'. Reason: ${reason}`),
  ClusterTemplateReferenced: def('ClusterTemplateReferenced', 400, (ct: string) =>
    `ClusterTemplate ${ct} is referenced by one or multiple clusters.`),
  NotSupported: def('NotSupported', 400, (msg: string) => msg),
  ClusterTypeNotSupported: def('ClusterTypeNotSupported', 400, (serverType: string, os: string | null, coe: string) =>
    `Cluster type (${serverType}, ${os ?? 'None'}, ${coe}) not supported.`),
  MasterNGResizeNotSupported: def('MasterNGResizeNotSupported', 400, () => 'Resizing a master nodegroup is not supported.'),
  ZeroNodeCountNotSupported: def('ZeroNodeCountNotSupported', 400, () =>
    'Resizing a nodegroup to zero is not supported in the provided microversion.'),
  ClusterUpgradeNotSupported: def('ClusterUpgradeNotSupported', 400, () =>
    'Cluster upgrade is not supported in the provided microversion.'),
  DeletingDefaultNGNotSupported: def('DeletingDefaultNGNotSupported', 400, () => 'Deleting a default nodegroup is not supported.'),
  CreateMasterNodeGroup: def('CreateMasterNodeGroup', 400, () => 'Creating master nodegroups is currently not supported.'),
  NGResizeOutBounds: def('NGResizeOutBounds', 400, (ng: string, min: number, max: number | null) =>
    `Resizing ${ng} outside the allowed range: min_node_count = ${min}, max_node_count = ${max ?? 'None'}`),
  OperationInProgress: def('OperationInProgress', 400, (name: string) => `Cluster ${name} already has an operation in progress.`),
  NgOperationInProgress: def('NgOperationInProgress', 400, (ng: string) => `Nodegroup ${ng} already has an operation in progress.`),
  ImageNotFound: def('ImageNotFound', 400, (img: string) => `Image ${img} could not be found.`),
  OSDistroFieldNotFound: def('OSDistroFieldNotFound', 400, (img: string) => `Image ${img} doesn't contain os_distro field.`),
  FlavorNotFound: def('FlavorNotFound', 400, (f: string) => `Unable to find flavor ${f}.`),
  ExternalNetworkNotFound: def('ExternalNetworkNotFound', 400, (n: string) => `Unable to find external network ${n}.`),
  InvalidCsr: def('InvalidCsr', 400, (csr: string) => `Received invalid csr ${csr}.`),
  CertificateValidationError: def('CertificateValidationError', 400, (ext: string) => `Extension '${ext}' not allowed`),
  // 403
  NotAuthorized: def('NotAuthorized', 403, () => 'Not authorized.'),
  ProjectScopeRequired: def('ProjectScopeRequired', 403, () =>
    'A project-scoped token is required. This request has no project scope, so it can act on no project resources.'),
  PolicyNotAuthorized: def('PolicyNotAuthorized', 403, (action: string) => `Policy doesn't allow ${action} to be performed.`),
  ClusterTemplatePublishDenied: def('ClusterTemplatePublishDenied', 403, () =>
    'Not authorized to set public or hidden flag for cluster template.'),
  ResourceLimitExceeded: def('ResourceLimitExceeded', 403, (msg: string) => `Resource limit exceeded: ${msg}`),
  // 404
  ClusterNotFound: def('ClusterNotFound', 404, (c: string) => `Cluster ${c} could not be found.`),
  ClusterTemplateNotFound: def('ClusterTemplateNotFound', 404, (ct: string) => `ClusterTemplate ${ct} could not be found.`),
  NodeGroupNotFound: def('NodeGroupNotFound', 404, (ng: string) => `Nodegroup ${ng} could not be found.`),
  FederationNotFound: def('FederationNotFound', 404, (f: string) => `Federation ${f} could not be found.`),
  ContainerNotFound: def('ContainerNotFound', 404, (c: string) => `Container ${c} could not be found.`),
  ServiceNotFound: def('ServiceNotFound', 404, (s: string) => `Service ${s} could not be found.`),
  PodNotFound: def('PodNotFound', 404, (p: string) => `Pod ${p} could not be found.`),
  QuotaNotFound: def('QuotaNotFound', 404, (p: string, r: string) => `Quota could not be found: project_id ${p} resource ${r}.`),
  ProjectNotFound: def('ProjectNotFound', 404, (name: string, id: string) => `The ${name} ${id} could not be found.`),
  KeyPairNotFound: def('KeyPairNotFound', 404, (k: string) => `Unable to find keypair ${k}.`),
  ResourceNotFound: def('ResourceNotFound', 404, (name: string, id: string) => `The ${name} resource ${id} could not be found.`),
  // 409
  Conflict: def('Conflict', 409, (msg: string) => msg),
  ClusterAlreadyExists: def('ClusterAlreadyExists', 409, (uuid: string) => `A cluster with UUID ${uuid} already exists.`),
  ClusterTemplateAlreadyExists: def('ClusterTemplateAlreadyExists', 409, (uuid: string) =>
    `A ClusterTemplate with UUID ${uuid} already exists.`),
  QuotaAlreadyExists: def('QuotaAlreadyExists', 409, (p: string, r: string) =>
    `Quota for project ${p} already exists for resource ${r}.`),
  NodeGroupAlreadyExists: def('NodeGroupAlreadyExists', 409, (name: string, cluster: string) =>
    `A node group with name ${name} already exists in the cluster ${cluster}.`),
  NodeGroupInvalidInput: def('NodeGroupInvalidInput', 409, (attr: string, ng: string, expl: string) =>
    `${attr} for ${ng} is invalid (${expl}).`),
  InvalidClusterTemplateForUpgrade: def('InvalidClusterTemplateForUpgrade', 409, (reason: string) =>
    `Cluster Template is not valid for upgrade: ${reason}`),
  ClusterAPIAddressUnavailable: def('ClusterAPIAddressUnavailable', 409, () => 'Cluster API address is not available yet'),
  MemberAlreadyExists: def('MemberAlreadyExists', 409, (uuid: string, fed: string) =>
    `A cluster with UUID ${uuid} is already a member of the federation ${fed}.`),
  // Routing and protocol errors that Magnum renders in the "webob" form (no title/detail).
  RouteNotFound: () => new MagnumError('HTTPNotFound', 404, 'The resource could not be found.', true),
  MethodNotAllowed: () => new MagnumError('HTTPMethodNotAllowed', 405, 'The method is not allowed for this resource.', true),
  NotAcceptable: (msg: string) => new MagnumError('HTTPNotAcceptable', 406, msg, true),
  RequestEntityTooLarge: def('RequestEntityTooLarge', 413, (limit: number) =>
    `Request is too large. The request body exceeds the limit of ${limit} bytes.`),
  UnsupportedMediaType: def('UnsupportedMediaType', 415, (t: string) => `The media type ${t} is not supported, use application/json.`),
  // 401 from the auth layer (keystonemiddleware's body form, rendered specially).
  Unauthorized: () => new MagnumError('Unauthorized', 401, 'The request you have made requires authentication.'),
  // Service-side failures: clear words, never a stack trace.
  ServiceUnavailable: def('ServiceUnavailable', 503, (msg: string) => msg),
  GatewayTimeout: def('MessagingTimeout', 504, (msg: string) => msg),
} as const;

/** Render a value the way Magnum's Python messages do ('None', 'True', plain strings). */
export function pyRepr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function isMagnumError(e: unknown): e is MagnumError {
  return e instanceof MagnumError;
}

export interface WireError {
  code: string;
  status: number;
  message: string;
}

export function toWire(e: unknown): WireError {
  if (e instanceof MagnumError) return { code: e.code, status: e.status, message: e.message };
  return { code: 'InternalError', status: 500, message: 'The conductor failed to handle the request; see its log.' };
}

export function fromWire(w: WireError): MagnumError {
  return new MagnumError(w.code, w.status, w.message);
}
