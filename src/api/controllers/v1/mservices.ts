import type { ApiDeps, Router } from '../../app.ts';
import { isoTime } from '../../common.ts';
import { NoQuery } from '../../request-schemas.ts';
import { MServiceList } from '../../schemas.ts';

export function registerMagnumServices(router: Router, deps: ApiDeps): void {
  router.get('/v1/mservices', async (r) => {
    r.checkQuery();
    deps.policy.enforce(r.ctx, 'magnum-service:get_all');
    const downAfter = deps.conf.DEFAULT.service_down_time * 1000;
    const now = Date.now();
    const services = await deps.storage.listServices();
    return {
      status: 200,
      body: {
        mservices: services.map((s) => {
          const seen = s.last_seen_up ?? s.updated_at ?? s.created_at;
          const up = !s.forced_down && seen !== null && now - seen.getTime() <= downAfter;
          return {
            id: s.id, host: s.host, binary: s.binary, state: up ? 'up' : 'down', report_count: s.report_count,
            disabled: s.disabled, disabled_reason: s.disabled_reason, created_at: isoTime(s.created_at), updated_at: isoTime(s.updated_at),
          };
        }),
      },
    };
  }, { summary: 'The Magnum services (conductors) and whether each is up', tags: ['mservices'], querystring: NoQuery, response: { 200: MServiceList } });
}
