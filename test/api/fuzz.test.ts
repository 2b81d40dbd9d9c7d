// A structure-aware fuzzer over every route of the API, on each database: requests of the right
// shape carrying hostile values (NUL and control characters, lone surrogates, strings of 256 to
// 70,000 characters, numbers past every integer width, option-like strings, path traversal, deep
// and huge documents, wrong types, unknown fields, hostile JSON-Patch documents, 100 KB labels,
// hostile identity and microversion headers, %00 and over-long path segments, hostile query
// strings), plus plain garbage. Valid idents of real fixtures (templates, clusters, nodegroups,
// containers, services, pods, quotas) are hit too, so hostile bodies get past the lookups.
//
// Each run starts with the requests of every class that once answered 500, then generates the
// rest from the seed.
//
// What must hold: no answer is a 5xx; every 4xx is in one of Magnum's error forms and changed no
// row of any table (a fingerprint of every table of the schema before and after each request);
// on the Docker host no container, network or volume labelled for one of our clusters appears or
// goes (other clusters on a shared host are only listed).
//
// The routes are read from the application (its Router and Fastify's route tree), so a new route
// is fuzzed as soon as it exists: a route without a generator here fails the test.
//
//   FUZZ_SEED=random       a fresh seed (printed; FUZZ_SEED=<n> replays it)
//   FUZZ_REQUESTS=<n>      requests per database (default 10,000)
//   FUZZ_VERBOSE=1         also list the answers to the known requests, the requests that could not
//                          be sent and what made fixtures go
//   FUZZ_TRACE=<file>      write each request there before sending it (names one that ends the process)
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { Router, type ApiDeps } from '../../src/api/app.ts';
import { TemplateCreate } from '../../src/api/controllers/v1/cluster-templates.ts';
import { ClusterCreate } from '../../src/api/controllers/v1/clusters.ts';
import { ContainerCreate } from '../../src/api/controllers/v1/containers.ts';
import { registerV1 } from '../../src/api/controllers/v1/index.ts';
import { ServiceCreate } from '../../src/api/controllers/v1/services.ts';
import { databaseKinds, type DbKind } from '../helpers/databases.ts';
import { SchemaDigest, describeDifference, sameFingerprint, type Row } from '../helpers/db-digest.ts';
import { countByKind, labelledResources, resourceChanges } from '../helpers/docker-host.ts';
import { errorDetail, errorFormProblems } from '../helpers/error-form.ts';
import { Rng, seedFromEnv } from '../helpers/fuzz/rng.ts';
import { fieldsOf, type FieldType, type Fields } from '../helpers/fuzz/schema-fields.ts';
import {
  HOSTILE_NUMBERS, HOSTILE_STRINGS, LONG, Raw, WRONG_TYPES, deepArray, deepObject, hostileLabels, hostileLiteral, hostilePointer,
  hostileString, hostileValue, toJson,
} from '../helpers/fuzz/values.ts';
import { as, startStack, waitFor, type TestStack } from '../helpers/stack.ts';

const FIXED_SEED = 0x5eed_0008;
const SEED = seedFromEnv(FIXED_SEED);
const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 10_000);
const VERBOSE = Boolean(process.env.FUZZ_VERBOSE);
const TRACE = process.env.FUZZ_TRACE;
const MAX_BODY = 114_688;
if (!Number.isInteger(REQUESTS) || REQUESTS < 1) throw new Error(`FUZZ_REQUESTS must be a positive integer: ${process.env.FUZZ_REQUESTS}`);

type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
const METHODS: Method[] = ['GET', 'POST', 'PATCH', 'PUT', 'DELETE'];

// ---- fixtures -------------------------------------------------------------------------------------

interface Fixture {
  tplA: string; // admin, private, used by clA
  tplFree: string; // admin, private, unused
  tplPub: string; // admin, public
  tplP: string; // p1, used by clP
  tplK: string; // admin, kubernetes, used by clK
  clA: string; // admin swarm-mode cluster "cl-a"
  clP: string; // p1 cluster "cl-p"
  clK: string; // admin kubernetes cluster "cl-k"
  ngX: string; // extra nodegroup "ng-extra" of clA (min 1, max 3)
  ngWorker: string; // clA's default worker
  ngMaster: string; // clA's default master
  ctr: string; // container row "fz-ctr" on clA (no node recorded: actions answer 409)
  svc: string; // service row "web" on clA
  pod: string; // pod row "fzpod" on clK
}

// ---- route specifications ---------------------------------------------------------------------------

/** What a path parameter names: its valid values come from the fixtures. */
type IdentKind = 'template' | 'cluster' | 'nodegroup' | 'container' | 'service' | 'pod' | 'federation' | 'project' | 'resource' | 'load';

interface ObjectBody {
  kind: 'object';
  fields: Fields;
  base: (fx: Fixture, rng: Rng) => Record<string, unknown>;
}

interface PatchBody {
  kind: 'patch';
  /** Paths a patch of this resource names, with the type of their values. */
  paths: Record<string, FieldType>;
  base: (fx: Fixture, rng: Rng) => unknown[];
}

type QueryKind = 'limit' | 'uuid' | 'int' | 'sortKey' | 'sortDir' | 'bool' | 'cluster' | 'string' | 'since' | 'command' | 'tail';

interface RouteSpec {
  params?: Record<string, IdentKind>;
  query?: Record<string, QueryKind>;
  body?: ObjectBody | PatchBody;
}

const s255: FieldType = { kind: 'string', min: 1, max: 255 };
const int0: FieldType = { kind: 'int', min: 0 };
const bool: FieldType = { kind: 'bool' };
const anyT: FieldType = { kind: 'any' };
const ro = { type: anyT, readonly: true };

const NODEGROUP_FIELDS: Fields = {
  id: { type: { kind: 'int', min: 1 } }, uuid: { type: { kind: 'uuid' } }, name: { type: s255 }, cluster_id: { type: anyT },
  docker_volume_size: { type: { kind: 'int', min: 1 } }, labels: { type: { kind: 'labels' } }, merge_labels: { type: bool }, flavor_id: { type: s255 },
  image_id: { type: s255 }, node_count: { type: int0 }, role: { type: s255 }, min_node_count: { type: int0 }, max_node_count: { type: int0 },
  is_default: { type: bool }, status: { type: anyT }, status_reason: { type: anyT }, version: { type: anyT }, project_id: ro, links: ro,
};
const BAY_FIELDS: Fields = {
  uuid: { type: { kind: 'uuid' } }, name: { type: { kind: 'string', min: 1, max: 242 } }, baymodel_id: { type: s255, mandatory: true },
  node_count: { type: { kind: 'int', min: 1 } }, master_count: { type: { kind: 'int', min: 1 } }, docker_volume_size: { type: { kind: 'int', min: 1 } },
  labels: { type: { kind: 'labels' } }, master_flavor_id: { type: s255 }, flavor_id: { type: s255 }, bay_create_timeout: { type: int0 },
  discovery_url: { type: { kind: 'string', max: 255 } }, fixed_network: { type: s255 }, fixed_subnet: { type: s255 }, floating_ip_enabled: { type: bool },
  master_lb_enabled: { type: bool }, status: { type: anyT }, bay_faults: ro, api_address: ro,
};
const QUOTA_FIELDS: Fields = {
  id: { type: { kind: 'int' } }, project_id: { type: s255 }, resource: { type: { kind: 'enum', values: ['Cluster'] } }, hard_limit: { type: int0 },
  created_at: ro,
};
const CERT_FIELDS: Fields = {
  cluster_uuid: { type: s255 }, bay_uuid: { type: s255 }, csr: { type: { kind: 'string', min: 1 } }, ca_cert_type: { type: s255 }, pem: ro,
};
const FEDERATION_FIELDS: Fields = {
  uuid: { type: { kind: 'uuid' } }, name: { type: { kind: 'string', min: 1, max: 242 } }, hostcluster_id: { type: { kind: 'string' } },
  member_ids: { type: { kind: 'strlist' } }, properties: { type: { kind: 'strdict' } }, status: { type: anyT }, links: ro,
};
const RESIZE_FIELDS: Fields = { node_count: { type: int0, mandatory: true }, nodes_to_remove: { type: { kind: 'strlist' } }, nodegroup: { type: s255 } };
const UPGRADE_FIELDS: Fields = { cluster_template: { type: s255, mandatory: true }, max_batch_size: { type: { kind: 'int', min: 1 } }, nodegroup: { type: s255 } };
/** The services' and pods' create body (the same fields; the argument Magnum names differs). */
const WORKLOAD_FIELDS = fieldsOf(ServiceCreate);
const EXECUTE_FIELDS: Fields = { command: { type: anyT, mandatory: true }, timeout: { type: { kind: 'int', min: 1, max: 3600 } } };
const IMAGE_LOAD_FIELDS: Fields = { file: { type: s255, mandatory: true } };
const CLUSTER_INPUT = fieldsOf(ClusterCreate);
const TEMPLATE_INPUT = fieldsOf(TemplateCreate);
const CONTAINER_INPUT = fieldsOf(ContainerCreate);

const fieldTypes = (fields: Fields, names?: string[]): Record<string, FieldType> =>
  Object.fromEntries(Object.entries(fields).filter(([n]) => !names || names.includes(n)).map(([n, f]) => [n, f.type]));

const CSR = '-----BEGIN CERTIFICATE REQUEST-----\nMIIBVjCBwAIBADAXMRUwEwYDVQQDDAxmdXp6LWNsaWVudDBcMA0GCSqGSIb3DQEB\n-----END CERTIFICATE REQUEST-----\n';
const tplBody = (_fx: Fixture, rng: Rng) => ({ name: `fz-${rng.int(0, 1e9)}`, coe: 'swarm-mode', image_id: 'fake-image', keypair_id: 'kp' });
const list = (extra: Record<string, QueryKind> = {}, marker: QueryKind = 'uuid'): RouteSpec => ({
  query: { limit: 'limit', marker, sort_key: 'sortKey', sort_dir: 'sortDir', ...extra },
});
const one = (kind: IdentKind, query: Record<string, QueryKind> = {}): RouteSpec => ({ params: { ident: kind }, query });

