// Output of show and list commands in the formats of the OpenStack client (cliff): table, json,
// yaml, value and shell, with -c to pick columns and --fit-width / --max-width to fit a table to
// the terminal. Table and value output print values the way Python's str() does, so they read
// exactly as `openstack coe` prints them; json and yaml keep the JSON types.
import { Command, Option } from 'commander';
import { stringify as yamlStringify } from 'yaml';
import { UsageError } from './errors.ts';
import { pyStr } from './python-str.ts';

export const FORMATS = ['table', 'json', 'yaml', 'value', 'shell'] as const;
export type Format = (typeof FORMATS)[number];

export interface OutputOptions {
  format: Format;
  columns: string[];
  fitWidth: boolean;
  maxWidth: number;
  noindent: boolean;
  prefix: string;
  printEmpty: boolean;
  sortColumns: string[];
  sortDescending: boolean;
}

export interface Writer {
  write(s: string): unknown;
  columns?: number;
  isTTY?: boolean;
}

const collect = (v: string, prev: string[]) => [...prev, v];

/** Adds cliff's output options to a show (`one`) or list (`list`) command. */
export function withOutputOptions(cmd: Command, kind: 'one' | 'list'): Command {
  cmd
    .addOption(new Option('-f, --format <format>', 'output format').choices(FORMATS as unknown as string[]).default('table'))
    .option('-c, --column <column>', 'show only this column (repeat for several)', collect, [] as string[])
    .option('--fit-width', 'fit the table to the terminal width (also CLIFF_FIT_WIDTH=1)')
    .option('--max-width <n>', 'maximum table width, <1 to disable (also CLIFF_MAX_TERM_WIDTH)')
    .option('--noindent', 'json: no indentation')
    .option('--print-empty', 'table: print an empty table when there is nothing to show');
  if (kind === 'one') cmd.option('--prefix <prefix>', 'shell: prefix for the variable names', '');
  if (kind === 'list') {
    cmd
      .option('--sort-column <column>', 'sort by this column (repeat for several)', collect, [] as string[])
      .option('--sort-ascending', 'sort ascending (the default)')
      .option('--sort-descending', 'sort descending');
  }
  return cmd;
}

export function outputOptions(opts: Record<string, any>, env: NodeJS.ProcessEnv = process.env): OutputOptions {
  const maxWidth = opts.maxWidth !== undefined ? Number(opts.maxWidth) : Number(env.CLIFF_MAX_TERM_WIDTH ?? 0);
  if (!Number.isInteger(maxWidth)) throw new UsageError(`--max-width: not an integer: ${opts.maxWidth}`);
  if (opts.format === 'shell' && opts.prefix === undefined) throw new UsageError('-f shell is only available for show commands');
  return {
    format: (opts.format ?? 'table') as Format,
    columns: opts.column ?? [],
    fitWidth: Boolean(opts.fitWidth) || env.CLIFF_FIT_WIDTH === '1',
    maxWidth,
    noindent: Boolean(opts.noindent),
    prefix: opts.prefix ?? '',
    printEmpty: Boolean(opts.printEmpty),
    sortColumns: opts.sortColumn ?? [],
    sortDescending: Boolean(opts.sortDescending),
  };
}

/** cliff's column selection: keep the -c columns that exist; none at all is an error. */
function selectColumns(columns: readonly string[], wanted: readonly string[]): number[] {
  if (!wanted.length) return columns.map((_, i) => i);
  const idx = wanted.map((w) => columns.indexOf(w)).filter((i) => i >= 0);
  if (!idx.length) {
    throw new UsageError(`No recognized column names in ${JSON.stringify(wanted)}. Recognized columns are ${JSON.stringify(columns)}.`);
  }
  return idx;
}

