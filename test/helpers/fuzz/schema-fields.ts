// The fuzzer's field table of a request body schema (src/api/request-schemas.ts): each field's
// WSME kind and bounds, read back from the JSON Schema the API validates with.
import type { TSchema } from 'typebox';

type Json = Record<string, unknown>;

/** A field's WSME kind and bounds, as the fuzzer makes values for it. */
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
  /** What the API takes when the attribute is omitted (not when it is null). */
  default?: unknown;
}

export type Fields = Record<string, FieldSpec>;
const INT_MAX = 2 ** 31 - 1;

function fieldType(p: Json): FieldType {
  switch (p['x-wsme']) {
    case 'string': return { kind: 'string', min: p.minLength as number | undefined, max: p.maxLength as number | undefined, ...(p.pattern ? { pattern: new RegExp(p.pattern as string) } : {}) };
    case 'int': return { kind: 'int', ...(p.minimum !== -INT_MAX ? { min: p.minimum as number } : {}), ...(p.maximum !== INT_MAX ? { max: p.maximum as number } : {}) };
    case 'enum': return { kind: 'enum', values: (p.enum as unknown[]).filter((v): v is string => typeof v === 'string') };
    case 'bool': case 'uuid': case 'labels': case 'strdict': case 'strlist':
      return { kind: p['x-wsme'] };
    default: return { kind: 'any' };
  }
}

export function fieldsOf(schema: TSchema): Fields {
  const s = schema as Json;
  const required = new Set((s.required ?? []) as string[]);
  return Object.fromEntries(Object.entries(s.properties as Record<string, Json>).map(([n, p]) => [n, {
    type: fieldType(p),
    ...(required.has(n) ? { mandatory: true } : {}),
    ...(p['x-wsme'] === 'readonly' ? { readonly: true } : {}),
    ...(p.default !== undefined ? { default: p.default } : {}),
  }]));
}
