// Loading images into a cluster's nodes when no registry is reachable: an image archive (what
// `docker save` writes) from the conductor host's image directory ([docker] image_dir) goes into
// every node, a few nodes at a time. Only files inside that directory can be named, so API users
// never choose a path on the conductor's host. How an archive gets into a node is the driver's
// (Workloads.images, src/drivers/workloads.ts: the kubernetes driver imports it into the node's
// containerd, the swarm-mode driver `docker load`s it into the node's engine over the cluster's TLS).
//
// The request answers as soon as every node is known to answer; the load itself runs in
// the background, recorded first as an image_load row held under a lease (renewed while it runs,
// with a deadline): a load whose conductor died is taken over by another conductor's sweep, which
// loads the archive into the nodes that had not reported success (loading an image a node has is
// harmless), or ended FAILED when it is past its deadline or the archive is not on the
// taking conductor's host. It reports its progress as events in the cluster's timeline, all carrying the
// load's uuid as their operation_id: `image_load` started, one `image_load node <address>` per
// node (succeeded or failed), and a final `image_load` succeeded or failed.
import { randomBytes, randomUUID } from 'node:crypto';
import { closeSync, openSync, readSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, resolve, sep } from 'node:path';
import { E } from '../common/errors.ts';
import type { Config } from '../conf/index.ts';
import type { Cluster, ImageLoad } from '../objects/models.ts';
import type { ImageNode, NodeImage, NodeImages } from '../drivers/workloads.ts';
import { mapLimit } from '../common/map-limit.ts';
import type { MethodDeps, RpcMethods } from './rpc-methods.ts';
import { isDatabaseUnavailable, unavailableReason } from '../db/errors.ts';

export const IMAGE_LOAD_STEP = 'image_load';
const LOAD_TIMEOUT_MS = 15 * 60_000;
const LOAD_CONCURRENCY = 4;

export interface ImageLoadStarted {
  uuid: string;
  cluster_uuid: string;
  file: string;
  size: number;
  nodes: string[];
}

/** `name` relative to [docker] image_dir, resolved and checked: a readable image archive inside it. */
export function imageArchive(conf: Config, name: string): { path: string; size: number } {
  const notFound = () => E.InvalidParameterValue(`Image archive ${name} was not found in the conductor's image directory ([docker] image_dir).`);
  if (!name || isAbsolute(name) || name.split(/[\\/]/).includes('..')) throw notFound();
  let dir: string;
  let path: string;
  try {
    dir = realpathSync(resolve(conf.docker.image_dir));
    path = realpathSync(resolve(dir, name));
  } catch {
    throw notFound();
  }
  if (!path.startsWith(dir + sep)) throw notFound();
  const st = statSync(path);
  if (!st.isFile()) throw notFound();
  const head = Buffer.alloc(512);
  const fd = openSync(path, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, 512, 0);
  } finally {
    closeSync(fd);
  }
  const starts = (...bytes: number[]) => bytes.every((b, i) => head[i] === b);
  const tar = n >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar';
  const compressed = starts(0x1f, 0x8b) || starts(0x42, 0x5a, 0x68) || starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00) || starts(0x28, 0xb5, 0x2f, 0xfd);
  if (!tar && !compressed) throw E.InvalidParameterValue(`${name} is not an image archive (a tar file as docker save writes it, possibly compressed).`);
  return { path, size: st.size };
}

export interface ImageServiceOptions {
  /** The cluster and its driver's way into its nodes (null: the driver has none); 404 when the cluster is gone. */
  nodeImages: (clusterUuid: string) => Promise<{ cluster: Pick<Cluster, 'uuid' | 'name' | 'status'>; images: NodeImages | null }>;
}

export class ImageService {
  readonly #d: Pick<MethodDeps, 'conf' | 'storage' | 'logger'>;
  readonly #nodeImages: ImageServiceOptions['nodeImages'];
  readonly #running = new Map<string, { work: Promise<void>; abort: AbortController }>();
  readonly #owner: string;
  readonly #leaseMs: number;
  #sweepTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(deps: Pick<MethodDeps, 'conf' | 'storage' | 'logger'>, opts: ImageServiceOptions) {
    this.#d = deps;
    this.#nodeImages = opts.nodeImages;
    this.#owner = `${deps.conf.DEFAULT.host}:${process.pid}:images:${randomBytes(3).toString('hex')}`;
    this.#leaseMs = deps.conf.conductor.operation_lease * 1000;
    if (deps.conf.DEFAULT.periodic_enable) {
      void this.sweep().catch((err) => this.#sweepFailed(err));
      this.#sweepTimer = setInterval(() => void this.sweep().catch((err) => this.#sweepFailed(err)), deps.conf.conductor.sweep_interval * 1000);
      this.#sweepTimer.unref();
    }
  }

