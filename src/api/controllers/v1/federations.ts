import { E } from '../../../common/errors.ts';
import type { ApiDeps, ApiRequest, Router } from '../../app.ts';
import { PageQuery, pageParams } from '../../common.ts';
import { COMMON_INTERNAL, parsePatchBody } from '../../patch.ts';
import { Body, NoQuery, Params, PatchDocument, Query, W, fieldValue } from '../../request-schemas.ts';
import { Federation, page, refusals } from '../../schemas.ts';
import { adminWideScope, findCluster } from './lookup.ts';

// Federations are experimental in Magnum 15 and do nothing there (the conductor raises
// NotImplementedError and nothing is stored). We validate requests the same way, list the
// (always empty) collection, and refuse creation with a clear 400 rather than a fake 202.
/** A federation as a create takes it (refused afterwards: there is no federation backend). */
export const FederationCreate = Body('federation', {
  uuid: W.uuid(),
  name: W.str({ min: 1, max: 242, pattern: '^[a-zA-Z][a-zA-Z0-9_.-]*$' }),
  hostcluster_id: W.str(),
  member_ids: W.strlist(),
  properties: W.strdict(),
  status: W.any(),
  status_reason: W.any(),
  links: W.readonly(),
  created_at: W.readonly(),
  updated_at: W.readonly(),
});
const PatchQuery = Query({ rollback: W.bool() }, { singleValued: true });
const tags = ['federations'];
const ident = Params('ident');

export function registerFederations(router: Router, deps: ApiDeps): void {
  const { policy, storage } = deps;
  const list = (detail: boolean) => async (r: ApiRequest) => {
    r.checkQuery();
    policy.enforce(r.ctx, `federation:${detail ? 'detail' : 'get_all'}`);
    // Pagination is validated as Magnum does; nothing is stored, so any marker is unknown.
    const p = pageParams(r.query, 'federation', deps.conf.api.max_limit);
    if (p.marker) throw E.FederationNotFound(p.marker);
    return { status: 200, body: { federations: [] } };
  };
  router.get('/v1/federations', list(false), { summary: 'List federations (always empty)', tags, querystring: PageQuery, response: { 200: page('federations', Federation) } });
  router.get('/v1/federations/detail', list(true), { summary: 'List federations with details (always empty)', tags, querystring: PageQuery, response: { 200: page('federations', Federation) } });
  router.get('/v1/federations/:ident', async (r) => {
    r.checkQuery();
    policy.enforce(r.ctx, 'federation:get');
    throw E.FederationNotFound(r.params.ident);
  }, { summary: 'Show a federation (none exists)', tags, params: ident, querystring: NoQuery, response: refusals(404) });
  router.post('/v1/federations', async (r) => {
    r.checkQuery();
    const input = r.body();
    policy.enforce(r.ctx, 'federation:create');
    if (!input.hostcluster_id) throw E.InvalidParameterValue('No hostcluster specified. Please specify a hostcluster_id.');
    await findCluster(storage, adminWideScope(r.ctx), String(input.hostcluster_id));
    if (!input.properties) throw E.InvalidParameterValue('Please specify a `properties` dict for the federation.');
    if (!('dns-zone' in (input.properties as object))) throw E.InvalidParameterValue('No DNS zone specified. Please specify a `dns-zone`.');
    throw E.NotSupported('Creating a federation is not supported: no federation backend exists (Magnum 15 has none either).');
  }, { summary: 'Create a federation (checked, then refused: no federation backend exists)', tags, querystring: NoQuery, body: FederationCreate, response: refusals(400) });
  router.patch('/v1/federations/:ident', async (r) => {
    r.checkQuery();
    if (r.query.rollback !== undefined) fieldValue(PatchQuery, 'rollback', r.query.rollback);
    parsePatchBody(r.json(), { internal: COMMON_INTERNAL, nonRemovable: [] });
    policy.enforce(r.ctx, 'federation:update');
    throw E.FederationNotFound(r.params.ident);
  }, { summary: 'Update a federation (none exists)', tags, params: ident, querystring: PatchQuery, body: PatchDocument, response: refusals(404) });
  router.delete('/v1/federations/:ident', async (r) => {
    r.checkQuery();
    policy.enforce(r.ctx, 'federation:delete');
    throw E.FederationNotFound(r.params.ident);
  }, { summary: 'Delete a federation (none exists)', tags, params: ident, querystring: NoQuery, response: refusals(404) });
}
