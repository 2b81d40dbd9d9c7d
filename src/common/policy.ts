// Policy enforcement, compatible with oslo.policy's check-string language and Magnum 15's
// default rules (magnum/common/policies/*.py). Check strings are compiled once, when the rules
// are loaded, into plain functions; a check is then a few property reads (no I/O, no parsing).

import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Config } from '../conf/index.ts';
import { IDENTITY, type RequestContext } from './context.ts';
import { E } from './errors.ts';

/** What a check sees of the caller (oslo.context's policy values, as Magnum's to_dict() gives). */
export type Credentials = Readonly<Record<string, unknown>>;
/** A resource as a snake_case dict (a row, a model object); read by key. */
export type Target = object;

type Lookup = (key: string) => unknown;
type CompiledCheck = (target: Lookup, creds: Credentials, rules: RuleTable) => boolean;
type RuleTable = ReadonlyMap<string, CompiledCheck>;

// ---- defaults (Magnum 15.0.1, magnum/common/policies/) ---------------------------------------

const ADMIN_OR_OWNER = 'rule:admin_or_owner';
const ADMIN_API = 'rule:admin_api';
const DENY_CLUSTER_USER = 'rule:deny_cluster_user';
const ADMIN_OR_USER_OR_CLUSTER_USER = 'rule:admin_or_user or rule:cluster_user';

const each = (prefix: string, actions: string[], check: string): [string, string][] =>
  actions.map((a) => [`${prefix}:${a}`, check]);

export const DEFAULT_RULES: Readonly<Record<string, string>> = Object.freeze(Object.fromEntries<string>([
  ['context_is_admin', 'role:admin'],
  ['admin_or_owner', 'is_admin:True or project_id:%(project_id)s'],
  ['admin_api', 'rule:context_is_admin'],
  ['admin_or_user', 'is_admin:True or user_id:%(user_id)s'],
  ['cluster_user', 'user_id:%(trustee_user_id)s'],
  ['deny_cluster_user', 'not domain_id:%(trustee_domain_id)s'],

  ...each('bay', ['create', 'delete', 'detail', 'get', 'get_all', 'update'], DENY_CLUSTER_USER),
  ...each('baymodel', ['create', 'detail', 'get', 'get_all'], DENY_CLUSTER_USER),
  // Ours: Magnum 15 has deny_cluster_user here, so any project's member could rename or delete
  // another project's public baymodel (the lookup shows public templates to everybody). Only its
  // project or an admin may, as for clustertemplate:update/delete; trustees stay denied.
  ...each('baymodel', ['delete', 'update'], `${DENY_CLUSTER_USER} and ${ADMIN_OR_OWNER}`),
  ['baymodel:publish', ADMIN_API],

  ['certificate:create', ADMIN_OR_USER_OR_CLUSTER_USER],
  ['certificate:get', ADMIN_OR_USER_OR_CLUSTER_USER],
  ['certificate:rotate_ca', ADMIN_OR_OWNER],

  ...each('cluster', ['create', 'delete', 'detail', 'get', 'get_all', 'update', 'resize', 'upgrade'], DENY_CLUSTER_USER),
  ...each('cluster', ['delete_all_projects', 'detail_all_projects', 'get_one_all_projects', 'get_all_all_projects',
    'update_all_projects', 'upgrade_all_projects'], ADMIN_API),
  ['cluster:update_health_status', ADMIN_OR_USER_OR_CLUSTER_USER],

  ...each('clustertemplate', ['create', 'detail', 'get', 'get_all'], DENY_CLUSTER_USER),
  ...each('clustertemplate', ['delete', 'update'], ADMIN_OR_OWNER),
  ...each('clustertemplate', ['delete_all_projects', 'detail_all_projects', 'get_one_all_projects',
    'get_all_all_projects', 'update_all_projects', 'publish'], ADMIN_API),

  ...each('federation', ['create', 'delete', 'detail', 'get', 'get_all', 'update'], DENY_CLUSTER_USER),

  ['magnum-service:get_all', ADMIN_API],
  // Our extension: DELETE /v1/clusters/{ident}?force=true removes whatever remains, even when a step fails.
  ['cluster:force_delete', ADMIN_API],

  ...each('nodegroup', ['get', 'get_all', 'create', 'delete', 'update'], ADMIN_OR_OWNER),
  ...each('nodegroup', ['get_all_all_projects', 'get_one_all_projects'], ADMIN_API),

  ...each('quota', ['create', 'delete', 'get_all', 'update'], ADMIN_API),
  ['quota:get', ADMIN_OR_OWNER],

  ['stats:get_all', ADMIN_OR_OWNER],

  // Magnum 2015's containers (/v1/containers), and our image load into a cluster's nodes.
  ...each('container', ['create', 'delete', 'detail', 'get', 'get_all', 'update', 'start', 'stop', 'reboot', 'pause', 'unpause',
    'logs', 'execute'], DENY_CLUSTER_USER),
  ['cluster:load_image', DENY_CLUSTER_USER],

  // Magnum 2015's services and pods (/v1/services, /v1/pods): Swarm services, Kubernetes objects.
  ...each('service', ['create', 'delete', 'detail', 'get', 'get_all', 'update'], DENY_CLUSTER_USER),
  ...each('pod', ['create', 'delete', 'detail', 'get', 'get_all', 'update'], DENY_CLUSTER_USER),
]));

