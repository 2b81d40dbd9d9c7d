// /v1/services and /v1/pods: Magnum 2015's workload objects, beside Magnum 15's routes (no Magnum
// 15 route is named so; /v1/mservices is the service list of Magnum itself).
//
// On swarm-mode clusters a service is a Swarm service made from a Compose-style definition
// (src/objects/manifests.ts). On kubernetes clusters services and pods are Kubernetes objects made
// from Kubernetes manifests (§12.2), through the driver's Kubernetes backend; pods exist only there.
//
//   GET    /v1/{services,pods}[?cluster_ident=|bay_ident=][&limit&marker&sort_key&sort_dir]  stored fields
//   GET    /v1/{services,pods}/detail[?same]                                                 live fields too
//   GET    /v1/{services,pods}/{ident}[?cluster_ident=]                                      200, live
//   POST   /v1/{services,pods}   {"cluster_uuid"|"bay_uuid", "manifest", "name"?}             201
//   PATCH  /v1/{services,pods}/{ident}[?cluster_ident=]  JSON-Patch (/manifest..., /image, /replicas)  202
//   DELETE /v1/{services,pods}/{ident}[?cluster_ident=]                                      204
import { randomUUID } from 'node:crypto';
import type { Operation } from 'rfc6902';
import { Type } from 'typebox';
import { E } from '../../../common/errors.ts';
import type { LiveReply } from '../../../conductor/api.ts';
import {
  ManifestError, SERVICE_NAME_RE, isKubernetesManifest, manifestError, parseKubernetesPod, parseKubernetesService,
  parseManifestDocument, parseSwarmService, publishAddress, type SwarmServiceManifest,
} from '../../../objects/manifests.ts';
import type { Cluster, Workload } from '../../../objects/models.ts';
import type { ApiDeps, ApiRequest, Router } from '../../app.ts';
import { generateName, identLookup, isoTime, pageParams, pageQuery, resourceLinks } from '../../common.ts';
import { COMMON_INTERNAL, describePatchFailure, patchFailure } from '../../patch.ts';
import { Body, NoQuery, Params, Query, W, described, patchDocument } from '../../request-schemas.ts';
import { NoContent, refusals } from '../../schemas.ts';
import { Pod, PodDetailList, PodList, Service, ServiceDetailList, ServiceList } from '../../workload-schemas.ts';
import { adminWideScope, findCluster } from './lookup.ts';

type Kind = Workload['kind'];

const CREATE_TIMEOUT_MS = 90_000;
const SHOW_TIMEOUT_MS = 45_000;

const KINDS = {
  service: { coll: 'services', plural: 'services', notFound: E.ServiceNotFound },
  pod: { coll: 'pods', plural: 'pods', notFound: E.PodNotFound },
} as const;

const s255 = () => W.str({ min: 1, max: 255 });

/**
 * A service or pod as a create takes it. The cluster (cluster_uuid or its legacy name bay_uuid) and
 * the manifest are required, checked by the handler after the body's shape, in Magnum 2015's order:
 * manifest_url, the two cluster names, the cluster, the manifest. The manifest is free-form here:
 * src/objects/manifests.ts checks it once the cluster's COE says which format it is.
 */