  /** Loads still running (tests wait for them). */
  get running(): Promise<void>[] {
    return [...this.#running.values()].map((r) => r.work);
  }

  /**
   * Stop: no more sweeps, and the loads of this conductor stop where they are, unrecorded, as if
   * the process had died: their leases run out and a conductor's sweep ends them FAILED.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#sweepTimer);
    for (const r of this.#running.values()) r.abort.abort();
    await Promise.allSettled(this.running);
  }

  #sweepFailed(err: unknown): void {
    if (isDatabaseUnavailable(err)) this.#d.logger?.warn({ reason: unavailableReason(err) }, 'image load sweep skipped: database unavailable');
    else this.#d.logger?.error({ err }, 'image load sweep failed');
  }

  /**
   * Every load whose conductor stopped renewing its lease is taken over and resumed here; one past
   * its deadline (or that cannot be resumed here) ends FAILED, with a final event.
   */
  async sweep(): Promise<void> {
    if (this.#stopped) return;
    const now = new Date();
    for (const load of await this.#d.storage.listStaleImageLoads(now)) {
      if (this.#running.has(load.uuid)) continue;
      if (load.deadline_at.getTime() > now.getTime()) {
        await this.#resume(load);
        continue;
      }
      await this.#fail(load, `Image load of ${load.file} did not finish before its deadline (${load.deadline_at.toISOString()}).`, null);
    }
  }

  async #fail(load: ImageLoad, reason: string, owner: string | null): Promise<void> {
    if (await this.#d.storage.finishImageLoad(load.uuid, owner, 'failed', reason)) {
      await this.#d.storage.appendEvent({ cluster_id: load.cluster_id, operation_id: load.uuid, step: IMAGE_LOAD_STEP, outcome: 'failed', message: reason });
      this.#d.logger?.warn({ load: load.uuid, cluster: load.cluster_id }, reason);
    }
  }

  /** Takes over a load whose conductor died and loads what is left: the nodes without a success event. */
  async #resume(load: ImageLoad): Promise<void> {
    const { storage } = this.#d;
    const now = Date.now();
    if (!(await storage.claimImageLoad(load.uuid, this.#owner, new Date(now + this.#leaseMs), new Date(now)))) return;
    const done = new Set<string>();
    for (let afterId: number | undefined; ;) {
      const page = await storage.listEvents(load.cluster_id, { limit: 500, afterId });
      for (const e of page) {
        if (e.operation_id === load.uuid && e.outcome === 'succeeded' && e.step.startsWith(`${IMAGE_LOAD_STEP} node `)) done.add(e.step.slice(IMAGE_LOAD_STEP.length + 6));
      }
      if (page.length < 500) break;
      afterId = page[page.length - 1].id;
    }
    let archive: { path: string; size: number };
    let target: { images: NodeImages; nodes: ImageNode[] };
    try {
      archive = imageArchive(this.#d.conf, load.file);
      target = await this.#target(load.cluster_id);
    } catch (err) {
      await this.#fail(load, `Image load of ${load.file} was interrupted (its conductor ${load.owner ?? 'none'} stopped) and cannot be resumed by ${this.#owner}: ${(err as Error).message}`, this.#owner);
      return;
    }
    const left = target.nodes.filter((n) => !done.has(n.address));
    await storage.appendEvent({ cluster_id: load.cluster_id, operation_id: load.uuid, step: IMAGE_LOAD_STEP, outcome: 'info', message: `Resumed by ${this.#owner} (its conductor ${load.owner ?? 'none'} stopped): ${left.length} of ${target.nodes.length} node${target.nodes.length > 1 ? 's' : ''} left: ${left.map((n) => n.address).join(', ') || 'none'}.` });
    this.#work(load.uuid, load.cluster_id, load.file, archive, target.images, left, target.nodes.length, done.size);
  }

  /** The cluster's nodes and the way into them. */
  async #target(clusterUuid: string): Promise<{ label: string; images: NodeImages; nodes: ImageNode[]; down: ImageNode[] }> {
    const { cluster, images } = await this.#nodeImages(clusterUuid);
    const label = cluster.name ?? cluster.uuid;
    if (!images) throw E.NotSupported(`Images cannot be loaded into the nodes of cluster ${label}: its driver has no way into them.`);
    const nodes = await images.nodes();
    if (!nodes.length) throw E.Conflict(`Cluster ${label} has no nodes yet (status ${cluster.status}).`);
    return { label, images, nodes, down: nodes.filter((n) => !n.reachable) };
  }

  async load(clusterUuid: string, file: string): Promise<ImageLoadStarted> {
    const archive = imageArchive(this.#d.conf, file);
    const { label, images: into, nodes, down } = await this.#target(clusterUuid);
    into.checkArchive?.(archive.path);
    if (down.length) {
      const what = into.answering ? `the ${into.answering} of node` : 'node';
      throw E.ServiceUnavailable(`Cluster ${label} cannot be reached: ${what}${down.length > 1 ? 's' : ''} ${down.map((n) => n.name).join(', ')} ${down.length > 1 ? 'do' : 'does'} not answer, nothing was loaded (${down.map((n) => n.address).join(', ')}).`);
    }
    const { storage } = this.#d;
    const uuid = randomUUID();
    const now = Date.now();
    // Recorded before it starts: whatever happens to this conductor, a sweep takes it over.
    await storage.startImageLoad({ uuid, cluster_id: clusterUuid, file, owner: this.#owner, lease_expires_at: new Date(now + this.#leaseMs), deadline_at: new Date(now + LOAD_TIMEOUT_MS + this.#leaseMs) });
    const mb = (archive.size / 1024 / 1024).toFixed(1);
    await storage.appendEvent({ cluster_id: clusterUuid, operation_id: uuid, step: IMAGE_LOAD_STEP, outcome: 'started', message: `Loading ${file} (${mb} MiB) into ${nodes.length} node${nodes.length > 1 ? 's' : ''}: ${nodes.map((n) => n.address).join(', ')}.` })
      .catch((err) => this.#d.logger?.warn({ err }, 'image load event not saved'));
    this.#work(uuid, clusterUuid, file, archive, into, nodes, nodes.length, 0);
    return { uuid, cluster_uuid: clusterUuid, file, size: archive.size, nodes: nodes.map((n) => n.address) };
  }

  /** Loads the archive into `nodes` (of `total`, `before` of them done earlier) under this conductor's lease, in the background. */
  #work(uuid: string, clusterUuid: string, file: string, archive: { path: string }, into: NodeImages, nodes: ImageNode[], total: number, before: number): void {
    const { storage } = this.#d;
    const abort = new AbortController();
    const renew = setInterval(() => {
      storage.renewImageLoad(uuid, this.#owner, new Date(Date.now() + this.#leaseMs)).then(
        (held) => { if (!held) abort.abort(); }, // ended by a sweep: stop loading
        () => undefined, // the database unavailable: the next renewal tries again
      );
    }, Math.max(200, Math.floor(this.#leaseMs / 3)));
    const event = (step: string, outcome: 'started' | 'succeeded' | 'failed' | 'info', message: string) =>
      storage.appendEvent({ cluster_id: clusterUuid, operation_id: uuid, step, outcome, message }).catch((err) => this.#d.logger?.warn({ err }, 'image load event not saved'));
    const work = (async () => {
      let done = before;
      const results = await mapLimit(nodes, LOAD_CONCURRENCY, async (n) => {
        const step = `${IMAGE_LOAD_STEP} node ${n.address}`;
        try {
          const loaded = await into.load(n, archive.path, { timeoutMs: LOAD_TIMEOUT_MS, signal: abort.signal });
          if (abort.signal.aborted) return null;
          done++;
          await event(step, 'succeeded', `Node ${n.address} (${done}/${total}): loaded ${loaded.join(', ') || 'nothing'}.`);
          return loaded;
        } catch (err) {
          if (abort.signal.aborted) return null;
          done++;
          await event(step, 'failed', `Node ${n.address} (${done}/${total}): ${(err as Error).message}`);
          return null;
        }
      });
      // Stopped (this conductor) or ended by a sweep: the sweep records the end.
      if (abort.signal.aborted) return;
      const ok = results.filter((r): r is string[] => r !== null);
      const images = [...new Set(ok.flat())];
      const complete = ok.length === nodes.length;
      const summary = `Loaded ${file} into ${before + ok.length} of ${total} node${total > 1 ? 's' : ''}${images.length ? `: ${images.join(', ')}` : ''}${before ? ` (${before} before the load was resumed)` : ''}.`;
      if (await storage.finishImageLoad(uuid, this.#owner, complete ? 'complete' : 'failed', complete ? null : summary)) {
        await event(IMAGE_LOAD_STEP, complete ? 'succeeded' : 'failed', summary);
      }
    })()
      .catch((err) => this.#d.logger?.error({ err, cluster: clusterUuid, load: uuid }, 'image load failed; its lease runs out and a sweep takes it over'))
      .finally(() => {
        clearInterval(renew);
        this.#running.delete(uuid);
      });
    this.#running.set(uuid, { work, abort });
  }

  /** The images on each node. */
  async list(clusterUuid: string): Promise<{ nodes: { address: string; role: string; reachable: boolean; images: NodeImage[] }[] }> {
    const { label, images, nodes, down } = await this.#target(clusterUuid);
    if (down.length === nodes.length) throw E.ServiceUnavailable(`Cluster ${label} cannot be reached: no ${images.answering ? `${images.answering} of its nodes` : 'node of it'} answers.`);
    const out = await mapLimit(nodes, LOAD_CONCURRENCY, async (n) => {
      if (!n.reachable) return { address: n.address, role: n.role, reachable: false, images: [] };
      return { address: n.address, role: n.role, reachable: true, images: await images.list(n) };
    });
    return { nodes: out };
  }
}

export function imageMethods(svc: ImageService): RpcMethods {
  return {
    cluster_load_image: async (a) => svc.load(String(a.cluster), String(a.file)),
    cluster_list_images: async (a) => svc.list(String(a.cluster)),
  };
}
