// Legacy /v1/bays: the same cluster rows under their 2015 names (baymodel_id, bay_create_timeout,
// bay_faults). Bay routes never switch admins to all projects and skip the quota check.
import { E } from '../../../common/errors.ts';
import type { Cluster, NodeGroup } from '../../../objects/models.ts';
import type { ApiDeps, ApiRequest, Router } from '../../app.ts';
import { atLeast, isoTime, listQuery, nextLink, pageParams, resourceLinks } from '../../common.ts';
import { COMMON_INTERNAL, applyPatch, parsePatchBody } from '../../patch.ts';
import { coerceField, parseBody, type Fields } from '../../validation.ts';
import { aggregate, type ViewNodeGroup } from '../../views.ts';
import { createCluster, defaultWorker, nodegroupsByCluster } from './clusters.ts';
import { findCluster, projectScope } from './lookup.ts';

const ro = { type: { kind: 'any' }, readonly: true } as const;
const s255 = { kind: 'string', min: 1, max: 255 } as const;
const BAY_INPUT: Fields = {
  uuid: { type: { kind: 'uuid' } },
  name: { type: { kind: 'string', min: 1, max: 242, pattern: /^[a-zA-Z][a-zA-Z0-9_.-]*$/, patternText: '^[a-zA-Z][a-zA-Z0-9_.-]*$' } },
  baymodel_id: { type: s255, mandatory: true },
  node_count: { type: { kind: 'int', min: 1 }, default: 1 },
  master_count: { type: { kind: 'int', min: 1 }, default: 1 },
  docker_volume_size: { type: { kind: 'int', min: 1 } },
  labels: { type: { kind: 'labels' } },
  master_flavor_id: { type: s255 },
  flavor_id: { type: s255 },
  bay_create_timeout: { type: { kind: 'int', min: 0 }, default: 60 },
  discovery_url: { type: { kind: 'string', max: 255 } },
  fixed_network: { type: s255 },
  fixed_subnet: { type: s255 },
  floating_ip_enabled: { type: { kind: 'bool' }, default: true },
  master_lb_enabled: { type: { kind: 'bool' } },
  status: { type: { kind: 'any' } },
  status_reason: { type: { kind: 'any' } },
  bay_faults: ro, stack_id: ro, api_address: ro, coe_version: ro, container_version: ro, node_addresses: ro,
  master_addresses: ro, links: ro, created_at: ro, updated_at: ro,
};

function bayBrief(c: Cluster, ngs: readonly ViewNodeGroup[], host: string) {
  const agg = aggregate(ngs);
  return {
    uuid: c.uuid, name: c.name, baymodel_id: c.cluster_template_id, docker_volume_size: c.docker_volume_size, labels: c.labels,
    master_flavor_id: c.master_flavor_id, flavor_id: c.flavor_id, node_count: agg.node_count, status: c.status,
    bay_create_timeout: c.create_timeout, master_count: agg.master_count, stack_id: c.stack_id, links: resourceLinks(host, `bays/${c.uuid}`),
  };
}

function bayFull(c: Cluster, ngs: readonly ViewNodeGroup[], host: string) {
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
    listQuery(r.query);
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
  router.get('/v1/bays', list(false));
  router.get('/v1/bays/detail', list(true));

  router.get('/v1/bays/:ident', async (r) => {
    if (Object.keys(r.query).length) throw E.UnknownArgument(Object.keys(r.query)[0]);
    const c = await findCluster(storage, projectScope(r.ctx), r.params.ident);
    policy.enforce(r.ctx, 'bay:get', { ...c });
    const ngs = await storage.listNodeGroupsOf([c.uuid]);
    return { status: 200, body: bayFull(c, ngs, r.host) };
  });

  router.post('/v1/bays', async (r) => {
    if (Object.keys(r.query).length) throw E.UnknownArgument(Object.keys(r.query)[0]);
    const input = parseBody('bay', BAY_INPUT, r.json());
    for (const f of ['status', 'status_reason']) if (f in (r.json() as object)) throw E.InvalidInput(f, (r.json() as Record<string, unknown>)[f], 'Cannot set read only field.');
    policy.enforce(r.ctx, 'bay:create');
    const { baymodel_id, bay_create_timeout, ...rest } = input;
    const uuid = await createCluster(deps, r, { ...rest, cluster_template_id: baymodel_id, create_timeout: bay_create_timeout, node_count: input.node_count ?? 1 }, { quota: false, templateNotFoundStatus: 400 });
    if (atLeast(r.mv, 2)) return { status: 202, body: { uuid } };
    const c = (await storage.getClusterByUuid(uuid))!;
    return { status: 201, body: bayFull(c, await storage.listNodeGroupsOf([uuid]), r.host), headers: { Location: `${r.host}/v1/bays/${uuid}` } };
  });

  router.patch('/v1/bays/:ident', async (r) => {
    const allowedQuery = atLeast(r.mv, 3) ? ['rollback'] : [];
    for (const k of Object.keys(r.query)) if (!allowedQuery.includes(k)) throw E.UnknownArgument(k);
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
    const nodeCount = coerceField('node_count', BAY_INPUT.node_count, patched.node_count) as number;
    if (!worker) throw E.InvalidParameterValue(`Bay ${c.name ?? c.uuid} has no default worker nodegroup.`);
    if (nodeCount !== worker.node_count) await deps.conductor.clusterUpdate(r.ctx, c, worker, nodeCount, false);
    if (atLeast(r.mv, 2)) return { status: 202, body: { uuid: c.uuid } };
    const now = (await storage.getClusterByUuid(c.uuid))!;
    return { status: 200, body: bayFull(now, await storage.listNodeGroupsOf([c.uuid]), r.host) };
  });

  router.delete('/v1/bays/:ident', async (r) => {
    if (Object.keys(r.query).length) throw E.UnknownArgument(Object.keys(r.query)[0]);
    const c = await findCluster(storage, projectScope(r.ctx), r.params.ident);
    policy.enforce(r.ctx, 'bay:delete', { ...c });
    await deps.conductor.clusterDelete(r.ctx, c);
    return { status: 204 };
  });
}
