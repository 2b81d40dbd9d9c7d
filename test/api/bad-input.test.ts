// Bad input on every route of the v1 API (reference §17): malformed JSON, non-object bodies, wrong
// types, unknown and read-only fields, missing mandatory fields, bad JSON-Patch documents, bad
// microversions, oversized bodies, wrong content types, bad pagination, invalid idents, policy
// denials, other projects' resources, unknown methods and routes. Every answer must be a 4xx in
// Magnum's error format (§6), and the database must be exactly as it was before.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { databaseKinds } from '../helpers/databases.ts';
import { as, startStack, waitFor, type TestStack } from '../helpers/stack.ts';

const MAX_BODY = 114688;
const TABLES = ['cluster_template', 'cluster', 'nodegroup', 'quotas', 'operation', 'cluster_event', 'x509keypair', 'federation'];
const BOOL_VALUES = "'0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'";
const COMMON_INTERNAL = ['/created_at', '/id', '/links', '/updated_at', '/uuid', '/project_id', '/user_id'];

type Who = 'admin' | 'p1' | 'p2';
type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE' | 'OPTIONS';
/** std: Magnum's error body; webob: the bare routing/negotiation body; mv406: the microversion body. */
type Form = 'std' | 'webob' | 'mv406' | 'any';

interface Case {
  name: string;
  method: Method;
  url: string;
  who?: Who;
  mv?: string;
  /** Overrides of (or, with undefined, removals from) the caller's headers. */
  headers?: Record<string, string | undefined>;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent verbatim (wins over body). */
  raw?: string;
  status?: number | number[];
  form?: Form;
  detail?: string | RegExp;
  /** The API's version headers are expected (every /v1 answer after routing). */
  versionHeaders?: boolean;
}

interface Fixture {
  tplA: string; // admin, private, used by clA
  tplFree: string; // admin, private, unused
  tplPub: string; // admin, public, unused
  tplP: string; // p1, private, used by clP
  clA: string; // admin cluster "cl-a"
  clP: string; // p1 cluster
  ngX: string; // extra nodegroup "ng-extra" of clA (node_count 1, min 1, max 3)
  clAWorker: string;
  clAMaster: string;
  clPWorker: string;
}

function headersOf(c: Case): Record<string, string> {
  const who = c.who ?? 'admin';
  const h: Record<string, string> = as(who, { roles: who === 'admin' ? ['admin'] : ['member'], mv: c.mv ?? 'latest' });
  for (const [k, v] of Object.entries(c.headers ?? {})) {
    if (v === undefined) delete h[k];
    else h[k] = v;
  }
  return h;
}

const notFound = (what: string, ident: string) => `${what} ${ident} could not be found.`;
const unknownAttr = (arg: string, attr: string) => `Unknown attribute for argument ${arg}: ${attr}`;
const invalidInput = (field: string) => new RegExp(`^Invalid input for field/attribute ${field}\\. Value: '`);
const readOnly = (field: string, v: string) => `Invalid input for field/attribute ${field}. Value: '${v}'. Cannot set read only field.`;
const mandatory = (field: string) => `Invalid input for field/attribute ${field}. Value: 'None'. Mandatory field missing.`;
const internalAttr = (path: string) => `'${path}' is an internal attribute and can not be updated`;
const nonRemovable = (path: string) => `'${path}' is a mandatory attribute and can not be removed`;
const policy = (rule: string) => `Policy doesn't allow ${rule} to be performed.`;
const unknownArg = (name: string) => `Unknown argument: "${name}"`;
const COULDNT_PATCH = /^Couldn't apply patch '/;

// ---- field tables (reference §7.2, §8.2, §8.8, §9.2, §10, §11, §14, §15) ------------------------

type Kind = 's255' | 'str' | 'text' | 'str1' | 'tags' | 'name242' | 'int' | 'bool' | 'enum' | 'uuid' | 'labels' | 'strdict' | 'strlist';
interface FieldDef {
  name: string;
  kind: Kind;
  min?: number;
  max?: number;
}
const f = (name: string, kind: Kind, min?: number, max?: number): FieldDef => ({ name, kind, min, max });

const WRONG: Record<Kind, unknown[]> = {
  s255: [123, true, {}, [], '', 'x'.repeat(256)],
  str: [123, true, {}, [], 'x'.repeat(256)],
  text: [123, true, {}, []],
  str1: [123, true, {}, [], ''],
  tags: [123, true, {}, [], 'x'.repeat(256)],
  name242: [123, true, {}, [], '', '1abc', 'bad name', '-abc', 'x'.repeat(243)],
  int: ['abc', 1.5, '1.5', '', {}, [], '1e3'],
  bool: ['maybe', 2, -1, 1.5, '', {}, []],
  enum: ['bogus', 1, true, '', {}, []],
  uuid: ['not-a-uuid', 123, '1234', '', {}],
  labels: ['str', 1, true, [], ['a'], { a: {} }, { a: [1] }],
  strdict: ['str', 1, [], { a: 1 }, { a: {} }],
  strlist: ['str', 1, {}, [1], [{}]],
};

function wrongValues(fd: FieldDef): unknown[] {
  const out = [...WRONG[fd.kind]];
  if (fd.min !== undefined) out.push(fd.min - 1);
  if (fd.max !== undefined) out.push(fd.max + 1);
  return out;
}

/** What a wrong value of this kind must say (booleans and uuids have their own texts). */
function wrongDetail(fd: FieldDef, v: unknown): string | RegExp {
  if (fd.kind === 'bool') {
    const text = typeof v === 'string' ? v : JSON.stringify(v);
    return typeof v === 'string' || typeof v === 'number' ? `Unrecognized value '${text}', acceptable values are: ${BOOL_VALUES}` : /^Unrecognized value '/;
  }
  if (fd.kind === 'uuid') return /Expected a uuid but received/;
  return invalidInput(fd.name);
}

const TEMPLATE_FIELDS: FieldDef[] = [
  f('uuid', 'uuid'), f('name', 's255'), f('coe', 'enum'), f('image_id', 's255'), f('flavor_id', 's255'), f('master_flavor_id', 's255'),
  f('keypair_id', 's255'), f('dns_nameserver', 'str'), f('external_network_id', 's255'), f('fixed_network', 's255'), f('fixed_subnet', 's255'),
  f('network_driver', 's255'), f('volume_driver', 's255'), f('apiserver_port', 'int', 1024, 65535), f('docker_volume_size', 'int', 1),
  f('docker_storage_driver', 's255'), f('cluster_distro', 's255'), f('http_proxy', 's255'), f('https_proxy', 's255'), f('no_proxy', 's255'),
  f('insecure_registry', 's255'), f('registry_enabled', 'bool'), f('labels', 'labels'), f('tls_disabled', 'bool'), f('public', 'bool'),
  f('hidden', 'bool'), f('server_type', 'enum'), f('master_lb_enabled', 'bool'), f('floating_ip_enabled', 'bool'), f('tags', 'tags'),
];
const CLUSTER_FIELDS: FieldDef[] = [
  f('uuid', 'uuid'), f('name', 'name242'), f('cluster_template_id', 's255'), f('keypair', 's255'), f('node_count', 'int', 0), f('master_count', 'int', 1),
  f('docker_volume_size', 'int', 1), f('labels', 'labels'), f('merge_labels', 'bool'), f('master_flavor_id', 's255'), f('flavor_id', 's255'),
  f('create_timeout', 'int', 0), f('discovery_url', 'str'), f('fixed_network', 's255'), f('fixed_subnet', 's255'), f('floating_ip_enabled', 'bool'),
  f('master_lb_enabled', 'bool'),
];
const BAY_FIELDS: FieldDef[] = [
  f('uuid', 'uuid'), f('name', 'name242'), f('baymodel_id', 's255'), f('node_count', 'int', 1), f('master_count', 'int', 1), f('docker_volume_size', 'int', 1),
  f('labels', 'labels'), f('master_flavor_id', 's255'), f('flavor_id', 's255'), f('bay_create_timeout', 'int', 0), f('discovery_url', 'str'),
  f('fixed_network', 's255'), f('fixed_subnet', 's255'), f('floating_ip_enabled', 'bool'), f('master_lb_enabled', 'bool'),
];
const NODEGROUP_FIELDS: FieldDef[] = [
  f('id', 'int', 1), f('uuid', 'uuid'), f('name', 's255'), f('docker_volume_size', 'int', 1), f('labels', 'labels'), f('merge_labels', 'bool'),
  f('flavor_id', 's255'), f('image_id', 's255'), f('node_count', 'int', 0), f('role', 's255'), f('min_node_count', 'int', 0), f('max_node_count', 'int', 0),
  f('is_default', 'bool'),
];
const QUOTA_FIELDS: FieldDef[] = [f('id', 'int'), f('project_id', 's255'), f('resource', 'enum'), f('hard_limit', 'int', 0)];
const CERT_FIELDS: FieldDef[] = [f('cluster_uuid', 's255'), f('bay_uuid', 's255'), f('csr', 'str1'), f('ca_cert_type', 's255')];
const FED_FIELDS: FieldDef[] = [f('uuid', 'uuid'), f('name', 'name242'), f('hostcluster_id', 'text'), f('member_ids', 'strlist'), f('properties', 'strdict')];
const RESIZE_FIELDS: FieldDef[] = [f('node_count', 'int', 0), f('nodes_to_remove', 'strlist'), f('nodegroup', 's255')];
const UPGRADE_FIELDS: FieldDef[] = [f('cluster_template', 's255'), f('max_batch_size', 'int', 1), f('nodegroup', 's255')];

// ---- generators -----------------------------------------------------------------------------------

