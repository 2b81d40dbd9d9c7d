// Acceptance: the real `openstack coe …` CLI (python-openstackclient + python-magnumclient 4.0.0)
// against bin/magnum-all-in-one with auth_strategy=keystone, found through the real Keystone
// catalog, as admin, as the demo member and as the alt member. Asserts what the client prints.
//
// Needs scripts/setup-services.sh (Keystone with the admin/demo/alt users and the
// container-infra service). The test points the container-infra endpoints at its own server
// (scripts/keystone-endpoint.sh) and leaves them there; everything else it creates lives in a
// temporary SQLite database that is removed with the server.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import { need, servicesEnv } from '../helpers/env.ts';
import {
  freePort, openstackEnv, runCommand, runOpenstack, spawnProcess, tempDir,
  type ManagedProcess, type RunResult,
} from '../helpers/processes.ts';

const KEYSTONE_URL = need('KEYSTONE_URL');
const DEMO_PROJECT_ID = need('DEMO_PROJECT_ID');
const ALT_PROJECT_ID = need('ALT_PROJECT_ID');
const env = servicesEnv();

const user = (name: string, password: string, project: string) =>
  openstackEnv({ authUrl: KEYSTONE_URL, username: name, password, projectName: project, regionName: env.KEYSTONE_REGION ?? 'RegionOne' });
const ADMIN = user(env.KEYSTONE_ADMIN_USER ?? 'admin', need('KEYSTONE_ADMIN_PASSWORD'), env.KEYSTONE_ADMIN_PROJECT ?? 'admin');
const DEMO = user(env.DEMO_USER ?? 'demo', need('DEMO_PASSWORD'), env.DEMO_PROJECT ?? 'demo');
const ALT = user(env.ALT_USER ?? 'alt', need('ALT_PASSWORD'), env.ALT_PROJECT ?? 'alt');

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HOST = `acceptance-${process.pid}`;

let server: ManagedProcess;
let endpoint: string;
let catalogGuard: () => Promise<void> = async () => undefined;

// -------------------------------------------------------------------------------------------
// helpers

const os = (who: Record<string, string>, ...args: string[]) => runOpenstack(args, who);

function show(r: RunResult): string {
  return `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

/** Exit 0; returns the parsed JSON output (if any). */
function ok(r: RunResult): any {
  assert.equal(r.code, 0, show(r));
  return r.json;
}

/** Non-zero exit and the client's error line: "<title> (HTTP <status>) (Request-ID: req-…)". */
function fails(r: RunResult, status: number, message: string): void {
  assert.notEqual(r.code, 0, show(r));
  const line = r.stderr.trim().split('\n').pop() ?? '';
  assert.match(line, /\(Request-ID: req-[0-9a-f-]{36}\)$/, show(r));
  assert.ok(line.startsWith(`${message} (HTTP ${status})`), `expected "${message} (HTTP ${status})", got:\n${show(r)}`);
}

/** The "Property | Value" table that `coe quotas …` and `coe stats list` print (they have no -f). */
function properties(stdout: string): Record<string, string> {
  const rows = tableRows(stdout);
  assert.deepEqual(rows[0], ['Property', 'Value'], stdout);
  return Object.fromEntries(rows.slice(1).map(([k, v]) => [k, v]));
}

function tableRows(stdout: string): string[][] {
  return stdout.split('\n').filter((l) => l.startsWith('|')).map((l) => l.slice(1, -1).split('|').map((c) => c.trim()));
}

/** A listing table (header row + rows) as objects. */
function table(stdout: string): Record<string, string>[] {
  const [head, ...rows] = tableRows(stdout);
  return rows.map((r) => Object.fromEntries(head.map((h, i) => [h, r[i]])));
}

function acceptedUuid(r: RunResult, what: string): string {
  ok(r);
  const m = new RegExp(`^Request to create ${what} (\\S+) accepted$`, 'm').exec(r.stdout);
  assert.ok(m, show(r));
  assert.match(m[1], UUID);
  return m[1];
}

/** Polls `coe cluster show -f json` until `done(cluster)`; `null` means "until 404". */
async function waitCluster(who: Record<string, string>, ident: string, done: ((c: any) => boolean) | null, ms = 60_000): Promise<any> {
  const until = Date.now() + ms;
  let last: RunResult | undefined;
  while (Date.now() < until) {
    last = await os(who, 'coe', 'cluster', 'show', ident, '-f', 'json');
    if (last.code === 0) {
      if (/_FAILED$/.test(last.json.status)) assert.fail(`cluster ${ident} failed: ${last.json.status} ${last.json.status_reason}`);
      if (done?.(last.json)) return last.json;
    } else if (done === null && last.stderr.includes(`Cluster ${ident} could not be found (HTTP 404)`)) {
      return null;
    } else {
      assert.fail(`cluster show ${ident}: ${show(last)}`);
    }
  }
  assert.fail(`timed out waiting for cluster ${ident}; last: ${last && show(last)}`);
}

async function waitNodegroup(who: Record<string, string>, cluster: string, ng: string, done: ((n: any) => boolean) | null, ms = 60_000): Promise<any> {
  const until = Date.now() + ms;
  let last: RunResult | undefined;
  while (Date.now() < until) {
    last = await os(who, 'coe', 'nodegroup', 'show', cluster, ng, '-f', 'json');
    if (last.code === 0) {
      if (done?.(last.json)) return last.json;
    } else if (done === null && last.stderr.includes(`Nodegroup ${ng} could not be found (HTTP 404)`)) {
      return null;
    } else {
      assert.fail(`nodegroup show ${cluster} ${ng}: ${show(last)}`);
    }
  }
  assert.fail(`timed out waiting for nodegroup ${ng}; last: ${last && show(last)}`);
}

/** A project-scoped Keystone token (REST, not the CLI) and the catalog that came with it. */
async function keystoneToken(name: string, password: string, project: string): Promise<{ token: string; catalog: any[] }> {
  const res = await fetch(`${KEYSTONE_URL}/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ auth: {
      identity: { methods: ['password'], password: { user: { name, password, domain: { name: 'Default' } } } },
      scope: { project: { name: project, domain: { name: 'Default' } } },
    } }),
  });
  const body = await res.json() as any;
  assert.equal(res.status, 201, JSON.stringify(body));
  return { token: res.headers.get('x-subject-token')!, catalog: body.token.catalog };
}

