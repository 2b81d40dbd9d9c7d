import { randomUUID } from 'node:crypto';
import { E } from '../../../common/errors.ts';
import { HEALTH_STATUSES } from '../../../objects/fields.ts';
import type { NodeGroupSummary } from '../../../db/api.ts';
import type { Cluster, ClusterTemplate, NodeGroup } from '../../../objects/models.ts';
import type { ApiDeps, ApiRequest, Router } from '../../app.ts';
import { PageQuery, atLeast, generateName, identLookup, nextLink, pageParams } from '../../common.ts';
import { COMMON_INTERNAL, applyPatch, parsePatchBody } from '../../patch.ts';
import { Body, NoQuery, Params, PatchDocument, Query, W, fieldValue, mandatory } from '../../request-schemas.ts';
import { clusterBrief, clusterFull } from '../../views.ts';
import { Cluster as ClusterSchema, ClusterDetailList, ClusterEventList, ClusterList, ClusterUuid, NoContent } from '../../schemas.ts';
import { validateInfra } from './cluster-templates.ts';
import { requireProject } from '../../../common/scope.ts';
import { adminWideScope, findCluster, findNodeGroup, findTemplate, findTemplateCached, oneCluster, projectScope } from './lookup.ts';
import { ANY_CLUSTER_TAG, TEMPLATE_TAG, cachedReply, clusterTag, pageKey, scopeKey } from '../../read-cache.ts';

const s255 = () => W.str({ min: 1, max: 255 });
const readonly = (...names: string[]) => Object.fromEntries(names.map((n) => [n, W.readonly()]));

/** A cluster's attributes as a create takes them (and a PATCH checks its patched values against). */
export const ClusterCreate = Body('cluster', {
  uuid: W.uuid(),
  name: W.str({ min: 1, max: 242, pattern: '^[a-zA-Z][a-zA-Z0-9_.-]*$' }),
  cluster_template_id: mandatory(s255()),
  keypair: s255(),
  node_count: W.int({ min: 0, default: 1 }),
  master_count: W.int({ min: 1, default: 1 }),
  docker_volume_size: W.int({ min: 1 }),
  labels: W.labels(),
  merge_labels: W.bool({ default: false }),
  master_flavor_id: s255(),
  flavor_id: s255(),
  create_timeout: W.int({ min: 0, default: 60 }),
  discovery_url: W.str({ max: 255 }),
  fixed_network: s255(),
  fixed_subnet: s255(),
  floating_ip_enabled: W.bool(),
  master_lb_enabled: W.bool(),
  // Read-only in a create too (refused after the other checks, as Magnum does), patchable by health updates.
  status: W.any(),
  status_reason: W.any(),
  health_status: W.enum(HEALTH_STATUSES),
  health_status_reason: W.strdict(),
  ...readonly('faults', 'stack_id', 'api_address', 'coe_version', 'container_version', 'project_id', 'user_id',
    'node_addresses', 'master_addresses', 'links', 'created_at', 'updated_at', 'labels_overridden', 'labels_added', 'labels_skipped'),
}, ['cluster_template_id']);
const CLUSTER_FIELDS = new Set(Object.keys((ClusterCreate as { properties: object }).properties));

const ClusterResize = Body('cluster_resize_req', {
  node_count: mandatory(W.int({ min: 0 })),
  nodes_to_remove: W.strlist({ default: [] }),
  nodegroup: s255(),
}, ['node_count']);
const ClusterUpgrade = Body('cluster_upgrade_req', {
  cluster_template: mandatory(s255()),
  max_batch_size: W.int({ min: 1 }),
  nodegroup: s255(),
}, ['cluster_template']);
const PatchQuery = Query({ rollback: W.bool() });
const DeleteQuery = Query({ force: W.bool() });
const EventsQuery = Query({ limit: W.int({ min: 1 }), marker: W.int({ min: 0 }) });
const tags = ['clusters'];
const ident = Params('ident');

const CLUSTER_INTERNAL = [
  ...COMMON_INTERNAL, '/api_address', '/node_addresses', '/master_addresses', '/stack_id', '/ca_cert_ref', '/magnum_cert_ref',
  '/trust_id', '/trustee_user_name', '/trustee_password', '/trustee_user_id', '/etcd_ca_cert_ref', '/front_proxy_ca_cert_ref',
];

/** What the list views read of the nodegroups of each cluster, fetched in one query. */
export async function nodegroupsByCluster(deps: ApiDeps, clusters: Cluster[]): Promise<Map<string, NodeGroupSummary[]>> {
  const all = await deps.storage.listNodeGroupSummariesOf(clusters.map((c) => c.uuid));
  const map = new Map<string, NodeGroupSummary[]>();
  for (const ng of all) {
    const list = map.get(ng.cluster_id);
    if (list) list.push(ng);
    else map.set(ng.cluster_id, [ng]);
  }
  return map;
}

