// The parts of `coe` that need no server: Python-style value printing, --labels and JSON-Patch
// building as python-magnumclient does them, table/json/yaml/value output, settings from
// clouds.yaml / OS_* / options, Keystone request bodies and catalog lookup, the token cache's
// files and expiry, kubeconfig text, help of every command, and the completion scripts.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { authRequestBody, catalogEndpoint, identityV3 } from '../../src/cli/auth/keystone.ts';
import { resolveAuthSettings, type AuthSettings } from '../../src/cli/auth/settings.ts';
import { TokenCache, cacheKey } from '../../src/cli/auth/token-cache.ts';
import { kubeconfig } from '../../src/cli/commands/cluster-config.ts';
import { bashScript, zshScript } from '../../src/cli/commands/completion.ts';
import { CliContext } from '../../src/cli/context.ts';
import { buildProgram, main } from '../../src/cli/main.ts';
import { outputOptions, printDict, printList, printOne, renderTable } from '../../src/cli/output.ts';
import { buildPatch, parseLabels } from '../../src/cli/patch.ts';
import { pyStr } from '../../src/cli/python-str.ts';
import { describeEvent, formatElapsed } from '../../src/cli/wait.ts';
import { runCommand, tempDir } from '../helpers/processes.ts';

class Sink {
  text = '';
  columns?: number;
  isTTY = false;
  write(s: string) {
    this.text += s;
    return true;
  }
}

const opts = (o: Record<string, unknown> = {}) => outputOptions({ format: 'table', column: [], prefix: '', ...o }, {});

describe('Python str() of values, as the OpenStack client prints them', () => {
  test('scalars, lists, dicts and quoting', () => {
    assert.equal(pyStr(null), 'None');
    assert.equal(pyStr(true), 'True');
    assert.equal(pyStr(false), 'False');
    assert.equal(pyStr(3), '3');
    assert.equal(pyStr('x'), 'x');
    assert.equal(pyStr(['192.0.2.1']), "['192.0.2.1']");
    assert.equal(pyStr({ a: 'b', n: 1, t: true, z: null, l: [1, 'x'] }), "{'a': 'b', 'n': 1, 't': True, 'z': None, 'l': [1, 'x']}");
    assert.equal(pyStr({}), '{}');
    assert.equal(pyStr(["it's"]), '["it\'s"]');
    assert.equal(pyStr(['a\\b\n']), "['a\\\\b\\n']");
  });
});

describe('--labels and JSON-Patch, as python-magnumclient builds them', () => {
  test('labels: repeated, one comma or semicolon list, repeated keys joined', () => {
    assert.deepEqual(parseLabels(undefined), {});
    assert.deepEqual(parseLabels(['a=1', 'b=2']), { a: '1', b: '2' });
    assert.deepEqual(parseLabels(['a=1,b=2;c=3']), { a: '1', b: '2', c: '3' });
    assert.deepEqual(parseLabels(['a=1', 'a=2']), { a: '1,2' });
    assert.deepEqual(parseLabels(['k=v=w']), { k: 'v=w' }); // split on commas only: a value may hold '='
    assert.throws(() => parseLabels(['nokey']), /labels must be a list of KEY=VALUE not nokey/);
  });

  test('patch: JSON-decoded values, /labels as the Python str() of a dict, remove without value', () => {
    assert.deepEqual(buildPatch('replace', ['node_count=3', 'name="x"', 'public=true', 'flavor_id=m1.small']), [
      { op: 'replace', path: '/node_count', value: 3 },
      { op: 'replace', path: '/name', value: 'x' },
      { op: 'replace', path: '/public', value: true },
      { op: 'replace', path: '/flavor_id', value: 'm1.small' },
    ]);
    assert.deepEqual(buildPatch('add', ['/labels=a=b,c=d']), [{ op: 'add', path: '/labels', value: "{'a': 'b', 'c': 'd'}" }]);
    assert.deepEqual(buildPatch('remove', ['max_node_count', 'labels=ignored']), [
      { op: 'remove', path: '/max_node_count' },
      { op: 'remove', path: '/labels=ignored' },
    ]);
    assert.throws(() => buildPatch('move', ['a=1']), /Unknown PATCH operation: move/);
    assert.throws(() => buildPatch('replace', ['a']), /Attributes must be a list of PATH=VALUE not "\/a"/);
  });
});