// ---- the check-string language ----------------------------------------------------------------

export class PolicyParseError extends Error {}

/** Python's str() of a value, which is what oslo.policy compares. */
function pyStr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/**
 * `%(key)s` interpolation of the match against the target, compiled. Returns undefined when a key
 * is missing — oslo.policy's KeyError, which makes the check fail. A key whose value is null also
 * fails the check: Python would compare the text 'None' and let, for example, a caller without a
 * domain "match" an unset trustee domain; an absent value must never grant or deny by accident.
 */
function compileTemplate(match: string, checkText: string): (target: Lookup) => string | undefined {
  const parts: (string | { key: string })[] = [];
  let i = 0;
  let literal = '';
  while (i < match.length) {
    const pct = match.indexOf('%', i);
    if (pct < 0) {
      literal += match.slice(i);
      break;
    }
    literal += match.slice(i, pct);
    if (match[pct + 1] === '%') {
      literal += '%';
      i = pct + 2;
      continue;
    }
    const m = /^%\(([^)]*)\)s/.exec(match.slice(pct));
    if (!m) throw new PolicyParseError(`'${checkText}': only %(name)s substitutions are supported`);
    if (literal) parts.push(literal);
    literal = '';
    parts.push({ key: m[1] });
    i = pct + m[0].length;
  }
  if (literal) parts.push(literal);
  if (parts.every((p) => typeof p === 'string')) {
    const text = parts.join('');
    return () => text;
  }
  if (parts.length === 1) {
    const key = (parts[0] as { key: string }).key;
    return (target) => {
      const v = target(key);
      return v === undefined || v === null ? undefined : pyStr(v);
    };
  }
  return (target) => {
    let out = '';
    for (const p of parts) {
      if (typeof p === 'string') out += p;
      else {
        const v = target(p.key);
        if (v === undefined || v === null) return undefined;
        out += pyStr(v);
      }
    }
    return out;
  };
}

