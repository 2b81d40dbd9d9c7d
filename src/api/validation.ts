// Request-body validation with Magnum's (WSME's) rules and messages: unknown attributes, read-only
// attributes, mandatory attributes, type and constraint checks, null accepted for optional fields
// (without applying the default), digit strings promoted to integers, Python-style str() of labels.
import { E, pyRepr } from '../common/errors.ts';

export type FieldType =
  | { kind: 'string'; min?: number; max?: number; pattern?: RegExp; patternText?: string }
  | { kind: 'int'; min?: number; max?: number }
  | { kind: 'bool' }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'uuid' }
  | { kind: 'labels' }
  | { kind: 'strdict' }
  | { kind: 'strlist' }
  | { kind: 'any' };

export interface FieldSpec {
  type: FieldType;
  readonly?: boolean;
  mandatory?: boolean;
  /** Applied when the attribute is omitted (not when it is null). */
  default?: unknown;
}

export type Fields = Record<string, FieldSpec>;

/** The largest JSON document a text column holds on every database (MariaDB's TEXT). */
export const MAX_JSON_COLUMN_BYTES = 65_535;

export const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** oslo_utils.uuidutils.is_uuid_like: canonical, 32-hex, {braced} and urn:uuid: forms. */
export function isUuidLike(v: unknown): v is string {
  if (typeof v !== 'string') return false;
  const s = v.replace(/^urn:uuid:/i, '').replace(/^\{(.*)\}$/, '$1');
  return UUID_RE.test(s);
}

export function canonicalUuid(v: string): string {
  const hex = v.replace(/^urn:uuid:/i, '').replace(/[{}-]/g, '').toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const BOOL_TRUE = ['1', 't', 'true', 'on', 'y', 'yes'];
const BOOL_FALSE = ['0', 'f', 'false', 'off', 'n', 'no'];

export function parseBool(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number' && (v === 0 || v === 1)) return v === 1;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (BOOL_TRUE.includes(s)) return true;
    if (BOOL_FALSE.includes(s)) return false;
  }
  throw E.Invalid(`Unrecognized value '${pyRepr(v)}', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'`);
}

const pyType = (v: unknown): string =>
  v === null ? "<class 'NoneType'>" : typeof v === 'string' ? "<class 'str'>" : typeof v === 'boolean' ? "<class 'bool'>"
    : typeof v === 'number' ? (Number.isInteger(v) ? "<class 'int'>" : "<class 'float'>") : Array.isArray(v) ? "<class 'list'>" : "<class 'dict'>";

/** Python's str() of a label value: True, 5, 1.5. */
export function pyStr(v: unknown): string {
  if (v === true) return 'True';
  if (v === false) return 'False';
  return String(v);
}