describe('output formats', () => {
  test('a show table is prettytable\'s Field | Value table', () => {
    const out = new Sink();
    printOne(out, ['name', 'labels', 'count', 'none'], ['t1', { a: 'b' }, 3, null], opts());
    assert.equal(out.text, [
      '+--------+------------+',
      '| Field  | Value      |',
      '+--------+------------+',
      '| name   | t1         |',
      "| labels | {'a': 'b'} |",
      '| count  | 3          |',
      '| none   | None       |',
      '+--------+------------+',
      '',
    ].join('\n'));
  });

  test('a list table aligns numbers right; an empty list prints an empty line', () => {
    const out = new Sink();
    printList(out, ['uuid', 'node_count', 'keypair'], [['u1', 1, null], ['u2', 10, 'k']], opts());
    assert.equal(out.text, [
      '+------+------------+---------+',
      '| uuid | node_count | keypair |',
      '+------+------------+---------+',
      '| u1   |          1 | None    |',
      '| u2   |         10 | k       |',
      '+------+------------+---------+',
      '',
    ].join('\n'));
    const empty = new Sink();
    printList(empty, ['uuid'], [], opts());
    assert.equal(empty.text, '\n');
  });

  test('json, yaml, value, shell and -c', () => {
    const cols = ['uuid', 'labels', 'public'];
    const vals = ['u1', { a: 'b' }, false];
    const j = new Sink();
    printOne(j, cols, vals, opts({ format: 'json' }));
    assert.deepEqual(JSON.parse(j.text), { uuid: 'u1', labels: { a: 'b' }, public: false });
    const y = new Sink();
    printOne(y, cols, vals, opts({ format: 'yaml' }));
    assert.equal(y.text, 'uuid: u1\nlabels:\n  a: b\npublic: false\n');
    const v = new Sink();
    printList(v, cols, [vals, ['u2', {}, true]], opts({ format: 'value' }));
    assert.equal(v.text, "u1 {'a': 'b'} False\nu2 {} True\n");
    const s = new Sink();
    printOne(s, ['api_address', 'node-count'], ['tcp://x:1', 2], opts({ format: 'shell', prefix: 'c_' }));
    assert.equal(s.text, 'c_api_address="tcp://x:1"\nc_node_count="2"\n');
    const c = new Sink();
    printOne(c, cols, vals, opts({ format: 'value', column: ['public', 'uuid', 'nope'] }));
    assert.equal(c.text, 'False\nu1\n');
    assert.throws(() => printOne(new Sink(), cols, vals, opts({ column: ['nope'] })), /No recognized column names in \["nope"\]/);
  });

  test('--fit-width shrinks the wide columns and wraps their text', () => {
    const long = 'word '.repeat(30).trim();
    const text = renderTable(['Field', 'Value'], [['status_reason', long]], { align: ['l', 'l'], width: 60, minWidth: 16 });
    const lines = text.split('\n');
    assert.ok(lines.every((l) => l.length <= 60), text);
    assert.ok(lines.length > 5, text);
    assert.equal(text.replace(/[|+\-\s]/g, ''), `FieldValuestatus_reason${long.replace(/\s/g, '')}`);
    const out = new Sink();
    out.columns = 50;
    printOne(out, ['status_reason'], [long], opts({ fitWidth: true }));
    assert.ok(out.text.split('\n').every((l) => l.length <= 50), out.text);
  });

  test('print_dict: Property | Value, None as -, lists of str()', () => {
    const out = new Sink();
    printDict(out, { id: 1, updated_at: null, l: [1, 2] }, opts());
    assert.match(out.text, /\| Property +\| Value +\|/);
    assert.match(out.text, /\| updated_at \| - +\|/);
    assert.match(out.text, /\| l +\| \['1', '2'\] \|/);
  });
});

