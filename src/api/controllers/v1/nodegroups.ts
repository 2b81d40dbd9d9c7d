import { randomUUID } from 'node:crypto';
import { E } from '../../../common/errors.ts';
import { UniqueViolation } from '../../../db/api.ts';
import type { Cluster, NodeGroup } from '../../../objects/models.ts';
import type { ApiDeps, ApiRequest, Router } from '../../app.ts';
import { atLeast, nextLink, pageParams, pageQuery } from '../../common.ts';
import { COMMON_INTERNAL, applyPatch, parsePatchBody } from '../../patch.ts';
import { Body, NoQuery, Params, PatchDocument, W, fieldValue } from '../../request-schemas.ts';
import { nodegroupBrief, nodegroupFull } from '../../views.ts';
import { NoContent, NodeGroup as NodeGroupSchema, NodeGroupList } from '../../schemas.ts';
import { validateInfra } from './cluster-templates.ts';
import { adminWideScope, findCluster, findNodeGroup, ownerScope } from './lookup.ts';

const s255 = (o: { default?: string } = {}) => ({ ...W.str({ min: 1, max: 255 }), ...(o.default !== undefined ? { default: o.default } : {}) });

/** A nodegroup's attributes as a create takes them (a PATCH's bounds are checked against them too). */
export const NodeGroupCreate = Body('nodegroup', {
  id: W.int({ min: 1 }),
  uuid: W.uuid(),
  name: s255(),
  cluster_id: W.any(),
  docker_volume_size: W.int({ min: 1 }),
  labels: W.labels(),
  merge_labels: W.bool({ default: false }),
  flavor_id: s255(),
  image_id: s255(),
  node_count: W.int({ min: 0, default: 1 }),
  role: s255({ default: 'worker' }),
  min_node_count: W.int({ min: 0, default: 0 }),
  max_node_count: W.int({ min: 0 }),
  is_default: W.bool(),
  status: W.any(),
  status_reason: W.any(),
  version: W.any(),
  ...Object.fromEntries(['project_id', 'stack_id', 'node_addresses', 'links', 'created_at', 'updated_at', 'labels_overridden', 'labels_added', 'labels_skipped']
    .map((n) => [n, W.readonly()])),
});
const NodeGroupListQuery = pageQuery({ role: W.str() });
const tags = ['nodegroups'];
const params = Params('cluster');
const ngParams = Params('cluster', 'ng');

const NG_INTERNAL = [
  ...COMMON_INTERNAL, '/name', '/cluster_id', '/docker_volume_size', '/labels', '/flavor_id', '/image_id', '/node_addresses',
  '/node_count', '/role', '/is_default', '/stack_id', '/status', '/status_reason', '/version',
];

function checkCounts(ng: { name: string; node_count: number; min_node_count: number; max_node_count: number | null }): void {
  const { node_count: n, min_node_count: min, max_node_count: max } = ng;
  if (max !== null && max < min) throw E.NodeGroupInvalidInput('max_node_count', ng.name, `min_node_count (${min}) should be less or equal to max_node_count (${max})`);
  if (max !== null && n > max) throw E.NodeGroupInvalidInput('max_node_count', ng.name, `node_count (${n}) should be less or equal to max_node_count (${max})`);
  if (min > n) throw E.NodeGroupInvalidInput('min_node_count', ng.name, `min_node_count (${min}) should be less or equal to node_count (${n})`);
}

