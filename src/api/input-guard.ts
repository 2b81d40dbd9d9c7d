// Checks every value a client sends (path segments, query values, JSON bodies) before any
// controller, database or command line sees it: what no column can store faithfully is refused
// with a 400 here, once, instead of failing deep inside a database driver.
//   - NUL characters: PostgreSQL cannot store them in text, and they cut C strings short.
//   - Unpaired UTF-16 surrogates: not encodable as UTF-8, so no database stores them as sent.
//   - JSON nested deeper than MAX_DEPTH: no Magnum resource is deeper than a few levels.
import { E, pyRepr } from '../common/errors.ts';

export const MAX_DEPTH = 32;

// eslint-disable-next-line no-control-regex
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A printable excerpt of a refused value for the error message. */
function excerpt(v: string): string {
  const shown = v.length > 64 ? `${v.slice(0, 64)}...` : v;
  // eslint-disable-next-line no-control-regex
  return shown.replace(/[\u0000-\u001f\u007f]|[\uD800-\uDFFF]/g, '?');
}

export function checkStorable(field: string, value: string): void {
  if (UNSTORABLE.test(value)) {
    throw E.InvalidInput(field, excerpt(value), 'Value must not contain NUL characters or unpaired surrogates');
  }
}

/** Path parameters and query values (strings, or lists of them). */
export function checkStrings(values: Record<string, unknown>): void {
  for (const k in values) {
    if (!Object.hasOwn(values, k)) continue;
    const v = values[k];
    checkStorable(k, k);
    if (typeof v === 'string') checkStorable(k, v);
    else if (Array.isArray(v)) for (const x of v) if (typeof x === 'string') checkStorable(k, x);
  }
}

/** A parsed JSON body: every key and string value, at most MAX_DEPTH levels deep (walked without recursion). */
export function checkJson(body: unknown): void {
  const stack: { v: unknown; path: string; depth: number }[] = [{ v: body, path: 'body', depth: 0 }];
  while (stack.length) {
    const { v, path, depth } = stack.pop()!;
    if (typeof v === 'string') {
      checkStorable(path, v);
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth >= MAX_DEPTH) throw E.Invalid(`Invalid data in the request body: JSON nested deeper than ${MAX_DEPTH} levels at ${pyRepr(path)}.`);
    if (Array.isArray(v)) {
      v.forEach((x, i) => stack.push({ v: x, path, depth: depth + 1 }));
    } else {
      for (const [k, x] of Object.entries(v)) {
        checkStorable(path === 'body' ? k : path, k);
        stack.push({ v: x, path: path === 'body' ? k : path, depth: depth + 1 });
      }
    }
  }
}
