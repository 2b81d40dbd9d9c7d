// `coe` against an all-in-one without Keystone (noauth, --os-endpoint / OS_ENDPOINT) and the
// test driver (fake, fast): every command, compared with the real `openstack coe` client on the
// same resources (-f json: same keys and values; tables: the same text), --wait on create,
// update, resize, upgrade and delete with its plain-line progress, a create that fails, exit
// statuses and error messages.
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort, runOpenstack, tempDir } from '../helpers/processes.ts';
import {
  cleanEnv, newHome, ok, refused, runCoe, sameAsOpenstack, samePropertiesAsOpenstack, show, startAio, type Aio,
} from './helpers.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('coe against the all-in-one (noauth, fake driver), side by side with openstack coe', { timeout: 10 * 60_000 }, () => {
  let aio: Aio;
  let env: Record<string, string>;
  let osEnv: Record<string, string>;
  const coe = (...args: string[]) => runCoe(args, env);
  const os = (...args: string[]) => runOpenstack(['coe', ...args], osEnv);
  const T: Record<string, any> = {};

  before(async () => {
    aio = await startAio({ name: 'noauth', fake: true });
    env = cleanEnv(newHome(), { OS_ENDPOINT: aio.endpoint });
    osEnv = cleanEnv(newHome(), { OS_AUTH_TYPE: 'none', OS_ENDPOINT: aio.endpoint });
  });

  after(async () => {
    if (aio?.proc.running) {
      const left = await runCoe(['cluster', 'list', '-f', 'value', '-c', 'uuid'], env);
      const uuids = left.stdout.split('\n').filter(Boolean);
      if (uuids.length) await runCoe(['cluster', 'delete', ...uuids, '--wait', '--poll-interval', '0.2'], env, { timeoutMs: 120_000 });
      await aio.proc.stop();
    }
  });

  test('cluster templates: create, show, list, update, delete; the same request body as the OpenStack client', async () => {
    const common = ['--image', 'fake-image', '--external-network', 'public', '--labels', 'a=b,c=d', '--docker-volume-size', '3', '--tags', 't1', '--master-flavor', 'm1.small', '--floating-ip-disabled', '--no-proxy', '10.0.0.1'];
    const mine = await coe('cluster', 'template', 'create', 'swarm-t', '--coe', 'swarm-mode', ...common, '-f', 'json');
    T['swarm-t'] = ok(mine);
    assert.equal(mine.stderr, 'Request to create cluster template swarm-t accepted\n', 'the acceptance line stays off stdout with -f json');
    assert.equal(T['swarm-t'].name, 'swarm-t');
    assert.match(T['swarm-t'].uuid, UUID);
    const theirs = await os('cluster', 'template', 'create', 'swarm-os', '--coe', 'swarm-mode', ...common, '-f', 'json');
    assert.equal(theirs.code, 0, show(theirs));
    // Same options, same request: the two templates differ only in who and when.
    const strip = (t: Record<string, unknown>) => ({ ...t, uuid: undefined, name: undefined, created_at: undefined });
    assert.deepEqual(strip(T['swarm-t']), strip(theirs.json));
    assert.deepEqual(T['swarm-t'].labels, { a: 'b', c: 'd' });
    assert.equal(T['swarm-t'].floating_ip_enabled, false);
    assert.equal(T['swarm-t'].no_proxy, '10.0.0.1');
    assert.equal(T['swarm-t'].updated_at, '-', 'nulls are shown as - like the OpenStack client does');

    const table = await coe('cluster', 'template', 'create', 'swarm-t2', '--coe', 'swarm-mode', '--image', 'fake-image', '--external-network', 'public');
    ok(table);
    assert.match(table.stdout, /^Request to create cluster template swarm-t2 accepted\n\+-+\+/);
    for (const [name, extra] of [['k8s-plain', ['--coe', 'kubernetes', '--tls-disabled']], ['swarm-plain', ['--coe', 'swarm-mode', '--tls-disabled']]] as const) {
      ok(await coe('cluster', 'template', 'create', name, '--image', 'fake-image', '--external-network', 'public', ...extra));
    }

    await sameAsOpenstack(['cluster', 'template', 'show', 'swarm-t'], env, osEnv);
    const list = await sameAsOpenstack(['cluster', 'template', 'list'], env, osEnv);
    assert.deepEqual(list.map((t: any) => t.name).sort(), ['k8s-plain', 'swarm-os', 'swarm-plain', 'swarm-t', 'swarm-t2']);
    assert.deepEqual(Object.keys(list[0]), ['uuid', 'name', 'tags']);
    await sameAsOpenstack(['cluster', 'template', 'list', '--fields', 'coe,labels,image_id', '--limit', '2', '--sort-key', 'name', '--sort-dir', 'desc'], env, osEnv);

    const updated = ok(await coe('cluster', 'template', 'update', 'swarm-os', 'replace', 'labels=x=1,y=2', 'docker_volume_size=5', '-f', 'json'));
    assert.deepEqual(updated.labels, { x: '1', y: '2' });
    assert.equal(updated.docker_volume_size, 5);
    await sameAsOpenstack(['cluster', 'template', 'show', 'swarm-os'], env, osEnv);

    refused(await coe('cluster', 'template', 'create', 'bad', '--coe', 'k8s', '--image', 'fake-image', '--external-network', 'public'), 400,
      /^Invalid input for field\/attribute coe\. Value: 'k8s'\. Value should be one of: .* \(HTTP 400\) \(Request-ID: req-[0-9a-f-]{36}\)$/);
    refused(await coe('cluster', 'template', 'show', 'nope'), 404, 'ClusterTemplate nope could not be found');
    const del = await coe('cluster', 'template', 'delete', 'nope', 'swarm-os');
    assert.equal(del.code, 1, show(del));
    assert.equal(del.stdout, 'Request to delete cluster template swarm-os has been accepted.\n');
    assert.match(del.stderr, /^Delete for cluster template nope failed: ClusterTemplate nope could not be found \(HTTP 404\)/);
  });

  test('clusters: create --wait prints each step, and the result; show and list match the OpenStack client', async () => {
    const r = await coe('cluster', 'create', 'c1', '--cluster-template', 'swarm-t', '--node-count', '2', '--labels', 'k=v', '--merge-labels', '--wait', '--poll-interval', '0.2');
    ok(r);
    const m = /^Request to create cluster (\S+) accepted\nCluster c1 is CREATE_COMPLETE \(\d+:\d\d\)\.\n$/.exec(r.stdout);
    assert.ok(m, show(r));
    assert.match(m[1], UUID);
    // Not a terminal: one plain line per event and status change, in order.
    const lines = r.stderr.split('\n').filter(Boolean);
    assert.ok(lines.every((l) => /^\[\d+:\d\d\] cluster c1: (CREATE_IN_PROGRESS|CREATE_COMPLETE)/.test(l)), r.stderr);
    const steps = lines.map((l) => /CREATE_IN_PROGRESS {2}(.*)$/.exec(l)?.[1]).filter(Boolean);
    assert.deepEqual(steps.filter((s) => /: (started|succeeded)/.test(s!)).map((s) => s!.replace(/ in [\d.]+ s$/, '')), [
      'create certificates: started', 'create certificates: succeeded',
      'create network: started', 'create network: succeeded', 'boot masters: started', 'boot masters: succeeded',
      'boot workers: started', 'boot workers: succeeded', 'publish api: started', 'publish api: succeeded',
      'cluster_create: succeeded (Cluster create finished.)',
    ]);
    assert.equal(lines[lines.length - 1].replace(/^\[\d+:\d\d\] /, ''), 'cluster c1: CREATE_COMPLETE');

    // The OpenStack client with the same options makes the same cluster.
    ok(await os('cluster', 'create', 'c2', '--cluster-template', 'swarm-t', '--node-count', '2', '--labels', 'k=v', '--merge-labels'));
    const shown = await sameAsOpenstack(['cluster', 'show', 'c1'], env, osEnv);
    assert.deepEqual(shown.labels, { a: 'b', c: 'd', k: 'v' });
    const list = await sameAsOpenstack(['cluster', 'list'], env, osEnv);
    assert.deepEqual(Object.keys(list[0]), ['uuid', 'name', 'keypair', 'node_count', 'master_count', 'status', 'health_status']);
    for (let i = 0; i < 100; i++) {
      const s = ok(await coe('cluster', 'show', 'c2', '-f', 'json'));
      if (s.status === 'CREATE_COMPLETE') break;
      await new Promise((res) => setTimeout(res, 200));
    }
    const c2 = ok(await coe('cluster', 'show', 'c2', '-f', 'json'));
    const same = (c: Record<string, unknown>) => ({ ...c, uuid: 0, name: 0, stack_id: 0, created_at: 0, updated_at: 0, node_addresses: 0, master_addresses: 0, health_status: 0, health_status_reason: 0 });
    assert.deepEqual(same(c2), same(ok(await coe('cluster', 'show', 'c1', '-f', 'json'))));

    // Table and value output read exactly as the OpenStack client's.
    for (const args of [['cluster', 'show', 'c1'], ['cluster', 'show', 'c1', '-f', 'value'], ['cluster', 'list', '-f', 'value', '-c', 'name', '-c', 'status'], ['cluster', 'show', 'c1', '-f', 'yaml', '-c', 'labels', '-c', 'node_count']]) {
      const [a, b] = await Promise.all([coe(...args), os(...args)]);
      ok(a);
      ok(b);
      assert.equal(a.stdout.trimEnd(), b.stdout.trimEnd(), `coe ${args.join(' ')}`);
    }

    refused(await coe('cluster', 'show', 'nope'), 404, 'Cluster nope could not be found');
    refused(await coe('cluster', 'update', 'c1', 'replace', 'master_count=2'), 400, 'cannot change cluster property(ies) master_count');
  });

  test('update, resize, upgrade and delete --wait; a create that fails exits 1 with the reason', async () => {
    const upd = await coe('cluster', 'update', 'c1', 'replace', 'node_count=3', '--wait', '--poll-interval', '0.2');
    ok(upd);
    assert.match(upd.stdout, /^Request to update cluster c1 has been accepted\.\nCluster c1 is UPDATE_COMPLETE \(\d+:\d\d\)\.\n$/);
    assert.match(upd.stderr, /cluster c1: UPDATE_IN_PROGRESS {2}scale nodegroup: succeeded/);
    assert.ok(!/create (network|certificates)/.test(upd.stderr), 'only the events of this operation');
    assert.equal(ok(await coe('cluster', 'show', 'c1', '-f', 'json')).node_count, 3);

    const rs = await coe('cluster', 'resize', 'c1', '1', '--wait', '--poll-interval', '0.2');
    ok(rs);
    assert.match(rs.stdout, /Cluster c1 is UPDATE_COMPLETE/);
    assert.equal(ok(await coe('cluster', 'show', 'c1', '-f', 'json')).node_count, 1);

    const up = await coe('cluster', 'upgrade', 'c1', 'swarm-t2', '--wait', '--poll-interval', '0.2');
    ok(up);
    assert.match(up.stderr, /upgrade nodes: succeeded/);
    assert.equal(ok(await coe('cluster', 'show', 'c1', '-f', 'json')).cluster_template_id, ok(await coe('cluster', 'template', 'show', 'swarm-t2', '-f', 'json')).uuid);

    const bad = await coe('cluster', 'create', 'bad', '--cluster-template', 'swarm-t', '--labels', 'fake_fail_step=boot workers', '--wait', '--poll-interval', '0.2');
    assert.equal(bad.code, 1, show(bad));
    assert.match(bad.stderr, /cluster bad: CREATE_IN_PROGRESS {2}boot workers: failed: /);
    assert.match(bad.stderr.trim().split('\n').pop()!, /^Cluster bad is CREATE_FAILED after \d+:\d\d: Cluster create failed at step "boot workers": injected failure at step "boot workers"/);

    // Someone follows c2's timeline meanwhile: it ends when the cluster is gone.
    const follow = runCoe(['cluster', 'events', 'c2', '--follow', '--poll-interval', '0.2'], env);
    await new Promise((res) => setTimeout(res, 1500));
    const del = await coe('cluster', 'delete', 'bad', 'c2', '--wait', '--poll-interval', '0.2');
    ok(del);
    assert.match(del.stdout, /^Request to delete cluster bad has been accepted\.\nRequest to delete cluster c2 has been accepted\.\nCluster bad deleted \(\d+:\d\d\)\.\nCluster c2 deleted \(\d+:\d\d\)\.\n$/);
    refused(await coe('cluster', 'show', 'c2'), 404, 'Cluster c2 could not be found');
    const followed = await follow;
    ok(followed);
    assert.match(followed.stdout, /^\S+ {2}cluster_create: Create requested\.\n/);
    // The timeline goes with the cluster, so the follower sees the delete start; whether it also sees
    // later steps depends on when its last poll ran (the whole delete takes well under a second here).
    assert.match(followed.stdout, /\n\S+ {2}cluster_delete: Delete requested\.\n/);
    assert.match(followed.stderr, /^Cluster c2 is gone\.\n$/);
  });

  test('cluster events: the timeline, with -c, --limit and --marker', async () => {
    const all = ok(await coe('cluster', 'events', 'c1', '-f', 'json'));
    assert.ok(all.length >= 10);
    assert.deepEqual(Object.keys(all[0]), ['id', 'created_at', 'operation_id', 'step', 'outcome', 'message']);
    assert.deepEqual(all.slice(0, 3).map((e: any) => [e.step, e.outcome]), [['cluster_create', 'info'], ['create certificates', 'started'], ['create certificates', 'succeeded']]);
    const two = ok(await coe('cluster', 'events', 'c1', '--limit', '2', '--marker', String(all[0].id), '-f', 'json'));
    assert.deepEqual(two.map((e: any) => e.id), [all[1].id, all[2].id]);
    const r = await coe('cluster', 'events', 'c1', '-c', 'step', '-c', 'outcome');
    ok(r);
    assert.match(r.stdout, /^\+-+\+-+\+\n\| step +\| outcome +\|\n/);
  });

  test('nodegroups: create --wait, list, show, update, delete --wait', async () => {
    const created = await coe('nodegroup', 'create', 'c1', 'ng1', '--node-count', '2', '--min-nodes', '1', '--max-nodes', '3', '--labels', 'g=1', '--role', 'gpu', '--wait', '--poll-interval', '0.2');
    ok(created);
    assert.match(created.stdout, /^Request to create nodegroup \S+ accepted\nNodegroup ng1 of c1 is CREATE_COMPLETE/);
    const list = await sameAsOpenstack(['nodegroup', 'list', 'c1'], env, osEnv);
    assert.deepEqual(list.map((n: any) => n.name).sort(), ['default-master', 'default-worker', 'ng1']);
    await sameAsOpenstack(['nodegroup', 'list', 'c1', '--role', 'master'], env, osEnv);
    const ng = await sameAsOpenstack(['nodegroup', 'show', 'c1', 'ng1'], env, osEnv);
    assert.equal(ng.role, 'gpu');
    assert.equal(ng.node_count, 2);
    assert.deepEqual(ng.labels_added, { g: '1' });
    const upd = await coe('nodegroup', 'update', 'c1', 'ng1', 'replace', 'max_node_count=5');
    ok(upd);
    assert.equal(upd.stdout, 'Request to update nodegroup ng1 has been accepted.\n');
    assert.equal(ok(await coe('nodegroup', 'show', 'c1', 'ng1', '-f', 'json')).max_node_count, 5);
    refused(await coe('nodegroup', 'delete', 'c1', 'default-worker'), 400, 'Deleting a default nodegroup is not supported');
    refused(await coe('nodegroup', 'create', 'c1', 'ng1'), 409, 'A node group with name ng1 already exists in the cluster c1');
    const del = await coe('nodegroup', 'delete', 'c1', 'ng1', '--wait', '--poll-interval', '0.2');
    ok(del);
    assert.match(del.stdout, /Nodegroup ng1 of c1 deleted/);
    refused(await coe('nodegroup', 'show', 'c1', 'ng1'), 404, 'Nodegroup ng1 could not be found');
  });

  test('quotas, stats and service list match the OpenStack client', async () => {
    const created = ok(await coe('quotas', 'create', '--project-id', 'proj-a', '--resource', 'Cluster', '--hard-limit', '5', '-f', 'json'));
    assert.equal(created.hard_limit, 5);
    await samePropertiesAsOpenstack(['quotas', 'show', '--project-id', 'proj-a', '--resource', 'Cluster'], env, osEnv);
    const dup = await coe('quotas', 'create', '--project-id', 'proj-a', '--resource', 'Cluster', '--hard-limit', '7');
    assert.equal(dup.code, 1, show(dup));
    assert.match(dup.stderr, /^Create quota for project_id proj-a resource Cluster failed: Quota for project proj-a already exists for resource Cluster \(HTTP 409\)/);
    const upd = ok(await coe('quotas', 'update', '--project-id', 'proj-a', '--resource', 'Cluster', '--hard-limit', '9', '-f', 'json'));
    assert.equal(upd.hard_limit, 9);
    await samePropertiesAsOpenstack(['quotas', 'show', '--project-id', 'proj-a', '--resource', 'Cluster'], env, osEnv);
    const [mineList, theirList] = await Promise.all([coe('quotas', 'list', '--all-tenants', '-f', 'json'), os('quotas', 'list', '--all-tenants')]);
    assert.deepEqual(ok(mineList), [{ project_id: 'proj-a', resource: 'Cluster', hard_limit: 9 }]);
    assert.equal(theirList.code, 0, show(theirList));
    const theirRow = theirList.stdout.split('\n').filter((l) => l.startsWith('|')).slice(1).map((l) => l.slice(1, -1).split('|').map((c) => c.trim()));
    assert.deepEqual(theirRow, [['proj-a', 'Cluster', '9']]);

    await samePropertiesAsOpenstack(['stats', 'list', 'admin'], env, osEnv);
    const services = await sameAsOpenstack(['service', 'list'], env, osEnv);
    assert.deepEqual(Object.keys(services[0]), ['id', 'host', 'binary', 'state', 'disabled', 'disabled_reason', 'created_at', 'updated_at']);

    const del = await coe('quotas', 'delete', '--project-id', 'proj-a', '--resource', 'Cluster');
    ok(del);
    assert.equal(del.stdout, 'Request to delete quota for project id proj-a and resource Cluster has been accepted.\n');
    await samePropertiesAsOpenstack(['quotas', 'show', '--project-id', 'proj-a', '--resource', 'Cluster'], env, osEnv);
  });

  test('cluster config: the env file and kubeconfig of TLS-less clusters, refusing to overwrite without --force', async () => {
    ok(await coe('cluster', 'create', 'plain', '--cluster-template', 'swarm-plain', '--wait', '--poll-interval', '0.2'));
    ok(await coe('cluster', 'create', 'kplain', '--cluster-template', 'k8s-plain', '--wait', '--poll-interval', '0.2'));
    const dir = join(tempDir('coe-config-'), 'new');
    const r = await coe('cluster', 'config', 'plain', '--dir', dir);
    ok(r);
    assert.equal(r.stdout, `export DOCKER_HOST=tcp://192.0.2.250:2376\nexport DOCKER_CERT_PATH=${dir}\nexport DOCKER_TLS_VERIFY=\n`);
    assert.equal(readFileSync(join(dir, 'env'), 'utf8'), r.stdout);
    const theirs = await runOpenstack(['coe', 'cluster', 'config', 'plain', '--dir', dir], osEnv);
    assert.equal(theirs.stdout.trimEnd(), r.stdout.trimEnd(), 'the same lines as openstack coe cluster config');
    const again = await coe('cluster', 'config', 'plain', '--dir', dir);
    assert.equal(again.code, 1, show(again));
    assert.equal(again.stderr, `File ${join(dir, 'env')} exists, aborting (use --force to overwrite).\n`);
    ok(await coe('cluster', 'config', 'plain', '--dir', dir, '--force'));
    const csh = await runCoe(['cluster', 'config', 'plain', '--dir', dir, '--force'], { ...env, SHELL: '/bin/tcsh' });
    ok(csh);
    assert.match(csh.stdout, /^setenv DOCKER_HOST tcp:\/\/192\.0\.2\.250:2376\n/);

    const kdir = tempDir('coe-kconfig-');
    const k = await coe('cluster', 'config', 'kplain', '--dir', kdir);
    ok(k);
    assert.equal(k.stdout, `export KUBECONFIG=${kdir}/config\n`);
    assert.equal(statSync(join(kdir, 'config')).mode & 0o777, 0o600);
    const odir = tempDir('coe-kconfig-os-');
    ok(await runOpenstack(['coe', 'cluster', 'config', 'kplain', '--dir', odir], osEnv));
    // The OpenStack client's TLS-less kubeconfig has a stray quote after the user name; ours does not.
    assert.equal(readFileSync(join(kdir, 'config'), 'utf8'), readFileSync(join(odir, 'config'), 'utf8').replace("- name: kplain'\n", '- name: kplain\n'));

    // Every cluster has its CA, whatever the driver (the conductor makes it): both clients print it.
    const [mine, os2] = await Promise.all([coe('ca', 'show', 'c1'), os('ca', 'show', 'c1')]);
    ok(mine);
    assert.equal(os2.code, 0, os2.stderr);
    assert.match(mine.stdout, /^-----BEGIN CERTIFICATE-----\n/);
    assert.equal(mine.stdout.trimEnd(), os2.stdout.trimEnd());
  });

  test('output options: -c, value, yaml, shell, --fit-width; usage errors exit 2', async () => {
    assert.equal((await coe('cluster', 'show', 'c1', '-c', 'name', '-c', 'node_count', '-f', 'value')).stdout, 'c1\n1\n');
    assert.equal((await coe('cluster', 'show', 'c1', '-c', 'name', '-c', 'api_address', '-f', 'shell', '--prefix', 'c_')).stdout, 'c_name="c1"\nc_api_address="tcp://192.0.2.250:2376"\n');
    assert.match((await coe('cluster', 'list', '-f', 'yaml')).stdout, /^- uuid: \S+\n {2}name: c1\n/m);
    const narrow = await runCoe(['cluster', 'show', 'c1', '--fit-width'], { ...env, COLUMNS: '60' });
    ok(narrow);
    assert.ok(narrow.stdout.split('\n').every((l) => l.length <= 60), narrow.stdout);
    const bad = await coe('cluster', 'show', 'c1', '-c', 'nope');
    assert.equal(bad.code, 2, show(bad));
    assert.match(bad.stderr, /No recognized column names in \["nope"\]/);
    const usage = await coe('cluster', 'create', 'x');
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /required option '--cluster-template <cluster-template>' not specified/);
    const closed = await freePort();
    const conn = await runCoe(['cluster', 'list'], { ...env, OS_ENDPOINT: `http://127.0.0.1:${closed}/v1` });
    assert.equal(conn.code, 1);
    assert.equal(conn.stderr, `Unable to establish connection to http://127.0.0.1:${closed}/v1/clusters: ECONNREFUSED\n`);
    const flag = await runCoe(['--os-endpoint', aio.endpoint, 'cluster', 'list', '-f', 'value', '-c', 'name'], cleanEnv(newHome()));
    ok(flag);
    assert.equal(flag.stdout, 'c1\nplain\nkplain\n');
  });

  test('containers, Swarm services, pods and image loads: the server\'s answers on a fake cluster', async () => {
    const v1 = await (await fetch(aio.endpoint)).json() as Record<string, unknown>;
    if ('containers' in v1) {
      assert.deepEqual(ok(await coe('container', 'list', '-f', 'json')), []);
      const r = await coe('container', 'create', '--cluster', 'c1', '--image', 'busybox');
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, /\(HTTP (4\d\d|5\d\d)\) \(Request-ID: req-/);
      refused(await coe('container', 'show', 'nope'), 404, 'Container nope could not be found');
    } else {
      refused(await coe('container', 'list'), 404, /^The API has no route GET \/v1\/containers/);
    }
    if ('services' in v1) {
      assert.deepEqual(ok(await coe('service', 'list', '--cluster', 'c1', '-f', 'json')), []);
      const dir = tempDir('coe-svc-');
      writeFileSync(join(dir, 'web.yaml'), 'image: busybox\nreplicas: 2\n');
      const r = await runCoe(['service', 'create', '--cluster', 'kplain', '--manifest', 'web.yaml'], env, { cwd: dir });
      refused(r, 400, /^Invalid manifest: a Kubernetes Service manifest .* is expected on COE kubernetes \(HTTP 400\)/);
    } else {
      refused(await coe('service', 'list', '--cluster', 'c1'), 404, /^The API has no route GET \/v1\/services/);
    }
    if ('pods' in v1) {
      const r = await coe('pod', 'list', '--cluster', 'c1');
      refused(r, 400, 'Pods are not supported for COE swarm-mode');
    }
    const load = await coe('image', 'load', 'c1', '../etc/passwd');
    assert.equal(load.code, 1, show(load));
    assert.match(load.stderr, /\(HTTP 400\)/);
  });
});
