import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { request } from 'node:http';
import { after, describe, it } from 'node:test';
import { PortForwarders } from './port-forwarder.ts';

/** A tiny HTTP backend answering its name. */
async function backend(name: string): Promise<{ server: Server; endpoint: string }> {
  const server = createServer((sock) => {
    sock.once('data', () => sock.end(`HTTP/1.1 200 OK\r\nContent-Length: ${name.length}\r\nConnection: close\r\n\r\n${name}`));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, endpoint: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('published ports', () => {
  const servers: Server[] = [];
  const fwd = new PortForwarders({ connectTimeoutMs: 500 });
  after(async () => {
    await fwd.closeAll();
    for (const s of servers) s.close();
  });

  it('spread connections round robin, skip endpoints that refuse, refuse a taken port', async () => {
    const a = await backend('a');
    const b = await backend('b');
    servers.push(a.server, b.server);
    const port = await freePort();
    const key = PortForwarders.key('127.0.0.1', port);
    await fwd.open('svc-1', '127.0.0.1', port);
    await fwd.open('svc-1', '127.0.0.1', port); // idempotent for its owner
    await assert.rejects(fwd.open('svc-2', '127.0.0.1', port), /already published by another service/);
    fwd.setBackends('svc-1', key, [a.endpoint, b.endpoint]);
    const seen = [await get(port), await get(port), await get(port), await get(port)];
    assert.deepEqual([...new Set(seen)].sort(), ['a', 'b']);
    // An endpoint that refuses is skipped.
    const dead = `127.0.0.1:${await freePort()}`;
    fwd.setBackends('svc-1', key, [dead, b.endpoint]);
    for (let i = 0; i < 4; i++) assert.equal(await get(port), 'b');
    // Closed: the port is free again.
    await fwd.closeOwner('svc-1');
    await assert.rejects(get(port));
    const other = await freePort();
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(other, '127.0.0.1', r));
    servers.push(blocker);
    await assert.rejects(fwd.open('svc-3', '127.0.0.1', other), /Port \d+ on 127\.0\.0\.1 is already in use/);
  });

  it('a connection that finds no endpoint waits for fresh ones and then gets through', async () => {
    const c = await backend('c');
    servers.push(c.server);
    const port = await freePort();
    const key = PortForwarders.key('127.0.0.1', port);
    let refreshed = 0;
    const lazy = new PortForwarders({
      onStale: async (owner) => {
        refreshed++;
        await new Promise((r) => setTimeout(r, 100));
        lazy.setBackends(owner, key, [c.endpoint]);
      },
    });
    try {
      await lazy.open('svc-4', '127.0.0.1', port);
      assert.equal(await get(port), 'c');
      assert.equal(refreshed, 1);
      assert.equal(await get(port), 'c');
      assert.equal(refreshed, 1, 'no refresh while an endpoint answers');
    } finally {
      await lazy.closeAll();
    }
  });
});
