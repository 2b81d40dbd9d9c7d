// Magnum's JSON-Patch handling (api/utils.py apply_jsonpatch + the JsonPatchType checks), then
// RFC 6902 application with rfc6902. Clients send labels as a Python dict literal string.
import { applyPatch as rfcApply, type Operation } from 'rfc6902';
import { E } from '../common/errors.ts';

export interface PatchRules {
  /** Paths never patchable (internal attributes). */
  internal: readonly string[];
  /** Paths that cannot be removed (mandatory attributes and resource extras). */
  nonRemovable: readonly string[];
}

export const COMMON_INTERNAL = ['/created_at', '/id', '/links', '/updated_at', '/uuid', '/project_id', '/user_id'];
const PATH_RE = /^(\/[\w-]+)+$/;
const LITERAL_PATHS = ['/labels', '/health_status_reason'];

export interface PatchOp {
  op: 'add' | 'replace' | 'remove';
  path: string;
  value?: string | number | boolean;
}

export function parsePatchBody(body: unknown, rules: PatchRules): PatchOp[] {
  if (!Array.isArray(body)) throw E.Invalid('Invalid input for argument patch: a JSON-Patch document (a JSON array of operations) is expected');
  return body.map((raw) => {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw E.Invalid('Invalid input for argument patch: each operation must be a JSON object');
    const o = raw as Record<string, unknown>;
    const unknown = Object.keys(o).filter((k) => !['op', 'path', 'value'].includes(k));
    if (unknown.length) throw E.UnknownAttribute('patch', unknown.sort());
    if (o.path === undefined || o.path === null) throw E.InvalidInput('path', null, 'Mandatory field missing.');
    if (typeof o.path !== 'string') throw E.InvalidInput('path', o.path, "Wrong type. Expected '<class 'str'>'");
    if (!PATH_RE.test(o.path)) throw E.InvalidInput('path', o.path, `Value should match the pattern ${PATH_RE.source}`);
    if (o.op === undefined || o.op === null) throw E.InvalidInput('op', null, 'Mandatory field missing.');
    if (typeof o.op !== 'string' || !['add', 'replace', 'remove'].includes(o.op)) {
      throw E.InvalidInput('op', o.op, 'Value should be one of: add, replace, remove');
    }
    const hasValue = 'value' in o && o.value !== null && o.value !== undefined;
    if (hasValue) {
      const v = o.value;
      const ok = typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isInteger(v));
      if (!ok) throw E.InvalidInput('value', v, 'Wrong type. Expected a string or an integer');
    }
    if ((o.op === 'add' || o.op === 'replace') && !hasValue) throw E.Invalid("'add' and 'replace' operations needs value");
    if (rules.internal.includes(o.path)) throw E.Invalid(`'${o.path}' is an internal attribute and can not be updated`);
    if (o.op === 'remove' && rules.nonRemovable.includes(o.path)) throw E.Invalid(`'${o.path}' is a mandatory attribute and can not be removed`);
    return { op: o.op, path: o.path, ...(hasValue ? { value: o.value as string | number | boolean } : {}) } as PatchOp;
  });
}

/** Apply a parsed patch to a resource's API representation, Magnum-style. Returns a new object. */
export function applyPatch(doc: Record<string, unknown>, ops: PatchOp[]): Record<string, unknown> {
  const target = structuredClone(doc);
  const rfcOps: Operation[] = [];
  for (const p of ops) {
    const segments = p.path.split('/').slice(1);
    let value: unknown = p.value;
    if (p.op === 'add' && segments.length === 1) {
      const attr = segments[0];
      if (!(attr in target)) throw E.Invalid(`Adding a new attribute ${p.path} to the root of the resource is not allowed.`);
      if (target[attr] !== null && target[attr] !== undefined) throw E.Invalid(`The attribute ${p.path} has existed, please use 'replace' operation instead.`);
    }
    if (p.op === 'replace' && LITERAL_PATHS.includes(p.path) && typeof value === 'string') {
      try {
        value = parsePythonLiteral(value);
      } catch (err) {
        throw E.PatchError(JSON.stringify(ops), (err as Error).message);
      }
    }
    rfcOps.push(p.op === 'remove' ? { op: 'remove', path: p.path } : { op: p.op, path: p.path, value });
  }
  // A replace or add below a null container (e.g. /labels/x when labels is null) needs the container.
  const failed = patchFailure(target, rfcOps);
  if (failed) throw E.PatchError(JSON.stringify(ops), describePatchFailure(failed));
  return target;
}

/**
 * Applies RFC 6902 operations in order and gives the first failure, or null. rfc6902 reports a
 * missing target, but throws (a TypeError) when a path goes below a string, a number or a
 * boolean (/image_id/0, /hidden/-): that is the client's patch failing too, not the server.
 */
export function patchFailure(target: unknown, ops: readonly Operation[]): Error | null {
  for (const op of ops) {
    try {
      const [result] = rfcApply(target, [op]);
      if (result) return result;
    } catch (err) {
      if (!(err instanceof TypeError)) throw err;
      return Object.assign(new Error(`can't go below a value that is neither an object nor a list (${op.path})`), { name: 'NotContainerError', path: op.path });
    }
  }
  return null;
}

export function describePatchFailure(err: Error): string {
  if (err.name === 'MissingError') return `can't remove or replace a non-existent object (${(err as Error & { path?: string }).path ?? ''})`;
  return err.message || err.name;
}

/**
 * Parse a Python literal the way ast.literal_eval does for the shapes clients send: a dict or
 * list of strings, numbers, True/False/None (python-magnumclient sends str(dict)).
 */
export function parsePythonLiteral(text: string): unknown {
  let i = 0;
  const s = text;
  const ws = () => {
    while (i < s.length && /\s/.test(s[i])) i++;
  };
  const fail = (what: string): never => {
    throw new Error(`malformed node or string: ${what} at position ${i}`);
  };
  const parseString = (): string => {
    const quote = s[i++];
    let out = '';
    while (i < s.length && s[i] !== quote) {
      if (s[i] === '\\') {
        const n = s[++i];
        const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"' };
        out += map[n] ?? `\\${n}`;
        i++;
      } else out += s[i++];
    }
    if (s[i] !== quote) fail('unterminated string');
    i++;
    return out;
  };
  const parseValue = (): unknown => {
    ws();
    const c = s[i];
    if (c === '{') {
      i++;
      const obj: Record<string, unknown> = {};
      ws();
      if (s[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        const k = parseValue();
        if (typeof k !== 'string' && typeof k !== 'number') fail('dict key');
        ws();
        if (s[i++] !== ':') fail("expected ':'");
        obj[String(k)] = parseValue();
        ws();
        if (s[i] === ',') {
          i++;
          ws();
          if (s[i] === '}') {
            i++;
            return obj;
          }
          continue;
        }
        if (s[i] === '}') {
          i++;
          return obj;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const arr: unknown[] = [];
      ws();
      if (s[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(parseValue());
        ws();
        if (s[i] === ',') {
          i++;
          ws();
          if (s[i] === ']') {
            i++;
            return arr;
          }
          continue;
        }
        if (s[i] === ']') {
          i++;
          return arr;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === "'" || c === '"') return parseString();
    const m = /^(True|False|None|[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)/.exec(s.slice(i));
    if (!m) return fail('unexpected input');
    i += m[0].length;
    if (m[0] === 'True') return true;
    if (m[0] === 'False') return false;
    if (m[0] === 'None') return null;
    return Number(m[0]);
  };
  const v = parseValue();
  ws();
  if (i !== s.length) fail('trailing characters');
  return v;
}
