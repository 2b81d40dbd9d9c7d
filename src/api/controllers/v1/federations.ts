import { E } from '../../../common/errors.ts';
import type { ApiDeps, ApiRequest, Router } from '../../app.ts';
import { listQuery, pageParams } from '../../common.ts';
import { COMMON_INTERNAL, parsePatchBody } from '../../patch.ts';
import { checkQuery, parseBody, parseBool } from '../../validation.ts';
import { adminWideScope, findCluster } from './lookup.ts';

// Federations are experimental in Magnum 15 and do nothing there (the conductor raises
// NotImplementedError and nothing is stored). We validate requests the same way, list the
// (always empty) collection, and refuse creation with a clear 400 rather than a fake 202.
export function registerFederations(router: Router, deps: ApiDeps): void {
  const { policy, storage } = deps;
  const list = (detail: boolean) => async (r: ApiRequest) => {
    listQuery(r.query);
    policy.enforce(r.ctx, `federation:${detail ? 'detail' : 'get_all'}`);
    // Pagination is validated as Magnum does; nothing is stored, so any marker is unknown.
    const p = pageParams(r.query, 'federation', deps.conf.api.max_limit);
    if (p.marker) throw E.FederationNotFound(p.marker);
    return { status: 200, body: { federations: [] } };
  };
  router.get('/v1/federations', list(false));
  router.get('/v1/federations/detail', list(true));
  router.get('/v1/federations/:ident', async (r) => {
    checkQuery(r.query, []);
    policy.enforce(r.ctx, 'federation:get');
    throw E.FederationNotFound(r.params.ident);
  });
  router.post('/v1/federations', async (r) => {
    checkQuery(r.query, []);
    const input = parseBody('federation', {
      uuid: { type: { kind: 'uuid' } },
      name: { type: { kind: 'string', min: 1, max: 242, pattern: /^[a-zA-Z][a-zA-Z0-9_.-]*$/ } },
      hostcluster_id: { type: { kind: 'string' } },
      member_ids: { type: { kind: 'strlist' } },
      properties: { type: { kind: 'strdict' } },
      status: { type: { kind: 'any' } },
      status_reason: { type: { kind: 'any' } },
      links: { type: { kind: 'any' }, readonly: true },
      created_at: { type: { kind: 'any' }, readonly: true },
      updated_at: { type: { kind: 'any' }, readonly: true },
    }, r.json());
    policy.enforce(r.ctx, 'federation:create');
    if (!input.hostcluster_id) throw E.InvalidParameterValue('No hostcluster specified. Please specify a hostcluster_id.');
    await findCluster(storage, adminWideScope(r.ctx), String(input.hostcluster_id));
    if (!input.properties) throw E.InvalidParameterValue('Please specify a `properties` dict for the federation.');
    if (!('dns-zone' in (input.properties as object))) throw E.InvalidParameterValue('No DNS zone specified. Please specify a `dns-zone`.');
    throw E.NotSupported('Creating a federation is not supported: no federation backend exists (Magnum 15 has none either).');
  });
  router.patch('/v1/federations/:ident', async (r) => {
    checkQuery(r.query, ['rollback']);
    if (r.query.rollback !== undefined) parseBool(r.query.rollback);
    parsePatchBody(r.json(), { internal: COMMON_INTERNAL, nonRemovable: [] });
    policy.enforce(r.ctx, 'federation:update');
    throw E.FederationNotFound(r.params.ident);
  });
  router.delete('/v1/federations/:ident', async (r) => {
    checkQuery(r.query, []);
    policy.enforce(r.ctx, 'federation:delete');
    throw E.FederationNotFound(r.params.ident);
  });
}
