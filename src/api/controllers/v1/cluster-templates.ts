import { randomUUID } from 'node:crypto';
import { E } from '../../../common/errors.ts';
import type { Config } from '../../../conf/index.ts';
import { UniqueViolation } from '../../../db/api.ts';
import { COE_TYPES, SERVER_TYPES } from '../../../objects/fields.ts';
import type { ClusterTemplate } from '../../../objects/models.ts';
import type { ApiDeps, ApiRequest, Router } from '../../app.ts';
import { PageQuery, generateName, nextLink, pageParams } from '../../common.ts';
import { COMMON_INTERNAL, applyPatch, parsePatchBody } from '../../patch.ts';
import { Body, NoQuery, Params, PatchDocument, W, mandatory, validateBody } from '../../request-schemas.ts';
import { templateView } from '../../views.ts';
import { Baymodel, BaymodelList, ClusterTemplate as TemplateSchema, ClusterTemplateList, NoContent, type RouteSchema } from '../../schemas.ts';
import { requireProject } from '../../../common/scope.ts';
import { adminWideScope, findTemplate, projectScope } from './lookup.ts';
import { TEMPLATE_TAG, cachedReply, pageKey, scopeKey } from '../../read-cache.ts';

const s255 = () => W.str({ min: 1, max: 255 });
const READONLY = ['project_id', 'user_id', 'links', 'created_at', 'updated_at'];

