// What containers and image loads need to know about a cluster's nodes: which nodes the ledger
// records, whether a node's engine answers at all (a quick TCP probe, so an unreachable cluster
// is a clear 503 in seconds rather than a CLI waiting for its own timeouts), and the daemon's
// words from the CLI's stderr.
import { connect } from 'node:net';
import { E } from '../common/errors.ts';
import type { ClusterResource } from '../objects/models.ts';
import type { ClusterEngine, EngineTarget } from './cluster-engine.ts';

export const PROBE_TIMEOUT_MS = 3_000;

export interface ClusterNode {
  name: string;
  role: 'master' | 'worker';
  index: number;
  address: string;
}

/** The nodes a cluster's ledger records as running: masters first, then by index. */
export function clusterNodes(resources: readonly ClusterResource[]): ClusterNode[] {
  return resources
    .filter((r) => r.kind === 'container' && r.state === 'present' && typeof r.details.address === 'string')
    .map((r) => ({ name: r.name, role: r.details.role === 'master' ? 'master' as const : 'worker' as const, index: Number(r.details.index ?? 0), address: String(r.details.address) }))
    .sort((a, b) => (a.role === b.role ? a.index - b.index : a.role === 'master' ? -1 : 1));
}

/** True when something accepts a TCP connection at host:port within `ms`. */
export function probe(host: string, port: number, ms = PROBE_TIMEOUT_MS): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      clearTimeout(timer);
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), ms);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export function endpointPort(target: EngineTarget): number {
  return Number(/:(\d+)$/.exec(target.endpoint)?.[1] ?? 2376);
}

export const clusterLabel = (engine: ClusterEngine): string => engine.cluster.name ?? engine.cluster.uuid;

/**
 * The engine of one node, once it answers; 503 when it does not. (Magnum's error title is the
 * message up to its first dot: messages lead with words, addresses come last.)
 */
export async function reachNode(engine: ClusterEngine, node: Pick<ClusterNode, 'name' | 'address'>): Promise<EngineTarget> {
  const target = engine.node(node.address);
  if (!(await probe(node.address, endpointPort(target)))) {
    throw E.ServiceUnavailable(`Cluster ${clusterLabel(engine)} cannot be reached: the Docker engine of node ${node.name} does not answer (${node.address}:${endpointPort(target)}, waited ${PROBE_TIMEOUT_MS / 1000} s).`);
  }
  return target;
}

/** The daemon's message in the CLI's stderr, without the "Error response from daemon:" prefix. */
export function daemonMessage(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const line = lines.find((l) => /^Error/i.test(l)) ?? lines[0] ?? 'the Docker engine gave no reason';
  return line.replace(/^Error response from daemon:\s*/i, '').replace(/^Error:\s*/, '');
}

/** Runs `fn` over `items` with at most `limit` at a time; results in order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
