// `coe` against the Keystone-backed all-in-one, found through the real catalog: Keystone v3
// password auth from OS_* variables, --os-cloud / OS_CLOUD from clouds.yaml (+ secure.yaml),
// application credentials; the token cache (file modes, reuse, expiry, a revoked token, a stale
// catalog); and -f json compared with `openstack coe` as admin and as the demo member.
//
// The container-infra endpoints are global: this file re-points them at its own server at the
// start (as test/acceptance/openstack-client.test.ts does), so it must not run in parallel with
// other files that do the same (scripts/test.sh runs files one at a time).
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { need, servicesEnv } from '../helpers/env.ts';
import { openstackEnv, runCommand, runOpenstack } from '../helpers/processes.ts';
import {
  cleanEnv, newHome, ok, refused, runCoe, sameAsOpenstack, samePropertiesAsOpenstack, show, startAio, type Aio,
} from './helpers.ts';

const KEYSTONE_URL = need('KEYSTONE_URL');
const DEMO_PROJECT_ID = need('DEMO_PROJECT_ID');
const senv = servicesEnv();
const REGION = senv.KEYSTONE_REGION ?? 'RegionOne';
const ADMIN = { user: senv.KEYSTONE_ADMIN_USER ?? 'admin', password: need('KEYSTONE_ADMIN_PASSWORD'), project: senv.KEYSTONE_ADMIN_PROJECT ?? 'admin' };
const DEMO = { user: senv.DEMO_USER ?? 'demo', password: need('DEMO_PASSWORD'), project: senv.DEMO_PROJECT ?? 'demo' };

const osEnvOf = (u: typeof ADMIN) => openstackEnv({ authUrl: KEYSTONE_URL, username: u.user, password: u.password, projectName: u.project, regionName: REGION });

/** The OS_* variables of a user, as an openrc file sets them, in a private HOME. */
function coeEnvOf(u: typeof ADMIN, home: string): Record<string, string> {
  return cleanEnv(home, {
    OS_AUTH_URL: KEYSTONE_URL, OS_USERNAME: u.user, OS_PASSWORD: u.password, OS_PROJECT_NAME: u.project,
    OS_USER_DOMAIN_NAME: 'Default', OS_PROJECT_DOMAIN_NAME: 'Default', OS_REGION_NAME: REGION, OS_INTERFACE: 'public', OS_IDENTITY_API_VERSION: '3',
  });
}

