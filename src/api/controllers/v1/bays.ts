// Legacy /v1/bays: the same cluster rows under their 2015 names (baymodel_id, bay_create_timeout,
// bay_faults). Bay routes never switch admins to all projects and skip the quota check.
import { E } from '../../../common/errors.ts';
import type { Cluster, NodeGroup } from '../../../objects/models.ts';
import type { ApiDeps, ApiRequest, Router } from '../../app.ts';
import type { TSchema } from 'typebox';
import { PageQuery, atLeast, isoTime, nextLink, pageParams, resourceLinks } from '../../common.ts';
import { COMMON_INTERNAL, applyPatch, parsePatchBody } from '../../patch.ts';
import { Body, NoQuery, Params, PatchDocument, Query, W, fieldValue, mandatory } from '../../request-schemas.ts';
import { Bay, BayBrief, ClusterUuid, NoContent, page } from '../../schemas.ts';
import { aggregate, type ViewNodeGroup } from '../../views.ts';
import { ClusterCreate, createCluster, defaultWorker, nodegroupsByCluster } from './clusters.ts';
import { findCluster, projectScope } from './lookup.ts';

/** The clusters' create schema under the legacy names (same field order, so the same first error). */
const LEGACY_NAMES: Record<string, string> = { cluster_template_id: 'baymodel_id', create_timeout: 'bay_create_timeout', faults: 'bay_faults' };
const NOT_BAY_FIELDS = new Set(['keypair', 'merge_labels', 'health_status', 'health_status_reason', 'project_id', 'user_id', 'labels_overridden', 'labels_added', 'labels_skipped']);
const bayFields = (overrides: Record<string, TSchema>): Record<string, TSchema> => Object.fromEntries(
  Object.entries((ClusterCreate as { properties: Record<string, TSchema> }).properties)
    .filter(([n]) => !NOT_BAY_FIELDS.has(n))
    .map(([n, schema]) => [LEGACY_NAMES[n] ?? n, overrides[LEGACY_NAMES[n] ?? n] ?? schema]));
/** A bay's attributes as a create takes them: at least one node, floating IPs on unless said otherwise. */
export const BayCreate = Body('bay', bayFields({ node_count: W.int({ min: 1, default: 1 }), floating_ip_enabled: W.bool({ default: true }) }), ['baymodel_id']);
/** A PATCH's node_count: given, and not null. */
const BayPatched = Body('bay', { node_count: mandatory(W.int({ min: 1 })) });
/** A bay PATCH takes rollback from 1.3 and, as before, ignores its value. */
const PatchQuery = Query({ rollback: W.bool() });
const tags = ['bays'];
const ident = Params('ident');

export function bayBrief(c: Cluster, ngs: readonly ViewNodeGroup[], host: string) {
  const agg = aggregate(ngs);
  return {
    uuid: c.uuid, name: c.name, baymodel_id: c.cluster_template_id, docker_volume_size: c.docker_volume_size, labels: c.labels,
    master_flavor_id: c.master_flavor_id, flavor_id: c.flavor_id, node_count: agg.node_count, status: c.status,
    bay_create_timeout: c.create_timeout, master_count: agg.master_count, stack_id: c.stack_id, links: resourceLinks(host, `bays/${c.uuid}`),
  };
}

export function bayFull(c: Cluster, ngs: readonly ViewNodeGroup[], host: string) {
  const agg = aggregate(ngs);
  return {
    ...bayBrief(c, ngs, host),
    status_reason: c.status_reason, discovery_url: c.discovery_url, api_address: c.api_address, coe_version: c.coe_version,
    container_version: c.container_version, node_addresses: agg.node_addresses, master_addresses: agg.master_addresses,
    fixed_network: c.fixed_network, fixed_subnet: c.fixed_subnet, floating_ip_enabled: c.floating_ip_enabled,
    master_lb_enabled: c.master_lb_enabled, created_at: isoTime(c.created_at), updated_at: isoTime(c.updated_at),
  };
}