// -------------------------------------------------------------------------------------------
// the server

before(async () => {
  const dir = tempDir('magnum-osc-');
  const port = await freePort();
  const conf = join(dir, 'magnum.conf');
  writeFileSync(conf, [
    '[DEFAULT]',
    'auth_strategy = keystone',
    'transport_url = inprocess://',
    `host = ${HOST}`,
    '[api]',
    'host = 127.0.0.1',
    `port = ${port}`,
    '[database]',
    `connection = sqlite:///${join(dir, 'magnum.sqlite')}`,
    '[drivers]',
    'test_drivers = fake',
    '[fake_driver]',
    'step_delay_ms = 100',
    '[conductor]',
    'sweep_interval = 1',
    '[keystone_authtoken]',
    `auth_url = ${KEYSTONE_URL}`,
    `www_authenticate_uri = ${KEYSTONE_URL}`,
    `username = ${env.MAGNUM_SERVICE_USER ?? 'magnum'}`,
    `password = ${need('MAGNUM_SERVICE_PASSWORD')}`,
    `project_name = ${env.MAGNUM_SERVICE_PROJECT ?? 'service'}`,
    'user_domain_name = Default',
    'project_domain_name = Default',
    '[oslo_policy]',
    `policy_file = ${join(dir, 'policy.yaml')}`,
    '',
  ].join('\n'));
  server = await spawnProcess('bin/magnum-all-in-one', { args: ['--config-file', conf], port, logDir: dir, name: 'magnum-all-in-one' });
  endpoint = `${server.url}/v1`;
  const reg = await runCommand('bash', ['scripts/keystone-endpoint.sh', endpoint], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', KEYSTONE_URL, KEYSTONE_REGION: env.KEYSTONE_REGION ?? 'RegionOne', KEYSTONE_ADMIN_PASSWORD: need('KEYSTONE_ADMIN_PASSWORD') },
  });
  assert.equal(reg.code, 0, `keystone-endpoint.sh: ${show(reg)}`);

  // The catalog entry is global: if something else re-points it while this file runs, every CLI
  // call below would talk to another server. Check it before each test (cheap REST calls).
  const admin = await keystoneToken(ADMIN.OS_USERNAME, ADMIN.OS_PASSWORD, ADMIN.OS_PROJECT_NAME);
  const ks = async (path: string) => {
    const res = await fetch(`${KEYSTONE_URL}${path}`, { headers: { 'x-auth-token': admin.token } });
    assert.equal(res.status, 200, path);
    return res.json() as Promise<any>;
  };
  const serviceId = (await ks('/services?type=container-infra')).services[0].id;
  catalogGuard = async () => {
    const urls = (await ks(`/endpoints?service_id=${serviceId}`)).endpoints
      .filter((e: any) => e.region_id === ADMIN.OS_REGION_NAME).map((e: any) => e.url);
    assert.ok(urls.length >= 3 && urls.every((u: string) => u === endpoint),
      `the container-infra endpoints no longer point at this test's server ${endpoint} but at ${urls.join(', ')} (another test re-registered them?)`);
  };
});

