// The Engine API client against this machine's Docker engine: files written as a tar archive into
// a created container, commands run with their output and exit status, the daemon's errors.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { DockerApi, DockerApiError, DockerApiUnreachable, demultiplex, tarFiles } from './docker-api.ts';

const IMAGE = process.env.MAGNUM_TEST_NODE_IMAGE ?? 'magnum-node:bookworm';
const api = new DockerApi('unix:///var/run/docker.sock');
const name = `magnum-test-docker-api-${randomBytes(4).toString('hex')}`;

describe('DockerApi', () => {
  before(async () => {
    await api.json('POST', `/containers/create?name=${name}`, {
      json: { Image: IMAGE, Entrypoint: ['/bin/sh', '-c', 'sleep 120'], Labels: { 'magnum.test': 'docker-api' } },
    });
  });
  after(async () => {
    await api.request('DELETE', `/containers/${name}?force=1&v=1`);
  });

  it('writes files (mode, nested directories) into a created container, then runs commands in it', async () => {
    const files = [
      { path: '/etc/magnum-test/a/ca.pem', content: 'CA\n', mode: 0o644 },
      { path: '/etc/magnum-test/a/key.pem', content: Buffer.from('KEY'.repeat(300)), mode: 0o600 },
    ];
    const r = await api.request('PUT', `/containers/${name}/archive?path=%2F`, { raw: { data: tarFiles(files), contentType: 'application/x-tar' } });
    assert.equal(r.status, 200, r.body.toString());
    // Not running yet: exec is refused with the daemon's words.
    await assert.rejects(api.exec(name, ['true']), (e: unknown) => e instanceof DockerApiError && /not running/.test(e.message));
    await api.json('POST', `/containers/${name}/start`);
    const ls = await api.exec(name, ['stat', '-c', '%a %n', '/etc/magnum-test/a/ca.pem', '/etc/magnum-test/a/key.pem']);
    assert.deepEqual(ls, { exitCode: 0, stdout: '644 /etc/magnum-test/a/ca.pem\n600 /etc/magnum-test/a/key.pem\n', stderr: '' });
    const cat = await api.exec(name, ['cat', '/etc/magnum-test/a/key.pem']);
    assert.equal(cat.stdout, 'KEY'.repeat(300));
    const both = await api.exec(name, ['/bin/sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.deepEqual(both, { exitCode: 3, stdout: 'out\n', stderr: 'err\n' });
    // Started twice: 304, nothing to do.
    assert.deepEqual(await api.json('POST', `/containers/${name}/start`), {});
  });

  it('says what is missing: 404 as null when asked, an error otherwise', async () => {
    assert.equal(await api.json('GET', `/containers/${name}-missing/json`, { notFound: 'null' }), null);
    await assert.rejects(api.exec(`${name}-missing`, ['true']), (e: unknown) => e instanceof DockerApiError && e.status === 404 && /No such container/.test(e.message));
  });

  it('tells an engine that does not answer apart from an HTTP error', async () => {
    await assert.rejects(new DockerApi('unix:///nonexistent/docker.sock').request('GET', '/_ping'), DockerApiUnreachable);
    await assert.rejects(new DockerApi('tcp://127.0.0.1:1').request('GET', '/_ping'), DockerApiUnreachable);
  });

  it('demultiplexes Docker\'s stream frames', () => {
    const frame = (stream: number, text: string) => {
      const h = Buffer.alloc(8);
      h[0] = stream;
      h.writeUInt32BE(Buffer.byteLength(text), 4);
      return Buffer.concat([h, Buffer.from(text)]);
    };
    assert.deepEqual(demultiplex(Buffer.concat([frame(1, 'a'), frame(2, 'b'), frame(1, 'c')])), { stdout: 'ac', stderr: 'b' });
  });
});
