import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../conf/index.ts';
import { contextOf, makeContext, type Identity, type RequestContext } from './context.ts';
import { isMagnumError } from './errors.ts';
import { compileCheckString, DEFAULT_RULES, Policy } from './policy.ts';

const TRUSTEE_DOMAIN = 'trustee-domain-id';

const admin = makeContext({ requestId: 'r', userId: 'u-admin', projectId: 'p-admin', domainId: 'default', roles: ['admin'] });
const owner = makeContext({ requestId: 'r', userId: 'u1', projectId: 'p1', domainId: 'default', roles: ['member', 'reader'] });
const otherProject = makeContext({ requestId: 'r', userId: 'u2', projectId: 'p2', domainId: 'default', roles: ['member'] });
// A cluster's trustee: a user of the trustee domain, trust-scoped to the cluster owner's project.
const trustee = makeContext({ requestId: 'r', userId: 'trustee-u', projectId: 'p1', domainId: TRUSTEE_DOMAIN, roles: ['member'] });

const cluster = { uuid: 'c-1', project_id: 'p1', user_id: 'u1', trustee_user_id: 'trustee-u', name: 'k8s' };

const policy = Policy.fromRules({}, { trusteeDomainId: TRUSTEE_DOMAIN });

/** Evaluate a bare check string with the given credentials and target. */
function evalCheck(check: string, ctx: Partial<RequestContext>, target: Record<string, unknown> = {}): boolean {
  const p = Policy.fromRules({ 'probe:x': check }, { trusteeDomainId: TRUSTEE_DOMAIN });
  return p.check(makeContext({ requestId: 'r', ...ctx }), 'probe:x', target);
}

