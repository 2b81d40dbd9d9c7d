import { E } from '../../../common/errors.ts';
import type { ApiDeps, Router } from '../../app.ts';
import { checkQuery } from '../../validation.ts';

export function registerStats(router: Router, deps: ApiDeps): void {
  router.get('/v1/stats', async (r) => {
    checkQuery(r.query, ['project_id', 'type']);
    const type = r.query.type === undefined ? 'cluster' : String(r.query.type).toLowerCase();
    if (type !== 'cluster') throw E.InvalidParameterValue("Invalid stats type. Allowed values are 'cluster'");
    let projectId: string | null = r.query.project_id === undefined ? null : String(r.query.project_id);
    if (!r.ctx.isAdmin) {
      if (projectId !== null && projectId !== r.ctx.projectId) throw E.NotAuthorized();
      projectId = r.ctx.projectId;
    }
    deps.policy.enforce(r.ctx, 'stats:get_all', { project_id: projectId ?? r.ctx.projectId });
    return { status: 200, body: await deps.storage.clusterStats(projectId) };
  });
}