const WorkloadCreate = (argument: Kind) => Body(argument, {
  name: s255(),
  cluster_uuid: described('The cluster (uuid or name); required unless bay_uuid is given', s255()),
  bay_uuid: described('The legacy name of cluster_uuid', s255()),
  manifest: described(argument === 'pod'
    ? 'Required: a Kubernetes Pod manifest, as a JSON object or as YAML or JSON text'
    : 'Required: a Compose-style service definition (swarm-mode clusters) or a Kubernetes Service manifest (kubernetes clusters), as a JSON object or as YAML or JSON text'),
  manifest_url: described('Not supported (refused unless null): send the manifest itself'),
  ...Object.fromEntries([
    'uuid', 'coe', 'status', 'status_reason', 'image', 'images', 'replicas', 'running_replicas', 'ports', 'endpoints', 'update_status',
    'nodes', 'tasks', 'labels', 'selector', 'ip', 'host', 'desc', 'backend_id', 'project_id', 'user_id', 'links', 'created_at', 'updated_at',
  ].map((n) => [n, W.readonly()])),
});
export const ServiceCreate = WorkloadCreate('service');
export const PodCreate = WorkloadCreate('pod');
const CREATE = { service: ServiceCreate, pod: PodCreate };
const clusterQuery = { cluster_ident: W.str({ min: 1 }), bay_ident: W.str({ min: 1 }) };
/** A list's query: its page and the cluster it is limited to (either name), none repeated. */
export const WorkloadListQuery = pageQuery(clusterQuery);
/** One object's query: the cluster it is looked for in. */
export const WorkloadQuery = Query(clusterQuery, { singleValued: true });
/** JSON-Patch operations on a workload (parsePatch checks them); values may be any JSON: manifests are structured. */
const WorkloadPatch = patchDocument(Type.String({ pattern: '^(/[^/]+)+$', description: '/manifest/..., or /image and /replicas on a Swarm service' }), Type.Unknown());
const ident = Params('ident');

/** Paths a PATCH may not touch (the resource's identity and what the COE reports). */
const INTERNAL = [
  ...COMMON_INTERNAL, '/cluster_uuid', '/bay_uuid', '/coe', '/backend_id', '/status', '/status_reason', '/running_replicas',
  '/update_status', '/nodes', '/tasks', '/endpoints', '/ports', '/labels', '/selector', '/ip', '/host', '/images', '/desc',
];
/** Shorthands of paths inside a Swarm service's normalised manifest. */
const SWARM_ALIASES: Record<string, string> = {
  '/image': '/manifest/image',
  '/replicas': '/manifest/deploy/replicas',
  '/manifest/replicas': '/manifest/deploy/replicas',
  '/manifest/constraints': '/manifest/deploy/placement/constraints',
};

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Ingress ports are published on the cluster's address: fill it in; another one is a 400. */
function placePorts(m: SwarmServiceManifest, cluster: Cluster, prefix: string): void {
  const address = publishAddress(cluster);
  m.ports.forEach((p, i) => {
    if (p.mode !== 'ingress') return;
    if (!address) throw E.ClusterAPIAddressUnavailable();
    if (p.host_ip !== null && p.host_ip !== '0.0.0.0' && p.host_ip !== address) {
      throw E.Invalid(`Invalid manifest: ${prefix}ports[${i}].host_ip: the services of cluster ${cluster.name ?? cluster.uuid} are published on ${address}, not ${p.host_ip}`);
    }
    p.host_ip = address;
  });
}

/** The stored fields: what a brief list shows, without asking the cluster. */
function briefView(w: Workload, host: string): Record<string, unknown> {
  const { coll } = KINDS[w.kind];
  const out: Record<string, unknown> = { uuid: w.uuid, name: w.name, cluster_uuid: w.cluster_id, bay_uuid: w.cluster_id, coe: w.coe };
  const m = w.manifest as Record<string, any>;
  if (w.kind === 'service' && w.coe === 'swarm-mode') {
    const sm = m as unknown as SwarmServiceManifest;
    out.image = sm.image;
    out.replicas = sm.deploy.replicas;
    out.ports = sm.ports.map((p) => (p.mode === 'ingress' ? { ...p, endpoint: `${p.host_ip}:${p.published}` } : { ...p }));
    out.endpoints = sm.ports.filter((p) => p.mode === 'ingress').map((p) => `${p.host_ip}:${p.published}`);
    out.labels = sm.deploy.labels;
  } else if (w.kind === 'service') {
    out.labels = m.metadata?.labels ?? {};
    out.selector = m.spec?.selector ?? {};
    out.ports = m.spec?.ports ?? [];
  } else {
    out.labels = m.metadata?.labels ?? {};
    out.images = (m.spec?.containers ?? []).map((c: Record<string, unknown>) => c.image);
  }
  out.links = resourceLinks(host, `${coll}/${w.uuid}`);
  return out;
}

