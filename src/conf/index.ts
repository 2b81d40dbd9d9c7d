import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import ini from 'ini';
import { SCHEMA, type Config, type OptionSpec } from './options.ts';

export type { Config } from './options.ts';

export class ConfigError extends Error {}

type Raw = Record<string, Record<string, string>>;

function coerce(section: string, name: string, spec: OptionSpec, raw: string): unknown {
  const where = `[${section}] ${name}`;
  switch (spec.type) {
    case 'int': {
      if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(`${where}: expected an integer, got '${raw}'`);
      const n = Number(raw);
      if (spec.min !== undefined && n < spec.min) throw new ConfigError(`${where}: must be >= ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) throw new ConfigError(`${where}: must be <= ${spec.max}`);
      return n;
    }
    case 'float': {
      const n = Number(raw);
      if (Number.isNaN(n)) throw new ConfigError(`${where}: expected a number, got '${raw}'`);
      return n;
    }
    case 'bool': {
      const v = raw.trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(v)) return true;
      if (['false', '0', 'no', 'off'].includes(v)) return false;
      throw new ConfigError(`${where}: expected a boolean, got '${raw}'`);
    }
    case 'list':
      return raw.split(',').map((s) => s.trim()).filter(Boolean);
    default:
      if (spec.choices && !spec.choices.includes(raw)) throw new ConfigError(`${where}: must be one of ${spec.choices.join(', ')}`);
      return raw;
  }
}

/** Merge config files (later wins), then MAGNUM__SECTION__OPTION environment variables, then overrides. */
export function loadConfig(opts: { files?: string[]; env?: NodeJS.ProcessEnv; defaults?: Raw; overrides?: Raw } = {}): Config {
  const layers: Raw[] = [];
  if (opts.defaults) layers.push(opts.defaults);
  for (const file of opts.files ?? []) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
    }
    layers.push(ini.parse(text) as Raw);
  }
  const envLayer: Raw = {};
  for (const [key, value] of Object.entries(opts.env ?? process.env)) {
    const m = /^MAGNUM__([A-Za-z_]+?)__([A-Za-z0-9_]+)$/.exec(key);
    if (!m || value === undefined) continue;
    const section = m[1] === 'DEFAULT' ? 'DEFAULT' : m[1].toLowerCase();
    (envLayer[section] ??= {})[m[2].toLowerCase()] = value;
  }
  layers.push(envLayer);
  if (opts.overrides) layers.push(opts.overrides);

  const out: Record<string, Record<string, unknown>> = {};
  for (const [section, options] of Object.entries(SCHEMA)) {
    const values: Record<string, unknown> = {};
    for (const [name, spec] of Object.entries(options as Record<string, OptionSpec>)) {
      let raw: string | undefined;
      for (const layer of layers) {
        const v = layer[section]?.[name];
        if (v !== undefined && v !== null) raw = typeof v === 'string' ? v : String(v);
      }
      values[name] = raw === undefined ? spec.default : coerce(section, name, spec, raw);
    }
    if (section === 'DEFAULT' && !values.host) values.host = hostname();
    out[section] = Object.freeze(values);
  }
  return Object.freeze(out) as unknown as Config;
}

/** `--config-file PATH` (repeatable) from argv, as Magnum's oslo.config takes it. */
export function configFilesFromArgv(argv: string[]): string[] {
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--config-file') files.push(argv[++i]);
    else if (a.startsWith('--config-file=')) files.push(a.slice('--config-file='.length));
  }
  return files;
}

/** The sample file, generated from the schema. */
export function renderSample(): string {
  const lines = ['# magnum.conf sample, generated from src/conf/options.ts (bin/magnum-config-sample).', ''];
  for (const [section, options] of Object.entries(SCHEMA)) {
    lines.push(`[${section}]`, '');
    for (const [name, spec] of Object.entries(options as Record<string, OptionSpec>)) {
      lines.push(`# ${spec.help} (${spec.type}${spec.choices ? `; one of ${spec.choices.join(', ')}` : ''})`);
      const d = spec.default;
      const shown = d === null ? '<None>' : Array.isArray(d) ? d.join(',') : String(d);
      lines.push(`#${name} = ${shown}`, '');
    }
  }
  return lines.join('\n');
}
