// The tenancy test table (issue 8), shared by test/api/tenancy.test.ts (noauth, every database)
// and test/acceptance/tenancy-keystone.test.ts (real Keystone tokens): fixtures of one project made
// through the API (plus the rows only a real cluster would make, written through the storage),
// the cases every other caller is refused or shown nothing on, and the checks made of each answer:
// status and detail as Magnum gives them, Magnum's error body with the request id of the header,
// no byte of another project's uuids and names in the answer, and a database unchanged by it.
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Router, type ApiDeps } from '../../src/api/app.ts';
import { registerV1 } from '../../src/api/controllers/v1/index.ts';
import type { Config } from '../../src/conf/index.ts';
import type { SqlStorage } from '../../src/db/sql/storage.ts';
import { waitFor } from './stack.ts';

// ---- talking to the API -------------------------------------------------------------------------

export interface Reply {
  status: number;
  headers: Record<string, string>;
  text: string;
}

export type Send = (method: string, url: string, headers: Record<string, string>, body?: unknown) => Promise<Reply>;

/** In process, through Fastify's inject (noauth tests). */
export function injectSender(app: FastifyInstance): Send {
  return async (method, url, headers, body) => {
    const r = await app.inject({ method: method as 'GET', url, headers, ...(body === undefined ? {} : { payload: JSON.stringify(body) }) });
    return { status: r.statusCode, headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, String(v)])), text: r.body };
  };
}

