// Concurrent writers for test/db/storage.test.ts. race() runs `loops` concurrent loops of random
// startOperation (plain and superseding), claimOperation + finishOperation on a few clusters and
// tallies the outcomes and error codes; "two_active" counts moments when a cluster had more than
// one pending or running operation right after a start succeeded.
// Loaded as a worker thread it posts 'ready', then for each { id, ...WriterData } message races
// on its own SqlStorage (its own SQLite connection or server pool, as another API or conductor
// process would) and posts { id, tally } back.
import { randomUUID } from 'node:crypto';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { SqlStorage } from '../../src/db/sql/storage.ts';

export interface WriterData {
  url: string;
  clusters: string[];
  /** Concurrent loops in this writer, and iterations per loop. */
  loops: number;
  iterations: number;
}

export async function race(s: SqlStorage, data: Omit<WriterData, 'url'>): Promise<Record<string, number>> {
  const me = `writer-${randomUUID().slice(0, 8)}`;
  const tally: Record<string, number> = {};
  const bump = (k: string): void => {
    tally[k] = (tally[k] ?? 0) + 1;
  };
  const active = async (c: string) => (await s.listOperations(c)).filter((o) => o.state === 'pending' || o.state === 'running');

  async function once(): Promise<void> {
    const c = data.clusters[Math.floor(Math.random() * data.clusters.length)];
    const op = { uuid: randomUUID(), cluster_id: c, nodegroup_id: null, kind: 'cluster_update' as const, params: {}, deadline_at: new Date(Date.now() + 3_600_000), request_id: null };
    const r = Math.random();
    try {
      let started = false;
      if (r < 0.4) {
        started = await s.startOperation({ clusterUuid: c, allowed: ['CREATE_COMPLETE', 'UPDATE_COMPLETE'], clusterStatus: 'UPDATE_IN_PROGRESS', operation: op });
        bump(`start:${started}`);
      } else if (r < 0.55) {
        started = await s.startOperation({
          clusterUuid: c, allowed: ['CREATE_COMPLETE', 'UPDATE_COMPLETE', 'UPDATE_IN_PROGRESS', 'UPDATE_FAILED'], clusterStatus: 'UPDATE_IN_PROGRESS', operation: op, supersede: 'superseded',
        });
        bump(`supersede:${started}`);
      } else {
        for (const o of await active(c)) {
          if (await s.claimOperation(o.uuid, me, new Date(Date.now() + 60_000), new Date())) {
            bump(`finish:${await s.finishOperation({ uuid: o.uuid, owner: me, state: 'complete', cluster: { uuid: c, changes: { status: 'UPDATE_COMPLETE' } } })}`);
          }
        }
      }
      if (started && (await active(c)).length > 1) bump('two_active');
    } catch (e) {
      bump(`error:${(e as { code?: string }).code ?? (e as Error).message}`);
    }
  }

  await Promise.all(Array.from({ length: data.loops }, async () => {
    for (let i = 0; i < data.iterations; i++) await once();
  }));
  return tally;
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  port.on('message', async (m: { id: number } & WriterData) => {
    const s = SqlStorage.open(m.url, { poolSize: m.loops + 1 });
    try {
      port.postMessage({ id: m.id, tally: await race(s, m) });
    } catch (e) {
      port.postMessage({ id: m.id, error: String(e) });
    } finally {
      await s.close();
    }
  });
  port.postMessage('ready');
}
