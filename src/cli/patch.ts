// The argument conventions of python-magnumclient, reproduced exactly: `--labels` parsing and the
// JSON-Patch built from `<op> <path=value>...` (reference client-calls.md §1.5).
import { UsageError } from './errors.ts';
import { pyStr } from './python-str.ts';

/**
 * format_labels(): repeated `--labels k=v`, or one `--labels k1=v1,k2=v2` (or `;`-separated);
 * a key given twice gets its values joined with a comma.
 */
export function parseLabels(args: readonly string[] | undefined): Record<string, string> {
  if (!args || !args.length) return {};
  let items = [...args];
  if (items.length === 1 && (items[0].match(/=/g) ?? []).length > 1) items = items[0].replace(/;/g, ',').split(',');
  const labels: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq < 0) throw new UsageError(`labels must be a list of KEY=VALUE not ${item}`);
    const k = item.slice(0, eq);
    const v = item.slice(eq + 1);
    labels[k] = k in labels ? `${labels[k]},${v}` : v;
  }
  return labels;
}

export interface PatchOp {
  op: 'add' | 'replace' | 'remove';
  path: string;
  value?: unknown;
}

function jsonOrString(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

/** args_array_to_patch(): one operation per PATH=VALUE, values JSON-decoded when they parse. */
export function buildPatch(op: string, attributes: readonly string[]): PatchOp[] {
  if (op !== 'add' && op !== 'replace' && op !== 'remove') throw new UsageError(`Unknown PATCH operation: ${op} (use add, replace or remove)`);
  return attributes.map((raw) => {
    const attr = raw.startsWith('/') ? raw : `/${raw}`;
    if (op === 'remove') return { op, path: attr };
    const eq = attr.indexOf('=');
    if (eq < 0) throw new UsageError(`Attributes must be a list of PATH=VALUE not "${attr}"`);
    const path = attr.slice(0, eq);
    const value = jsonOrString(attr.slice(eq + 1));
    if (path === '/labels' || path === '/health_status_reason') {
      // magnumclient sends the Python str() of the label dict; the API parses it as a literal.
      return { op, path, value: pyStr(parseLabels([typeof value === 'string' ? value : pyStr(value)])) };
    }
    return { op, path, value };
  });
}