/** One object, as `Field | Value` rows (or json/yaml/value/shell). */
export function printOne(out: Writer, columns: readonly string[], values: readonly unknown[], o: OutputOptions): void {
  const idx = selectColumns(columns, o.columns);
  const cols = idx.map((i) => columns[i]);
  const vals = idx.map((i) => values[i]);
  switch (o.format) {
    case 'json':
      out.write(`${JSON.stringify(Object.fromEntries(cols.map((c, i) => [c, vals[i]])), null, o.noindent ? undefined : 2)}\n`);
      return;
    case 'yaml':
      out.write(yamlStringify(Object.fromEntries(cols.map((c, i) => [c, vals[i] ?? null])), { indentSeq: false }));
      return;
    case 'value':
      for (const v of vals) out.write(`${pyStr(v)}\n`);
      return;
    case 'shell':
      for (let i = 0; i < cols.length; i++) {
        out.write(`${o.prefix}${cols[i].replace(/[^a-zA-Z0-9_]/g, '_')}="${pyStr(vals[i]).replace(/"/g, '\\"')}"\n`);
      }
      return;
    case 'table':
      out.write(`${renderTable(['Field', 'Value'], cols.map((c, i) => [c, vals[i]]), { align: ['l', 'l'], width: tableWidth(out, o), minWidth: 16 })}\n`);
  }
}

/** A Python-style two-column `Property | Value` table of a whole object (python-magnumclient's print_dict). */
export function printDict(out: Writer, obj: Record<string, unknown>, o: OutputOptions): void {
  if (o.format !== 'table') {
    printOne(out, Object.keys(obj), Object.values(obj), o);
    return;
  }
  const keys = Object.keys(obj);
  const idx = selectColumns(keys, o.columns);
  const rows = idx.map((i) => {
    const v = obj[keys[i]];
    return [keys[i], v === null || v === undefined ? '-' : Array.isArray(v) ? pyStr(v.map((x) => pyStr(x))) : isObject(v) ? pyStr(keysAndValuesToStrings(v)) : v];
  });
  out.write(`${renderTable(['Property', 'Value'], rows, { align: ['l', 'l'], width: tableWidth(out, o), minWidth: 16 })}\n`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function keysAndValuesToStrings(v: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, isObject(x) ? keysAndValuesToStrings(x) : pyStr(x)]));
}

/** Rows of objects as a table (or json/yaml/value); `columns` are also the keys read from each row. */
export function printList(out: Writer, columns: readonly string[], rows: readonly (readonly unknown[])[], o: OutputOptions): void {
  const idx = selectColumns(columns, o.columns);
  const cols = idx.map((i) => columns[i]);
  let data = rows.map((r) => idx.map((i) => r[i]));
  if (o.sortColumns.length) data = sortRows(cols, data, o.sortColumns, o.sortDescending);
  switch (o.format) {
    case 'json': {
      const items = data.map((r) => Object.fromEntries(cols.map((c, i) => [c, r[i]])));
      out.write(`${JSON.stringify(items, null, o.noindent ? undefined : 2)}\n`);
      return;
    }
    case 'yaml':
      if (!data.length) out.write('[]\n');
      else out.write(yamlStringify(data.map((r) => Object.fromEntries(cols.map((c, i) => [c, r[i] ?? null]))), { indentSeq: false }));
      return;
    case 'value':
      for (const r of data) out.write(`${r.map(pyStr).join(' ')}\n`);
      return;
    case 'shell':
      throw new UsageError('-f shell is only available for show commands');
    case 'table': {
      if (!data.length && !o.printEmpty) {
        out.write('\n');
        return;
      }
      const align = cols.map((_, i) => (data.length && typeof data[0][i] === 'number' ? 'r' : 'l') as 'l' | 'r');
      out.write(`${renderTable(cols, data, { align, width: tableWidth(out, o), minWidth: 8 })}\n`);
    }
  }
}

function sortRows(cols: string[], data: unknown[][], by: string[], descending: boolean): unknown[][] {
  const keys = by.map((b) => cols.indexOf(b)).filter((i) => i >= 0);
  const cmp = (a: unknown, b: unknown): number => {
    if (a === b) return 0;
    if (a === null || a === undefined) return -1;
    if (b === null || b === undefined) return 1;
    if (typeof a === 'number' && typeof b === 'number') return a - b;
    return pyStr(a) < pyStr(b) ? -1 : pyStr(a) > pyStr(b) ? 1 : 0;
  };
  const sorted = [...data].sort((x, y) => {
    for (const k of keys) {
      const c = cmp(x[k], y[k]);
      if (c) return c;
    }
    return 0;
  });
  return descending ? sorted.reverse() : sorted;
}

