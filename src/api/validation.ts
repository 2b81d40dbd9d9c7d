// Value helpers of request checking: uuid forms as oslo_utils reads them, Python's str() of a label
// value, the size bound of JSON columns. The checks themselves are the routes' schemas
// (src/api/request-schemas.ts).

/** The largest JSON document a text column holds on every database (MariaDB's TEXT). */
export const MAX_JSON_COLUMN_BYTES = 65_535;

export const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
/** The form clients send nearly always (and the one stored): checked first, without rewriting the value. */
const CANONICAL_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const isCanonical = (v: string) => v.length === 36 && CANONICAL_RE.test(v);

/** oslo_utils.uuidutils.is_uuid_like: canonical, 32-hex, {braced} and urn:uuid: forms. */
export function isUuidLike(v: unknown): v is string {
  if (typeof v !== 'string') return false;
  if (isCanonical(v)) return true;
  const s = v.replace(/^urn:uuid:/i, '').replace(/^\{(.*)\}$/, '$1');
  return UUID_RE.test(s);
}

export function canonicalUuid(v: string): string {
  if (isCanonical(v)) return v;
  const hex = v.replace(/^urn:uuid:/i, '').replace(/[{}-]/g, '').toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Python's str() of a label value: True, 5, 1.5. */
export function pyStr(v: unknown): string {
  if (v === true) return 'True';
  if (v === false) return 'False';
  return String(v);
}