/** Field order of the full representation (live fields not listed here follow them). */
const FULL_ORDER = [
  'uuid', 'name', 'cluster_uuid', 'bay_uuid', 'coe', 'status', 'status_reason', 'image', 'images', 'replicas', 'running_replicas',
  'ports', 'endpoints', 'update_status', 'nodes', 'tasks', 'labels', 'selector', 'ip', 'host', 'desc',
];

/** Everything: the stored fields, the live ones over them, the manifest, owners and times. */
function fullView(w: Workload, live: LiveReply | undefined, host: string): Record<string, unknown> {
  const { links, ...stored } = briefView(w, host);
  const merged: Record<string, unknown> = { ...stored, status: 'UNKNOWN', status_reason: null };
  if (live && 'live' in live) Object.assign(merged, live.live);
  else if (live && 'error' in live) merged.status_reason = live.error.message;
  // The published ports and endpoints are the stored ones, whatever the COE reports.
  if (stored.ports !== undefined) merged.ports = stored.ports;
  if (stored.endpoints !== undefined) merged.endpoints = stored.endpoints;
  const out: Record<string, unknown> = {};
  for (const k of FULL_ORDER) if (k in merged) out[k] = merged[k];
  for (const [k, v] of Object.entries(merged)) if (!(k in out) && k !== 'backend_id') out[k] = v;
  out.manifest = w.manifest;
  out.backend_id = (merged.backend_id as string | undefined) ?? w.backend_id;
  out.project_id = w.project_id;
  out.user_id = w.user_id;
  out.links = links;
  out.created_at = isoTime(w.created_at);
  out.updated_at = isoTime(w.updated_at);
  return out;
}

interface ParsedInput {
  name: string;
  manifest: Record<string, unknown>;
}

/** The COE decides the manifest format; every problem is a 400 that says what is wrong. */
function parseFor(kind: Kind, coe: string, cluster: Cluster, raw: unknown, bodyName: string | null): ParsedInput {
  try {
    const doc = parseManifestDocument(raw);
    if (kind === 'pod') {
      const parsed = parseKubernetesPod(doc);
      const name = sameName(bodyName, parsed.name, 'metadata.name');
      if (coe !== 'kubernetes') throw E.NotSupported(`Pods are not supported for COE ${coe}.`);
      return { name, manifest: parsed.manifest };
    }
    if (isKubernetesManifest(doc)) {
      const parsed = parseKubernetesService(doc);
      const name = sameName(bodyName, parsed.name, 'metadata.name');
      if (coe !== 'kubernetes') {
        throw E.NotSupported(`Kubernetes services are not supported for COE ${coe}: send a Compose-style service definition (image, replicas, ports, ...).`);
      }
      return { name, manifest: parsed.manifest };
    }
    if (coe === 'kubernetes') throw new ManifestError('a Kubernetes Service manifest (apiVersion: v1, kind: Service, metadata.name, spec.ports) is expected on COE kubernetes');
    if (coe !== 'swarm-mode') throw E.NotSupported(`Services are not supported for COE ${coe}.`);
    const parsed = parseSwarmService(doc);
    placePorts(parsed.manifest, cluster, 'services' in doc ? `services.${parsed.name}.` : '');
    const name = parsed.name === null ? bodyName ?? generateName('service') : sameName(bodyName, parsed.name, 'services' in doc ? 'services' : 'name');
    if (!SERVICE_NAME_RE.test(name)) {
      throw E.InvalidInput('name', name, 'A Swarm service name has letters, digits, "_", "." and "-", at most 63 characters, starting with a letter or digit.');
    }
    return { name, manifest: parsed.manifest as unknown as Record<string, unknown> };
  } catch (err) {
    throw manifestError(err);
  }
}

function sameName(bodyName: string | null, manifestName: string, field: string): string {
  if (bodyName !== null && bodyName !== manifestName) throw new ManifestError(`${field}: ${JSON.stringify(manifestName)} differs from the name ${JSON.stringify(bodyName)} in the request`);
  return manifestName;
}

