// Finding resources by ident with Magnum's tenant scoping: another project's resource is a 404.
import { E } from '../../../common/errors.ts';
import type { Scope, Storage } from '../../../db/api.ts';
import type { Cluster, ClusterTemplate, NodeGroup } from '../../../objects/models.ts';
import { identLookup } from '../../common.ts';
import { TEMPLATE_TAG, scopeKey, type ReadCache } from '../../read-cache.ts';

export { adminWideScope, ownerScope, projectScope } from '../../../common/scope.ts';

export async function findTemplate(storage: Storage, scope: Scope, ident: string, opts: { allowId?: boolean } = {}): Promise<ClusterTemplate> {
  const by = identLookup(ident, opts.allowId);
  const found = await storage.findClusterTemplates(scope, by);
  if (found.length === 0) throw E.ClusterTemplateNotFound(ident);
  if (found.length > 1) throw E.Conflict('Multiple ClusterTemplates exist with same name. Please use the ClusterTemplate uuid instead.');
  return found[0];
}

/** findTemplate through the read cache when there is one: a template found stays there until any
 *  template changes (a miss, 404 or 409, is never kept). Cluster create looks its template up so. */
export async function findTemplateCached(cache: ReadCache | undefined, storage: Storage, scope: Scope, ident: string, opts: { allowId?: boolean } = {}): Promise<ClusterTemplate> {
  if (!cache) return findTemplate(storage, scope, ident, opts);
  const key = JSON.stringify(['template-lookup', scopeKey(scope), ident, opts.allowId === true]);
  const found = await cache.get<ClusterTemplate>(key, [TEMPLATE_TAG], async () => ({ json: '', target: await findTemplate(storage, scope, ident, opts) }));
  return found.target!;
}

export async function findCluster(storage: Storage, scope: Scope, ident: string): Promise<Cluster> {
  return oneCluster(await storage.findClusters(scope, identLookup(ident)), ident);
}

/** The one cluster an ident names among `found`: 404 for none, 409 for several of that name. */
export function oneCluster<C extends Cluster>(found: C[], ident: string): C {
  if (found.length === 0) throw E.ClusterNotFound(ident);
  if (found.length > 1) throw E.Conflict('Multiple clusters exist with same name. Please use the cluster uuid instead.');
  return found[0];
}

export async function findNodeGroup(storage: Storage, scope: Scope, cluster: Cluster, ident: string): Promise<NodeGroup> {
  const found = await storage.findNodeGroups(cluster.uuid, scope, identLookup(ident, true));
  if (found.length === 0) throw E.NodeGroupNotFound(ident);
  if (found.length > 1) throw E.Conflict('Multiple nodegroups exist with same name. Please use the nodegroup uuid instead.');
  return found[0];
}

/** The policy target of a resource: its dict, as Magnum passes `as_dict()`. */
export const target = (r: { project_id?: string | null; user_id?: string | null; [k: string]: unknown }): Record<string, unknown> => r;