const TEMPLATE_PATCH: PatchBody = {
  kind: 'patch',
  paths: Object.fromEntries(Object.entries(fieldTypes(TEMPLATE_INPUT)).map(([n, t]) => [`/${n}`, t])),
  base: (_fx, rng) => [{ op: 'replace', path: '/name', value: `fz-${rng.int(0, 1e9)}` }],
};
const CLUSTER_PATCH: PatchBody = {
  kind: 'patch',
  paths: { ...Object.fromEntries(Object.entries(fieldTypes(CLUSTER_INPUT)).map(([n, t]) => [`/${n}`, t])), '/labels/k': s255 },
  base: (_fx, rng) => [{ op: 'replace', path: '/node_count', value: rng.int(1, 2) }],
};
const BAY_PATCH: PatchBody = {
  kind: 'patch',
  paths: Object.fromEntries(Object.entries(fieldTypes(BAY_FIELDS)).map(([n, t]) => [`/${n}`, t])),
  base: (_fx, rng) => [{ op: 'replace', path: '/node_count', value: rng.int(1, 2) }],
};
const containerPaths = Object.fromEntries(Object.entries(fieldTypes(CONTAINER_INPUT)).map(([n, t]) => [`/${n}`, t]));
const WORKLOAD_PATHS: Record<string, FieldType> = {
  '/image': s255, '/replicas': int0, '/manifest': anyT, '/manifest/image': s255, '/manifest/deploy/replicas': int0, '/manifest/environment/A': s255,
  '/manifest/ports': anyT, '/manifest/command': anyT, '/manifest/metadata/labels/a': s255, '/manifest/spec/containers/0/image': s255, '/name': s255,
};

/** Every route of the API, by "METHOD path" (parameters named as the application names them). */
function specs(): Record<string, RouteSpec> {
  const out: Record<string, RouteSpec> = {
    'GET /': {}, 'GET /healthcheck': {}, 'GET /v1': {}, 'GET /v1/openapi.json': {},
    'GET /v1/stats': { query: { project_id: 'string', type: 'string' } },
    'GET /v1/mservices': {},
    // certificates
    'GET /v1/certificates/:cluster': { params: { cluster: 'cluster' }, query: { ca_cert_type: 'string' } },
    'PATCH /v1/certificates/:cluster': { params: { cluster: 'cluster' } },
    'POST /v1/certificates': { body: { kind: 'object', fields: CERT_FIELDS, base: (fx) => ({ cluster_uuid: fx.clA, csr: CSR }) } },
    // quotas
    'GET /v1/quotas': list({ all_tenants: 'bool' }, 'int'),
    'POST /v1/quotas': { body: { kind: 'object', fields: QUOTA_FIELDS, base: (_fx, rng) => ({ project_id: `fzq-${rng.int(0, 1e9)}`, resource: 'Cluster', hard_limit: rng.int(0, 50) }) } },
    'GET /v1/quotas/:project/:resource': { params: { project: 'project', resource: 'resource' } },
    'PATCH /v1/quotas/:project/:resource': { params: { project: 'project', resource: 'resource' }, body: { kind: 'object', fields: QUOTA_FIELDS, base: (_fx, rng) => ({ hard_limit: rng.int(20, 50) }) } },
    'DELETE /v1/quotas/:project/:resource': { params: { project: 'project', resource: 'resource' } },
    // federations
    'GET /v1/federations': list(), 'GET /v1/federations/detail': list(),
    'GET /v1/federations/:ident': one('federation'),
    'POST /v1/federations': { body: { kind: 'object', fields: FEDERATION_FIELDS, base: (fx) => ({ name: 'fed', hostcluster_id: fx.clA, properties: { 'dns-zone': 'example.com.' } }) } },
    'PATCH /v1/federations/:ident': { ...one('federation', { rollback: 'bool' }), body: { kind: 'patch', paths: { '/member_ids': anyT, '/name': s255, '/properties': anyT }, base: (fx) => [{ op: 'add', path: '/member_ids', value: fx.clA }] } },
    'DELETE /v1/federations/:ident': one('federation'),
    // clusters
    'GET /v1/clusters': list(), 'GET /v1/clusters/detail': list(),
    'GET /v1/clusters/:ident': one('cluster'),
    'POST /v1/clusters': { body: { kind: 'object', fields: CLUSTER_INPUT, base: (fx, rng) => ({ name: `fz${rng.int(0, 1e9)}`, cluster_template_id: fx.tplFree }) } },
    'PATCH /v1/clusters/:ident': { ...one('cluster', { rollback: 'bool' }), body: CLUSTER_PATCH },
    'DELETE /v1/clusters/:ident': one('cluster', { force: 'bool' }),
    'POST /v1/clusters/:ident/actions/resize': { ...one('cluster'), body: { kind: 'object', fields: RESIZE_FIELDS, base: (fx, rng) => ({ node_count: rng.int(1, 3), nodegroup: fx.ngX }) } },
    'POST /v1/clusters/:ident/actions/upgrade': { ...one('cluster'), body: { kind: 'object', fields: UPGRADE_FIELDS, base: (fx) => ({ cluster_template: fx.tplA }) } },
    'GET /v1/clusters/:ident/events': one('cluster', { limit: 'limit', marker: 'int' }),
    'GET /v1/clusters/:ident/images': one('cluster'),
    'POST /v1/clusters/:ident/images': { ...one('cluster'), body: { kind: 'object', fields: IMAGE_LOAD_FIELDS, base: () => ({ file: 'ok.tar' }) } },
    'GET /v1/clusters/:ident/images/:load': { params: { ident: 'cluster', load: 'load' } },
    // nodegroups
    'GET /v1/clusters/:cluster/nodegroups': { params: { cluster: 'cluster' }, query: { ...list().query, role: 'string' } },
    'GET /v1/clusters/:cluster/nodegroups/:ng': { params: { cluster: 'cluster', ng: 'nodegroup' } },
    'POST /v1/clusters/:cluster/nodegroups': { params: { cluster: 'cluster' }, body: { kind: 'object', fields: NODEGROUP_FIELDS, base: (_fx, rng) => ({ name: `fzng-${rng.int(0, 1e9)}` }) } },
    'PATCH /v1/clusters/:cluster/nodegroups/:ng': {
      params: { cluster: 'cluster', ng: 'nodegroup' },
      body: { kind: 'patch', paths: { ...Object.fromEntries(Object.entries(fieldTypes(NODEGROUP_FIELDS)).map(([n, t]) => [`/${n}`, t])) }, base: (_fx, rng) => [{ op: 'replace', path: '/max_node_count', value: rng.int(3, 5) }] },
    },
    'DELETE /v1/clusters/:cluster/nodegroups/:ng': { params: { cluster: 'cluster', ng: 'nodegroup' } },
    // bays
    'GET /v1/bays': list(), 'GET /v1/bays/detail': list(),
    'GET /v1/bays/:ident': one('cluster'),
    'POST /v1/bays': { body: { kind: 'object', fields: BAY_FIELDS, base: (fx, rng) => ({ name: `fzb${rng.int(0, 1e9)}`, baymodel_id: fx.tplFree }) } },
    'PATCH /v1/bays/:ident': { ...one('cluster'), body: BAY_PATCH },
    'DELETE /v1/bays/:ident': one('cluster'),
    // containers
    'GET /v1/containers': list({ bay_ident: 'cluster', cluster_ident: 'cluster' }), 'GET /v1/containers/detail': list({ bay_ident: 'cluster', cluster_ident: 'cluster' }),
    'GET /v1/containers/:ident': one('container'),
    'POST /v1/containers': { body: { kind: 'object', fields: CONTAINER_INPUT, base: (fx) => ({ image: 'busybox:latest', cluster_uuid: fx.clA, command: ['sleep', '1'] }) } },
    'PATCH /v1/containers/:ident': { ...one('container'), body: { kind: 'patch', paths: containerPaths, base: (_fx, rng) => [{ op: 'replace', path: '/name', value: `fz-ctr-${rng.int(0, 9)}` }] } },
    'DELETE /v1/containers/:ident': one('container', { force: 'bool' }),
    'GET /v1/containers/:ident/logs': one('container', { tail: 'tail', since: 'since', timestamps: 'bool' }),
    'PUT /v1/containers/:ident/execute': one('container', { command: 'command', timeout: 'int' }),
    'POST /v1/containers/:ident/execute': { ...one('container'), body: { kind: 'object', fields: EXECUTE_FIELDS, base: () => ({ command: 'ls -l', timeout: 5 }) } },
  };
  for (const action of ['start', 'stop', 'reboot', 'pause', 'unpause']) {
    out[`PUT /v1/containers/:ident/${action}`] = one('container', action === 'stop' || action === 'reboot' ? { timeout: 'int' } : {});
  }
  // cluster templates and baymodels
  for (const coll of ['clustertemplates', 'baymodels']) {
    out[`GET /v1/${coll}`] = list();
    out[`GET /v1/${coll}/detail`] = list();
    out[`GET /v1/${coll}/:ident`] = one('template');
    out[`POST /v1/${coll}`] = { body: { kind: 'object', fields: TEMPLATE_INPUT, base: tplBody } };
    out[`PATCH /v1/${coll}/:ident`] = { ...one('template'), body: TEMPLATE_PATCH };
    out[`DELETE /v1/${coll}/:ident`] = one('template');
  }
  // services and pods
  for (const [coll, kind] of [['services', 'service'], ['pods', 'pod']] as const) {
    const filter = { cluster_ident: 'cluster', bay_ident: 'cluster' } as const;
    out[`GET /v1/${coll}`] = list(filter);
    out[`GET /v1/${coll}/detail`] = list(filter);
    out[`GET /v1/${coll}/:ident`] = one(kind, filter);
    out[`POST /v1/${coll}`] = {
      body: {
        kind: 'object', fields: WORKLOAD_FIELDS,
        base: (fx) => (kind === 'service'
          ? { cluster_uuid: fx.clA, manifest: { image: 'busybox:latest', deploy: { replicas: 1 } } }
          : { cluster_uuid: fx.clK, manifest: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } }),
      },
    };
    out[`PATCH /v1/${coll}/:ident`] = { ...one(kind, filter), body: { kind: 'patch', paths: WORKLOAD_PATHS, base: () => [{ op: 'replace', path: kind === 'service' ? '/replicas' : '/manifest/metadata/labels/a', value: kind === 'service' ? 2 : 'b' }] } };
    out[`DELETE /v1/${coll}/:ident`] = one(kind, filter);
  }
  return out;
}

