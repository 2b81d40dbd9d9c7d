import { randomUUID } from 'node:crypto';
import { E } from '../../../common/errors.ts';
import { UniqueViolation } from '../../../db/api.ts';
import type { Cluster, NodeGroup } from '../../../objects/models.ts';
import type { ApiDeps, ApiRequest, Router } from '../../app.ts';
import { atLeast, listQuery, nextLink, pageParams } from '../../common.ts';
import { COMMON_INTERNAL, applyPatch, parsePatchBody } from '../../patch.ts';
import { coerceField, parseBody, type Fields } from '../../validation.ts';
import { nodegroupBrief, nodegroupFull } from '../../views.ts';
import { NodeGroup as NodeGroupSchema, NodeGroupList } from '../../schemas.ts';
import { validateInfra } from './cluster-templates.ts';
import { adminWideScope, findCluster, findNodeGroup, ownerScope } from './lookup.ts';

const s255 = { kind: 'string', min: 1, max: 255 } as const;
const ro = { type: { kind: 'any' }, readonly: true } as const;

const NODEGROUP_INPUT: Fields = {
  id: { type: { kind: 'int', min: 1 } },
  uuid: { type: { kind: 'uuid' } },
  name: { type: s255 },
  cluster_id: { type: { kind: 'any' } },
  docker_volume_size: { type: { kind: 'int', min: 1 } },
  labels: { type: { kind: 'labels' } },
  merge_labels: { type: { kind: 'bool' }, default: false },
  flavor_id: { type: s255 },
  image_id: { type: s255 },
  node_count: { type: { kind: 'int', min: 0 }, default: 1 },
  role: { type: s255, default: 'worker' },
  min_node_count: { type: { kind: 'int', min: 0 }, default: 0 },
  max_node_count: { type: { kind: 'int', min: 0 } },
  is_default: { type: { kind: 'bool' } },
  status: { type: { kind: 'any' } },
  status_reason: { type: { kind: 'any' } },
  version: { type: { kind: 'any' } },
  project_id: ro, stack_id: ro, node_addresses: ro, links: ro, created_at: ro, updated_at: ro,
  labels_overridden: ro, labels_added: ro, labels_skipped: ro,
};

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
    listQuery(r.query, ['role']);
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
  }, { summary: 'List the nodegroups of a cluster', tags: ['nodegroups'], response: { 200: NodeGroupList } });

  router.get(`${base}/:ng`, async (r) => {
    gate(r);
    if (Object.keys(r.query).length) throw E.UnknownArgument(Object.keys(r.query)[0]);
    policy.enforce(r.ctx, 'nodegroup:get', { project_id: r.ctx.projectId });
    if (r.ctx.isAdmin) policy.enforce(r.ctx, 'nodegroup:get_one_all_projects');
    const c = await cluster(r);
    const ng = await findNodeGroup(storage, adminWideScope(r.ctx), c, r.params.ng);
    return { status: 200, body: nodegroupFull(ng, c.labels, r.host) };
  }, { summary: 'Show a nodegroup (by uuid, name or id)', tags: ['nodegroups'], response: { 200: NodeGroupSchema } });

  router.post(base, async (r) => {
    gate(r);
    if (Object.keys(r.query).length) throw E.UnknownArgument(Object.keys(r.query)[0]);
    const input = parseBody('nodegroup', NODEGROUP_INPUT, r.json());
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
  }, { summary: 'Create a nodegroup', tags: ['nodegroups'], response: { 202: NodeGroupSchema } });

  router.patch(`${base}/:ng`, async (r) => {
    gate(r);
    if (Object.keys(r.query).length) throw E.UnknownArgument(Object.keys(r.query)[0]);
    const ops = parsePatchBody(r.json(), { internal: NG_INTERNAL, nonRemovable: [] });
    policy.enforce(r.ctx, 'nodegroup:update', { project_id: r.ctx.projectId });
    const c = await cluster(r);
    const ng = await findNodeGroup(storage, adminWideScope(r.ctx), c, r.params.ng);
    const current = { min_node_count: ng.min_node_count, max_node_count: ng.max_node_count };
    const patched = applyPatch(current, ops);
    for (const k of Object.keys(patched)) if (!(k in current)) throw E.UnknownAttribute('nodegroup', [k]);
    const min = patched.min_node_count === undefined || patched.min_node_count === null ? 0 : (coerceField('min_node_count', NODEGROUP_INPUT.min_node_count, patched.min_node_count) as number);
    const max = patched.max_node_count === undefined || patched.max_node_count === null ? null : (coerceField('max_node_count', NODEGROUP_INPUT.max_node_count, patched.max_node_count) as number);
    checkCounts({ name: ng.name, node_count: ng.node_count, min_node_count: min, max_node_count: max });
    // Changing the bounds changes no node: it is saved at once (Magnum's Heat driver does the same).
    const updated = await storage.updateNodeGroup(ng.uuid, { min_node_count: min, max_node_count: max });
    return { status: 202, body: nodegroupFull(updated ?? ng, c.labels, r.host) };
  }, { summary: 'Update a nodegroup\'s node count bounds (JSON Patch)', tags: ['nodegroups'], response: { 202: NodeGroupSchema } });

  router.delete(`${base}/:ng`, async (r) => {
    gate(r);
    if (Object.keys(r.query).length) throw E.UnknownArgument(Object.keys(r.query)[0]);
    policy.enforce(r.ctx, 'nodegroup:delete', { project_id: r.ctx.projectId });
    const c = await cluster(r);
    const ng = await findNodeGroup(storage, adminWideScope(r.ctx), c, r.params.ng);
    if (ng.is_default) throw E.DeletingDefaultNGNotSupported();
    await deps.conductor.nodegroupDelete(r.ctx, c, ng);
    return { status: 204 };
  });
}
