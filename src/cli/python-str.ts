// Python's str() and repr() of JSON values. The OpenStack client prints table and value output
// through them (None, True, {'a': 'b'}, ['x']), so `coe` does the same and a table or a `-f value`
// line reads exactly as `openstack coe` prints it.

/** Python's repr() of a string: single quotes unless the text has one and no double quote. */
export function pyReprString(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + quote;
}

/** Python's repr() of a value decoded from JSON. */
export function pyRepr(v: unknown): string {
  if (typeof v === 'string') return pyReprString(v);
  return pyStr(v);
}

/** Python's str() of a value decoded from JSON. */
export function pyStr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : v > 0 ? 'inf' : v < 0 ? '-inf' : 'nan';
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if (typeof v === 'object') {
    return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${pyReprString(k)}: ${pyRepr(x)}`).join(', ')}}`;
  }
  return String(v);
}
