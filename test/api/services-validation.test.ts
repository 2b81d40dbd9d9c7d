// /v1/services and /v1/pods in process, on each database: bad bodies, bad manifests and bad values
// get a 400 in Magnum's error format that says what is wrong, and leave the database as it was; a
// member of another project gets 404 on every route of these objects; pods and Kubernetes
// manifests on a swarm-mode cluster get a clear 400; a kubernetes cluster has no backend yet.
// Every answer of /v1/services and /v1/pods here validates against /v1/openapi.json.
// (Real Swarm services: test/acceptance/services.test.ts.)
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { databaseKinds } from '../helpers/databases.ts';
import { magnumError } from '../helpers/magnum-error.ts';
import { answerChecker, workloadRoutes, type AnswerChecker, type OpenApiDocument } from '../helpers/openapi-answers.ts';
import { as, startStack, waitFor, type TestStack } from '../helpers/stack.ts';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** magnumError, naming the case when it fails. */
function expectError(what: string, r: LightMyRequestResponse, status: number, detail?: string | RegExp): void {
  try {
    magnumError(r, status, detail);
  } catch (err) {
    throw new Error(`${what}: ${(err as Error).message}`);
  }
}


for (const kind of databaseKinds()) {
  describe(`services and pods: validation, isolation (${kind})`, () => {
    let s: TestStack;
    let sw: string; // p1's swarm-mode cluster (fake driver: api_address tcp://192.0.2.250:2376)
    let k8s: string; // p1's kubernetes cluster
    let svc: string; // a service row of p1 on sw (the fake driver makes none: stored directly)
    const p1 = as('p1');
    const p2 = as('p2');
    let checkAnswer: AnswerChecker;

    const send = async (method: Method, url: string, headers: Record<string, string>, payload?: unknown, raw?: string) => {
      const r = await s.app.inject({ method, url, headers, ...(raw !== undefined ? { payload: raw } : payload === undefined ? {} : { payload: JSON.stringify(payload) }) });
      // The answers of these routes (not the 405s of methods they do not have) are in the document.
      if (/^\/v1\/(services|pods)(\/|\?|$)/.test(url) && r.statusCode !== 405) {
        checkAnswer(method, url, r.statusCode, r.body ? r.json() : null);
      }
      return r;
    };

    async function snapshot(): Promise<string> {
      const rows = await s.storage.conn.db.selectFrom('cluster_workload').selectAll().orderBy('id').execute();
      // Health events come from the conductor's own polling, whenever it runs: not from requests.
      const { cluster_event: _polled, ...counts } = await s.storage.tableCounts();
      return JSON.stringify({ rows, counts });
    }

    async function cluster(name: string, templateName: string, coe: string): Promise<string> {
      let r = await send('POST', '/v1/clustertemplates', p1, { name: templateName, coe, image_id: 'fake-image' });
      assert.equal(r.statusCode, 201, r.body);
      r = await send('POST', '/v1/clusters', p1, { name, cluster_template_id: templateName, node_count: 1 });
      assert.equal(r.statusCode, 202, r.body);
      const uuid = r.json().uuid as string;
      await waitFor(`${name} CREATE_COMPLETE`, async () => ((await send('GET', `/v1/clusters/${uuid}`, p1)).json().status === 'CREATE_COMPLETE' ? true : undefined));
      return uuid;
    }

    before(async () => {
      s = await startStack(kind);
      checkAnswer = answerChecker((await s.app.inject({ method: 'GET', url: '/v1/openapi.json' })).json() as OpenApiDocument);
      sw = await cluster('sw', 'swarm-t', 'swarm-mode');
      k8s = await cluster('k1', 'k8s-t', 'kubernetes');
      svc = randomUUID();
      await s.storage.workloads.create({
        uuid: svc, kind: 'service', name: 'web', project_id: 'p1', user_id: 'p1-user', cluster_id: sw, coe: 'swarm-mode', backend_id: 'abc',
        manifest: {
          image: 'busybox:latest', environment: { A: 'b' }, labels: {},
          ports: [{ target: 80, published: 8080, host_ip: '192.0.2.250', protocol: 'tcp', mode: 'ingress' }],
          deploy: { replicas: 3, labels: { tier: 'web' }, placement: { constraints: [] }, update_config: {} },
        },
      });
    });
    after(async () => {
      await s?.close();
      assert.ok(checkAnswer.count > 100, `${checkAnswer.count} answers checked against /v1/openapi.json`);
      // No backend here: only the lists succeed; every route's answers (refusals included) were checked.
      const routes = new Set([...checkAnswer.seen].map((r) => r.replace(/ \d+$/, '')));
      const missing = [...workloadRoutes('services'), ...workloadRoutes('pods')].map((r) => r.replace(/ \d+$/, '')).filter((r) => !routes.has(r));
      assert.deepEqual(missing, [], `checked: ${[...checkAnswer.seen].sort().join(', ')}`);
    });

    test('the /v1 document lists services and pods', async () => {
      const r = await send('GET', '/v1', {});
      assert.equal(r.statusCode, 200);
      assert.match(r.json().services[0].href, /\/v1\/services\/$/);
      assert.match(r.json().pods[0].href, /\/v1\/pods\/$/);
      assert.ok(r.json().mservices, 'Magnum 15\'s mservices is still there');
    });

    test('bad create bodies, manifests and values: 400 naming the problem, nothing stored', async () => {
      const before = await snapshot();
      const m = (manifest: unknown, extra: Record<string, unknown> = {}) => ({ cluster_uuid: sw, manifest, ...extra });
      const cases: [string, unknown, string | RegExp][] = [
        ['array body', [m({ image: 'busybox' })], /expected a JSON object/],
        ['unknown attribute', m({ image: 'busybox' }, { bogus: 1 }), 'Unknown attribute for argument service: bogus'],
        ['read-only status', m({ image: 'busybox' }, { status: 'RUNNING' }), "Invalid input for field/attribute status. Value: 'RUNNING'. Cannot set read only field."],
        ['read-only tasks', m({ image: 'busybox' }, { tasks: [] }), /Cannot set read only field/],
        ['manifest missing', { cluster_uuid: sw }, "Invalid input for field/attribute manifest. Value: 'None'. Mandatory field missing."],
        ['cluster missing', { manifest: { image: 'busybox' } }, "Invalid input for field/attribute cluster_uuid. Value: 'None'. Mandatory field missing."],
        ['cluster_uuid and bay_uuid differ', m({ image: 'busybox' }, { bay_uuid: k8s }), /cluster_uuid and bay_uuid name different clusters/],
        ['manifest_url', { cluster_uuid: sw, manifest_url: 'http://example.com/m.yaml' }, /manifest_url is not supported/],
        ['manifest a list', m([{ image: 'busybox' }]), 'Invalid manifest: expected YAML or JSON text or a JSON object, got a list'],
        ['manifest a number', m(5), /^Invalid manifest: expected YAML or JSON text or a JSON object/],
        ['manifest empty text', m('  '), 'Invalid manifest: the manifest is empty'],
        ['manifest bad YAML', m('image: [busybox'), /^Invalid manifest: not valid YAML or JSON: /],
        ['manifest a YAML scalar', m('busybox'), 'Invalid manifest: expected a mapping (a YAML or JSON object), got a string'],
        ['duplicate YAML keys', m('image: a\nimage: b\n'), /^Invalid manifest: not valid YAML or JSON: Map keys must be unique/],
        ['image missing', m({ replicas: 2 }), 'Invalid manifest: image: is required'],
        ['image not a string', m({ image: 5 }), 'Invalid manifest: image: expected a string, got a number'],
        ['image not a reference', m({ image: 'Busy Box!' }), /^Invalid manifest: image: "Busy Box!" is not a valid image reference/],
        ['unknown field', m({ image: 'busybox', restart: 'always' }), /^Invalid manifest: restart: unknown field \(supported fields are: name, image, command/],
        ['replicas negative', m({ image: 'busybox', replicas: -1 }), 'Invalid manifest: replicas: must be between 0 and 1000, got -1'],
        ['replicas too many', m({ image: 'busybox', replicas: 1001 }), 'Invalid manifest: replicas: must be between 0 and 1000, got 1001'],
        ['replicas a float', m({ image: 'busybox', replicas: 1.5 }), 'Invalid manifest: replicas: expected an integer, got a number 1.5'],
        ['replicas text', m('image: busybox\nreplicas: many\n'), 'Invalid manifest: replicas: expected an integer, got a string "many"'],
        ['replicas twice, differently', m({ image: 'busybox', replicas: 2, deploy: { replicas: 3 } }), 'Invalid manifest: replicas: 2 differs from deploy.replicas 3'],
        ['deploy mode global', m({ image: 'busybox', deploy: { mode: 'global' } }), 'Invalid manifest: deploy.mode: only replicated services are supported, got "global"'],
        ['deploy unknown field', m({ image: 'busybox', deploy: { resources: {} } }), /^Invalid manifest: deploy\.resources: unknown field \(deploy takes: replicas, labels, placement, update_config, mode\)/],
        ['update order', m({ image: 'busybox', deploy: { update_config: { order: 'random' } } }), 'Invalid manifest: deploy.update_config.order: must be start-first or stop-first, got "random"'],
        ['update delay', m({ image: 'busybox', deploy: { update_config: { delay: 'soon' } } }), /^Invalid manifest: deploy\.update_config\.delay: "soon" is not a duration/],
        ['stop_grace_period', m({ image: 'busybox', stop_grace_period: '10 seconds' }), /^Invalid manifest: stop_grace_period: "10 seconds" is not a duration/],
        ['port garbage', m({ image: 'busybox', ports: ['abc'] }), 'Invalid manifest: ports[0]: "abc" is not of the form [HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL]'],
        ['port out of range', m({ image: 'busybox', ports: ['70000:80'] }), 'Invalid manifest: ports[0]: must be between 1 and 65535, got 70000'],
        ['port range', m({ image: 'busybox', ports: ['8000-8010:80'] }), /^Invalid manifest: ports\[0\]: "8000-8010:80": port ranges are not supported/],
        ['port IPv6', m({ image: 'busybox', ports: ['[::1]:8080:80'] }), /only IPv4 host addresses are supported/],
        ['port bad protocol', m({ image: 'busybox', ports: ['8080:80/http'] }), 'Invalid manifest: ports[0]: must be tcp, udp or sctp, got "http"'],
        ['port without target', m({ image: 'busybox', ports: [{ published: 8080 }] }), 'Invalid manifest: ports[0].target: is required'],
        ['port unknown field', m({ image: 'busybox', ports: [{ target: 80, name: 'web' }] }), /^Invalid manifest: ports\[0\]\.name: unknown field/],
        ['ingress without published', m({ image: 'busybox', ports: [{ target: 80, mode: 'ingress' }] }), 'Invalid manifest: ports[0].published: is required with mode ingress'],
        ['udp on the cluster address', m({ image: 'busybox', ports: ['8053:53/udp'] }), /^Invalid manifest: ports\[0\]\.protocol: udp ports cannot be published on the cluster's address \(there is no routing mesh here\); use mode host/],
        ['privileged port', m({ image: 'busybox', ports: ['80:80'] }), "Invalid manifest: ports[0].published: ports below 1024 are not published on the cluster's address, got 80"],
        ['host_ip with mode host', m({ image: 'busybox', ports: [{ target: 80, published: 8080, host_ip: '127.0.0.1', mode: 'host' }] }), /^Invalid manifest: ports\[0\]\.host_ip: cannot be set with mode host/],
        ['port twice', m({ image: 'busybox', ports: ['8080:80', '8080:81'] }), 'Invalid manifest: ports[1]: published port 8080/tcp is also given by ports[0]'],
        ['another address', m({ image: 'busybox', ports: ['10.1.2.3:8080:80'] }), 'Invalid manifest: ports[0].host_ip: the services of cluster sw are published on 192.0.2.250, not 10.1.2.3'],
        ['environment without value', m({ image: 'busybox', environment: { A: null } }), 'Invalid manifest: environment.A: has no value (there is no local environment to take it from)'],
        ['environment list item', m({ image: 'busybox', environment: ['NOVALUE'] }), 'Invalid manifest: environment[0]: "NOVALUE" is not of the form KEY=VALUE'],
        ['environment bad name', m({ image: 'busybox', environment: { 'A B': 'x' } }), 'Invalid manifest: environment: "A B" is not a valid variable name'],
        ['environment a string', m({ image: 'busybox', environment: 'A=1' }), /^Invalid manifest: environment: expected a mapping or a list of "KEY=VALUE" strings, got a string/],
        ['constraint unknown', m({ image: 'busybox', constraints: ['node.foo==1'] }), /^Invalid manifest: constraints\[0\]: "node\.foo==1" is not a placement constraint/],
        ['constraint role', m({ image: 'busybox', deploy: { placement: { constraints: ['node.role==boss'] } } }), 'Invalid manifest: deploy.placement.constraints[0]: node.role is manager or worker, got "boss"'],
        ['reserved label', m({ image: 'busybox', deploy: { labels: { 'magnum.service': 'x' } } }), 'Invalid manifest: deploy.labels: magnum.service: labels starting with magnum. are reserved'],
        ['command empty', m({ image: 'busybox', command: [] }), 'Invalid manifest: command: must not be empty'],
        ['command quote', m({ image: 'busybox', command: "sh -c 'echo" }), 'Invalid manifest: command: unterminated single quote'],
        ['command item', m({ image: 'busybox', command: ['sh', { x: 1 }] }), 'Invalid manifest: command[1]: expected a string, got a mapping'],
        ['init not a bool', m('image: busybox\ninit: yes\n'), 'Invalid manifest: init: expected true or false, got a string'],
        ['working_dir relative', m({ image: 'busybox', working_dir: 'www' }), 'Invalid manifest: working_dir: "www" is not an absolute path'],
        ['two services', m({ services: { a: { image: 'x' }, b: { image: 'y' } } }), 'Invalid manifest: services: a manifest defines exactly one service, got 2'],
        ['compose service not a mapping', m({ services: { a: 'x' } }), 'Invalid manifest: services.a: expected a mapping, got a string'],
        ['compose bad field', m({ services: { a: { image: 'x', replicas: 'z' } } }), 'Invalid manifest: services.a.replicas: expected an integer, got a string "z"'],
        ['compose extra top-level key', m({ services: { a: { image: 'x' } }, volumes: {} }), /^Invalid manifest: volumes: unknown field/],
        ['body name differs', m({ name: 'a', image: 'x' }, { name: 'b' }), 'Invalid manifest: name: "a" differs from the name "b" in the request'],
        ['bad service name', m({ image: 'x' }, { name: '-web' }), /^Invalid input for field\/attribute name\. Value: '-web'\. A Swarm service name has/],
        ['bad name in the manifest', m({ name: 'a b', image: 'x' }), /^Invalid manifest: name: "a b" is not a valid service name/],
        ['Kubernetes manifest on swarm-mode', m({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 80 }] } }),
          'Kubernetes services are not supported for COE swarm-mode: send a Compose-style service definition (image, replicas, ports, ...).'],
        ['Compose manifest on kubernetes', { cluster_uuid: k8s, manifest: { image: 'busybox' } }, /^Invalid manifest: a Kubernetes Service manifest \(apiVersion: v1, kind: Service, metadata\.name, spec\.ports\) is expected on COE kubernetes$/],
        ['Kubernetes service without ports', { cluster_uuid: k8s, manifest: 'apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {}\n' }, 'Invalid manifest: spec.ports: is required'],
        ['Kubernetes service without a name', { cluster_uuid: k8s, manifest: { apiVersion: 'v1', kind: 'Service', metadata: {}, spec: { ports: [{ port: 80 }] } } }, 'Invalid manifest: metadata.name: is required'],
        ['Kubernetes service of another kind', { cluster_uuid: k8s, manifest: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 's' } } }, 'Invalid manifest: kind: expected Service, got "Pod"'],
        ['Kubernetes service bad port', { cluster_uuid: k8s, manifest: { kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 0 }] } } }, 'Invalid manifest: spec.ports[0].port: must be between 1 and 65535, got 0'],
      ];
      for (const [name, body, detail] of cases) {
        expectError(name, await send('POST', '/v1/services', p1, body), 400, detail);
      }
      magnumError(await send('POST', '/v1/services', p1, undefined, '{"cluster_uuid": '), 400, /^Invalid data in the request body/);
      magnumError(await send('POST', '/v1/services?x=1', p1, m({ image: 'busybox' })), 400, 'Unknown argument: "x"');
      assert.equal(await snapshot(), before, 'nothing stored');
    });

    test('pods: validated as Kubernetes manifests; not supported on swarm-mode; a kubernetes cluster whose driver (fake) has no Kubernetes backend', async () => {
      const before = await snapshot();
      const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p1', labels: { app: 'a' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } };
      const cases: [string, unknown, string | RegExp][] = [
        ['manifest missing', { cluster_uuid: sw }, "Invalid input for field/attribute manifest. Value: 'None'. Mandatory field missing."],
        ['no metadata', { cluster_uuid: sw, manifest: { kind: 'Pod', spec: {} } }, 'Invalid manifest: metadata: is required'],
        ['no name', { cluster_uuid: sw, manifest: { kind: 'Pod', metadata: {}, spec: {} } }, 'Invalid manifest: metadata.name: is required'],
        ['bad name', { cluster_uuid: sw, manifest: { kind: 'Pod', metadata: { name: 'Web_1' }, spec: {} } }, /^Invalid manifest: metadata\.name: "Web_1" is not a valid Kubernetes name/],
        ['no containers', { cluster_uuid: sw, manifest: 'kind: Pod\nmetadata: {name: p}\nspec: {}\n' }, 'Invalid manifest: spec.containers: is required'],
        ['empty containers', { cluster_uuid: sw, manifest: { kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [] } } }, 'Invalid manifest: spec.containers: expected a non-empty list of containers'],
        ['container without image', { cluster_uuid: sw, manifest: { kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c' }] } } }, 'Invalid manifest: spec.containers[0].image: is required'],
        ['wrong kind', { cluster_uuid: sw, manifest: { ...pod, kind: 'Service' } }, 'Invalid manifest: kind: expected Pod, got "Service"'],
        ['body name differs', { cluster_uuid: sw, name: 'other', manifest: pod }, 'Invalid manifest: metadata.name: "p1" differs from the name "other" in the request'],
        ['a valid pod on swarm-mode', { cluster_uuid: sw, manifest: pod }, 'Pods are not supported for COE swarm-mode.'],
        ['a valid pod (YAML) on swarm-mode', { bay_uuid: 'sw', manifest: 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p1\nspec:\n  containers:\n  - {name: c, image: busybox}\n' }, 'Pods are not supported for COE swarm-mode.'],
        ['a valid pod on kubernetes', { cluster_uuid: k8s, manifest: pod }, 'Kubernetes pods are not supported: no Kubernetes backend is available.'],
      ];
      for (const [name, body, detail] of cases) {
        expectError(name, await send('POST', '/v1/pods', p1, body), 400, detail);
      }
      magnumError(await send('POST', '/v1/services', p1, { cluster_uuid: k8s, manifest: { kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 80 }] } } }), 400,
        'Kubernetes services are not supported: no Kubernetes backend is available.');
      // A swarm-mode cluster of a driver without services (the test driver).
      magnumError(await send('POST', '/v1/services', p1, { cluster_uuid: sw, manifest: { image: 'busybox' } }), 400, 'Services are not supported by the fake driver.');
      magnumError(await send('GET', `/v1/pods?cluster_ident=${sw}`, p1), 400, 'Pods are not supported for COE swarm-mode.');
      magnumError(await send('GET', `/v1/pods/detail?bay_ident=sw`, p1), 400, 'Pods are not supported for COE swarm-mode.');
      assert.equal(await snapshot(), before, 'nothing stored');
    });

    test('lists: stored fields, filters, pagination checks', async () => {
      let r = await send('GET', '/v1/services', p1);
      assert.equal(r.statusCode, 200, r.body);
      const [item] = r.json().services;
      assert.deepEqual(Object.keys(item), ['uuid', 'name', 'cluster_uuid', 'bay_uuid', 'coe', 'image', 'replicas', 'ports', 'endpoints', 'labels', 'links']);
      assert.equal(item.uuid, svc);
      assert.equal(item.replicas, 3);
      assert.deepEqual(item.endpoints, ['192.0.2.250:8080']);
      assert.deepEqual(item.labels, { tier: 'web' });
      assert.match(item.links[0].href, new RegExp(`/v1/services/${svc}$`));
      for (const q of [`cluster_ident=${sw}`, 'cluster_ident=sw', `bay_ident=${sw}`]) {
        r = await send('GET', `/v1/services?${q}`, p1);
        assert.deepEqual(r.json().services.map((x: { uuid: string }) => x.uuid), [svc], q);
      }
      r = await send('GET', `/v1/services?cluster_ident=${k8s}`, p1);
      assert.deepEqual(r.json().services, []);
      r = await send('GET', '/v1/pods', p1);
      assert.deepEqual(r.json(), { pods: [] });
      // Detail: the live fields come from the conductor; this driver has no services backend.
      r = await send('GET', '/v1/services/detail', p1);
      assert.equal(r.statusCode, 200, r.body);
      const d = r.json().services[0];
      assert.equal(d.status, 'UNKNOWN');
      assert.equal(d.status_reason, 'Services are not supported by the fake driver.');
      assert.equal(d.manifest.image, 'busybox:latest');
      assert.equal(d.project_id, 'p1');
      r = await send('GET', '/v1/services?limit=1', p1);
      assert.match(r.json().next, new RegExp(`/v1/services\\?sort_key=id&sort_dir=asc&limit=1&marker=${svc}$`));
      magnumError(await send('GET', '/v1/services?bogus=1', p1), 400, 'Unknown argument: "bogus"');
      magnumError(await send('GET', '/v1/services?limit=0', p1), 400, 'Limit must be positive');
      magnumError(await send('GET', '/v1/services?sort_key=manifest', p1), 400, 'The sort_key value "manifest" is an invalid field for sorting');
      magnumError(await send('GET', '/v1/services?marker=x', p1), 400, /Expected a uuid/);
      magnumError(await send('GET', `/v1/services?marker=${randomUUID()}`, p1), 404, /^Service .* could not be found\.$/);
      magnumError(await send('GET', '/v1/services?cluster_ident=nope', p1), 404, 'Cluster nope could not be found.');
      magnumError(await send('GET', `/v1/services?cluster_ident=${sw}&bay_ident=${k8s}`, p1), 400, /name different clusters/);
    });

    test('bad patches and values: 400, the stored manifest unchanged', async () => {
      const before = await snapshot();
      const cases: [string, unknown, string | RegExp][] = [
        ['not a list', { op: 'replace', path: '/replicas', value: 2 }, /a JSON-Patch document \(a JSON array of operations\) is expected/],
        ['bad op', [{ op: 'move', path: '/replicas', from: '/x' }], 'Unknown attribute for argument patch: from'],
        ['op copy', [{ op: 'copy', path: '/replicas' }], "Invalid input for field/attribute op. Value: 'copy'. Value should be one of: add, replace, remove"],
        ['no value', [{ op: 'replace', path: '/replicas' }], "'add' and 'replace' operations needs value"],
        ['internal', [{ op: 'replace', path: '/status', value: 'RUNNING' }], "'/status' is an internal attribute and can not be updated"],
        ['internal uuid', [{ op: 'replace', path: '/uuid', value: randomUUID() }], /is an internal attribute/],
        ['name', [{ op: 'replace', path: '/name', value: 'other' }], /^'\/name' can not be updated/],
        ['unknown', [{ op: 'replace', path: '/colour', value: 'red' }], 'Unknown attribute for argument service: colour'],
        ['replicas text', [{ op: 'replace', path: '/replicas', value: 'abc' }], 'Invalid manifest: deploy.replicas: expected an integer, got a string "abc"'],
        ['replicas negative', [{ op: 'replace', path: '/manifest/replicas', value: -2 }], 'Invalid manifest: deploy.replicas: must be between 0 and 1000, got -2'],
        ['image empty', [{ op: 'replace', path: '/image', value: '' }], 'Invalid manifest: image: must not be empty'],
        ['image removed', [{ op: 'remove', path: '/manifest/image' }], 'Invalid manifest: image: is required'],
        ['unknown manifest field', [{ op: 'add', path: '/manifest/restart', value: 'always' }], /^Invalid manifest: restart: unknown field/],
        ['missing member', [{ op: 'replace', path: '/manifest/command', value: ['sh'] }], /^Couldn't apply patch .*can't remove or replace a non-existent object/],
        ['ports changed', [{ op: 'replace', path: '/manifest/ports', value: ['9090:80'] }], 'Invalid manifest: ports: cannot be changed by an update; delete the service and create it again'],
        ['manifest text bad', [{ op: 'replace', path: '/manifest', value: 'image: [x' }], /^Invalid manifest: not valid YAML or JSON/],
        ['manifest of another service', [{ op: 'replace', path: '/manifest', value: { services: { other: { image: 'x' } } } }], 'Invalid manifest: services: "other" differs from the name "web" in the request'],
        ['constraint', [{ op: 'add', path: '/manifest/constraints', value: ['node.role=worker'] }], /is not a placement constraint/],
      ];
      for (const [name, body, detail] of cases) {
        expectError(name, await send('PATCH', `/v1/services/${svc}`, p1, body), 400, detail);
      }
      // A valid patch reaches the conductor, whose driver has no services backend here.
      magnumError(await send('PATCH', `/v1/services/${svc}`, p1, [{ op: 'replace', path: '/replicas', value: 5 }]), 400, 'Services are not supported by the fake driver.');
      assert.equal(await snapshot(), before, 'nothing changed');
    });

    test('a member of another project gets 404 on every route of these objects', async () => {
      const before = await snapshot();
      const patch = [{ op: 'replace', path: '/replicas', value: 1 }];
      for (const ident of [svc, 'web']) {
        magnumError(await send('GET', `/v1/services/${ident}`, p2), 404, `Service ${ident} could not be found.`);
        magnumError(await send('GET', `/v1/services/${ident}?cluster_ident=${sw}`, p2), 404, `Cluster ${sw} could not be found.`);
        magnumError(await send('PATCH', `/v1/services/${ident}`, p2, patch), 404, `Service ${ident} could not be found.`);
        magnumError(await send('DELETE', `/v1/services/${ident}`, p2), 404, `Service ${ident} could not be found.`);
        magnumError(await send('GET', `/v1/pods/${ident}`, p2), 404, `Pod ${ident} could not be found.`);
        magnumError(await send('PATCH', `/v1/pods/${ident}`, p2, patch), 404, `Pod ${ident} could not be found.`);
        magnumError(await send('DELETE', `/v1/pods/${ident}`, p2), 404, `Pod ${ident} could not be found.`);
      }
      magnumError(await send('GET', `/v1/services?cluster_ident=${sw}`, p2), 404, `Cluster ${sw} could not be found.`);
      magnumError(await send('GET', `/v1/services/detail?cluster_ident=${sw}`, p2), 404, `Cluster ${sw} could not be found.`);
      magnumError(await send('GET', `/v1/pods?bay_ident=${sw}`, p2), 404, `Cluster ${sw} could not be found.`);
      magnumError(await send('POST', '/v1/services', p2, { cluster_uuid: sw, manifest: { image: 'busybox' } }), 404, `Cluster ${sw} could not be found.`);
      magnumError(await send('POST', '/v1/pods', p2, { bay_uuid: k8s, manifest: { kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x' }] } } }), 404, `Cluster ${k8s} could not be found.`);
      let r = await send('GET', '/v1/services', p2);
      assert.deepEqual(r.json(), { services: [] });
      r = await send('GET', '/v1/services/detail', p2);
      assert.deepEqual(r.json(), { services: [] });
      magnumError(await send('GET', `/v1/services?marker=${svc}`, p2), 404, `Service ${svc} could not be found.`);
      // A pod route never finds a service, and the other way round.
      magnumError(await send('GET', `/v1/pods/${svc}`, p1), 404, `Pod ${svc} could not be found.`);
      // Methods the routes do not have.
      assert.equal((await send('PUT', `/v1/services/${svc}`, p1, {})).statusCode, 405);
      assert.equal((await send('POST', `/v1/services/${svc}`, p1, {})).statusCode, 405);
      assert.equal(await snapshot(), before, 'nothing changed');
    });

    test('the owner reaches the conductor (no backend here: a clear 400, the row stays)', async () => {
      magnumError(await send('GET', `/v1/services/${svc}`, p1), 400, 'Services are not supported by the fake driver.');
      magnumError(await send('GET', '/v1/services/web?cluster_ident=sw', p1), 400, 'Services are not supported by the fake driver.');
      magnumError(await send('DELETE', `/v1/services/${svc}`, p1), 400, 'Services are not supported by the fake driver.');
      assert.ok(await s.storage.workloads.get(svc));
    });

    test('deleting the cluster removes its services\' rows', async () => {
      const gone = randomUUID();
      let r = await send('POST', '/v1/clusters', p1, { name: 'tmp', cluster_template_id: 'swarm-t', node_count: 1 });
      const tmp = r.json().uuid as string;
      await waitFor('tmp CREATE_COMPLETE', async () => ((await send('GET', `/v1/clusters/${tmp}`, p1)).json().status === 'CREATE_COMPLETE' ? true : undefined));
      await s.storage.workloads.create({ uuid: gone, kind: 'service', name: 'x', project_id: 'p1', user_id: 'u', cluster_id: tmp, coe: 'swarm-mode', manifest: { image: 'x' } });
      r = await send('DELETE', `/v1/clusters/${tmp}`, p1);
      assert.equal(r.statusCode, 204);
      await waitFor('tmp gone', async () => ((await send('GET', `/v1/clusters/${tmp}`, p1)).statusCode === 404 ? true : undefined));
      assert.equal(await s.storage.workloads.get(gone), null);
    });
  });
}