describe('settings from clouds.yaml, OS_* and options', () => {
  const dir = tempDir('coe-settings-');
  mkdirSync(join(dir, '.config', 'openstack'), { recursive: true });
  writeFileSync(join(dir, '.config', 'openstack', 'clouds.yaml'), [
    'clouds:',
    '  dev:',
    '    auth:',
    '      auth_url: http://ks:5000/v3',
    '      username: demo',
    '      project_name: demo',
    '      user_domain_name: Default',
    '    region_name: RegionTwo',
    '    interface: internal',
    '  aio:',
    '    auth_type: none',
    '    auth:',
    '      endpoint: http://127.0.0.1:9511/v1',
    '  appcred:',
    '    auth_type: v3applicationcredential',
    '    auth:',
    '      auth_url: http://ks:5000',
    '      application_credential_id: abc',
    '      application_credential_secret: s3',
    '',
  ].join('\n'));
  writeFileSync(join(dir, '.config', 'openstack', 'secure.yaml'), 'clouds:\n  dev:\n    auth:\n      password: from-secure\n');
  const env = { HOME: dir };

  test('a cloud of clouds.yaml, with secure.yaml merged in', () => {
    const s = resolveAuthSettings({ osCloud: 'dev' }, env, dir);
    assert.equal(s.authType, 'password');
    assert.equal(s.authUrl, 'http://ks:5000/v3');
    assert.equal(s.username, 'demo');
    assert.equal(s.password, 'from-secure');
    assert.equal(s.regionName, 'RegionTwo');
    assert.equal(s.interface, 'internal');
  });

  test('OS_* variables override the cloud, options override both', () => {
    const s = resolveAuthSettings({ osCloud: 'dev', osRegionName: 'RegionThree' }, { ...env, OS_USERNAME: 'alt', OS_REGION_NAME: 'RegionX', OS_INTERFACE: 'publicURL' }, dir);
    assert.equal(s.username, 'alt');
    assert.equal(s.regionName, 'RegionThree');
    assert.equal(s.interface, 'public');
    assert.equal(resolveAuthSettings({}, { ...env, OS_CLOUD: 'dev', OS_PASSWORD: 'p' }, dir).password, 'p');
  });

  test('auth types: none with an endpoint, application credentials, inferred types', () => {
    const none = resolveAuthSettings({ osCloud: 'aio' }, env, dir);
    assert.equal(none.authType, 'none');
    assert.equal(none.endpoint, 'http://127.0.0.1:9511/v1');
    assert.equal(resolveAuthSettings({ osEndpoint: 'http://x/v1' }, env, dir).authType, 'none');
    const ac = resolveAuthSettings({ osCloud: 'appcred' }, env, dir);
    assert.equal(ac.authType, 'application_credential');
    assert.equal(resolveAuthSettings({}, { OS_AUTH_URL: 'http://ks', OS_APPLICATION_CREDENTIAL_ID: 'i', OS_APPLICATION_CREDENTIAL_SECRET: 's' }, dir).authType, 'application_credential');
    assert.equal(resolveAuthSettings({}, { OS_AUTH_URL: 'http://ks', OS_TOKEN: 't' }, dir).authType, 'token');
  });

  test('what is missing is named', () => {
    assert.throws(() => resolveAuthSettings({}, {}, dir), /Missing value auth_url required for auth plugin password/);
    assert.throws(() => resolveAuthSettings({ osAuthUrl: 'http://ks' }, {}, dir), /Missing value username/);
    assert.throws(() => resolveAuthSettings({ osAuthUrl: 'http://ks', osUsername: 'u' }, {}, dir), /Missing value password/);
    assert.throws(() => resolveAuthSettings({ osAuthType: 'none' }, {}, dir), /needs the API endpoint/);
    assert.throws(() => resolveAuthSettings({ osCloud: 'nope' }, env, dir), /Cloud nope was not found/);
    assert.throws(() => resolveAuthSettings({ osAuthType: 'saml2' }, env, dir), /unsupported --os-auth-type saml2/);
  });
});