export function coerceField(name: string, spec: FieldSpec, value: unknown): unknown {
  const t = spec.type;
  const bad = (reason: string) => E.InvalidInput(name, value, reason);
  switch (t.kind) {
    case 'string': {
      if (typeof value !== 'string') throw bad(`Wrong type. Expected '<class 'str'>', got '${pyType(value)}'`);
      if (t.min !== undefined && value.length < t.min) throw bad(`Value should have a minimum character requirement of ${t.min}`);
      if (t.max !== undefined && value.length > t.max) throw bad(`Value should have a maximum character requirement of ${t.max}`);
      if (t.pattern && !t.pattern.test(value)) throw bad(`Value should match the pattern ${t.patternText ?? t.pattern.source}`);
      return value;
    }
    case 'int': {
      let n: number;
      if (typeof value === 'number' && Number.isInteger(value)) n = value;
      else if (typeof value === 'boolean') n = value ? 1 : 0;
      else if (typeof value === 'string' && /^\s*[-+]?\d+\s*$/.test(value)) n = Number(value);
      else throw bad(`Wrong type. Expected '<class 'int'>', got '${pyType(value)}'`);
      if (!Number.isSafeInteger(n) || Math.abs(n) > 2 ** 31 - 1) throw bad('Value is out of range');
      if (t.min !== undefined && n < t.min) throw bad(`Value should be greater or equal to ${t.min}`);
      if (t.max !== undefined && n > t.max) throw bad(`Value should be lower or equal to ${t.max}`);
      return n;
    }
    case 'bool':
      return parseBool(value);
    case 'enum':
      if (typeof value !== 'string' || !t.values.includes(value)) throw bad(`Value should be one of: ${t.values.join(', ')}`);
      return value;
    case 'uuid':
      if (!isUuidLike(value)) throw E.InvalidUUID(pyRepr(value));
      return canonicalUuid(value);
    case 'labels': {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw bad(`Wrong type. Expected '<class 'dict'>', got '${pyType(value)}'`);
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw bad(`Wrong type. Expected '<class 'str'>', got '${pyType(v)}'`);
        if (k.length > 255) throw bad('Label keys should have a maximum character requirement of 255');
        out[k] = pyStr(v);
      }
      // Labels are stored as JSON in a text column: 65,535 bytes on MariaDB.
      if (Buffer.byteLength(JSON.stringify(out)) > MAX_JSON_COLUMN_BYTES) throw bad(`Labels should have a maximum size of ${MAX_JSON_COLUMN_BYTES} bytes`);
      return out;
    }
    case 'strdict': {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw bad(`Wrong type. Expected '<class 'dict'>', got '${pyType(value)}'`);
      for (const v of Object.values(value)) if (typeof v !== 'string') throw bad(`Wrong type. Expected '<class 'str'>', got '${pyType(v)}'`);
      if (Buffer.byteLength(JSON.stringify(value)) > MAX_JSON_COLUMN_BYTES) throw bad(`Value should have a maximum size of ${MAX_JSON_COLUMN_BYTES} bytes`);
      return { ...(value as Record<string, string>) };
    }
    case 'strlist': {
      if (!Array.isArray(value)) throw bad(`Wrong type. Expected '<class 'list'>', got '${pyType(value)}'`);
      for (const v of value) if (typeof v !== 'string') throw bad(`Wrong type. Expected '<class 'str'>', got '${pyType(v)}'`);
      if (Buffer.byteLength(JSON.stringify(value)) > MAX_JSON_COLUMN_BYTES) throw bad(`Value should have a maximum size of ${MAX_JSON_COLUMN_BYTES} bytes`);
      return [...value];
    }
    default:
      return value;
  }
}

/**
 * Validate a create body: `argName` is the controller argument Magnum names in its messages
 * (cluster, cluster_template, nodegroup, ...). Returns the given attributes, coerced, plus the
 * defaults of omitted ones.
 */
export function parseBody(argName: string, fields: Fields, body: unknown, opts: { checkReadonly?: boolean } = {}): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw E.Invalid(`Invalid input for argument ${argName}: expected a JSON object`);
  }
  const input = body as Record<string, unknown>;
  const unknown = Object.keys(input).filter((k) => !(k in fields));
  if (unknown.length) throw E.UnknownAttribute(argName, unknown.sort());
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(fields)) {
    if (!(name in input)) {
      if (spec.mandatory) throw E.InvalidInput(name, null, 'Mandatory field missing.');
      if (spec.default !== undefined) out[name] = typeof spec.default === 'function' ? (spec.default as () => unknown)() : spec.default;
      continue;
    }
    const value = input[name];
    if (spec.readonly && opts.checkReadonly !== false) throw E.InvalidInput(name, value, 'Cannot set read only field.');
    if (value === null) {
      if (spec.mandatory) throw E.InvalidInput(name, null, 'Mandatory field missing.');
      out[name] = null;
      continue;
    }
    out[name] = coerceField(name, spec, value);
  }
  return out;
}

/** Reject query parameters a route does not take (Magnum: 400 Unknown argument). */
export function checkQuery(query: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(query)) if (!allowed.includes(k)) throw E.UnknownArgument(k);
  for (const [k, v] of Object.entries(query)) {
    if (Array.isArray(v)) throw E.Invalid(`Query argument ${k} was given more than once.`);
  }
}