describe('check-string parser', () => {
  it('special checks: @, !, empty string', () => {
    assert.equal(evalCheck('@', {}), true);
    assert.equal(evalCheck('!', {}), false);
    assert.equal(evalCheck('', {}), true);
    assert.equal(evalCheck('   ', {}), true);
  });

  it('role: is case-insensitive and may interpolate the target', () => {
    assert.equal(evalCheck('role:Admin', { roles: ['admin'] }), true);
    assert.equal(evalCheck('role:admin', { roles: ['ADMIN'] }), true);
    assert.equal(evalCheck('role:admin', { roles: ['member'] }), false);
    assert.equal(evalCheck('role:%(needed)s', { roles: ['operator'] }, { needed: 'operator' }), true);
    assert.equal(evalCheck('role:%(needed)s', { roles: ['operator'] }, {}), false);
  });

  it('is_admin:True compares the Python text of the credential', () => {
    assert.equal(evalCheck('is_admin:True', { roles: ['admin'] }), true);
    assert.equal(evalCheck('is_admin:True', { roles: ['member'] }), false);
    assert.equal(evalCheck('is_admin:False', { roles: ['member'] }), true);
  });

  it('FIELD:%(key)s compares a credential with the target', () => {
    assert.equal(evalCheck('project_id:%(project_id)s', { projectId: 'p1' }, { project_id: 'p1' }), true);
    assert.equal(evalCheck('project_id:%(project_id)s', { projectId: 'p1' }, { project_id: 'p2' }), false);
    assert.equal(evalCheck('user_id:%(owner)s', { userId: 'u1' }, { owner: 'u1' }), true);
    assert.equal(evalCheck('domain_id:%(trustee_domain_id)s', { domainId: TRUSTEE_DOMAIN }), true);
    // A key the target lacks fails the check (oslo.policy's KeyError).
    assert.equal(evalCheck('project_id:%(project_id)s', { projectId: 'p1' }, { other: 1 }), false);
    // Interpolation inside a longer match.
    assert.equal(evalCheck('project_id:proj-%(n)s', { projectId: 'proj-7' }, { n: 7 }), true);
  });

  it('a null target value never matches (not even a null credential)', () => {
    assert.equal(evalCheck('project_id:%(project_id)s', { projectId: null }, { project_id: null }), false);
    assert.equal(evalCheck('not domain_id:%(d)s', { domainId: null }, { d: null }), true);
  });

  it('FIELD:literal and literal kinds', () => {
    assert.equal(evalCheck('project_id:p1', { projectId: 'p1' }), true);
    assert.equal(evalCheck('project_id:p1', { projectId: 'p2' }), false);
    assert.equal(evalCheck("'p1':%(project_id)s", {}, { project_id: 'p1' }), true);
    assert.equal(evalCheck('"p1":%(project_id)s', {}, { project_id: 'p2' }), false);
    assert.equal(evalCheck('True:%(enabled)s', {}, { enabled: true }), true);
    assert.equal(evalCheck('True:%(enabled)s', {}, { enabled: false }), false);
    // A list credential matches when any element does.
    assert.equal(evalCheck('roles:member', { roles: ['reader', 'member'] }), true);
    assert.equal(evalCheck('roles:Member', { roles: ['member'] }), false);
    // An unknown credential never matches.
    assert.equal(evalCheck('tenant:p1', { projectId: 'p1' }), false);
  });

  it('precedence: not > and > or, as oslo.policy reduces', () => {
    const c = (s: string, roles: string[]) => evalCheck(s, { roles });
    // A or B and C  ==  A or (B and C)
    assert.equal(c('role:a or role:b and role:c', ['a']), true);
    assert.equal(c('role:a or role:b and role:c', ['b']), false);
    assert.equal(c('role:a or role:b and role:c', ['b', 'c']), true);
    // A and B or C  ==  (A and B) or C
    assert.equal(c('role:a and role:b or role:c', ['c']), true);
    assert.equal(c('role:a and role:b or role:c', ['a']), false);
    // A and B or C and D
    assert.equal(c('role:a and role:b or role:c and role:d', ['c', 'd']), true);
    assert.equal(c('role:a and role:b or role:c and role:d', ['a', 'd']), false);
    // not binds to the next check only
    assert.equal(c('not role:a and role:b', ['b']), true);
    assert.equal(c('not role:a and role:b', ['a', 'b']), false);
    assert.equal(c('not role:a or role:b', ['a', 'b']), true);
    assert.equal(c('role:b and not role:a', ['b']), true);
    assert.equal(c('not not role:a', ['a']), true);
    // parentheses
    assert.equal(c('(role:a or role:b) and role:c', ['a']), false);
    assert.equal(c('(role:a or role:b) and role:c', ['b', 'c']), true);
    assert.equal(c('not (role:a or role:b)', ['c']), true);
    assert.equal(c('not (role:a or role:b)', ['b']), false);
    assert.equal(c('((role:a))', ['a']), true);
    assert.equal(c('role:a and (role:b or (role:c and role:d))', ['a', 'c', 'd']), true);
    // keywords are case-insensitive
    assert.equal(c('role:x OR role:a AND NOT role:z', ['a']), true);
  });

  it('rule: refers to another rule; an undefined one fails closed and is reported', () => {
    const p = Policy.fromRules({ 'probe:x': 'rule:nope or rule:context_is_admin' });
    assert.equal(p.check(admin, 'probe:x'), true);
    assert.equal(p.check(owner, 'probe:x'), false);
    assert.deepEqual(p.warnings, ['policy rule "probe:x" refers to undefined rule "nope"']);
  });

  it('rejects what it cannot understand', () => {
    for (const bad of ['role:a or', '(role:a', 'role:a)', 'role:a role:b', 'foo', "'quoted'", 'and role:a', 'not', '()', 'role:%(x)d']) {
      assert.throws(() => compileCheckString(bad), /cannot|only %\(name\)s|unexpected/, bad);
    }
  });

  it('rejects rules that refer to each other in a loop', () => {
    assert.throws(() => Policy.fromRules({ a: 'rule:b', b: 'role:x or rule:a' }), /loop: (a -> b -> a|b -> a -> b)/);
  });

  it('an unknown rule name is denied', () => {
    assert.equal(policy.check(admin, 'cluster:no_such_action'), false);
  });
});

