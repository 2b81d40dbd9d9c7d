// Request schemas (TypeBox): what a route takes (path, query, body), declared once. The same
// schemas are in /v1/openapi.json (@fastify/swagger) and are what ajv checks requests against,
// compiled once at start-up. The handlers call the checks where Magnum's checks happen (after a
// microversion check, before or after a policy check), in WSME's order: path, query, then body.
//
// WSME's semantics, which no plain JSON Schema validator has, are the `x-wsme` kind of each field:
//   - int fields also take booleans and digit strings ("5", " 7"), bool fields WSME's strings
//     ("yes", "0", ...) and 0/1, uuid fields the braced, urn: and 32-hex forms, labels numbers and
//     booleans as values (Python's str(): True, 5): normalise() turns these into the canonical
//     value before ajv sees the body, which then validates it strictly;
//   - optional fields take null (and keep it: no default), mandatory ones do not;
//   - read-only fields are refused whatever their value (`readOnly` + `not: {}`).
// ajv answers yes or no (allErrors false, no coercion, removeAdditional false); only on a no is
// the first error in WSME's order found (unknown attributes, then each field in declaration
// order) and given Magnum's message, so a valid request pays one compiled check.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { Type, type TSchema } from 'typebox';
import { E, pyRepr } from '../common/errors.ts';
import { MAX_JSON_COLUMN_BYTES, canonicalUuid, isUuidLike, pyStr } from './validation.ts';

type Kind = 'string' | 'int' | 'bool' | 'enum' | 'uuid' | 'labels' | 'strdict' | 'strlist' | 'readonly' | 'any';
type Json = Record<string, unknown>;

const INT_MAX = 2 ** 31 - 1;
const BYTES = 'x-max-json-bytes';
const BOOL_TRUE = ['1', 't', 'true', 'on', 'y', 'yes'];
const BOOL_FALSE = ['0', 'f', 'false', 'off', 'n', 'no'];

const field = (kind: Kind, schema: Json): TSchema => Type.Unsafe<unknown>({ ...schema, 'x-wsme': kind });

/** Field builders: optional fields take null; wrap in `mandatory()` for the others. */
export const W = {
  str: (o: { min?: number; max?: number; pattern?: string } = {}) =>
    field('string', { type: ['string', 'null'], ...(o.min !== undefined ? { minLength: o.min } : {}), ...(o.max !== undefined ? { maxLength: o.max } : {}), ...(o.pattern ? { pattern: o.pattern } : {}) }),
  int: (o: { min?: number; max?: number; default?: number } = {}) =>
    field('int', { type: ['integer', 'null'], minimum: o.min ?? -INT_MAX, maximum: o.max ?? INT_MAX, ...(o.default !== undefined ? { default: o.default } : {}) }),
  bool: (o: { default?: boolean } = {}) => field('bool', { type: ['boolean', 'null'], ...(o.default !== undefined ? { default: o.default } : {}) }),
  enum: (values: readonly string[], o: { default?: string } = {}) =>
    field('enum', { type: ['string', 'null'], enum: [...values, null], ...(o.default !== undefined ? { default: o.default } : {}) }),
  uuid: () => field('uuid', { type: ['string', 'null'], format: 'uuid' }),
  labels: () => field('labels', { type: ['object', 'null'], propertyNames: { maxLength: 255 }, additionalProperties: { type: 'string' }, [BYTES]: MAX_JSON_COLUMN_BYTES }),
  strdict: () => field('strdict', { type: ['object', 'null'], additionalProperties: { type: 'string' }, [BYTES]: MAX_JSON_COLUMN_BYTES }),
  strlist: (o: { default?: string[] } = {}) => field('strlist', { type: ['array', 'null'], items: { type: 'string' }, [BYTES]: MAX_JSON_COLUMN_BYTES, ...(o.default ? { default: o.default } : {}) }),
  /** Shown in answers, refused in requests whatever its value. */
  readonly: () => field('readonly', { readOnly: true, not: {} }),
  any: () => field('any', {}),
};

/** A field with its description in /v1/openapi.json (what the handler checks beyond the schema, say). */
export const described = (description: string, s: TSchema = W.any()): TSchema => Type.Unsafe<unknown>({ ...s, description });