/** Over HTTP to a real server (Keystone tests). */
export function fetchSender(base: string): Send {
  return async (method, url, headers, body) => {
    const r = await fetch(`${base}${url}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const headersOut: Record<string, string> = {};
    r.headers.forEach((v, k) => (headersOut[k] = v));
    return { status: r.status, headers: headersOut, text: await r.text() };
  };
}

/** Who sends a request: a label for messages and the headers that make the identity. */
export interface Caller {
  label: string;
  headers: Record<string, string>;
}

export const API_HEADERS = { 'openstack-api-version': 'container-infra latest', 'content-type': 'application/json' };

async function call(send: Send, who: Caller, method: string, url: string, body: unknown, status: number): Promise<any> {
  const r = await send(method, url, who.headers, body);
  assert.equal(r.status, status, `${who.label}: ${method} ${url}: ${r.status} ${r.text}`);
  return r.text ? JSON.parse(r.text) : {};
}

// ---- one project's resources ----------------------------------------------------------------------

export interface Named {
  uuid: string;
  name: string;
}

export interface ProjectWorld {
  project: string;
  user: string;
  /** A private template, a cluster of it (CREATE_COMPLETE), an extra nodegroup of the cluster. */
  tpl: Named;
  cluster: Named;
  ng: Named;
  /** The cluster's default-master and default-worker. */
  defaultNgs: Named[];
  /** A public template of the project, when it has one (visible to everybody by Magnum's rule). */
  pub?: Named;
  /** Every template of the project (its own list shows them). */
  templates: string[];
  /** Rows a real cluster would have: a container, a Swarm service, a pod, an image load. */
  container: Named;
  service: Named;
  pod: Named;
  load: string;
  /** Its quota row's hard limit. */
  quota: number;
  /** Sum of node_count of its nodegroups (what /v1/stats counts). */
  nodes: number;
  /** Every string of this project that another project must never see. */
  secrets: string[];
}

/**
 * The engine address written over the fake driver's made-up one (192.0.2.250): nothing listens on
 * 127.0.0.1:9, so a request that wrongly reaches the conductor's Docker code stays on this machine.
 */
export const DEAD_ENGINE = 'tcp://127.0.0.1:9';

export interface ProjectSpec {
  send: Send;
  storage: SqlStorage;
  project: string;
  user: string;
  /** A member of the project: makes its template, cluster and nodegroup. */
  owner: Caller;
  /** An admin (of any project): sets the project's quota and, with `publisher`, its public template. */
  admin: Caller;
  /** An admin scoped to this project: makes a public template of it. */
  publisher?: Caller;
}

export async function makeProject(spec: ProjectSpec): Promise<ProjectWorld> {
  const { send, storage, owner } = spec;
  const p = `t${randomBytes(4).toString('hex')}`;
  const tplBody = (name: string, extra: Record<string, unknown> = {}) => ({ name, coe: 'swarm-mode', image_id: 'fake-image', keypair_id: 'kp', ...extra });
  const tpl = await call(send, owner, 'POST', '/v1/clustertemplates', tplBody(`${p}-tpl`), 201);
  assert.equal(tpl.project_id, spec.project, `${owner.label} made a template in project ${tpl.project_id}, not ${spec.project}`);
  let pub: Named | undefined;
  if (spec.publisher) {
    const t = await call(send, spec.publisher, 'POST', '/v1/clustertemplates', tplBody(`${p}-pub`, { public: true }), 201);
    assert.equal(t.project_id, spec.project);
    pub = { uuid: t.uuid, name: t.name };
  }
  const clusterName = `${p}-cl`;
  const { uuid: clusterUuid } = await call(send, owner, 'POST', '/v1/clusters', { name: clusterName, cluster_template_id: tpl.uuid, labels: { owner: p } }, 202);
  await waitFor(`${clusterName} CREATE_COMPLETE`, async () => {
    const c = await call(send, owner, 'GET', `/v1/clusters/${clusterUuid}`, undefined, 200);
    assert.doesNotMatch(c.status, /FAILED/, JSON.stringify(c));
    return c.status === 'CREATE_COMPLETE' ? true : undefined;
  }, 30_000);
  const ng = await call(send, owner, 'POST', `/v1/clusters/${clusterUuid}/nodegroups`, { name: `${p}-ng`, node_count: 1 }, 202);
  await waitFor(`${p}-ng CREATE_COMPLETE`, async () => {
    const n = await call(send, owner, 'GET', `/v1/clusters/${clusterUuid}/nodegroups/${ng.uuid}`, undefined, 200);
    return n.status === 'CREATE_COMPLETE' ? true : undefined;
  }, 30_000);
  await quiesce(storage);
  const ngs = (await call(send, owner, 'GET', `/v1/clusters/${clusterUuid}/nodegroups`, undefined, 200)).nodegroups as (Named & { node_count: number; is_default: boolean })[];
  await call(send, spec.admin, 'POST', '/v1/quotas', { project_id: spec.project, resource: 'Cluster', hard_limit: 7 }, 201);

  await storage.updateCluster(clusterUuid, { api_address: DEAD_ENGINE });
  const container = await storage.createContainer({
    uuid: randomUUID(), name: `${p}-ctr`, project_id: spec.project, user_id: spec.user, cluster_id: clusterUuid,
    image: 'busybox:latest', command: ['sleep', '3600'], memory: '64m', cpu: 0.5, environment: { SECRET: `${p}-env` },
    ports: ['8080:80'], restart_policy: 'no', host: null, docker_id: null, status: 'Running',
  });
  const service = await storage.workloads.create({
    uuid: randomUUID(), kind: 'service', name: `${p}-svc`, project_id: spec.project, user_id: spec.user, cluster_id: clusterUuid,
    coe: 'swarm-mode', manifest: { image: 'busybox:latest', command: ['httpd', '-f'], deploy: { replicas: 1, labels: { owner: p } }, ports: [] },
  });
  const pod = await storage.workloads.create({
    uuid: randomUUID(), kind: 'pod', name: `${p}-pod`, project_id: spec.project, user_id: spec.user, cluster_id: clusterUuid,
    coe: 'kubernetes', manifest: { apiVersion: 'v1', kind: 'Pod', metadata: { name: `${p}-pod`, labels: { owner: p } }, spec: { containers: [{ name: 'c', image: 'busybox:latest' }] } },
  });
  const load = randomUUID();
  await storage.appendEvent({ cluster_id: clusterUuid, operation_id: load, step: 'image_load', outcome: 'succeeded', message: `loaded ${p}-image.tar` });

  const row = (await storage.getClusterByUuid(clusterUuid))!;
  const refs = [row.ca_cert_ref, row.magnum_cert_ref, row.etcd_ca_cert_ref, row.front_proxy_ca_cert_ref, row.trust_id, row.trustee_user_id]
    .filter((v): v is string => typeof v === 'string' && v.length >= 8);
  const operations = (await storage.listOperations(clusterUuid)).map((o) => o.uuid);
  const world: ProjectWorld = {
    project: spec.project,
    user: spec.user,
    tpl: { uuid: tpl.uuid, name: tpl.name },
    cluster: { uuid: clusterUuid, name: clusterName },
    ng: { uuid: ng.uuid, name: ng.name },
    defaultNgs: ngs.filter((n) => n.is_default).map((n) => ({ uuid: n.uuid, name: n.name })),
    pub,
    templates: [tpl.uuid, ...(pub ? [pub.uuid] : [])],
    container: { uuid: container.uuid, name: container.name! },
    service: { uuid: service.uuid, name: service.name },
    pod: { uuid: pod.uuid, name: pod.name },
    load,
    quota: 7,
    nodes: ngs.reduce((n, g) => n + g.node_count, 0),
    secrets: [],
  };
  // The project id and the publisher are shown on the public template by design; the owner is not.
  world.secrets = [
    spec.user, `${p}-env`, `${p}-image.tar`, `${p}-tpl`, `${p}-cl`, `${p}-ng`, `${p}-ctr`, `${p}-svc`, `${p}-pod`,
    tpl.uuid, clusterUuid, ng.uuid, ...world.defaultNgs.map((n) => n.uuid), container.uuid, service.uuid, pod.uuid, load,
    ...refs, ...operations,
  ];
  if (!spec.publisher) world.secrets.push(spec.project);
  return world;
}

// ---- the database: a digest of every table ------------------------------------------------------

/** Columns the conductor's own heartbeat changes, whatever requests do. */
const VOLATILE: Record<string, string[]> = { magnum_service: ['updated_at', 'last_seen_up', 'report_count'] };
/** Columns a successful read may refresh: a container's last seen status (a cache of the engine's). */
const REFRESHED_BY_READS: Record<string, string[]> = { container: ['status', 'updated_at'] };

export interface Digest {
  hash: string;
  /** The hash without the columns reads refresh. */
  readHash: string;
  tables: Record<string, string>;
}

/** Every table the database has, but the migrator's. */
export async function tableNames(storage: SqlStorage): Promise<string[]> {
  return (await storage.conn.db.introspection.getTables()).map((t) => t.name).filter((n) => !n.startsWith('magnum_migration')).sort();
}

/** Every table's rows, in a canonical form. */
export async function digest(storage: SqlStorage, tables?: string[]): Promise<Digest> {
  const db = storage.conn.db;
  const names = tables ?? (await tableNames(storage));
  const full = createHash('sha256');
  const read = createHash('sha256');
  const rowsOf: Record<string, string> = {};
  for (const t of names) {
    let q = db.selectFrom(t).selectAll();
    // Health events come from the conductor's own polling, whenever it runs: not from requests.
    if (t === 'cluster_event') q = q.where('step', '!=', 'health');
    const rows = (await q.execute()) as Record<string, unknown>[];
    const canon = (skip: string[]) => rows.map((r) => {
      const o: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(r)) {
        if (VOLATILE[t]?.includes(k) || skip.includes(k)) continue;
        o[k] = v instanceof Date ? v.toISOString() : Buffer.isBuffer(v) ? v.toString('hex') : typeof v === 'bigint' ? String(v) : v;
      }
      return JSON.stringify(o);
    }).sort().join('\n');
    rowsOf[t] = canon([]);
    full.update(`${t}\0${rowsOf[t]}\0`);
    read.update(`${t}\0${REFRESHED_BY_READS[t] ? canon(REFRESHED_BY_READS[t]) : rowsOf[t]}\0`);
  }
  return { hash: full.digest('hex'), readHash: read.digest('hex'), tables: rowsOf };
}

/** The tables whose rows differ, with the first differing row of each. */
export function digestDiff(a: Digest, b: Digest): string {
  const out: string[] = [];
  for (const t of new Set([...Object.keys(a.tables), ...Object.keys(b.tables)])) {
    if (a.tables[t] === b.tables[t]) continue;
    const before = new Set((a.tables[t] ?? '').split('\n'));
    const after = new Set((b.tables[t] ?? '').split('\n'));
    const added = [...after].filter((r) => r && !before.has(r));
    const removed = [...before].filter((r) => r && !after.has(r));
    out.push(`${t}: +${added.length} -${removed.length}${added.length ? ` e.g. ${added[0].slice(0, 300)}` : ''}${removed.length ? ` was ${removed[0].slice(0, 300)}` : ''}`);
  }
  return out.join('; ');
}

/** Until no operation is pending or running. */
export async function quiesce(storage: SqlStorage): Promise<void> {
  await waitFor('operations to finish', async () => {
    const busy = await storage.conn.db.selectFrom('operation').select('uuid').where('state', 'in', ['pending', 'running']).execute();
    return busy.length === 0 ? true : undefined;
  }, 30_000);
}

// ---- routes ---------------------------------------------------------------------------------------

export interface Route {
  method: string;
  path: string;
}

/** Every route registerV1 declares, except the public version document `GET /v1`. */
export function v1Routes(conf: Config): Route[] {
  const router = new Router();
  registerV1(router, { conf } as ApiDeps);
  return router.routes.filter((r) => !(r.method === 'GET' && r.path === '/v1')).map((r) => ({ method: r.method, path: r.path }));
}

/** The route a request reaches: of the patterns that match, the one with most literal segments (as Fastify). */
export function routeOf(routes: Route[], method: string, url: string): Route | undefined {
  const segs = url.split('?')[0].split('/');
  let best: Route | undefined;
  let bestLiterals = -1;
  for (const r of routes) {
    if (r.method !== method) continue;
    const parts = r.path.split('/');
    if (parts.length !== segs.length) continue;
    if (!parts.every((p, i) => p.startsWith(':') || p === segs[i])) continue;
    const literals = parts.filter((p) => !p.startsWith(':')).length;
    if (literals > bestLiterals) {
      best = r;
      bestLiterals = literals;
    }
  }
  return best;
}

/**
 * Routes no case reaches, or that name a resource in their path but were not asked by name and by
 * uuid (quotas are named by project id and resource: neither applies).
 */
export function uncovered(routes: Route[], cases: Case[]): string[] {
  const hit = new Map<string, Set<string>>();
  for (const c of cases) {
    const r = routeOf(routes, c.method, c.url);
    if (!r) continue;
    const key = `${r.method} ${r.path}`;
    const set = hit.get(key) ?? new Set<string>();
    set.add(c.by ?? 'collection');
    hit.set(key, set);
  }
  const out: string[] = [];
  for (const r of routes) {
    const key = `${r.method} ${r.path}`;
    const set = hit.get(key);
    if (!set) out.push(`${key}: no case`);
    else if (r.path.includes(':') && !r.path.startsWith('/v1/quotas/') && !(set.has('name') && set.has('uuid'))) out.push(`${key}: not both by name and by uuid (${[...set].join(', ')})`);
  }
  return out;
}

// ---- cases ----------------------------------------------------------------------------------------

export interface Case {
  name: string;
  method: string;
  url: string;
  body?: unknown;
  /** Expected status (several: any of them). */
  status: number | number[];
  detail?: string | RegExp;
  /** On a 200 list: the uuids of `key`'s items, exactly. */
  items?: { key: string; uuids: string[] };
  /** On a 200: fields the body must have. */
  fields?: Record<string, unknown>;
  /** How the resource in the URL is named: by 'name' or 'uuid' (route coverage). */
  by?: 'name' | 'uuid';
  /** The answer may show the victim's resources (an admin's all-projects view): no leak scan. */
  allowed?: boolean;
}

const notFound = (what: string, ident: string) => `${what} ${ident} could not be found.`;
const policy = (rule: string) => `Policy doesn't allow ${rule} to be performed.`;
const CSR = '-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n';

function byBoth(x: Named): [string, 'name' | 'uuid'][] {
  return [[x.name, 'name'], [x.uuid, 'uuid']];
}

/**
 * What a project-scoped, non-admin caller of another project (`me`) gets for each route when it
 * names `v`'s resources, by name and by uuid; and its own lists, which must hold only its own
 * items (and public templates). Statuses and messages are Magnum's (reference §2.1, §7.6, §10-15).
 */
export function otherProjectCases(v: ProjectWorld, me: ProjectWorld, publics: Named[]): Case[] {
  const out: Case[] = [];
  const late: Case[] = [];
  const add = (c: Case) => out.push(c);
  const mine = me.cluster.uuid;

  // Templates and baymodels: the victim's private one is a 404, its public one is visible, not editable.
  for (const [coll, rule] of [['clustertemplates', 'clustertemplate'], ['baymodels', 'baymodel']] as const) {
    const visible = [...new Set([...me.templates, ...publics.map((t) => t.uuid)])];
    add({ name: `list ${coll}`, method: 'GET', url: `/v1/${coll}`, status: 200, items: { key: coll, uuids: visible } });
    add({ name: `list ${coll} in detail`, method: 'GET', url: `/v1/${coll}/detail`, status: 200, items: { key: coll, uuids: visible } });
    add({ name: `list ${coll} after the victim's template`, method: 'GET', url: `/v1/${coll}?marker=${v.tpl.uuid}`, status: 404, detail: notFound('ClusterTemplate', v.tpl.uuid) });
    add({ name: `create a ${coll} item with the victim's template uuid`, method: 'POST', url: `/v1/${coll}`, body: { uuid: v.tpl.uuid, name: 'dup', coe: 'swarm-mode', image_id: 'fake-image', keypair_id: 'kp' }, status: 409 });
    for (const [id, by] of byBoth(v.tpl)) {
      add({ name: `show the victim's private ${coll} item`, by, method: 'GET', url: `/v1/${coll}/${id}`, status: 404, detail: notFound('ClusterTemplate', id) });
      add({ name: `update the victim's private ${coll} item`, by, method: 'PATCH', url: `/v1/${coll}/${id}`, body: [{ op: 'replace', path: '/name', value: 'stolen' }], status: 404, detail: notFound('ClusterTemplate', id) });
      add({ name: `delete the victim's private ${coll} item`, by, method: 'DELETE', url: `/v1/${coll}/${id}`, status: 404, detail: notFound('ClusterTemplate', id) });
    }
    if (v.pub) {
      for (const [id, by] of byBoth(v.pub)) {
        add({ name: `show the victim's public ${coll} item`, by, method: 'GET', url: `/v1/${coll}/${id}`, status: 200, fields: { uuid: v.pub.uuid } });
        // Last in the table: should one succeed, it would take the public template from the cases after it.
        late.push({ name: `update the victim's public ${coll} item`, by, method: 'PATCH', url: `/v1/${coll}/${id}`, body: [{ op: 'replace', path: '/name', value: 'stolen' }], status: 403, detail: policy(`${rule}:update`) });
        late.push({ name: `delete the victim's public ${coll} item`, by, method: 'DELETE', url: `/v1/${coll}/${id}`, status: 403, detail: policy(`${rule}:delete`) });
      }
    }
  }

  // Clusters, bays and everything under a cluster.
  add({ name: 'list clusters', method: 'GET', url: '/v1/clusters', status: 200, items: { key: 'clusters', uuids: [mine] } });
  add({ name: 'list clusters in detail', method: 'GET', url: '/v1/clusters/detail', status: 200, items: { key: 'clusters', uuids: [mine] } });
  add({ name: 'list clusters after the victim\'s', method: 'GET', url: `/v1/clusters?marker=${v.cluster.uuid}`, status: 404, detail: notFound('Cluster', v.cluster.uuid) });
  add({ name: 'list bays', method: 'GET', url: '/v1/bays', status: 200, items: { key: 'bays', uuids: [mine] } });
  add({ name: 'list bays in detail', method: 'GET', url: '/v1/bays/detail', status: 200, items: { key: 'bays', uuids: [mine] } });
  add({ name: 'list bays after the victim\'s', method: 'GET', url: `/v1/bays?marker=${v.cluster.uuid}`, status: 404, detail: notFound('Cluster', v.cluster.uuid) });
  for (const [id, by] of byBoth(v.tpl)) {
    add({ name: 'create a cluster of the victim\'s template', by, method: 'POST', url: '/v1/clusters', body: { name: 'stolen', cluster_template_id: id }, status: 404, detail: notFound('ClusterTemplate', id) });
    add({ name: 'create a bay of the victim\'s baymodel', by, method: 'POST', url: '/v1/bays', body: { name: 'stolen', baymodel_id: id }, status: 400, detail: notFound('ClusterTemplate', id) });
    add({ name: 'upgrade my cluster to the victim\'s template', by, method: 'POST', url: `/v1/clusters/${mine}/actions/upgrade`, body: { cluster_template: id }, status: 404, detail: notFound('ClusterTemplate', id) });
  }
  const ngIdents: [string, 'name' | 'uuid'][] = [...byBoth(v.ng), ...v.defaultNgs.map((n): [string, 'uuid'] => [n.uuid, 'uuid'])];
  for (const [id, by] of ngIdents) {
    add({ name: 'resize my cluster through the victim\'s nodegroup', by, method: 'POST', url: `/v1/clusters/${mine}/actions/resize`, body: { node_count: 2, nodegroup: id }, status: 404, detail: notFound('Nodegroup', id) });
    add({ name: 'show the victim\'s nodegroup under my cluster', by, method: 'GET', url: `/v1/clusters/${mine}/nodegroups/${id}`, status: 404, detail: notFound('Nodegroup', id) });
    add({ name: 'update the victim\'s nodegroup under my cluster', by, method: 'PATCH', url: `/v1/clusters/${mine}/nodegroups/${id}`, body: [{ op: 'replace', path: '/max_node_count', value: 5 }], status: 404, detail: notFound('Nodegroup', id) });
    add({ name: 'delete the victim\'s nodegroup under my cluster', by, method: 'DELETE', url: `/v1/clusters/${mine}/nodegroups/${id}`, status: 404, detail: notFound('Nodegroup', id) });
  }
  add({ name: 'list my nodegroups after the victim\'s', method: 'GET', url: `/v1/clusters/${mine}/nodegroups?marker=${v.ng.uuid}`, status: 404, detail: notFound('Nodegroup', v.ng.uuid) });
  add({ name: 'show the victim\'s image load under my cluster', by: 'uuid', method: 'GET', url: `/v1/clusters/${mine}/images/${v.load}`, status: 404, detail: `The image load resource ${v.load} could not be found.` });
  for (const [id, by] of byBoth(v.cluster)) {
    const cl = (what: string) => notFound('Cluster', what);
    const ng = by === 'name' ? v.ng.name : v.ng.uuid;
    const at = `/v1/clusters/${id}`;
    add({ name: 'show the victim\'s cluster', by, method: 'GET', url: at, status: 404, detail: cl(id) });
    add({ name: 'update the victim\'s cluster', by, method: 'PATCH', url: at, body: [{ op: 'replace', path: '/node_count', value: 2 }], status: 404, detail: cl(id) });
    add({ name: 'delete the victim\'s cluster', by, method: 'DELETE', url: at, status: 404, detail: cl(id) });
    add({ name: 'force-delete the victim\'s cluster', by, method: 'DELETE', url: `${at}?force=true`, status: 404, detail: cl(id) });
    add({ name: 'resize the victim\'s cluster', by, method: 'POST', url: `${at}/actions/resize`, body: { node_count: 2 }, status: 404, detail: cl(id) });
    add({ name: 'upgrade the victim\'s cluster', by, method: 'POST', url: `${at}/actions/upgrade`, body: { cluster_template: me.tpl.uuid }, status: 404, detail: cl(id) });
    add({ name: 'the victim\'s cluster events', by, method: 'GET', url: `${at}/events`, status: 404, detail: cl(id) });
    add({ name: 'the victim\'s cluster images', by, method: 'GET', url: `${at}/images`, status: 404, detail: cl(id) });
    add({ name: 'load an image into the victim\'s cluster', by, method: 'POST', url: `${at}/images`, body: { file: 'busybox.tar' }, status: 404, detail: cl(id) });
    add({ name: 'the victim\'s image load', by, method: 'GET', url: `${at}/images/${v.load}`, status: 404, detail: cl(id) });
    add({ name: 'the victim\'s nodegroups', by, method: 'GET', url: `${at}/nodegroups`, status: 404, detail: cl(id) });
    add({ name: 'add a nodegroup to the victim\'s cluster', by, method: 'POST', url: `${at}/nodegroups`, body: { name: 'stolen-ng' }, status: 404, detail: cl(id) });
    add({ name: 'show the victim\'s nodegroup', by, method: 'GET', url: `${at}/nodegroups/${ng}`, status: 404, detail: cl(id) });
    add({ name: 'update the victim\'s nodegroup', by, method: 'PATCH', url: `${at}/nodegroups/${ng}`, body: [{ op: 'replace', path: '/max_node_count', value: 5 }], status: 404, detail: cl(id) });
    add({ name: 'delete the victim\'s nodegroup', by, method: 'DELETE', url: `${at}/nodegroups/${ng}`, status: 404, detail: cl(id) });
    add({ name: 'the victim\'s CA certificate', by, method: 'GET', url: `/v1/certificates/${id}`, status: 404, detail: cl(id) });
    add({ name: 'the victim\'s etcd CA certificate', by, method: 'GET', url: `/v1/certificates/${id}?ca_cert_type=etcd`, status: 404, detail: cl(id) });
    add({ name: 'rotate the victim\'s CA', by, method: 'PATCH', url: `/v1/certificates/${id}`, status: 404, detail: cl(id) });
    add({ name: 'sign a CSR with the victim\'s CA', by, method: 'POST', url: '/v1/certificates', body: { cluster_uuid: id, csr: CSR }, status: 400, detail: cl(id) });
    add({ name: 'sign a CSR with the victim\'s CA (bay_uuid)', by, method: 'POST', url: '/v1/certificates', body: { bay_uuid: id, csr: CSR }, status: 400, detail: cl(id) });
    add({ name: 'show the victim\'s bay', by, method: 'GET', url: `/v1/bays/${id}`, status: 404, detail: cl(id) });
    add({ name: 'update the victim\'s bay', by, method: 'PATCH', url: `/v1/bays/${id}`, body: [{ op: 'replace', path: '/node_count', value: 2 }], status: 404, detail: cl(id) });
    add({ name: 'delete the victim\'s bay', by, method: 'DELETE', url: `/v1/bays/${id}`, status: 404, detail: cl(id) });
    add({ name: 'a federation hosted on the victim\'s cluster', by, method: 'POST', url: '/v1/federations', body: { name: 'fed', hostcluster_id: id, properties: { 'dns-zone': 'example.com.' } }, status: 404, detail: cl(id) });
    add({ name: 'a container on the victim\'s cluster', by, method: 'POST', url: '/v1/containers', body: { name: 'stolen', image: 'busybox:latest', cluster_uuid: id }, status: 404, detail: cl(id) });
    add({ name: 'a container on the victim\'s bay', by, method: 'POST', url: '/v1/containers', body: { name: 'stolen', image: 'busybox:latest', bay_uuid: id }, status: 404, detail: cl(id) });
    add({ name: 'containers of the victim\'s cluster', by, method: 'GET', url: `/v1/containers?cluster_ident=${id}`, status: 404, detail: cl(id) });
    for (const coll of ['services', 'pods']) {
      add({ name: `${coll} of the victim's cluster`, by, method: 'GET', url: `/v1/${coll}?cluster_ident=${id}`, status: 404, detail: cl(id) });
      add({ name: `${coll} of the victim's cluster in detail`, by, method: 'GET', url: `/v1/${coll}/detail?bay_ident=${id}`, status: 404, detail: cl(id) });
      add({ name: `a ${coll} item on the victim's cluster`, by, method: 'POST', url: `/v1/${coll}`, body: { cluster_uuid: id, manifest: coll === 'pods' ? { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' }, spec: { containers: [{ name: 'c', image: 'busybox:latest' }] } } : { image: 'busybox:latest' } }, status: 404, detail: cl(id) });
    }
    add({ name: 'the victim\'s federation (none is ever stored)', by, method: 'GET', url: `/v1/federations/${id}`, status: 404, detail: notFound('Federation', id) });
    add({ name: 'update a federation', by, method: 'PATCH', url: `/v1/federations/${id}`, body: [{ op: 'add', path: '/member_ids', value: mine }], status: 404, detail: notFound('Federation', id) });
    add({ name: 'delete a federation', by, method: 'DELETE', url: `/v1/federations/${id}`, status: 404, detail: notFound('Federation', id) });
  }
  add({ name: 'list federations', method: 'GET', url: '/v1/federations', status: 200, items: { key: 'federations', uuids: [] } });
  add({ name: 'list federations in detail', method: 'GET', url: '/v1/federations/detail', status: 200, items: { key: 'federations', uuids: [] } });

  // Containers.
  add({ name: 'list containers', method: 'GET', url: '/v1/containers', status: 200, items: { key: 'containers', uuids: [me.container.uuid] } });
  add({ name: 'list containers in detail', method: 'GET', url: '/v1/containers/detail', status: 200, items: { key: 'containers', uuids: [me.container.uuid] } });
  add({ name: 'list containers after the victim\'s', method: 'GET', url: `/v1/containers?marker=${v.container.uuid}`, status: 404, detail: notFound('Container', v.container.uuid) });
  for (const [id, by] of byBoth(v.container)) {
    const ct = notFound('Container', id);
    const at = `/v1/containers/${id}`;
    add({ name: 'show the victim\'s container', by, method: 'GET', url: at, status: 404, detail: ct });
    add({ name: 'rename the victim\'s container', by, method: 'PATCH', url: at, body: [{ op: 'replace', path: '/name', value: 'stolen' }], status: 404, detail: ct });
    add({ name: 'change the victim\'s container memory', by, method: 'PATCH', url: at, body: [{ op: 'replace', path: '/memory', value: '128m' }], status: 404, detail: ct });
    add({ name: 'delete the victim\'s container', by, method: 'DELETE', url: at, status: 404, detail: ct });
    add({ name: 'force-delete the victim\'s container', by, method: 'DELETE', url: `${at}?force=true`, status: 404, detail: ct });
    for (const action of ['start', 'stop', 'reboot', 'pause', 'unpause']) add({ name: `${action} the victim's container`, by, method: 'PUT', url: `${at}/${action}`, status: 404, detail: ct });
    add({ name: 'the victim\'s container logs', by, method: 'GET', url: `${at}/logs?tail=10`, status: 404, detail: ct });
    add({ name: 'execute in the victim\'s container (PUT)', by, method: 'PUT', url: `${at}/execute?command=env`, status: 404, detail: ct });
    add({ name: 'execute in the victim\'s container (POST)', by, method: 'POST', url: `${at}/execute`, body: { command: ['env'] }, status: 404, detail: ct });
  }

  // Services and pods.
  for (const [coll, w, what] of [['services', v.service, 'Service'], ['pods', v.pod, 'Pod']] as const) {
    const own = coll === 'services' ? me.service.uuid : me.pod.uuid;
    add({ name: `list ${coll}`, method: 'GET', url: `/v1/${coll}`, status: 200, items: { key: coll, uuids: [own] } });
    add({ name: `list ${coll} in detail`, method: 'GET', url: `/v1/${coll}/detail`, status: 200, items: { key: coll, uuids: [own] } });
    add({ name: `list ${coll} after the victim's`, method: 'GET', url: `/v1/${coll}?marker=${w.uuid}`, status: 404, detail: notFound(what, w.uuid) });
    for (const [id, by] of byBoth(w)) {
      const nf = notFound(what, id);
      add({ name: `show the victim's ${what}`, by, method: 'GET', url: `/v1/${coll}/${id}`, status: 404, detail: nf });
      add({ name: `show the victim's ${what} in my cluster`, by, method: 'GET', url: `/v1/${coll}/${id}?cluster_ident=${mine}`, status: 404, detail: nf });
      add({ name: `update the victim's ${what}`, by, method: 'PATCH', url: `/v1/${coll}/${id}`, body: [{ op: 'replace', path: coll === 'services' ? '/replicas' : '/manifest/metadata/labels', value: coll === 'services' ? 3 : { a: 'b' } }], status: 404, detail: nf });
      add({ name: `delete the victim's ${what}`, by, method: 'DELETE', url: `/v1/${coll}/${id}`, status: 404, detail: nf });
    }
  }

  // Quotas, stats, services of Magnum.
  add({ name: 'list quotas', method: 'GET', url: '/v1/quotas', status: 403, detail: policy('quota:get_all') });
  add({ name: 'list quotas of all tenants', method: 'GET', url: '/v1/quotas?all_tenants=true', status: 403, detail: policy('quota:get_all') });
  add({ name: 'the victim\'s quota', method: 'GET', url: `/v1/quotas/${v.project}/Cluster`, status: 403, detail: 'Not authorized.' });
  add({ name: 'my quota', method: 'GET', url: `/v1/quotas/${me.project}/Cluster`, status: 200, fields: { project_id: me.project, hard_limit: me.quota, resource: 'Cluster' } });
  add({ name: 'set the victim\'s quota', method: 'POST', url: '/v1/quotas', body: { project_id: v.project, resource: 'Cluster', hard_limit: 99 }, status: 403, detail: policy('quota:create') });
  add({ name: 'update the victim\'s quota', method: 'PATCH', url: `/v1/quotas/${v.project}/Cluster`, body: { hard_limit: 99 }, status: 403, detail: policy('quota:update') });
  add({ name: 'delete the victim\'s quota', method: 'DELETE', url: `/v1/quotas/${v.project}/Cluster`, status: 403, detail: policy('quota:delete') });
  add({ name: 'my stats', method: 'GET', url: '/v1/stats', status: 200, fields: { clusters: 1, nodes: me.nodes } });
  add({ name: 'my stats by project', method: 'GET', url: `/v1/stats?project_id=${me.project}&type=cluster`, status: 200, fields: { clusters: 1, nodes: me.nodes } });
  add({ name: 'the victim\'s stats', method: 'GET', url: `/v1/stats?project_id=${v.project}`, status: 403, detail: 'Not authorized.' });
  add({ name: 'Magnum services', method: 'GET', url: '/v1/mservices', status: 403, detail: policy('magnum-service:get_all') });
  return [...out, ...late];
}

/**
 * An admin of another project: Magnum's all-projects views (the *_all_projects rules, quotas with
 * all_tenants, stats, mservices) show the victim's resources; the controllers that never switch
 * admins to all projects (bays, baymodels, certificates, resize) still answer 404.
 */
export function adminCases(v: ProjectWorld): Case[] {
  const out: Case[] = [];
  const add = (c: Case) => out.push({ ...c, allowed: true });
  const contains = (key: string, uuid: string) => (body: any) => (Array.isArray(body?.[key]) && body[key].some((i: any) => i.uuid === uuid) ? [] : [`${key} does not list ${uuid}`]);
  add({ name: 'admin lists every project\'s clusters', method: 'GET', url: '/v1/clusters', status: 200, fields: { $: contains('clusters', v.cluster.uuid) } });
  add({ name: 'admin lists every project\'s clusters in detail', method: 'GET', url: '/v1/clusters/detail', status: 200, fields: { $: contains('clusters', v.cluster.uuid) } });
  add({ name: 'admin lists every project\'s templates', method: 'GET', url: '/v1/clustertemplates', status: 200, fields: { $: contains('clustertemplates', v.tpl.uuid) } });
  add({ name: 'admin lists every project\'s containers', method: 'GET', url: '/v1/containers', status: 200, fields: { $: contains('containers', v.container.uuid) } });
  add({ name: 'admin lists every project\'s services', method: 'GET', url: '/v1/services', status: 200, fields: { $: contains('services', v.service.uuid) } });
  add({ name: 'admin lists every project\'s pods', method: 'GET', url: '/v1/pods', status: 200, fields: { $: contains('pods', v.pod.uuid) } });
  add({ name: 'admin lists every project\'s quotas', method: 'GET', url: '/v1/quotas?all_tenants=true', status: 200, fields: { $: (b: any) => (b.quotas?.some((q: any) => q.project_id === v.project) ? [] : ['no quota of the victim']) } });
  add({ name: 'admin reads the victim\'s quota', method: 'GET', url: `/v1/quotas/${v.project}/Cluster`, status: 200, fields: { project_id: v.project, hard_limit: v.quota } });
  add({ name: 'admin reads the victim\'s stats', method: 'GET', url: `/v1/stats?project_id=${v.project}`, status: 200, fields: { clusters: 1, nodes: v.nodes } });
  add({ name: 'admin reads Magnum services', method: 'GET', url: '/v1/mservices', status: 200 });
  for (const [id, by] of byBoth(v.cluster)) {
    add({ name: 'admin shows the victim\'s cluster', by, method: 'GET', url: `/v1/clusters/${id}`, status: 200, fields: { uuid: v.cluster.uuid, project_id: v.project } });
    add({ name: 'admin reads the victim\'s cluster events', by, method: 'GET', url: `/v1/clusters/${id}/events`, status: 200 });
    add({ name: 'admin lists the victim\'s nodegroups', by, method: 'GET', url: `/v1/clusters/${id}/nodegroups`, status: 200, fields: { $: contains('nodegroups', v.ng.uuid) } });
    add({ name: 'admin shows the victim\'s nodegroup', by, method: 'GET', url: `/v1/clusters/${id}/nodegroups/${by === 'name' ? v.ng.name : v.ng.uuid}`, status: 200, fields: { uuid: v.ng.uuid } });
    add({ name: 'admin: bays are never all-projects', by, method: 'GET', url: `/v1/bays/${id}`, status: 404, detail: notFound('Cluster', id) });
    add({ name: 'admin: certificates are never all-projects', by, method: 'GET', url: `/v1/certificates/${id}`, status: 404, detail: notFound('Cluster', id) });
    add({ name: 'admin: resize is never all-projects', by, method: 'POST', url: `/v1/clusters/${id}/actions/resize`, body: { node_count: 2 }, status: 404, detail: notFound('Cluster', id) });
  }
  for (const [id, by] of byBoth(v.tpl)) {
    add({ name: 'admin shows the victim\'s private template', by, method: 'GET', url: `/v1/clustertemplates/${id}`, status: 200, fields: { uuid: v.tpl.uuid, project_id: v.project } });
    add({ name: 'admin: baymodels are never all-projects', by, method: 'GET', url: `/v1/baymodels/${id}`, status: 404, detail: notFound('ClusterTemplate', id) });
  }
  for (const [id, by] of byBoth(v.container)) add({ name: 'admin shows the victim\'s container', by, method: 'GET', url: `/v1/containers/${id}`, status: 200, fields: { uuid: v.container.uuid } });
  return out;
}

/** The same requests as `cases`, all answered 403 (a caller without a project scope). */
export function unscopedCases(cases: Case[]): Case[] {
  return cases.map((c) => ({ name: c.name, method: c.method, url: c.url, body: c.body, by: c.by, status: 403 }));
}

// ---- checking answers -----------------------------------------------------------------------------

export function problemsOf(c: Case, r: Reply): string[] {
  const p: string[] = [];
  const want = Array.isArray(c.status) ? c.status : [c.status];
  if (r.status >= 500) p.push(`a ${r.status}`);
  if (!want.includes(r.status)) p.push(`status ${r.status}, expected ${want.join(' or ')}`);
  const requestId = r.headers['x-openstack-request-id'];
  if (!/^req-[0-9a-f-]{36}$/.test(requestId ?? '')) p.push(`x-openstack-request-id ${requestId}`);
  let body: any;
  try {
    body = JSON.parse(r.text);
  } catch {
    return [...p, `body is not JSON: ${r.text.slice(0, 200)}`];
  }
  if (r.status >= 400) {
    const e = body?.errors?.[0];
    if (!Array.isArray(body?.errors) || body.errors.length !== 1 || Object.keys(body).length !== 1) return [...p, `not Magnum's error body: ${r.text.slice(0, 300)}`];
    const keys = Object.keys(e).sort().join(',');
    if (keys !== 'code,detail,links,request_id,status,title') p.push(`error keys ${keys}`);
    if (e.code !== 'client') p.push(`errors[0].code ${JSON.stringify(e.code)}`);
    if (e.status !== r.status) p.push(`errors[0].status ${e.status}`);
    if (e.request_id !== requestId) p.push(`errors[0].request_id ${JSON.stringify(e.request_id)} is not the header's ${requestId}`);
    if (typeof e.detail !== 'string' || !e.detail) p.push(`errors[0].detail ${JSON.stringify(e.detail)}`);
    else {
      const dot = e.detail.indexOf('.');
      if (e.title !== (dot === -1 ? e.detail : e.detail.slice(0, dot))) p.push(`errors[0].title ${JSON.stringify(e.title)}`);
      if (typeof c.detail === 'string' && e.detail !== c.detail) p.push(`detail ${JSON.stringify(e.detail)}, expected ${JSON.stringify(c.detail)}`);
      if (c.detail instanceof RegExp && !c.detail.test(e.detail)) p.push(`detail ${JSON.stringify(e.detail)} does not match ${c.detail}`);
    }
    return p;
  }
  if (c.items && r.status === 200) {
    const got = Array.isArray(body?.[c.items.key]) ? (body[c.items.key] as { uuid?: string }[]).map((i) => i.uuid).sort() : null;
    const expected = [...c.items.uuids].sort();
    if (JSON.stringify(got) !== JSON.stringify(expected)) p.push(`${c.items.key}: ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`);
  }
  for (const [k, v] of Object.entries(c.fields ?? {})) {
    if (k === '$' && typeof v === 'function') p.push(...(v as (b: unknown) => string[])(body));
    else if (JSON.stringify(body?.[k]) !== JSON.stringify(v)) p.push(`${k} ${JSON.stringify(body?.[k])}, expected ${JSON.stringify(v)}`);
  }
  return p;
}

/** The secrets an answer shows that its request did not carry itself (a 404 repeats the ident asked for). */
export function leaksOf(secrets: string[], c: Case, r: Reply): string[] {
  let asked: string;
  try {
    asked = decodeURIComponent(c.url);
  } catch {
    asked = c.url;
  }
  asked += c.body === undefined ? '' : JSON.stringify(c.body);
  const shown = `${r.text}\n${JSON.stringify(r.headers)}`;
  return secrets.filter((s) => !asked.includes(s) && shown.includes(s));
}

export interface RunOptions {
  send: Send;
  caller: Caller;
  storage: SqlStorage;
  /** Strings the caller must never see (other projects' uuids and names). */
  secrets: string[];
  /**
   * A cheap value that changes whenever another connection may have written (SQLite's
   * PRAGMA data_version): while it stays the same, the full digest is not recomputed.
   */
  changeHint?: () => Promise<unknown>;
}

export interface RunResult {
  cases: number;
  failures: string[];
  /** status → number of answers. */
  statuses: Record<number, number>;
  fivexx: string[];
  leaks: string[];
  changes: string[];
  /** Milliseconds spent waiting for answers, and checking the database. */
  sendMs: number;
  checkMs: number;
}

/** Sends every case as `caller`; checks each answer, scans it for secrets, compares the database digest. */
export async function runCases(cases: Case[], o: RunOptions): Promise<RunResult> {
  const res: RunResult = { cases: cases.length, failures: [], statuses: {}, fivexx: [], leaks: [], changes: [], sendMs: 0, checkMs: 0 };
  const tables = await tableNames(o.storage);
  let before = await digest(o.storage, tables);
  let hint = await o.changeHint?.();
  for (const c of cases) {
    const t0 = performance.now();
    const r = await o.send(c.method, c.url, o.caller.headers, c.body);
    const t1 = performance.now();
    res.sendMs += t1 - t0;
    res.statuses[r.status] = (res.statuses[r.status] ?? 0) + 1;
    const where = `${c.name}${c.by ? ` (by ${c.by})` : ''} [${c.method} ${c.url}${c.body === undefined ? '' : ` ${JSON.stringify(c.body).slice(0, 160)}`}]`;
    const problems = problemsOf(c, r);
    if (r.status >= 500) res.fivexx.push(`${where}: ${r.status} ${r.text.slice(0, 300)}`);
    if (!c.allowed) {
      const leaked = leaksOf(o.secrets, c, r);
      if (leaked.length) {
        res.leaks.push(`${where}: shows ${leaked.join(', ')}`);
        problems.push(`LEAK of ${leaked.join(', ')}: ${r.text.slice(0, 400)}`);
      }
    }
    await quiesce(o.storage);
    const nextHint = await o.changeHint?.();
    const after = o.changeHint && nextHint === hint ? before : await digest(o.storage, tables);
    hint = nextHint;
    const refresh = c.method === 'GET' && r.status === 200 && after.readHash === before.readHash;
    if (after.hash !== before.hash && !refresh) {
      const diff = digestDiff(before, after);
      res.changes.push(`${where}: ${diff}`);
      problems.push(`the database changed: ${diff}`);
    }
    before = after;
    res.checkMs += performance.now() - t1;
    if (problems.length) res.failures.push(`${where}: ${problems.join('; ')}`);
  }
  return res;
}

/** One line for the test's diagnostics: "N cases: 200×12 403×4 404×80". */
export function summary(r: RunResult): string {
  return `${r.cases} cases: ${Object.entries(r.statuses).map(([s, n]) => `${s}×${n}`).join(' ')}; ${r.fivexx.length} 5xx, ${r.leaks.length} leaks, ${r.changes.length} changes (answers ${(r.sendMs / 1000).toFixed(1)} s, database checks ${(r.checkMs / 1000).toFixed(1)} s)`;
}

export function assertClean(r: RunResult, label: string): void {
  assert.deepEqual(r.failures, [], `${label}: ${r.failures.length} of ${r.cases} cases failed:\n${r.failures.join('\n')}`);
}
