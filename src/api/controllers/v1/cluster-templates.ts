import { randomUUID } from 'node:crypto';
import { E } from '../../../common/errors.ts';
import type { Config } from '../../../conf/index.ts';
import { UniqueViolation } from '../../../db/api.ts';
import { COE_TYPES, SERVER_TYPES } from '../../../objects/fields.ts';
import type { ClusterTemplate } from '../../../objects/models.ts';
import type { ApiDeps, ApiRequest, Router } from '../../app.ts';
import { generateName, listQuery, nextLink, pageParams } from '../../common.ts';
import { COMMON_INTERNAL, applyPatch, parsePatchBody } from '../../patch.ts';
import { parseBody, type Fields } from '../../validation.ts';
import { templateView } from '../../views.ts';
import { ClusterTemplate as TemplateSchema, ClusterTemplateList, type RouteSchema } from '../../schemas.ts';
import { requireProject } from '../../../common/scope.ts';
import { adminWideScope, findTemplate, projectScope } from './lookup.ts';
import { TEMPLATE_TAG, cachedReply } from '../../read-cache.ts';

const s255 = { kind: 'string', min: 1, max: 255 } as const;
const bool = { kind: 'bool' } as const;

export const TEMPLATE_INPUT: Fields = {
  uuid: { type: { kind: 'uuid' } },
  name: { type: s255 },
  coe: { type: { kind: 'enum', values: COE_TYPES }, mandatory: true },
  image_id: { type: s255, mandatory: true },
  flavor_id: { type: s255 },
  master_flavor_id: { type: s255 },
  keypair_id: { type: s255 },
  dns_nameserver: { type: { kind: 'string', max: 255 } },
  external_network_id: { type: s255 },
  fixed_network: { type: s255 },
  fixed_subnet: { type: s255 },
  network_driver: { type: s255 },
  volume_driver: { type: s255 },
  apiserver_port: { type: { kind: 'int', min: 1024, max: 65535 } },
  docker_volume_size: { type: { kind: 'int', min: 1 } },
  docker_storage_driver: { type: s255 },
  cluster_distro: { type: s255 },
  http_proxy: { type: s255 },
  https_proxy: { type: s255 },
  no_proxy: { type: s255 },
  insecure_registry: { type: s255 },
  registry_enabled: { type: bool, default: false },
  labels: { type: { kind: 'labels' } },
  tls_disabled: { type: bool, default: false },
  public: { type: bool, default: false },
  hidden: { type: bool, default: false },
  server_type: { type: { kind: 'enum', values: SERVER_TYPES }, default: 'vm' },
  master_lb_enabled: { type: bool, default: false },
  floating_ip_enabled: { type: bool, default: true },
  tags: { type: { kind: 'string', min: 0, max: 255 } },
  project_id: { type: { kind: 'any' }, readonly: true },
  user_id: { type: { kind: 'any' }, readonly: true },
  links: { type: { kind: 'any' }, readonly: true },
  created_at: { type: { kind: 'any' }, readonly: true },
  updated_at: { type: { kind: 'any' }, readonly: true },
};

const NON_REMOVABLE = ['/coe', '/image_id', '/network_driver', '/external_network_id', '/tls_disabled', '/public', '/server_type', '/registry_enabled', '/cluster_distro', '/hidden'];
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

const NETWORK_DRIVERS: Record<string, string[]> = { kubernetes: ['flannel', 'calico'], swarm: ['docker', 'flannel'], 'swarm-mode': ['docker', 'flannel'] };
const VOLUME_DRIVERS: Record<string, string[]> = { kubernetes: ['cinder'], swarm: ['rexray'], 'swarm-mode': ['rexray'] };

