// Talking to a cluster's own Docker engines, as the cluster's users do: the docker CLI over TLS
// with the conductor's client certificate from the cluster CA (Magnum's magnum_cert_ref). The
// conductor gives the certificate files (WorkloadAccess.tlsFiles: its private cache, kept current
// and removed with the cluster) and the endpoints (the cluster's api_address, the ledger's node
// addresses); everything Docker-specific is here: the CLI, the engines' ports, the quick TCP probe
// (an unreachable cluster is a clear 503 in seconds rather than a CLI waiting for its own
// timeouts) and the daemon's words from the CLI's stderr.
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { E } from '../../common/errors.ts';
import type { ExecResult } from '../../infra/provider.ts';
import type { Cluster, ClusterResource } from '../../objects/models.ts';
import type { ContainerNode } from '../workloads.ts';

export const PROBE_TIMEOUT_MS = 3_000;

export interface EngineTarget {
  /** tcp://host:port of one engine: the cluster's api_address, or a node's address on port 2376. */
  endpoint: string;
  tls: boolean;
}

export interface EngineRunOptions {
  input?: string | Buffer;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Resolve with whatever the command printed, never a 503 read from its stderr (a command run in a container may print "connection refused" itself). */
  raw?: boolean;
}

/** The docker CLI against the engines of one cluster; `certDir` holds ca.pem, cert.pem and key.pem (null: no TLS). */
export class DockerEngine {
  readonly cluster: Pick<Cluster, 'uuid' | 'name' | 'api_address' | 'status'>;
  readonly #certDir: string | null;

  constructor(cluster: Pick<Cluster, 'uuid' | 'name' | 'api_address' | 'status'>, certDir: string | null) {
    this.cluster = cluster;
    this.#certDir = certDir;
  }

  get label(): string {
    return this.cluster.name ?? this.cluster.uuid;
  }

  /** The cluster's API endpoint (its first manager). */
  get api(): EngineTarget {
    if (!this.cluster.api_address) throw E.Conflict(`Cluster ${this.label} has no API address yet.`);
    return { endpoint: this.cluster.api_address, tls: this.#certDir !== null };
  }

  /** One node's engine, by its address on the cluster network. */
  node(address: string): EngineTarget {
    return { endpoint: `tcp://${address}:${this.#certDir ? 2376 : 2375}`, tls: this.#certDir !== null };
  }

  run(target: EngineTarget, args: string[], opts: EngineRunOptions = {}): Promise<ExecResult> {
    const global = ['--host', target.endpoint];
    if (target.tls && this.#certDir) {
      global.push('--tlsverify', '--tlscacert', join(this.#certDir, 'ca.pem'), '--tlscert', join(this.#certDir, 'cert.pem'), '--tlskey', join(this.#certDir, 'key.pem'));
    }
    return new Promise((resolve, reject) => {
      const child = execFile('docker', [...global, ...args], {
        timeout: opts.timeoutMs ?? 60_000,
        maxBuffer: 64 * 1024 * 1024,
        signal: opts.signal,
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', DOCKER_CONFIG: this.#certDir ?? tmpdir() },
      }, (err, stdout, stderr) => {
        if (err && (err as { killed?: boolean }).killed) {
          return reject(E.ServiceUnavailable(`The Docker engine of cluster ${this.label} at ${target.endpoint} did not answer in time.`));
        }
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        if (code !== 0 && !opts.raw && /Cannot connect to the Docker daemon|connection refused|no route to host|i\/o timeout|error during connect/i.test(stderr)) {
          return reject(E.ServiceUnavailable(`The Docker engine of cluster ${this.label} at ${target.endpoint} cannot be reached.`));
        }
        resolve({ exitCode: code, stdout, stderr });
      });
      if (opts.input !== undefined) {
        child.stdin?.on('error', () => undefined);
        child.stdin?.end(opts.input);
      }
    });
  }

  /** Whether the engine of the node at `address` accepts a TCP connection now. */
  answers(address: string): Promise<boolean> {
    return probe(address, endpointPort(this.node(address)));
  }

  /**
   * The engine of one node, once it answers; 503 when it does not. (Magnum's error title is the
   * message up to its first dot: messages lead with words, addresses come last.)
   */
  async reach(node: Pick<ContainerNode, 'name' | 'address'>): Promise<EngineTarget> {
    const target = this.node(node.address);
    if (!(await probe(node.address, endpointPort(target)))) {
      throw E.ServiceUnavailable(`Cluster ${this.label} cannot be reached: the Docker engine of node ${node.name} does not answer (${node.address}:${endpointPort(target)}, waited ${PROBE_TIMEOUT_MS / 1000} s).`);
    }
    return target;
  }
}

/** The nodes a cluster's ledger records as running: masters first, then by index. */
export function ledgerEngineNodes(resources: readonly ClusterResource[]): ContainerNode[] {
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

/** The daemon's message in the CLI's stderr, without the "Error response from daemon:" prefix. */
export function daemonMessage(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const line = lines.find((l) => /^Error/i.test(l)) ?? lines[0] ?? 'the Docker engine gave no reason';
  return line.replace(/^Error response from daemon:\s*/i, '').replace(/^Error:\s*/, '');
}