describe('Keystone requests and the catalog', () => {
  const base: AuthSettings = { authType: 'password', authUrl: 'http://ks:5000', username: 'demo', password: 'pw', projectName: 'demo', interface: 'public', insecure: false };

  test('password: user and project in the default domain unless told', () => {
    assert.equal(identityV3('http://ks:5000/'), 'http://ks:5000/v3');
    assert.equal(identityV3('http://ks:5000/v3/'), 'http://ks:5000/v3');
    assert.deepEqual(authRequestBody(base), { auth: {
      identity: { methods: ['password'], password: { user: { name: 'demo', domain: { id: 'default' }, password: 'pw' } } },
      scope: { project: { name: 'demo', domain: { id: 'default' } } },
    } });
    const named = authRequestBody({ ...base, userDomainName: 'Users', projectDomainName: 'Projects' }) as any;
    assert.deepEqual(named.auth.identity.password.user.domain, { name: 'Users' });
    assert.deepEqual(named.auth.scope.project.domain, { name: 'Projects' });
    assert.deepEqual((authRequestBody({ ...base, projectId: 'p1' }) as any).auth.scope, { project: { id: 'p1' } });
  });

  test('application credentials carry no scope', () => {
    assert.deepEqual(authRequestBody({ ...base, authType: 'application_credential', applicationCredentialId: 'ac', applicationCredentialSecret: 's' }), {
      auth: { identity: { methods: ['application_credential'], application_credential: { secret: 's', id: 'ac' } } },
    });
  });

  test('the container-infra endpoint by interface and region, then the legacy type', () => {
    const catalog = [
      { type: 'identity', endpoints: [{ interface: 'public', region_id: 'RegionOne', url: 'http://ks' }] },
      { type: 'container-infra', endpoints: [
        { interface: 'public', region_id: 'RegionOne', url: 'http://one/v1' },
        { interface: 'internal', region_id: 'RegionOne', url: 'http://one-internal/v1' },
        { interface: 'public', region_id: 'RegionTwo', url: 'http://two/v1' },
      ] },
    ];
    assert.equal(catalogEndpoint(catalog, { interface: 'public' }), 'http://one/v1');
    assert.equal(catalogEndpoint(catalog, { interface: 'internal', regionName: 'RegionOne' }), 'http://one-internal/v1');
    assert.equal(catalogEndpoint(catalog, { interface: 'public', regionName: 'RegionTwo' }), 'http://two/v1');
    assert.equal(catalogEndpoint([{ type: 'container', endpoints: [{ interface: 'public', url: 'http://legacy/v1' }] }], { interface: 'public' }), 'http://legacy/v1');
    assert.throws(() => catalogEndpoint(catalog, { interface: 'admin' }), /No container-infra endpoint in the service catalog \(interface admin\)/);
  });
});

describe('the token cache', () => {
  const s: AuthSettings = { authType: 'password', authUrl: 'http://ks/v3', username: 'demo', password: 'pw', projectName: 'demo', interface: 'public', insecure: false };

  test('0700 directory, 0600 file; reused until a minute before expiry; keyed by user and project, not the password', () => {
    const dir = tempDir('coe-cache-');
    const cache = new TokenCache(join(dir, 'coe', 'tokens.json'));
    const now = Date.now();
    cache.put(s, { token: 'tok-1', expiresAt: new Date(now + 3600_000).toISOString(), catalog: [] });
    assert.equal(statSync(join(dir, 'coe')).mode & 0o777, 0o700);
    assert.equal(statSync(cache.path).mode & 0o777, 0o600);
    assert.equal(cache.get(s)?.token, 'tok-1');
    assert.equal(cache.get({ ...s, password: 'other' })?.token, 'tok-1');
    assert.equal(cache.get({ ...s, projectName: 'alt' }), undefined);
    assert.equal(cache.get(s, now + 3600_000 - 30_000), undefined, 'a token about to expire is not reused');
    assert.ok(!readFileSync(cache.path, 'utf8').includes('"pw"'), 'no password in the cache');
    assert.notEqual(cacheKey(s), cacheKey({ ...s, username: 'alt' }));
    cache.forget(s);
    assert.equal(cache.get(s), undefined);
  });

  test('a cache file others can read is not trusted, and is rewritten 0600', () => {
    const dir = tempDir('coe-cache-');
    const cache = new TokenCache(join(dir, 'tokens.json'));
    cache.put(s, { token: 'tok-1', expiresAt: new Date(Date.now() + 3600_000).toISOString(), catalog: [] });
    chmodSync(cache.path, 0o644);
    assert.equal(cache.get(s), undefined);
    cache.put(s, { token: 'tok-2', expiresAt: new Date(Date.now() + 3600_000).toISOString(), catalog: [] });
    assert.equal(statSync(cache.path).mode & 0o777, 0o600);
    assert.equal(cache.get(s)?.token, 'tok-2');
  });
});

