// Real answers checked against /v1/openapi.json: the document is read once, then each answer is
// validated against the schema its route (method and path template) declares for its status. An
// answer whose status the route does not declare fails, as does a body the schema refuses.
import assert from 'node:assert/strict';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';

interface Operation { responses: Record<string, { content?: { 'application/json'?: { schema: object } } }> }
export interface OpenApiDocument { paths: Record<string, Record<string, Operation>> }

/** Checks one answer; `seen` holds each "METHOD /path/{template} status" checked so far, `count` the answers. */
export type AnswerChecker = ((method: string, url: string, status: number, body: unknown) => void) & { seen: Set<string>; count: number };

/** The six routes of a workload collection, each with its success status. */
export const workloadRoutes = (coll: 'services' | 'pods'): string[] => [
  `GET /v1/${coll} 200`, `GET /v1/${coll}/detail 200`, `GET /v1/${coll}/{ident} 200`, `POST /v1/${coll} 201`, `PATCH /v1/${coll}/{ident} 202`, `DELETE /v1/${coll}/{ident} 204`,
];

export function answerChecker(doc: OpenApiDocument): AnswerChecker {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  // Literal segments first: /v1/pods/detail is its own route, not /v1/pods/{ident}.
  const routes = Object.keys(doc.paths)
    .map((p) => ({ path: p, re: new RegExp(`^${p.replace(/\{[^}]+\}/g, '[^/]+')}$`), params: (p.match(/\{/g) ?? []).length }))
    .sort((a, b) => a.params - b.params);
  const compiled = new Map<string, ValidateFunction>();
  const checker: AnswerChecker = Object.assign((method: string, url: string, status: number, body: unknown) => {
    checker.count++;
    const m = method.toLowerCase();
    const path = url.split('?')[0];
    const route = routes.find((r) => r.re.test(path) && doc.paths[r.path][m]);
    assert.ok(route, `${method} ${path} is a route of /v1/openapi.json`);
    const what = `${method} ${route.path} ${status}`;
    checker.seen.add(what);
    const answer = doc.paths[route.path][m].responses[String(status)];
    assert.ok(answer, `${what}: the route declares this status (answer: ${JSON.stringify(body)})`);
    const schema = answer.content?.['application/json']?.schema;
    if (status === 204) {
      assert.equal(body, null, `${what}: no body`);
      return;
    }
    assert.ok(schema, `${what} has a schema`);
    let validate = compiled.get(what);
    if (!validate) {
      validate = ajv.compile(schema);
      compiled.set(what, validate);
    }
    assert.ok(validate(body), `${what}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body)}`);
  }, { seen: new Set<string>(), count: 0 });
  return checker;
}

/** The checker of a running API server's document. */
export async function serverAnswerChecker(base: string): Promise<AnswerChecker> {
  const r = await fetch(`${base}/v1/openapi.json`);
  assert.equal(r.status, 200);
  return answerChecker(await r.json() as OpenApiDocument);
}