// ---- the routes the application has -----------------------------------------------------------------

/** An object that stands for any dependency: registering routes must not need real ones. */
const inert: ApiDeps = new Proxy(function inertDependency() {}, { get: (_t, k) => (k === Symbol.toPrimitive ? () => '' : inert), apply: () => inert }) as unknown as ApiDeps;

/** The routes the Router of src/api/app.ts holds, as "METHOD path". */
function routerRoutes(): string[] {
  const router = new Router();
  registerV1(router, inert);
  return router.routes.map((r) => `${r.method} ${r.path}`);
}

/** Paths in Fastify's route tree (printRoutes), parameters written ":". */
function fastifyPaths(app: FastifyInstance): Set<string> {
  const paths = new Set<string>();
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^([\s│]*)[└├]── (.*?)(?: \(([^)]*)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1].length / 4;
    stack.length = depth;
    const alternatives = m[2].split('|');
    stack.push(alternatives[0]);
    if (m[3] !== undefined) paths.add(normalise(stack.join('')));
  }
  return paths;
}

/**
 * The routes to fuzz ("METHOD path"), checked against the application: every route of its Router
 * is served by Fastify and has a generator, every path of Fastify's tree has one too, and every
 * generator has a route. Also the methods each path answers.
 */
function routeTable(app: FastifyInstance, table: Record<string, RouteSpec>): { all: string[]; allowedByPath: Map<string, Set<Method>> } {
  const routes = routerRoutes();
  const fastify = fastifyPaths(app);
  const specPaths = new Set(Object.keys(table).map((k) => normalise(k.split(' ')[1])));
  for (const r of routes) assert.ok(app.hasRoute({ method: r.split(' ')[0] as Method, url: r.split(' ')[1] }), `Fastify serves ${r}`);
  for (const r of routes) assert.ok(fastify.has(normalise(r.split(' ')[1])), `the route tree shows ${r} (${[...fastify].join(' ')})`);
  const missing = [...routes.filter((r) => !table[r]), ...[...fastify].filter((p) => !specPaths.has(p)).map((p) => `(a path of Fastify's) ${p}`)];
  assert.deepEqual(missing, [], `routes without a generator in test/api/fuzz.test.ts: ${missing.join(', ')}`);
  const all = Object.keys(table).filter((k) => routes.includes(k) || NOT_ROUTED.includes(k));
  const stale = Object.keys(table).filter((k) => !all.includes(k));
  assert.deepEqual(stale, [], `generators for routes the application does not have: ${stale.join(', ')}`);
  const allowedByPath = new Map<string, Set<Method>>();
  for (const k of all) {
    const [m, p] = k.split(' ') as [Method, string];
    allowedByPath.set(normalise(p), (allowedByPath.get(normalise(p)) ?? new Set<Method>()).add(m));
  }
  return { all, allowedByPath };
}

/** Routes Fastify serves outside the Router. */
const NOT_ROUTED = ['GET /', 'GET /healthcheck', 'GET /v1/openapi.json'];

const normalise = (path: string) => path.replace(/:[^/|]+/g, ':').replace(/(.)\/$/, '$1');

// ---- request generation ----------------------------------------------------------------------------

interface FuzzRequest {
  route: string;
  /** What was made hostile, for the report. */
  klass: string;
  method: Method | 'OPTIONS' | 'HEAD';
  url: string;
  headers: Record<string, string>;
  payload?: string | Buffer;
}

/** encodeURIComponent, writing a lone surrogate as the three bytes it would take (WTF-8) instead of throwing. */
function enc(v: string): string {
  return v.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]|[^\ud800-\udfff]+|[\ud800-\udbff][\udc00-\udfff]/g, (part) => {
    if (part.length === 1 && part.charCodeAt(0) >= 0xd800 && part.charCodeAt(0) <= 0xdfff) {
      const c = part.charCodeAt(0);
      return [0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('');
    }
    return encodeURIComponent(part);
  });
}