describe('kubeconfig and --wait text', () => {
  test('the three kubeconfig forms of python-magnumclient (without its stray quote)', () => {
    const c = { name: 'k1', api_address: 'https://192.0.2.1:6443' };
    const certs = { ca: 'CA', cert: 'CERT', key: 'KEY' };
    const tls = kubeconfig(c, certs, false);
    assert.match(tls, /certificate-authority-data: Q0E=\n {4}server: https:\/\/192\.0\.2\.1:6443\n {2}name: k1\n/);
    assert.match(tls, /client-certificate-data: Q0VSVA==\n {4}client-key-data: S0VZ\n$/);
    assert.match(tls, /current-context: default\n/);
    assert.match(kubeconfig(c, certs, true), /current-context: openstackuser@kubernetes\n[\s\S]*OS_TOKEN/);
    assert.match(kubeconfig(c, null, false), /users:\n- name: k1\n$/);
  });

  test('elapsed time and event phrases', () => {
    assert.equal(formatElapsed(5_000), '0:05');
    assert.equal(formatElapsed(125_000), '2:05');
    assert.equal(formatElapsed(3_725_000), '1:02:05');
    const e = { id: 2, operation_id: 'o', step: 'form swarm', message: null, created_at: '2024-01-01T00:00:03.200Z' };
    assert.equal(describeEvent({ ...e, outcome: 'started' }), 'form swarm: started');
    assert.equal(describeEvent({ ...e, outcome: 'succeeded' }, '2024-01-01T00:00:00.000Z'), 'form swarm: succeeded in 3.2 s');
    assert.equal(describeEvent({ ...e, outcome: 'failed', message: 'boom' }), 'form swarm: failed: boom');
    assert.equal(describeEvent({ ...e, step: 'health', outcome: 'info', message: 'Health unknown -> HEALTHY' }), 'health: Health unknown -> HEALTHY');
  });
});

describe('help', () => {
  test('coe --help, and the help of every command, exit 0 and describe every option', async () => {
    const ctx = new CliContext({ stdout: new Sink(), stderr: new Sink(), env: {}, cwd: '/' });
    const program = buildProgram(ctx);
    const paths: string[][] = [];
    const walk = (cmd: typeof program, path: string[]) => {
      for (const c of cmd.commands) {
        assert.ok(c.description(), `coe ${[...path, c.name()].join(' ')} has a description`);
        for (const o of c.options) assert.ok(o.description, `coe ${[...path, c.name()].join(' ')} ${o.flags} has a description`);
        paths.push([...path, c.name()]);
        walk(c, [...path, c.name()]);
      }
    };
    walk(program, []);
    assert.ok(paths.length > 50, `${paths.length} commands`);
    for (const path of [[], ...paths]) {
      const out = new Sink();
      const err = new Sink();
      const code = await main([...path, '--help'], { stdout: out, stderr: err, env: {}, cwd: '/' });
      assert.equal(code, 0, `coe ${path.join(' ')} --help: ${err.text}`);
      assert.ok(out.text.startsWith(`Usage: coe${path.length ? ` ${path.join(' ')}` : ''} `), out.text);
    }
    const root = new Sink();
    await main(['--help'], { stdout: root, stderr: new Sink(), env: {}, cwd: '/' });
    for (const word of ['cluster', 'nodegroup', 'ca', 'quotas', 'stats', 'service', 'container', 'image', 'completion', '--os-cloud', '--os-endpoint', 'clouds.yaml']) {
      assert.ok(root.text.includes(word), `coe --help mentions ${word}`);
    }
  });

  test('usage errors exit 2 with a message; a group alone prints its help', async () => {
    const cases: [string[], RegExp][] = [
      [['cluster', 'create', 'x'], /required option '--cluster-template <cluster-template>' not specified/],
      [['cluster', 'show'], /missing required argument 'cluster'/],
      [['cluster', 'list', '-f', 'xml'], /argument 'xml' is invalid/],
      [['cluster', 'resize', 'c', 'three'], /not an integer/],
      [['clustr'], /unknown command 'clustr'[\s\S]*Did you mean cluster\?/],
      [['cluster', 'template'], /Usage: coe cluster template/],
      [['cluster', 'list', '--os-auth-type', 'none'], /needs the API endpoint/],
    ];
    for (const [argv, msg] of cases) {
      const err = new Sink();
      const code = await main(argv, { stdout: new Sink(), stderr: err, env: {}, cwd: '/' });
      assert.equal(code, 2, `coe ${argv.join(' ')}: ${err.text}`);
      assert.match(err.text, msg, `coe ${argv.join(' ')}`);
    }
  });
});

