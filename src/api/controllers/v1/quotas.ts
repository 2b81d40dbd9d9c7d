import { E } from '../../../common/errors.ts';
import { UniqueViolation } from '../../../db/api.ts';
import { QUOTA_RESOURCES } from '../../../objects/fields.ts';
import type { ApiDeps, ApiRequest, Router } from '../../app.ts';
import { nextLink, pageParams } from '../../common.ts';
import type { TSchema } from 'typebox';
import { Body, NoQuery, Params, Query, W, fieldValue } from '../../request-schemas.ts';
import { NoContent, Quota, QuotaList, QuotaShown } from '../../schemas.ts';
import { quotaView } from '../../views.ts';
import { adminWideScope, projectScope } from '../../../common/scope.ts';

/** A quota's attributes; Magnum names the argument quota in a create, quotapatch in an update. */
const quotaBody = (argument: string): TSchema => Body(argument, {
  id: W.int(),
  project_id: W.str({ min: 1, max: 255 }),
  resource: W.enum(QUOTA_RESOURCES, { default: 'Cluster' }),
  hard_limit: W.int({ min: 0, default: 1 }),
  created_at: W.readonly(),
  updated_at: W.readonly(),
});
const QuotaCreate = quotaBody('quota');
const QuotaPatch = quotaBody('quotapatch');
/** Quotas page by id: the marker is an id. */
const QuotaListQuery = Query({ limit: W.int(), marker: W.int(), sort_key: W.str(), sort_dir: W.enum(['asc', 'desc']), all_tenants: W.bool() });
const tags = ['quotas'];
const params = Params('project', 'resource');

export function registerQuotas(router: Router, deps: ApiDeps): void {
  const { storage, policy, conf } = deps;

  router.get('/v1/quotas', async (r) => {
    r.checkQuery();
    policy.enforce(r.ctx, 'quota:get_all');
    const allTenants = r.query.all_tenants === undefined ? false : fieldValue(QuotaListQuery, 'all_tenants', r.query.all_tenants) === true;
    const { marker: _uuidMarker, ...p } = pageParams({ ...r.query, marker: undefined }, 'quotas', conf.api.max_limit);
    let marker;
    if (r.query.marker !== undefined) {
      const id = fieldValue(QuotaListQuery, 'marker', r.query.marker) as number;
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
  }, { summary: "List quotas (the caller's project; every project's with all_tenants, admins)", tags, querystring: QuotaListQuery, response: { 200: QuotaList } });

  router.get('/v1/quotas/:project/:resource', async (r) => {
    r.checkQuery();
    // Magnum enforces quota:get against the caller's own project (no target), so a member asking
    // about another project passes the rule and gets NotAuthorized ("Not authorized.") below.
    policy.enforce(r.ctx, 'quota:get');
    if (!r.ctx.isAdmin && r.params.project !== r.ctx.projectId) throw E.NotAuthorized();
    const q = await storage.getQuota(r.params.project, r.params.resource);
    if (!q) return { status: 200, body: { project_id: r.params.project, hard_limit: conf.quotas.max_clusters_per_project, resource: 'Cluster' } };
    return { status: 200, body: quotaView(q) };
  }, { summary: "Show a project's quota of a resource (the default when none is set)", tags, params, querystring: NoQuery, response: { 200: QuotaShown } });

  router.post('/v1/quotas', async (r) => {
    r.checkQuery();
    const input = r.body();
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
  }, { summary: "Set a project's quota (admins)", tags, querystring: NoQuery, body: QuotaCreate, response: { 201: Quota } });

  const existing = async (r: ApiRequest) => {
    const q = await storage.getQuota(r.params.project, r.params.resource);
    if (!q) throw E.QuotaNotFound(r.params.project, r.params.resource);
    return q;
  };

  router.patch('/v1/quotas/:project/:resource', async (r) => {
    r.checkQuery();
    const input = r.body();
    policy.enforce(r.ctx, 'quota:update');
    const q = await existing(r);
    const updated = await storage.updateQuota(q.id, { hard_limit: (input.hard_limit as number | null) ?? 1 });
    return { status: 202, body: quotaView(updated) };
  }, { summary: "Change a project's quota (admins; a JSON body, not a patch)", tags, params, querystring: NoQuery, body: QuotaPatch, response: { 202: Quota } });

  router.delete('/v1/quotas/:project/:resource', async (r) => {
    r.checkQuery();
    policy.enforce(r.ctx, 'quota:delete');
    const q = await existing(r);
    await storage.deleteQuota(q.id);
    return { status: 204 };
  }, { summary: "Remove a project's quota (admins)", tags, params, querystring: NoQuery, response: { 204: NoContent } });
}