/** Checks shared by create and update: COE support, network and volume drivers, DNS, labels. */
export function validateTemplate(conf: Config, t: Record<string, unknown>, opts: { legacy?: boolean } = {}): void {
  const coe = String(t.coe);
  if (coe === 'mesos' || coe === 'dcos') throw E.InvalidParameterValue(`Requested COE type ${coe} is not supported.`);
  const ct = conf.cluster_template;
  const family = coe === 'kubernetes' ? 'kubernetes' : 'swarm';
  if (t.network_driver === null || t.network_driver === undefined) {
    t.network_driver = family === 'kubernetes' ? ct.kubernetes_default_network_driver : ct.swarm_default_network_driver;
  }
  const allowedCfg = family === 'kubernetes' ? ct.kubernetes_allowed_network_drivers : ct.swarm_allowed_network_drivers;
  const supported = NETWORK_DRIVERS[coe] ?? [];
  const allowed = allowedCfg.includes('all') ? supported : supported.filter((d) => allowedCfg.includes(d));
  if (!allowed.includes(String(t.network_driver))) {
    throw E.InvalidParameterValue(`Network driver type ${t.network_driver} is not supported, expecting a ${allowed.join('/')}/unspecified network driver.`);
  }
  if (t.volume_driver !== null && t.volume_driver !== undefined) {
    const vols = VOLUME_DRIVERS[coe] ?? [];
    if (!vols.includes(String(t.volume_driver))) {
      throw E.InvalidParameterValue(`Volume driver type ${t.volume_driver} is not supported, expecting a ${vols.join('/')}/unspecified volume driver.`);
    }
  }
  if (t.docker_storage_driver === 'devicemapper' && typeof t.docker_volume_size === 'number' && t.docker_volume_size < 3) {
    throw E.InvalidParameterValue(`docker volume size ${t.docker_volume_size} GB is not valid, expecting minimum value 3GB for devicemapper storage driver.`);
  }
  if (t.dns_nameserver !== null && t.dns_nameserver !== undefined) {
    const dns = String(t.dns_nameserver);
    const parts = opts.legacy ? [dns] : dns.split(',').map((s) => s.trim());
    if (!parts.every((p) => IPV4.test(p))) throw E.InvalidDNS(dns);
  }
  const labels = (t.labels ?? {}) as Record<string, string>;
  if (labels.swarm_strategy !== undefined) {
    const ok = labels.swarm_strategy.split(/\s+/).every((s) => ['spread', 'binpack', 'random'].includes(s));
    if (!ok) throw E.InvalidParameterValue(`Invalid swarm strategy: ${labels.swarm_strategy}. Supported strategies are: spread, binpack, random`);
  }
}

/** Flavors and the external network must exist on the infrastructure (Magnum asks Nova and Neutron). */
export function validateInfra(deps: ApiDeps, t: Record<string, unknown>): void {
  for (const f of ['flavor_id', 'master_flavor_id']) {
    const v = t[f];
    if (typeof v === 'string' && !deps.catalog.flavorExists(v)) throw E.FlavorNotFound(v);
  }
  const ext = t.external_network_id;
  if (typeof ext === 'string' && !deps.catalog.externalNetworkExists(ext)) throw E.ExternalNetworkNotFound(ext);
}