beforeEach(() => catalogGuard());

after(async () => {
  // Everything the tests made lives in the temporary database, removed with the server's
  // directory; the endpoint registration stays (the next run re-points it).
  if (server) {
    const exit = await server.stop();
    assert.ok(exit.code === 0 || exit.signal === 'SIGTERM', `magnum-all-in-one stopped with ${JSON.stringify(exit)}`);
  }
});

// -------------------------------------------------------------------------------------------
// the tests (sequential; they share the resources made along the way)

const T: Record<string, any> = {}; // templates by name (as created)
const C: Record<string, string> = {}; // cluster uuids by name

test('unauthenticated requests get keystonemiddleware\'s 401; / and /v1 are public', async () => {
  for (const headers of [{}, { 'X-Auth-Token': 'not-a-token' }] as Record<string, string>[]) {
    const res = await fetch(`${server.url}/v1/clusters`, { headers });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), `Keystone uri="${KEYSTONE_URL}"`);
    assert.match(res.headers.get('x-openstack-request-id') ?? '', /^req-[0-9a-f-]{36}$/);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(await res.json(), { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } });
  }
  for (const path of ['/', '/v1']) {
    const res = await fetch(`${server.url}${path}`);
    assert.equal(res.status, 200, path);
    await res.arrayBuffer();
  }
});

test('a member\'s token catalog has container-infra at this server', async () => {
  const { catalog } = await keystoneToken(DEMO.OS_USERNAME, DEMO.OS_PASSWORD, DEMO.OS_PROJECT_NAME);
  const svc = catalog.filter((c: any) => c.type === 'container-infra');
  assert.equal(svc.length, 1);
  const urls = (svc[0].endpoints as { interface: string; url: string; region_id: string }[])
    .filter((e) => e.region_id === DEMO.OS_REGION_NAME).map((e) => `${e.interface} ${e.url}`).sort();
  assert.deepEqual(urls, [`admin ${endpoint}`, `internal ${endpoint}`, `public ${endpoint}`]);
});

