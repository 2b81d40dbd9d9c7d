// A test's client of a real API server (an all-in-one on a port): one request, a request that must
// answer a given status, and the assertion on a Magnum error answer.
import assert from 'node:assert/strict';

export interface Reply {
  status: number;
  body: any;
}

export function httpApi(base: string) {
  const call = async (method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<Reply> => {
    const r = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  };
  return {
    call,
    /** The body of an answer that must have `status`. */
    async expect(method: string, path: string, headers: Record<string, string>, body: unknown, status: number): Promise<any> {
      const r = await call(method, path, headers, body);
      assert.equal(r.status, status, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    },
  };
}

/** Magnum's error form with this status and detail. */
export function magnumError(r: Reply, status: number, detail: string | RegExp): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  const e = r.body.errors[0];
  assert.equal(e.status, status);
  assert.equal(e.code, status >= 500 ? 'server' : 'client');
  if (typeof detail === 'string') assert.equal(e.detail, detail);
  else assert.match(e.detail, detail);
}