/** A field that must be given, and not as null. */
export function mandatory(s: TSchema): TSchema {
  const out: Json = { ...(s as Json) };
  if (Array.isArray(out.type)) out.type = (out.type as string[]).filter((t) => t !== 'null');
  else if (out.type === undefined) out.not = { type: 'null' }; // an `any` field: whatever it is, but given
  if (Array.isArray(out.enum)) out.enum = (out.enum as unknown[]).filter((v) => v !== null);
  return Type.Unsafe<unknown>(out);
}

/** A JSON body: `argument` is the controller argument Magnum names in its messages. */
export function Body(argument: string, fields: Record<string, TSchema>, required: readonly string[] = []): TSchema {
  return Type.Unsafe<Json>({ type: 'object', properties: fields, required: [...required], additionalProperties: false, 'x-argument': argument });
}

/**
 * A query: `singleValued` routes refuse a repeated parameter up front (Magnum's checkQuery);
 * on the others a value's own check refuses a list when the handler reads it (`queryValue`).
 */
export function Query(params: Record<string, TSchema>, opts: { singleValued?: boolean } = {}): TSchema {
  return Type.Unsafe<Json>({ type: 'object', properties: params, additionalProperties: false, 'x-single-valued': opts.singleValued ?? false });
}

export const NoQuery = Query({});

/** A JSON Patch document (RFC 6902 add, replace, remove) with these paths and values (src/api/patch.ts checks it). */
export const patchDocument = (path: TSchema, value: TSchema) => Type.Array(Type.Object({
  op: Type.Union([Type.Literal('add'), Type.Literal('replace'), Type.Literal('remove')]),
  path,
  value: Type.Optional(value),
}, { additionalProperties: false }));
/** A JSON Patch document as Magnum takes it: a field's path, a scalar value. */
export const PatchDocument = patchDocument(Type.String({ pattern: '^(/[\\w-]+)+$' }), Type.Unsafe<unknown>({ type: ['string', 'integer', 'boolean', 'null'] }));
/** A path parameter: a resource's uuid or name (or id, where Magnum takes one). */
export const Ident = Type.String({ description: 'uuid or name' });
export const Params = (...names: string[]) => Type.Object(Object.fromEntries(names.map((n) => [n, Ident])));

// ---- the compiled checks -------------------------------------------------------------------------

// Lengths in UTF-16 units and patterns without the u flag, as JavaScript's own checks had them.
// Defaults are applied after the check (Compiled.defaults): ajv's useDefaults made a valid cluster
// create 15-20x slower to check (2 µs → 40 µs here, the objects it writes into change shape).
const ajv = new Ajv({ allErrors: false, coerceTypes: false, removeAdditional: false, useDefaults: false, strict: false, unicode: false, unicodeRegExp: false,
  // ajv calls `unicode: false` deprecated (it still honours it); nothing else is dropped.
  logger: { log: console.log, warn: (...a: unknown[]) => { if (!String(a[0]).includes('option unicode')) console.warn(...a); }, error: console.error },
});
ajv.addKeyword({ keyword: 'x-wsme', schemaType: 'string' });
ajv.addKeyword({ keyword: 'x-argument', schemaType: 'string' });
ajv.addKeyword({ keyword: 'x-single-valued', schemaType: 'boolean' });
ajv.addKeyword({
  keyword: BYTES, type: ['object', 'array'], schemaType: 'number', errors: false,
  validate: (max: number, data: unknown) => Buffer.byteLength(JSON.stringify(data)) <= max,
});
// After normalise(), a uuid field holds the canonical form.
ajv.addFormat('uuid', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);

interface Compiled {
  validate: ValidateFunction;
  props: [string, Json][];
  required: Set<string>;
  /** Fields whose WSME leniency normalise() applies. */
  lenient: [string, Kind][];
  /** Fields with a default, applied when omitted (not when null). */
  defaults: [string, unknown][];
  argument: string;
}

const compiled = new WeakMap<object, Compiled>();
const fieldChecks = new WeakMap<object, ValidateFunction>();