describe('shell completion', () => {
  const ctx = new CliContext({ stdout: new Sink(), stderr: new Sink(), env: {}, cwd: '/' });
  const program = buildProgram(ctx);

  test('the bash script parses and completes commands, options and values', async () => {
    const dir = tempDir('coe-completion-');
    const script = join(dir, 'coe.bash');
    writeFileSync(script, bashScript(program));
    assert.equal((await runCommand('bash', ['-n', script])).code, 0);
    const complete = async (line: string) => {
      const words = line.split(' ');
      const r = await runCommand('bash', ['-c', `source ${script}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _coe; printf '%s\\n' "\${COMPREPLY[@]}"`]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.split('\n').filter(Boolean).sort();
    };
    assert.deepEqual(await complete('coe clu'), ['cluster']);
    assert.deepEqual(await complete('coe cluster t'), ['template']);
    assert.deepEqual(await complete('coe cluster template '), ['create', 'delete', 'help', 'list', 'show', 'update'].filter((c) => program.commands.find((x) => x.name() === 'cluster')!.commands.find((x) => x.name() === 'template')!.commands.some((x) => x.name() === c)));
    assert.deepEqual(await complete('coe --os-cloud x cluster cr'), ['create']);
    assert.ok((await complete('coe cluster create demo --')).includes('--cluster-template'));
    assert.ok((await complete('coe cluster create demo --')).includes('--os-cloud'), 'global options everywhere');
    assert.deepEqual(await complete('coe cluster list -f j'), ['json']);
    assert.deepEqual(await complete('coe cluster list --sort-dir '), ['asc', 'desc']);
    // Names come from the API through coe itself, with the same global options.
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'coe'), `#!/bin/sh\necho "$@" >> ${join(dir, 'calls')}\ncase "$*" in *"cluster template list"*) echo tmpl-a;; *"cluster list"*) printf 'c1\\nc2\\n';; esac\n`, { mode: 0o755 });
    const withNames = async (line: string) => {
      const words = line.split(' ');
      const r = await runCommand('bash', ['-c', `PATH=${bin}:$PATH; source ${script}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _coe; printf '%s\\n' "\${COMPREPLY[@]}"`]);
      return r.stdout.split('\n').filter(Boolean).sort();
    };
    assert.deepEqual(await withNames('coe --os-cloud dev cluster show '), ['c1', 'c2']);
    assert.deepEqual(await withNames('coe nodegroup list c'), ['c1', 'c2']);
    assert.deepEqual(await withNames('coe cluster create x --cluster-template '), ['tmpl-a']);
    assert.deepEqual(await withNames('coe cluster show c1 '), [], 'one cluster only');
    assert.equal(readFileSync(join(dir, 'calls'), 'utf8').split('\n')[0], '--os-cloud dev cluster list -f value -c name');
  });

  test('the zsh script defines _coe (and parses, when zsh is installed)', async () => {
    const text = zshScript(program);
    assert.match(text, /^#compdef coe\n/);
    assert.match(text, /_coe_cluster_template_subs\(\)/);
    assert.match(text, /compdef _coe coe/);
    const dir = tempDir('coe-completion-');
    writeFileSync(join(dir, '_coe'), text);
    if (!existsSync('/usr/bin/zsh') && !existsSync('/bin/zsh')) return;
    assert.equal((await runCommand('zsh', ['-n', join(dir, '_coe')])).code, 0);
    // Run the completion function with zsh's completion builtins replaced by printers.
    writeFileSync(join(dir, 'drive.zsh'), [
      `source ${join(dir, '_coe')}`,
      'compdef() { :; }',
      'compadd() { [[ $1 == -- ]] && shift; print -r -- "values: $*"; }',
      '_describe() { local arr=$4; print -r -- "$3: ${(j: :)${(@)${(P)arr}%%:*}}"; }',
      '_files() { print -r -- files; }',
      't() { words=(${(z)1}); [[ $1 == *" " ]] && words+=(""); CURRENT=${#words}; _coe; }',
      't "coe cluster "', 't "coe --os-cloud x cluster template "', 't "coe cluster list -f "', 't "coe ca sign c "',
    ].join('\n'));
    const r = await runCommand('zsh', ['-f', join(dir, 'drive.zsh')]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.match(lines[0], /^coe command: create delete list show update resize upgrade template config events$/);
    assert.match(lines[1], /^coe command: create delete list show update$/);
    assert.equal(lines[2], 'values: table json yaml value shell');
    assert.equal(lines[3], 'files');
  });
});
