// The conductor's client certificate of each cluster (from the cluster CA: Magnum's
// magnum_cert_ref) as files, for drivers whose clients read files (the docker CLI of
// src/drivers/docker-engine/, given the directory through WorkloadAccess.tlsFiles). Cached per
// cluster in a private directory (mode 0700/0600), like Magnum's [cluster] temp_cache_dir,
// rewritten when the cluster's CA changes and removed with the cluster.
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterCertificates } from '../cert/cert-manager.ts';
import type { Storage } from '../db/api.ts';
import type { Cluster, ClusterTemplate } from '../objects/models.ts';

/** Each cluster's client certificate files, kept current. */
export class ClientCredentialFiles {
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

  /**
   * The directory holding the cluster's ca.pem, cert.pem and key.pem (written or rewritten when
   * its CA changed); null when the cluster has no CA yet or its template disables TLS.
   */
  async dirFor(cluster: Cluster, template: Pick<ClusterTemplate, 'tls_disabled'> | null): Promise<string | null> {
    if (template?.tls_disabled || !cluster.ca_cert_ref) return null;
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
    return dir;
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
