// The assertion every API test makes of an error answer: Magnum's one-element {"errors": [...]}
// body, status and code matching, title = detail up to its first '.', and the detail expected.
import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';

export function magnumError(r: LightMyRequestResponse, status: number, detail?: string | RegExp): void {
  assert.equal(r.statusCode, status, `${r.statusCode}: ${r.body}`);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  const body = r.json() as { errors: Record<string, unknown>[] };
  assert.equal(body.errors.length, 1);
  const e = body.errors[0];
  assert.equal(e.status, status);
  assert.equal(e.code, status >= 500 ? 'server' : 'client');
  assert.match(String(r.headers['x-openstack-request-id']), /^req-/);
  assert.equal(e.request_id, r.headers['x-openstack-request-id'], 'request_id is the request id header');
  assert.deepEqual(e.links, []);
  const d = String(e.detail);
  assert.ok(d.length > 0);
  const dot = d.indexOf('.');
  assert.equal(e.title, dot === -1 ? d : d.slice(0, dot));
  if (typeof detail === 'string') assert.equal(d, detail);
  else if (detail) assert.match(d, detail);
}
