// Loading images into a cluster's nodes when no registry is reachable: an image archive (what
// `docker save` writes) from the conductor host's image directory ([docker] image_dir) goes into
// every node's engine (`docker load` over the cluster's TLS), a few nodes at a time. Only files
// inside that directory can be named, so API users never choose a path on the conductor's host.
//
// The request answers as soon as every node's engine is known to answer; the load itself runs in
// the background and reports its progress as events in the cluster's timeline, all carrying the
// load's uuid as their operation_id: `image_load` started, one `image_load node <address>` per
// node (succeeded or failed), and a final `image_load` succeeded or failed.
import { randomUUID } from 'node:crypto';
import { closeSync, openSync, readSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, resolve, sep } from 'node:path';
import { E } from '../common/errors.ts';
import type { Config } from '../conf/index.ts';
import type { ClusterEngine } from './cluster-engine.ts';
import { clusterLabel, clusterNodes, daemonMessage, mapLimit, probe, endpointPort } from './docker-nodes.ts';
import type { MethodDeps, RpcMethods } from './rpc-methods.ts';

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

export class ImageService {
  readonly #d: MethodDeps;
  readonly #running = new Set<Promise<void>>();

  constructor(deps: MethodDeps) {
    this.#d = deps;
  }

  /** Loads still running (tests wait for them). */
  get running(): Promise<void>[] {
    return [...this.#running];
  }

  async #reachableNodes(engine: ClusterEngine) {
    const nodes = clusterNodes(await this.#d.storage.listResources(engine.cluster.uuid));
    if (!nodes.length) throw E.Conflict(`Cluster ${clusterLabel(engine)} has no nodes yet (status ${engine.cluster.status}).`);
    const up = await Promise.all(nodes.map((n) => probe(n.address, endpointPort(engine.node(n.address)))));
    return { nodes, down: nodes.filter((_, i) => !up[i]) };
  }

  async load(clusterUuid: string, file: string): Promise<ImageLoadStarted> {
    const archive = imageArchive(this.#d.conf, file);
    const engine = await this.#d.engines.forCluster(clusterUuid);
    const { nodes, down } = await this.#reachableNodes(engine);
    if (down.length) {
      throw E.ServiceUnavailable(`Cluster ${clusterLabel(engine)} cannot be reached: the Docker engine of node${down.length > 1 ? 's' : ''} ${down.map((n) => n.name).join(', ')} does not answer, nothing was loaded (${down.map((n) => n.address).join(', ')}).`);
    }
    const uuid = randomUUID();
    const event = (step: string, outcome: 'started' | 'succeeded' | 'failed' | 'info', message: string) =>
      this.#d.storage.appendEvent({ cluster_id: clusterUuid, operation_id: uuid, step, outcome, message }).catch((err) => this.#d.logger?.warn({ err }, 'image load event not saved'));
    const mb = (archive.size / 1024 / 1024).toFixed(1);
    await event(IMAGE_LOAD_STEP, 'started', `Loading ${file} (${mb} MiB) into ${nodes.length} node${nodes.length > 1 ? 's' : ''}: ${nodes.map((n) => n.address).join(', ')}.`);
    const work = (async () => {
      let done = 0;
      const results = await mapLimit(nodes, LOAD_CONCURRENCY, async (n) => {
        const step = `${IMAGE_LOAD_STEP} node ${n.address}`;
        try {
          const r = await engine.run(engine.node(n.address), ['load', '--input', archive.path], { timeoutMs: LOAD_TIMEOUT_MS, raw: true });
          done++;
          if (r.exitCode !== 0) {
            await event(step, 'failed', `Node ${n.address} (${done}/${nodes.length}): ${daemonMessage(r.stderr)}`);
            return null;
          }
          const loaded = r.stdout.split('\n').map((l) => /^Loaded image(?: ID)?: (.+)$/.exec(l.trim())?.[1]).filter((x): x is string => Boolean(x));
          await event(step, 'succeeded', `Node ${n.address} (${done}/${nodes.length}): loaded ${loaded.join(', ') || 'nothing'}.`);
          return loaded;
        } catch (err) {
          done++;
          await event(step, 'failed', `Node ${n.address} (${done}/${nodes.length}): ${(err as Error).message}`);
          return null;
        }
      });
      const ok = results.filter((r): r is string[] => r !== null);
      const images = [...new Set(ok.flat())];
      await event(IMAGE_LOAD_STEP, ok.length === nodes.length ? 'succeeded' : 'failed',
        `Loaded ${file} into ${ok.length} of ${nodes.length} node${nodes.length > 1 ? 's' : ''}${images.length ? `: ${images.join(', ')}` : ''}.`);
    })().catch((err) => this.#d.logger?.error({ err, cluster: clusterUuid }, 'image load failed'));
    this.#running.add(work);
    void work.finally(() => this.#running.delete(work));
    return { uuid, cluster_uuid: clusterUuid, file, size: archive.size, nodes: nodes.map((n) => n.address) };
  }

  /** The images on each node. */
  async list(clusterUuid: string): Promise<{ nodes: { address: string; role: string; reachable: boolean; images: { name: string; id: string; size: string }[] }[] }> {
    const engine = await this.#d.engines.forCluster(clusterUuid);
    const { nodes, down } = await this.#reachableNodes(engine);
    if (down.length === nodes.length) throw E.ServiceUnavailable(`Cluster ${clusterLabel(engine)} cannot be reached: no Docker engine of its nodes answers.`);
    const out = await mapLimit(nodes, LOAD_CONCURRENCY, async (n) => {
      if (down.includes(n)) return { address: n.address, role: n.role, reachable: false, images: [] };
      const r = await engine.run(engine.node(n.address), ['image', 'ls', '--format', '{{json .}}'], { timeoutMs: 15_000 });
      if (r.exitCode !== 0) throw E.ServiceUnavailable(`The Docker engine of node ${n.address} failed: ${daemonMessage(r.stderr)}`);
      const images = r.stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as { Repository: string; Tag: string; ID: string; Size: string })
        .map((i) => ({ name: i.Repository === '<none>' ? i.ID : `${i.Repository}:${i.Tag}`, id: i.ID, size: i.Size }));
      return { address: n.address, role: n.role, reachable: true, images };
    });
    return { nodes: out };
  }
}

export function imageMethods(d: MethodDeps): RpcMethods {
  const svc = new ImageService(d);
  return {
    cluster_load_image: async (a) => svc.load(String(a.cluster), String(a.file)),
    cluster_list_images: async (a) => svc.list(String(a.cluster)),
  };
}