const rngUuid = (rng: Rng) => {
  const h = Array.from({ length: 32 }, () => rng.int(0, 15).toString(16)).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20)}`;
};

function validIdent(kind: IdentKind, fx: Fixture, rng: Rng): string {
  const forms = (u: string) => [u, u, u, u.toUpperCase(), `{${u}}`, u.replace(/-/g, ''), `urn:uuid:${u}`];
  switch (kind) {
    case 'template': return rng.pick([...forms(fx.tplFree), fx.tplA, fx.tplPub, fx.tplP, fx.tplK, 'tpl-free', 'tpl-pub', 'tpl-a', rngUuid(rng)]);
    case 'cluster': return rng.pick([...forms(fx.clA), fx.clA, 'cl-a', 'cl-a', fx.clP, fx.clK, 'cl-k', 'cl-p', rngUuid(rng)]);
    case 'nodegroup': return rng.pick([...forms(fx.ngX), 'ng-extra', fx.ngWorker, fx.ngMaster, 'default-worker', 'default-master', rngUuid(rng)]);
    case 'container': return rng.pick([...forms(fx.ctr), 'fz-ctr', rngUuid(rng)]);
    case 'service': return rng.pick([...forms(fx.svc), 'web', rngUuid(rng)]);
    case 'pod': return rng.pick([...forms(fx.pod), 'fzpod', rngUuid(rng)]);
    case 'federation': return rng.pick([rngUuid(rng), 'fed']);
    case 'project': return rng.pick(['p1', 'p1', 'admin', 'p2', 'fzq-1']);
    case 'resource': return rng.pick(['Cluster', 'Cluster', 'Cluster', 'cluster', 'Bogus']);
    case 'load': return rngUuid(rng);
  }
}

/** A path segment that is hostile as a path segment, percent-encoded or raw. */
function hostileSegment(rng: Rng): string {
  return rng.weighted<() => string>([
    [5, () => enc(hostileString(rng)).replace(/^$/, '%20')],
    [3, () => rng.pick(['%00', 'a%00b', '%00%00', '%2e%2e%2f%2e%2e%2fetc%2fpasswd', '..%2F..%2Fetc%2Fpasswd', '%2F', '%5C', '%ZZ', '%C0%AE', '%ED%A0%80',
      '%FF%FE', '%E0%A4%A', '%', '%25', '%0A', '%0D%0A', '%7F', '%20', '+', '%2B', ';', 'a;b=c', '.json', 'x.json', '%F0%9F%98%80', '~', '*'])],
    [2, () => 'x'.repeat(rng.pick([255, 256, 300, 999, 1000, 1001, 5000]))],
    [1, () => enc(LONG.s70k)],
  ])();
}

function validQueryValue(kind: QueryKind, fx: Fixture, rng: Rng): string {
  switch (kind) {
    case 'limit': return String(rng.int(1, 5));
    case 'uuid': return rngUuid(rng);
    case 'int': return String(rng.int(1, 10));
    case 'sortKey': return rng.pick(['id', 'uuid', 'name', 'created_at']);
    case 'sortDir': return rng.pick(['asc', 'desc']);
    case 'bool': return rng.pick(['true', 'false', '0', 'yes']);
    case 'cluster': return rng.pick([fx.clA, 'cl-a', fx.clK]);
    case 'since': return rng.pick(['10m', '1700000000', '2024-01-02T03:04:05Z']);
    case 'command': return rng.pick(['ls', 'echo hi']);
    case 'tail': return rng.pick(['10', 'all']);
    case 'string': return rng.pick(['cluster', 'p1', 'admin', 'worker']);
  }
}

function hostileQueryValue(kind: QueryKind, rng: Rng): string {
  const specific: Partial<Record<QueryKind, string[]>> = {
    limit: ['0', '-1', '2147483648', '9007199254740993', '1e308', '1e3', '1.5', 'NaN', ' 1', '0x10', '99999999999999999999'],
    int: ['-1', '2147483648', '9007199254740993', '1e400', '3601', '601', 'NaN', '1.5', '0x10'],
    tail: ['-1', '2147483648', '9007199254740993', 'all\u0000', '1e3', 'ALL'],
    since: ['1e400s', '99999999999999999999', '2024-13-45', 'P1D', '--help', '9999999999h', '2024-02-30T25:61:61Z', '-1', '1.0000000001'],
    command: ["'unterminated", '"', '\\', '--help', '-v', 'ls\u0000', '$(id)', '`id`', 'a'.repeat(70_000), ' ', ''],
    sortKey: ['id;drop table cluster', 'project_id', 'labels', 'password', '__proto__', 'uuid desc', 'ID'],
    sortDir: ['ASC', 'up', 'asc;', 'desc\u0000'],
  };
  const own = specific[kind];
  if (own && rng.chance(0.5)) return rng.pick(own);
  return hostileString(rng);
}

/** Percent-encodes a query value, except where the value is itself a raw escape to test. */
function encodeQuery(v: string, rng: Rng): string {
  return rng.chance(0.1) ? v.replace(/[^%\w.~-]/g, (c) => enc(c)) : enc(v);
}

function buildQuery(spec: RouteSpec, fx: Fixture, rng: Rng, hostile: boolean): { query: string; klass: string } {
  const known = Object.entries(spec.query ?? {});
  const parts: string[] = [];
  let klass = '';
  if (known.length && rng.chance(0.3)) {
    const [k, kind] = rng.pick(known);
    parts.push(`${k}=${enc(validQueryValue(kind, fx, rng))}`);
  }
  if (hostile) {
    klass = rng.weighted<() => string>([
      [5, () => {
        if (!known.length) {
          parts.push(`${enc(hostileString(rng)) || 'x'}=1`);
          return 'query unknown key';
        }
        const [k, kind] = rng.pick(known);
        parts.push(`${k}=${encodeQuery(hostileQueryValue(kind, rng), rng)}`);
        return `query ${k}`;
      }],
      [2, () => {
        parts.push(`${enc(hostileString(rng)) || 'x'}=${enc(hostileString(rng))}`);
        return 'query unknown key';
      }],
      [1, () => {
        const [k] = known.length ? rng.pick(known) : ['limit'];
        parts.push(`${k}=1`, `${k}=2`);
        return 'query repeated key';
      }],
      [1, () => {
        parts.push(rng.pick(['__proto__=x', 'constructor=x', '__proto__[x]=1', 'a[b]=c', '=x', '&&&', '%00=%00', 'limit', 'limit=', '%ZZ=1', 'a=%ZZ', `x=${'y'.repeat(70_000)}`]));
        return 'query oddity';
      }],
    ])();
  }
  return { query: parts.length ? `?${parts.join('&')}` : '', klass };
}

/** A hostile value for a field of the given type (and, for some fields, of its meaning). */
function hostileFor(name: string, type: FieldType, rng: Rng): unknown {
  const special = SPECIAL[name];
  if (special && rng.chance(0.6)) return special(rng);
  if (rng.chance(0.15)) return hostileValue(rng);
  switch (type.kind) {
    case 'string': {
      const max = type.max ?? 255;
      return rng.weighted<() => unknown>([
        [6, () => hostileString(rng)],
        [2, () => rng.pick(['x'.repeat(max + 1), 'é'.repeat(max), '😀'.repeat(Math.ceil(max / 2) + 1), `a${'\u0000'.repeat(max - 1)}`, 'x'.repeat(max)])],
        [1, () => rng.pick(WRONG_TYPES)],
        [1, () => rng.pick(HOSTILE_NUMBERS)],
      ])();
    }
    case 'int': return rng.weighted<() => unknown>([
      [6, () => rng.pick(HOSTILE_NUMBERS)],
      [3, () => rng.pick(['2147483648', '-1', ' 1 ', '1e3', '9007199254740993', '+5', '0x10', '', '１', '00', '-0'])],
      [1, () => rng.pick(WRONG_TYPES)],
    ])();
    case 'labels': case 'strdict': return hostileLabels(rng);
    case 'strlist': return rng.pick([[hostileString(rng)], [hostileValue(rng)], Array.from({ length: 1000 }, (_, i) => `n${i}`), hostileString(rng), {}, [null]]);
    default: return hostileValue(rng);
  }
}

/** Values that mean something to a part below the API: a command line, a parser, the infrastructure. */
const SPECIAL: Record<string, (rng: Rng) => unknown> = {
  image_id: (rng) => rng.pick(['--help', '-v', '--privileged', '-', 'fake-image\u0000', 'a\u0000b', 'busybox:--help', '--format={{json .}}', '-q', '--host=tcp://127.0.0.1:1', 'no-such-image', 'x'.repeat(256), 'Fake-Image', 'fake-image ', ' fake-image', '../fake-image', 'fake-image@sha256:zz']),
  image: (rng) => rng.pick(['--privileged', '-v', 'busybox;id', 'busybox:latest --privileged', 'BUSYBOX', 'busybox@sha256:zz', 'a'.repeat(300), 'busybox\u0000', '../busybox', 'busybox:' + 'x'.repeat(200), 'localhost:99999/busybox', 'busybox:latest']),
  command: (rng) => rng.pick(["'unterminated", '"', '\\', 'ls \u0000', '--help', ['--privileged'], [''], [], [1], ['a\u0000'], ['ls', null], 'x'.repeat(70_000), 'a'.repeat(100) + ' ' + '"'.repeat(3), '$(id)', ['sh', '-c', 'id'], ' ', {}, 5]),
  ports: (rng) => rng.pick([['-1'], ['70000'], ['0'], ['1:2:3:4'], [new Raw('1e400')], Array(101).fill('80'), ['80/bogus'], ['--publish=1'], 'str', [{}], [2147483648], ['80', '80'], ['127.0.0.1:80:80'], [80.5], ['80/tcp\u0000']]),
  memory: (rng) => rng.pick(['-1m', '1e308g', '9007199254740993b', '--memory', '0', '4m', '1099511627776g', '99999999999999999999999g', '4194303b', '4194304b', 'NaN', '1.5g', ' 64m']),
  cpu: (rng) => rng.pick([1e308, -0, 0.001, 'NaN', 'Infinity', '1e3', 1025, new Raw('1e400'), '0x10', 0.01, 1024, '1024.0000001', new Raw('-0')]),
  restart_policy: (rng) => rng.pick(['on-failure:2147483648', 'on-failure:-1', 'on-failure:99999999999999999999', '--help', 'always\u0000', 'on-failure:', 'unless-stopped ', 'no']),
  environment: (rng) => rng.pick([{ 'A=B': 'c' }, { A: 'b\u0000' }, { '\u0000': 'x' }, { '': 'x' }, { A: 'x'.repeat(100_000) }, { ['K'.repeat(70_000)]: 'v' }, { A: 1 }, { '--privileged': '1' }, hostileLabels(rng)]),
  manifest: (rng) => rng.pick([
    'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n',
    `${'- '.repeat(5000)}x`, '['.repeat(10_000), `image: ${'x'.repeat(100_000)}`, 'image: --privileged', 'image: busybox\ncommand: "\u0000"', '!!js/function "function(){}"',
    '--help', '', ' ', '{', 'image: busybox\nports: ["99999:80"]', 'image: busybox\ndeploy: {replicas: 2147483648}', 'image: busybox\ndeploy: {replicas: 1e400}',
    { image: '--privileged' }, { image: 'busybox', deploy: { replicas: new Raw('9007199254740993') } }, { image: 'busybox', environment: { A: '\u0000' } },
    { image: 'busybox', command: ["'"] }, { apiVersion: 'v1', kind: 'Pod', metadata: { name: '../x' } }, { __proto__x: 1 }, deepObject(1000), [], 5,
    'kind: Pod\napiVersion: v1\nmetadata: {name: "\u0000"}', `a: ${'b'.repeat(1000)}\n`.repeat(50), '%YAML 9.9\n---\na: b', 'a: !!binary AAAA', 'a: *undefined_alias',
  ]),
  csr: (rng) => rng.pick(['-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n', 'x'.repeat(100_000), '-----BEGIN CERTIFICATE REQUEST-----\n' + 'A'.repeat(100_000) + '\n-----END CERTIFICATE REQUEST-----\n',
    '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n', '\u0000', '-----BEGIN CERTIFICATE REQUEST-----\n\u0000\u0001\n-----END CERTIFICATE REQUEST-----',
    '-----BEGIN CERTIFICATE REQUEST-----\nMIIBVjCBwAIBADAXMRUwEwYDVQQDDAxmdXp6\n-----END CERTIFICATE REQUEST-----\n'.repeat(500), '--help']),
  file: (rng) => rng.pick(['../ok.tar', '/etc/passwd', 'ok.tar\u0000', '--help', '-', 'x'.repeat(256), 'ok.tar/..', 'a\\..\\b', '..', '.', 'notes.txt', 'missing.tar', 'ok.tar ', '%00', 'sub/../../ok.tar', '~/ok.tar', 'ok.tar\n']),
  dns_nameserver: (rng) => rng.pick(['8.8.8.8\u0000', `${'8.8.8.8,'.repeat(100)}8.8.8.8`, '::1', '999.999.999.999', '8.8.8.8 ', '--help', '8.8.8.8;id', '0.0.0.0', '255.255.255.255']),
  flavor_id: (rng) => rng.pick(['--help', 'm1.small\u0000', 'x'.repeat(300), '-v', 'm1.small:1:1']),
  master_flavor_id: (rng) => rng.pick(['--help', 'm1.small\u0000', 'x'.repeat(300)]),
  external_network_id: (rng) => rng.pick(['--help', 'public\u0000', 'x'.repeat(300), 'public:127.0.0.1']),
  fixed_subnet: (rng) => rng.pick(['10.0.0.0/8', '10.0.0.0/33', '--help', '0.0.0.0/0', '10.0.0.0/24\u0000', '::/0', '256.0.0.0/24', '10.0.0.1/32', 'x'.repeat(300)]),
  fixed_network: (rng) => rng.pick(['--help', 'bridge', 'host', 'none', 'x'.repeat(300), 'net\u0000']),
  cluster_template_id: (rng) => rng.pick(['2147483648', '-1', '0', '9007199254740993', '1e308', 'x'.repeat(300), '\u0000', 'tpl-free\u0000', '%00', '--help']),
  baymodel_id: (rng) => rng.pick(['2147483648', '-1', '0', 'x'.repeat(300), '\u0000', '--help']),
  cluster_template: (rng) => rng.pick(['2147483648', '-1', 'x'.repeat(300), '\u0000', '--help']),
  nodegroup: (rng) => rng.pick(['2147483648', '-1', '0', 'x'.repeat(300), '\u0000', '--help', 'default-master']),
  cluster_uuid: (rng) => rng.pick(['2147483648', 'x'.repeat(300), '\u0000', 'cl-a\u0000', '--help']),
  bay_uuid: (rng) => rng.pick(['2147483648', 'x'.repeat(300), '\u0000', '--help']),
  hostcluster_id: (rng) => rng.pick(['2147483648', 'x'.repeat(300), '\u0000', '--help', LONG.s70k]),
  project_id: (rng) => rng.pick(['x'.repeat(256), 'p\u0000', '--help', LONG.s70k, 'a\u0001b']),
  keypair_id: (rng) => rng.pick(['--help', 'x'.repeat(256), 'kp\u0000']),
  name: (rng) => rng.pick(['--help', 'x'.repeat(256), 'a\u0000b', 'default-worker', 'detail', '😀'.repeat(128), 'é'.repeat(255), 'a'.repeat(242), 'a'.repeat(243)]),
  labels: (rng) => hostileLabels(rng),
  discovery_url: (rng) => rng.pick(['http://127.0.0.1:1/x', 'file:///etc/passwd', 'x'.repeat(256), 'http://[::1', '\u0000']),
  docker_volume_size: (rng) => rng.pick([2147483648, -1, 0, new Raw('1e400'), '2147483648', 9007199254740991]),
  node_count: (rng) => rng.pick([2147483648, -1, 2147483647, 100000, new Raw('1e400'), '2147483648', 1e308]),
  master_count: (rng) => rng.pick([2147483648, -1, 2, 100000, 0]),
  hard_limit: (rng) => rng.pick([2147483648, -1, 2147483647, new Raw('9007199254740993'), '2147483648']),
  apiserver_port: (rng) => rng.pick([65536, 0, -1, 1023, 2147483648, '65535']),
  create_timeout: (rng) => rng.pick([2147483648, -1, 2147483647, 1e308]),
  timeout: (rng) => rng.pick([0, 3601, 2147483648, -1, new Raw('1e400'), '60']),
  max_batch_size: (rng) => rng.pick([0, 2147483648, -1]),
  uuid: (rng) => rng.pick(['00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '{00000000-0000-0000-0000-000000000000}', 'urn:uuid:' + 'f'.repeat(32), 'x'.repeat(36), '\u0000'.repeat(36)]),
  id: (rng) => rng.pick([2147483648, -1, 0, 1, '1']),
  nodes_to_remove: (rng) => rng.pick([['--help'], ['\u0000'], Array(1000).fill('x'), ['x'.repeat(300)], [1]]),
  member_ids: (rng) => rng.pick([['--help'], ['\u0000'], Array(1000).fill('x')]),
  properties: (rng) => rng.pick([{ 'dns-zone': '\u0000' }, { 'dns-zone': 'x'.repeat(100_000) }, { 'dns-zone': 1 }]),
};

/** An object body of the route's shape with one to three hostile changes. */
function hostileObject(body: ObjectBody, fx: Fixture, rng: Rng): { value: unknown; klass: string } {
  const base = body.base(fx, rng);
  const names = Object.keys(body.fields);
  const changes: string[] = [];
  for (let n = rng.weighted([[6, 1], [3, 2], [1, 3]] as const); n > 0; n--) {
    rng.weighted<() => void>([
      [10, () => {
        // Fields that mean something below the API (a command line, a lookup, a column) more often.
        const name = rng.weighted(names.map((n) => [SPECIAL[n] ? 4 : 1, n] as const));
        base[name] = hostileFor(name, body.fields[name].type, rng);
        changes.push(name);
      }],
      [1, () => {
        base[hostileString(rng) || 'x'] = hostileValue(rng);
        changes.push('unknown field');
      }],
      [1, () => {
        const mandatory = names.filter((k) => body.fields[k].mandatory);
        if (mandatory.length) delete base[rng.pick(mandatory)];
        else base.__proto__x = 1;
        changes.push('mandatory missing');
      }],
      [1, () => {
        const name = rng.pick(names);
        base[name] = null;
        changes.push(`${name}=null`);
      }],
    ])();
  }
  return { value: base, klass: `body ${[...new Set(changes)].join(',')}` };
}

/** A JSON-Patch document for the route: hostile operations, paths and values. */
function hostilePatch(body: PatchBody, fx: Fixture, rng: Rng): { value: unknown; klass: string } {
  const paths = Object.keys(body.paths);
  const op = (): Record<string, unknown> => {
    const path = hostilePointer(rng, paths);
    const type = typeof path === 'string' ? body.paths[path] : undefined;
    const o: Record<string, unknown> = { op: rng.weighted([[5, 'replace'], [2, 'add'], [2, 'remove'], [1, 'hostile']] as const), path };
    if (o.op === 'hostile') o.op = rng.pick(['move', 'copy', 'test', '', 'REPLACE', 1, null, hostileString(rng)]);
    if (o.op !== 'remove' || rng.chance(0.2)) {
      o.value = path === '/labels' && rng.chance(0.6) ? hostileLiteral(rng) : type ? hostileFor(String(path).slice(1), type, rng) : hostileValue(rng);
    }
    if (rng.chance(0.05)) o.from = rng.pick(paths);
    if (rng.chance(0.03)) o[hostileString(rng) || 'x'] = hostileValue(rng);
    if (rng.chance(0.03)) delete o[rng.pick(['op', 'path'])];
    return o;
  };
  return rng.weighted<() => { value: unknown; klass: string }>([
    [8, () => {
      const ops = body.base(fx, rng);
      const n = rng.weighted([[6, 1], [3, 2], [1, 3]] as const);
      for (let i = 0; i < n; i++) ops.splice(rng.int(0, ops.length), rng.chance(0.5) ? 1 : 0, op());
      return { value: ops, klass: 'patch operations' };
    }],
    [1, () => ({ value: Array.from({ length: rng.pick([500, 3000]) }, () => body.base(fx, rng)[0]), klass: 'patch of many operations' })],
    [1, () => ({ value: rng.pick([{ op: 'replace', path: '/name', value: 'x' }, {}, 'str', 5, null, [[]], [null], [deepObject(1000)]]), klass: 'patch not a list' })],
  ])();
}

/** Bodies that are not what any route reads: malformed, deep, huge, badly encoded. */
function garbageBody(rng: Rng): { payload: string | Buffer; klass: string } {
  return rng.weighted<() => { payload: string | Buffer; klass: string }>([
    [4, () => ({ payload: rng.pick(['{', '{"a":', 'not json', "{'a': 'b'}", '{"a": 1,}', '[1, 2', '{"a": NaN}', '{"a": undefined}', '{"a":1}}', '{"a": 01}',
      '"unterminated', '{} garbage', '\u0000', ' ', '[]', '[{}]', '"str"', '42', '1.5', 'null', 'true', '{"a": "\\ud800"}', '{"\\u0000": 1}', '{"a": "\\u0000"}',
      '{"a": 1e400}', '{"a": -0}', '\ufeff{}', '{"__proto__": {"isAdmin": true}}', '[' + '1,'.repeat(20_000) + '1]']), klass: 'garbage: malformed or wrong JSON' })],
    [2, () => {
      const depth = rng.pick([1000, 10_000, 50_000]);
      return { payload: toJson(rng.chance(0.5) ? deepArray(depth) : { a: deepObject(depth) }), klass: `garbage: JSON ${depth} levels deep` };
    }],
    [2, () => {
      const size = rng.pick([MAX_BODY, MAX_BODY + 1, MAX_BODY + 1000, 300_000, 1_100_000]);
      const pad = JSON.stringify({ pad: '' });
      return { payload: JSON.stringify({ pad: 'x'.repeat(Math.max(0, size - pad.length)) }), klass: `garbage: ${size}-byte body` };
    }],
    [2, () => ({ payload: rng.pick([Buffer.from([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00]), Buffer.from('{"name": "\xed\xa0\x80"}', 'latin1'), Buffer.from('{"name": "\xc0\xaf"}', 'latin1'),
      Buffer.from('{"name": "\xff"}', 'latin1'), Buffer.from([0x00, 0x00, 0x00]), Buffer.from('{"a":"b"}', 'utf16le'), Buffer.alloc(1000, 0x80)]), klass: 'garbage: invalid UTF-8' })],
  ])();
}

type Who = 'admin' | 'p1' | 'p2' | 'none' | 'hostile';

function identityHeaders(who: Who, rng: Rng): { headers: Record<string, string>; klass: string } {
  const h = { 'content-type': 'application/json' } as Record<string, string>;
  if (who === 'none') return { headers: h, klass: '' };
  if (who !== 'hostile') return { headers: { ...as(who, { roles: who === 'admin' ? ['admin'] : ['member'] }), ...h }, klass: '' };
  const base = as(rng.pick(['admin', 'p1']), { roles: [rng.pick(['admin', 'member'])] });
  const name = rng.pick(['x-project-id', 'x-user-id', 'x-roles', 'x-tenant-id', 'x-user-name', 'x-project-name', 'x-user-domain-id', 'x-user-domain-name', 'x-auth-token', 'x-domain-id', 'x-service-catalog']);
  const value = rng.weighted<() => string>([
    [4, () => rng.pick(['x'.repeat(256), 'y'.repeat(300), 'z'.repeat(1000), 'r,'.repeat(3000), 'admin,'.repeat(1000), LONG.s70k.slice(0, 8000)])],
    [4, () => rng.pick(['a\u0000b', 'admin\u0000', 'p1\u0001', 'a\u001fb', 'a\u007fb', 'p1\tp2', 'admin, member', ',,,', ' ', '', 'ADMIN', 'reader', 'é', '😀'])],
    [2, () => hostileString(rng)],
  ])();
  base[name] = value;
  return { headers: { ...base, ...h }, klass: `header ${name}` };
}

const BAD_MV = [
  'container-infra 1.99999999999999999999', 'container-infra 01.010', 'container-infra -1.5', 'container-infra 1.10\u0000', 'container-infra LATEST',
  'container-infra 1.', 'container-infra 2147483648.1', 'container-infra 1.2147483648', 'container-infra 1.9007199254740993', 'container-infra 1.1e1',
  'container-infra 1.10, container-infra 1.1', 'container-infra', '', ' ', 'compute 1.1', 'container-infra  1.1', `container-infra ${'1'.repeat(1000)}.1`,
  'container-infra 1.1 1.2', 'container-infra 0.0', 'container-infra 1.0', 'container-infra 1.11', 'CONTAINER-INFRA 1.1', 'container-infra\t1.1', 'container-infra 1.-1',
  'container-infra 1.1\r\nx-roles: admin', 'container-infra ١.١',
];

function hostileHeader(rng: Rng): { headers: Record<string, string>; klass: string } {
  return rng.weighted<() => { headers: Record<string, string>; klass: string }>([
    [4, () => ({ headers: { 'openstack-api-version': rng.pick(BAD_MV) }, klass: 'header microversion' })],
    [3, () => ({
      headers: { 'content-type': rng.pick(['text/plain', 'application/json; charset=utf-16', 'application/json; charset=latin1', 'application/JSON', 'application/json\u0000', 'application/json;' + 'x'.repeat(5000),
        'application/json-patch+json', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', '', '*/*', 'application/json, text/plain', ';', 'application/json; charset=bogus']) },
      klass: 'header content-type',
    })],
    [1, () => ({ headers: { accept: rng.pick(['application/xml', 'text/html', '*/*;q=bogus', 'x'.repeat(5000), '\u0001']) }, klass: 'header accept' })],
    [1, () => ({ headers: { host: rng.pick(['evil.example', 'a b', 'x'.repeat(5000), '[::1', '127.0.0.1:99999', '', 'h\u0000st']) }, klass: 'header host' })],
  ])();
}

/** One request for the route, with what is hostile about it chosen at random. */
function generate(route: string, spec: RouteSpec, allowed: Set<Method>, fx: Fixture, rng: Rng): FuzzRequest {
  const [method0, path] = route.split(' ') as [Method, string];
  let method: FuzzRequest['method'] = method0;
  const classes: string[] = [];
  const who: Who = rng.weighted([[55, 'admin'], [20, 'p1'], [8, 'p2'], [5, 'none'], [12, 'hostile']] as const);
  const id = identityHeaders(who, rng);
  const headers = id.headers;
  if (id.klass) classes.push(id.klass);
  if (rng.chance(0.1)) headers['openstack-api-version'] = `container-infra 1.${rng.int(1, 10)}`;
  if (rng.chance(0.1)) {
    const h = hostileHeader(rng);
    Object.assign(headers, h.headers);
    classes.push(h.klass);
  }

  // The path: valid fixture idents, or a hostile segment in place of one of them.
  const params = Object.keys(spec.params ?? {});
  const hostileParam = params.length && rng.chance(0.2) ? rng.pick(params) : null;
  let url = path.replace(/:(\w+)/g, (_m, p: string) => {
    if (p === hostileParam) {
      classes.push(`path :${p}`);
      return hostileSegment(rng);
    }
    return enc(validIdent(spec.params![p], fx, rng));
  });
  if (rng.chance(0.04)) {
    url += rng.pick(['/', '//', '/.', '/..', '/%2e%2e', '/%00', `/${hostileSegment(rng)}`, '.json', ';x=1', '%20', '/detail']);
    classes.push('path suffix');
  }
  if (rng.chance(0.02)) {
    url = rng.pick([url.replace('/v1/', '/v1//'), url.replace('/v1/', '/V1/'), url.replace('/v1/', '/v1/../v1/'), url.replace('/v1', '') || '/', url.replace('/v1/', '/v1/%2e/')]);
    classes.push('path variant');
  }

  // Another method than the route's own on its path (405), sometimes one no route has.
  if (rng.chance(0.05)) {
    const others = METHODS.filter((m) => !allowed.has(m));
    method = rng.chance(0.2) ? rng.pick(['OPTIONS', 'HEAD'] as const) : others.length ? rng.pick(others) : method;
    classes.push(`method ${method}`);
  }

  // A plain delete of a fixture only costs making it again: deletes carry something hostile.
  const q = buildQuery(spec, fx, rng, rng.chance(0.2) || (method === 'DELETE' && !classes.length));
  if (q.klass) classes.push(q.klass);
  url += q.query;

  let payload: string | Buffer | undefined;
  const takesBody = method === 'POST' || method === 'PATCH' || method === 'PUT';
  if (spec.body && takesBody) {
    const r = rng.weighted<() => { payload: string | Buffer; klass: string }>([
      [7, () => {
        const b = spec.body!.kind === 'object' ? hostileObject(spec.body as ObjectBody, fx, rng) : hostilePatch(spec.body as PatchBody, fx, rng);
        return { payload: toJson(b.value), klass: b.klass };
      }],
      [1, () => ({ payload: toJson(spec.body!.base(fx, rng)), klass: '' })],
      [2, () => garbageBody(rng)],
    ])();
    payload = r.payload;
    if (r.klass) classes.push(r.klass);
  } else if (takesBody || rng.chance(0.05)) {
    const r = rng.chance(0.5) ? garbageBody(rng) : { payload: toJson(hostileValue(rng)), klass: 'unexpected body' };
    payload = r.payload;
    classes.push(r.klass);
  }
  return { route, klass: classes.join('; ') || 'valid', method, url, headers, ...(payload === undefined ? {} : { payload }) };
}

/**
 * Requests of the classes that answered 500 once (issue 8, and what this fuzzer found), sent first
 * on every run whatever the seed: the corpus a fuzzer starts from.
 */
function knownRequests(fx: Fixture): FuzzRequest[] {
  const admin = { ...ADMIN };
  const json = (route: string, method: Method, url: string, body: unknown, klass: string, headers: Record<string, string> = admin): FuzzRequest =>
    ({ route, klass: `known: ${klass}`, method, url, headers, payload: toJson(body) });
  const get = (route: string, url: string, klass: string, headers: Record<string, string> = admin): FuzzRequest => ({ route, klass: `known: ${klass}`, method: 'GET', url, headers });
  const tpl = { name: 'known', coe: 'swarm-mode', image_id: 'fake-image', keypair_id: 'kp' };
  const cl = { name: 'known', cluster_template_id: fx.tplFree };
  return [
    get('GET /v1/clustertemplates/:ident', '/v1/clustertemplates/%00', 'NUL in a path'),
    get('GET /v1/clusters/:ident', `/v1/clusters/a%00${fx.clA}`, 'NUL in an ident'),
    json('POST /v1/clustertemplates', 'POST', '/v1/clustertemplates', { ...tpl, name: 'a\u0000b' }, 'NUL in a name'),
    json('POST /v1/clustertemplates', 'POST', '/v1/clustertemplates', { ...tpl, image_id: 'fake\u0000image' }, 'NUL in image_id'),
    json('POST /v1/clusters', 'POST', '/v1/clusters', { ...cl, cluster_template_id: '2147483648' }, 'cluster_template_id past int32'),
    json('POST /v1/bays', 'POST', '/v1/bays', { name: 'known', baymodel_id: '2147483648' }, 'baymodel_id past int32'),
    get('GET /v1/clusters', '/v1/clusters', 'X-Project-Id of 300 characters', { ...admin, 'x-project-id': 'p'.repeat(300) }),
    get('GET /v1/clusters', '/v1/clusters', 'X-User-Id of 300 characters', { ...admin, 'x-user-id': 'u'.repeat(300) }),
    get('GET /v1/clusters', '/v1/clusters', 'X-Roles with a control character', { ...admin, 'x-roles': 'admin\u0001' }),
    json('POST /v1/clustertemplates', 'POST', '/v1/clustertemplates', { ...tpl, labels: { k: 'x'.repeat(100_000) } }, 'a 100 KB label'),
    json('POST /v1/clusters', 'POST', '/v1/clusters', { ...cl, labels: { k: 'x'.repeat(100_000) } }, 'a 100 KB label'),
    json('POST /v1/clustertemplates', 'POST', '/v1/clustertemplates', { ...tpl, keypair_id: 'k'.repeat(300) }, 'a 300-character id'),
    json('POST /v1/clusters', 'POST', '/v1/clusters', { ...cl, keypair: 'k'.repeat(300) }, 'a 300-character id'),
    get('GET /v1/clusters/:ident', `/v1/clusters/${'x'.repeat(300)}`, 'a 300-character ident'),
    json('POST /v1/clustertemplates', 'POST', '/v1/clustertemplates', { ...tpl, image_id: '--help' }, 'image_id like an option'),
    json('POST /v1/clusters/:cluster/nodegroups', 'POST', `/v1/clusters/${fx.clA}/nodegroups`, { name: 'known', image_id: '--help' }, 'image_id like an option'),
    json('PATCH /v1/clustertemplates/:ident', 'PATCH', `/v1/clustertemplates/${fx.tplFree}`, [{ op: 'replace', path: '/image_id', value: '--help' }], 'image_id like an option'),
    json('PATCH /v1/clustertemplates/:ident', 'PATCH', `/v1/clustertemplates/${fx.tplFree}`, [{ op: 'add', path: '/hidden/-', value: '1e3' }], 'a patch path below a boolean'),
    json('PATCH /v1/services/:ident', 'PATCH', `/v1/services/${fx.svc}`, [{ op: 'replace', path: '/manifest/image/0', value: 'x' }], 'a patch path below a string'),
    json('POST /v1/bays', 'POST', '/v1/bays', { name: 'known', baymodel_id: fx.tplFree, node_count: 2147483647 }, 'node_count 2^31 - 1'),
  ];
}

// ---- the stack, its fixtures and its state -------------------------------------------------------------

const ADMIN = { ...as('admin', { roles: ['admin'] }) };
const P1 = as('p1');

async function call(s: TestStack, method: Method, url: string, headers: Record<string, string>, body?: unknown, status?: number) {
  const r = await s.app.inject({ method, url, headers, ...(body === undefined ? {} : { payload: JSON.stringify(body) }) });
  if (status !== undefined) assert.equal(r.statusCode, status, `${method} ${url}: ${r.body}`);
  return r;
}

/** Waits until no operation is pending or running, then until two fingerprints a moment apart agree. */
async function settle(s: TestStack, dg: SchemaDigest): Promise<Record<string, string>> {
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const until = Date.now() + 60_000;
  for (;;) {
    const busy = await s.storage.conn.db.selectFrom('operation').select('id').where('state', 'in', ['pending', 'running']).limit(1).execute();
    if (!busy.length) break;
    if (Date.now() > until) throw new Error('operations did not finish within 60 s');
    await pause(10);
  }
  let fp = await dg.fingerprint();
  for (let i = 0; i < 200; i++) {
    await pause(15);
    const again = await dg.fingerprint();
    if (sameFingerprint(fp, again)) return again;
    fp = again;
  }
  throw new Error('the database did not settle');
}

async function template(s: TestStack, name: string, headers: Record<string, string>, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await call(s, 'POST', '/v1/clustertemplates', headers, { name, coe: 'swarm-mode', image_id: 'fake-image', keypair_id: 'kp', ...extra }, 201);
  return r.json().uuid as string;
}

async function cluster(s: TestStack, name: string, tpl: string, headers: Record<string, string>): Promise<string> {
  const r = await call(s, 'POST', '/v1/clusters', headers, { name, cluster_template_id: tpl, labels: { k: 'v' }, master_count: 1, node_count: 1 }, 202);
  const uuid = r.json().uuid as string;
  await waitFor(`${name} CREATE_COMPLETE`, async () => ((await call(s, 'GET', `/v1/clusters/${uuid}`, headers)).json().status === 'CREATE_COMPLETE' ? true : undefined), 30_000);
  return uuid;
}

/** Makes the fixtures that are missing (all of them the first time); fuzzed requests may delete some. */
async function ensureFixtures(s: TestStack, fx: Partial<Fixture>, rows: Record<string, Row[]> | null): Promise<number> {
  const has = (table: string, uuid: string | undefined, ok: (r: Row) => boolean = () => true) =>
    uuid !== undefined && rows !== null && rows[table].some((r) => r.uuid === uuid && ok(r));
  const usable = (r: Row) => !String(r.status).startsWith('DELETE');
  let made = 0;
  if (!has('cluster_template', fx.tplFree)) { fx.tplFree = await template(s, 'tpl-free', ADMIN, { labels: { a: 'b' } }); made++; }
  if (!has('cluster_template', fx.tplPub)) { fx.tplPub = await template(s, 'tpl-pub', ADMIN, { public: true }); made++; }
  // A cluster made again gets a template of its own (fuzzed requests may have changed the old
  // one), and no quota left by a fuzzed request may stop it.
  const again = async (project: string, tplName: string, headers: Record<string, string>, extra: Record<string, unknown> = {}) => {
    await s.storage.conn.db.deleteFrom('quotas').where('project_id', '=', project).execute();
    made += 2;
    return template(s, tplName, headers, extra);
  };
  let newA = false;
  if (!has('cluster', fx.clA, usable)) { fx.tplA = await again('admin', 'tpl-a', ADMIN); fx.clA = await cluster(s, 'cl-a', fx.tplA, ADMIN); newA = true; }
  if (!has('cluster', fx.clP, usable)) { fx.tplP = await again('p1', 'tpl-p', P1); fx.clP = await cluster(s, 'cl-p', fx.tplP, P1); }
  if (!has('cluster', fx.clK, usable)) { fx.tplK = await again('admin', 'tpl-k', ADMIN, { coe: 'kubernetes' }); fx.clK = await cluster(s, 'cl-k', fx.tplK, ADMIN); }
  if (newA || !has('nodegroup', fx.ngX, usable)) {
    const r = await call(s, 'POST', `/v1/clusters/${fx.clA}/nodegroups`, ADMIN, { name: `ng-extra`, node_count: 1, min_node_count: 1, max_node_count: 3 });
    if (r.statusCode === 202) fx.ngX = r.json().uuid as string;
    made++;
  }
  if (newA || fx.ngWorker === undefined) {
    const ngs = (await call(s, 'GET', `/v1/clusters/${fx.clA}/nodegroups`, ADMIN, undefined, 200)).json().nodegroups as { uuid: string; name: string }[];
    fx.ngWorker = ngs.find((n) => n.name === 'default-worker')!.uuid;
    fx.ngMaster = ngs.find((n) => n.name === 'default-master')!.uuid;
    fx.ngX ??= ngs.find((n) => n.name === 'ng-extra')?.uuid;
  }
  // Containers, services and pods exist only on real clusters: their rows are stored directly.
  if (newA || !has('container', fx.ctr)) {
    fx.ctr = randomUUID();
    await s.storage.createContainer({
      uuid: fx.ctr, name: 'fz-ctr', project_id: 'admin', user_id: 'admin-user', cluster_id: fx.clA!, image: 'busybox:latest', command: ['sleep', '60'],
      memory: '64m', cpu: 0.5, environment: { A: 'b' }, ports: ['8080:80'], restart_policy: 'always', host: null, docker_id: null, status: 'Running',
    });
    made++;
  }
  if (newA || !has('cluster_workload', fx.svc)) {
    fx.svc = randomUUID();
    await s.storage.workloads.create({
      uuid: fx.svc, kind: 'service', name: 'web', project_id: 'admin', user_id: 'admin-user', cluster_id: fx.clA!, coe: 'swarm-mode', backend_id: null,
      manifest: { image: 'busybox:latest', environment: {}, labels: {}, ports: [], deploy: { replicas: 1, labels: {}, placement: { constraints: [] }, update_config: {} } },
    });
    made++;
  }
  if (!has('cluster_workload', fx.pod) || !has('cluster', fx.clK)) {
    fx.pod = randomUUID();
    await s.storage.workloads.create({
      uuid: fx.pod, kind: 'pod', name: 'fzpod', project_id: 'admin', user_id: 'admin-user', cluster_id: fx.clK!, coe: 'kubernetes', backend_id: null,
      manifest: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'fzpod', labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } },
    });
    made++;
  }
  const quota = await s.storage.conn.db.selectFrom('quotas').select('id').where('project_id', '=', 'p1').where('resource', '=', 'Cluster').execute();
  if (!quota.length) {
    await call(s, 'POST', '/v1/quotas', ADMIN, { project_id: 'p1', resource: 'Cluster', hard_limit: 50 }, 201);
    made++;
  }
  return made;
}

/** A logged error in one line: message, error, and where in src/ it was thrown. */
function logSummary(line: string): string {
  try {
    const o = JSON.parse(line) as { msg?: string; err?: { type?: string; message?: string; stack?: string } };
    const at = o.err?.stack?.split('\n').find((l) => l.includes('/src/'))?.trim().replace(/^at /, '').replace(/\(?(file:\/\/)?\/work\/main\//, '(') ?? '';
    return `${o.msg ?? ''}: ${o.err?.type ?? ''} ${(o.err?.message ?? '').slice(0, 200)} ${at}`.trim();
  } catch {
    return line.slice(0, 200);
  }
}

// ---- running it ---------------------------------------------------------------------------------

interface Finding {
  req: FuzzRequest;
  status: number;
  detail: string;
}

const show = (v: string | Buffer | undefined, n: number) => {
  if (v === undefined) return '';
  const text = typeof v === 'string' ? v : `<${v.length} bytes> ${v.toString('latin1')}`;
  return JSON.stringify(text.length > n ? `${text.slice(0, n)}…(${text.length})` : text);
};
const line = (f: Finding) => `${f.status} ${f.req.method} ${f.req.url.length > 160 ? `${f.req.url.slice(0, 160)}…(${f.req.url.length})` : f.req.url} [${f.req.klass}] body=${show(f.req.payload, 160)} → ${f.detail.slice(0, 240)}`;

/** Findings grouped by route, status and the start of their detail, with one example each. */
function classes(findings: Finding[]): string[] {
  const groups = new Map<string, Finding[]>();
  for (const f of findings) {
    const key = `${f.status} ${f.req.route} ${f.detail.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '<uuid>').slice(0, 80)}`;
    groups.set(key, [...(groups.get(key) ?? []), f]);
  }
  return [...groups.entries()].sort((a, b) => b[1].length - a[1].length).map(([k, fs]) => `${fs.length}× ${k}\n    e.g. ${line(fs[0])}`);
}

async function fuzz(t: import('node:test').TestContext, kind: DbKind, imageDir: string): Promise<void> {
  const dockerBefore = await labelledResources();
  // Errors the API and the conductor log, to say what went wrong behind a 5xx.
  const logLines: string[] = [];
  const logger = pino({ level: 'error' }, { write: (l: string) => void (logLines.length < 20 && logLines.push(l)) });
  const s = await startStack(kind, {
    kubernetes: { health_polling_interval: '86400' },
    docker: { image_dir: imageDir },
    quotas: { max_clusters_per_project: '100000' },
    fake_driver: { step_delay_ms: '1' },
    // Clusters made by fuzzed requests get their CAs at once (a 2048-bit key takes seconds here).
    x509: { rsa_key_size: '1024' },
  }, { logger });
  t.after(() => s.close());
  const t0 = Date.now();
  const table = specs();
  const dg = await SchemaDigest.of(s.storage, s.db.url);
  t.after(() => dg.close());
  for (const known of ['cluster_template', 'cluster', 'nodegroup', 'x509keypair', 'magnum_service', 'quotas', 'federation', 'operation', 'cluster_event', 'cluster_resource', 'container', 'cluster_workload']) {
    assert.ok(dg.tables.includes(known), `table ${known} is in the schema (${dg.tables.join(', ')})`);
  }

  const { all, allowedByPath } = routeTable(s.app, table);

  const fx: Partial<Fixture> = {};
  const ours = new Set<string>();
  await ensureFixtures(s, fx, null);
  await settle(s, dg);
  let baseline = await dg.snapshot();
  await ensureFixtures(s, fx, baseline);
  let current = await settle(s, dg);
  baseline = await dg.snapshot();

  // The detector detects: a change made behind the API's back shows, and so does its undoing.
  const canary = (name: string) => s.storage.conn.db.updateTable('cluster_template').set({ name }).where('uuid', '=', fx.tplFree!).execute();
  await canary('tpl-free-canary');
  assert.equal(sameFingerprint(current, await dg.fingerprint()), false, 'a changed row changes the fingerprint');
  assert.match(describeDifference(baseline, await dg.snapshot()).join(), /^cluster_template: \+0 -0 ~1 /);
  await canary('tpl-free');
  assert.deepEqual(await dg.fingerprint(), current, 'the row as it was gives the fingerprint it had');

  const rng = new Rng(SEED);
  const order = rng.shuffle(all);
  const fiveXX: Finding[] = [];
  const badForm: Finding[] = [];
  const changed: Finding[] = [];
  const unsendable: Finding[] = [];
  const statusCounts = new Map<number, number>();
  const perRoute = new Map<string, number>();
  let settles = 0;
  for (const r of baseline.cluster) ours.add(String(r.uuid));
  let remade = 0;
  let digestMs = 0;
  let settleMs = 0;
  let remakeMs = 0;
  const remadeWhy: string[] = [];
  let injectMs = 0;
  const setupMs = Date.now() - t0;
  const known = knownRequests(fx as Fixture);
  for (let i = 0; i < REQUESTS; i++) {
    const route = order[i % order.length];
    const req = known[i] ?? generate(route, table[route], allowedByPath.get(normalise(route.split(' ')[1]))!, fx as Fixture, rng);
    perRoute.set(req.route, (perRoute.get(req.route) ?? 0) + 1);
    const ti = Date.now();
    // A request that ends the process (out of memory) is named by the trace file.
    if (TRACE) writeFileSync(TRACE, `#${i} ${req.method} ${req.url} [${req.klass}] ${JSON.stringify(req.headers)} ${show(req.payload, 100_000)}\n`);
    logLines.length = 0;
    let res;
    try {
      res = await s.app.inject({ method: req.method, url: req.url, headers: req.headers, ...(req.payload === undefined ? {} : { payload: req.payload }) });
    } catch (err) {
      // The request could not be written (light-my-request refuses some header values, as Node's client does).
      unsendable.push({ req, status: 0, detail: (err as Error).message });
      continue;
    }
    injectMs += Date.now() - ti;
    const status = res.statusCode;
    statusCounts.set(status, (statusCounts.get(status) ?? 0) + 1);
    if (VERBOSE && known[i]) t.diagnostic(`${kind}: ${req.klass}: ${status} ${errorDetail(res.body).slice(0, 150)}`);
    const logged = logLines.map(logSummary);
    const td = Date.now();
    let after = await dg.fingerprint();
    digestMs += Date.now() - td;
    if (status >= 500) fiveXX.push({ req, status, detail: `${errorDetail(res.body)}${logged.length ? ` — logged: ${logged.join(' | ')}` : ''}` });
    if (status >= 400 && status < 500) {
      const problems = req.method === 'HEAD' ? [] : errorFormProblems(res);
      if (problems.length) badForm.push({ req, status, detail: problems.join('; ') });
    }
    if (!sameFingerprint(current, after)) {
      const now = await dg.snapshot();
      // The baseline's rows are read a moment after its fingerprint: a change the conductor made in
      // between moves the fingerprint but not the rows. Only rows that differ are a change.
      const diff = describeDifference(baseline, now);
      if (status >= 400 && status < 500 && diff.length) changed.push({ req, status, detail: `${errorDetail(res.body)} — changed: ${diff.join(' | ')}` });
      baseline = now;
    }
    if ((status < 400 || status >= 500) && req.method !== 'GET' && req.method !== 'HEAD') {
      const ts = Date.now();
      after = await settle(s, dg);
      baseline = await dg.snapshot();
      settles++;
      settleMs += Date.now() - ts;
      const tr = Date.now();
      const made = await ensureFixtures(s, fx, baseline);
      if (made) {
        remade += made;
        remadeWhy.push(`${req.method} ${req.route} [${req.klass}]`);
        after = await settle(s, dg);
        baseline = await dg.snapshot();
        remakeMs += Date.now() - tr;
      }
      for (const r of baseline.cluster) ours.add(String(r.uuid));
    }
    current = after;
  }
  const runMs = Date.now() - t0;

  t.diagnostic(`${kind}: seed ${SEED} (replay: FUZZ_SEED=${SEED}), ${REQUESTS} requests over ${all.length} routes (${Math.min(...perRoute.values())} to ${Math.max(...perRoute.values())} each)`);
  t.diagnostic(`${kind}: ${(runMs / 1000).toFixed(1)} s in all (set-up ${(setupMs / 1000).toFixed(1)} s, requests ${(injectMs / 1000).toFixed(1)} s, fingerprints ${(digestMs / 1000).toFixed(1)} s of ${dg.tables.length} tables after each request, ${settles} settles after changes in ${(settleMs / 1000).toFixed(1)} s, ${remade} fixtures made again in ${(remakeMs / 1000).toFixed(1)} s)`);
  if (VERBOSE) t.diagnostic(`${kind}: fixtures made again after: ${remadeWhy.join(' | ') || 'nothing'}`);
  if (VERBOSE) for (const u of unsendable) t.diagnostic(`${kind}: not sendable: ${line(u)}`);
  t.diagnostic(`${kind}: statuses ${[...statusCounts.entries()].sort((a, b) => a[0] - b[0]).map(([k, v]) => `${k}×${v}`).join(' ')}${unsendable.length ? `; ${unsendable.length} requests not sendable` : ''}`);

  // The fake driver makes nothing on the Docker host: no resource of one of our clusters may
  // appear or go. Other people's clusters may come and go on a shared host meanwhile: listed only.
  const dockerAfter = await labelledResources();
  const docker = resourceChanges(dockerBefore, dockerAfter);
  const foreign = (r: { cluster: string }) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(r.cluster) && !ours.has(r.cluster);
  t.diagnostic(`${kind}: Docker host, labelled magnum.cluster: ${JSON.stringify(countByKind(dockerAfter))} (before ${JSON.stringify(countByKind(dockerBefore))})`);
  if ([...docker.added, ...docker.removed].some(foreign)) t.diagnostic(`${kind}: other clusters' resources changed meanwhile: ${JSON.stringify(docker)}`);

  const report: string[] = [];
  if (fiveXX.length) report.push(`${fiveXX.length} answers were 5xx, in ${classes(fiveXX).length} classes:\n  ${classes(fiveXX).join('\n  ')}\nall of them:\n  ${fiveXX.map(line).join('\n  ')}`);
  if (badForm.length) report.push(`${badForm.length} 4xx answers not in Magnum's error format:\n  ${classes(badForm).join('\n  ')}`);
  if (changed.length) report.push(`${changed.length} 4xx answers changed the database:\n  ${changed.map(line).join('\n  ')}`);
  const mine = { added: docker.added.filter((r) => !foreign(r)), removed: docker.removed.filter((r) => !foreign(r)) };
  if (mine.added.length || mine.removed.length) report.push(`the Docker host changed: ${JSON.stringify(mine)}`);
  assert.equal(report.length, 0, `FUZZ_SEED=${SEED} on ${kind}:\n${report.join('\n\n')}`);
}

