import type { MagnumError } from '../../common/errors.ts';

/** Magnum's error body: one element; title = detail up to its first '.'; webob errors are bare.
 *  request_id is the x-openstack-request-id of the answer. */
export function renderError(e: MagnumError, requestId: string) {
  if (e.bare) {
    return { errors: [{ request_id: requestId, code: '', status: e.status, title: '', detail: '', links: [] }] };
  }
  const detail = e.message;
  const dot = detail.indexOf('.');
  const title = dot === -1 ? detail : detail.slice(0, dot);
  return {
    errors: [{ request_id: requestId, code: e.status >= 500 ? 'server' : 'client', status: e.status, title, detail, links: [] }],
  };
}
