// Talking to a cluster's own Docker engines, as the cluster's users do: over TLS, with the
// conductor's client certificate from the cluster CA (Magnum's magnum_cert_ref). The certificate
// files are cached per cluster in a private directory (mode 0700/0600), like Magnum's
// [cluster] temp_cache_dir, and rewritten when the cluster's CA changes.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterCertificates } from '../cert/cert-manager.ts';
import { E } from '../common/errors.ts';
import type { Storage } from '../db/api.ts';
import type { ExecResult } from '../infra/provider.ts';
import type { Cluster } from '../objects/models.ts';

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

/** The docker CLI against one engine of one cluster. */
export class ClusterEngine {
  readonly cluster: Cluster;
  readonly #certDir: string | null;

  constructor(cluster: Cluster, certDir: string | null) {
    this.cluster = cluster;
    this.#certDir = certDir;
  }

  /** The cluster's API endpoint (its first manager). */
  get api(): EngineTarget {
    if (!this.cluster.api_address) throw E.Conflict(`Cluster ${this.cluster.name ?? this.cluster.uuid} has no API address yet.`);
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
          return reject(E.ServiceUnavailable(`The Docker engine of cluster ${this.cluster.name ?? this.cluster.uuid} at ${target.endpoint} did not answer in time.`));
        }
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        if (code !== 0 && !opts.raw && /Cannot connect to the Docker daemon|connection refused|no route to host|i\/o timeout|error during connect/i.test(stderr)) {
          return reject(E.ServiceUnavailable(`The Docker engine of cluster ${this.cluster.name ?? this.cluster.uuid} at ${target.endpoint} cannot be reached.`));
        }
        resolve({ exitCode: code, stdout, stderr });
      });
      if (opts.input !== undefined) {
        child.stdin?.on('error', () => undefined);
        child.stdin?.end(opts.input);
      }
    });
  }
}

/** Builds ClusterEngine objects, keeping each cluster's client certificate files current. */
export class ClusterEngines {
  readonly #storage: Storage;
  readonly #certs: ClusterCertificates;
  readonly #cacheDir: string;

  constructor(opts: { storage: Storage; certs: ClusterCertificates; cacheDir?: string }) {
    this.#storage = opts.storage;
    this.#certs = opts.certs;
    this.#cacheDir = opts.cacheDir ?? join(tmpdir(), `magnum-cluster-certs-${process.getuid?.() ?? 0}`);
  }

  /**
   * The cache directory of the conductors of one deployment on this host: one per database, so
   * that prune() (which removes the files of clusters its database no longer has) never touches
   * the files of another deployment's (or another test's) conductors on the same host.
   */
  static cacheDirFor(databaseConnection: string): string {
    const deployment = createHash('sha256').update(databaseConnection).digest('hex').slice(0, 16);
    return join(tmpdir(), `magnum-cluster-certs-${process.getuid?.() ?? 0}`, deployment);
  }

  async forCluster(clusterUuid: string): Promise<ClusterEngine> {
    const cluster = await this.#storage.getClusterByUuid(clusterUuid);
    if (!cluster) throw E.ClusterNotFound(clusterUuid);
    const template = await this.#storage.getClusterTemplateByUuid(cluster.cluster_template_id ?? '');
    if (template?.tls_disabled || !cluster.ca_cert_ref) return new ClusterEngine(cluster, null);
    const dir = join(this.#cacheDir, cluster.uuid);
    const stamp = createHash('sha256').update(`${cluster.ca_cert_ref}:${cluster.magnum_cert_ref}`).digest('hex');
    const stampFile = join(dir, 'refs');
    if (!existsSync(stampFile) || readFileSync(stampFile, 'utf8') !== stamp) {
      const tls = await this.#certs.getClientCredentials(cluster);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      chmodSync(dir, 0o700);
      writeFileSync(join(dir, 'ca.pem'), `${tls.caPem}\n`, { mode: 0o600 });
      writeFileSync(join(dir, 'cert.pem'), `${tls.certificate}\n`, { mode: 0o600 });
      writeFileSync(join(dir, 'key.pem'), `${tls.privateKey}\n`, { mode: 0o600 });
      writeFileSync(stampFile, stamp, { mode: 0o600 });
    }
    return new ClusterEngine(cluster, dir);
  }

  /** Removes a cluster's cached key and certificate files (the cluster is deleted, or its CA rotated). */
  forget(clusterUuid: string): void {
    if (!/^[0-9a-f-]{36}$/i.test(clusterUuid)) return;
    rmSync(join(this.#cacheDir, clusterUuid), { recursive: true, force: true });
  }

  /** Removes the cached files of every cluster that no longer exists. */
  async prune(): Promise<void> {
    let names: string[];
    try {
      names = readdirSync(this.#cacheDir);
    } catch {
      return; // nothing cached yet
    }
    for (const name of names) {
      if (/^[0-9a-f-]{36}$/i.test(name) && !(await this.#storage.getClusterByUuid(name))) this.forget(name);
    }
  }
}