test('the fuzzer\'s route table matches the application (no route without a generator)', () => {
  const table = specs();
  const routes = routerRoutes();
  assert.deepEqual(routes.filter((r) => !table[r]), []);
  assert.deepEqual(Object.keys(table).filter((k) => !routes.includes(k) && !NOT_ROUTED.includes(k)), []);
  assert.ok(routes.length > 50, `${routes.length} routes found`);
});

for (const kind of databaseKinds()) {
  test(`fuzzed requests on every route: no 5xx, 4xx in Magnum's format and changing nothing (${kind})`, { timeout: 20 * 60_000 }, async (t) => {
    t.diagnostic(`seed ${SEED}${process.env.FUZZ_SEED === 'random' ? ' (random)' : ''}: replay with FUZZ_SEED=${SEED}`);
    const imageDir = mkdtempSync(join(tmpdir(), 'magnum-fuzz-images-'));
    t.after(() => rmSync(imageDir, { recursive: true, force: true }));
    // Just enough of a tar archive for the image loader's format check.
    const tar = Buffer.alloc(1024);
    tar.write('ustar\u000000', 257, 'latin1');
    writeFileSync(join(imageDir, 'ok.tar'), tar);
    writeFileSync(join(imageDir, 'notes.txt'), 'not an image\n');
    await fuzz(t, kind, imageDir);
  });
}