/** JSON-Patch operations on a workload; values may be any JSON (manifests are structured). */
function parsePatch(body: unknown, kind: Kind): Operation[] {
  if (!Array.isArray(body)) throw E.Invalid('Invalid input for argument patch: a JSON-Patch document (a JSON array of operations) is expected');
  return body.map((raw) => {
    if (!isObject(raw)) throw E.Invalid('Invalid input for argument patch: each operation must be a JSON object');
    const unknown = Object.keys(raw).filter((k) => !['op', 'path', 'value'].includes(k));
    if (unknown.length) throw E.UnknownAttribute('patch', unknown.sort());
    if (raw.path === undefined || raw.path === null) throw E.InvalidInput('path', null, 'Mandatory field missing.');
    if (typeof raw.path !== 'string' || !/^(\/[^/]+)+$/.test(raw.path)) throw E.InvalidInput('path', raw.path, 'Value should be a JSON pointer such as /manifest/image');
    if (raw.op === undefined || raw.op === null) throw E.InvalidInput('op', null, 'Mandatory field missing.');
    if (!['add', 'replace', 'remove'].includes(raw.op as string)) throw E.InvalidInput('op', raw.op, 'Value should be one of: add, replace, remove');
    const op = raw.op as 'add' | 'replace' | 'remove';
    if (op !== 'remove' && (!('value' in raw) || raw.value === undefined)) throw E.Invalid("'add' and 'replace' operations needs value");
    const root = `/${raw.path.split('/')[1]}`;
    if (INTERNAL.includes(raw.path) || INTERNAL.includes(root)) throw E.Invalid(`'${raw.path}' is an internal attribute and can not be updated`);
    if (root === '/name') throw E.Invalid(`'/name' can not be updated: the name of a ${kind} is fixed; create another ${kind}`);
    if (root !== '/manifest' && !(root in SWARM_ALIASES)) throw E.UnknownAttribute(kind, [raw.path.split('/')[1]]);
    return op === 'remove' ? { op, path: raw.path } : { op, path: raw.path, value: raw.value };
  });
}

export function registerServices(router: Router, deps: ApiDeps): void {
  registerWorkloads(router, deps, 'service');
}

export function registerPods(router: Router, deps: ApiDeps): void {
  registerWorkloads(router, deps, 'pod');
}

