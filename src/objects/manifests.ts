// Manifests of workload objects, parsed and validated strictly: every problem is a 400
// "Invalid manifest: <field>: <what is wrong>".
//
// Swarm services (COE swarm-mode) use a Compose-style service definition, the format Docker users
// know, as YAML or JSON text or as a JSON object:
//
//   image: magnum-test/busybox:latest      # required
//   command: ["httpd", "-f", "-p", "80"]    # or a string, split like a shell does
//   entrypoint: ...                         # same forms
//   replicas: 3                             # shorthand of deploy.replicas (default 1)
//   ports: ["127.0.0.1:8080:80", "8081:81", "80", {target: 80, published: 8082, mode: host}]
//   environment: {A: "1"}                   # or ["A=1"]
//   labels: {k: v}                          # container labels (Compose); or ["k=v"]
//   constraints: ["node.role==worker"]      # shorthand of deploy.placement.constraints
//   init: true
//   stop_grace_period: 2s
//   working_dir: /www
//   user: nobody
//   deploy:
//     replicas: 3
//     labels: {k: v}                        # service labels
//     placement: {constraints: [...]}
//     update_config: {parallelism: 1, delay: 0s, order: stop-first, failure_action: pause, monitor: 5s}
//
// A Compose file with exactly one service ({version?, services: {NAME: {...}}}) is accepted as
// well; NAME is then the service's name. The normalised form (what the API shows as `manifest`
// and what PATCH works on) is the single-service form with `deploy` filled in and ports in the long
// syntax.
//
// Kubernetes objects (COE kubernetes) use Kubernetes manifests, as Magnum 2015 did: a Pod needs
// metadata.name and spec.containers, a Service metadata.name and spec.ports.
import { ShellSplitError, shellSplit as splitCommandLine } from './container.ts';
import { Parser as YamlParser, parse as parseYaml } from 'yaml';
import { E, MagnumError } from '../common/errors.ts';

export class ManifestError extends Error {}

const bad = (path: string, msg: string): never => {
  throw new ManifestError(path ? `${path}: ${msg}` : msg);
};

