import { E } from '../../../common/errors.ts';
import { UniqueViolation } from '../../../db/api.ts';
import { QUOTA_RESOURCES } from '../../../objects/fields.ts';
import type { ApiDeps, ApiRequest, Router } from '../../app.ts';
import { nextLink, pageParams } from '../../common.ts';
import { coerceField, parseBody, parseBool, type Fields } from '../../validation.ts';
import { quotaView } from '../../views.ts';
import { adminWideScope, projectScope } from '../../../common/scope.ts';

const QUOTA_INPUT: Fields = {
  id: { type: { kind: 'int' } },
  project_id: { type: { kind: 'string', min: 1, max: 255 } },
  resource: { type: { kind: 'enum', values: QUOTA_RESOURCES }, default: 'Cluster' },
  hard_limit: { type: { kind: 'int', min: 0 }, default: 1 },
  created_at: { type: { kind: 'any' }, readonly: true },
  updated_at: { type: { kind: 'any' }, readonly: true },
};

export function registerQuotas(router: Router, deps: ApiDeps): void {
  const { storage, policy, conf } = deps;

  router.get('/v1/quotas', async (r) => {
    for (const k of Object.keys(r.query)) if (!['limit', 'marker', 'sort_key', 'sort_dir', 'all_tenants'].includes(k)) throw E.UnknownArgument(k);
    policy.enforce(r.ctx, 'quota:get_all');
    const allTenants = r.query.all_tenants === undefined ? false : parseBool(r.query.all_tenants);
    const { marker: _uuidMarker, ...p } = pageParams({ ...r.query, marker: undefined }, 'quotas', conf.api.max_limit);
    let marker;
    if (r.query.marker !== undefined) {
      const id = coerceField('marker', { type: { kind: 'int' } }, r.query.marker) as number;
      marker = await storage.getQuotaById(id);
      if (!marker) throw E.QuotaNotFound(String(id), 'Cluster');
    }
    const page = { ...p, marker };
    // Admins list every project's quotas only when they ask for all_tenants (Magnum's rule).
    const scope = allTenants ? adminWideScope(r.ctx) : projectScope(r.ctx);
    const items = await storage.listQuotas(scope, page);
    const body: Record<string, unknown> = { quotas: items.map(quotaView) };
    const next = nextLink(r.host, 'quotas', page, items, 'id');
    if (next) body.next = next;
    return { status: 200, body };
  });

  router.get('/v1/quotas/:project/:resource', async (r) => {
    if (Object.keys(r.query).length) throw E.UnknownArgument(Object.keys(r.query)[0]);
    // Magnum enforces quota:get against the caller's own project (no target), so a member asking
    // about another project passes the rule and gets NotAuthorized ("Not authorized.") below.
    policy.enforce(r.ctx, 'quota:get');
    if (!r.ctx.isAdmin && r.params.project !== r.ctx.projectId) throw E.NotAuthorized();
    const q = await storage.getQuota(r.params.project, r.params.resource);
    if (!q) return { status: 200, body: { project_id: r.params.project, hard_limit: conf.quotas.max_clusters_per_project, resource: 'Cluster' } };
    return { status: 200, body: quotaView(q) };
  });

  router.post('/v1/quotas', async (r) => {
    if (Object.keys(r.query).length) throw E.UnknownArgument(Object.keys(r.query)[0]);
    const input = parseBody('quota', QUOTA_INPUT, r.json());
    policy.enforce(r.ctx, 'quota:create');
    const projectId = input.project_id as string | null | undefined;
    if (!projectId) throw E.InvalidParameterValue('Must provide a valid project ID.');
    if (deps.projects && !(await deps.projects.exists(projectId))) throw E.ProjectNotFound('project_id', projectId);
    try {
      const q = await storage.createQuota({ project_id: projectId, resource: String(input.resource ?? 'Cluster'), hard_limit: (input.hard_limit as number | null) ?? 1 });
      return { status: 201, body: quotaView(q) };
    } catch (e) {
      if (e instanceof UniqueViolation) throw E.QuotaAlreadyExists(projectId, String(input.resource ?? 'Cluster'));
      throw e;
    }
  });

  const existing = async (r: ApiRequest) => {
    const q = await storage.getQuota(r.params.project, r.params.resource);
    if (!q) throw E.QuotaNotFound(r.params.project, r.params.resource);
    return q;
  };

  router.patch('/v1/quotas/:project/:resource', async (r) => {
    if (Object.keys(r.query).length) throw E.UnknownArgument(Object.keys(r.query)[0]);
    const input = parseBody('quotapatch', QUOTA_INPUT, r.json());
    policy.enforce(r.ctx, 'quota:update');
    const q = await existing(r);
    const updated = await storage.updateQuota(q.id, { hard_limit: (input.hard_limit as number | null) ?? 1 });
    return { status: 202, body: quotaView(updated) };
  });

  router.delete('/v1/quotas/:project/:resource', async (r) => {
    if (Object.keys(r.query).length) throw E.UnknownArgument(Object.keys(r.query)[0]);
    policy.enforce(r.ctx, 'quota:delete');
    const q = await existing(r);
    await storage.deleteQuota(q.id);
    return { status: 204 };
  });
}