function registerWorkloads(router: Router, deps: ApiDeps, kind: Kind): void {
  const { storage, policy, conf, conductor } = deps;
  const { coll, plural } = KINDS[kind];
  const base = `/v1/${coll}`;
  const tags = [coll];
  const [One, Detail, Brief] = kind === 'service' ? [Service, ServiceDetailList, ServiceList] : [Pod, PodDetailList, PodList];

  const clusterFilter = (r: ApiRequest): string | undefined => {
    const a = r.query.cluster_ident;
    const b = r.query.bay_ident;
    if (a !== undefined && b !== undefined && a !== b) throw E.Invalid('cluster_ident and bay_ident name different clusters; give one of them.');
    const v = a ?? b;
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !v) throw E.InvalidInput('cluster_ident', v, 'Expected a cluster uuid or name.');
    return v;
  };

  /** The workload by uuid or name, in the caller's scope (another project's is a 404). */
  const find = async (r: ApiRequest): Promise<Workload> => {
    r.checkQuery();
    const scope = adminWideScope(r.ctx);
    const ident = clusterFilter(r);
    const cluster = ident === undefined ? undefined : await findCluster(storage, scope, ident);
    const found = await storage.workloads.find(kind, scope, identLookup(r.params.ident), cluster?.uuid);
    if (found.length === 0) throw KINDS[kind].notFound(r.params.ident);
    if (found.length > 1) throw E.Conflict(`Multiple ${plural} exist with same name. Please use the ${kind} uuid instead.`);
    return found[0];
  };

  const list = (detail: boolean) => async (r: ApiRequest) => {
    r.checkQuery();
    policy.enforce(r.ctx, `${kind}:${detail ? 'detail' : 'get_all'}`, { project_id: r.ctx.projectId, user_id: r.ctx.userId });
    const scope = adminWideScope(r.ctx);
    const ident = clusterFilter(r);
    const cluster = ident === undefined ? undefined : await findCluster(storage, scope, ident);
    if (cluster) {
      const coe = (await storage.getClusterTemplateByUuid(cluster.cluster_template_id ?? ''))?.coe ?? '';
      if (kind === 'pod' && coe !== 'kubernetes') throw E.NotSupported(`Pods are not supported for COE ${coe}.`);
      if (kind === 'service' && coe !== 'kubernetes' && coe !== 'swarm-mode') throw E.NotSupported(`Services are not supported for COE ${coe}.`);
    }
    const p = pageParams(r.query, 'cluster_workload', conf.api.max_limit);
    const marker = p.marker ? (await storage.workloads.find(kind, scope, { uuid: p.marker }))[0] : undefined;
    if (p.marker && !marker) throw KINDS[kind].notFound(p.marker);
    const page = { ...p, marker };
    const rows = await storage.workloads.list(kind, scope, page, cluster?.uuid);
    let items: Record<string, unknown>[];
    if (detail && rows.length) {
      const live = await conductor.workloadShowMany(r.ctx, kind, rows.map((w) => w.uuid), CREATE_TIMEOUT_MS);
      items = rows.map((w) => fullView(w, live[w.uuid], r.host));
    } else items = rows.map((w) => (detail ? fullView(w, undefined, r.host) : briefView(w, r.host)));
    const body: Record<string, unknown> = { [coll]: items };
    if (rows.length && rows.length === page.limit) {
      const filter = cluster ? `&cluster_ident=${cluster.uuid}` : '';
      body.next = `${r.host}/v1/${coll}${detail ? '/detail' : ''}?sort_key=${page.sortKey}&sort_dir=${page.sortDir}&limit=${page.limit}&marker=${rows[rows.length - 1].uuid}${filter}`;
    }
    return { status: 200, body };
  };
  router.get(base, list(false), { summary: `List ${plural} (their stored fields)`, tags, querystring: WorkloadListQuery, response: { 200: Brief, ...refusals(400, 403, 404) } });
  router.get(`${base}/detail`, list(true), {
    summary: `List ${plural} with their live state`, tags, querystring: WorkloadListQuery, response: { 200: Detail, ...refusals(400, 403, 404, 503, 504) },
  });

  router.get(`${base}/:ident`, async (r) => {
    const w = await find(r);
    policy.enforce(r.ctx, `${kind}:get`, { ...w });
    const live = await conductor.workloadShow(r.ctx, kind, w.uuid, SHOW_TIMEOUT_MS);
    return { status: 200, body: fullView(w, live, r.host) };
  }, { summary: `Show a ${kind} (by uuid or name) with its live state`, tags, params: ident, querystring: WorkloadQuery, response: { 200: One, ...refusals(400, 403, 404, 409, 503, 504) } });

  router.post(base, async (r) => {
    r.checkQuery();
    const input = r.body();
    if (input.manifest_url !== undefined && input.manifest_url !== null) {
      throw E.Invalid('manifest_url is not supported: send the manifest itself in "manifest" (YAML or JSON text, or a JSON object).');
    }
    const a = input.cluster_uuid as string | null | undefined;
    const b = input.bay_uuid as string | null | undefined;
    if (a && b && a !== b) throw E.Invalid('cluster_uuid and bay_uuid name different clusters; give one of them.');
    const clusterIdent = a ?? b;
    if (!clusterIdent) throw E.InvalidInput('cluster_uuid', null, 'Mandatory field missing.');
    if (input.manifest === undefined || input.manifest === null) throw E.InvalidInput('manifest', null, 'Mandatory field missing.');
    if (typeof input.manifest !== 'string' && !isObject(input.manifest)) {
      throw E.Invalid(`Invalid manifest: expected YAML or JSON text or a JSON object, got ${Array.isArray(input.manifest) ? 'a list' : typeof input.manifest}`);
    }
    policy.enforce(r.ctx, `${kind}:create`, { project_id: r.ctx.projectId, user_id: r.ctx.userId });
    const cluster = await findCluster(storage, adminWideScope(r.ctx), clusterIdent);
    const template = await storage.getClusterTemplateByUuid(cluster.cluster_template_id ?? '');
    const coe = template?.coe ?? '';
    const parsed = parseFor(kind, coe, cluster, input.manifest, (input.name as string | null | undefined) ?? null);
    if (!cluster.api_address) throw E.ClusterAPIAddressUnavailable();
    const uuid = randomUUID();
    const reply = await conductor.workloadCreate(r.ctx, kind, cluster.uuid, { uuid, name: parsed.name, project_id: cluster.project_id, user_id: r.ctx.userId, manifest: parsed.manifest }, CREATE_TIMEOUT_MS);
    const row = await storage.workloads.get(uuid);
    if (!row) throw KINDS[kind].notFound(uuid);
    return { status: 201, body: fullView(row, reply, r.host) };
  }, { summary: `Create a ${kind} from its manifest`, tags, querystring: NoQuery, body: CREATE[kind], response: { 201: One, ...refusals(400, 403, 404, 409, 503, 504) } });

  router.patch(`${base}/:ident`, async (r) => {
    const w = await find(r);
    policy.enforce(r.ctx, `${kind}:update`, { ...w });
    const ops = parsePatch(r.json(), kind);
    const cluster = await storage.getClusterByUuid(w.cluster_id);
    if (!cluster) throw E.ClusterNotFound(w.cluster_id);
    const swarm = w.coe === 'swarm-mode';
    const rfcOps = ops.map((o) => {
      const alias = swarm ? SWARM_ALIASES[o.path] : undefined;
      if (!swarm && o.path !== '/manifest' && !o.path.startsWith('/manifest/')) throw E.UnknownAttribute(kind, [o.path.split('/')[1]]);
      return alias ? { ...o, path: alias } : o;
    });
    const doc: Record<string, unknown> = { manifest: structuredClone(w.manifest) };
    const failed = patchFailure(doc, rfcOps);
    if (failed) {
      const why = failed.name === 'MissingError' ? `${describePatchFailure(failed)}; use "add"` : describePatchFailure(failed);
      throw E.PatchError(JSON.stringify(ops), why);
    }
    // The patched manifest is validated like a new one; the name stays.
    const { manifest } = parseFor(kind, w.coe, cluster, doc.manifest, w.name);
    const ports = (m: Record<string, unknown>) => JSON.stringify((m as unknown as SwarmServiceManifest).ports ?? null);
    if (swarm && ports(manifest) !== ports(w.manifest)) {
      throw E.Invalid('Invalid manifest: ports: cannot be changed by an update; delete the service and create it again');
    }
    const reply = await conductor.workloadUpdate(r.ctx, kind, w.uuid, manifest, CREATE_TIMEOUT_MS);
    const row = (await storage.workloads.get(w.uuid)) ?? w;
    return { status: 202, body: fullView(row, reply, r.host) };
  }, {
    summary: `Update a ${kind}'s manifest (JSON Patch)`, tags, params: ident, querystring: WorkloadQuery, body: WorkloadPatch,
    response: { 202: One, ...refusals(400, 403, 404, 409, 503, 504) },
  });

  router.delete(`${base}/:ident`, async (r) => {
    const w = await find(r);
    policy.enforce(r.ctx, `${kind}:delete`, { ...w });
    await conductor.workloadDelete(r.ctx, kind, w.uuid, CREATE_TIMEOUT_MS);
    return { status: 204 };
  }, { summary: `Delete a ${kind}`, tags, params: ident, querystring: WorkloadQuery, response: { 204: NoContent, ...refusals(400, 403, 404, 409, 503, 504) } });
}