export function defaultWorker(ngs: NodeGroup[]): NodeGroup | undefined {
  return ngs.find((n) => n.is_default && n.role !== 'master');
}

/** Cluster create: Magnum's checks in Magnum's order, then one transaction and a cast. */
export async function createCluster(deps: ApiDeps, r: ApiRequest, input: Record<string, unknown>, opts: { quota: boolean; templateNotFoundStatus: number }) {
  const { storage, policy, conf } = deps;
  if (!atLeast(r.mv, 10) && input.node_count === 0) throw E.ZeroNodeCountNotSupported();
  const projectId = requireProject(r.ctx);
  // The quota and the project's cluster count (one query) go out with the template's lookup; they
  // are looked at only after the template's checks (an error before then leaves them unread).
  const usage = opts.quota ? storage.clusterQuotaUsage(projectId) : null;
  usage?.catch(() => undefined);
  let template: ClusterTemplate;
  try {
    template = await findTemplateCached(deps.cache, storage, adminWideScope(r.ctx), String(input.cluster_template_id), { allowId: true });
  } catch (e) {
    if ((e as { code?: string }).code === 'ClusterTemplateNotFound' && opts.templateNotFoundStatus === 400) {
      throw E.InvalidParameterValue(`ClusterTemplate ${input.cluster_template_id} could not be found.`);
    }
    throw e;
  }
  if (!deps.catalog.driverSupports(template.server_type ?? 'vm', template.cluster_distro, template.coe ?? '')) {
    throw E.ClusterTypeNotSupported(template.server_type ?? 'vm', template.cluster_distro, template.coe ?? '');
  }
  const dvs = (input.docker_volume_size as number | null | undefined) ?? template.docker_volume_size;
  if (template.docker_storage_driver === 'devicemapper' && dvs !== null && dvs !== undefined && dvs < 3) {
    throw E.InvalidParameterValue(`docker volume size ${dvs} GB is not valid, expecting minimum value 3GB for devicemapper storage driver.`);
  }
  policy.enforce(r.ctx, 'cluster:create');
  validateInfra(deps, { flavor_id: input.flavor_id, master_flavor_id: input.master_flavor_id });
  if (usage) {
    const { hardLimit, count } = await usage;
    const limit = hardLimit ?? conf.quotas.max_clusters_per_project;
    if (count >= limit) {
      throw E.ResourceLimitExceeded(`You have reached the maximum clusters per project, ${limit}. You may delete a cluster to make room for a new one.`);
    }
  }
  let labels = input.labels as Record<string, string> | null | undefined;
  if (!labels || Object.keys(labels).length === 0) labels = { ...template.labels };
  else if (input.merge_labels === true) labels = { ...template.labels, ...labels };
  const pick = <K extends keyof ClusterTemplate>(v: unknown, k: K) => (v === undefined || v === null || v === '' ? template[k] : v);
  const masterLb = (input.master_lb_enabled ?? template.master_lb_enabled) as boolean;
  const masterCount = (input.master_count as number | null) ?? 1;
  const nodeCount = (input.node_count as number | null) ?? 1;
  if (masterCount > 1 && !masterLb) throw E.InvalidParameterValue('master_count must be 1 when master_lb_enabled is False');
  const uuid = randomUUID();
  const cluster: Partial<Cluster> & { uuid: string } = {
    uuid,
    name: (input.name as string | null | undefined) ?? generateName('cluster'),
    project_id: projectId,
    user_id: r.ctx.userId,
    cluster_template_id: template.uuid,
    keypair: pick(input.keypair, 'keypair_id') as string | null,
    docker_volume_size: dvs ?? null,
    labels,
    master_flavor_id: pick(input.master_flavor_id, 'master_flavor_id') as string | null,
    flavor_id: pick(input.flavor_id, 'flavor_id') as string | null,
    create_timeout: (input.create_timeout as number | null) ?? null,
    discovery_url: (input.discovery_url as string | null | undefined) ?? null,
    fixed_network: pick(input.fixed_network, 'fixed_network') as string | null,
    fixed_subnet: pick(input.fixed_subnet, 'fixed_subnet') as string | null,
    floating_ip_enabled: (input.floating_ip_enabled ?? template.floating_ip_enabled) as boolean,
    master_lb_enabled: masterLb,
    status: 'CREATE_IN_PROGRESS',
    status_reason: null,
    health_status: null,
    health_status_reason: {},
  };
  const minNodes = labels.min_node_count !== undefined && /^\d+$/.test(labels.min_node_count) ? Number(labels.min_node_count) : 0;
  const ng = (name: string, role: string, count: number, flavor: string | null): Partial<NodeGroup> => ({
    uuid: randomUUID(), name, cluster_id: uuid, project_id: projectId, docker_volume_size: cluster.docker_volume_size,
    labels, flavor_id: flavor, image_id: template.image_id, node_addresses: [], node_count: count, role,
    max_node_count: null, min_node_count: role === 'master' ? 0 : minNodes, is_default: true, status: 'CREATE_IN_PROGRESS',
  });
  await deps.conductor.clusterCreate(r.ctx, cluster, [
    ng('default-master', 'master', masterCount, cluster.master_flavor_id ?? null),
    ng('default-worker', 'worker', nodeCount, cluster.flavor_id ?? null),
  ]);
  return uuid;
}