export function registerClusterTemplates(router: Router, deps: ApiDeps, coll = 'clustertemplates', opts: { legacy?: boolean } = {}): void {
  const { storage, policy, conf } = deps;
  const rule = opts.legacy ? 'baymodel' : 'clustertemplate';
  const key = opts.legacy ? 'baymodels' : 'clustertemplates';
  const argName = opts.legacy ? 'baymodel' : 'cluster_template';
  const view = (t: ClusterTemplate, host: string) => templateView(t, host, coll, { owner: !opts.legacy });
  // The answers' schemas (the legacy baymodels are not declared yet: they are not in /v1/openapi.json).
  const declared = (summary: string, status: number, body: RouteSchema['response'][number]): RouteSchema | undefined =>
    (opts.legacy ? undefined : { summary, tags: ['clustertemplates'], response: { [status]: body } });
  // Legacy routes never switch admins to all projects.
  const scopeOf = (r: ApiRequest) => (opts.legacy ? projectScope(r.ctx) : adminWideScope(r.ctx));

  const list = (detail: boolean) => async (r: ApiRequest) => {
    listQuery(r.query);
    policy.enforce(r.ctx, `${rule}:${detail ? 'detail' : 'get_all'}`);
    if (r.ctx.isAdmin && !opts.legacy) policy.enforce(r.ctx, `${rule}:${detail ? 'detail' : 'get_all'}_all_projects`);
    const p = pageParams(r.query, 'cluster_template', conf.api.max_limit);
    const scope = scopeOf(r);
    // The page's JSON from the read cache while no template changed (src/api/read-cache.ts).
    return cachedReply(deps.cache, [coll, detail, scope, p, r.host], [TEMPLATE_TAG], async () => {
      const marker = p.marker ? (await storage.findClusterTemplates(scope, { uuid: p.marker }))[0] : undefined;
      if (p.marker && !marker) throw E.ClusterTemplateNotFound(p.marker);
      const page = { ...p, marker };
      const items = await storage.listClusterTemplates(scope, page);
      const body: Record<string, unknown> = { [key]: items.map((t) => view(t, r.host)) };
      const next = nextLink(r.host, detail ? `${coll}/detail` : coll, page, items);
      if (next) body.next = next;
      return { body };
    });
  };
  router.get(`/v1/${coll}`, list(false), declared('List cluster templates', 200, ClusterTemplateList));
  router.get(`/v1/${coll}/detail`, list(true), declared('List cluster templates with details', 200, ClusterTemplateList));

  router.get(`/v1/${coll}/:ident`, async (r) => {
    if (Object.keys(r.query).length) throw E.UnknownArgument(Object.keys(r.query)[0]);
    if (r.ctx.isAdmin && !opts.legacy) policy.enforce(r.ctx, `${rule}:get_one_all_projects`);
    const t = await findTemplate(storage, scopeOf(r), r.params.ident);
    if (!t.public) policy.enforce(r.ctx, `${rule}:get`, { ...t });
    return { status: 200, body: view(t, r.host) };
  }, declared('Show a cluster template (by uuid or name)', 200, TemplateSchema));

  router.post(`/v1/${coll}`, async (r) => {
    if (Object.keys(r.query).length) throw E.UnknownArgument(Object.keys(r.query)[0]);
    const fields = opts.legacy ? { ...TEMPLATE_INPUT, keypair_id: { ...TEMPLATE_INPUT.keypair_id, mandatory: true } } : TEMPLATE_INPUT;
    const input = parseBody(argName, fields, r.json());
    if (opts.legacy && input.labels) {
      for (const v of Object.values((r.json() as { labels: Record<string, unknown> }).labels)) {
        if (typeof v !== 'string') throw E.InvalidInput('labels', v, "Wrong type. Expected '<class 'str'>'");
      }
    }
    validateTemplate(conf, input, opts);
    const image = String(input.image_id);
    // The image must exist and carry an os_distro, which picks the driver (Magnum's validate_image).
    const osDistro = await deps.catalog.imageOsDistro(image);
    if (osDistro === undefined) throw E.ImageNotFound(image);
    if (osDistro === null) throw E.OSDistroFieldNotFound(image);
    input.cluster_distro = osDistro;
    if (!opts.legacy && !deps.catalog.driverSupports(String(input.server_type), (input.cluster_distro as string | null) ?? null, String(input.coe))) {
      throw E.ClusterTypeNotSupported(String(input.server_type), (input.cluster_distro as string | null) ?? null, String(input.coe));
    }
    policy.enforce(r.ctx, `${rule}:create`);
    validateInfra(deps, input);
    if (input.public === true || (!opts.legacy && input.hidden === true)) {
      if (!policy.check(r.ctx, `${rule}:publish`)) throw E.ClusterTemplatePublishDenied();
    }
    const values: Partial<ClusterTemplate> = {
      ...(input as Partial<ClusterTemplate>),
      uuid: (input.uuid as string | undefined) ?? randomUUID(),
      name: (input.name as string | null | undefined) ?? generateName(opts.legacy ? 'model' : 'template'),
      labels: (input.labels as Record<string, string> | null) ?? {},
      project_id: requireProject(r.ctx),
      user_id: r.ctx.userId,
    };
    let created: ClusterTemplate;
    try {
      created = await storage.createClusterTemplate(values);
    } catch (e) {
      if (e instanceof UniqueViolation) throw E.ClusterTemplateAlreadyExists(String(values.uuid));
      throw e;
    }
    return { status: 201, body: view(created, r.host), headers: { Location: `${r.host}/v1/${coll}/${created.uuid}` } };
  }, declared('Create a cluster template', 201, TemplateSchema));

  router.patch(`/v1/${coll}/:ident`, async (r) => {
    if (Object.keys(r.query).length) throw E.UnknownArgument(Object.keys(r.query)[0]);
    // A baymodel's keypair_id is mandatory, so (like every mandatory attribute) not removable.
    const ops = parsePatchBody(r.json(), { internal: COMMON_INTERNAL, nonRemovable: opts.legacy ? [...NON_REMOVABLE, '/keypair_id'] : NON_REMOVABLE });
    const t = await findTemplate(storage, scopeOf(r), r.params.ident);
    policy.enforce(r.ctx, `${rule}:update`, { ...t });
    if (r.ctx.isAdmin && !opts.legacy) policy.enforce(r.ctx, `${rule}:update_all_projects`);
    const current = view(t, r.host);
    const patched = applyPatch(current, ops);
    // Re-validate the result as a create body (read-only fields are those we put there ourselves).
    const changedInput: Record<string, unknown> = {};
    for (const k of Object.keys(TEMPLATE_INPUT)) if (k in patched && !TEMPLATE_INPUT[k].readonly) changedInput[k] = patched[k];
    for (const k of Object.keys(patched)) if (!(k in TEMPLATE_INPUT)) throw E.UnknownAttribute(argName, [k]);
    if (opts.legacy && patched.labels && typeof patched.labels === 'object') {
      for (const v of Object.values(patched.labels)) if (typeof v !== 'string') throw E.InvalidInput('labels', v, "Wrong type. Expected '<class 'str'>'");
    }
    const valid = parseBody(argName, TEMPLATE_INPUT, changedInput);
    if (valid.uuid !== t.uuid) throw E.InvalidParameterValue('Cannot overwrite UUID for an existing ClusterTemplate.');
    validateTemplate(conf, valid, opts);
    const changes: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(valid)) {
      const before = (t as unknown as Record<string, unknown>)[k] ?? null;
      if (JSON.stringify(before) !== JSON.stringify(v ?? null)) changes[k] = v ?? null;
    }
    if (('public' in changes || 'hidden' in changes) && !policy.check(r.ctx, `${rule}:publish`)) throw E.ClusterTemplatePublishDenied();
    if ('image_id' in changes) {
      const os = await deps.catalog.imageOsDistro(String(changes.image_id));
      // Magnum re-validates the image on update (validate_image): unknown → 400, no os_distro → 400.
      if (os === undefined) throw E.ImageNotFound(String(changes.image_id));
      if (os === null) throw E.OSDistroFieldNotFound(String(changes.image_id));
      if (os !== t.cluster_distro) changes.cluster_distro = os;
    }
    validateInfra(deps, changes);
    const keys = Object.keys(changes);
    if (keys.length && (await storage.isClusterTemplateReferenced(t.uuid))) {
      const allowed =
        keys.length === 1 &&
        ((keys[0] === 'public' && changes.public === true) || keys[0] === 'hidden' || (keys[0] === 'tags' && changes.tags !== null) || keys[0] === 'name');
      if (!allowed) throw E.ClusterTemplateReferenced(r.params.ident);
    }
    if (changes.labels === null) changes.labels = {};
    const updated = keys.length ? await storage.updateClusterTemplate(t.uuid, changes as Partial<ClusterTemplate>) : t;
    return { status: 200, body: view(updated, r.host) };
  }, declared('Update a cluster template (JSON Patch)', 200, TemplateSchema));

  router.delete(`/v1/${coll}/:ident`, async (r) => {
    if (Object.keys(r.query).length) throw E.UnknownArgument(Object.keys(r.query)[0]);
    const t = await findTemplate(storage, scopeOf(r), r.params.ident);
    policy.enforce(r.ctx, `${rule}:delete`, { ...t });
    if (r.ctx.isAdmin && !opts.legacy) policy.enforce(r.ctx, `${rule}:delete_all_projects`);
    if (!(await storage.deleteClusterTemplateIfUnused(t.uuid))) throw E.ClusterTemplateReferenced(r.params.ident);
    return { status: 204 };
  });
}