// Every default of Magnum 15 (magnum/common/policies/*.py; reference §16), but baymodel:update and
// baymodel:delete: deny_cluster_user and admin_or_owner (Magnum: deny_cluster_user alone).
const DENY_CLUSTER_USER = [
  'bay:create', 'bay:delete', 'bay:detail', 'bay:get', 'bay:get_all', 'bay:update',
  'baymodel:create', 'baymodel:detail', 'baymodel:get', 'baymodel:get_all',
  'cluster:create', 'cluster:delete', 'cluster:detail', 'cluster:get', 'cluster:get_all', 'cluster:update',
  'cluster:resize', 'cluster:upgrade',
  'clustertemplate:create', 'clustertemplate:detail', 'clustertemplate:get', 'clustertemplate:get_all',
  'federation:create', 'federation:delete', 'federation:detail', 'federation:get', 'federation:get_all', 'federation:update',
];
const ADMIN_API = [
  'baymodel:publish',
  'cluster:delete_all_projects', 'cluster:detail_all_projects', 'cluster:get_one_all_projects',
  'cluster:get_all_all_projects', 'cluster:update_all_projects', 'cluster:upgrade_all_projects',
  'clustertemplate:delete_all_projects', 'clustertemplate:detail_all_projects', 'clustertemplate:get_one_all_projects',
  'clustertemplate:get_all_all_projects', 'clustertemplate:update_all_projects', 'clustertemplate:publish',
  'magnum-service:get_all',
  'nodegroup:get_all_all_projects', 'nodegroup:get_one_all_projects',
  'quota:create', 'quota:delete', 'quota:get_all', 'quota:update',
];
const ADMIN_OR_OWNER = [
  'certificate:rotate_ca',
  'clustertemplate:delete', 'clustertemplate:update',
  'nodegroup:get', 'nodegroup:get_all', 'nodegroup:create', 'nodegroup:delete', 'nodegroup:update',
  'quota:get', 'stats:get_all',
];
const ADMIN_OR_USER_OR_CLUSTER_USER = ['certificate:create', 'certificate:get', 'cluster:update_health_status'];
const OWNER_NOT_CLUSTER_USER = ['baymodel:delete', 'baymodel:update'];
const BASE = ['context_is_admin', 'admin_or_owner', 'admin_api', 'admin_or_user', 'cluster_user', 'deny_cluster_user'];

