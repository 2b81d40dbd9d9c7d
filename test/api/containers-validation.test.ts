// /v1/containers and /v1/clusters/{ident}/images in process, on each database: bad bodies and bad
// values get a 400 in Magnum's error format and leave the database as it was; a member of another
// project gets 404 on every route; wrong methods get 405; a cluster whose nodes do not answer
// gets a clear 503 within seconds (its node is recorded at a loopback address nothing listens on).
// Every answer of /v1/containers here (not the 405 and 415 every route gives) validates against /v1/openapi.json.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { databaseKinds } from '../helpers/databases.ts';
import { magnumError } from '../helpers/magnum-error.ts';
import { answerChecker, type AnswerChecker, type OpenApiDocument } from '../helpers/openapi-answers.ts';
import { as, startStack, waitFor, type TestStack } from '../helpers/stack.ts';

const UNREACHABLE = '127.0.0.9';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';


for (const kind of databaseKinds()) {
  describe(`containers: validation, isolation, unreachable clusters (${kind})`, () => {
    let s: TestStack;
    let imageDir: string;
    let c1: string; // p1's swarm-mode cluster, one node recorded at an unreachable address
    let bare: string; // p1's swarm-mode cluster without nodes
    let k8s: string; // p1's kubernetes cluster
    let ctr: string; // p1's container on c1
    const p1 = as('p1');
    const p2 = as('p2');
    const admin = as('admin', { roles: ['admin'] });

    let checkAnswer: AnswerChecker;

    const send = async (method: Method, url: string, headers: Record<string, string>, payload?: unknown, raw?: string) => {
      const r = await s.app.inject({ method, url, headers, ...(raw !== undefined ? { payload: raw } : payload === undefined ? {} : { payload: JSON.stringify(payload) }) });
      if (/^\/v1\/containers(\/|\?|$)/.test(url) && r.statusCode !== 405 && r.statusCode !== 415) {
        checkAnswer(method, url, r.statusCode, r.body ? r.json() : null);
      }
      return r;
    };

    async function snapshot(): Promise<string> {
      const rows = await s.storage.conn.db.selectFrom('container').selectAll().orderBy('id').execute();
      // Health events come from the conductor's own polling, whenever it runs: not from requests.
      const events = await s.storage.conn.db.selectFrom('cluster_event').select((eb) => eb.fn.countAll().as('n')).where('step', '!=', 'health').executeTakeFirst();
      const { cluster_event: _polled, ...counts } = await s.storage.tableCounts();
      return JSON.stringify({ rows, events: Number(events?.n), counts });
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
      imageDir = mkdtempSync(join(tmpdir(), 'magnum-images-'));
      // Just enough of a tar archive for the format check: "ustar" at offset 257.
      const tar = Buffer.alloc(1024);
      tar.write('ustar\u000000', 257, 'latin1');
      writeFileSync(join(imageDir, 'ok.tar'), tar);
      writeFileSync(join(imageDir, 'notes.txt'), 'not an image\n');
      s = await startStack(kind, { docker: { image_dir: imageDir } });
      checkAnswer = answerChecker((await s.app.inject({ method: 'GET', url: '/v1/openapi.json' })).json() as OpenApiDocument);
      c1 = await cluster('c1', 'swarm-t', 'swarm-mode');
      bare = await cluster('bare', 'swarm-t2', 'swarm-mode');
      k8s = await cluster('k1', 'k8s-t', 'kubernetes');
      await s.storage.intendResource(c1, 'container', 'node-w0', { role: 'worker', index: 0, address: UNREACHABLE });
      await s.storage.markResource(c1, 'container', 'node-w0', 'present', 'x');
      ctr = randomUUID();
      await s.storage.createContainer({
        uuid: ctr, name: 'web', project_id: 'p1', user_id: 'p1-user', cluster_id: c1, image: 'busybox:latest', command: ['sleep', '60'],
        memory: '64m', cpu: 0.5, environment: { A: 'b' }, ports: ['8080:80'], restart_policy: 'always', host: UNREACHABLE, docker_id: 'abc', status: 'Running',
      });
    });
    after(async () => {
      await s?.close();
      rmSync(imageDir, { recursive: true, force: true });
      assert.ok(checkAnswer.count > 100, `${checkAnswer.count} answers checked against /v1/openapi.json`);
    });

    test('the /v1 document lists containers', async () => {
      const r = await send('GET', '/v1', {});
      assert.equal(r.statusCode, 200);
      assert.match(r.json().containers[0].href, /\/v1\/containers\/$/);
    });

    test('bad create bodies and values: 400 in Magnum\'s format, nothing stored', async () => {
      const before = await snapshot();
      const good = { image: 'busybox:latest', bay_uuid: c1 };
      const cases: [string, unknown, number, string | RegExp][] = [
        ['array body', [good], 400, /expected a JSON object/],
        ['unknown attribute', { ...good, bogus: 1 }, 400, 'Unknown attribute for argument container: bogus'],
        ['read-only status', { ...good, status: 'Running' }, 400, "Invalid input for field/attribute status. Value: 'Running'. Cannot set read only field."],
        ['read-only host', { ...good, host: '10.0.0.1' }, 400, /^Invalid input for field\/attribute host\. .*Cannot set read only field\.$/],
        ['read-only links', { ...good, links: [] }, 400, /Cannot set read only field/],
        ['read-only project_id', { ...good, project_id: 'p2' }, 400, /Cannot set read only field/],
        ['image missing', { bay_uuid: c1 }, 400, "Invalid input for field/attribute image. Value: 'None'. Mandatory field missing."],
        ['image null', { image: null, bay_uuid: c1 }, 400, /Mandatory field missing/],
        ['image not a string', { image: 5, bay_uuid: c1 }, 400, /^Invalid input for field\/attribute image\. Value: '5'\. Wrong type/],
        ['image empty', { image: '', bay_uuid: c1 }, 400, /minimum character requirement of 1/],
        ['image upper case', { image: 'BusyBox', bay_uuid: c1 }, 400, /Docker image reference/],
        ['image like an option', { image: '--privileged', bay_uuid: c1 }, 400, /Docker image reference/],
        ['image with spaces', { image: 'busy box', bay_uuid: c1 }, 400, /Docker image reference/],
        ['name empty', { ...good, name: '' }, 400, /^Invalid input for field\/attribute name\./],
        ['name too long', { ...good, name: 'x'.repeat(256) }, 400, /maximum character requirement of 255/],
        ['name not a string', { ...good, name: 7 }, 400, /Wrong type/],
        ['memory word', { ...good, memory: 'lots' }, 400, /Invalid docker memory specified/],
        ['memory fraction', { ...good, memory: '1.5g' }, 400, /Invalid docker memory specified/],
        ['memory below 4 MiB', { ...good, memory: '1m' }, 400, "Invalid input for field/attribute memory. Value: '1m'. Docker Minimum memory limit allowed is 4194304 B."],
        ['memory not a string', { ...good, memory: 64 }, 400, /Wrong type/],
        ['cpu word', { ...good, cpu: 'two' }, 400, /^Invalid input for field\/attribute cpu\./],
        ['cpu zero', { ...good, cpu: 0 }, 400, /greater or equal to 0.01/],
        ['cpu negative', { ...good, cpu: -1 }, 400, /greater or equal to 0.01/],
        ['cpu bool', { ...good, cpu: true }, 400, /^Invalid input for field\/attribute cpu\./],
        ['cpu huge', { ...good, cpu: 5000 }, 400, /lower or equal to 1024/],
        ['command empty', { ...good, command: '' }, 400, /^Invalid input for field\/attribute command\./],
        ['command blank', { ...good, command: '   ' }, 400, /should not be empty/],
        ['command empty list', { ...good, command: [] }, 400, /non-empty list of strings/],
        ['command list of numbers', { ...good, command: [1, 2] }, 400, /non-empty list of strings/],
        ['command object', { ...good, command: { a: 1 } }, 400, /non-empty list of strings/],
        ['command unterminated quote', { ...good, command: 'sh -c "echo' }, 400, /No closing quotation/],
        ['environment string', { ...good, environment: 'A=b' }, 400, /^Invalid input for field\/attribute environment\./],
        ['environment number value', { ...good, environment: { A: 1 } }, 400, /^Invalid input for field\/attribute environment\./],
        ['environment = in name', { ...good, environment: { 'A=B': 'c' } }, 400, /Variable names should be non-empty/],
        ['environment empty name', { ...good, environment: { '': 'c' } }, 400, /Variable names should be non-empty/],
        ['ports not a list', { ...good, ports: '80' }, 400, /should be a list of ports/],
        ['ports zero', { ...good, ports: ['0:80'] }, 400, /Each port should be/],
        ['ports too big', { ...good, ports: ['80:99999'] }, 400, /Each port should be/],
        ['ports word', { ...good, ports: ['http'] }, 400, /Each port should be/],
        ['ports with an address', { ...good, ports: ['0.0.0.0:80:80'] }, 400, /Each port should be/],
        ['ports bad protocol', { ...good, ports: ['80/icmp'] }, 400, /Each port should be/],
        ['ports object', { ...good, ports: [{ port: 80 }] }, 400, /Each port should be/],
        ['ports twice', { ...good, ports: ['8080:80', '8081:80'] }, 400, /published once/],
        ['host port twice', { ...good, ports: ['8080:80', '8080:81'] }, 400, /published once/],
        ['restart policy unknown', { ...good, restart_policy: 'sometimes' }, 400, /Value should be one of: no, always, unless-stopped, on-failure/],
        ['restart policy bad retries', { ...good, restart_policy: 'on-failure:x' }, 400, /Value should be one of/],
        ['uuid not a uuid', { ...good, uuid: 'nope' }, 400, /Expected a uuid/],
        ['no cluster', { image: 'busybox' }, 400, /^Invalid input for field\/attribute bay_uuid\. Value: 'None'\. Mandatory field missing/],
        ['two different clusters', { image: 'busybox', bay_uuid: c1, cluster_uuid: bare }, 400, 'bay_uuid and cluster_uuid name different clusters.'],
        ['kubernetes cluster', { image: 'busybox', cluster_uuid: k8s }, 400, /is a kubernetes cluster; containers run on swarm and swarm-mode clusters only/],
        ['unknown cluster', { image: 'busybox', cluster_uuid: 'nope' }, 404, 'Cluster nope could not be found.'],
        ['cluster without nodes', { image: 'busybox', cluster_uuid: 'bare' }, 409, /Cluster bare has no nodes to run containers on yet/],
      ];
      for (const [what, body, status, detail] of cases) {
        const r = await send('POST', '/v1/containers', p1, body);
        magnumError(r, status, detail);
        assert.equal(await snapshot(), before, `${what}: the database changed`);
      }
      for (const [what, raw, headers, status] of [
        ['not JSON', '{"image": ', p1, 400],
        ['empty body', '', p1, 400],
        ['text/plain', JSON.stringify(good), { ...p1, 'content-type': 'text/plain' }, 415],
      ] as const) {
        const r = await send('POST', '/v1/containers', headers, undefined, raw);
        magnumError(r, status);
        assert.equal(await snapshot(), before, `${what}: the database changed`);
      }
      magnumError(await send('POST', '/v1/containers?x=1', p1, good), 400, 'Unknown argument: "x"');
      // A uuid already taken.
      magnumError(await send('POST', '/v1/containers', p1, { ...good, uuid: ctr }), 409, `A container with UUID ${ctr} already exists.`);
      assert.equal(await snapshot(), before);
    });

    test('bad values on the other routes: 400, nothing changed', async () => {
      const before = await snapshot();
      const u = `/v1/containers/${ctr}`;
      const cases: [Method, string, unknown, number, string | RegExp][] = [
        ['GET', '/v1/containers?limit=0', undefined, 400, 'Limit must be positive'],
        ['GET', '/v1/containers?sort_key=nope', undefined, 400, 'The sort_key value "nope" is an invalid field for sorting'],
        ['GET', '/v1/containers?sort_dir=up', undefined, 400, /Invalid sort direction: up/],
        ['GET', '/v1/containers?marker=nope', undefined, 400, /Expected a uuid/],
        ['GET', `/v1/containers?marker=${randomUUID()}`, undefined, 404, /^Container .* could not be found\.$/],
        ['GET', '/v1/containers?bogus=1', undefined, 400, 'Unknown argument: "bogus"'],
        ['GET', '/v1/containers?bay_ident=nope', undefined, 404, 'Cluster nope could not be found.'],
        ['GET', `/v1/containers?bay_ident=${c1}&cluster_ident=bare`, undefined, 400, 'bay_ident and cluster_ident name different clusters.'],
        ['GET', `${u}?x=1`, undefined, 400, 'Unknown argument: "x"'],
        ['GET', '/v1/containers/nope', undefined, 404, 'Container nope could not be found.'],
        ['GET', `${u}/logs?tail=-1`, undefined, 400, /greater or equal to 0/],
        ['GET', `${u}/logs?tail=abc`, undefined, 400, /^Invalid input for field\/attribute tail\./],
        ['GET', `${u}/logs?since=yesterday`, undefined, 400, /^Invalid input for field\/attribute since\. Value: 'yesterday'/],
        ['GET', `${u}/logs?timestamps=maybe`, undefined, 400, /^Unrecognized value 'maybe'/],
        ['GET', `${u}/logs?follow=1`, undefined, 400, 'Unknown argument: "follow"'],
        ['PUT', `${u}/stop?timeout=abc`, undefined, 400, /^Invalid input for field\/attribute timeout\./],
        ['PUT', `${u}/stop?timeout=-1`, undefined, 400, /greater or equal to 0/],
        ['PUT', `${u}/reboot?timeout=601`, undefined, 400, /lower or equal to 600/],
        ['PUT', `${u}/start?timeout=1`, undefined, 400, 'Unknown argument: "timeout"'],
        ['PUT', `${u}/pause?x=1`, undefined, 400, 'Unknown argument: "x"'],
        ['PUT', `${u}/execute`, undefined, 400, 'Missing argument: "command"'],
        ['PUT', `${u}/execute?command=`, undefined, 400, /^Invalid input for field\/attribute command\./],
        ['PUT', `${u}/execute?command=${encodeURIComponent("echo 'x")}`, undefined, 400, /No closing quotation/],
        ['PUT', `${u}/execute?command=ls&timeout=0`, undefined, 400, /greater or equal to 1/],
        ['POST', `${u}/execute`, {}, 400, "Invalid input for field/attribute command. Value: 'None'. Mandatory field missing."],
        ['POST', `${u}/execute`, { command: 5 }, 400, /non-empty list of strings/],
        ['POST', `${u}/execute`, { command: [] }, 400, /non-empty list of strings/],
        ['POST', `${u}/execute`, { command: 'ls', timeout: 99999 }, 400, /lower or equal to 3600/],
        ['POST', `${u}/execute`, { command: 'ls', tty: true }, 400, 'Unknown attribute for argument execute: tty'],
        ['PATCH', u, { op: 'replace', path: '/name', value: 'x' }, 400, /JSON-Patch document/],
        ['PATCH', u, [{ op: 'move', path: '/name', value: 'x' }], 400, /Value should be one of: add, replace, remove/],
        ['PATCH', u, [{ op: 'replace', path: '/uuid', value: randomUUID() }], 400, "'/uuid' is an internal attribute and can not be updated"],
        ['PATCH', u, [{ op: 'replace', path: '/bay_uuid', value: bare }], 400, "'/bay_uuid' is an internal attribute and can not be updated"],
        ['PATCH', u, [{ op: 'replace', path: '/cluster_uuid', value: bare }], 400, "'/cluster_uuid' is an internal attribute and can not be updated"],
        ['PATCH', u, [{ op: 'replace', path: '/host', value: '1.2.3.4' }], 400, "'/host' is an internal attribute and can not be updated"],
        ['PATCH', u, [{ op: 'replace', path: '/status', value: 'Running' }], 400, "'/status' is an internal attribute and can not be updated"],
        ['PATCH', u, [{ op: 'remove', path: '/image' }], 400, "'/image' is a mandatory attribute and can not be removed"],
        ['PATCH', u, [{ op: 'replace', path: '/image', value: 'other' }], 400, 'cannot change container property(ies) image: create a new container instead.'],
        ['PATCH', u, [{ op: 'replace', path: '/command', value: 'ls' }], 400, /cannot change container property\(ies\) command/],
        ['PATCH', u, [{ op: 'add', path: '/bogus', value: 'x' }], 400, 'Adding a new attribute /bogus to the root of the resource is not allowed.'],
        ['PATCH', u, [{ op: 'replace', path: '/memory', value: 'lots' }], 400, /Invalid docker memory specified/],
        ['PATCH', u, [{ op: 'remove', path: '/memory' }], 400, /can be changed, not removed/],
        ['PATCH', u, [{ op: 'replace', path: '/cpu', value: '0' }], 400, /greater or equal to 0.01/],
        ['PATCH', u, [{ op: 'replace', path: '/restart_policy', value: 'never' }], 400, /Value should be one of: no, always/],
        ['PATCH', u, [{ op: 'replace', path: '/name', value: '' }], 400, /minimum character requirement of 1/],
        ['DELETE', `${u}?force=maybe`, undefined, 400, /^Unrecognized value 'maybe'/],
        ['DELETE', `${u}?x=1`, undefined, 400, 'Unknown argument: "x"'],
        ['POST', `/v1/clusters/${c1}/images`, {}, 400, "Invalid input for field/attribute file. Value: 'None'. Mandatory field missing."],
        ['POST', `/v1/clusters/${c1}/images`, { file: 'ok.tar', extra: 1 }, 400, 'Unknown attribute for argument image_load: extra'],
        ['POST', `/v1/clusters/${c1}/images`, { file: '/etc/passwd' }, 400, /^Invalid input for field\/attribute file\./],
        ['POST', `/v1/clusters/${c1}/images`, { file: '../../etc/passwd' }, 400, /^Invalid input for field\/attribute file\./],
        ['POST', `/v1/clusters/${c1}/images`, { file: 'missing.tar' }, 400, "Image archive missing.tar was not found in the conductor's image directory ([docker] image_dir)."],
        ['POST', `/v1/clusters/${c1}/images`, { file: 'notes.txt' }, 400, /notes\.txt is not an image archive/],
        // Kubernetes nodes take images too (their driver's NodeImages); the fake driver made none.
        ['POST', `/v1/clusters/${k8s}/images`, { file: 'ok.tar' }, 409, 'Cluster k1 has no nodes yet (status CREATE_COMPLETE).'],
        ['GET', `/v1/clusters/${c1}/images/nope`, undefined, 404, 'The image load resource nope could not be found.'],
        ['GET', `/v1/clusters/${c1}/images/${randomUUID()}`, undefined, 404, /^The image load resource .* could not be found\.$/],
      ];
      for (const [method, url, body, status, detail] of cases) {
        const r = await send(method, url, p1, body);
        magnumError(r, status, detail);
        assert.equal(await snapshot(), before, `${method} ${url}: the database changed`);
      }
    });

    test('wrong methods on the container routes: 405', async () => {
      const u = `/v1/containers/${ctr}`;
      for (const [method, url] of [
        ['GET', `${u}/start`], ['POST', `${u}/stop`], ['DELETE', `${u}/reboot`], ['PATCH', `${u}/pause`], ['GET', `${u}/unpause`],
        ['POST', `${u}/logs`], ['PUT', `${u}/logs`], ['GET', `${u}/execute`], ['DELETE', `${u}/execute`], ['PUT', u], ['POST', u],
        ['PUT', '/v1/containers'], ['DELETE', '/v1/containers'], ['DELETE', `/v1/clusters/${c1}/images`],
      ] as const) {
        const r = await send(method, url, p1, method === 'POST' || method === 'PUT' || method === 'PATCH' ? {} : undefined);
        assert.equal(r.statusCode, 405, `${method} ${url}: ${r.body}`);
      }
    });

    test('a member of another project gets 404 on every route, and changes nothing', async () => {
      const before = await snapshot();
      const u = `/v1/containers/${ctr}`;
      const notFound = (ident: string) => `Container ${ident} could not be found.`;
      const cases: [Method, string, unknown, string][] = [
        ['GET', u, undefined, notFound(ctr)],
        ['GET', '/v1/containers/web', undefined, notFound('web')],
        ['PATCH', u, [{ op: 'replace', path: '/name', value: 'mine' }], notFound(ctr)],
        ['DELETE', u, undefined, notFound(ctr)],
        ['DELETE', `${u}?force=true`, undefined, notFound(ctr)],
        ['PUT', `${u}/start`, undefined, notFound(ctr)],
        ['PUT', `${u}/stop`, undefined, notFound(ctr)],
        ['PUT', `${u}/reboot`, undefined, notFound(ctr)],
        ['PUT', `${u}/pause`, undefined, notFound(ctr)],
        ['PUT', `${u}/unpause`, undefined, notFound(ctr)],
        ['GET', `${u}/logs`, undefined, notFound(ctr)],
        ['PUT', `${u}/execute?command=ls`, undefined, notFound(ctr)],
        ['POST', `${u}/execute`, { command: ['ls'] }, notFound(ctr)],
        ['GET', `/v1/containers?bay_ident=${c1}`, undefined, `Cluster ${c1} could not be found.`],
        ['GET', `/v1/containers/detail?cluster_ident=c1`, undefined, 'Cluster c1 could not be found.'],
        ['GET', `/v1/containers?marker=${ctr}`, undefined, notFound(ctr)],
        ['POST', '/v1/containers', { image: 'busybox', bay_uuid: c1 }, `Cluster ${c1} could not be found.`],
        ['POST', '/v1/containers', { image: 'busybox', cluster_uuid: 'c1' }, 'Cluster c1 could not be found.'],
        ['POST', `/v1/clusters/${c1}/images`, { file: 'ok.tar' }, `Cluster ${c1} could not be found.`],
        ['GET', `/v1/clusters/${c1}/images`, undefined, `Cluster ${c1} could not be found.`],
        ['GET', `/v1/clusters/${c1}/images/${randomUUID()}`, undefined, `Cluster ${c1} could not be found.`],
      ];
      for (const [method, url, body, detail] of cases) {
        const r = await send(method, url, p2, body);
        magnumError(r, 404, detail);
        assert.equal(await snapshot(), before, `${method} ${url}: the database changed`);
      }
      for (const url of ['/v1/containers', '/v1/containers/detail']) {
        const r = await send('GET', url, p2);
        assert.equal(r.statusCode, 200, r.body);
        assert.deepEqual(r.json().containers, []);
      }
    });

    test('the owner and admins see the container; a cluster that does not answer: Unknown in reads, 503 in seconds for everything else', { timeout: 60_000 }, async () => {
      const before = await snapshot();
      for (const headers of [p1, admin]) {
        const t0 = Date.now();
        const r = await send('GET', `/v1/containers/${ctr}`, headers);
        assert.equal(r.statusCode, 200, r.body);
        const c = r.json();
        assert.equal(c.uuid, ctr);
        assert.equal(c.bay_uuid, c1);
        assert.equal(c.cluster_uuid, c1);
        assert.equal(c.status, 'Unknown');
        assert.match(c.status_reason, /cannot be reached/);
        assert.deepEqual(c.command, ['sleep', '60']);
        assert.deepEqual(c.environment, { A: 'b' });
        assert.deepEqual(c.ports, ['8080:80']);
        assert.equal(c.cpu, 0.5);
        assert.ok(Date.now() - t0 < 6_000);
      }
      let r = await send('GET', `/v1/containers?bay_ident=c1`, p1);
      assert.equal(r.statusCode, 200, r.body);
      assert.deepEqual(r.json().containers.map((c: Record<string, unknown>) => [c.uuid, c.status, c.name]), [[ctr, 'Unknown', 'web']]);
      assert.deepEqual(Object.keys(r.json().containers[0]), ['uuid', 'name', 'bay_uuid', 'cluster_uuid', 'image', 'command', 'status', 'memory', 'environment', 'links']);
      r = await send('GET', `/v1/containers/detail`, admin);
      assert.equal(r.json().containers.length, 1);
      assert.equal(r.json().containers[0].status_reason.length > 0, true);

      const u = `/v1/containers/${ctr}`;
      for (const [method, url, body] of [
        ['PUT', `${u}/start`], ['PUT', `${u}/stop?timeout=1`], ['PUT', `${u}/reboot`], ['PUT', `${u}/pause`], ['PUT', `${u}/unpause`],
        ['GET', `${u}/logs?tail=10`], ['PUT', `${u}/execute?command=ls`], ['POST', `${u}/execute`, { command: ['ls'] }],
        ['PATCH', u, [{ op: 'replace', path: '/cpu', value: '1' }]],
        ['DELETE', u], ['DELETE', `${u}?force=true`],
        ['POST', '/v1/containers', { image: 'busybox', bay_uuid: 'c1' }],
        ['POST', `/v1/clusters/${c1}/images`, { file: 'ok.tar' }],
        ['GET', `/v1/clusters/${c1}/images`],
      ] as [Method, string, unknown][]) {
        const t0 = Date.now();
        const res = await send(method, url, p1, body);
        magnumError(res, 503, /^Cluster c1 cannot be reached: /);
        assert.ok(Date.now() - t0 < 6_000, `${method} ${url} took ${Date.now() - t0} ms`);
        assert.equal(await snapshot(), before, `${method} ${url}: the database changed`);
      }
      // A rename is the database's alone: it works while the cluster is away.
      r = await send('PATCH', u, p1, [{ op: 'replace', path: '/name', value: 'web-renamed' }]);
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(r.json().name, 'web-renamed');
      assert.equal(r.json().status, 'Unknown');
    });
  });
}
