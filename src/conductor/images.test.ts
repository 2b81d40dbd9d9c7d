// Image loads are crash-safe: recorded (with a lease and a deadline) before they start, renewed
// while they run, and ended FAILED by another conductor's sweep when the conductor running one
// stops. A real SQLite database and API; the cluster driver's way into its nodes is a stub (a load
// that never finishes cannot be made with a real `docker load`).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { buildApi } from '../cmd/wiring.ts';
import { loadConfig } from '../conf/index.ts';
import { SqlStorage } from '../db/sql/storage.ts';
import { InProcessTransport } from '../rpc/in-process.ts';
import type { NodeImages } from '../drivers/workloads.ts';
import { ImageService } from './images.ts';

describe('image loads: recorded, leased, swept', () => {
  const dir = mkdtempSync(join(tmpdir(), 'magnum-images-test-'));
  let storage: SqlStorage;
  const clusterUuid = randomUUID();
  const conf = (periodic: boolean) => loadConfig({
    env: {},
    overrides: {
      DEFAULT: { auth_strategy: 'noauth', periodic_enable: String(periodic) },
      docker: { image_dir: join(dir, 'images') },
      conductor: { operation_lease: '2', sweep_interval: '1' },
      oslo_policy: { policy_file: '/nonexistent/policy.yaml' },
    },
  });
  let mode: 'hang' | 'ok' = 'ok';
  let runs = 0;
  const images: NodeImages = {
    nodes: async () => [{ name: 'node-0', address: '127.0.0.1', role: 'worker', reachable: true }],
    load: (_node, archivePath, opts) => {
      runs++;
      assert.match(archivePath, /busybox\.tar$/);
      if (mode === 'ok') return Promise.resolve(['busybox:latest']);
      return new Promise((_, reject) => opts.signal.addEventListener('abort', () => reject(new Error('killed'))));
    },
    list: async () => [],
  };
  const nodeImages = async () => ({ cluster: { uuid: clusterUuid, name: 'c', status: 'CREATE_COMPLETE' as const }, images });
  const services: ImageService[] = [];
  const service = (periodic: boolean) => {
    const s = new ImageService({ conf: conf(periodic), storage }, { nodeImages });
    services.push(s);
    return s;
  };

  before(async () => {
    const images = join(dir, 'images');
    mkdirSync(images);
    const tar = Buffer.alloc(1024);
    tar.write('ustar', 257, 'latin1');
    writeFileSync(join(images, 'busybox.tar'), tar);
    storage = SqlStorage.open(`sqlite:///${join(dir, 'db.sqlite')}`);
    await storage.migrate();
    const template = await storage.createClusterTemplate({ uuid: randomUUID(), name: 't', coe: 'swarm-mode', image_id: 'x', project_id: 'p1' });
    await storage.createClusterWithOperation(
      { uuid: clusterUuid, name: 'c', project_id: 'p1', status: 'CREATE_COMPLETE', cluster_template_id: template.uuid },
      [], { uuid: randomUUID(), cluster_id: clusterUuid, nodegroup_id: null, kind: 'cluster_create', params: {}, deadline_at: new Date(Date.now() + 3_600_000), request_id: null },
    );
    await storage.intendResource(clusterUuid, 'container', 'node-0', { address: '127.0.0.1', role: 'worker', index: 0 });
    await storage.markResource(clusterUuid, 'container', 'node-0', 'present', 'id0');
  });
  after(async () => {
    for (const s of services) await s.stop();
    await storage?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** GET /v1/clusters/{c}/images/{load} through the real API. */
  async function shown(load: string) {
    const app = buildApi({ conf: conf(false), storage, transport: new InProcessTransport(), logger: pino({ level: 'silent' }), configDir: process.cwd() });
    try {
      const r = await app.inject({ method: 'GET', url: `/v1/clusters/c/images/${load}`, headers: { 'x-project-id': 'p1', 'x-roles': 'member' } });
      assert.equal(r.statusCode, 200, r.body);
      return r.json() as { status: string; status_reason: string | null; events: { step: string; outcome: string; message: string }[] };
    } finally {
      await app.close();
    }
  }

  test('a normal load: recorded, then COMPLETE with its final event', async () => {
    mode = 'ok';
    const a = service(false);
    const started = await a.load(clusterUuid, 'busybox.tar');
    assert.equal((await storage.getImageLoad(started.uuid))?.state, 'running');
    await Promise.all(a.running);
    const row = await storage.getImageLoad(started.uuid);
    assert.equal(row?.state, 'complete');
    assert.equal(row?.lease_expires_at, null);
    const s = await shown(started.uuid);
    assert.equal(s.status, 'COMPLETE');
    assert.match(s.status_reason ?? '', /Loaded busybox.tar into 1 of 1 node: busybox:latest/);
  });

  test('the conductor running a load stops: another one takes it over within lease + sweep interval and finishes it', async () => {
    mode = 'hang';
    const a = service(false);
    const started = await a.load(clusterUuid, 'busybox.tar');
    await new Promise((r) => setTimeout(r, 1_500)); // renewed meanwhile (lease 2 s)
    const held = await storage.getImageLoad(started.uuid);
    assert.equal(held?.state, 'running');
    assert.ok(held!.lease_expires_at!.getTime() > Date.now() + 500, 'the lease is renewed while the load runs');
    assert.equal((await shown(started.uuid)).status, 'IN_PROGRESS');
    // "Kill" the first conductor's image loads: they stop where they are, nothing recorded.
    const t0 = Date.now();
    await a.stop();
    assert.equal((await storage.getImageLoad(started.uuid))?.state, 'running');
    mode = 'ok'; // the node's engine answers the second conductor
    const b = service(true); // another conductor, same database, its sweep every second
    let row = await storage.getImageLoad(started.uuid);
    while (row?.state === 'running' && Date.now() - t0 < 10_000) {
      await new Promise((r) => setTimeout(r, 100));
      row = await storage.getImageLoad(started.uuid);
    }
    const took = Date.now() - t0;
    assert.equal(row?.state, 'complete', row?.last_error ?? '');
    assert.ok(took <= 2_000 + 1_000 + 1_500, `finished in ${took} ms (lease 2 s + sweep 1 s)`);
    await Promise.all(b.running);
    const s = await shown(started.uuid);
    assert.equal(s.status, 'COMPLETE');
    const resumed = s.events.filter((e) => e.step === 'image_load' && e.outcome === 'info');
    assert.equal(resumed.length, 1, 'one takeover');
    assert.match(resumed[0].message, /^Resumed by .+:images:.+ \(its conductor .+:images:.+ stopped\): 1 of 1 node left: 127\.0\.0\.1\.$/);
    const finals = s.events.filter((e) => e.step === 'image_load' && (e.outcome === 'succeeded' || e.outcome === 'failed'));
    assert.deepEqual(finals.map((e) => e.outcome), ['succeeded'], 'one final event');
    assert.match(finals[0].message, /Loaded busybox.tar into 1 of 1 node: busybox:latest/);
    // The cluster's status did not change.
    assert.equal((await storage.getClusterByUuid(clusterUuid))?.status, 'CREATE_COMPLETE');
    console.log(`# interrupted image load resumed by another conductor and finished ${took} ms after its conductor stopped`);
  });

  test('a load past its deadline whose conductor stopped ends FAILED; a takeover that cannot find the archive ends it FAILED', async () => {
    mode = 'hang';
    const a = service(false);
    const late = await a.load(clusterUuid, 'busybox.tar');
    const gone = await a.load(clusterUuid, 'busybox.tar');
    await a.stop();
    const past = new Date(Date.now() - 1_000);
    await storage.renewImageLoad(late.uuid, (await storage.getImageLoad(late.uuid))!.owner!, past);
    await storage.renewImageLoad(gone.uuid, (await storage.getImageLoad(gone.uuid))!.owner!, past);
    // The deadline of one passes; the other's archive is not where the taking conductor looks.
    await storage.conn.db.updateTable('image_load').set({ deadline_at: storage.conn.time(past) }).where('uuid', '=', late.uuid).execute();
    const other = new ImageService({ conf: loadConfig({ env: {}, overrides: { DEFAULT: { auth_strategy: 'noauth', periodic_enable: 'false' }, docker: { image_dir: join(dir, 'nowhere') }, conductor: { operation_lease: '2', sweep_interval: '1' }, oslo_policy: { policy_file: '/nonexistent/policy.yaml' } } }), storage }, { nodeImages });
    services.push(other);
    await other.sweep();
    const l = await storage.getImageLoad(late.uuid);
    assert.equal(l?.state, 'failed');
    assert.match(l!.last_error!, /did not finish before its deadline/);
    const g = await storage.getImageLoad(gone.uuid);
    assert.equal(g?.state, 'failed');
    assert.match(g!.last_error!, /cannot be resumed by .+: Image archive busybox\.tar was not found/);
  });

  test('a load ended by a sweep while its conductor still runs it stops (its renewal finds it ended)', async () => {
    mode = 'hang';
    const a = service(false);
    const before = runs;
    const started = await a.load(clusterUuid, 'busybox.tar');
    assert.equal(await storage.finishImageLoad(started.uuid, null, 'failed', 'ended elsewhere'), true);
    await Promise.race([Promise.all(a.running), new Promise((_, rej) => setTimeout(() => rej(new Error('still running')), 3_000))]);
    assert.equal(runs, before + 1);
    assert.equal((await storage.getImageLoad(started.uuid))?.last_error, 'ended elsewhere');
  });
});