/** Turns a ManifestError into Magnum's 400. */
export function manifestError(err: unknown): MagnumError {
  if (err instanceof ManifestError) return E.Invalid(`Invalid manifest: ${err.message}`);
  if (err instanceof MagnumError) return err;
  return E.Invalid(`Invalid manifest: ${(err as Error)?.message ?? String(err)}`);
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const show = (v: unknown): string => JSON.stringify(v) ?? String(v);
const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a mapping' : `a ${typeof v}`);

/** How deep a manifest may nest (a Kubernetes Deployment with env from secrets is about 12 levels). */
export const MAX_MANIFEST_DEPTH = 64;

/**
 * The nesting depth of a YAML/JSON text, read from yaml's syntax tree, which is built without
 * recursion. The composer that turns that tree into objects recurses once per level: a text of
 * thousands of nested `[` or `- ` would exhaust the stack there, and where the overflow lands
 * inside V8's regular-expression compiler the process aborts instead of throwing. So the depth is
 * checked first, without recursion.
 */
function yamlDepth(text: string): number {
  let max = 0;
  for (const token of new YamlParser().parse(text)) {
    const stack: [unknown, number][] = [[token, 0]];
    while (stack.length) {
      const [node, depth] = stack.pop()!;
      if (depth > max) max = depth;
      if (max > MAX_MANIFEST_DEPTH) return max;
      if (!node || typeof node !== 'object') continue;
      const { items, value } = node as { items?: { key?: unknown; value?: unknown }[]; value?: unknown };
      if (Array.isArray(items)) {
        for (const item of items) {
          if (item.key) stack.push([item.key, depth + 1]);
          if (item.value) stack.push([item.value, depth + 1]);
        }
      }
      if (value && typeof value === 'object') stack.push([value, depth + 1]);
    }
  }
  return max;
}

/** The manifest as given: a YAML or JSON text, or an already parsed JSON object. */
export function parseManifestDocument(raw: unknown): Record<string, unknown> {
  let doc: unknown = raw;
  if (typeof raw === 'string') {
    if (!raw.trim()) bad('', 'the manifest is empty');
    const depth = yamlDepth(raw);
    if (depth > MAX_MANIFEST_DEPTH) bad('', `nested deeper than ${MAX_MANIFEST_DEPTH} levels`);
    try {
      doc = parseYaml(raw, { prettyErrors: false, maxAliasCount: 50, uniqueKeys: true });
    } catch (err) {
      bad('', `not valid YAML or JSON: ${((err as Error).message ?? String(err)).split('\n')[0]}`);
    }
  }
  if (!isObject(doc)) bad('', `expected a mapping (a YAML or JSON object), got ${typeName(doc)}`);
  return doc as Record<string, unknown>;
}

/** Kubernetes-style manifests carry apiVersion and kind. */
export function isKubernetesManifest(doc: Record<string, unknown>): boolean {
  return 'apiVersion' in doc || 'kind' in doc;
}

// ---- Swarm services (Compose style) ----------------------------------------------------------

export type PortMode = 'ingress' | 'host';
export type PortProtocol = 'tcp' | 'udp' | 'sctp';

export interface PortSpec {
  target: number;
  /** null: a random port on each task's node (mode host). */
  published: number | null;
  /** Ingress ports only: the address the port is published on (null: the cluster's own). */
  host_ip: string | null;
  protocol: PortProtocol;
  mode: PortMode;
}

export interface UpdateConfig {
  parallelism?: number;
  delay?: string;
  order?: 'start-first' | 'stop-first';
  failure_action?: 'pause' | 'continue' | 'rollback';
  monitor?: string;
}

export interface SwarmServiceManifest {
  image: string;
  command?: string[];
  entrypoint?: string[];
  environment: Record<string, string>;
  labels: Record<string, string>;
  ports: PortSpec[];
  init?: boolean;
  stop_grace_period?: string;
  working_dir?: string;
  user?: string;
  deploy: {
    replicas: number;
    labels: Record<string, string>;
    placement: { constraints: string[] };
    update_config: UpdateConfig;
  };
}

export const MAX_REPLICAS = 1000;
/** Swarm service names: what swarmkit accepts, and a DNS label (services resolve each other by name). */
export const SERVICE_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
const IMAGE_RE = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::\d+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;
const DURATION_RE = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/;
const IPV4_RE = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const ENV_KEY_RE = /^[^=\s]+$/;
const LABEL_KEY_RE = /^[^=\s]+$/;
const CONSTRAINT_RE = /^\s*(node\.id|node\.hostname|node\.role|node\.platform\.os|node\.platform\.arch|node\.labels\.[^=!\s]+|engine\.labels\.[^=!\s]+)\s*(==|!=)\s*(\S(?:.*\S)?)\s*$/;

const SERVICE_KEYS = ['name', 'image', 'command', 'entrypoint', 'environment', 'labels', 'ports', 'init', 'stop_grace_period', 'working_dir', 'user', 'deploy', 'replicas', 'constraints'] as const;
const DEPLOY_KEYS = ['replicas', 'labels', 'placement', 'update_config', 'mode'] as const;
const UPDATE_KEYS = ['parallelism', 'delay', 'order', 'failure_action', 'monitor'] as const;
const PORT_KEYS = ['target', 'published', 'host_ip', 'protocol', 'mode'] as const;

function onlyKeys(path: string, obj: Record<string, unknown>, allowed: readonly string[]): void {
  const unknown = Object.keys(obj).filter((k) => !allowed.includes(k));
  if (unknown.length) {
    bad(path ? `${path}.${unknown[0]}` : unknown[0], `unknown field (${path ? `${path} takes` : 'supported fields are'}: ${allowed.join(', ')})`);
  }
}

function str(path: string, v: unknown, opts: { max?: number; re?: RegExp; reText?: string } = {}): string {
  if (typeof v !== 'string') return bad(path, `expected a string, got ${typeName(v)}`);
  if (!v.length) bad(path, 'must not be empty');
  if (opts.max !== undefined && v.length > opts.max) bad(path, `must be at most ${opts.max} characters long`);
  if (opts.re && !opts.re.test(v)) bad(path, `${show(v)} is not ${opts.reText ?? `of the form ${opts.re.source}`}`);
  return v;
}

function int(path: string, v: unknown, min: number, max: number): number {
  let n: number;
  if (typeof v === 'number' && Number.isInteger(v)) n = v;
  else if (typeof v === 'string' && /^\d+$/.test(v.trim())) n = Number(v.trim());
  else return bad(path, `expected an integer, got ${typeName(v)}${typeof v === 'number' || typeof v === 'string' ? ` ${show(v)}` : ''}`);
  if (n < min || n > max) bad(path, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function bool(path: string, v: unknown): boolean {
  if (typeof v !== 'boolean') return bad(path, `expected true or false, got ${typeName(v)}`);
  return v;
}

function duration(path: string, v: unknown): string {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return `${v}s`;
  return str(path, v, { re: DURATION_RE, reText: 'a duration such as 10s, 1m30s or 500ms' });
}

/** Splits a command line the way a POSIX shell does (quotes and backslashes), without expanding anything. */
export function shellSplit(path: string, line: string): string[] {
  try {
    return splitCommandLine(line);
  } catch (err) {
    if (!(err instanceof ShellSplitError)) throw err;
    return bad(path, err.quote === "'" ? 'unterminated single quote' : err.quote === '"' ? 'unterminated double quote' : 'a backslash at the end');
  }
}

/** Quotes arguments for a shell-like splitter (docker's --args, --entrypoint). */
export function shellJoin(args: readonly string[]): string {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function commandList(path: string, v: unknown): string[] {
  let list: string[];
  if (typeof v === 'string') list = shellSplit(path, v);
  else if (Array.isArray(v)) {
    list = v.map((a, i) => {
      if (typeof a === 'string') return a;
      if (typeof a === 'number' || typeof a === 'boolean') return String(a);
      return bad(`${path}[${i}]`, `expected a string, got ${typeName(a)}`);
    });
  } else return bad(path, `expected a string or a list of strings, got ${typeName(v)}`);
  if (!list.length) bad(path, 'must not be empty');
  return list;
}

function scalarString(path: string, v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean') return String(v);
  return bad(path, `expected a string, number or boolean, got ${typeName(v)}`);
}

/** A mapping, or a list of KEY=VALUE strings (Compose accepts both). */
function keyValues(path: string, v: unknown, keyRe: RegExp, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(v)) {
    v.forEach((item, i) => {
      if (typeof item !== 'string') bad(`${path}[${i}]`, `expected a "KEY=VALUE" string, got ${typeName(item)}`);
      const s = item as string;
      const eq = s.indexOf('=');
      if (eq <= 0) bad(`${path}[${i}]`, `${show(s)} is not of the form KEY=VALUE`);
      const k = s.slice(0, eq);
      if (!keyRe.test(k)) bad(`${path}[${i}]`, `${show(k)} is not a valid ${what} name`);
      if (k in out) bad(`${path}[${i}]`, `${k} is given twice`);
      out[k] = s.slice(eq + 1);
    });
    return out;
  }
  if (!isObject(v)) return bad(path, `expected a mapping or a list of "KEY=VALUE" strings, got ${typeName(v)}`);
  for (const [k, val] of Object.entries(v)) {
    if (!keyRe.test(k)) bad(path, `${show(k)} is not a valid ${what} name`);
    if (val === null || val === undefined) bad(`${path}.${k}`, 'has no value (there is no local environment to take it from)');
    out[k] = scalarString(`${path}.${k}`, val);
  }
  return out;
}

function portNumber(path: string, v: unknown): number {
  return int(path, v, 1, 65535);
}

function protocol(path: string, v: unknown): PortProtocol {
  const p = typeof v === 'string' ? v.toLowerCase() : v;
  if (p !== 'tcp' && p !== 'udp' && p !== 'sctp') return bad(path, `must be tcp, udp or sctp, got ${show(v)}`);
  return p;
}

/** "[HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL]", a number, or the long syntax. */
function port(path: string, v: unknown): PortSpec {
  if (typeof v === 'number') return { target: portNumber(path, v), published: null, host_ip: null, protocol: 'tcp', mode: 'host' };
  if (typeof v === 'string') {
    const m = /^(?:(?:(\d{1,3}(?:\.\d{1,3}){3}):)?(\d+):)?(\d+)(?:\/(\w+))?$/.exec(v.trim());
    if (!m) {
      if (/\d+-\d+/.test(v)) bad(path, `${show(v)}: port ranges are not supported; list each port`);
      if (v.includes('[') || (v.match(/:/g) ?? []).length > 2) bad(path, `${show(v)}: only IPv4 host addresses are supported`);
      bad(path, `${show(v)} is not of the form [HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL]`);
    }
    const [, hostIp, published, target, proto] = m!;
    if (hostIp !== undefined && !IPV4_RE.test(hostIp)) bad(path, `${show(hostIp)} is not an IPv4 address`);
    return {
      target: portNumber(path, target),
      published: published === undefined ? null : portNumber(path, published),
      host_ip: hostIp ?? null,
      protocol: proto === undefined ? 'tcp' : protocol(path, proto),
      mode: published === undefined ? 'host' : 'ingress',
    };
  }
  if (!isObject(v)) return bad(path, `expected "[HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL]" or a mapping, got ${typeName(v)}`);
  onlyKeys(path, v, PORT_KEYS);
  if (v.target === undefined || v.target === null) bad(`${path}.target`, 'is required');
  const target = portNumber(`${path}.target`, v.target);
  const published = v.published === undefined || v.published === null ? null : portNumber(`${path}.published`, v.published);
  const hostIp = v.host_ip === undefined || v.host_ip === null ? null : str(`${path}.host_ip`, v.host_ip, { re: IPV4_RE, reText: 'an IPv4 address' });
  const proto = v.protocol === undefined || v.protocol === null ? 'tcp' : protocol(`${path}.protocol`, v.protocol);
  let mode: PortMode;
  if (v.mode === undefined || v.mode === null) mode = published === null ? 'host' : 'ingress';
  else if (v.mode === 'ingress' || v.mode === 'host') mode = v.mode;
  else return bad(`${path}.mode`, `must be ingress or host, got ${show(v.mode)}`);
  return { target, published, host_ip: hostIp, protocol: proto, mode };
}

function checkPort(path: string, p: PortSpec): void {
  if (p.mode === 'host' && p.host_ip !== null) bad(`${path}.host_ip`, 'cannot be set with mode host (such a port is published on each node\'s own address)');
  if (p.mode === 'ingress') {
    if (p.published === null) bad(`${path}.published`, 'is required with mode ingress');
    if (p.protocol !== 'tcp') bad(`${path}.protocol`, `${p.protocol} ports cannot be published on the cluster's address (there is no routing mesh here); use mode host`);
    if (p.published! < 1024) bad(`${path}.published`, `ports below 1024 are not published on the cluster's address, got ${p.published}`);
  }
}

function constraints(path: string, v: unknown): string[] {
  if (!Array.isArray(v)) return bad(path, `expected a list of strings, got ${typeName(v)}`);
  return v.map((c, i) => {
    const s = str(`${path}[${i}]`, c);
    const m = CONSTRAINT_RE.exec(s);
    if (!m) {
      bad(`${path}[${i}]`, `${show(s)} is not a placement constraint: use node.id, node.hostname, node.role, node.platform.os, node.platform.arch, node.labels.<label> or engine.labels.<label> with == or !=`);
    }
    if (m![1] === 'node.role' && !['manager', 'worker'].includes(m![3])) bad(`${path}[${i}]`, `node.role is manager or worker, got ${show(m![3])}`);
    return `${m![1]}${m![2]}${m![3]}`;
  });
}

function updateConfig(path: string, v: unknown): UpdateConfig {
  if (!isObject(v)) return bad(path, `expected a mapping, got ${typeName(v)}`);
  onlyKeys(path, v, UPDATE_KEYS);
  const out: UpdateConfig = {};
  if (v.parallelism !== undefined && v.parallelism !== null) out.parallelism = int(`${path}.parallelism`, v.parallelism, 0, MAX_REPLICAS);
  if (v.delay !== undefined && v.delay !== null) out.delay = duration(`${path}.delay`, v.delay);
  if (v.monitor !== undefined && v.monitor !== null) out.monitor = duration(`${path}.monitor`, v.monitor);
  if (v.order !== undefined && v.order !== null) {
    if (v.order !== 'start-first' && v.order !== 'stop-first') bad(`${path}.order`, `must be start-first or stop-first, got ${show(v.order)}`);
    out.order = v.order as UpdateConfig['order'];
  }
  if (v.failure_action !== undefined && v.failure_action !== null) {
    if (!['pause', 'continue', 'rollback'].includes(v.failure_action as string)) bad(`${path}.failure_action`, `must be pause, continue or rollback, got ${show(v.failure_action)}`);
    out.failure_action = v.failure_action as UpdateConfig['failure_action'];
  }
  return out;
}

export interface ParsedSwarmService {
  /** The name the manifest gives (its `name`, or the Compose file's service key), if any. */
  name: string | null;
  manifest: SwarmServiceManifest;
}

/**
 * A Compose-style service definition → the normalised manifest. Throws ManifestError.
 * `raw` is the manifest text or object.
 */
export function parseSwarmService(raw: unknown): ParsedSwarmService {
  let doc = parseManifestDocument(raw);
  let name: string | null = null;
  if ('services' in doc) {
    onlyKeys('', doc, ['version', 'services']);
    if (!isObject(doc.services)) bad('services', `expected a mapping of one service, got ${typeName(doc.services)}`);
    const entries = Object.entries(doc.services as Record<string, unknown>);
    if (entries.length !== 1) bad('services', `a manifest defines exactly one service, got ${entries.length}`);
    name = entries[0][0];
    if (!isObject(entries[0][1])) bad(`services.${name}`, `expected a mapping, got ${typeName(entries[0][1])}`);
    doc = entries[0][1] as Record<string, unknown>;
    if ('name' in doc) bad(`services.${name}.name`, 'the service is named by its key');
    return { name: str('services', name, { re: SERVICE_NAME_RE, reText: 'a valid service name (letters, digits, _ . -, at most 63, starting with a letter or digit)' }), manifest: serviceBody(doc, `services.${name}.`) };
  }
  if (doc.name !== undefined && doc.name !== null) name = str('name', doc.name, { re: SERVICE_NAME_RE, reText: 'a valid service name (letters, digits, _ . -, at most 63, starting with a letter or digit)' });
  return { name, manifest: serviceBody(doc, '') };
}

function serviceBody(doc: Record<string, unknown>, prefix: string): SwarmServiceManifest {
  const p = (k: string) => `${prefix}${k}`;
  onlyKeys(prefix.replace(/\.$/, ''), doc, SERVICE_KEYS);
  if (doc.image === undefined || doc.image === null) bad(p('image'), 'is required');
  const image = str(p('image'), doc.image, { max: 512, re: IMAGE_RE, reText: 'a valid image reference ([registry/]name[:tag][@digest])' });
  const m: SwarmServiceManifest = {
    image,
    environment: {},
    labels: {},
    ports: [],
    deploy: { replicas: 1, labels: {}, placement: { constraints: [] }, update_config: {} },
  };
  if (doc.command !== undefined && doc.command !== null) m.command = commandList(p('command'), doc.command);
  if (doc.entrypoint !== undefined && doc.entrypoint !== null) m.entrypoint = commandList(p('entrypoint'), doc.entrypoint);
  if (doc.environment !== undefined && doc.environment !== null) m.environment = keyValues(p('environment'), doc.environment, ENV_KEY_RE, 'variable');
  if (doc.labels !== undefined && doc.labels !== null) m.labels = keyValues(p('labels'), doc.labels, LABEL_KEY_RE, 'label');
  if (doc.init !== undefined && doc.init !== null) m.init = bool(p('init'), doc.init);
  if (doc.stop_grace_period !== undefined && doc.stop_grace_period !== null) m.stop_grace_period = duration(p('stop_grace_period'), doc.stop_grace_period);
  if (doc.working_dir !== undefined && doc.working_dir !== null) m.working_dir = str(p('working_dir'), doc.working_dir, { max: 4096, re: /^\//, reText: 'an absolute path' });
  if (doc.user !== undefined && doc.user !== null) m.user = str(p('user'), typeof doc.user === 'number' ? String(doc.user) : doc.user, { max: 255, re: /^[^\s:]+(?::[^\s:]+)?$/, reText: 'a user[:group]' });
  if (doc.ports !== undefined && doc.ports !== null) {
    if (!Array.isArray(doc.ports)) bad(p('ports'), `expected a list, got ${typeName(doc.ports)}`);
    m.ports = (doc.ports as unknown[]).map((v, i) => {
      const spec = port(p(`ports[${i}]`), v);
      checkPort(p(`ports[${i}]`), spec);
      return spec;
    });
    const seen = new Map<string, number>();
    m.ports.forEach((spec, i) => {
      if (spec.published === null) return;
      const key = `${spec.published}/${spec.protocol}/${spec.mode}`;
      if (seen.has(key)) bad(p(`ports[${i}]`), `published port ${spec.published}/${spec.protocol} is also given by ports[${seen.get(key)}]`);
      seen.set(key, i);
    });
  }
  let replicas: number | undefined;
  let cons: string[] | undefined;
  if (doc.replicas !== undefined && doc.replicas !== null) replicas = int(p('replicas'), doc.replicas, 0, MAX_REPLICAS);
  if (doc.constraints !== undefined && doc.constraints !== null) cons = constraints(p('constraints'), doc.constraints);
  if (doc.deploy !== undefined && doc.deploy !== null) {
    const d = doc.deploy;
    if (!isObject(d)) return bad(p('deploy'), `expected a mapping, got ${typeName(d)}`);
    onlyKeys(p('deploy'), d, DEPLOY_KEYS);
    if (d.mode !== undefined && d.mode !== null && d.mode !== 'replicated') bad(p('deploy.mode'), `only replicated services are supported, got ${show(d.mode)}`);
    if (d.replicas !== undefined && d.replicas !== null) {
      const r = int(p('deploy.replicas'), d.replicas, 0, MAX_REPLICAS);
      if (replicas !== undefined && replicas !== r) bad(p('replicas'), `${replicas} differs from deploy.replicas ${r}`);
      replicas = r;
    }
    if (d.labels !== undefined && d.labels !== null) m.deploy.labels = keyValues(p('deploy.labels'), d.labels, LABEL_KEY_RE, 'label');
    if (d.placement !== undefined && d.placement !== null) {
      if (!isObject(d.placement)) bad(p('deploy.placement'), `expected a mapping, got ${typeName(d.placement)}`);
      const pl = d.placement as Record<string, unknown>;
      onlyKeys(p('deploy.placement'), pl, ['constraints']);
      if (pl.constraints !== undefined && pl.constraints !== null) {
        const c = constraints(p('deploy.placement.constraints'), pl.constraints);
        if (cons !== undefined && JSON.stringify(cons) !== JSON.stringify(c)) bad(p('constraints'), 'differs from deploy.placement.constraints; give one of them');
        cons = c;
      }
    }
    if (d.update_config !== undefined && d.update_config !== null) m.deploy.update_config = updateConfig(p('deploy.update_config'), d.update_config);
  }
  for (const k of Object.keys(m.deploy.labels)) if (k.startsWith('magnum.')) bad(p('deploy.labels'), `${k}: labels starting with magnum. are reserved`);
  m.deploy.replicas = replicas ?? 1;
  m.deploy.placement.constraints = cons ?? [];
  return m;
}

/**
 * The address a cluster publishes its endpoints on: the host of its api_address (the external
 * network's address of the Docker host). Ingress ports are published there.
 */
export function publishAddress(cluster: { api_address: string | null }): string | null {
  if (!cluster.api_address) return null;
  try {
    return new URL(cluster.api_address).hostname.replace(/^\[(.*)\]$/, '$1') || null;
  } catch {
    return null;
  }
}

/** The key of a port's task endpoints ("TARGET/PROTOCOL", LiveState.backends). */
export const backendKey = (p: { target: number; protocol: string }): string => `${p.target}/${p.protocol}`;

/** The published ports reached through the cluster's address (not through each node's). */
export function ingressPorts(m: SwarmServiceManifest): PortSpec[] {
  return m.ports.filter((p) => p.mode === 'ingress');
}

// ---- Kubernetes objects (§12.2 of the architecture reference) --------------------------------

export interface ParsedKubernetesObject {
  name: string;
  labels: Record<string, string>;
  manifest: Record<string, unknown>;
}

const K8S_NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function kubernetesObject(raw: unknown, kind: 'Pod' | 'Service'): { doc: Record<string, unknown>; name: string; labels: Record<string, string>; spec: Record<string, unknown> } {
  const doc = parseManifestDocument(raw);
  if (doc.kind !== undefined && doc.kind !== kind) bad('kind', `expected ${kind}, got ${show(doc.kind)}`);
  if (doc.apiVersion !== undefined && doc.apiVersion !== 'v1') bad('apiVersion', `expected v1, got ${show(doc.apiVersion)}`);
  if (!isObject(doc.metadata)) bad('metadata', doc.metadata === undefined ? 'is required' : `expected a mapping, got ${typeName(doc.metadata)}`);
  const meta = doc.metadata as Record<string, unknown>;
  if (meta.name === undefined || meta.name === null) bad('metadata.name', 'is required');
  const name = str('metadata.name', meta.name, { max: kind === 'Service' ? 63 : 253, re: K8S_NAME_RE, reText: 'a valid Kubernetes name (lower case letters, digits, - and .)' });
  let labels: Record<string, string> = {};
  if (meta.labels !== undefined && meta.labels !== null) {
    if (!isObject(meta.labels)) bad('metadata.labels', `expected a mapping, got ${typeName(meta.labels)}`);
    labels = Object.fromEntries(Object.entries(meta.labels as Record<string, unknown>).map(([k, v]) => [k, typeof v === 'string' ? v : bad(`metadata.labels.${k}`, `expected a string, got ${typeName(v)}`)]));
  }
  if (!isObject(doc.spec)) bad('spec', doc.spec === undefined ? 'is required' : `expected a mapping, got ${typeName(doc.spec)}`);
  return { doc, name, labels, spec: doc.spec as Record<string, unknown> };
}

/** A Pod manifest: metadata.name and spec.containers (each with a name and an image) are required. */
export function parseKubernetesPod(raw: unknown): ParsedKubernetesObject {
  const { doc, name, labels, spec } = kubernetesObject(raw, 'Pod');
  if (spec.containers === undefined || spec.containers === null) bad('spec.containers', 'is required');
  if (!Array.isArray(spec.containers) || spec.containers.length === 0) bad('spec.containers', 'expected a non-empty list of containers');
  (spec.containers as unknown[]).forEach((c, i) => {
    if (!isObject(c)) bad(`spec.containers[${i}]`, `expected a mapping, got ${typeName(c)}`);
    const cc = c as Record<string, unknown>;
    if (cc.name === undefined) bad(`spec.containers[${i}].name`, 'is required');
    str(`spec.containers[${i}].name`, cc.name, { max: 63, re: K8S_NAME_RE, reText: 'a valid container name' });
    if (cc.image === undefined) bad(`spec.containers[${i}].image`, 'is required');
    str(`spec.containers[${i}].image`, cc.image, { max: 512, re: IMAGE_RE, reText: 'a valid image reference' });
  });
  return { name, labels, manifest: { apiVersion: 'v1', kind: 'Pod', ...doc } };
}

/** A Service manifest: metadata.name and spec.ports (each with a port) are required. */
export function parseKubernetesService(raw: unknown): ParsedKubernetesObject {
  const { doc, name, labels, spec } = kubernetesObject(raw, 'Service');
  if (spec.ports === undefined || spec.ports === null) bad('spec.ports', 'is required');
  if (!Array.isArray(spec.ports) || spec.ports.length === 0) bad('spec.ports', 'expected a non-empty list of ports');
  (spec.ports as unknown[]).forEach((pt, i) => {
    if (!isObject(pt)) bad(`spec.ports[${i}]`, `expected a mapping, got ${typeName(pt)}`);
    const pp = pt as Record<string, unknown>;
    if (pp.port === undefined) bad(`spec.ports[${i}].port`, 'is required');
    int(`spec.ports[${i}].port`, pp.port, 1, 65535);
    if (pp.protocol !== undefined && !['TCP', 'UDP', 'SCTP'].includes(pp.protocol as string)) bad(`spec.ports[${i}].protocol`, `must be TCP, UDP or SCTP, got ${show(pp.protocol)}`);
  });
  if (spec.selector !== undefined && spec.selector !== null && !isObject(spec.selector)) bad('spec.selector', `expected a mapping, got ${typeName(spec.selector)}`);
  return { name, labels, manifest: { apiVersion: 'v1', kind: 'Service', ...doc } };
}