const MALFORMED = ['{', '{"a":', 'not json', "{'a': 'b'}", '{"a": 1,}', '[1, 2', '{"a": NaN}', '{"a": undefined}', '{"a":1}}', '{"a": 01}', '"unterminated', '{} garbage', '\u0000', ' ', ''];
const NOT_OBJECTS = ['[]', '[{}]', '[1, 2]', '"str"', '42', '1.5', 'null', 'true', 'false'];
const NOT_PATCHES = ['{}', '"str"', '42', '1.5', 'null', 'true', '{"op": "replace", "path": "/name", "value": "x"}'];
const BAD_CONTENT_TYPES = ['text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'text/xml', 'multipart/form-data; boundary=x', 'application/octet-stream', 'application/json-patch+json'];

interface BodyRoute {
  label: string;
  method: 'POST' | 'PATCH';
  url: string;
  who?: Who;
  mv?: string;
  /** A body this route accepts (the control subtest proves it, where the backend allows). */
  base: unknown;
}

/** Bodies that are not JSON, bodies of the wrong JSON shape, wrong content types, oversized bodies. */
function transportCases(r: BodyRoute, shape: 'object' | 'patch'): Case[] {
  const out: Case[] = [];
  const at = { method: r.method, url: r.url, who: r.who, mv: r.mv };
  for (const raw of MALFORMED) out.push({ ...at, name: `${r.label} malformed JSON ${JSON.stringify(raw)}`, raw, status: 400 });
  for (const raw of shape === 'object' ? NOT_OBJECTS : NOT_PATCHES) out.push({ ...at, name: `${r.label} JSON that is not ${shape === 'object' ? 'an object' : 'a patch'}: ${raw}`, raw, status: 400 });
  const base = JSON.stringify(r.base);
  for (const type of BAD_CONTENT_TYPES) {
    out.push({ ...at, name: `${r.label} content type ${type}`, raw: base, headers: { 'content-type': type }, status: 415, detail: `The media type ${type.split(';')[0]} is not supported, use application/json.` });
  }
  out.push({ ...at, name: `${r.label} no content type`, raw: base, headers: { 'content-type': undefined }, status: 415 });
  const big = shape === 'object' ? JSON.stringify({ pad: 'x'.repeat(MAX_BODY) }) : JSON.stringify([{ op: 'replace', path: '/name', value: 'x'.repeat(MAX_BODY) }]);
  out.push({ ...at, name: `${r.label} oversized body (${big.length} bytes)`, raw: big, status: 413, detail: `Request is too large. The request body exceeds the limit of ${MAX_BODY} bytes.` });
  out.push({ ...at, name: `${r.label} body of ${MAX_BODY + 1} bytes`, raw: pad(shape, MAX_BODY + 1), status: 413 });
  out.push({ ...at, name: `${r.label} body of exactly ${MAX_BODY} bytes is read (and refused for its content)`, raw: pad(shape, MAX_BODY), status: 400 });
  out.push({ ...at, name: `${r.label} unknown query parameter`, url: `${r.url}?bogus=1`, body: r.base, status: 400, detail: unknownArg('bogus') });
  return out;
}

/** A JSON document of exactly n bytes that the route must refuse for its content. */
function pad(shape: 'object' | 'patch', n: number): string {
  const make = (k: number) => (shape === 'object' ? JSON.stringify({ zz_pad: 'x'.repeat(k) }) : JSON.stringify([{ op: 'bogus', path: '/name', value: 'x'.repeat(k) }]));
  const s = make(0);
  return make(n - s.length);
}

/** Unknown, read-only, mandatory and wrongly typed attributes in a create-style body. */
function objectCases(r: BodyRoute, arg: string, fields: FieldDef[], opts: { readonly?: string[]; mandatory?: string[]; messages?: boolean } = {}): Case[] {
  const out: Case[] = [];
  const base = r.base as Record<string, unknown>;
  const at = { method: r.method, url: r.url, who: r.who, mv: r.mv };
  out.push({ ...at, name: `${r.label} unknown attribute`, body: { ...base, bogus: 1 }, status: 400, detail: unknownAttr(arg, 'bogus') });
  out.push({ ...at, name: `${r.label} unknown attributes`, body: { ...base, zz_bogus: 1, aa_bogus: 2 }, status: 400, detail: new RegExp(`^Unknown attributes for argument ${arg}: (aa_bogus, zz_bogus|zz_bogus, aa_bogus)$`) });
  out.push({ ...at, name: `${r.label} unknown nested-looking attribute`, body: { ...base, 'labels.a': 'b' }, status: 400 });
  for (const ro of opts.readonly ?? []) {
    out.push({ ...at, name: `${r.label} read-only ${ro}`, body: { ...base, [ro]: 'x' }, status: 400, detail: opts.messages === false ? undefined : readOnly(ro, 'x') });
  }
  for (const m of opts.mandatory ?? []) {
    const { [m]: _omit, ...rest } = base;
    out.push({ ...at, name: `${r.label} mandatory ${m} missing`, body: rest, status: 400, detail: mandatory(m) });
    out.push({ ...at, name: `${r.label} mandatory ${m} null`, body: { ...rest, [m]: null }, status: 400 });
  }
  out.push({ ...at, name: `${r.label} empty object`, body: {}, status: 400 });
  for (const fd of fields) {
    for (const v of wrongValues(fd)) {
      out.push({ ...at, name: `${r.label} ${fd.name}=${short(v)}`, body: { ...base, [fd.name]: v }, status: 400, detail: wrongDetail(fd, v) });
    }
  }
  return out;
}

/** Documents that are not valid JSON-Patch, or that Magnum's pre-processing refuses. */
function patchCases(r: BodyRoute, o: { internal: string[]; nonRemovable: string[]; existing: string; replaceable: string }): Case[] {
  const out: Case[] = [];
  const at = { method: r.method, url: r.url, who: r.who, mv: r.mv };
  const p = o.replaceable;
  const add = (name: string, body: unknown, status: number, detail?: string | RegExp) => out.push({ ...at, name: `${r.label} ${name}`, body, status, detail });
  for (const el of ['x', 1, null, [], {}]) add(`patch element ${JSON.stringify(el)}`, [el], 400);
  for (const op of ['move', 'copy', 'test', 'REPLACE', '', 1, true]) add(`op ${JSON.stringify(op)}`, [{ op, path: p, value: 1 }], 400, invalidInput('op'));
  add('op missing', [{ path: p, value: 1 }], 400);
  add('op null', [{ op: null, path: p, value: 1 }], 400);
  for (const path of [p.slice(1), '', '/', '/a b', '/a.b', '/a~1b', '//x', `${p}/`, '/ä', 123, {}]) add(`path ${JSON.stringify(path)}`, [{ op: 'replace', path, value: 1 }], 400);
  add('path missing', [{ op: 'replace', value: 1 }], 400);
  for (const op of ['add', 'replace']) {
    add(`${op} without value`, [{ op, path: p }], 400, "'add' and 'replace' operations needs value");
    add(`${op} with null value`, [{ op, path: p, value: null }], 400, "'add' and 'replace' operations needs value");
    for (const value of [{ a: 'b' }, ['a'], 1.5, {}]) add(`${op} with value ${JSON.stringify(value)}`, [{ op, path: p, value }], 400);
  }
  add('unknown key in an operation', [{ op: 'replace', path: p, value: 1, from: '/x' }], 400, unknownAttr('patch', 'from'));
  for (const path of o.internal) {
    add(`replace internal ${path}`, [{ op: 'replace', path, value: 'x' }], 400, internalAttr(path));
    add(`add internal ${path}`, [{ op: 'add', path, value: 'x' }], 400, internalAttr(path));
    add(`remove internal ${path}`, [{ op: 'remove', path }], 400, internalAttr(path));
  }
  for (const path of o.nonRemovable) add(`remove mandatory ${path}`, [{ op: 'remove', path }], 400, nonRemovable(path));
  add(`add on existing ${o.existing}`, [{ op: 'add', path: o.existing, value: 'x' }], 400, `The attribute ${o.existing} has existed, please use 'replace' operation instead.`);
  add('add a new root attribute', [{ op: 'add', path: '/bogus', value: 'x' }], 400, 'Adding a new attribute /bogus to the root of the resource is not allowed.');
  add('replace a missing attribute', [{ op: 'replace', path: '/bogus', value: 'x' }], 400);
  add('remove a missing attribute', [{ op: 'remove', path: '/bogus' }], 400);
  add('replace below a missing attribute', [{ op: 'replace', path: '/bogus/x', value: 'x' }], 400);
  add('a good operation followed by a bad one', [{ op: 'replace', path: p, value: 2 }, { op: 'bogus', path: p, value: 1 }], 400);
  add('a good operation followed by an internal one', [{ op: 'replace', path: p, value: 2 }, { op: 'replace', path: '/uuid', value: randomUUID() }], 400, internalAttr('/uuid'));
  return out;
}

const LITERALS_UNPARSEABLE = ["{'a': ", '{a: b}', 'not a literal', "{'a': 'b'} extra", "__import__('os')", "{'a': 'b',,}", "{'a' 'b'}", "{'a': 'b'", '{"a": True'];
const LITERALS_WRONG_SHAPE = ['[1, 2]', "'abc'", '123', "{'a': {'b': 'c'}}", "{'a': [1]}"];

function labelLiteralCases(r: BodyRoute, path = '/labels'): Case[] {
  const at = { method: r.method, url: r.url, who: r.who, mv: r.mv };
  return [
    ...LITERALS_UNPARSEABLE.map((value): Case => ({ ...at, name: `${r.label} ${path} literal ${JSON.stringify(value)}`, body: [{ op: 'replace', path, value }], status: 400, detail: COULDNT_PATCH })),
    ...LITERALS_WRONG_SHAPE.map((value): Case => ({ ...at, name: `${r.label} ${path} literal of the wrong shape ${JSON.stringify(value)}`, body: [{ op: 'replace', path, value }], status: 400 })),
    { ...at, name: `${r.label} ${path} replaced by an object`, body: [{ op: 'replace', path, value: { a: 'b' } }], status: 400 },
    { ...at, name: `${r.label} remove a missing label`, body: [{ op: 'remove', path: `${path}/no_such_label` }], status: 400, detail: COULDNT_PATCH },
    { ...at, name: `${r.label} replace a missing label`, body: [{ op: 'replace', path: `${path}/no_such_label`, value: 'x' }], status: 400, detail: COULDNT_PATCH },
  ];
}

/** Replace each field of a resource by values its type refuses. */
function patchFieldCases(r: BodyRoute, fields: FieldDef[]): Case[] {
  const out: Case[] = [];
  const at = { method: r.method, url: r.url, who: r.who, mv: r.mv };
  for (const fd of fields) {
    if (fd.kind === 'uuid' || fd.kind === 'labels') continue;
    const values = wrongValues(fd).filter((v) => typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v)) || typeof v === 'boolean');
    for (const value of values) {
      if (fd.kind === 'bool' && value === '') continue;
      out.push({ ...at, name: `${r.label} replace /${fd.name} by ${short(value)}`, body: [{ op: 'replace', path: `/${fd.name}`, value }], status: 400 });
    }
  }
  return out;
}