function compile(schema: TSchema): Compiled {
  let c = compiled.get(schema);
  if (!c) {
    const s = schema as Json;
    const props = Object.entries((s.properties ?? {}) as Record<string, Json>);
    const singleValued = s['x-single-valued'] === true;
    // A query's first check looks at names (and, on single-valued routes, repeats) only: values are
    // checked where the handler reads them, after whatever check comes first in Magnum.
    const checked = s['x-single-valued'] === undefined ? s
      : { type: 'object', additionalProperties: false, properties: Object.fromEntries(props.map(([n]) => [n, singleValued ? { type: 'string' } : {}])) };
    c = {
      validate: ajv.compile(checked),
      props,
      required: new Set((s.required ?? []) as string[]),
      lenient: props.filter(([, p]) => ['int', 'bool', 'uuid', 'labels'].includes(p['x-wsme'] as string)).map(([n, p]) => [n, p['x-wsme'] as Kind]),
      defaults: props.filter(([, p]) => p.default !== undefined).map(([n, p]) => [n, p.default]),
      argument: String(s['x-argument'] ?? 'body'),
    };
    compiled.set(schema, c);
  }
  return c;
}

/**
 * Compile a route's request schemas (at start-up, when the route is registered): the bodies and
 * queries made by Body() and Query(); a JSON Patch document is checked by src/api/patch.ts.
 */
export function precompile(...schemas: (TSchema | undefined)[]): void {
  for (const s of schemas) if (s && ('x-argument' in s || 'x-single-valued' in s)) compile(s);
}

function fieldCheck(p: Json): ValidateFunction {
  let v = fieldChecks.get(p);
  if (!v) {
    v = ajv.compile(p);
    fieldChecks.set(p, v);
  }
  return v;
}

/** WSME's leniency: the canonical value of an int, bool, uuid or label field (others unchanged). */
function lenient(kind: Kind, v: unknown): unknown {
  switch (kind) {
    case 'int':
      if (typeof v === 'boolean') return v ? 1 : 0;
      if (typeof v === 'string' && /^\s*[-+]?\d+\s*$/.test(v)) return Number(v);
      return v;
    case 'bool':
      if (typeof v === 'number' && (v === 0 || v === 1)) return v === 1;
      if (typeof v === 'string') {
        const s = v.trim().toLowerCase();
        if (BOOL_TRUE.includes(s)) return true;
        if (BOOL_FALSE.includes(s)) return false;
      }
      return v;
    case 'uuid':
      return isUuidLike(v) ? canonicalUuid(v) : v;
    case 'labels': {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
      const out: Json = {};
      for (const [k, x] of Object.entries(v)) out[k] = typeof x === 'number' || typeof x === 'boolean' ? pyStr(x) : x;
      return out;
    }
    default:
      return v;
  }
}

const pyType = (v: unknown): string =>
  v === null ? "<class 'NoneType'>" : typeof v === 'string' ? "<class 'str'>" : typeof v === 'boolean' ? "<class 'bool'>"
    : typeof v === 'number' ? (Number.isInteger(v) ? "<class 'int'>" : "<class 'float'>") : Array.isArray(v) ? "<class 'list'>" : "<class 'dict'>";