export function registerClusters(router: Router, deps: ApiDeps): void {
  const { storage, policy, conf } = deps;

  const list = (detail: boolean) => async (r: ApiRequest) => {
    r.checkQuery();
    policy.enforce(r.ctx, `cluster:${detail ? 'detail' : 'get_all'}`);
    if (r.ctx.isAdmin) policy.enforce(r.ctx, `cluster:${detail ? 'detail' : 'get_all'}_all_projects`);
    const p = pageParams(r.query, 'cluster', conf.api.max_limit);
    const scope = adminWideScope(r.ctx);
    // The page's JSON from the read cache while no cluster or template changed (src/api/read-cache.ts).
    return cachedReply(deps.cache, [detail ? 'clusters/detail' : 'clusters', scopeKey(scope), pageKey(p), r.host], [TEMPLATE_TAG, ANY_CLUSTER_TAG], async () => {
      const marker = p.marker ? (await storage.findClusters(scope, { uuid: p.marker }))[0] : undefined;
      if (p.marker && !marker) throw E.ClusterNotFound(p.marker);
      const page = { ...p, marker };
      let body: Record<string, unknown>;
      let items: Cluster[];
      if (detail) {
        const rows = await storage.listClustersForView(scope, page);
        const ngs = await nodegroupsByCluster(deps, rows);
        items = rows;
        body = { clusters: rows.map((c) => clusterFull(c, ngs.get(c.uuid) ?? [], { labels: c.template_labels ?? {} }, r.host)) };
      } else {
        items = await storage.listClusters(scope, page);
        const ngs = await nodegroupsByCluster(deps, items);
        body = { clusters: items.map((c) => clusterBrief(c, ngs.get(c.uuid) ?? [], r.host)) };
      }
      const next = nextLink(r.host, detail ? 'clusters/detail' : 'clusters', page, items);
      if (next) body.next = next;
      return { body };
    });
  };
  router.get('/v1/clusters', list(false), { summary: 'List clusters', tags, querystring: PageQuery, response: { 200: ClusterList } }, { fast: true });
  router.get('/v1/clusters/detail', list(true), { summary: 'List clusters with details', tags, querystring: PageQuery, response: { 200: ClusterDetailList } }, { fast: true });

  router.get('/v1/clusters/:ident', async (r) => {
    r.checkQuery();
    if (r.ctx.isAdmin) policy.enforce(r.ctx, 'cluster:get_one_all_projects');
    // The cluster, its template's labels and its nodegroups: one query, or the read cache's copy,
    // which a change to any of them drops in every API process (src/api/read-cache.ts).
    const scope = adminWideScope(r.ctx);
    const by = identLookup(r.params.ident);
    return cachedReply(deps.cache, ['cluster', scopeKey(scope), by.uuid ?? by, r.host], [TEMPLATE_TAG, by.uuid ? clusterTag(by.uuid) : ANY_CLUSTER_TAG], async () => {
      const { nodegroups, ...c } = oneCluster(await storage.findClustersForView(scope, by), r.params.ident);
      return { target: c, body: clusterFull(c, nodegroups, { labels: c.template_labels ?? {} }, r.host, { faults: true }) };
    }, (c) => policy.enforce(r.ctx, 'cluster:get', c));
  }, { summary: 'Show a cluster (by uuid or name)', tags, params: ident, querystring: NoQuery, response: { 200: ClusterSchema } }, { fast: true });

  router.post('/v1/clusters', async (r) => {
    r.checkQuery();
    const input = r.body();
    for (const f of ['status', 'status_reason', 'health_status', 'health_status_reason']) {
      if (f in (r.json() as object)) throw E.InvalidInput(f, (r.json() as Record<string, unknown>)[f], 'Cannot set read only field.');
    }
    const uuid = await createCluster(deps, r, input, { quota: true, templateNotFoundStatus: atLeast(r.mv, 10) ? 404 : 400 });
    return { status: 202, body: { uuid } };
  }, { summary: 'Create a cluster', tags, querystring: NoQuery, body: ClusterCreate, response: { 202: ClusterUuid } });

  router.patch('/v1/clusters/:ident', async (r) => {
    r.checkQuery(atLeast(r.mv, 3) ? PatchQuery : NoQuery);
    const rollback = r.query.rollback === undefined ? false : fieldValue(PatchQuery, 'rollback', r.query.rollback) === true;
    const ops = parsePatchBody(r.json(), { internal: CLUSTER_INTERNAL, nonRemovable: ['/cluster_template_id'] });
    const c = await findCluster(storage, adminWideScope(r.ctx), r.params.ident);
    policy.enforce(r.ctx, 'cluster:update', { ...c });
    policy.enforce(r.ctx, 'cluster:update_health_status', { ...c });
    if (r.ctx.isAdmin) policy.enforce(r.ctx, 'cluster:update_all_projects');
    const ngs = await storage.listNodeGroupsOf([c.uuid]);
    const worker = defaultWorker(ngs);
    const current: Record<string, unknown> = { ...clusterFull(c, ngs, null, r.host), node_count: worker?.node_count ?? 0 };
    for (const k of ['labels_overridden', 'labels_added', 'labels_skipped', 'links', 'faults']) delete current[k];
    const patched = applyPatch(current, ops);
    const updatable = ['node_count', 'health_status', 'health_status_reason'];
    const changed: string[] = [];
    for (const [k, v] of Object.entries(patched)) {
      if (!CLUSTER_FIELDS.has(k)) throw E.UnknownAttribute('cluster', [k]);
      if (JSON.stringify(v ?? null) !== JSON.stringify(current[k] ?? null) && !updatable.includes(k)) changed.push(k);
    }
    for (const k of Object.keys(current)) if (!(k in patched) && !updatable.includes(k) && current[k] !== null) changed.push(k);
    if (changed.length) throw E.InvalidParameterValue(`cannot change cluster property(ies) ${changed.join(', ')}.`);
    const nodeCount = patched.node_count === undefined || patched.node_count === null ? 0 : (fieldValue(ClusterCreate, 'node_count', patched.node_count) as number);
    const health = patched.health_status === null || patched.health_status === undefined ? null : fieldValue(ClusterCreate, 'health_status', patched.health_status);
    const healthReason = patched.health_status_reason === null || patched.health_status_reason === undefined ? {} : fieldValue(ClusterCreate, 'health_status_reason', patched.health_status_reason);
    if (nodeCount === 0 && !atLeast(r.mv, 10)) throw E.ZeroNodeCountNotSupported();
    if (!worker) throw E.InvalidParameterValue(`Cluster ${c.name ?? c.uuid} has no default worker nodegroup.`);
    const healthChanged = health !== c.health_status || JSON.stringify(healthReason) !== JSON.stringify(c.health_status_reason);
    if (healthChanged) await storage.updateCluster(c.uuid, { health_status: health as Cluster['health_status'], health_status_reason: healthReason as Record<string, string> });
    if (nodeCount !== worker.node_count) await deps.conductor.clusterUpdate(r.ctx, c, worker, nodeCount, rollback);
    return { status: 202, body: { uuid: c.uuid } };
  }, { summary: 'Update a cluster (JSON Patch: node_count, health_status, health_status_reason; rollback from 1.3)', tags, params: ident, querystring: PatchQuery, body: PatchDocument, response: { 202: ClusterUuid } });

  router.delete('/v1/clusters/:ident', async (r) => {
    r.checkQuery(DeleteQuery);
    const force = r.query.force === undefined ? false : fieldValue(DeleteQuery, 'force', r.query.force) === true;
    const c = await findCluster(storage, adminWideScope(r.ctx), r.params.ident);
    policy.enforce(r.ctx, 'cluster:delete', { ...c });
    if (r.ctx.isAdmin) policy.enforce(r.ctx, 'cluster:delete_all_projects');
    if (force) policy.enforce(r.ctx, 'cluster:force_delete', { ...c });
    await deps.conductor.clusterDelete(r.ctx, c, { force });
    return { status: 204 };
  }, { summary: 'Delete a cluster (force: an admin ends every operation and deletes)', tags, params: ident, querystring: DeleteQuery, response: { 204: NoContent } });

  router.post('/v1/clusters/:ident/actions/resize', async (r) => {
    if (!atLeast(r.mv, 7)) throw E.NotAcceptable(`Version ${r.mv.major}.${r.mv.minor} was requested but the requested API resize is not supported for this version.`);
    r.checkQuery();
    const input = r.body();
    const nodeCount = input.node_count as number;
    if (nodeCount === 0 && !atLeast(r.mv, 10)) throw E.ZeroNodeCountNotSupported();
    // Magnum's resize action never switches admins to all projects.
    const c = await findCluster(storage, projectScope(r.ctx), r.params.ident);
    const ngs = await storage.listNodeGroupsOf([c.uuid]);
    const ng = input.nodegroup ? await findNodeGroup(storage, adminWideScope(r.ctx), c, String(input.nodegroup)) : defaultWorker(ngs);
    if (!ng) throw E.NodeGroupNotFound('default-worker');
    if (ng.role === 'master') throw E.MasterNGResizeNotSupported();
    if (nodeCount < ng.min_node_count || (ng.max_node_count !== null && nodeCount > ng.max_node_count)) {
      throw E.NGResizeOutBounds(ng.name, ng.min_node_count, ng.max_node_count);
    }
    policy.enforce(r.ctx, 'cluster:resize', { ...c });
    await deps.conductor.clusterResize(r.ctx, c, ng, nodeCount, (input.nodes_to_remove as string[] | null) ?? []);
    return { status: 202, body: { uuid: c.uuid } };
  }, { summary: 'Resize a nodegroup of a cluster (from 1.7)', tags, params: ident, querystring: NoQuery, body: ClusterResize, response: { 202: ClusterUuid } });

  router.post('/v1/clusters/:ident/actions/upgrade', async (r) => {
    if (!atLeast(r.mv, 7)) throw E.NotAcceptable(`Version ${r.mv.major}.${r.mv.minor} was requested but the requested API upgrade is not supported for this version.`);
    if (!atLeast(r.mv, 8)) throw E.ClusterUpgradeNotSupported();
    r.checkQuery();
    const input = r.body();
    const c = await findCluster(storage, adminWideScope(r.ctx), r.params.ident);
    const template = await findTemplate(storage, adminWideScope(r.ctx), String(input.cluster_template));
    const ngs = await storage.listNodeGroupsOf([c.uuid]);
    const ng = input.nodegroup ? await findNodeGroup(storage, adminWideScope(r.ctx), c, String(input.nodegroup)) : defaultWorker(ngs);
    if (!ng) throw E.NodeGroupNotFound('default-worker');
    if (!ng.is_default && template.uuid !== c.cluster_template_id) {
      const current = await storage.getClusterTemplateByUuid(c.cluster_template_id ?? '');
      throw E.InvalidClusterTemplateForUpgrade(`Nodegroup ${ng.name} can be upgraded only to match cluster's template (${current?.name ?? c.cluster_template_id}).`);
    }
    policy.enforce(r.ctx, 'cluster:upgrade', { ...c });
    if (r.ctx.isAdmin) policy.enforce(r.ctx, 'cluster:upgrade_all_projects');
    await deps.conductor.clusterUpgrade(r.ctx, c, template, (input.max_batch_size as number | null) ?? null, ng);
    return { status: 202, body: { uuid: c.uuid } };
  }, { summary: 'Upgrade a cluster (or one nodegroup) to another template (from 1.8)', tags, params: ident, querystring: NoQuery, body: ClusterUpgrade, response: { 202: ClusterUuid } });

  router.get('/v1/clusters/:ident/events', async (r) => {
    r.checkQuery();
    const c = await findCluster(storage, adminWideScope(r.ctx), r.params.ident);
    policy.enforce(r.ctx, 'cluster:get', { ...c });
    const limit = r.query.limit === undefined ? conf.api.max_limit : Math.min(fieldValue(EventsQuery, 'limit', r.query.limit) as number, conf.api.max_limit);
    const afterId = r.query.marker === undefined ? undefined : (fieldValue(EventsQuery, 'marker', r.query.marker) as number);
    const events = await storage.listEvents(c.uuid, { limit, afterId });
    const body: Record<string, unknown> = {
      events: events.map((e) => ({ id: e.id, operation_id: e.operation_id, step: e.step, outcome: e.outcome, message: e.message, created_at: e.created_at.toISOString() })),
    };
    if (events.length === limit) body.next = `${r.host}/v1/clusters/${c.uuid}/events?limit=${limit}&marker=${events[events.length - 1].id}`;
    return { status: 200, body };
  }, { summary: "A cluster's event timeline (each operation's steps), oldest first", tags, params: ident, querystring: EventsQuery, response: { 200: ClusterEventList } });
}