async function keystone(method: string, path: string, opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<{ status: number; json: any; token: string | null }> {
  const res = await fetch(`${KEYSTONE_URL}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(opts.token ? { 'x-auth-token': opts.token } : {}), ...opts.headers },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined, token: res.headers.get('x-subject-token') };
}

async function login(u: typeof ADMIN): Promise<{ token: string; userId: string }> {
  const r = await keystone('POST', '/auth/tokens', { body: { auth: {
    identity: { methods: ['password'], password: { user: { name: u.user, password: u.password, domain: { name: 'Default' } } } },
    scope: { project: { name: u.project, domain: { name: 'Default' } } },
  } } });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  return { token: r.token!, userId: r.json.token.user.id };
}

const tokenPosts = (stderr: string) => stderr.split('\n').filter((l) => /^DEBUG: POST \S+\/v3\/auth\/tokens -> 201/.test(l)).length;

describe('coe with Keystone: OS_*, clouds.yaml, application credentials, the token cache, and openstack coe side by side', { timeout: 10 * 60_000 }, () => {
  let aio: Aio;
  let adminHome: string;
  let adminEnv: Record<string, string>;
  let demoEnv: Record<string, string>;
  const osAdmin = osEnvOf(ADMIN);
  const osDemo = osEnvOf(DEMO);
  let appCred: { id: string; secret: string; userId: string; token: string } | undefined;

  before(async () => {
    aio = await startAio({
      name: 'keystone', auth: 'keystone', fake: true, extra: [
        '[keystone_authtoken]', `auth_url = ${KEYSTONE_URL}`, `www_authenticate_uri = ${KEYSTONE_URL}`,
        `username = ${senv.MAGNUM_SERVICE_USER ?? 'magnum'}`, `password = ${need('MAGNUM_SERVICE_PASSWORD')}`,
        `project_name = ${senv.MAGNUM_SERVICE_PROJECT ?? 'service'}`, 'user_domain_name = Default', 'project_domain_name = Default',
        // Revocations must show at once for the cached-token test.
        'token_cache_time = 0',
      ],
    });
    const reg = await runCommand('bash', ['scripts/keystone-endpoint.sh', aio.endpoint], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', KEYSTONE_URL, KEYSTONE_REGION: REGION, KEYSTONE_ADMIN_PASSWORD: ADMIN.password },
    });
    assert.equal(reg.code, 0, `keystone-endpoint.sh: ${show(reg)}`);
    adminHome = newHome();
    adminEnv = coeEnvOf(ADMIN, adminHome);

    // demo authenticates through clouds.yaml, its password in secure.yaml.
    const demoHome = newHome();
    writeFileSync(join(demoHome, '.config', 'openstack', 'clouds.yaml'), [
      'clouds:',
      '  demo-cloud:',
      '    auth:',
      `      auth_url: ${KEYSTONE_URL}`,
      `      username: ${DEMO.user}`,
      `      project_name: ${DEMO.project}`,
      '      user_domain_name: Default',
      '      project_domain_name: Default',
      `    region_name: ${REGION}`,
      '    interface: public',
      '    identity_api_version: 3',
      '',
    ].join('\n'));
    writeFileSync(join(demoHome, '.config', 'openstack', 'secure.yaml'), `clouds:\n  demo-cloud:\n    auth:\n      password: ${JSON.stringify(DEMO.password)}\n`);
    demoEnv = cleanEnv(demoHome, { OS_CLOUD: 'demo-cloud' });
  });

  after(async () => {
    if (appCred) await keystone('DELETE', `/users/${appCred.userId}/application_credentials/${appCred.id}`, { token: appCred.token });
    if (aio?.proc.running) {
      for (const env of [demoEnv, adminEnv]) {
        const left = (await runCoe(['cluster', 'list', '-f', 'value', '-c', 'uuid'], env)).stdout.split('\n').filter(Boolean);
        if (left.length) await runCoe(['cluster', 'delete', ...left, '--wait', '--poll-interval', '0.3'], env, { timeoutMs: 120_000 });
      }
      await aio.proc.stop();
    }
  });

  test('OS_* password login through the catalog; the token is cached 0600 and reused until it expires or is refused', async () => {
    const first = await runCoe(['--debug', 'cluster', 'template', 'list'], adminEnv);
    ok(first);
    assert.equal(tokenPosts(first.stderr), 1, first.stderr);
    assert.match(first.stderr, new RegExp(`DEBUG: GET ${aio.endpoint.replace(/[.]/g, '\\.')}/clustertemplates -> 200`));
    assert.ok(!first.stderr.includes(ADMIN.password), 'no password in the debug output');
    const cacheFile = join(adminHome, '.cache', 'coe', 'tokens.json');
    assert.equal(statSync(cacheFile).mode & 0o777, 0o600);
    assert.equal(statSync(join(adminHome, '.cache', 'coe')).mode & 0o777, 0o700);
    const cached = readFileSync(cacheFile, 'utf8');
    assert.ok(!cached.includes(ADMIN.password), 'no password in the cache');

    const second = await runCoe(['--debug', 'cluster', 'list'], adminEnv);
    ok(second);
    assert.equal(tokenPosts(second.stderr), 0, second.stderr);
    assert.match(second.stderr, /DEBUG: using the cached token/);

    // A token about to expire is not used.
    const doc = JSON.parse(readFileSync(cacheFile, 'utf8'));
    const key = Object.keys(doc.tokens)[0];
    const token = doc.tokens[key].token as string;
    doc.tokens[key].expires_at = new Date(Date.now() + 30_000).toISOString();
    writeFileSync(cacheFile, JSON.stringify(doc), { mode: 0o600 });
    const renewed = await runCoe(['--debug', 'cluster', 'list'], adminEnv);
    ok(renewed);
    assert.equal(tokenPosts(renewed.stderr), 1, renewed.stderr);
    const fresh = JSON.parse(readFileSync(cacheFile, 'utf8')).tokens[key].token as string;
    assert.notEqual(fresh, token);

    // A revoked token: the API answers 401, coe logs in again once and carries on.
    const admin = await login(ADMIN);
    assert.equal((await keystone('DELETE', '/auth/tokens', { token: admin.token, headers: { 'x-subject-token': fresh } })).status, 204);
    const revoked = await runCoe(['--debug', 'cluster', 'list'], adminEnv);
    ok(revoked);
    assert.match(revoked.stderr, /GET \S+\/clusters -> 401[\s\S]*the API refused the cached token: logging in again[\s\S]*POST \S+\/auth\/tokens -> 201[\s\S]*GET \S+\/clusters -> 200/);

    // A cached catalog whose endpoint moved: a new login finds the new one.
    const moved = JSON.parse(readFileSync(cacheFile, 'utf8'));
    for (const svc of moved.tokens[key].catalog) for (const ep of svc.endpoints ?? []) if (svc.type === 'container-infra') ep.url = 'http://127.0.0.1:1/v1';
    writeFileSync(cacheFile, JSON.stringify(moved), { mode: 0o600 });
    const stale = await runCoe(['--debug', 'cluster', 'list'], adminEnv);
    ok(stale);
    assert.match(stale.stderr, /the endpoint of the cached catalog does not answer: logging in again/);

    // --no-token-cache neither reads nor writes it.
    const before = readFileSync(cacheFile, 'utf8');
    const nocache = await runCoe(['--debug', '--no-token-cache', 'cluster', 'list'], adminEnv);
    ok(nocache);
    assert.equal(tokenPosts(nocache.stderr), 1);
    assert.equal(readFileSync(cacheFile, 'utf8'), before);

    // A token of one's own: rescoped through Keystone with --os-auth-url, or sent as is to --os-endpoint.
    const own = await login(ADMIN);
    const rescoped = await runCoe(['--debug', 'cluster', 'list'], cleanEnv(newHome(), { OS_AUTH_URL: KEYSTONE_URL, OS_TOKEN: own.token, OS_PROJECT_NAME: ADMIN.project }));
    ok(rescoped);
    assert.equal(tokenPosts(rescoped.stderr), 1, rescoped.stderr);
    const asIs = await runCoe(['--debug', '--os-auth-type', 'token', '--os-token', own.token, '--os-endpoint', aio.endpoint, 'cluster', 'list'], cleanEnv(newHome()));
    ok(asIs);
    assert.equal(tokenPosts(asIs.stderr), 0, asIs.stderr);
    assert.ok(!asIs.stderr.includes(own.token), 'no token in the debug output');

    // Wrong credentials: Keystone's message, exit 1.
    const wrong = await runCoe(['cluster', 'list'], { ...coeEnvOf(ADMIN, newHome()), OS_PASSWORD: 'not-the-password' });
    assert.equal(wrong.code, 1, show(wrong));
    assert.match(wrong.stderr, /^Keystone: The request you have made requires authentication \(HTTP 401\)/);
  });

  test('clouds.yaml (OS_CLOUD and --os-cloud) with secure.yaml; application credentials', async () => {
    const t = ok(await runCoe(['cluster', 'template', 'create', 'demo-t', '--coe', 'swarm-mode', '--image', 'fake-image', '--external-network', 'public', '--labels', 'a=b', '-f', 'json'], demoEnv));
    const viaFlag = { ...demoEnv };
    delete viaFlag.OS_CLOUD;
    const shown = ok(await runCoe(['--os-cloud', 'demo-cloud', 'cluster', 'template', 'show', 'demo-t', '-f', 'json'], viaFlag));
    assert.equal(shown.uuid, t.uuid);
    const c = await runCoe(['cluster', 'create', 'demo-c', '--cluster-template', 'demo-t', '--node-count', '2', '--wait', '--poll-interval', '0.3'], demoEnv);
    ok(c);
    assert.match(c.stdout, /Cluster demo-c is CREATE_COMPLETE/);
    const mine = ok(await runCoe(['cluster', 'show', 'demo-c', '-f', 'json'], demoEnv));
    assert.equal(mine.project_id, DEMO_PROJECT_ID);

    const demo = await login(DEMO);
    const made = await keystone('POST', `/users/${demo.userId}/application_credentials`, { token: demo.token, body: { application_credential: { name: `coe-test-${process.pid}` } } });
    assert.equal(made.status, 201, JSON.stringify(made.json));
    appCred = { id: made.json.application_credential.id, secret: made.json.application_credential.secret, userId: demo.userId, token: demo.token };
    const acEnv = cleanEnv(newHome(), {
      OS_AUTH_TYPE: 'v3applicationcredential', OS_AUTH_URL: KEYSTONE_URL, OS_APPLICATION_CREDENTIAL_ID: appCred.id,
      OS_APPLICATION_CREDENTIAL_SECRET: appCred.secret, OS_REGION_NAME: REGION,
    });
    const viaAc = ok(await runCoe(['cluster', 'list', '-f', 'json'], acEnv));
    assert.deepEqual(viaAc.map((x: any) => x.name), ['demo-c']);
    // The same credential by name needs the user.
    const byName = { ...acEnv, OS_APPLICATION_CREDENTIAL_NAME: `coe-test-${process.pid}`, OS_USERNAME: DEMO.user, OS_USER_DOMAIN_NAME: 'Default' };
    delete (byName as Record<string, string>).OS_APPLICATION_CREDENTIAL_ID;
    assert.deepEqual(ok(await runCoe(['--no-token-cache', 'cluster', 'list', '-f', 'json'], byName)).map((x: any) => x.name), ['demo-c']);
  });

  test('-f json equals openstack coe -f json, as the demo member and as admin', async () => {
    // A few comparisons at a time: each one is two client processes logging in to Keystone, and
    // the test Keystone (4 uwsgi processes) dropped connections with 28 logins at once.
    const comparisons = [[demoEnv, osDemo], [adminEnv, osAdmin]].flatMap(([env, os]) => [
      () => sameAsOpenstack(['cluster', 'template', 'show', 'demo-t'], env, os),
      () => sameAsOpenstack(['cluster', 'template', 'list'], env, os),
      () => sameAsOpenstack(['cluster', 'show', 'demo-c'], env, os),
      () => sameAsOpenstack(['cluster', 'list'], env, os),
      () => sameAsOpenstack(['nodegroup', 'list', 'demo-c'], env, os),
      () => sameAsOpenstack(['nodegroup', 'show', 'demo-c', 'default-worker'], env, os),
      () => samePropertiesAsOpenstack(['stats', 'list', DEMO_PROJECT_ID], env, os),
    ]);
    for (let i = 0; i < comparisons.length; i += 3) await Promise.all(comparisons.slice(i, i + 3).map((compare) => compare()));
    const created = ok(await runCoe(['quotas', 'create', '--project-id', DEMO_PROJECT_ID, '--resource', 'Cluster', '--hard-limit', '4', '-f', 'json'], adminEnv));
    assert.equal(created.hard_limit, 4);
    try {
      await samePropertiesAsOpenstack(['quotas', 'show', '--project-id', DEMO_PROJECT_ID, '--resource', 'Cluster'], adminEnv, osAdmin);
      await samePropertiesAsOpenstack(['quotas', 'show', '--project-id', DEMO_PROJECT_ID, '--resource', 'Cluster'], demoEnv, osDemo);
      assert.deepEqual(ok(await runCoe(['quotas', 'list', '--all-tenants', '-f', 'json'], adminEnv)), [{ project_id: DEMO_PROJECT_ID, resource: 'Cluster', hard_limit: 4 }]);
      refused(await runCoe(['quotas', 'list'], demoEnv), 403, "Policy doesn't allow quota:get_all to be performed");
    } finally {
      ok(await runCoe(['quotas', 'delete', '--project-id', DEMO_PROJECT_ID, '--resource', 'Cluster'], adminEnv));
    }
    const services = await sameAsOpenstack(['service', 'list'], adminEnv, osAdmin);
    assert.equal(services[0].binary, 'magnum-conductor');
    const [mine, theirs] = await Promise.all([runCoe(['service', 'list'], demoEnv), runOpenstack(['coe', 'service', 'list'], osDemo)]);
    refused(mine, 403, "Policy doesn't allow magnum-service:get_all to be performed");
    assert.match(theirs.stderr, /Policy doesn't allow magnum-service:get_all to be performed \(HTTP 403\)/);
  });

  test('the other commands, as the member: update, resize, upgrade, nodegroups, events, config, certificates, workloads', async () => {
    const coe = (...args: string[]) => runCoe(args, demoEnv);
    ok(await coe('cluster', 'template', 'create', 'demo-t2', '--coe', 'swarm-mode', '--image', 'fake-image', '--external-network', 'public', '--tls-disabled'));
    assert.deepEqual(ok(await coe('cluster', 'template', 'update', 'demo-t2', 'replace', 'labels=z=9', '-f', 'json')).labels, { z: '9' });
    assert.match((await coe('cluster', 'update', 'demo-c', 'replace', 'node_count=3', '--wait', '--poll-interval', '0.3')).stdout, /Cluster demo-c is UPDATE_COMPLETE/);
    assert.match((await coe('cluster', 'resize', 'demo-c', '2', '--wait', '--poll-interval', '0.3')).stdout, /Cluster demo-c is UPDATE_COMPLETE/);
    const up = await coe('cluster', 'upgrade', 'demo-c', 'demo-t2', '--wait', '--poll-interval', '0.3');
    ok(up);
    assert.match(up.stderr, /upgrade nodes: succeeded/);
    const ngc = await coe('nodegroup', 'create', 'demo-c', 'ng1', '--node-count', '1', '--wait', '--poll-interval', '0.3');
    ok(ngc);
    assert.match(ngc.stdout, /Nodegroup ng1 of demo-c is CREATE_COMPLETE/);
    ok(await coe('nodegroup', 'update', 'demo-c', 'ng1', 'replace', 'max_node_count=4'));
    assert.equal(ok(await coe('nodegroup', 'show', 'demo-c', 'ng1', '-f', 'json')).max_node_count, 4);
    assert.match((await coe('nodegroup', 'delete', 'demo-c', 'ng1', '--wait', '--poll-interval', '0.3')).stdout, /Nodegroup ng1 of demo-c deleted/);
    const steps = ok(await coe('cluster', 'events', 'demo-c', '-f', 'json')).map((e: any) => e.step);
    for (const step of ['cluster_create', 'cluster_update', 'cluster_resize', 'cluster_upgrade', 'nodegroup_create', 'nodegroup_delete']) assert.ok(steps.includes(step), step);

    // The cluster now runs the TLS-less template: config writes the env, no certificates.
    const home = demoEnv.HOME;
    const cfg = await runCoe(['cluster', 'config', 'demo-c', '--dir', 'cfg'], demoEnv, { cwd: home });
    ok(cfg);
    assert.equal(cfg.stdout, `export DOCKER_HOST=tcp://192.0.2.250:2376\nexport DOCKER_CERT_PATH=${join(home, 'cfg')}\nexport DOCKER_TLS_VERIFY=\n`);
    // Every cluster has its CA, whatever the driver or tls_disabled: both clients print it.
    const [ca, osCa] = await Promise.all([coe('ca', 'show', 'demo-c'), runOpenstack(['coe', 'ca', 'show', 'demo-c'], osDemo)]);
    assert.equal(ca.code, 0, show(ca));
    assert.equal(osCa.code, 0, osCa.stderr);
    assert.match(ca.stdout, /^-----BEGIN CERTIFICATE-----\n/);
    assert.equal(ca.stdout.trimEnd(), osCa.stdout.trimEnd());
    refused(await coe('ca', 'rotate', 'demo-c'), 400, /^Rotating the CA certificate on a non-TLS cluster is not supported/);

    // Workloads on a fake cluster: the server's answers come through.
    const v1 = await (await fetch(aio.endpoint)).json() as Record<string, unknown>;
    if ('containers' in v1) assert.deepEqual(ok(await coe('container', 'list', '-f', 'json')), []);
    if ('services' in v1) assert.deepEqual(ok(await coe('service', 'list', '--cluster', 'demo-c', '-f', 'json')), []);
    const load = await coe('image', 'load', 'demo-c', 'nothing.tar');
    assert.equal(load.code, 1, show(load));
  });

  test('delete --wait and clean up, as the member', async () => {
    const del = await runCoe(['cluster', 'delete', 'demo-c', '--wait', '--poll-interval', '0.3'], demoEnv);
    ok(del);
    assert.match(del.stdout, /Cluster demo-c deleted/);
    ok(await runCoe(['cluster', 'template', 'delete', 'demo-t', 'demo-t2'], demoEnv));
    assert.deepEqual(ok(await runCoe(['cluster', 'template', 'list', '-f', 'json'], demoEnv)), []);
  });
});