/** Magnum's message for the first ajv error of one field (`value` as sent, `seen` as ajv saw it). */
function fieldError(name: string, p: Json, value: unknown, seen: unknown, err: ErrorObject | undefined): Error {
  const kind = p['x-wsme'] as Kind;
  const bad = (reason: string) => E.InvalidInput(name, value, reason);
  const keyword = err?.keyword ?? 'type';
  const nested = (err?.instancePath ?? '') !== '';
  switch (kind) {
    case 'bool':
      return E.Invalid(`Unrecognized value '${pyRepr(value)}', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'`);
    case 'uuid':
      return E.InvalidUUID(pyRepr(value));
    case 'enum':
      return bad(`Value should be one of: ${(p.enum as unknown[]).filter((v) => v !== null).join(', ')}`);
    case 'int':
      // ajv takes JSON's 1e400 (Infinity) for an integer; Python's json has it a float, so WSME answers a type error.
      if (keyword === 'type' || (typeof value === 'number' && !Number.isFinite(value))) return bad(`Wrong type. Expected '<class 'int'>', got '${pyType(value)}'`);
      if (Math.abs(seen as number) > INT_MAX) return bad('Value is out of range');
      return keyword === 'minimum' ? bad(`Value should be greater or equal to ${p.minimum}`) : bad(`Value should be lower or equal to ${p.maximum}`);
    case 'labels':
    case 'strdict':
    case 'strlist': {
      const container = kind === 'strlist' ? 'list' : 'dict';
      if (keyword === BYTES) return bad(`${kind === 'labels' ? 'Labels' : 'Value'} should have a maximum size of ${MAX_JSON_COLUMN_BYTES} bytes`);
      if (err?.propertyName !== undefined || keyword === 'propertyNames') return bad('Label keys should have a maximum character requirement of 255');
      if (!nested) return bad(`Wrong type. Expected '<class '${container}'>', got '${pyType(value)}'`);
      const key = decodeURIComponent(err!.instancePath.slice(1).replace(/~1/g, '/').replace(/~0/g, '~'));
      const inner = kind === 'strlist' ? (value as unknown[])[Number(key)] : (value as Json)[key];
      return bad(`Wrong type. Expected '<class 'str'>', got '${pyType(inner)}'`);
    }
    default:
      if (keyword === 'type') return bad(`Wrong type. Expected '<class 'str'>', got '${pyType(value)}'`);
      if (keyword === 'minLength') return bad(`Value should have a minimum character requirement of ${p.minLength}`);
      if (keyword === 'maxLength') return bad(`Value should have a maximum character requirement of ${p.maxLength}`);
      if (keyword === 'pattern') return bad(`Value should match the pattern ${p.pattern}`);
      return bad('Invalid value');
  }
}

/**
 * A JSON body checked against its schema: the given attributes (canonical values) plus the
 * defaults of omitted ones. Refusals in WSME's order, with its messages.
 */
export function validateBody(schema: TSchema, body: unknown): Json {
  const c = compile(schema);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw E.Invalid(`Invalid input for argument ${c.argument}: expected a JSON object`);
  const input = body as Json;
  const data: Json = { ...input };
  for (const [n, kind] of c.lenient) if (n in data) data[n] = lenient(kind, data[n]);
  if (c.validate(data)) {
    for (const [n, d] of c.defaults) if (!(n in data)) data[n] = Array.isArray(d) ? [...d] : d;
    return data;
  }
  const unknown = Object.keys(input).filter((k) => !c.props.some(([n]) => n === k));
  if (unknown.length) throw E.UnknownAttribute(c.argument, unknown.sort());
  for (const [name, p] of c.props) {
    if (!(name in input)) {
      if (c.required.has(name)) throw E.InvalidInput(name, null, 'Mandatory field missing.');
      continue;
    }
    const value = input[name];
    if (p['x-wsme'] === 'readonly') throw E.InvalidInput(name, value, 'Cannot set read only field.');
    if (value === null) {
      if (c.required.has(name)) throw E.InvalidInput(name, null, 'Mandatory field missing.');
      continue;
    }
    const check = fieldCheck(p);
    if (!check(data[name])) throw fieldError(name, p, value, data[name], check.errors?.[0]);
  }
  throw E.Invalid(`Invalid input for argument ${c.argument}`);
}

/** One field's value checked against its schema in `schema` (a PATCH's patched value, a query value). */
export function fieldValue(schema: TSchema, name: string, value: unknown): unknown {
  const p = compile(schema).props.find(([n]) => n === name)?.[1];
  if (!p) throw new Error(`${name} is not a field of this schema`);
  const seen = lenient(p['x-wsme'] as Kind, value);
  const check = fieldCheck(p);
  if (!check(seen)) throw fieldError(name, p, value, seen, check.errors?.[0]);
  return seen;
}

/** A query's names (and, on single-valued routes, that none is repeated): Magnum's 400s. */
export function validateQuery(schema: TSchema, query: Json): void {
  const c = compile(schema);
  if (c.validate(query)) return;
  const keys = Object.keys(query);
  const unknown = keys.find((k) => !c.props.some(([n]) => n === k));
  if (unknown !== undefined) throw E.UnknownArgument(unknown);
  const repeated = keys.find((k) => Array.isArray(query[k]));
  throw E.Invalid(`Query argument ${repeated} was given more than once.`);
}