describe('default rules (Magnum 15)', () => {
  it('define exactly the rules of §16, plus our own extensions', () => {
    const OURS = ['cluster:force_delete', 'cluster:load_image', ...['create', 'delete', 'detail', 'get', 'get_all', 'update', 'start', 'stop', 'reboot',
      'pause', 'unpause', 'logs', 'execute'].map((a) => `container:${a}`),
    ...['service', 'pod'].flatMap((r) => ['create', 'delete', 'detail', 'get', 'get_all', 'update'].map((a) => `${r}:${a}`))];
    const expected = [...BASE, ...DENY_CLUSTER_USER, ...ADMIN_API, ...ADMIN_OR_OWNER, ...ADMIN_OR_USER_OR_CLUSTER_USER, ...OWNER_NOT_CLUSTER_USER, ...OURS].sort();
    assert.deepEqual(Object.keys(DEFAULT_RULES).sort(), expected);
    assert.equal(DEFAULT_RULES['cluster:force_delete'], 'rule:admin_api');
  });

  it('base rules have Magnum\'s check strings', () => {
    assert.deepEqual(Object.fromEntries(BASE.map((b) => [b, DEFAULT_RULES[b]])), {
      context_is_admin: 'role:admin',
      admin_or_owner: 'is_admin:True or project_id:%(project_id)s',
      admin_api: 'rule:context_is_admin',
      admin_or_user: 'is_admin:True or user_id:%(user_id)s',
      cluster_user: 'user_id:%(trustee_user_id)s',
      deny_cluster_user: 'not domain_id:%(trustee_domain_id)s',
    });
  });

  const who = { admin, owner, otherProject, trustee };
  const cases: [string, string[], Record<keyof typeof who, boolean>][] = [
    // Anybody but the trustee domain; tenant scoping (404) keeps other projects out, not policy.
    ['deny_cluster_user', DENY_CLUSTER_USER, { admin: true, owner: true, otherProject: true, trustee: false }],
    ['admin_api', ADMIN_API, { admin: true, owner: false, otherProject: false, trustee: false }],
    // The trustee is trust-scoped to the owner's project, so it is an "owner" too (as in Magnum).
    ['admin_or_owner', ADMIN_OR_OWNER, { admin: true, owner: true, otherProject: false, trustee: true }],
    ['admin_or_user or cluster_user', ADMIN_OR_USER_OR_CLUSTER_USER, { admin: true, owner: true, otherProject: false, trustee: true }],
    // Ours: a public baymodel is visible to every project, so policy keeps other projects' changes out.
    ['deny_cluster_user and admin_or_owner', OWNER_NOT_CLUSTER_USER, { admin: true, owner: true, otherProject: false, trustee: false }],
  ];
  for (const [kind, rules, expect] of cases) {
    it(`${kind}: ${rules.length} rules, against a cluster of project p1`, () => {
      for (const rule of rules) {
        for (const [name, ctx] of Object.entries(who)) {
          assert.equal(policy.check(ctx, rule, cluster), expect[name as keyof typeof who], `${rule} for ${name}`);
        }
      }
    });
  }

  it('without a target, the caller\'s own project and user are the target', () => {
    for (const ctx of [owner, otherProject]) {
      assert.equal(policy.check(ctx, 'stats:get_all'), true);
      assert.equal(policy.check(ctx, 'certificate:get'), true);
    }
    assert.equal(policy.check(trustee, 'cluster:create'), false);
    assert.equal(policy.check(otherProject, 'quota:get', { project_id: 'p1' }), false);
    assert.equal(policy.check(otherProject, 'quota:get', { project_id: 'p2' }), true);
  });

  it('a trustee without a cluster to match is only its project\'s owner', () => {
    const otherCluster = { ...cluster, trustee_user_id: 'someone-else', user_id: 'u9', project_id: 'p9' };
    assert.equal(policy.check(trustee, 'certificate:get', otherCluster), false);
    assert.equal(policy.check(trustee, 'nodegroup:get', otherCluster), false);
  });

  it('with no trustee domain configured, deny_cluster_user lets every caller through', () => {
    const p = Policy.fromRules({}, { trusteeDomainId: null });
    const noDomain = makeContext({ requestId: 'r', userId: 'u', projectId: 'p', roles: ['member'] });
    assert.equal(p.check(noDomain, 'cluster:create'), true);
    assert.equal(p.check(trustee, 'cluster:create'), true);
  });

  it('a target cannot override trustee_domain_id', () => {
    assert.equal(policy.check(trustee, 'cluster:get', { ...cluster, trustee_domain_id: 'elsewhere' }), false);
  });

  it('enforce throws 403 PolicyNotAuthorized with Magnum\'s message', () => {
    assert.doesNotThrow(() => policy.enforce(admin, 'quota:create'));
    assert.throws(() => policy.enforce(owner, 'quota:create'), (e) => {
      assert.ok(isMagnumError(e));
      assert.equal(e.status, 403);
      assert.equal(e.code, 'PolicyNotAuthorized');
      assert.equal(e.message, "Policy doesn't allow quota:create to be performed.");
      return true;
    });
  });

  it('contexts of one remembered identity are judged by their own fields, as any context is', () => {
    const who: Identity = Object.freeze({ userId: 'u1', userName: 'alice', projectId: 'p1', projectName: 'one', domainId: 'default', domainName: 'Default', roles: Object.freeze(['member']), isAdmin: false });
    const a = contextOf(who, 'req-a', 'tok');
    const b = contextOf(who, 'req-b', 'tok');
    // The identity rides along unseen: not in JSON (an RPC message), keys, spreads or deep equality.
    assert.deepEqual(a, makeContext({ ...who, requestId: 'req-a', authToken: 'tok' }));
    assert.deepEqual(Object.keys(JSON.parse(JSON.stringify(a))).sort(), Object.keys(a).sort());
    for (const ctx of [a, b]) {
      assert.equal(policy.check(ctx, 'certificate:rotate_ca', cluster), true);
      assert.equal(policy.check(ctx, 'certificate:rotate_ca', { ...cluster, project_id: 'p2' }), false);
      assert.equal(policy.check(ctx, 'quota:create'), false);
    }
    // A context made from a's fields with another project is that project's, not the identity's.
    const moved = makeContext({ ...a, projectId: 'p2' });
    assert.equal(policy.check(moved, 'certificate:rotate_ca', cluster), false);
    assert.equal(policy.check(moved, 'certificate:rotate_ca', { ...cluster, project_id: 'p2' }), true);
    const promoted = makeContext({ ...a, roles: ['admin'], isAdmin: true });
    assert.equal(policy.check(promoted, 'quota:create'), true);
    assert.equal(policy.check(a, 'quota:create'), false);
  });

  it('isAdmin() is context_is_admin against an empty target', () => {
    assert.equal(policy.isAdmin({ userId: 'u', projectId: 'p', domainId: null, roles: ['Admin'] }), true);
    assert.equal(policy.isAdmin({ userId: 'u', projectId: 'p', domainId: null, roles: ['member'] }), false);
    const p = Policy.fromRules({ context_is_admin: 'role:cloud_admin or user_id:root' });
    assert.equal(p.isAdmin({ userId: 'u', projectId: 'p', domainId: null, roles: ['cloud_admin'] }), true);
    assert.equal(p.isAdmin({ userId: 'root', projectId: 'p', domainId: null, roles: [] }), true);
    assert.equal(p.isAdmin({ userId: 'u', projectId: 'p', domainId: null, roles: ['admin'] }), false);
  });

  it('checks are fast (compiled once)', () => {
    const n = 200_000;
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) policy.check(owner, i % 2 ? 'cluster:get' : 'nodegroup:update', cluster);
    const perCheckNs = Number(process.hrtime.bigint() - start) / n;
    assert.ok(perCheckNs < 5_000, `${perCheckNs} ns per check`);
  });
});