/** A template's attributes as a create takes them (a PATCH's result is checked against them too). */
const templateFields = (keypair = s255()) => ({
  uuid: W.uuid(),
  name: s255(),
  coe: mandatory(W.enum(COE_TYPES)),
  image_id: mandatory(s255()),
  flavor_id: s255(),
  master_flavor_id: s255(),
  keypair_id: keypair,
  dns_nameserver: W.str({ max: 255 }),
  external_network_id: s255(),
  fixed_network: s255(),
  fixed_subnet: s255(),
  network_driver: s255(),
  volume_driver: s255(),
  apiserver_port: W.int({ min: 1024, max: 65535 }),
  docker_volume_size: W.int({ min: 1 }),
  docker_storage_driver: s255(),
  cluster_distro: s255(),
  http_proxy: s255(),
  https_proxy: s255(),
  no_proxy: s255(),
  insecure_registry: s255(),
  registry_enabled: W.bool({ default: false }),
  labels: W.labels(),
  tls_disabled: W.bool({ default: false }),
  public: W.bool({ default: false }),
  hidden: W.bool({ default: false }),
  server_type: W.enum(SERVER_TYPES, { default: 'vm' }),
  master_lb_enabled: W.bool({ default: false }),
  floating_ip_enabled: W.bool({ default: true }),
  tags: W.str({ min: 0, max: 255 }),
  ...Object.fromEntries(READONLY.map((n) => [n, W.readonly()])),
});
export const TemplateCreate = Body('cluster_template', templateFields(), ['coe', 'image_id']);
/** A baymodel's keypair_id is mandatory in a create (not in the result of a PATCH). */
const BaymodelCreate = Body('baymodel', templateFields(mandatory(s255())), ['coe', 'image_id', 'keypair_id']);
const BaymodelPatched = Body('baymodel', templateFields(), ['coe', 'image_id']);
const TEMPLATE_KEYS = Object.keys((TemplateCreate as { properties: object }).properties);

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
  // The routes' schemas; the legacy baymodels' answers have no project_id and user_id.
  const tags = [coll];
  const ident = Params('ident');
  const declared = (summary: string, status: number, body: RouteSchema['response'][number], request: Partial<RouteSchema> = {}): RouteSchema =>
    ({ summary: opts.legacy ? `${summary} (legacy baymodel)` : summary, tags, querystring: NoQuery, ...request, response: { [status]: body } });
  const one = opts.legacy ? Baymodel : TemplateSchema;
  const createBody = opts.legacy ? BaymodelCreate : TemplateCreate;
  const patchedBody = opts.legacy ? BaymodelPatched : TemplateCreate;
  // Legacy routes never switch admins to all projects.
  const scopeOf = (r: ApiRequest) => (opts.legacy ? projectScope(r.ctx) : adminWideScope(r.ctx));

  const list = (detail: boolean) => async (r: ApiRequest) => {
    r.checkQuery();
    policy.enforce(r.ctx, `${rule}:${detail ? 'detail' : 'get_all'}`);
    if (r.ctx.isAdmin && !opts.legacy) policy.enforce(r.ctx, `${rule}:${detail ? 'detail' : 'get_all'}_all_projects`);
    const p = pageParams(r.query, 'cluster_template', conf.api.max_limit);
    const scope = scopeOf(r);
    // The page's JSON from the read cache while no template changed (src/api/read-cache.ts).
    return cachedReply(deps.cache, [detail ? `${coll}/detail` : coll, scopeKey(scope), pageKey(p), r.host], [TEMPLATE_TAG], async () => {
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
  const page = opts.legacy ? BaymodelList : ClusterTemplateList;
  router.get(`/v1/${coll}`, list(false), declared('List cluster templates', 200, page, { querystring: PageQuery }), { fast: true });
  router.get(`/v1/${coll}/detail`, list(true), declared('List cluster templates with details', 200, page, { querystring: PageQuery }), { fast: true });

  router.get(`/v1/${coll}/:ident`, async (r) => {
    r.checkQuery();
    if (r.ctx.isAdmin && !opts.legacy) policy.enforce(r.ctx, `${rule}:get_one_all_projects`);
    const t = await findTemplate(storage, scopeOf(r), r.params.ident);
    if (!t.public) policy.enforce(r.ctx, `${rule}:get`, { ...t });
    return { status: 200, body: view(t, r.host) };
  }, declared('Show a cluster template (by uuid or name)', 200, one, { params: ident }));

  router.post(`/v1/${coll}`, async (r) => {
    r.checkQuery();
    const input = r.body();
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
  }, declared('Create a cluster template', 201, one, { body: createBody }));

  router.patch(`/v1/${coll}/:ident`, async (r) => {
    r.checkQuery();
    // A baymodel's keypair_id is mandatory, so (like every mandatory attribute) not removable.
    const ops = parsePatchBody(r.json(), { internal: COMMON_INTERNAL, nonRemovable: opts.legacy ? [...NON_REMOVABLE, '/keypair_id'] : NON_REMOVABLE });
    const t = await findTemplate(storage, scopeOf(r), r.params.ident);
    policy.enforce(r.ctx, `${rule}:update`, { ...t });
    if (r.ctx.isAdmin && !opts.legacy) policy.enforce(r.ctx, `${rule}:update_all_projects`);
    const current = view(t, r.host);
    const patched = applyPatch(current, ops);
    // Re-validate the result as a create body (read-only fields are those we put there ourselves).
    const changedInput: Record<string, unknown> = {};
    for (const k of TEMPLATE_KEYS) if (k in patched && !READONLY.includes(k)) changedInput[k] = patched[k];
    for (const k of Object.keys(patched)) if (!TEMPLATE_KEYS.includes(k)) throw E.UnknownAttribute(argName, [k]);
    if (opts.legacy && patched.labels && typeof patched.labels === 'object') {
      for (const v of Object.values(patched.labels)) if (typeof v !== 'string') throw E.InvalidInput('labels', v, "Wrong type. Expected '<class 'str'>'");
    }
    const valid = validateBody(patchedBody, changedInput);
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
  }, declared('Update a cluster template (JSON Patch)', 200, one, { params: ident, body: PatchDocument }));

  router.delete(`/v1/${coll}/:ident`, async (r) => {
    r.checkQuery();
    const t = await findTemplate(storage, scopeOf(r), r.params.ident);
    policy.enforce(r.ctx, `${rule}:delete`, { ...t });
    if (r.ctx.isAdmin && !opts.legacy) policy.enforce(r.ctx, `${rule}:delete_all_projects`);
    if (!(await storage.deleteClusterTemplateIfUnused(t.uuid))) throw E.ClusterTemplateReferenced(r.params.ident);
    return { status: 204 };
  }, declared('Delete a cluster template (not while a cluster uses it)', 204, NoContent, { params: ident }));
}