/** A Python literal as the kind of a generic check (`'member':%(role)s`, `True:%(x)s`), else undefined. */
function pyLiteral(kind: string): string | undefined {
  const q = /^(['"])(.*)\1$/s.exec(kind);
  if (q) return q[2];
  if (kind === 'True' || kind === 'False' || kind === 'None') return kind;
  if (/^[+-]?\d+$/.test(kind)) return String(BigInt(kind));
  if (/^[+-]?(\d+\.\d*|\.\d+)([eE][+-]?\d+)?$/.test(kind)) return String(Number(kind));
  return undefined;
}

/** oslo.policy GenericCheck._find_in_dict: walk a dotted path, fanning out over lists. */
function findInDict(value: unknown, path: readonly string[], at: number, match: string): boolean {
  if (at === path.length) return match === pyStr(value);
  if (value === null || typeof value !== 'object' || !Object.hasOwn(value, path[at])) return false;
  const next = (value as Record<string, unknown>)[path[at]];
  if (Array.isArray(next)) return next.some((v) => findInDict(v, path, at + 1, match));
  return findInDict(next, path, at + 1, match);
}

const ALWAYS: CompiledCheck = () => true;
const NEVER: CompiledCheck = () => false;

function compileAtom(text: string, refs: Set<string>): CompiledCheck {
  if (text === '@') return ALWAYS;
  if (text === '!') return NEVER;
  const colon = text.indexOf(':');
  if (colon < 0) throw new PolicyParseError(`cannot understand '${text}' (expected kind:match, @ or !)`);
  const kind = text.slice(0, colon);
  const match = text.slice(colon + 1);
  if (kind === 'rule') {
    refs.add(match);
    return (target, creds, rules) => {
      const rule = rules.get(match);
      return rule ? rule(target, creds, rules) : false;
    };
  }
  const value = compileTemplate(match, text);
  if (kind === 'role') {
    return (target, creds) => {
      const wanted = value(target);
      if (wanted === undefined) return false;
      const roles = creds.roles;
      if (!Array.isArray(roles)) return false;
      const w = wanted.toLowerCase();
      for (const r of roles) if (String(r).toLowerCase() === w) return true;
      return false;
    };
  }
  if (kind === 'http' || kind === 'https') throw new PolicyParseError(`'${text}': ${kind} checks are not supported`);
  const literal = pyLiteral(kind);
  if (literal !== undefined) return (target) => value(target) === literal;
  const path = kind.split('.');
  return (target, creds) => {
    const m = value(target);
    return m !== undefined && findInDict(creds, path, 0, m);
  };
}

type Token = { t: '(' | ')' | 'and' | 'or' | 'not' } | { t: 'check'; text: string };

/** oslo.policy's tokenizer: split on whitespace, peel parentheses off the ends of each word. */
function tokenize(rule: string): Token[] {
  const out: Token[] = [];
  for (const word of rule.split(/\s+/)) {
    if (!word) continue;
    const tok = word.replace(/^\(+/, '');
    for (let i = 0; i < word.length - tok.length; i++) out.push({ t: '(' });
    if (!tok) continue;
    const clean = tok.replace(/\)+$/, '');
    const trail = tok.length - clean.length;
    const lowered = clean.toLowerCase();
    if (lowered === 'and' || lowered === 'or' || lowered === 'not') out.push({ t: lowered });
    else if (clean) {
      if (tok.length >= 2 && (tok[0] === '"' || tok[0] === "'") && tok[0] === tok[tok.length - 1]) {
        throw new PolicyParseError(`unexpected quoted string ${tok}`);
      }
      out.push({ t: 'check', text: clean });
    }
    for (let i = 0; i < trail; i++) out.push({ t: ')' });
  }
  return out;
}

/**
 * Parse a check string. Precedence as oslo.policy's reducer gives it: `not` binds to the check
 * (or parenthesised group) after it, then `and`, then `or`. An empty string always passes.
 * Unlike oslo.policy, which logs and fails closed, a string that does not parse is an error:
 * a typo in a policy file must stop the service at start-up, not deny everything silently.
 */
export function compileCheckString(rule: string, refs: Set<string> = new Set()): CompiledCheck {
  if (!rule.trim()) return ALWAYS;
  const tokens = tokenize(rule);
  let pos = 0;
  const fail = (why: string): never => {
    throw new PolicyParseError(`cannot parse '${rule}': ${why}`);
  };
  const parseOr = (): CompiledCheck => {
    const parts = [parseAnd()];
    while (tokens[pos]?.t === 'or') {
      pos++;
      parts.push(parseAnd());
    }
    if (parts.length === 1) return parts[0];
    return (t, c, r) => {
      for (const p of parts) if (p(t, c, r)) return true;
      return false;
    };
  };
  const parseAnd = (): CompiledCheck => {
    const parts = [parseUnary()];
    while (tokens[pos]?.t === 'and') {
      pos++;
      parts.push(parseUnary());
    }
    if (parts.length === 1) return parts[0];
    return (t, c, r) => {
      for (const p of parts) if (!p(t, c, r)) return false;
      return true;
    };
  };
  const parseUnary = (): CompiledCheck => {
    const tok = tokens[pos++];
    if (!tok) return fail('unexpected end');
    if (tok.t === 'not') {
      const inner = parseUnary();
      return (t, c, r) => !inner(t, c, r);
    }
    if (tok.t === '(') {
      const inner = parseOr();
      if (tokens[pos++]?.t !== ')') fail('missing )');
      return inner;
    }
    if (tok.t === 'check') return compileAtom(tok.text, refs);
    return fail(`unexpected '${tok.t}'`);
  };
  const result = parseOr();
  if (pos !== tokens.length) fail(`unexpected '${(tokens[pos] as { t: string }).t}'`);
  return result;
}

/** The old list-of-lists form of a rule (JSON policy files): outer list = or, inner lists = and. */
function compileListRule(rule: unknown[], refs: Set<string>): CompiledCheck {
  if (rule.length === 0) return ALWAYS;
  const ors: CompiledCheck[][] = [];
  for (const inner of rule) {
    const ands = typeof inner === 'string' ? [inner] : inner;
    if (!Array.isArray(ands) || ands.some((a) => typeof a !== 'string')) {
      throw new PolicyParseError('a list rule must be a list of strings or of lists of strings');
    }
    if (ands.length) ors.push(ands.map((a: string) => compileAtom(a, refs)));
  }
  if (!ors.length) return NEVER;
  return (t, c, r) => ors.some((ands) => ands.every((a) => a(t, c, r)));
}

// ---- loading ----------------------------------------------------------------------------------

function readOverrides(path: string): Record<string, unknown> | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`Cannot read policy file ${path}: ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    throw new Error(`Policy file ${path} is neither valid YAML nor JSON: ${(err as Error).message}`);
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new Error(`Policy file ${path} must map rule names to check strings`);
  }
  return data as Record<string, unknown>;
}

function compileRules(source: Record<string, unknown>, where: string): { table: Map<string, CompiledCheck>; refs: Map<string, Set<string>> } {
  const table = new Map<string, CompiledCheck>();
  const refs = new Map<string, Set<string>>();
  for (const [name, rule] of Object.entries(source)) {
    const r = new Set<string>();
    try {
      if (typeof rule === 'string') table.set(name, compileCheckString(rule, r));
      else if (Array.isArray(rule)) table.set(name, compileListRule(rule, r));
      else throw new PolicyParseError(`expected a check string, got ${rule === null ? 'null' : typeof rule}`);
    } catch (err) {
      if (err instanceof PolicyParseError) throw new Error(`${where}: rule "${name}": ${err.message}`);
      throw err;
    }
    refs.set(name, r);
  }
  return { table, refs };
}

/** A rule that refers to itself through `rule:` would recurse forever: refuse it at load. */
function findCycle(refs: Map<string, Set<string>>): string[] | null {
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (name: string): string[] | null => {
    const s = state.get(name);
    if (s === 2) return null;
    if (s === 1) return [...stack.slice(stack.indexOf(name)), name];
    state.set(name, 1);
    stack.push(name);
    for (const next of refs.get(name) ?? []) {
      const c = visit(next);
      if (c) return c;
    }
    stack.pop();
    state.set(name, 2);
    return null;
  };
  for (const name of refs.keys()) {
    const c = visit(name);
    if (c) return c;
  }
  return null;
}

export interface PolicyOptions {
  /** Directory a relative `[oslo_policy] policy_file` is resolved against (that of magnum.conf). */
  configDir?: string;
  /** The trustee domain (`[trust] trustee_domain_id`): its users are cluster agents. */
  trusteeDomainId?: string | null;
}

export class Policy {
  readonly #policyFile: string | null;
  readonly #trusteeDomainId: string | null;
  #rules: RuleTable;
  #warnings: string[] = [];
  /** Credentials by identity (src/common/context.ts: IDENTITY), else by context. */
  readonly #creds = new WeakMap<object, Credentials>();

  private constructor(policyFile: string | null, trusteeDomainId: string | null) {
    this.#policyFile = policyFile;
    this.#trusteeDomainId = trusteeDomainId;
    this.#rules = this.#load();
  }

  static fromConfig(conf: Config, opts: PolicyOptions = {}): Policy {
    const file = conf.oslo_policy.policy_file;
    const path = file ? (isAbsolute(file) ? file : resolve(opts.configDir ?? process.cwd(), file)) : null;
    return new Policy(path, opts.trusteeDomainId ?? null);
  }

  /** Defaults plus the given overrides (tests, tools). */
  static fromRules(overrides: Record<string, unknown> = {}, opts: { trusteeDomainId?: string | null } = {}): Policy {
    const p = new Policy(null, opts.trusteeDomainId ?? null);
    p.#rules = p.#build(overrides, 'policy overrides');
    return p;
  }

  /** The file the overrides come from, resolved (it may not exist). */
  get policyFile(): string | null {
    return this.#policyFile;
  }

  /** Rules that refer (rule:NAME) to rules nobody defined; such references always fail. */
  get warnings(): readonly string[] {
    return this.#warnings;
  }

  /** Re-read the policy file (SIGHUP). On error the old rules stay and the error is thrown. */
  reload(): void {
    this.#rules = this.#load();
  }

  #load(): RuleTable {
    const overrides = this.#policyFile ? readOverrides(this.#policyFile) : null;
    return this.#build(overrides ?? {}, `Policy file ${this.#policyFile}`);
  }

  #build(overrides: Record<string, unknown>, where: string): RuleTable {
    const defaults = compileRules(DEFAULT_RULES, 'default policy');
    const custom = compileRules(overrides, where);
    const table = new Map([...defaults.table, ...custom.table]);
    const refs = new Map([...defaults.refs, ...custom.refs]);
    const cycle = findCycle(refs);
    if (cycle) throw new Error(`${where}: rules refer to each other in a loop: ${cycle.join(' -> ')}`);
    const warnings: string[] = [];
    for (const [name, rs] of refs) {
      for (const r of rs) if (!table.has(r)) warnings.push(`policy rule "${name}" refers to undefined rule "${r}"`);
    }
    this.#warnings = warnings;
    return table;
  }

  /**
   * Does the policy allow `rule` for this caller on this target? `target` is the resource as a
   * snake_case dict; without one, the caller's own {project_id, user_id}. `trustee_domain_id` is
   * always added, as Magnum's add_policy_attributes does. An unknown rule fails closed.
   */
  check(ctx: RequestContext, rule: string, target?: Target): boolean {
    const compiled = this.#rules.get(rule);
    if (!compiled) return false;
    const trustee = this.#trusteeDomainId;
    let lookup: Lookup;
    if (target) {
      const fields = target as Readonly<Record<string, unknown>>;
      lookup = (key) => (key === 'trustee_domain_id' ? trustee : fields[key]);
    } else {
      lookup = (key) =>
        key === 'project_id' ? ctx.projectId : key === 'user_id' ? ctx.userId : key === 'trustee_domain_id' ? trustee : undefined;
    }
    return compiled(lookup, this.#credentials(ctx), this.#rules);
  }

  /** check(), throwing 403 PolicyNotAuthorized when the policy says no. */
  enforce(ctx: RequestContext, rule: string, target?: Target): void {
    if (!this.check(ctx, rule, target)) throw E.PolicyNotAuthorized(rule);
  }

  /**
   * Magnum's check_is_admin: the `context_is_admin` rule against an empty target, for a caller
   * whose is_admin is not known yet (it is what this decides).
   */
  isAdmin(who: Pick<RequestContext, 'userId' | 'projectId' | 'domainId' | 'roles'>): boolean {
    const compiled = this.#rules.get('context_is_admin');
    if (!compiled) return false;
    const creds = credentialsOf({ ...who, userName: null, projectName: null, domainName: null, isAdmin: null });
    return compiled(() => undefined, creds, this.#rules);
  }

  #credentials(ctx: RequestContext): Credentials {
    // A context made for a remembered identity has that identity's fields: its credentials too.
    const key = (ctx as { [IDENTITY]?: object })[IDENTITY] ?? ctx;
    let c = this.#creds.get(key);
    if (!c) {
      c = credentialsOf(ctx);
      this.#creds.set(key, c);
    }
    return c;
  }
}

function credentialsOf(ctx: Pick<RequestContext, 'userId' | 'userName' | 'projectId' | 'projectName' | 'domainId' | 'domainName' | 'roles'> & { isAdmin: boolean | null }): Credentials {
  return Object.freeze({
    user_id: ctx.userId,
    user_name: ctx.userName,
    project_id: ctx.projectId,
    project_name: ctx.projectName,
    domain_id: ctx.domainId,
    domain_name: ctx.domainName,
    user_domain_id: ctx.domainId,
    user_domain_name: ctx.domainName,
    roles: [...ctx.roles],
    is_admin: ctx.isAdmin,
  });
}