/** The width to fit a table into: --max-width, else with --fit-width the terminal's (or $COLUMNS). */
function tableWidth(out: Writer, o: OutputOptions): number {
  if (o.maxWidth > 0) return o.maxWidth;
  if (!o.fitWidth) return 0;
  return out.columns ?? (Number(process.env.COLUMNS) || 0);
}

// ---- the table renderer (prettytable's look, cliff's column shrinking) ---------------------------

function cellText(v: unknown): string {
  const s = pyStr(v);
  return s.replace(/\r\n/g, '\n').replace(/\r/g, ' ');
}

function displayWidth(s: string): number {
  return [...s].length;
}

/** Wraps one line of text to `width` at spaces when it can, mid-word when it must. */
function wrapLine(line: string, width: number): string[] {
  if (width <= 0 || displayWidth(line) <= width) return [line];
  const out: string[] = [];
  let rest = line;
  while (displayWidth(rest) > width) {
    const chars = [...rest];
    let cut = chars.slice(0, width + 1).lastIndexOf(' ');
    if (cut <= 0) cut = width;
    out.push(chars.slice(0, cut).join('').trimEnd());
    rest = chars.slice(cut).join('').replace(/^ /, '');
  }
  out.push(rest);
  return out;
}

export function renderTable(
  header: readonly string[],
  rows: readonly (readonly unknown[])[],
  opts: { align: readonly ('l' | 'r')[]; width?: number; minWidth?: number },
): string {
  const text = rows.map((r) => r.map(cellText));
  const natural = header.map((h, i) => Math.max(displayWidth(h), ...text.flatMap((r) => r[i].split('\n').map(displayWidth))));
  const widths = fitWidths(natural, opts.width ?? 0, opts.minWidth ?? 0);
  const border = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const line = (cells: string[][]) => {
    const height = Math.max(1, ...cells.map((c) => c.length));
    const out: string[] = [];
    for (let k = 0; k < height; k++) {
      out.push(`|${cells.map((c, i) => {
        const s = c[k] ?? '';
        const pad = ' '.repeat(Math.max(0, widths[i] - displayWidth(s)));
        return ` ${opts.align[i] === 'r' ? pad + s : s + pad} `;
      }).join('|')}|`);
    }
    return out;
  };
  const wrap = (cell: string, i: number) => cell.split('\n').flatMap((l) => (widths[i] < natural[i] ? wrapLine(l, widths[i]) : [l]));
  const lines = [border, ...line(header.map((h, i) => wrap(h, i))), border];
  for (const r of text) lines.push(...line(r.map((c, i) => wrap(c, i))));
  lines.push(border);
  return lines.join('\n');
}

/** cliff's _assign_max_widths: shrink the columns wider than an equal share, never below minWidth. */
function fitWidths(natural: number[], termWidth: number, minWidth: number): number[] {
  const total = natural.reduce((a, w) => a + w + 3, 1);
  if (termWidth <= 0 || total <= termWidth) return natural;
  const usable = Math.max(0, termWidth - 1 - 3 * natural.length);
  const optimal = Math.floor(usable / natural.length);
  let remaining = usable;
  const shrink: number[] = [];
  natural.forEach((w, i) => (w <= optimal ? (remaining -= w) : shrink.push(i)));
  if (!shrink.length) return natural;
  const each = Math.floor(remaining / shrink.length);
  const widths = [...natural];
  for (const i of shrink.slice(0, -1)) {
    widths[i] = Math.min(natural[i], Math.max(minWidth, each));
    remaining -= each;
  }
  const last = shrink[shrink.length - 1];
  widths[last] = Math.min(natural[last], Math.max(minWidth, remaining));
  return widths;
}