export function registerBays(router: Router, deps: ApiDeps): void {
  const { storage, policy, conf } = deps;
  const list = (detail: boolean) => async (r: ApiRequest) => {
    r.checkQuery();
    policy.enforce(r.ctx, `bay:${detail ? 'detail' : 'get_all'}`);
    const p = pageParams(r.query, 'cluster', conf.api.max_limit);
    const scope = projectScope(r.ctx);
    const marker = p.marker ? (await storage.findClusters(scope, { uuid: p.marker }))[0] : undefined;
    if (p.marker && !marker) throw E.ClusterNotFound(p.marker);
    const page = { ...p, marker };
    const items = await storage.listClusters(scope, page);
    const ngs = await nodegroupsByCluster(deps, items);
    const body: Record<string, unknown> = { bays: items.map((c) => (detail ? bayFull : bayBrief)(c, ngs.get(c.uuid) ?? [], r.host)) };
    const next = nextLink(r.host, detail ? 'bays/detail' : 'bays', page, items);
    if (next) body.next = next;
    return { status: 200, body };
  };
  router.get('/v1/bays', list(false), { summary: 'List bays (legacy clusters)', tags, querystring: PageQuery, response: { 200: page('bays', BayBrief) } });
  router.get('/v1/bays/detail', list(true), { summary: 'List bays with details (legacy clusters)', tags, querystring: PageQuery, response: { 200: page('bays', Bay) } });

  router.get('/v1/bays/:ident', async (r) => {
    r.checkQuery();
    const c = await findCluster(storage, projectScope(r.ctx), r.params.ident);
    policy.enforce(r.ctx, 'bay:get', { ...c });
    const ngs = await storage.listNodeGroupsOf([c.uuid]);
    return { status: 200, body: bayFull(c, ngs, r.host) };
  }, { summary: 'Show a bay (by uuid or name)', tags, params: ident, querystring: NoQuery, response: { 200: Bay } });

  router.post('/v1/bays', async (r) => {
    r.checkQuery();
    const input = r.body();
    for (const f of ['status', 'status_reason']) if (f in (r.json() as object)) throw E.InvalidInput(f, (r.json() as Record<string, unknown>)[f], 'Cannot set read only field.');
    policy.enforce(r.ctx, 'bay:create');
    const { baymodel_id, bay_create_timeout, ...rest } = input;
    const uuid = await createCluster(deps, r, { ...rest, cluster_template_id: baymodel_id, create_timeout: bay_create_timeout, node_count: input.node_count ?? 1 }, { quota: false, templateNotFoundStatus: 400 });
    if (atLeast(r.mv, 2)) return { status: 202, body: { uuid } };
    const c = (await storage.getClusterByUuid(uuid))!;
    return { status: 201, body: bayFull(c, await storage.listNodeGroupsOf([uuid]), r.host), headers: { Location: `${r.host}/v1/bays/${uuid}` } };
  }, { summary: 'Create a bay (the bay before 1.2, its uuid from 1.2)', tags, querystring: NoQuery, body: BayCreate, response: { 201: Bay, 202: ClusterUuid } });

  router.patch('/v1/bays/:ident', async (r) => {
    r.checkQuery(atLeast(r.mv, 3) ? PatchQuery : NoQuery);
    const ops = parsePatchBody(r.json(), { internal: [...COMMON_INTERNAL, '/api_address', '/node_addresses', '/master_addresses', '/stack_id'], nonRemovable: ['/baymodel_id'] });
    const c = await findCluster(storage, projectScope(r.ctx), r.params.ident);
    policy.enforce(r.ctx, 'bay:update', { ...c });
    const ngs = await storage.listNodeGroupsOf([c.uuid]);
    const worker = defaultWorker(ngs);
    const current: Record<string, unknown> = { ...bayFull(c, ngs, r.host), node_count: worker?.node_count ?? 0 };
    delete current.links;
    const patched = applyPatch(current, ops);
    const changed = Object.keys({ ...current, ...patched }).filter((k) => k !== 'node_count' && JSON.stringify(current[k] ?? null) !== JSON.stringify(patched[k] ?? null));
    if (changed.length) throw E.InvalidParameterValue(`cannot change bay property(ies) ${changed.join(', ')}.`);
    const nodeCount = fieldValue(BayPatched, 'node_count', patched.node_count) as number;
    if (!worker) throw E.InvalidParameterValue(`Bay ${c.name ?? c.uuid} has no default worker nodegroup.`);
    if (nodeCount !== worker.node_count) await deps.conductor.clusterUpdate(r.ctx, c, worker, nodeCount, false);
    if (atLeast(r.mv, 2)) return { status: 202, body: { uuid: c.uuid } };
    const now = (await storage.getClusterByUuid(c.uuid))!;
    return { status: 200, body: bayFull(now, await storage.listNodeGroupsOf([c.uuid]), r.host) };
  }, { summary: 'Update a bay (JSON Patch: node_count; the bay before 1.2, its uuid from 1.2)', tags, params: ident, querystring: PatchQuery, body: PatchDocument, response: { 200: Bay, 202: ClusterUuid } });

  router.delete('/v1/bays/:ident', async (r) => {
    r.checkQuery();
    const c = await findCluster(storage, projectScope(r.ctx), r.params.ident);
    policy.enforce(r.ctx, 'bay:delete', { ...c });
    await deps.conductor.clusterDelete(r.ctx, c);
    return { status: 204 };
  }, { summary: 'Delete a bay', tags, params: ident, querystring: NoQuery, response: { 204: NoContent } });
}