export function registerNodeGroups(router: Router, deps: ApiDeps): void {
  const { storage, policy, conf } = deps;
  const base = '/v1/clusters/:cluster/nodegroups';
  const gate = (r: ApiRequest) => {
    if (!atLeast(r.mv, 9)) throw E.NotAcceptable(`Version ${r.mv.major}.${r.mv.minor} was requested but the requested API nodegroups is not supported for this version.`);
  };
  const cluster = (r: ApiRequest): Promise<Cluster> => findCluster(storage, adminWideScope(r.ctx), r.params.cluster);

  router.get(base, async (r) => {
    gate(r);
    r.checkQuery();
    policy.enforce(r.ctx, 'nodegroup:get_all', { project_id: r.ctx.projectId });
    if (r.ctx.isAdmin) policy.enforce(r.ctx, 'nodegroup:get_all_all_projects');
    const c = await cluster(r);
    const p = pageParams(r.query, 'nodegroup', conf.api.max_limit);
    const scope = adminWideScope(r.ctx);
    const marker = p.marker ? (await storage.findNodeGroups(c.uuid, scope, { uuid: p.marker }))[0] : undefined;
    if (p.marker && !marker) throw E.NodeGroupNotFound(p.marker);
    const page = { ...p, marker };
    const items = await storage.listNodeGroups(c.uuid, scope, page, r.query.role === undefined ? undefined : String(r.query.role));
    const body: Record<string, unknown> = { nodegroups: items.map(nodegroupBrief) };
    const next = nextLink(r.host, `clusters/${c.uuid}/nodegroups`, page, items);
    if (next) body.next = next;
    return { status: 200, body };
  }, { summary: 'List the nodegroups of a cluster', tags, params, querystring: NodeGroupListQuery, response: { 200: NodeGroupList } });

  router.get(`${base}/:ng`, async (r) => {
    gate(r);
    r.checkQuery();
    policy.enforce(r.ctx, 'nodegroup:get', { project_id: r.ctx.projectId });
    if (r.ctx.isAdmin) policy.enforce(r.ctx, 'nodegroup:get_one_all_projects');
    const c = await cluster(r);
    const ng = await findNodeGroup(storage, adminWideScope(r.ctx), c, r.params.ng);
    return { status: 200, body: nodegroupFull(ng, c.labels, r.host) };
  }, { summary: 'Show a nodegroup (by uuid, name or id)', tags, params: ngParams, querystring: NoQuery, response: { 200: NodeGroupSchema } });

  router.post(base, async (r) => {
    gate(r);
    r.checkQuery();
    const input = r.body();
    policy.enforce(r.ctx, 'nodegroup:create', { project_id: r.ctx.projectId });
    const c = await cluster(r);
    if (!input.name) throw E.InvalidInput('name', null, 'Mandatory field missing.');
    if (input.role === 'master') throw E.CreateMasterNodeGroup();
    if (!c.api_address) throw E.ClusterAPIAddressUnavailable();
    const existing = await storage.findNodeGroups(c.uuid, ownerScope(c), { name: String(input.name) });
    if (existing.length) throw E.NodeGroupAlreadyExists(String(input.name), c.name ?? c.uuid);
    const template = await storage.getClusterTemplateByUuid(c.cluster_template_id ?? '');
    let labels = (input.labels as Record<string, string> | null | undefined) ?? null;
    if (!labels) labels = { ...c.labels };
    else if (input.merge_labels === true) labels = { ...c.labels, ...labels };
    const ng: Partial<NodeGroup> & { uuid: string; name: string; node_count: number; min_node_count: number; max_node_count: number | null } = {
      uuid: randomUUID(),
      name: String(input.name),
      cluster_id: c.uuid,
      project_id: c.project_id,
      docker_volume_size: (input.docker_volume_size as number | null | undefined) ?? null,
      labels,
      flavor_id: (input.flavor_id as string | null | undefined) ?? c.flavor_id,
      image_id: (input.image_id as string | null | undefined) ?? template?.image_id ?? null,
      node_addresses: [],
      node_count: (input.node_count as number | null) ?? 1,
      role: (input.role as string | null) ?? 'worker',
      min_node_count: (input.min_node_count as number | null) ?? 0,
      max_node_count: (input.max_node_count as number | null | undefined) ?? null,
      is_default: false,
      version: null,
    };
    checkCounts(ng);
    validateInfra(deps, { flavor_id: input.flavor_id });
    if (typeof input.image_id === 'string' && (await deps.catalog.imageOsDistro(input.image_id)) === undefined) throw E.ImageNotFound(input.image_id);
    try {
      await deps.conductor.nodegroupCreate(r.ctx, c, ng);
    } catch (e) {
      // A concurrent request made a nodegroup of that name after the check above.
      if (e instanceof UniqueViolation) throw E.NodeGroupAlreadyExists(ng.name, c.name ?? c.uuid);
      throw e;
    }
    const created = (await storage.findNodeGroups(c.uuid, ownerScope(c), { uuid: ng.uuid }))[0];
    return { status: 202, body: nodegroupFull(created, c.labels, r.host) };
  }, { summary: 'Create a nodegroup', tags, params, querystring: NoQuery, body: NodeGroupCreate, response: { 202: NodeGroupSchema } });

  router.patch(`${base}/:ng`, async (r) => {
    gate(r);
    r.checkQuery();
    const ops = parsePatchBody(r.json(), { internal: NG_INTERNAL, nonRemovable: [] });
    policy.enforce(r.ctx, 'nodegroup:update', { project_id: r.ctx.projectId });
    const c = await cluster(r);
    const ng = await findNodeGroup(storage, adminWideScope(r.ctx), c, r.params.ng);
    const current = { min_node_count: ng.min_node_count, max_node_count: ng.max_node_count };
    const patched = applyPatch(current, ops);
    for (const k of Object.keys(patched)) if (!(k in current)) throw E.UnknownAttribute('nodegroup', [k]);
    const min = patched.min_node_count === undefined || patched.min_node_count === null ? 0 : (fieldValue(NodeGroupCreate, 'min_node_count', patched.min_node_count) as number);
    const max = patched.max_node_count === undefined || patched.max_node_count === null ? null : (fieldValue(NodeGroupCreate, 'max_node_count', patched.max_node_count) as number);
    checkCounts({ name: ng.name, node_count: ng.node_count, min_node_count: min, max_node_count: max });
    // Changing the bounds changes no node: it is saved at once (Magnum's Heat driver does the same).
    const updated = await storage.updateNodeGroup(ng.uuid, { min_node_count: min, max_node_count: max });
    return { status: 202, body: nodegroupFull(updated ?? ng, c.labels, r.host) };
  }, { summary: 'Update a nodegroup\'s node count bounds (JSON Patch)', tags, params: ngParams, querystring: NoQuery, body: PatchDocument, response: { 202: NodeGroupSchema } });

  router.delete(`${base}/:ng`, async (r) => {
    gate(r);
    r.checkQuery();
    policy.enforce(r.ctx, 'nodegroup:delete', { project_id: r.ctx.projectId });
    const c = await cluster(r);
    const ng = await findNodeGroup(storage, adminWideScope(r.ctx), c, r.params.ng);
    if (ng.is_default) throw E.DeletingDefaultNGNotSupported();
    await deps.conductor.nodegroupDelete(r.ctx, c, ng);
    return { status: 204 };
  }, { summary: 'Delete a nodegroup (not a default one)', tags, params: ngParams, querystring: NoQuery, response: { 204: NoContent } });
}