describe('policy file overrides', () => {
  const withDir = (fn: (dir: string) => void) => {
    const dir = mkdtempSync(join(tmpdir(), 'magnum-policy-'));
    try {
      fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const conf = (policyFile: string) => loadConfig({ env: {}, overrides: { DEFAULT: { host: 'test' }, oslo_policy: { policy_file: policyFile } } });

  it('YAML: overrides a default, keeps the others, adds new rules; relative to the config dir', () => {
    withDir((dir) => {
      writeFileSync(join(dir, 'policy.yaml'), [
        '# operator overrides',
        '"cluster:create": "rule:is_cluster_creator"',
        'is_cluster_creator: "role:creator or rule:context_is_admin"',
        "'quota:get_all': ''",
      ].join('\n'));
      const p = Policy.fromConfig(conf('policy.yaml'), { configDir: dir, trusteeDomainId: TRUSTEE_DOMAIN });
      assert.equal(p.policyFile, join(dir, 'policy.yaml'));
      assert.equal(p.check(owner, 'cluster:create'), false);
      assert.equal(p.check(admin, 'cluster:create'), true);
      assert.equal(p.check(makeContext({ requestId: 'r', roles: ['creator'] }), 'cluster:create'), true);
      assert.equal(p.check(owner, 'quota:get_all'), true);
      assert.equal(p.check(owner, 'cluster:get', cluster), true);
      assert.equal(p.check(trustee, 'cluster:get', cluster), false);
    });
  });

  it('JSON, absolute path, including the old list-of-lists form', () => {
    withDir((dir) => {
      const file = join(dir, 'policy.json');
      writeFileSync(file, JSON.stringify({
        'magnum-service:get_all': 'role:reader',
        'stats:get_all': [['role:member', 'project_id:%(project_id)s'], ['role:admin']],
      }));
      const p = Policy.fromConfig(conf(file), { trusteeDomainId: TRUSTEE_DOMAIN });
      assert.equal(p.check(owner, 'magnum-service:get_all'), true);
      assert.equal(p.check(otherProject, 'magnum-service:get_all'), false);
      assert.equal(p.check(owner, 'stats:get_all', { project_id: 'p1' }), true);
      assert.equal(p.check(otherProject, 'stats:get_all', { project_id: 'p1' }), false);
      assert.equal(p.check(admin, 'stats:get_all', { project_id: 'p1' }), true);
    });
  });

  it('a missing file, or one of comments only, means the defaults', () => {
    withDir((dir) => {
      const p = Policy.fromConfig(conf('policy.yaml'), { configDir: dir, trusteeDomainId: TRUSTEE_DOMAIN });
      assert.equal(p.check(owner, 'quota:create'), false);
      assert.equal(p.check(owner, 'cluster:create'), true);
      writeFileSync(join(dir, 'policy.yaml'), '# "cluster:create": "rule:deny_cluster_user"\n');
      p.reload();
      assert.equal(p.check(owner, 'cluster:create'), true);
    });
  });

  it('reload() picks up a changed file; a broken one keeps the old rules', () => {
    withDir((dir) => {
      const file = join(dir, 'policy.yaml');
      writeFileSync(file, '"cluster:create": "!"\n');
      const p = Policy.fromConfig(conf(file));
      assert.equal(p.check(admin, 'cluster:create'), false);
      writeFileSync(file, '"cluster:create": "@"\n');
      p.reload();
      assert.equal(p.check(owner, 'cluster:create'), true);
      writeFileSync(file, '"cluster:create": [\n');
      assert.throws(() => p.reload(), /Policy file .*policy.yaml is neither valid YAML nor JSON/);
      assert.equal(p.check(owner, 'cluster:create'), true);
    });
  });

  it('a malformed file is a clear start-up error', () => {
    withDir((dir) => {
      const file = join(dir, 'policy.yaml');
      const cases: [string, RegExp][] = [
        ['"cluster:create": [\n', /is neither valid YAML nor JSON/],
        ['{"cluster:create": "role:admin",}x', /is neither valid YAML nor JSON/],
        ['- role:admin\n', /must map rule names to check strings/],
        ['"cluster:create": 42\n', /rule "cluster:create": expected a check string, got number/],
        ['"cluster:create": "role:admin or"\n', /rule "cluster:create": cannot parse 'role:admin or'/],
        ['"cluster:create": "admin"\n', /rule "cluster:create": cannot understand 'admin'/],
        ['a: "rule:b"\nb: "rule:a"\n', /loop/],
      ];
      for (const [text, expected] of cases) {
        writeFileSync(file, text);
        assert.throws(() => Policy.fromConfig(conf(file)), (e: Error) => {
          assert.match(e.message, expected, text);
          assert.ok(e.message.includes(file) || /loop/.test(e.message), e.message);
          return true;
        });
      }
    });
  });

  it('an unreadable path (a directory) is an error, not the defaults', () => {
    withDir((dir) => {
      assert.throws(() => Policy.fromConfig(conf(dir)), /Cannot read policy file/);
    });
  });
});