test('cluster templates: create, list, show, update, publish, visibility, delete', async () => {
  const create = (who: Record<string, string>, name: string, ...extra: string[]) =>
    os(who, 'coe', 'cluster', 'template', 'create', name, '--image', 'fake-image', '--external-network', 'public', ...extra, '-f', 'json');
  const [demo, alt, altPriv, pub, demoPublic, badCoe] = await Promise.all([
    create(DEMO, 'demo-tmpl', '--coe', 'swarm-mode', '--labels', 'x=1,y=2', '--docker-volume-size', '3', '--tags', 't1'),
    create(ALT, 'alt-tmpl', '--coe', 'swarm-mode'),
    create(ALT, 'alt-priv', '--coe', 'kubernetes'),
    create(ADMIN, 'pub-tmpl', '--coe', 'kubernetes', '--public', '--labels', 'p=q'),
    create(DEMO, 'demo-public', '--coe', 'kubernetes', '--public'),
    create(DEMO, 'bad-coe', '--coe', 'k8s'),
  ]);
  for (const [name, r] of Object.entries({ 'demo-tmpl': demo, 'alt-tmpl': alt, 'alt-priv': altPriv, 'pub-tmpl': pub })) {
    ok(r);
    assert.match(r.stdout, new RegExp(`^Request to create cluster template ${name} accepted$`, 'm'));
    T[name] = r.json;
    assert.equal(r.json.name, name);
    assert.match(r.json.uuid, UUID);
    assert.ok(!('links' in r.json));
  }
  const d = T['demo-tmpl'];
  assert.equal(d.coe, 'swarm-mode');
  assert.equal(d.image_id, 'fake-image');
  assert.equal(d.cluster_distro, 'fake-os');
  assert.equal(d.external_network_id, 'public');
  assert.deepEqual(d.labels, { x: '1', y: '2' });
  assert.equal(d.docker_volume_size, 3);
  assert.equal(d.tags, 't1');
  assert.equal(d.public, false);
  assert.equal(d.hidden, false);
  assert.equal(d.tls_disabled, false);
  assert.equal(d.registry_enabled, false);
  assert.equal(d.master_lb_enabled, false);
  assert.equal(d.floating_ip_enabled, true);
  // the client's defaults, echoed by the server
  assert.equal(d.dns_nameserver, '8.8.8.8');
  assert.equal(d.flavor_id, 'm1.medium');
  assert.equal(d.docker_storage_driver, 'overlay2');
  assert.equal(d.server_type, 'vm');
  assert.equal(d.network_driver, 'docker'); // swarm default
  assert.equal(d.keypair_id, '-'); // nulls are printed as "-"
  assert.equal(d.updated_at, '-');
  assert.equal(T['pub-tmpl'].network_driver, 'flannel'); // kubernetes default
  assert.equal(T['pub-tmpl'].public, true);
  assert.deepEqual(T['pub-tmpl'].labels, { p: 'q' });
  fails(demoPublic, 403, 'Not authorized to set public or hidden flag for cluster template');
  fails(badCoe, 400, 'Invalid input for field/attribute coe'); // the client prints the title only

  const [demoList, adminList, altPrivByName, pubShow, pubUpdate, pubDelete, relabel, publishOwn] = await Promise.all([
    os(DEMO, 'coe', 'cluster', 'template', 'list', '-f', 'json'),
    os(ADMIN, 'coe', 'cluster', 'template', 'list', '--fields', 'coe,public', '-f', 'json'),
    os(DEMO, 'coe', 'cluster', 'template', 'show', T['alt-priv'].uuid, '-f', 'json'),
    os(DEMO, 'coe', 'cluster', 'template', 'show', 'pub-tmpl', '-f', 'json'),
    os(DEMO, 'coe', 'cluster', 'template', 'update', 'pub-tmpl', 'replace', 'labels=a=b', '-f', 'json'),
    os(DEMO, 'coe', 'cluster', 'template', 'delete', 'pub-tmpl'),
    os(DEMO, 'coe', 'cluster', 'template', 'update', 'demo-tmpl', 'replace', 'labels=a=b', 'docker_volume_size=5', '-f', 'json'),
    os(DEMO, 'coe', 'cluster', 'template', 'update', 'demo-tmpl', 'replace', 'public=true', '-f', 'json'),
  ]);
  const names = (r: RunResult) => (ok(r) as { name: string }[]).map((t) => t.name).sort();
  assert.deepEqual(names(demoList), ['demo-tmpl', 'pub-tmpl']);
  for (const item of demoList.json) assert.deepEqual(Object.keys(item).sort(), ['name', 'tags', 'uuid']);
  assert.equal(demoList.json.find((t: any) => t.name === 'demo-tmpl').uuid, d.uuid);
  assert.deepEqual(names(adminList), ['alt-priv', 'alt-tmpl', 'demo-tmpl', 'pub-tmpl']);
  assert.deepEqual(Object.keys(adminList.json[0]).sort(), ['coe', 'name', 'public', 'tags', 'uuid']);
  assert.equal(adminList.json.find((t: any) => t.name === 'alt-priv').coe, 'kubernetes');
  fails(altPrivByName, 404, `ClusterTemplate ${T['alt-priv'].uuid} could not be found`);
  assert.equal(ok(pubShow).uuid, T['pub-tmpl'].uuid);
  assert.equal(pubShow.json.public, true);
  fails(pubUpdate, 403, "Policy doesn't allow clustertemplate:update to be performed");
  // `template delete` prints per-item failures on stdout and exits 0
  assert.equal(pubDelete.code, 0, show(pubDelete));
  assert.match(pubDelete.stdout, /^Delete for cluster template pub-tmpl failed: Policy doesn't allow clustertemplate:delete to be performed \(HTTP 403\)/m, show(pubDelete));
  const relabelled = ok(relabel);
  assert.deepEqual(relabelled.labels, { a: 'b' });
  assert.equal(relabelled.docker_volume_size, 5);
  assert.notEqual(relabelled.updated_at, '-');
  assert.equal(relabelled.uuid, d.uuid);
  fails(publishOwn, 403, 'Not authorized to set public or hidden flag for cluster template');

  // admin may publish another project's template; then alt sees it but may not change it
  const published = ok(await os(ADMIN, 'coe', 'cluster', 'template', 'update', d.uuid, 'replace', 'public=true', '-f', 'json'));
  assert.equal(published.public, true);
  assert.deepEqual(published.labels, { a: 'b' });
  const [altList, altShow, altUpdate] = await Promise.all([
    os(ALT, 'coe', 'cluster', 'template', 'list', '-f', 'json'),
    os(ALT, 'coe', 'cluster', 'template', 'show', 'demo-tmpl', '-f', 'json'),
    os(ALT, 'coe', 'cluster', 'template', 'update', 'demo-tmpl', 'replace', 'name=stolen', '-f', 'json'),
  ]);
  assert.deepEqual(names(altList), ['alt-priv', 'alt-tmpl', 'demo-tmpl', 'pub-tmpl']);
  assert.equal(ok(altShow).uuid, d.uuid);
  assert.equal(altShow.json.public, true);
  fails(altUpdate, 403, "Policy doesn't allow clustertemplate:update to be performed");
});

test('clusters: create, list, show, update node_count, resize; another project\'s cluster is 404', async () => {
  const [demoCreate, altCreate] = await Promise.all([
    os(DEMO, 'coe', 'cluster', 'create', 'demo-c1', '--cluster-template', 'demo-tmpl'),
    os(ALT, 'coe', 'cluster', 'create', 'alt-c1', '--cluster-template', T['alt-tmpl'].uuid, '--node-count', '2', '--labels', 'k=v'),
  ]);
  C['demo-c1'] = acceptedUuid(demoCreate, 'cluster');
  C['alt-c1'] = acceptedUuid(altCreate, 'cluster');
  const [c, a] = await Promise.all([
    waitCluster(DEMO, 'demo-c1', (x) => x.status === 'CREATE_COMPLETE'),
    waitCluster(ALT, C['alt-c1'], (x) => x.status === 'CREATE_COMPLETE'),
  ]);
  assert.equal(c.uuid, C['demo-c1']);
  assert.equal(c.name, 'demo-c1');
  assert.equal(c.cluster_template_id, T['demo-tmpl'].uuid);
  assert.equal(c.project_id, DEMO_PROJECT_ID);
  assert.equal(c.node_count, 1);
  assert.equal(c.master_count, 1);
  assert.deepEqual(c.labels, { a: 'b' }); // the template's labels
  assert.deepEqual(c.labels_added, {});
  assert.deepEqual(c.labels_overridden, {});
  assert.deepEqual(c.labels_skipped, {});
  assert.equal(c.docker_volume_size, 5);
  assert.equal(c.flavor_id, 'm1.medium');
  assert.equal(c.master_flavor_id, null);
  assert.equal(c.keypair, null);
  assert.equal(c.create_timeout, 60);
  assert.equal(c.discovery_url, null);
  assert.equal(c.floating_ip_enabled, true);
  assert.equal(c.master_lb_enabled, false);
  assert.equal(c.status_reason, null);
  // the fake driver's health poll may already have run (Magnum itself polls Kubernetes only)
  assert.ok(c.health_status === null || c.health_status === 'HEALTHY', String(c.health_status));
  assert.match(c.api_address, /^tcp:\/\/[\d.]+:\d+$/);
  assert.equal(c.master_addresses.length, 1);
  assert.equal(c.node_addresses.length, 1);
  assert.equal(c.stack_id.length > 0, true);
  assert.equal(a.project_id, ALT_PROJECT_ID);
  assert.equal(a.node_count, 2);
  assert.deepEqual(a.labels, { k: 'v' });
  assert.deepEqual(a.labels_added, { k: 'v' });
  assert.equal(a.node_addresses.length, 2);

  const altUuid = C['alt-c1'];
  const [demoList, adminList, byName, upd, del, resize, masterCount, tmplInUse, tmplDelInUse] = await Promise.all([
    os(DEMO, 'coe', 'cluster', 'list', '-f', 'json'),
    os(ADMIN, 'coe', 'cluster', 'list', '-f', 'json'),
    os(DEMO, 'coe', 'cluster', 'show', 'alt-c1', '-f', 'json'),
    os(DEMO, 'coe', 'cluster', 'update', altUuid, 'replace', 'node_count=3'),
    os(DEMO, 'coe', 'cluster', 'delete', altUuid),
    os(DEMO, 'coe', 'cluster', 'resize', altUuid, '3'),
    os(DEMO, 'coe', 'cluster', 'update', 'demo-c1', 'replace', 'master_count=2'),
    os(DEMO, 'coe', 'cluster', 'template', 'update', 'demo-tmpl', 'replace', 'labels=c=d'),
    os(DEMO, 'coe', 'cluster', 'template', 'delete', 'demo-tmpl'),
  ]);
  const [brief] = ok(demoList) as any[];
  assert.equal(demoList.json.length, 1, demoList.stdout);
  assert.deepEqual(Object.keys(brief), ['uuid', 'name', 'keypair', 'node_count', 'master_count', 'status', 'health_status']);
  assert.deepEqual({ ...brief, health_status: undefined }, { uuid: C['demo-c1'], name: 'demo-c1', keypair: null, node_count: 1, master_count: 1, status: 'CREATE_COMPLETE', health_status: undefined });
  assert.deepEqual((ok(adminList) as any[]).map((x) => x.name).sort(), ['alt-c1', 'demo-c1']);
  fails(byName, 404, 'Cluster alt-c1 could not be found');
  fails(upd, 404, `Cluster ${altUuid} could not be found`);
  fails(del, 404, `Cluster ${altUuid} could not be found`);
  fails(resize, 404, `Cluster ${altUuid} could not be found`);
  fails(masterCount, 400, 'cannot change cluster property(ies) master_count');
  fails(tmplInUse, 400, 'ClusterTemplate demo-tmpl is referenced by one or multiple clusters');
  assert.equal(tmplDelInUse.code, 0, show(tmplDelInUse));
  assert.match(tmplDelInUse.stdout, /^Delete for cluster template demo-tmpl failed: ClusterTemplate demo-tmpl is referenced by one or multiple clusters \(HTTP 400\)/m, show(tmplDelInUse));

  const updated = await os(DEMO, 'coe', 'cluster', 'update', 'demo-c1', 'replace', 'node_count=2');
  ok(updated);
  assert.match(updated.stdout, /^Request to update cluster demo-c1 has been accepted\.$/m);
  let now = await waitCluster(DEMO, 'demo-c1', (x) => x.status === 'UPDATE_COMPLETE');
  assert.equal(now.node_count, 2);
  assert.equal(now.node_addresses.length, 2);

  const resized = await os(DEMO, 'coe', 'cluster', 'resize', 'demo-c1', '3');
  ok(resized);
  assert.match(resized.stdout, /^Request to resize cluster demo-c1 has been accepted\.$/m);
  now = await waitCluster(DEMO, C['demo-c1'], (x) => x.node_count === 3 && x.status === 'UPDATE_COMPLETE');
  assert.equal(now.node_addresses.length, 3);
  assert.equal(now.master_count, 1);
});

test('nodegroups: list, create, show, update, delete', async () => {
  const created = await os(DEMO, 'coe', 'nodegroup', 'create', 'demo-c1', 'ng1', '--node-count', '2', '--min-nodes', '1', '--max-nodes', '3', '--labels', 'g=1', '--role', 'gpu');
  const ngUuid = acceptedUuid(created, 'nodegroup');
  const ng = await waitNodegroup(DEMO, 'demo-c1', 'ng1', (n) => n.status === 'CREATE_COMPLETE');
  assert.equal(ng.uuid, ngUuid);
  assert.equal(ng.name, 'ng1');
  assert.equal(ng.cluster_id, C['demo-c1']);
  assert.equal(ng.project_id, DEMO_PROJECT_ID);
  assert.equal(ng.role, 'gpu');
  assert.equal(ng.node_count, 2);
  assert.equal(ng.min_node_count, 1);
  assert.equal(ng.max_node_count, 3);
  assert.equal(ng.is_default, false);
  assert.equal(ng.flavor_id, 'm1.medium');
  assert.equal(ng.image_id, 'fake-image');
  assert.deepEqual(ng.labels, { g: '1' });
  assert.deepEqual(ng.labels_added, { g: '1' });
  assert.deepEqual(ng.labels_skipped, { a: 'b' });
  assert.equal(ng.node_addresses.length, 2);

  const [list, byRole, delDefault, dup, master, bounds, altShow, update] = await Promise.all([
    os(DEMO, 'coe', 'nodegroup', 'list', 'demo-c1', '-f', 'json'),
    os(DEMO, 'coe', 'nodegroup', 'list', C['demo-c1'], '--role', 'master', '-f', 'json'),
    os(DEMO, 'coe', 'nodegroup', 'delete', 'demo-c1', 'default-worker'),
    os(DEMO, 'coe', 'nodegroup', 'create', 'demo-c1', 'ng1'),
    os(DEMO, 'coe', 'nodegroup', 'create', 'demo-c1', 'ng2', '--role', 'master'),
    os(DEMO, 'coe', 'nodegroup', 'update', 'demo-c1', 'ng1', 'replace', 'max_node_count=1'),
    os(ALT, 'coe', 'nodegroup', 'show', C['demo-c1'], 'ng1', '-f', 'json'),
    os(DEMO, 'coe', 'nodegroup', 'update', 'demo-c1', 'ng1', 'replace', 'max_node_count=5'),
  ]);
  const rows = (ok(list) as any[]).sort((x, y) => x.name.localeCompare(y.name));
  assert.deepEqual(rows.map((r) => [r.name, r.role, r.node_count, r.image_id]), [
    ['default-master', 'master', 1, 'fake-image'],
    ['default-worker', 'worker', 3, 'fake-image'],
    ['ng1', 'gpu', 2, 'fake-image'],
  ]);
  for (const r of rows) assert.deepEqual(Object.keys(r).sort(), ['flavor_id', 'image_id', 'name', 'node_count', 'role', 'status', 'uuid']);
  assert.deepEqual((ok(byRole) as any[]).map((r) => r.name), ['default-master']);
  fails(delDefault, 400, 'Deleting a default nodegroup is not supported');
  fails(dup, 409, 'A node group with name ng1 already exists in the cluster demo-c1');
  fails(master, 400, 'Creating master nodegroups is currently not supported');
  fails(bounds, 409, 'max_node_count for ng1 is invalid (node_count (2) should be less or equal to max_node_count (1))');
  fails(altShow, 404, `Cluster ${C['demo-c1']} could not be found`);
  ok(update);
  assert.match(update.stdout, /^Request to update nodegroup ng1 has been accepted\.$/m);
  const shown = ok(await os(DEMO, 'coe', 'nodegroup', 'show', 'demo-c1', ngUuid, '-f', 'json'));
  assert.equal(shown.max_node_count, 5);
  assert.equal(shown.min_node_count, 1);

  const del = await os(DEMO, 'coe', 'nodegroup', 'delete', 'demo-c1', 'ng1');
  ok(del);
  assert.match(del.stdout, /^Request to delete nodegroup ng1 has been accepted\.$/m);
  await waitNodegroup(DEMO, 'demo-c1', 'ng1', null);
});

test('quotas: admin CRUD; a member reads only its own; the quota is enforced on cluster create', async () => {
  const q = (who: Record<string, string>, verb: string, project: string, ...extra: string[]) =>
    os(who, 'coe', 'quotas', verb, '--project-id', project, '--resource', 'Cluster', ...extra);
  const created = await q(ADMIN, 'create', DEMO_PROJECT_ID, '--hard-limit', '5');
  ok(created);
  const row = properties(created.stdout);
  assert.deepEqual(Object.keys(row), ['id', 'project_id', 'resource', 'hard_limit', 'created_at', 'updated_at']);
  assert.match(row.id, /^\d+$/);
  assert.equal(row.project_id, DEMO_PROJECT_ID);
  assert.equal(row.resource, 'Cluster');
  assert.equal(row.hard_limit, '5');
  assert.match(row.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$/);
  assert.equal(row.updated_at, '-');

  const [adminShow, listAll, demoShow, demoShowAlt, demoCreate, demoList, dup, noProject] = await Promise.all([
    q(ADMIN, 'show', DEMO_PROJECT_ID),
    os(ADMIN, 'coe', 'quotas', 'list', '--all-tenants'),
    q(DEMO, 'show', DEMO_PROJECT_ID),
    q(DEMO, 'show', ALT_PROJECT_ID),
    q(DEMO, 'create', DEMO_PROJECT_ID, '--hard-limit', '50'),
    os(DEMO, 'coe', 'quotas', 'list'),
    q(ADMIN, 'create', DEMO_PROJECT_ID, '--hard-limit', '7'),
    q(ADMIN, 'create', 'no-such-project', '--hard-limit', '7'),
  ]);
  ok(adminShow);
  assert.deepEqual(properties(adminShow.stdout), row);
  ok(listAll);
  assert.deepEqual(table(listAll.stdout), [{ project_id: DEMO_PROJECT_ID, resource: 'Cluster', hard_limit: '5' }]);
  ok(demoShow);
  assert.deepEqual(properties(demoShow.stdout), row);
  fails(demoShowAlt, 403, 'Not authorized');
  fails(demoList, 403, "Policy doesn't allow quota:get_all to be performed");
  // `quotas create` catches the error, prints it on stdout and exits 0
  for (const [r, msg] of [
    [demoCreate, `Create quota for project_id ${DEMO_PROJECT_ID} resource Cluster failed: Policy doesn't allow quota:create to be performed (HTTP 403)`],
    [dup, `Create quota for project_id ${DEMO_PROJECT_ID} resource Cluster failed: Quota for project ${DEMO_PROJECT_ID} already exists for resource Cluster (HTTP 409)`],
    [noProject, 'Create quota for project_id no-such-project resource Cluster failed: The project_id no-such-project could not be found (HTTP 404)'],
  ] as const) {
    assert.equal(r.code, 0, show(r));
    assert.ok(r.stdout.startsWith(msg), show(r));
  }

  const updated = await q(ADMIN, 'update', DEMO_PROJECT_ID, '--hard-limit', '1');
  ok(updated);
  const after = properties(updated.stdout);
  assert.equal(after.hard_limit, '1');
  assert.equal(after.id, row.id);
  assert.match(after.updated_at, /^\d{4}-/);

  // demo has one cluster (demo-c1): a second one exceeds the quota of 1
  fails(await os(DEMO, 'coe', 'cluster', 'create', 'demo-c2', '--cluster-template', 'demo-tmpl'), 403,
    'Resource limit exceeded: You have reached the maximum clusters per project, 1');

  const deleted = await q(ADMIN, 'delete', DEMO_PROJECT_ID);
  ok(deleted);
  assert.match(deleted.stdout, new RegExp(`^Request to delete quota for project id ${DEMO_PROJECT_ID} and resource Cluster has been accepted\\.$`, 'm'));
  const [dflt, again] = await Promise.all([q(ADMIN, 'show', DEMO_PROJECT_ID), q(ADMIN, 'delete', DEMO_PROJECT_ID)]);
  ok(dflt);
  assert.deepEqual(properties(dflt.stdout), { project_id: DEMO_PROJECT_ID, hard_limit: '20', resource: 'Cluster' });
  assert.equal(again.code, 0, show(again)); // `quotas delete` too prints the failure and exits 0
  assert.match(again.stdout, /Quota could not be found: project_id \S+ resource Cluster \(HTTP 404\)/, show(again));
});

test('stats list and service list', async () => {
  const [demoStats, adminStatsAlt, demoStatsAlt, services, demoServices] = await Promise.all([
    os(DEMO, 'coe', 'stats', 'list', DEMO_PROJECT_ID),
    os(ADMIN, 'coe', 'stats', 'list', ALT_PROJECT_ID),
    os(DEMO, 'coe', 'stats', 'list', ALT_PROJECT_ID),
    os(ADMIN, 'coe', 'service', 'list', '-f', 'json'),
    os(DEMO, 'coe', 'service', 'list', '-f', 'json'),
  ]);
  ok(demoStats);
  // demo-c1 only (the quota refused demo-c2): 1 master + 3 workers (ng1 is gone)
  assert.deepEqual(properties(demoStats.stdout), { clusters: '1', nodes: '4' });
  ok(adminStatsAlt);
  assert.deepEqual(properties(adminStatsAlt.stdout), { clusters: '1', nodes: '3' }); // alt-c1: 1 master + 2 workers
  fails(demoStatsAlt, 403, 'Not authorized');
  const svc = ok(services) as any[];
  assert.equal(svc.length, 1, services.stdout);
  assert.deepEqual(Object.keys(svc[0]), ['id', 'host', 'binary', 'state', 'disabled', 'disabled_reason', 'created_at', 'updated_at']);
  assert.equal(svc[0].host, HOST);
  assert.equal(svc[0].binary, 'magnum-conductor');
  assert.equal(svc[0].state, 'up');
  assert.equal(svc[0].disabled, false);
  assert.equal(svc[0].disabled_reason, null);
  fails(demoServices, 403, "Policy doesn't allow magnum-service:get_all to be performed");
});

test('delete clusters and templates', async () => {
  const [d, a] = await Promise.all([
    os(DEMO, 'coe', 'cluster', 'delete', 'demo-c1'),
    os(ALT, 'coe', 'cluster', 'delete', C['alt-c1']),
  ]);
  ok(d);
  assert.match(d.stdout, /^Request to delete cluster demo-c1 has been accepted\.$/m);
  ok(a);
  await Promise.all([waitCluster(DEMO, 'demo-c1', null), waitCluster(ALT, C['alt-c1'], null)]);

  const [dt, at, pt] = await Promise.all([
    os(DEMO, 'coe', 'cluster', 'template', 'delete', 'demo-tmpl'),
    os(ALT, 'coe', 'cluster', 'template', 'delete', 'alt-tmpl', 'alt-priv'),
    os(ADMIN, 'coe', 'cluster', 'template', 'delete', 'pub-tmpl'),
  ]);
  for (const r of [dt, at, pt]) {
    ok(r);
    assert.equal(r.stderr.trim(), '', show(r));
  }
  assert.match(at.stdout, /^Request to delete cluster template alt-tmpl has been accepted\.\nRequest to delete cluster template alt-priv has been accepted\.$/m);
  assert.deepEqual(ok(await os(ADMIN, 'coe', 'cluster', 'template', 'list', '-f', 'json')), []);
});
