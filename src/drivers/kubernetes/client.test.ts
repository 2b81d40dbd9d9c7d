// KubeClient against a local HTTPS server that checks the client certificate and answers as the
// Kubernetes API does (Status objects): what each answer becomes, and bounded waits.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MagnumError } from '../../common/errors.ts';
import { KubeClient } from './client.ts';

const dir = mkdtempSync(join(tmpdir(), 'kube-client-test-'));
const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
const read = (f: string) => readFileSync(join(dir, f), 'utf8');

function makeCa(name: string): void {
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '1', '-subj', `/CN=${name}`);
}
function makeLeaf(name: string, ca: string, subj: string, ext: string): void {
  ssl('req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj);
  execFileSync('bash', ['-c', `printf '%s\\n' "${ext}" > ${name}.ext`], { cwd: dir });
  ssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.crt`);
}

const status = (code: number, reason: string, message: string) => ({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason, code });

describe('KubeClient', () => {
  let server: ReturnType<typeof createServer>;
  let port: number;
  let silent: Server;
  let silentPort: number;
  const sockets: import('node:net').Socket[] = [];
  const seen: { method: string; url: string; cn: string; type: string | undefined; body: string }[] = [];
  let answer: (req: IncomingMessage, res: ServerResponse) => void = () => undefined;

  before(async () => {
    makeCa('ca');
    makeCa('other-ca');
    makeLeaf('server', 'ca', '/CN=kube-apiserver', 'subjectAltName=IP:127.0.0.1');
    makeLeaf('client', 'ca', '/O=system:masters/CN=admin', 'extendedKeyUsage=clientAuth');
    server = createServer({ key: read('server.key'), cert: read('server.crt'), ca: read('ca.crt'), requestCert: true, rejectUnauthorized: true }, (req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate();
        seen.push({ method: req.method ?? '', url: req.url ?? '', cn: String(peer.subject?.CN ?? ''), type: req.headers['content-type'], body });
        answer(req, res);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
    // Accepts connections and never answers.
    silent = createTcpServer((socket) => sockets.push(socket));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    silentPort = (silent.address() as AddressInfo).port;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    for (const socket of sockets) socket.destroy();
    await new Promise((r) => silent.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const client = (opts: { port?: number; ca?: string; timeoutMs?: number } = {}) => new KubeClient({
    server: `https://127.0.0.1:${opts.port ?? port}`,
    clusterLabel: 'k1',
    tls: { caPem: read(opts.ca ?? 'ca.crt'), certificate: read('client.crt'), privateKey: read('client.key') },
    readTimeoutMs: opts.timeoutMs ?? 2_000,
    writeTimeoutMs: opts.timeoutMs ?? 2_000,
  });
  const reply = (code: number, body: unknown) => (answer = (_req, res) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  async function refused(p: Promise<unknown>, httpStatus: number, message: string | RegExp): Promise<void> {
    await assert.rejects(p, (err: unknown) => {
      assert.ok(err instanceof MagnumError, `a MagnumError, got ${String(err)}`);
      assert.equal(err.status, httpStatus);
      if (typeof message === 'string') assert.equal(err.message, message);
      else assert.match(err.message, message);
      return true;
    });
  }

  test('creates with the client certificate, in the namespace; reads the object back', async () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', uid: 'u-1' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } };
    reply(201, pod);
    const made = await client().createPod('default', pod);
    assert.equal(made.metadata.uid, 'u-1');
    const req = seen.at(-1)!;
    assert.deepEqual([req.method, req.url, req.cn], ['POST', '/api/v1/namespaces/default/pods', 'admin']);
    assert.deepEqual(JSON.parse(req.body).metadata, { name: 'web', uid: 'u-1' });
    reply(200, pod);
    assert.equal((await client().readPod('default', 'web'))?.metadata.name, 'web');
  });

  test('a pod update is a strategic merge patch; a service update a PUT', async () => {
    reply(200, { metadata: { name: 'web' } });
    await client().replacePod('default', 'web', { metadata: { name: 'web' }, spec: { containers: [{ name: 'c', image: 'b:2' }] } });
    assert.deepEqual([seen.at(-1)!.method, seen.at(-1)!.url, seen.at(-1)!.type], ['PATCH', '/api/v1/namespaces/default/pods/web', 'application/strategic-merge-patch+json']);
    await client().replaceService('default', 'web', { metadata: { name: 'web' }, spec: { ports: [{ port: 80 }] } });
    assert.deepEqual([seen.at(-1)!.method, seen.at(-1)!.url], ['PUT', '/api/v1/namespaces/default/services/web']);
  });

  test('404: a read is null, a delete is done, a replace is a 409', async () => {
    reply(404, status(404, 'NotFound', 'pods "web" not found'));
    assert.equal(await client().readPod('default', 'web'), null);
    assert.equal(await client().readService('default', 'web'), null);
    await client().deletePod('default', 'web');
    await client().deleteService('default', 'web');
    await refused(client().replaceService('default', 'web', { metadata: { name: 'web' } }), 409, 'Kubernetes refused service web: pods "web" not found');
  });

  test('a delete with a uid sends it as a precondition; a failed precondition (another object of that name) is done', async () => {
    reply(409, status(409, 'Conflict', 'Precondition failed: UID in precondition: u-1, UID in object meta: u-2'));
    await client().deletePod('default', 'web', 'u-1');
    const req = seen.at(-1)!;
    assert.deepEqual([req.method, req.url], ['DELETE', '/api/v1/namespaces/default/pods/web']);
    assert.deepEqual(JSON.parse(req.body).preconditions, { uid: 'u-1' });
  });

  test("Kubernetes' refusals keep its message: 409 already exists, 422 invalid is a 400", async () => {
    reply(409, status(409, 'AlreadyExists', 'pods "web" already exists'));
    await refused(client().createPod('default', { metadata: { name: 'web' } }), 409, 'Kubernetes refused pod web: pods "web" already exists');
    reply(422, status(422, 'Invalid', 'Pod "web" is invalid: spec.containers[0].image: Required value'));
    await refused(client().createPod('default', { metadata: { name: 'web' } }), 400, 'Kubernetes refused pod web: Pod "web" is invalid: spec.containers[0].image: Required value');
    reply(400, status(400, 'BadRequest', 'the server rejected our request'));
    await refused(client().createService('default', { metadata: { name: 's' } }), 400, 'Kubernetes refused service s: the server rejected our request');
  });

  test('credentials refused and server failures are 503s, not the caller\'s fault', async () => {
    reply(403, status(403, 'Forbidden', 'pods is forbidden: User "admin" cannot create resource "pods"'));
    await refused(client().createPod('default', { metadata: { name: 'web' } }), 503,
      `The Kubernetes API of cluster k1 refused the conductor's credentials: pods is forbidden: User "admin" cannot create resource "pods" (https://127.0.0.1:${port})`);
    reply(500, status(500, 'InternalError', 'etcdserver: request timed out'));
    await refused(client().readPod('default', 'web'), 503, `The Kubernetes API of cluster k1 failed (HTTP 500): etcdserver: request timed out (https://127.0.0.1:${port})`);
    answer = (_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('upstream down');
    };
    await refused(client().readPod('default', 'web'), 503, /failed \(HTTP 503\): upstream down/);
  });

  test('no answer within the deadline, nothing listening, a certificate of another CA: 503 in bounded time', async () => {
    let t0 = Date.now();
    await refused(client({ port: silentPort, timeoutMs: 500 }).readPod('default', 'web'), 503,
      `The Kubernetes API of cluster k1 did not answer in time (https://127.0.0.1:${silentPort}).`);
    assert.ok(Date.now() - t0 < 3_000, `gave up after ${Date.now() - t0} ms`);
    answer = () => undefined; // accepted, never answered
    t0 = Date.now();
    await refused(client({ timeoutMs: 500 }).createPod('default', { metadata: { name: 'web' } }), 503, /did not answer in time/);
    assert.ok(Date.now() - t0 < 3_000, `gave up after ${Date.now() - t0} ms`);
    const closed = await new Promise<number>((r) => {
      const s = createTcpServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => r(p));
      });
    });
    await refused(client({ port: closed }).readPod('default', 'web'), 503, `The Kubernetes API of cluster k1 cannot be reached: ECONNREFUSED (https://127.0.0.1:${closed}).`);
    await refused(client({ ca: 'other-ca.crt' }).readPod('default', 'web'), 503, /^The Kubernetes API of cluster k1 cannot be reached: its certificate was not accepted \(\w+\)/);
  });
});
