// Whether a 4xx answer is in one of the forms Magnum gives, when the test does not know which one
// to expect: Magnum's {"errors": [one]} body (std), the bare body of webob's routing and
// negotiation errors (404, 405, 406), the microversion 406 body, and keystonemiddleware's 401.

export interface Answer {
  statusCode: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
}

const MV406 = JSON.stringify({
  max_version: '1.10', min_version: '1.1', code: 'magnum.microversion-unsupported', title: 'Requested microversion is unsupported',
  links: [{ rel: 'help', href: 'http://docs.openstack.org/api-guide/compute/microversions.html' }],
});
const REQUEST_ID = /^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The problems of an error answer; [] when it is in one of Magnum's forms. */
export function errorFormProblems(res: Answer): string[] {
  const p: string[] = [];
  const status = res.statusCode;
  const requestId = String(res.headers['x-openstack-request-id'] ?? '');
  if (!REQUEST_ID.test(requestId)) p.push(`x-openstack-request-id ${JSON.stringify(requestId)}`);
  if (!/^application\/json/.test(String(res.headers['content-type'] ?? ''))) p.push(`content-type ${String(res.headers['content-type'])}`);
  let body: unknown;
  try {
    body = JSON.parse(res.body);
  } catch {
    return [...p, `body is not JSON: ${JSON.stringify(res.body.slice(0, 200))}`];
  }
  if (status === 401) {
    const e = (body as { error?: Record<string, unknown> }).error;
    if (!e || e.code !== 401 || e.title !== 'Unauthorized' || typeof e.message !== 'string') p.push(`not the 401 body: ${res.body.slice(0, 300)}`);
    return p;
  }
  const errors = (body as { errors?: unknown })?.errors;
  if (!Array.isArray(errors) || errors.length !== 1 || Object.keys(body as object).length !== 1) return [...p, `body is not {"errors": [one]}: ${res.body.slice(0, 300)}`];
  const e = errors[0] as Record<string, unknown>;
  if (status === 406 && JSON.stringify(e) === MV406) return p;
  const keys = Object.keys(e).sort().join(',');
  if (keys !== 'code,detail,links,request_id,status,title') return [...p, `error keys ${keys}: ${res.body.slice(0, 300)}`];
  if (e.status !== status) p.push(`errors[0].status ${String(e.status)} != ${status}`);
  if (e.request_id !== requestId) p.push(`errors[0].request_id ${JSON.stringify(e.request_id)} is not the request id header`);
  if (!Array.isArray(e.links) || e.links.length !== 0) p.push(`errors[0].links ${JSON.stringify(e.links)}`);
  if (e.code === '' && e.title === '' && e.detail === '') {
    if (![404, 405, 406].includes(status)) p.push(`bare (webob) body with status ${status}`);
    return p;
  }
  if (e.code !== 'client') p.push(`errors[0].code ${JSON.stringify(e.code)}`);
  if (typeof e.detail !== 'string' || e.detail === '') p.push(`errors[0].detail ${JSON.stringify(e.detail)}`);
  else {
    const dot = e.detail.indexOf('.');
    if (e.title !== (dot === -1 ? e.detail : e.detail.slice(0, dot))) p.push(`errors[0].title ${JSON.stringify(e.title)} is not the detail up to its first '.'`);
  }
  return p;
}

/** The detail of an error body, whichever form, for reports. */
export function errorDetail(body: string): string {
  try {
    const b = JSON.parse(body) as { errors?: { detail?: string; title?: string }[]; error?: { message?: string } };
    return String(b.errors?.[0]?.detail || b.errors?.[0]?.title || b.error?.message || body.slice(0, 200));
  } catch {
    return body.slice(0, 200);
  }
}