function short(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 20)}…(${s.length})` : s;
}

/** Bad pagination, sorting and query parameters on a list route. */
function listCases(label: string, url: string, notFoundWhat: string, opts: { intMarker?: boolean; sortable?: string[]; notSortable?: string[] } = {}): Case[] {
  const out: Case[] = [];
  const sep = url.includes('?') ? '&' : '?';
  const get = (q: string, status: number, detail?: string | RegExp, who?: Who): Case => ({ name: `${label}?${q}`, method: 'GET', url: `${url}${sep}${q}`, status, detail, who });
  for (const limit of ['0', '-1', '-1000']) out.push(get(`limit=${limit}`, 400, 'Limit must be positive'));
  for (const limit of ['abc', '1.5', '', '1e3', '0x10', ' ']) out.push(get(`limit=${encodeURIComponent(limit)}`, 400));
  for (const key of ['bogus', 'ID', '', 'id;drop table cluster', 'uuid desc', ...(opts.notSortable ?? [])]) {
    out.push(get(`sort_key=${encodeURIComponent(key)}`, 400, `The sort_key value "${key}" is an invalid field for sorting`));
  }
  for (const dir of ['up', 'ASC', 'descending', '', 'asc;']) {
    out.push(get(`sort_dir=${encodeURIComponent(dir)}`, 400, `Invalid sort direction: ${dir}. Acceptable values are 'asc' or 'desc'`));
  }
  if (opts.intMarker) {
    for (const m of ['abc', '1.5', '']) out.push(get(`marker=${encodeURIComponent(m)}`, 400));
    out.push(get('marker=999999', 404));
  } else {
    for (const m of ['not-a-uuid', '123', 'x'.repeat(40), '']) out.push(get(`marker=${encodeURIComponent(m)}`, 400, invalidInput('marker')));
    const u = randomUUID();
    out.push(get(`marker=${u}`, 404, notFound(notFoundWhat, u)));
  }
  out.push(get('bogus=1', 400, unknownArg('bogus')));
  out.push(get('limit=1&bogus=1', 400, unknownArg('bogus')));
  out.push(get('limit=1&limit=2', 400));
  out.push(get('sort_key=id&sort_key=uuid', 400));
  out.push(get('limit=5&sort_dir=sideways', 400));
  return out;
}

// ---- the table ------------------------------------------------------------------------------------

function buildCases(x: Fixture): Map<string, Case[]> {
  const groups = new Map<string, Case[]>();
  const group = (name: string, cases: Case[]) => groups.set(name, [...(groups.get(name) ?? []), ...cases]);
  const u = randomUUID();

  // Bodies each route accepts (the control subtest creates or changes things with them).
  const tplBody = { name: 'should-not-exist', coe: 'swarm-mode', image_id: 'fake-image', keypair_id: 'kp' };
  const clusterBody = { name: 'should-not-exist', cluster_template_id: x.tplFree };
  const bayBody = { name: 'should-not-exist', baymodel_id: x.tplFree };
  const ngBody = { name: 'ng-should-not-exist' };
  const quotaBody = { project_id: 'p9', resource: 'Cluster', hard_limit: 3 };
  const certBody = { cluster_uuid: x.clA, csr: '-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n' };
  const fedBody = { name: 'fed', hostcluster_id: x.clA, properties: { 'dns-zone': 'example.com.' } };
  const resizeBody = { node_count: 2, nodegroup: x.ngX };
  const upgradeBody = { cluster_template: x.tplFree };

  const R = {
    tplPost: { label: 'POST /v1/clustertemplates', method: 'POST', url: '/v1/clustertemplates', base: tplBody },
    tplPatch: { label: 'PATCH /v1/clustertemplates/{id}', method: 'PATCH', url: `/v1/clustertemplates/${x.tplFree}`, base: [{ op: 'replace', path: '/name', value: 'renamed' }] },
    bmPost: { label: 'POST /v1/baymodels', method: 'POST', url: '/v1/baymodels', base: tplBody },
    bmPatch: { label: 'PATCH /v1/baymodels/{id}', method: 'PATCH', url: `/v1/baymodels/${x.tplFree}`, base: [{ op: 'replace', path: '/name', value: 'renamed' }] },
    clPost: { label: 'POST /v1/clusters', method: 'POST', url: '/v1/clusters', base: clusterBody },
    clPatch: { label: 'PATCH /v1/clusters/{id}', method: 'PATCH', url: `/v1/clusters/${x.clA}`, base: [{ op: 'replace', path: '/node_count', value: 2 }] },
    resize: { label: 'POST /v1/clusters/{id}/actions/resize', method: 'POST', url: `/v1/clusters/${x.clA}/actions/resize`, base: resizeBody },
    upgrade: { label: 'POST /v1/clusters/{id}/actions/upgrade', method: 'POST', url: `/v1/clusters/${x.clA}/actions/upgrade`, base: upgradeBody },
    ngPost: { label: 'POST /v1/clusters/{id}/nodegroups', method: 'POST', url: `/v1/clusters/${x.clA}/nodegroups`, base: ngBody },
    ngPatch: { label: 'PATCH /v1/clusters/{id}/nodegroups/{ng}', method: 'PATCH', url: `/v1/clusters/${x.clA}/nodegroups/${x.ngX}`, base: [{ op: 'replace', path: '/max_node_count', value: 4 }] },
    certPost: { label: 'POST /v1/certificates', method: 'POST', url: '/v1/certificates', base: certBody },
    quotaPost: { label: 'POST /v1/quotas', method: 'POST', url: '/v1/quotas', base: quotaBody },
    quotaPatch: { label: 'PATCH /v1/quotas/{p}/{r}', method: 'PATCH', url: '/v1/quotas/p1/Cluster', base: { hard_limit: 5 } },
    fedPost: { label: 'POST /v1/federations', method: 'POST', url: '/v1/federations', base: fedBody },
    fedPatch: { label: 'PATCH /v1/federations/{id}', method: 'PATCH', url: `/v1/federations/${u}`, base: [{ op: 'add', path: '/member_ids', value: x.clA }] },
    bayPost: { label: 'POST /v1/bays', method: 'POST', url: '/v1/bays', base: bayBody },
    bayPatch: { label: 'PATCH /v1/bays/{id}', method: 'PATCH', url: `/v1/bays/${x.clA}`, base: [{ op: 'replace', path: '/node_count', value: 2 }] },
  } satisfies Record<string, BodyRoute>;

  // Transport-level problems on every route that reads a body.
  for (const r of [R.tplPost, R.bmPost, R.clPost, R.resize, R.upgrade, R.ngPost, R.certPost, R.quotaPost, R.quotaPatch, R.fedPost, R.bayPost]) group(`${r.label}: transport`, transportCases(r, 'object'));
  for (const r of [R.tplPatch, R.bmPatch, R.clPatch, R.ngPatch, R.bayPatch, R.fedPatch]) group(`${r.label}: transport`, transportCases(r, 'patch'));

  // ---- cluster templates and baymodels
  const tplRO = ['project_id', 'user_id', 'links', 'created_at', 'updated_at'];
  group('POST /v1/clustertemplates', [
    ...objectCases(R.tplPost, 'cluster_template', TEMPLATE_FIELDS, { readonly: tplRO, mandatory: ['coe', 'image_id'] }),
    ...['not-an-ip', '8.8.8.8,bogus', '999.1.1.1', '8.8.8', '8.8.8.8;8.8.4.4'].map((dns): Case => ({ name: `POST /v1/clustertemplates dns_nameserver ${dns}`, method: 'POST', url: '/v1/clustertemplates', body: { ...tplBody, dns_nameserver: dns }, status: 400, detail: `Expected a single dns address or comma separated dns list, but received ${dns}.` })),
    ...['mesos', 'dcos'].map((coe): Case => ({ name: `POST /v1/clustertemplates coe ${coe}`, method: 'POST', url: '/v1/clustertemplates', body: { ...tplBody, coe }, status: 400, detail: `Requested COE type ${coe} is not supported.` })),
    { name: 'POST /v1/clustertemplates unsupported driver tuple', method: 'POST', url: '/v1/clustertemplates', body: { ...tplBody, server_type: 'bm' }, status: 400, detail: 'Cluster type (bm, fake-os, swarm-mode) not supported.' },
    { name: 'POST /v1/clustertemplates network driver', method: 'POST', url: '/v1/clustertemplates', body: { ...tplBody, network_driver: 'calico' }, status: 400, detail: /^Network driver type calico is not supported/ },
    { name: 'POST /v1/clustertemplates volume driver', method: 'POST', url: '/v1/clustertemplates', body: { ...tplBody, volume_driver: 'cinder' }, status: 400, detail: /^Volume driver type cinder is not supported/ },
    { name: 'POST /v1/clustertemplates devicemapper volume size', method: 'POST', url: '/v1/clustertemplates', body: { ...tplBody, docker_storage_driver: 'devicemapper', docker_volume_size: 2 }, status: 400, detail: 'docker volume size 2 GB is not valid, expecting minimum value 3GB for devicemapper storage driver.' },
    { name: 'POST /v1/clustertemplates unknown image', method: 'POST', url: '/v1/clustertemplates', body: { ...tplBody, image_id: 'no-such-image' }, status: 400 },
    { name: 'POST /v1/clustertemplates unknown image with a distro', method: 'POST', url: '/v1/clustertemplates', body: { ...tplBody, image_id: 'no-such-image', cluster_distro: 'fake-os' }, status: 400, detail: 'Image no-such-image could not be found.' },
    { name: 'POST /v1/clustertemplates swarm strategy', method: 'POST', url: '/v1/clustertemplates', body: { ...tplBody, labels: { swarm_strategy: 'bogus' } }, status: 400 },
    { name: 'POST /v1/clustertemplates existing uuid', method: 'POST', url: '/v1/clustertemplates', body: { ...tplBody, uuid: x.tplFree }, status: 409 },
    { name: 'POST /v1/clustertemplates public by a member', method: 'POST', url: '/v1/clustertemplates', who: 'p1', body: { ...tplBody, public: true }, status: 403, detail: 'Not authorized to set public or hidden flag for cluster template.' },
    { name: 'POST /v1/clustertemplates hidden by a member', method: 'POST', url: '/v1/clustertemplates', who: 'p1', body: { ...tplBody, hidden: true }, status: 403, detail: 'Not authorized to set public or hidden flag for cluster template.' },
  ]);
  group('POST /v1/baymodels', [
    ...objectCases(R.bmPost, 'baymodel', TEMPLATE_FIELDS.filter((d) => d.name !== 'hidden' && d.name !== 'tags'), { readonly: ['links', 'created_at', 'updated_at'], mandatory: ['coe', 'image_id', 'keypair_id'] }),
    { name: 'POST /v1/baymodels project_id', method: 'POST', url: '/v1/baymodels', body: { ...tplBody, project_id: 'x' }, status: 400 },
    { name: 'POST /v1/baymodels unknown image', method: 'POST', url: '/v1/baymodels', body: { ...tplBody, image_id: 'no-such-image' }, status: 400, detail: 'Image no-such-image could not be found.' },
    { name: 'POST /v1/baymodels dns list', method: 'POST', url: '/v1/baymodels', body: { ...tplBody, dns_nameserver: '8.8.8.8,8.8.4.4' }, status: 400 },
    ...[1, true, 1.5].map((v): Case => ({ name: `POST /v1/baymodels label value ${v}`, method: 'POST', url: '/v1/baymodels', body: { ...tplBody, labels: { a: v } }, status: 400 })),
    { name: 'POST /v1/baymodels public by a member', method: 'POST', url: '/v1/baymodels', who: 'p1', body: { ...tplBody, public: true }, status: 403, detail: 'Not authorized to set public or hidden flag for cluster template.' },
  ]);
  const tplNonRemovable = ['/coe', '/image_id', '/network_driver', '/external_network_id', '/tls_disabled', '/public', '/server_type', '/registry_enabled', '/cluster_distro'];
  group('PATCH /v1/clustertemplates/{id}', [
    ...patchCases(R.tplPatch, { internal: COMMON_INTERNAL, nonRemovable: [...tplNonRemovable, '/hidden'], existing: '/name', replaceable: '/name' }),
    ...labelLiteralCases(R.tplPatch),
    ...patchFieldCases(R.tplPatch, TEMPLATE_FIELDS),
    { name: 'PATCH template: unknown image', method: 'PATCH', url: `/v1/clustertemplates/${x.tplFree}`, body: [{ op: 'replace', path: '/image_id', value: 'no-such-image' }], status: 400 },
    { name: 'PATCH template: bad dns', method: 'PATCH', url: `/v1/clustertemplates/${x.tplFree}`, body: [{ op: 'replace', path: '/dns_nameserver', value: 'not-an-ip' }], status: 400, detail: 'Expected a single dns address or comma separated dns list, but received not-an-ip.' },
    { name: 'PATCH template: network driver', method: 'PATCH', url: `/v1/clustertemplates/${x.tplFree}`, body: [{ op: 'replace', path: '/network_driver', value: 'bogus' }], status: 400 },
    { name: 'PATCH template: volume driver', method: 'PATCH', url: `/v1/clustertemplates/${x.tplFree}`, body: [{ op: 'replace', path: '/volume_driver', value: 'bogus' }], status: 400 },
    { name: 'PATCH template: coe mesos', method: 'PATCH', url: `/v1/clustertemplates/${x.tplFree}`, body: [{ op: 'replace', path: '/coe', value: 'mesos' }], status: 400, detail: 'Requested COE type mesos is not supported.' },
    { name: 'PATCH template: swarm strategy', method: 'PATCH', url: `/v1/clustertemplates/${x.tplFree}`, body: [{ op: 'replace', path: '/labels', value: "{'swarm_strategy': 'bogus'}" }], status: 400 },
    ...[[{ op: 'replace', path: '/coe', value: 'swarm' }], [{ op: 'replace', path: '/flavor_id', value: 'm1.small' }], [{ op: 'replace', path: '/name', value: 'n' }, { op: 'replace', path: '/keypair_id', value: 'k2' }], [{ op: 'replace', path: '/name', value: 'n' }, { op: 'replace', path: '/tags', value: 't' }]].map((body, i): Case => ({
      name: `PATCH a referenced template (${i})`, method: 'PATCH', url: `/v1/clustertemplates/${x.tplA}`, body, status: 400, detail: `ClusterTemplate ${x.tplA} is referenced by one or multiple clusters.`,
    })),
    { name: 'PATCH template: member publishes', method: 'PATCH', url: `/v1/clustertemplates/${x.tplP}`, who: 'p1', body: [{ op: 'replace', path: '/public', value: true }], status: 403, detail: 'Not authorized to set public or hidden flag for cluster template.' },
    { name: 'PATCH template: member hides', method: 'PATCH', url: `/v1/clustertemplates/${x.tplP}`, who: 'p1', body: [{ op: 'replace', path: '/hidden', value: 'true' }], status: 403, detail: 'Not authorized to set public or hidden flag for cluster template.' },
    { name: 'PATCH template: member on a public template of another project', method: 'PATCH', url: `/v1/clustertemplates/${x.tplPub}`, who: 'p1', body: [{ op: 'replace', path: '/name', value: 'mine' }], status: 403, detail: policy('clustertemplate:update') },
  ]);
  group('PATCH /v1/baymodels/{id}', [
    ...patchCases(R.bmPatch, { internal: COMMON_INTERNAL, nonRemovable: [...tplNonRemovable, '/keypair_id'], existing: '/name', replaceable: '/name' }),
    ...labelLiteralCases(R.bmPatch),
    ...patchFieldCases(R.bmPatch, TEMPLATE_FIELDS.filter((d) => d.name !== 'hidden' && d.name !== 'tags')),
    { name: 'PATCH baymodel: label values must be strings', method: 'PATCH', url: `/v1/baymodels/${x.tplFree}`, body: [{ op: 'replace', path: '/labels', value: "{'a': 1}" }], status: 400 },
    { name: 'PATCH baymodel: referenced', method: 'PATCH', url: `/v1/baymodels/${x.tplA}`, body: [{ op: 'replace', path: '/coe', value: 'swarm' }], status: 400, detail: `ClusterTemplate ${x.tplA} is referenced by one or multiple clusters.` },
  ]);

  // ---- clusters and their actions
  const clusterRO = ['stack_id', 'api_address', 'coe_version', 'container_version', 'project_id', 'user_id', 'node_addresses', 'master_addresses', 'links', 'created_at', 'updated_at'];
  const resourceLimit = 'Resource limit exceeded: You have reached the maximum clusters per project, 1. You may delete a cluster to make room for a new one.';
  group('POST /v1/clusters', [
    ...objectCases(R.clPost, 'cluster', CLUSTER_FIELDS, { readonly: clusterRO, mandatory: ['cluster_template_id'] }),
    { name: 'POST /v1/clusters baymodel_id is not a cluster field', method: 'POST', url: '/v1/clusters', body: { ...clusterBody, baymodel_id: x.tplFree }, status: 400, detail: unknownAttr('cluster', 'baymodel_id') },
    { name: 'POST /v1/clusters unknown template (1.10)', method: 'POST', url: '/v1/clusters', body: { ...clusterBody, cluster_template_id: 'does-not-exist' }, status: 404, detail: notFound('ClusterTemplate', 'does-not-exist') },
    { name: 'POST /v1/clusters unknown template (1.9)', method: 'POST', url: '/v1/clusters', mv: '1.9', body: { ...clusterBody, cluster_template_id: 'does-not-exist' }, status: 400, detail: notFound('ClusterTemplate', 'does-not-exist') },
    { name: 'POST /v1/clusters unknown template id', method: 'POST', url: '/v1/clusters', body: { ...clusterBody, cluster_template_id: '999999' }, status: 404 },
    { name: 'POST /v1/clusters unknown template uuid', method: 'POST', url: '/v1/clusters', body: { ...clusterBody, cluster_template_id: u }, status: 404, detail: notFound('ClusterTemplate', u) },
    { name: 'POST /v1/clusters other project template', method: 'POST', url: '/v1/clusters', who: 'p2', body: { ...clusterBody, cluster_template_id: x.tplP }, status: 404, detail: notFound('ClusterTemplate', x.tplP) },
    { name: 'POST /v1/clusters node_count 0 below 1.10', method: 'POST', url: '/v1/clusters', mv: '1.9', body: { ...clusterBody, node_count: 0 }, status: 400, detail: 'Resizing a nodegroup to zero is not supported in the provided microversion.' },
    { name: 'POST /v1/clusters master_count 2 without LB', method: 'POST', url: '/v1/clusters', body: { ...clusterBody, master_count: 2 }, status: 400, detail: 'master_count must be 1 when master_lb_enabled is False' },
    { name: 'POST /v1/clusters over quota', method: 'POST', url: '/v1/clusters', who: 'p1', body: { ...clusterBody, cluster_template_id: x.tplP }, status: 403, detail: resourceLimit },
  ]);
  const clusterInternal = [...COMMON_INTERNAL, '/api_address', '/node_addresses', '/master_addresses', '/stack_id', '/ca_cert_ref', '/magnum_cert_ref', '/trust_id', '/trustee_user_name', '/trustee_password', '/trustee_user_id', '/etcd_ca_cert_ref', '/front_proxy_ca_cert_ref'];
  const clPatch = (name: string, body: unknown, status: number, detail?: string | RegExp, extra: Partial<Case> = {}): Case => ({ name: `PATCH cluster: ${name}`, method: 'PATCH', url: `/v1/clusters/${x.clA}`, body, status, detail, ...extra });
  group('PATCH /v1/clusters/{id}', [
    ...patchCases(R.clPatch, { internal: clusterInternal, nonRemovable: ['/cluster_template_id'], existing: '/name', replaceable: '/node_count' }),
    ...labelLiteralCases(R.clPatch),
    ...labelLiteralCases(R.clPatch, '/health_status_reason'),
    clPatch('name', [{ op: 'replace', path: '/name', value: 'renamed' }], 400, 'cannot change cluster property(ies) name.'),
    clPatch('status', [{ op: 'replace', path: '/status', value: 'CREATE_FAILED' }], 400, 'cannot change cluster property(ies) status.'),
    clPatch('template', [{ op: 'replace', path: '/cluster_template_id', value: x.tplFree }], 400, 'cannot change cluster property(ies) cluster_template_id.'),
    clPatch('add a label', [{ op: 'add', path: '/labels/new', value: 'v' }], 400, 'cannot change cluster property(ies) labels.'),
    clPatch('two properties', [{ op: 'replace', path: '/keypair', value: 'k' }, { op: 'replace', path: '/flavor_id', value: 'f' }], 400, /^cannot change cluster property\(ies\) (keypair, flavor_id|flavor_id, keypair)\.$/),
    ...['abc', '1.5', -1, ''].map((value) => clPatch(`node_count ${JSON.stringify(value)}`, [{ op: 'replace', path: '/node_count', value }], 400, invalidInput('node_count'))),
    clPatch('node_count 0 below 1.10', [{ op: 'replace', path: '/node_count', value: 0 }], 400, 'Resizing a nodegroup to zero is not supported in the provided microversion.', { mv: '1.9' }),
    clPatch('health_status', [{ op: 'replace', path: '/health_status', value: 'BOGUS' }], 400, invalidInput('health_status')),
    clPatch('health_status int', [{ op: 'replace', path: '/health_status', value: 1 }], 400, invalidInput('health_status')),
    clPatch('health_status_reason with an int value', [{ op: 'replace', path: '/health_status_reason', value: "{'api': 1}" }], 400),
    clPatch('rollback below 1.3', [{ op: 'replace', path: '/node_count', value: 2 }], 400, unknownArg('rollback'), { url: `/v1/clusters/${x.clA}?rollback=True`, mv: '1.2' }),
    clPatch('rollback not a boolean', [{ op: 'replace', path: '/node_count', value: 2 }], 400, `Unrecognized value 'maybe', acceptable values are: ${BOOL_VALUES}`, { url: `/v1/clusters/${x.clA}?rollback=maybe` }),
    clPatch('rollback twice', [{ op: 'replace', path: '/node_count', value: 2 }], 400, undefined, { url: `/v1/clusters/${x.clA}?rollback=true&rollback=false` }),
  ]);
  const resize = (name: string, body: unknown, status: number, detail?: string | RegExp, extra: Partial<Case> = {}): Case => ({ name: `resize: ${name}`, method: 'POST', url: `/v1/clusters/${x.clA}/actions/resize`, body, status, detail, ...extra });
  group('POST /v1/clusters/{id}/actions/resize', [
    ...objectCases(R.resize, 'cluster_resize_req', RESIZE_FIELDS, { mandatory: ['node_count'] }),
    resize('above max_node_count', { node_count: 5, nodegroup: x.ngX }, 400, 'Resizing ng-extra outside the allowed range: min_node_count = 1, max_node_count = 3'),
    resize('below min_node_count', { node_count: 0, nodegroup: 'ng-extra' }, 400, 'Resizing ng-extra outside the allowed range: min_node_count = 1, max_node_count = 3'),
    resize('master nodegroup', { node_count: 2, nodegroup: 'default-master' }, 400, 'Resizing a master nodegroup is not supported.'),
    resize('unknown nodegroup', { node_count: 2, nodegroup: 'does-not-exist' }, 404, notFound('Nodegroup', 'does-not-exist')),
    resize('nodegroup of another cluster', { node_count: 2, nodegroup: x.clPWorker }, 404, notFound('Nodegroup', x.clPWorker)),
    resize('zero below 1.10', { node_count: 0 }, 400, 'Resizing a nodegroup to zero is not supported in the provided microversion.', { mv: '1.9' }),
    resize('1.6', resizeBody, 406, undefined, { mv: '1.6', form: 'webob' }),
    resize('1.1', resizeBody, 406, undefined, { mv: '1.1', form: 'webob' }),
    resize('no header (1.1)', resizeBody, 406, undefined, { headers: { 'openstack-api-version': undefined }, form: 'webob' }),
    resize('another project cluster (admin is not all-projects here)', resizeBody, 404, notFound('Cluster', x.clP), { url: `/v1/clusters/${x.clP}/actions/resize` }),
    resize('member on the admin cluster', resizeBody, 404, notFound('Cluster', x.clA), { who: 'p1' }),
    resize('unknown cluster', resizeBody, 404, notFound('Cluster', 'does-not-exist'), { url: '/v1/clusters/does-not-exist/actions/resize' }),
  ]);
  const upgrade = (name: string, body: unknown, status: number, detail?: string | RegExp, extra: Partial<Case> = {}): Case => ({ name: `upgrade: ${name}`, method: 'POST', url: `/v1/clusters/${x.clA}/actions/upgrade`, body, status, detail, ...extra });
  group('POST /v1/clusters/{id}/actions/upgrade', [
    ...objectCases(R.upgrade, 'cluster_upgrade_req', UPGRADE_FIELDS, { mandatory: ['cluster_template'] }),
    upgrade('unknown template', { cluster_template: 'does-not-exist' }, 404, notFound('ClusterTemplate', 'does-not-exist')),
    upgrade('other project template', { cluster_template: x.tplA }, 404, notFound('ClusterTemplate', x.tplA), { who: 'p1', url: `/v1/clusters/${x.clP}/actions/upgrade` }),
    upgrade('unknown nodegroup', { cluster_template: x.tplFree, nodegroup: 'does-not-exist' }, 404, notFound('Nodegroup', 'does-not-exist')),
    upgrade('non-default nodegroup to another template', { cluster_template: x.tplFree, nodegroup: x.ngX }, 409, "Cluster Template is not valid for upgrade: Nodegroup ng-extra can be upgraded only to match cluster's template (tpl-a)."),
    upgrade('1.7', upgradeBody, 400, 'Cluster upgrade is not supported in the provided microversion.', { mv: '1.7' }),
    upgrade('1.6', upgradeBody, 406, undefined, { mv: '1.6', form: 'webob' }),
    upgrade('1.1', upgradeBody, 406, undefined, { mv: '1.1', form: 'webob' }),
    upgrade('member on the admin cluster', upgradeBody, 404, notFound('Cluster', x.clA), { who: 'p1' }),
    upgrade('unknown cluster', upgradeBody, 404, notFound('Cluster', u), { url: `/v1/clusters/${u}/actions/upgrade` }),
  ]);

  // ---- nodegroups
  const ngUrl = `/v1/clusters/${x.clA}/nodegroups`;
  const ngInternal = [...COMMON_INTERNAL, '/name', '/cluster_id', '/docker_volume_size', '/labels', '/flavor_id', '/image_id', '/node_addresses', '/node_count', '/role', '/is_default', '/stack_id', '/status', '/status_reason', '/version'];
  group('POST /v1/clusters/{id}/nodegroups', [
    ...objectCases(R.ngPost, 'nodegroup', NODEGROUP_FIELDS, { readonly: ['project_id', 'stack_id', 'node_addresses', 'links', 'created_at', 'updated_at'] }),
    { name: 'POST nodegroup: name missing', method: 'POST', url: ngUrl, body: { node_count: 1 }, status: 400 },
    { name: 'POST nodegroup: master role', method: 'POST', url: ngUrl, body: { ...ngBody, role: 'master' }, status: 400, detail: 'Creating master nodegroups is currently not supported.' },
    { name: 'POST nodegroup: existing name', method: 'POST', url: ngUrl, body: { name: 'ng-extra' }, status: 409, detail: 'A node group with name ng-extra already exists in the cluster cl-a.' },
    { name: 'POST nodegroup: default name', method: 'POST', url: ngUrl, body: { name: 'default-worker' }, status: 409, detail: 'A node group with name default-worker already exists in the cluster cl-a.' },
    { name: 'POST nodegroup: min above node_count', method: 'POST', url: ngUrl, body: { ...ngBody, node_count: 1, min_node_count: 2 }, status: 409, detail: 'min_node_count for ng-should-not-exist is invalid (min_node_count (2) should be less or equal to node_count (1)).' },
    { name: 'POST nodegroup: max below min', method: 'POST', url: ngUrl, body: { ...ngBody, node_count: 3, min_node_count: 2, max_node_count: 1 }, status: 409, detail: 'max_node_count for ng-should-not-exist is invalid (min_node_count (2) should be less or equal to max_node_count (1)).' },
    { name: 'POST nodegroup: node_count above max', method: 'POST', url: ngUrl, body: { ...ngBody, node_count: 5, max_node_count: 3 }, status: 409, detail: 'max_node_count for ng-should-not-exist is invalid (node_count (5) should be less or equal to max_node_count (3)).' },
    { name: 'POST nodegroup: member on the admin cluster', method: 'POST', url: ngUrl, who: 'p1', body: ngBody, status: 404, detail: notFound('Cluster', x.clA) },
    { name: 'POST nodegroup: unknown cluster', method: 'POST', url: '/v1/clusters/does-not-exist/nodegroups', body: ngBody, status: 404, detail: notFound('Cluster', 'does-not-exist') },
  ]);
  const ngPatch = (name: string, body: unknown, status: number, detail?: string | RegExp, extra: Partial<Case> = {}): Case => ({ name: `PATCH nodegroup: ${name}`, method: 'PATCH', url: `${ngUrl}/${x.ngX}`, body, status, detail, ...extra });
  group('PATCH /v1/clusters/{id}/nodegroups/{ng}', [
    ...patchCases(R.ngPatch, { internal: ngInternal, nonRemovable: [], existing: '/max_node_count', replaceable: '/max_node_count' }),
    ngPatch('add on existing min_node_count', [{ op: 'add', path: '/min_node_count', value: 1 }], 400, "The attribute /min_node_count has existed, please use 'replace' operation instead."),
    ...['abc', '1.5', -1, ''].map((value) => ngPatch(`min_node_count ${JSON.stringify(value)}`, [{ op: 'replace', path: '/min_node_count', value }], 400, invalidInput('min_node_count'))),
    ...['abc', '1.5', -1, ''].map((value) => ngPatch(`max_node_count ${JSON.stringify(value)}`, [{ op: 'replace', path: '/max_node_count', value }], 400, invalidInput('max_node_count'))),
    ngPatch('min above node_count', [{ op: 'replace', path: '/min_node_count', value: 2 }], 409, 'min_node_count for ng-extra is invalid (min_node_count (2) should be less or equal to node_count (1)).'),
    ngPatch('max below min', [{ op: 'replace', path: '/max_node_count', value: 0 }], 409, 'max_node_count for ng-extra is invalid (min_node_count (1) should be less or equal to max_node_count (0)).'),
    ngPatch('wrong cluster', [{ op: 'replace', path: '/max_node_count', value: 4 }], 404, notFound('Nodegroup', x.ngX), { url: `/v1/clusters/${x.clP}/nodegroups/${x.ngX}` }),
  ]);

  // ---- certificates, quotas, federations, bays
  group('POST /v1/certificates', [
    ...objectCases(R.certPost, 'certificate', CERT_FIELDS, { readonly: ['pem', 'links', 'created_at', 'updated_at'], mandatory: ['csr'] }),
    { name: 'POST certificate: no cluster', method: 'POST', url: '/v1/certificates', body: { csr: certBody.csr }, status: 400 },
    { name: 'POST certificate: unknown cluster', method: 'POST', url: '/v1/certificates', body: { ...certBody, cluster_uuid: 'does-not-exist' }, status: 400, detail: notFound('Cluster', 'does-not-exist') },
    { name: 'POST certificate: unknown bay', method: 'POST', url: '/v1/certificates', body: { bay_uuid: u, csr: certBody.csr }, status: 400, detail: notFound('Cluster', u) },
    { name: 'POST certificate: other project cluster', method: 'POST', url: '/v1/certificates', who: 'p1', body: certBody, status: 400, detail: notFound('Cluster', x.clA) },
  ]);
  group('POST /v1/quotas', [
    ...objectCases(R.quotaPost, 'quota', QUOTA_FIELDS, { readonly: ['created_at', 'updated_at'] }),
    { name: 'POST quota: project missing', method: 'POST', url: '/v1/quotas', body: { resource: 'Cluster', hard_limit: 1 }, status: 400, detail: 'Must provide a valid project ID.' },
    { name: 'POST quota: project null', method: 'POST', url: '/v1/quotas', body: { project_id: null, hard_limit: 1 }, status: 400, detail: 'Must provide a valid project ID.' },
    { name: 'POST quota: duplicate', method: 'POST', url: '/v1/quotas', body: { project_id: 'p1', resource: 'Cluster', hard_limit: 4 }, status: 409, detail: 'Quota for project p1 already exists for resource Cluster.' },
    { name: 'POST quota: member', method: 'POST', url: '/v1/quotas', who: 'p1', body: quotaBody, status: 403, detail: policy('quota:create') },
  ]);
  group('PATCH /v1/quotas/{p}/{r}', [
    ...objectCases(R.quotaPatch, 'quotapatch', QUOTA_FIELDS, { readonly: ['created_at', 'updated_at'] }).filter((c) => c.name !== `${R.quotaPatch.label} empty object`),
    { name: 'PATCH quota: a JSON-Patch document', method: 'PATCH', url: '/v1/quotas/p1/Cluster', body: [{ op: 'replace', path: '/hard_limit', value: 5 }], status: 400 },
    { name: 'PATCH quota: member', method: 'PATCH', url: '/v1/quotas/p1/Cluster', who: 'p1', body: { hard_limit: 5 }, status: 403, detail: policy('quota:update') },
    { name: 'PATCH quota: unknown project', method: 'PATCH', url: '/v1/quotas/nobody/Cluster', body: { hard_limit: 5 }, status: 404, detail: 'Quota could not be found: project_id nobody resource Cluster.' },
    { name: 'PATCH quota: unknown resource', method: 'PATCH', url: '/v1/quotas/p1/Bogus', body: { hard_limit: 5 }, status: 404, detail: 'Quota could not be found: project_id p1 resource Bogus.' },
  ]);
  group('POST /v1/federations', [
    ...objectCases(R.fedPost, 'federation', FED_FIELDS, { readonly: ['links', 'created_at', 'updated_at'] }),
    { name: 'POST federation: no hostcluster', method: 'POST', url: '/v1/federations', body: { name: 'fed', properties: { 'dns-zone': 'z.' } }, status: 400, detail: 'No hostcluster specified. Please specify a hostcluster_id.' },
    { name: 'POST federation: unknown hostcluster', method: 'POST', url: '/v1/federations', body: { ...fedBody, hostcluster_id: 'does-not-exist' }, status: 404, detail: notFound('Cluster', 'does-not-exist') },
    { name: 'POST federation: other project hostcluster', method: 'POST', url: '/v1/federations', who: 'p1', body: fedBody, status: 404, detail: notFound('Cluster', x.clA) },
    { name: 'POST federation: no properties', method: 'POST', url: '/v1/federations', body: { name: 'fed', hostcluster_id: x.clA }, status: 400, detail: 'Please specify a `properties` dict for the federation.' },
    { name: 'POST federation: no dns zone', method: 'POST', url: '/v1/federations', body: { ...fedBody, properties: { a: 'b' } }, status: 400, detail: 'No DNS zone specified. Please specify a `dns-zone`.' },
  ]);
  group('PATCH /v1/federations/{id}', [
    // Nothing is stored for federations: only the document itself can be checked before the 404.
    ...patchCases(R.fedPatch, { internal: COMMON_INTERNAL, nonRemovable: [], existing: '', replaceable: '/member_ids' }).filter((c) => !/add on existing|add a new root|replace a missing|remove a missing|replace below/.test(c.name)),
    { name: 'PATCH federation: unknown', method: 'PATCH', url: `/v1/federations/${u}`, body: R.fedPatch.base, status: 404, detail: notFound('Federation', u) },
  ]);
  group('POST /v1/bays', [
    ...objectCases(R.bayPost, 'bay', BAY_FIELDS, { readonly: ['stack_id', 'api_address', 'coe_version', 'container_version', 'node_addresses', 'master_addresses', 'links', 'created_at', 'updated_at'], mandatory: ['baymodel_id'] }),
    { name: 'POST bay: unknown baymodel', method: 'POST', url: '/v1/bays', body: { ...bayBody, baymodel_id: 'does-not-exist' }, status: 400, detail: notFound('ClusterTemplate', 'does-not-exist') },
    { name: 'POST bay: other project baymodel', method: 'POST', url: '/v1/bays', who: 'p1', body: bayBody, status: 400, detail: notFound('ClusterTemplate', x.tplFree) },
    { name: 'POST bay: keypair is not a bay field', method: 'POST', url: '/v1/bays', body: { ...bayBody, keypair: 'k' }, status: 400, detail: unknownAttr('bay', 'keypair') },
    { name: 'POST bay: cluster_template_id is not a bay field', method: 'POST', url: '/v1/bays', body: { ...bayBody, cluster_template_id: x.tplFree }, status: 400, detail: unknownAttr('bay', 'cluster_template_id') },
    { name: 'POST bay: master_count 2 without LB', method: 'POST', url: '/v1/bays', body: { ...bayBody, master_count: 2 }, status: 400, detail: 'master_count must be 1 when master_lb_enabled is False' },
  ]);
  const bayPatch = (name: string, body: unknown, status: number, detail?: string | RegExp, extra: Partial<Case> = {}): Case => ({ name: `PATCH bay: ${name}`, method: 'PATCH', url: `/v1/bays/${x.clA}`, body, status, detail, ...extra });
  group('PATCH /v1/bays/{id}', [
    ...patchCases(R.bayPatch, { internal: [...COMMON_INTERNAL, '/api_address', '/node_addresses', '/master_addresses', '/stack_id'], nonRemovable: ['/baymodel_id'], existing: '/name', replaceable: '/node_count' }),
    ...labelLiteralCases(R.bayPatch),
    bayPatch('name', [{ op: 'replace', path: '/name', value: 'renamed' }], 400, 'cannot change bay property(ies) name.'),
    ...['abc', 0, -1, ''].map((value) => bayPatch(`node_count ${JSON.stringify(value)}`, [{ op: 'replace', path: '/node_count', value }], 400, invalidInput('node_count'))),
    bayPatch('rollback below 1.3', [{ op: 'replace', path: '/node_count', value: 2 }], 400, unknownArg('rollback'), { url: `/v1/bays/${x.clA}?rollback=1`, mv: '1.2' }),
    bayPatch('another project bay (admin is not all-projects here)', R.bayPatch.base, 404, notFound('Cluster', x.clP), { url: `/v1/bays/${x.clP}` }),
  ]);

  // ---- lists: pagination, sorting, unknown parameters
  group('lists', [
    ...listCases('GET /v1/clustertemplates', '/v1/clustertemplates', 'ClusterTemplate'),
    ...listCases('GET /v1/clustertemplates/detail', '/v1/clustertemplates/detail', 'ClusterTemplate'),
    ...listCases('GET /v1/baymodels', '/v1/baymodels', 'ClusterTemplate'),
    ...listCases('GET /v1/baymodels/detail', '/v1/baymodels/detail', 'ClusterTemplate'),
    ...listCases('GET /v1/clusters', '/v1/clusters', 'Cluster', { notSortable: ['node_count', 'master_count'] }),
    ...listCases('GET /v1/clusters/detail', '/v1/clusters/detail', 'Cluster', { notSortable: ['node_count', 'master_count'] }),
    ...listCases('GET /v1/bays', '/v1/bays', 'Cluster', { notSortable: ['node_count', 'master_count', 'baymodel_id'] }),
    ...listCases('GET /v1/bays/detail', '/v1/bays/detail', 'Cluster'),
    ...listCases('GET /v1/federations', '/v1/federations', 'Federation'),
    ...listCases('GET /v1/federations/detail', '/v1/federations/detail', 'Federation'),
    ...listCases('GET /v1/clusters/{id}/nodegroups', ngUrl, 'Nodegroup'),
    ...listCases('GET /v1/clusters/{id}/nodegroups?role=worker', `${ngUrl}?role=worker`, 'Nodegroup'),
    ...listCases('GET /v1/quotas', '/v1/quotas', 'Quota', { intMarker: true }),
    { name: 'GET /v1/quotas?all_tenants=maybe', method: 'GET', url: '/v1/quotas?all_tenants=maybe', status: 400, detail: `Unrecognized value 'maybe', acceptable values are: ${BOOL_VALUES}` },
    { name: 'GET /v1/clusters marker of another project', method: 'GET', url: `/v1/clusters?marker=${x.clA}`, who: 'p1', status: 404, detail: notFound('Cluster', x.clA) },
    { name: 'GET /v1/clustertemplates marker of another project', method: 'GET', url: `/v1/clustertemplates?marker=${x.tplA}`, who: 'p1', status: 404, detail: notFound('ClusterTemplate', x.tplA) },
    { name: 'GET /v1/bays marker of another project', method: 'GET', url: `/v1/bays?marker=${x.clP}`, status: 404, detail: notFound('Cluster', x.clP) },
    { name: 'GET nodegroups marker of another cluster', method: 'GET', url: `${ngUrl}?marker=${x.clPWorker}`, status: 404, detail: notFound('Nodegroup', x.clPWorker) },
    { name: 'GET /v1/clusters?all_tenants=1', method: 'GET', url: '/v1/clusters?all_tenants=1', status: 400, detail: unknownArg('all_tenants') },
    { name: 'GET /v1/clusters/{id}/events?limit=0', method: 'GET', url: `/v1/clusters/${x.clA}/events?limit=0`, status: 400 },
    { name: 'GET /v1/clusters/{id}/events?limit=abc', method: 'GET', url: `/v1/clusters/${x.clA}/events?limit=abc`, status: 400 },
    { name: 'GET /v1/clusters/{id}/events?limit=-5', method: 'GET', url: `/v1/clusters/${x.clA}/events?limit=-5`, status: 400 },
    { name: 'GET /v1/clusters/{id}/events?marker=abc', method: 'GET', url: `/v1/clusters/${x.clA}/events?marker=abc`, status: 400 },
    { name: 'GET /v1/clusters/{id}/events?marker=-1', method: 'GET', url: `/v1/clusters/${x.clA}/events?marker=-1`, status: 400 },
    { name: 'GET /v1/clusters/{id}/events?limit=1&limit=2', method: 'GET', url: `/v1/clusters/${x.clA}/events?limit=1&limit=2`, status: 400 },
    { name: 'GET /v1/clusters/{id}/events?sort_key=id', method: 'GET', url: `/v1/clusters/${x.clA}/events?sort_key=id`, status: 400, detail: unknownArg('sort_key') },
    { name: 'GET /v1/stats?type=bogus', method: 'GET', url: '/v1/stats?type=bogus', status: 400, detail: "Invalid stats type. Allowed values are 'cluster'" },
    { name: 'GET /v1/stats?type=nodes', method: 'GET', url: '/v1/stats?type=nodes', who: 'p1', status: 400, detail: "Invalid stats type. Allowed values are 'cluster'" },
    { name: 'GET /v1/stats?bogus=1', method: 'GET', url: '/v1/stats?bogus=1', status: 400, detail: unknownArg('bogus') },
    { name: 'GET /v1/stats?type=a&type=b', method: 'GET', url: '/v1/stats?type=cluster&type=cluster', status: 400 },
    { name: 'GET /v1/mservices?bogus=1', method: 'GET', url: '/v1/mservices?bogus=1', status: 400, detail: unknownArg('bogus') },
    { name: 'GET /v1/mservices?limit=1', method: 'GET', url: '/v1/mservices?limit=1', status: 400, detail: unknownArg('limit') },
  ]);

  // ---- unknown query parameters and invalid idents on resource routes
  const identRoutes: { label: string; url: (id: string) => string; methods: Method[]; what: string; body?: Partial<Record<Method, unknown>>; own?: string }[] = [
    { label: 'clustertemplates', url: (id) => `/v1/clustertemplates/${id}`, methods: ['GET', 'PATCH', 'DELETE'], what: 'ClusterTemplate', body: { PATCH: R.tplPatch.base }, own: x.tplFree },
    { label: 'baymodels', url: (id) => `/v1/baymodels/${id}`, methods: ['GET', 'PATCH', 'DELETE'], what: 'ClusterTemplate', body: { PATCH: R.bmPatch.base }, own: x.tplFree },
    { label: 'clusters', url: (id) => `/v1/clusters/${id}`, methods: ['GET', 'PATCH', 'DELETE'], what: 'Cluster', body: { PATCH: R.clPatch.base }, own: x.clA },
    { label: 'bays', url: (id) => `/v1/bays/${id}`, methods: ['GET', 'PATCH', 'DELETE'], what: 'Cluster', body: { PATCH: R.bayPatch.base }, own: x.clA },
    { label: 'cluster events', url: (id) => `/v1/clusters/${id}/events`, methods: ['GET'], what: 'Cluster', own: x.clA },
    { label: 'cluster resize', url: (id) => `/v1/clusters/${id}/actions/resize`, methods: ['POST'], what: 'Cluster', body: { POST: resizeBody } },
    { label: 'cluster upgrade', url: (id) => `/v1/clusters/${id}/actions/upgrade`, methods: ['POST'], what: 'Cluster', body: { POST: upgradeBody } },
    { label: 'nodegroups of a cluster', url: (id) => `/v1/clusters/${id}/nodegroups`, methods: ['GET', 'POST'], what: 'Cluster', body: { POST: ngBody } },
    { label: 'nodegroup', url: (id) => `${ngUrl}/${id}`, methods: ['GET', 'PATCH', 'DELETE'], what: 'Nodegroup', body: { PATCH: R.ngPatch.base }, own: x.ngX },
    { label: 'certificates', url: (id) => `/v1/certificates/${id}`, methods: ['GET', 'PATCH'], what: 'Cluster' },
    { label: 'federations', url: (id) => `/v1/federations/${id}`, methods: ['GET', 'PATCH', 'DELETE'], what: 'Federation', body: { PATCH: R.fedPatch.base } },
  ];
  const idents = ['does-not-exist', u, `{${u}}`, `urn:uuid:${u}`, u.replace(/-/g, ''), u.toUpperCase(), '12345', '0', '-1', 'detail2', '%20', 'a%2Fb', '%C3%B1ame', 'a.json.x', 'x'.repeat(300), "a'b", 'a%22b'];
  const exactIdents = new Set(['does-not-exist', u, '12345', 'detail2', "a'b"]);
  const identCases: Case[] = [];
  for (const r of identRoutes) {
    for (const m of r.methods) {
      for (const id of idents) {
        identCases.push({ name: `${m} ${r.label} ident ${short(id)}`, method: m, url: r.url(id), body: r.body?.[m], status: 404, detail: exactIdents.has(id) ? notFound(r.what, id) : undefined });
      }
      if (r.own) identCases.push({ name: `${m} ${r.label} unknown query parameter`, method: m, url: `${r.url(r.own)}?bogus=1`, body: r.body?.[m], status: 400, detail: unknownArg('bogus') });
    }
  }
  identCases.push(
    { name: 'GET nodegroup of another cluster by id', method: 'GET', url: `${ngUrl}/${x.clPWorker}`, status: 404, detail: notFound('Nodegroup', x.clPWorker) },
    { name: 'GET nodegroup 999999', method: 'GET', url: `${ngUrl}/999999`, status: 404, detail: notFound('Nodegroup', '999999') },
    { name: 'GET certificate unknown query parameter', method: 'GET', url: `/v1/certificates/${x.clA}?bogus=1`, status: 400, detail: unknownArg('bogus') },
    { name: 'PATCH certificate unknown query parameter', method: 'PATCH', url: `/v1/certificates/${x.clA}?bogus=1`, status: 400, detail: unknownArg('bogus') },
    { name: 'GET quota unknown query parameter', method: 'GET', url: '/v1/quotas/p1/Cluster?bogus=1', status: 400, detail: unknownArg('bogus') },
    { name: 'DELETE quota unknown query parameter', method: 'DELETE', url: '/v1/quotas/p1/Cluster?bogus=1', status: 400, detail: unknownArg('bogus') },
    { name: 'DELETE quota unknown project', method: 'DELETE', url: '/v1/quotas/nobody/Cluster', status: 404, detail: 'Quota could not be found: project_id nobody resource Cluster.' },
    { name: 'DELETE quota unknown resource', method: 'DELETE', url: '/v1/quotas/p1/Bogus', status: 404, detail: 'Quota could not be found: project_id p1 resource Bogus.' },
    { name: 'POST federation unknown query parameter', method: 'POST', url: '/v1/federations?bogus=1', body: fedBody, status: 400, detail: unknownArg('bogus') },
    { name: 'GET federations/{id} unknown query parameter', method: 'GET', url: `/v1/federations/${u}?bogus=1`, status: 400, detail: unknownArg('bogus') },
    { name: 'DELETE federations/{id} unknown query parameter', method: 'DELETE', url: `/v1/federations/${u}?bogus=1`, status: 400, detail: unknownArg('bogus') },
    { name: 'GET ident with a bad percent escape', method: 'GET', url: '/v1/clusters/%ZZ', status: 400, versionHeaders: false },
    { name: 'DELETE ident with a bad percent escape', method: 'DELETE', url: '/v1/clusters/%E0%A4%A', status: 400, versionHeaders: false },
    { name: 'GET nodegroup with a bad percent escape', method: 'GET', url: `${ngUrl}/%ZZ`, status: 400, versionHeaders: false },
    { name: 'GET an ident longer than the router takes', method: 'GET', url: `/v1/clusters/${'x'.repeat(1200)}`, status: [404, 414], versionHeaders: false },
  );
  group('idents and query parameters', identCases);

  // ---- other projects' resources (404) and policy (403)
  const p1 = (name: string, method: Method, url: string, status: number, detail?: string, body?: unknown, who: Who = 'p1'): Case => ({ name, method, url, who, body, status, detail });
  group('other projects and policy', [
    ...(['GET', 'PATCH', 'DELETE'] as Method[]).flatMap((m) => [
      p1(`${m} admin template as member`, m, `/v1/clustertemplates/${x.tplA}`, 404, notFound('ClusterTemplate', x.tplA), m === 'PATCH' ? R.tplPatch.base : undefined),
      p1(`${m} admin baymodel as member`, m, `/v1/baymodels/${x.tplFree}`, 404, notFound('ClusterTemplate', x.tplFree), m === 'PATCH' ? R.bmPatch.base : undefined),
      p1(`${m} admin cluster as member`, m, `/v1/clusters/${x.clA}`, 404, notFound('Cluster', x.clA), m === 'PATCH' ? R.clPatch.base : undefined),
      p1(`${m} p1 cluster as p2`, m, `/v1/clusters/${x.clP}`, 404, notFound('Cluster', x.clP), m === 'PATCH' ? R.clPatch.base : undefined, 'p2'),
      p1(`${m} admin bay as member`, m, `/v1/bays/${x.clA}`, 404, notFound('Cluster', x.clA), m === 'PATCH' ? R.bayPatch.base : undefined),
      p1(`${m} p1 bay as admin (bays are never all-projects)`, m, `/v1/bays/${x.clP}`, 404, notFound('Cluster', x.clP), m === 'PATCH' ? R.bayPatch.base : undefined, 'admin'),
      p1(`${m} p1 baymodel as admin (baymodels are never all-projects)`, m, `/v1/baymodels/${x.tplP}`, 404, notFound('ClusterTemplate', x.tplP), m === 'PATCH' ? R.bmPatch.base : undefined, 'admin'),
      p1(`${m} admin nodegroup as member`, m, `${ngUrl}/${x.ngX}`, 404, notFound('Cluster', x.clA), m === 'PATCH' ? R.ngPatch.base : undefined),
    ]),
    p1('GET admin nodegroups as member', 'GET', ngUrl, 404, notFound('Cluster', x.clA)),
    p1('GET admin cluster events as member', 'GET', `/v1/clusters/${x.clA}/events`, 404, notFound('Cluster', x.clA)),
    p1('GET admin certificate as member', 'GET', `/v1/certificates/${x.clA}`, 404, notFound('Cluster', x.clA)),
    p1('PATCH admin certificate as member', 'PATCH', `/v1/certificates/${x.clA}`, 404, notFound('Cluster', x.clA)),
    p1('GET p1 certificate as admin (never all-projects)', 'GET', `/v1/certificates/${x.clP}`, 404, notFound('Cluster', x.clP), undefined, 'admin'),
    p1('PATCH p1 certificate as admin (never all-projects)', 'PATCH', `/v1/certificates/${x.clP}`, 404, notFound('Cluster', x.clP), undefined, 'admin'),
    p1('DELETE a public template of another project', 'DELETE', `/v1/clustertemplates/${x.tplPub}`, 403, policy('clustertemplate:delete')),
    p1('DELETE a referenced template', 'DELETE', `/v1/clustertemplates/${x.tplA}`, 400, `ClusterTemplate ${x.tplA} is referenced by one or multiple clusters.`, undefined, 'admin'),
    p1('DELETE a referenced template by name', 'DELETE', '/v1/clustertemplates/tpl-a', 400, 'ClusterTemplate tpl-a is referenced by one or multiple clusters.', undefined, 'admin'),
    p1('DELETE a referenced template of another project', 'DELETE', `/v1/clustertemplates/${x.tplP}`, 400, `ClusterTemplate ${x.tplP} is referenced by one or multiple clusters.`, undefined, 'admin'),
    p1('DELETE a referenced baymodel', 'DELETE', `/v1/baymodels/${x.tplA}`, 400, `ClusterTemplate ${x.tplA} is referenced by one or multiple clusters.`, undefined, 'admin'),
    p1('DELETE the default worker', 'DELETE', `${ngUrl}/${x.clAWorker}`, 400, 'Deleting a default nodegroup is not supported.', undefined, 'admin'),
    p1('DELETE the default master', 'DELETE', `${ngUrl}/${x.clAMaster}`, 400, 'Deleting a default nodegroup is not supported.', undefined, 'admin'),
    p1('DELETE the default master by name', 'DELETE', `${ngUrl}/default-master`, 400, 'Deleting a default nodegroup is not supported.', undefined, 'admin'),
    p1('DELETE the default worker by id', 'DELETE', `/v1/clusters/${x.clP}/nodegroups/${x.clPWorker}`, 400, 'Deleting a default nodegroup is not supported.'),
    p1('GET mservices as member', 'GET', '/v1/mservices', 403, policy('magnum-service:get_all')),
    p1('GET quotas as member', 'GET', '/v1/quotas', 403, policy('quota:get_all')),
    p1('GET quotas of all tenants as member', 'GET', '/v1/quotas?all_tenants=true', 403, policy('quota:get_all')),
    p1('GET another project quota as member', 'GET', '/v1/quotas/admin/Cluster', 403, 'Not authorized.'),
    p1('DELETE quota as member', 'DELETE', '/v1/quotas/p1/Cluster', 403, policy('quota:delete')),
    p1('GET stats of another project as member', 'GET', '/v1/stats?project_id=admin', 403, 'Not authorized.'),
    p1('GET stats of another project as p2', 'GET', '/v1/stats?project_id=p1&type=cluster', 403, 'Not authorized.', undefined, 'p2'),
  ]);

  // ---- microversions on every route
  const everyRoute: { method: Method; url: string; body?: unknown }[] = [
    { method: 'GET', url: '/v1' },
    { method: 'GET', url: '/v1/clustertemplates' }, { method: 'GET', url: '/v1/clustertemplates/detail' }, { method: 'GET', url: `/v1/clustertemplates/${x.tplFree}` },
    { method: 'POST', url: '/v1/clustertemplates', body: tplBody }, { method: 'PATCH', url: `/v1/clustertemplates/${x.tplFree}`, body: R.tplPatch.base }, { method: 'DELETE', url: `/v1/clustertemplates/${x.tplFree}` },
    { method: 'GET', url: '/v1/baymodels' }, { method: 'GET', url: '/v1/baymodels/detail' }, { method: 'GET', url: `/v1/baymodels/${x.tplFree}` },
    { method: 'POST', url: '/v1/baymodels', body: tplBody }, { method: 'PATCH', url: `/v1/baymodels/${x.tplFree}`, body: R.bmPatch.base }, { method: 'DELETE', url: `/v1/baymodels/${x.tplFree}` },
    { method: 'GET', url: '/v1/clusters' }, { method: 'GET', url: '/v1/clusters/detail' }, { method: 'GET', url: `/v1/clusters/${x.clA}` },
    { method: 'POST', url: '/v1/clusters', body: clusterBody }, { method: 'PATCH', url: `/v1/clusters/${x.clA}`, body: R.clPatch.base }, { method: 'DELETE', url: `/v1/clusters/${x.clA}` },
    { method: 'POST', url: R.resize.url, body: resizeBody }, { method: 'POST', url: R.upgrade.url, body: upgradeBody }, { method: 'GET', url: `/v1/clusters/${x.clA}/events` },
    { method: 'GET', url: ngUrl }, { method: 'GET', url: `${ngUrl}/${x.ngX}` }, { method: 'POST', url: ngUrl, body: ngBody },
    { method: 'PATCH', url: `${ngUrl}/${x.ngX}`, body: R.ngPatch.base }, { method: 'DELETE', url: `${ngUrl}/${x.ngX}` },
    { method: 'GET', url: `/v1/certificates/${x.clA}` }, { method: 'POST', url: '/v1/certificates', body: certBody }, { method: 'PATCH', url: `/v1/certificates/${x.clA}` },
    { method: 'GET', url: '/v1/quotas' }, { method: 'GET', url: '/v1/quotas/p1/Cluster' }, { method: 'POST', url: '/v1/quotas', body: quotaBody },
    { method: 'PATCH', url: '/v1/quotas/p1/Cluster', body: { hard_limit: 5 } }, { method: 'DELETE', url: '/v1/quotas/p1/Cluster' },
    { method: 'GET', url: '/v1/stats' }, { method: 'GET', url: '/v1/mservices' },
    { method: 'GET', url: '/v1/federations' }, { method: 'GET', url: '/v1/federations/detail' }, { method: 'GET', url: `/v1/federations/${u}` },
    { method: 'POST', url: '/v1/federations', body: fedBody }, { method: 'PATCH', url: `/v1/federations/${u}`, body: R.fedPatch.base }, { method: 'DELETE', url: `/v1/federations/${u}` },
    { method: 'GET', url: '/v1/bays' }, { method: 'GET', url: '/v1/bays/detail' }, { method: 'GET', url: `/v1/bays/${x.clA}` },
    { method: 'POST', url: '/v1/bays', body: bayBody }, { method: 'PATCH', url: `/v1/bays/${x.clA}`, body: R.bayPatch.base }, { method: 'DELETE', url: `/v1/bays/${x.clA}` },
  ];
  const malformedMv = ['container-infra', '1.1', 'container-infra 1', 'container-infra 1.x', 'container-infra1.1', 'container-infra 1.1 1.2', 'compute 1.1', 'container-infra 1.1.1', 'container-infra 1.', 'container-infra latest-ish', '', 'container-infra  .1'];
  const unsupportedMv = ['container-infra 2.0', 'container-infra 1.99', 'container-infra 0.9', 'container-infra 1.0', 'container-infra 1.11', 'container-infra 3.5'];
  const mvCases: Case[] = [];
  for (const [i, r] of everyRoute.entries()) {
    // Every route gets every unsupported version, and a rotating share of the malformed ones.
    const malformed = [malformedMv[i % malformedMv.length], malformedMv[(i + 5) % malformedMv.length], malformedMv[(i + 7) % malformedMv.length]];
    for (const mv of malformed) mvCases.push({ name: `${r.method} ${r.url} header ${JSON.stringify(mv)}`, method: r.method, url: r.url, body: r.body, headers: { 'openstack-api-version': mv }, status: 406, form: 'webob' });
    for (const mv of unsupportedMv) mvCases.push({ name: `${r.method} ${r.url} header ${JSON.stringify(mv)}`, method: r.method, url: r.url, body: r.body, headers: { 'openstack-api-version': mv }, status: 406, form: 'mv406' });
  }
  for (const mv of malformedMv) mvCases.push({ name: `GET /v1/clusters header ${JSON.stringify(mv)}`, method: 'GET', url: '/v1/clusters', headers: { 'openstack-api-version': mv }, status: 406, form: 'webob' });
  // Too low for the route.
  for (const mv of ['1.8', '1.1', '1.5']) {
    for (const r of everyRoute.filter((e) => e.url.includes('/nodegroups'))) {
      mvCases.push({ name: `${r.method} ${r.url} at ${mv}`, method: r.method, url: r.url, body: r.body, mv, status: 406, form: 'webob' });
    }
  }
  mvCases.push({ name: 'GET nodegroups without a version header (1.1)', method: 'GET', url: ngUrl, headers: { 'openstack-api-version': undefined }, status: 406, form: 'webob' });
  group('microversions', mvCases);

  // ---- methods not allowed, unknown routes
  const allowed: [string, Method[]][] = [
    ['/v1/clustertemplates', ['GET', 'POST']], [`/v1/clustertemplates/${x.tplFree}`, ['GET', 'PATCH', 'DELETE']],
    ['/v1/baymodels', ['GET', 'POST']], [`/v1/baymodels/${x.tplFree}`, ['GET', 'PATCH', 'DELETE']],
    ['/v1/clusters', ['GET', 'POST']], [`/v1/clusters/${x.clA}`, ['GET', 'PATCH', 'DELETE']],
    [R.resize.url, ['POST']], [R.upgrade.url, ['POST']], [`/v1/clusters/${x.clA}/events`, ['GET']],
    [ngUrl, ['GET', 'POST']], [`${ngUrl}/${x.ngX}`, ['GET', 'PATCH', 'DELETE']],
    ['/v1/certificates', ['POST']], [`/v1/certificates/${x.clA}`, ['GET', 'PATCH']],
    ['/v1/quotas', ['GET', 'POST']], ['/v1/quotas/p1/Cluster', ['GET', 'PATCH', 'DELETE']],
    ['/v1/stats', ['GET']], ['/v1/mservices', ['GET']],
    ['/v1/federations', ['GET', 'POST']], [`/v1/federations/${u}`, ['GET', 'PATCH', 'DELETE']],
    ['/v1/bays', ['GET', 'POST']], [`/v1/bays/${x.clA}`, ['GET', 'PATCH', 'DELETE']],
    ['/v1', ['GET']],
  ];
  const methodCases: Case[] = [];
  const all: Method[] = ['GET', 'POST', 'PATCH', 'PUT', 'DELETE'];
  for (const [url, methods] of allowed) {
    for (const m of all.filter((mm) => !methods.includes(mm))) {
      methodCases.push({ name: `${m} ${url}`, method: m, url, body: m === 'GET' || m === 'DELETE' ? undefined : {}, status: 405, form: 'webob' });
    }
    methodCases.push({ name: `OPTIONS ${url}`, method: 'OPTIONS', url, status: [404, 405], form: 'webob' });
  }
  // "detail" is a list action; other methods on it are a 404 or 405, whichever form.
  for (const url of ['/v1/clustertemplates/detail', '/v1/clusters/detail', '/v1/baymodels/detail', '/v1/bays/detail', '/v1/federations/detail']) {
    for (const m of ['POST', 'PATCH', 'PUT', 'DELETE'] as Method[]) methodCases.push({ name: `${m} ${url}`, method: m, url, body: m === 'DELETE' ? undefined : [], form: 'any' });
  }
  const unknownRoutes = [
    '/v1/bogus', `/v1/clusters/${x.clA}/bogus`, `/v1/clusters/${x.clA}/actions`, `/v1/clusters/${x.clA}/actions/bogus`, `${ngUrl}/${x.ngX}/bogus`,
    '/v2/clusters', '/v1.1/clusters', '/v1/v1/clusters', `/v1/clustertemplates/${x.tplFree}/bogus`, '/v1/quotas/p1/Cluster/x', '/v1/stats/x', '/v1/mservices/1',
    '/bogus', '/v1/nodegroups', `/v1/certificates/${x.clA}/x`, `/v1/federations/${u}/x`, `/v1/bays/${x.clA}/x`, `/v1/baymodels/${x.tplFree}/x`,
    `/v1/clusters/${x.clA}/events/1`, '/v1/clusters/detail/x', '/v1/healthcheck', '/v1/events', '/v1/credentials',
  ];
  for (const url of unknownRoutes) {
    for (const m of all) methodCases.push({ name: `${m} unknown route ${url}`, method: m, url, body: m === 'GET' || m === 'DELETE' ? undefined : {}, status: 404, form: 'webob' });
  }
  for (const m of all) methodCases.push({ name: `${m} /v1/quotas/p1 (one segment)`, method: m, url: '/v1/quotas/p1', body: m === 'GET' || m === 'DELETE' ? undefined : {}, form: 'any' });
  group('methods and routes', methodCases);

  return groups;
}

// ---- checking one answer --------------------------------------------------------------------------

interface Answer {
  statusCode: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
}

function problemsOf(c: Case, res: Answer): string[] {
  const p: string[] = [];
  const status = res.statusCode;
  if (status < 400 || status > 499) p.push(`status ${status} is not a 4xx`);
  const want = c.status === undefined ? undefined : Array.isArray(c.status) ? c.status : [c.status];
  if (want && !want.includes(status)) p.push(`status ${status}, expected ${want.join(' or ')}`);
  if (!/^application\/json/.test(String(res.headers['content-type'] ?? ''))) p.push(`content-type ${String(res.headers['content-type'])}`);
  if (!/^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(String(res.headers['x-openstack-request-id'] ?? ''))) {
    p.push(`x-openstack-request-id ${String(res.headers['x-openstack-request-id'])}`);
  }
  const path = c.url.split('?')[0];
  if ((c.versionHeaders ?? true) && (path === '/v1' || path.startsWith('/v1/'))) {
    if (res.headers['openstack-api-minimum-version'] !== 'container-infra 1.1') p.push(`OpenStack-API-Minimum-Version ${String(res.headers['openstack-api-minimum-version'])}`);
    if (res.headers['openstack-api-maximum-version'] !== 'container-infra 1.10') p.push(`OpenStack-API-Maximum-Version ${String(res.headers['openstack-api-maximum-version'])}`);
  }
  let body: unknown;
  try {
    body = JSON.parse(res.body);
  } catch {
    return [...p, `body is not JSON: ${res.body.slice(0, 200)}`];
  }
  const errors = (body as { errors?: unknown })?.errors;
  if (!Array.isArray(errors) || errors.length !== 1 || Object.keys(body as object).length !== 1) return [...p, `body is not {"errors": [one]}: ${res.body.slice(0, 300)}`];
  const e = errors[0] as Record<string, unknown>;
  const form = c.form ?? 'std';
  const keys = Object.keys(e).sort().join(',');
  const isWebob = keys === 'code,detail,links,request_id,status,title' && e.code === '' && e.title === '' && e.detail === '';
  if (form === 'mv406') {
    const expected = {
      max_version: '1.10', min_version: '1.1', code: 'magnum.microversion-unsupported', title: 'Requested microversion is unsupported',
      links: [{ rel: 'help', href: 'http://docs.openstack.org/api-guide/compute/microversions.html' }],
    };
    try {
      assert.deepStrictEqual(e, expected);
    } catch {
      p.push(`not the microversion body: ${res.body.slice(0, 300)}`);
    }
    return p;
  }
  if (form === 'webob' || (form === 'any' && isWebob)) {
    if (!isWebob || e.request_id !== res.headers['x-openstack-request-id'] || e.status !== status || !Array.isArray(e.links) || e.links.length !== 0) p.push(`not the webob body: ${res.body.slice(0, 300)}`);
    if (![404, 405, 406].includes(status)) p.push(`webob body with status ${status}`);
    return p;
  }
  if (keys !== 'code,detail,links,request_id,status,title') return [...p, `error keys ${keys}: ${res.body.slice(0, 300)}`];
  if (e.status !== status) p.push(`errors[0].status ${String(e.status)} != ${status}`);
  if (e.code !== 'client') p.push(`errors[0].code ${JSON.stringify(e.code)}`);
  if (!String(e.request_id).startsWith('req-') || e.request_id !== res.headers['x-openstack-request-id']) p.push(`errors[0].request_id ${JSON.stringify(e.request_id)} is not the request id header`);
  if (!Array.isArray(e.links) || e.links.length !== 0) p.push(`errors[0].links ${JSON.stringify(e.links)}`);
  if (typeof e.detail !== 'string' || e.detail === '') p.push(`errors[0].detail ${JSON.stringify(e.detail)}`);
  else {
    const dot = e.detail.indexOf('.');
    const title = dot === -1 ? e.detail : e.detail.slice(0, dot);
    if (e.title !== title) p.push(`errors[0].title ${JSON.stringify(e.title)} is not the detail up to its first '.'`);
    if (typeof c.detail === 'string' && e.detail !== c.detail) p.push(`detail ${JSON.stringify(e.detail)}, expected ${JSON.stringify(c.detail)}`);
    if (c.detail instanceof RegExp && !c.detail.test(e.detail)) p.push(`detail ${JSON.stringify(e.detail)} does not match ${String(c.detail)}`);
  }
  return p;
}

// ---- the database before and after ------------------------------------------------------------------

async function snapshot(s: TestStack): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const t of TABLES) {
    let q = s.storage.conn.db.selectFrom(t).selectAll().orderBy('id');
    // Health events come from the conductor's own polling, whenever it runs: not from requests.
    if (t === 'cluster_event') q = q.where('step', '!=', 'health');
    const rows = await q.execute();
    out[t] = rows.map((r: Record<string, unknown>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : Buffer.isBuffer(v) ? v.toString('hex') : v])));
  }
  return out;
}

async function quiesce(s: TestStack): Promise<void> {
  await waitFor('operations to finish', async () => {
    const busy = await s.storage.conn.db.selectFrom('operation').select('uuid').where('state', 'in', ['pending', 'running']).execute();
    return busy.length === 0 ? true : undefined;
  });
}

async function send(s: TestStack, c: Case): Promise<Answer> {
  const payload = c.raw ?? (c.body === undefined ? undefined : JSON.stringify(c.body));
  return s.app.inject({ method: c.method, url: c.url, headers: headersOf(c), ...(payload === undefined ? {} : { payload }) });
}

async function ok(s: TestStack, what: string, c: Omit<Case, 'name'>, status: number): Promise<Record<string, unknown>> {
  const r = await send(s, { name: what, ...c });
  assert.equal(r.statusCode, status, `${what}: ${r.body}`);
  return r.body ? JSON.parse(r.body) : {};
}

async function setUp(s: TestStack): Promise<Fixture> {
  const tpl = async (who: Who, name: string, extra: Record<string, unknown> = {}) =>
    (await ok(s, `template ${name}`, { method: 'POST', url: '/v1/clustertemplates', who, body: { name, coe: 'swarm-mode', image_id: 'fake-image', keypair_id: 'kp', ...extra } }, 201)).uuid as string;
  const tplA = await tpl('admin', 'tpl-a');
  const tplFree = await tpl('admin', 'tpl-free', { labels: { a: 'b' } });
  const tplPub = await tpl('admin', 'tpl-pub', { public: true });
  const tplP = await tpl('p1', 'tpl-p1');
  const cluster = async (who: Who, name: string, template: string) => {
    const uuid = (await ok(s, `cluster ${name}`, { method: 'POST', url: '/v1/clusters', who, body: { name, cluster_template_id: template, labels: { k: 'v' } } }, 202)).uuid as string;
    await waitFor(`${name} CREATE_COMPLETE`, async () => ((await send(s, { name: '', method: 'GET', url: `/v1/clusters/${uuid}`, who })).body.includes('"CREATE_COMPLETE"') ? true : undefined));
    return uuid;
  };
  const clA = await cluster('admin', 'cl-a', tplA);
  const clP = await cluster('p1', 'cl-p1', tplP);
  const ng = await ok(s, 'nodegroup', { method: 'POST', url: `/v1/clusters/${clA}/nodegroups`, body: { name: 'ng-extra', node_count: 1, min_node_count: 1, max_node_count: 3 } }, 202);
  await ok(s, 'quota', { method: 'POST', url: '/v1/quotas', body: { project_id: 'p1', resource: 'Cluster', hard_limit: 1 } }, 201);
  await quiesce(s);
  await s.conductor.pollHealth();
  const ngs = async (c: string, who: Who) => (await ok(s, 'nodegroups', { method: 'GET', url: `/v1/clusters/${c}/nodegroups`, who }, 200)).nodegroups as { uuid: string; name: string; status: string }[];
  const a = await ngs(clA, 'admin');
  assert.equal(a.find((n) => n.name === 'ng-extra')?.status, 'CREATE_COMPLETE');
  const p = await ngs(clP, 'p1');
  return {
    tplA, tplFree, tplPub, tplP, clA, clP, ngX: ng.uuid as string,
    clAWorker: a.find((n) => n.name === 'default-worker')!.uuid,
    clAMaster: a.find((n) => n.name === 'default-master')!.uuid,
    clPWorker: p.find((n) => n.name === 'default-worker')!.uuid,
  };
}

for (const kind of databaseKinds()) {
  test(`bad input on every route is a 4xx in Magnum's format and changes nothing (${kind})`, async (t) => {
    const s = await startStack(kind, { kubernetes: { health_polling_interval: '86400' } });
    t.after(() => s.close());
    const x = await setUp(s);
    const before = await snapshot(s);
    const groups = buildCases(x);
    let total = 0;
    for (const [name, cases] of groups) {
      total += cases.length;
      await t.test(`${name} (${cases.length} cases)`, async () => {
        const failures: string[] = [];
        for (const c of cases) {
          const res = await send(s, c);
          const problems = problemsOf(c, res);
          if (problems.length) failures.push(`${c.name} [${c.method} ${c.url.slice(0, 120)}]: ${problems.join('; ')}`);
        }
        assert.deepEqual(failures, [], `${failures.length} of ${cases.length} cases failed:\n${failures.join('\n')}`);
      });
    }
    t.diagnostic(`${total} bad requests on ${kind}`);

    await t.test('the database is unchanged', async () => {
      await quiesce(s);
      assert.deepStrictEqual(await snapshot(s), before);
    });

    // The table's premise: the base bodies are accepted, so each refusal above came from the one
    // thing a case changed.
    await t.test('control: the base requests succeed', async () => {
      const control = async (c: Omit<Case, 'name'>, status: number) => {
        await ok(s, `${c.method} ${c.url}`, c, status);
        await quiesce(s);
      };
      await control({ method: 'POST', url: '/v1/clustertemplates', body: { name: 'c-tpl', coe: 'swarm-mode', image_id: 'fake-image', keypair_id: 'kp' } }, 201);
      await control({ method: 'POST', url: '/v1/baymodels', body: { name: 'c-bm', coe: 'swarm-mode', image_id: 'fake-image', keypair_id: 'kp' } }, 201);
      await control({ method: 'PATCH', url: `/v1/clustertemplates/${x.tplFree}`, body: [{ op: 'replace', path: '/name', value: 'renamed' }] }, 200);
      await control({ method: 'PATCH', url: `/v1/baymodels/${x.tplFree}`, body: [{ op: 'replace', path: '/name', value: 'renamed2' }] }, 200);
      await control({ method: 'POST', url: '/v1/quotas', body: { project_id: 'p9', resource: 'Cluster', hard_limit: 3 } }, 201);
      await control({ method: 'PATCH', url: '/v1/quotas/p1/Cluster', body: { hard_limit: 5 } }, 202);
      await control({ method: 'PATCH', url: `/v1/clusters/${x.clA}/nodegroups/${x.ngX}`, body: [{ op: 'replace', path: '/max_node_count', value: 4 }] }, 202);
      await control({ method: 'POST', url: `/v1/clusters/${x.clA}/actions/resize`, body: { node_count: 2, nodegroup: x.ngX } }, 202);
      await control({ method: 'PATCH', url: `/v1/clusters/${x.clA}`, body: [{ op: 'replace', path: '/node_count', value: 2 }] }, 202);
      await control({ method: 'PATCH', url: `/v1/bays/${x.clA}`, body: [{ op: 'replace', path: '/node_count', value: 3 }] }, 202);
      await control({ method: 'POST', url: `/v1/clusters/${x.clA}/nodegroups`, body: { name: 'ng-should-not-exist' } }, 202);
      await control({ method: 'POST', url: `/v1/clusters/${x.clA}/actions/upgrade`, body: { cluster_template: x.tplFree } }, 202);
      await control({ method: 'POST', url: '/v1/clusters', body: { name: 'c-cluster', cluster_template_id: x.tplFree } }, 202);
      await control({ method: 'POST', url: '/v1/bays', body: { name: 'c-bay', baymodel_id: x.tplFree } }, 202);
    });
  });
}
