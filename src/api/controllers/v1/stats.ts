import { E } from '../../../common/errors.ts';
import type { ApiDeps, Router } from '../../app.ts';
import { Query, W } from '../../request-schemas.ts';
import { Stats } from '../../schemas.ts';
import { adminWideScope, projectScope, requireProject, type Scope } from '../../../common/scope.ts';

/** type: what to count (only 'cluster'); project_id: an admin's choice of project. Neither repeated. */
const StatsQuery = Query({ project_id: W.str(), type: W.str() }, { singleValued: true });

export function registerStats(router: Router, deps: ApiDeps): void {
  router.get('/v1/stats', async (r) => {
    r.checkQuery();
    const type = r.query.type === undefined ? 'cluster' : String(r.query.type).toLowerCase();
    if (type !== 'cluster') throw E.InvalidParameterValue("Invalid stats type. Allowed values are 'cluster'");
    const own = requireProject(r.ctx);
    const asked = r.query.project_id === undefined ? null : String(r.query.project_id);
    if (!r.ctx.isAdmin && asked !== null && asked !== own) throw E.NotAuthorized();
    // Admins get totals over every project unless they name one; others their own project's.
    const scope: Scope = !r.ctx.isAdmin ? projectScope(r.ctx) : asked === null ? adminWideScope(r.ctx) : { kind: 'project', projectId: asked };
    deps.policy.enforce(r.ctx, 'stats:get_all', { project_id: asked ?? own });
    return { status: 200, body: await deps.storage.clusterStats(scope) };
  }, { summary: "Clusters and nodes counted: the caller's project, or an admin's choice (every project by default)", tags: ['stats'], querystring: StatsQuery, response: { 200: Stats } });
}
