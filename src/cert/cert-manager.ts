// Magnum's `x509keypair` cert manager (§6.3) and the per-cluster certificate work built on it.
//
// CertManager keeps certificate + private key pairs as rows of the x509keypair table; the row uuid
// is the ref stored in the cluster's *_cert_ref columns. Private keys are encrypted at rest with
// AES-256-GCM under a deployment master key (32 bytes, [certificates] encryption_key_file, made on
// first use): private_key holds `v1:<b64 iv>:<b64 tag>:<b64 ciphertext>`, the row uuid is bound in
// as associated data (a ciphertext copied into another row does not decrypt), and
// private_key_passphrase stays null. Rows in upstream Magnum's form (PEM, optionally encrypted with
// the passphrase column) are still read.
//
// ClusterCertificates makes what §6.1 lists per cluster (three CAs and the conductor's client
// certificate), signs CSRs with the CA a ca_cert_type selects, and issues node server certificates.
import { createCipheriv, createDecipheriv, createPrivateKey, randomBytes, randomUUID } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { MagnumError } from '../common/errors.ts';
import type { Config } from '../conf/index.ts';
import type { Storage } from '../db/api.ts';
import type { CertificateSpec, TlsMaterial } from '../drivers/driver.ts';
import type { Cluster } from '../objects/models.ts';
import { generateCa, generateRsaPem, issueCertificate, keyUsageMask, signCsr, type KeyPairPem } from './x509.ts';

export type KeyPairStore = Pick<Storage, 'createX509KeyPair' | 'getX509KeyPair' | 'deleteX509KeyPair'>;

/** A server-side failure of the certificate store (bad master key file, undecryptable row). */
export class CertificateStoreError extends Error {
  override name = 'CertificateStoreError';
}

export const MASTER_KEY_BYTES = 32;

/** Magnum's X509KeyPairNotFound (404). */
export function keyPairNotFound(ref: string): MagnumError {
  return new MagnumError('X509KeyPairNotFound', 404, `A key pair ${ref} could not be found.`);
}

function fsReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const msg = String(err?.message ?? e);
  return err?.code && !msg.startsWith(err.code) ? `${err.code}: ${msg}` : msg;
}

/**
 * Read the master key: 32 raw bytes, or their base64 text (`openssl rand -base64 32`). When the
 * file does not exist it is created (mode 0600, parent directories 0700) with 32 random bytes;
 * concurrent creators agree on one key (the file appears atomically, with its content).
 */
export function loadMasterKey(path: string, opts: { create?: boolean } = {}): Buffer {
  const file = resolve(process.cwd(), path);
  const where = `[certificates] encryption_key_file ${file}`;
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || opts.create === false) {
      throw new CertificateStoreError(`${where}: cannot read it (${fsReason(e)})`);
    }
    try {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      const tmp = `${file}.${process.pid}.${randomUUID()}.tmp`;
      writeFileSync(tmp, randomBytes(MASTER_KEY_BYTES), { mode: 0o600, flag: 'wx' });
      try {
        linkSync(tmp, file); // fails with EEXIST when another process created it first: theirs wins
      } catch (le) {
        if ((le as NodeJS.ErrnoException).code !== 'EEXIST') throw le;
      } finally {
        unlinkSync(tmp);
      }
      data = readFileSync(file);
    } catch (ce) {
      throw new CertificateStoreError(`${where}: the file does not exist and cannot be created (${fsReason(ce)})`);
    }
  }
  if (data.length === MASTER_KEY_BYTES) return data;
  const text = data.toString('latin1').trim();
  if (/^[A-Za-z0-9+/]{43}=$/.test(text)) return Buffer.from(text, 'base64');
  throw new CertificateStoreError(
    `${where}: must hold a ${MASTER_KEY_BYTES}-byte key (raw, or base64 of ${MASTER_KEY_BYTES} bytes); it holds ${data.length} bytes`,
  );
}

export interface StoredKeyPair {
  certificate: string;
  /** Decrypted, PEM. */
  privateKey: string;
  intermediates: string | null;
}

export interface CertManagerKey {
  /** The master key itself (tests). */
  masterKey?: Buffer;
  /** [certificates] encryption_key_file; relative paths are taken from the working directory. */
  keyFile?: string;
}

export class CertManager {
  readonly #storage: KeyPairStore;
  readonly #keyFile: string | null;
  #key: Buffer | null;

  constructor(storage: KeyPairStore, key: CertManagerKey) {
    this.#storage = storage;
    if (key.masterKey) {
      if (key.masterKey.length !== MASTER_KEY_BYTES) throw new CertificateStoreError(`the master key must be ${MASTER_KEY_BYTES} bytes`);
      this.#key = Buffer.from(key.masterKey);
      this.#keyFile = null;
    } else if (key.keyFile) {
      this.#key = null;
      this.#keyFile = key.keyFile;
    } else throw new CertificateStoreError('CertManager needs a master key or a key file');
  }

  static fromConfig(conf: Config, storage: KeyPairStore): CertManager {
    return new CertManager(storage, { keyFile: conf.certificates.encryption_key_file });
  }

  /** The master key, read (or created) on first use; a failure is not remembered, so fixing the file helps. */
  #masterKey(): Buffer {
    this.#key ??= loadMasterKey(this.#keyFile!);
    return this.#key;
  }

  #keyName(): string {
    return this.#keyFile ? `the master key in ${resolve(process.cwd(), this.#keyFile)} ([certificates] encryption_key_file)` : 'the master key';
  }

  #encrypt(ref: string, privateKey: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.#masterKey(), iv);
    c.setAAD(Buffer.from(`x509keypair:${ref}`));
    const ct = Buffer.concat([c.update(privateKey, 'utf8'), c.final()]);
    return `v1:${iv.toString('base64')}:${c.getAuthTag().toString('base64')}:${ct.toString('base64')}`;
  }

  #decrypt(ref: string, stored: string | null, passphrase: string | null): string {
    if (!stored) throw new CertificateStoreError(`x509keypair ${ref} has no private key`);
    if (stored.startsWith('-----BEGIN')) {
      // A row written by upstream Magnum: PEM, encrypted with the passphrase column when it is set.
      try {
        const key = createPrivateKey(passphrase ? { key: stored, passphrase } : stored);
        return key.export({ format: 'pem', type: 'pkcs8' }).toString();
      } catch (e) {
        throw new CertificateStoreError(`cannot read the private key of x509keypair ${ref}: ${(e as Error).message}`);
      }
    }
    const m = /^v1:([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/.exec(stored);
    if (!m) throw new CertificateStoreError(`x509keypair ${ref}: the private key is in an unknown format`);
    const key = this.#masterKey();
    try {
      const d = createDecipheriv('aes-256-gcm', key, Buffer.from(m[1], 'base64'));
      d.setAAD(Buffer.from(`x509keypair:${ref}`));
      d.setAuthTag(Buffer.from(m[2], 'base64'));
      return Buffer.concat([d.update(Buffer.from(m[3], 'base64')), d.final()]).toString('utf8');
    } catch {
      throw new CertificateStoreError(
        `cannot decrypt the private key of x509keypair ${ref}: ${this.#keyName()} is not the key it was encrypted with, or the row was altered`,
      );
    }
  }

  /**
   * Store a pair; returns its ref (the row uuid: `ref` when given, so a caller can record it before
   * the row exists). `name` is accepted for Magnum's interface; the table has no column for it.
   */
  async storeKeyPair(p: {
    certificate: string;
    privateKey: string;
    projectId: string | null;
    userId: string | null;
    name?: string;
    intermediates?: string | null;
    ref?: string;
  }): Promise<string> {
    const uuid = p.ref ?? randomUUID();
    await this.#storage.createX509KeyPair({
      uuid,
      certificate: p.certificate,
      private_key: this.#encrypt(uuid, p.privateKey),
      private_key_passphrase: null,
      intermediates: p.intermediates ?? null,
      project_id: p.projectId,
      user_id: p.userId,
    });
    return uuid;
  }

  async #row(ref: string) {
    const row = await this.#storage.getX509KeyPair(ref);
    if (!row) throw keyPairNotFound(ref);
    if (!row.certificate) throw new CertificateStoreError(`x509keypair ${ref} has no certificate`);
    return row as typeof row & { certificate: string };
  }

  /** The certificate PEM only (the private key is not decrypted). */
  async getCertificate(ref: string): Promise<string> {
    return (await this.#row(ref)).certificate;
  }

  async getKeyPair(ref: string): Promise<StoredKeyPair> {
    const row = await this.#row(ref);
    return {
      certificate: row.certificate,
      privateKey: this.#decrypt(ref, row.private_key, row.private_key_passphrase),
      intermediates: row.intermediates,
    };
  }

  /** Delete a pair; deleting a missing ref is not an error. */
  async delete(ref: string): Promise<void> {
    await this.#storage.deleteX509KeyPair(ref);
  }
}

// ---- per-cluster certificates ------------------------------------------------------------------

export interface X509Settings {
  keySize: number;
  validityDays: number;
  allowedExtensions: readonly string[];
  allowedKeyUsage: readonly string[];
  allowCa: boolean;
}

export function x509Settings(conf: Config): X509Settings {
  return {
    keySize: conf.x509.rsa_key_size,
    validityDays: conf.x509.term_of_validity,
    allowedExtensions: conf.x509.allowed_extensions,
    allowedKeyUsage: conf.x509.allowed_key_usage,
    allowCa: conf.x509.allow_ca,
  };
}

/** The cluster columns this module fills, ready for a cluster update. */
export interface ClusterCertRefs {
  ca_cert_ref: string;
  magnum_cert_ref: string;
  etcd_ca_cert_ref: string;
  front_proxy_ca_cert_ref: string;
}

export type ClusterIdentity = Pick<Cluster, 'uuid' | 'name' | 'project_id' | 'user_id'>;
export type ClusterRefs = Partial<Pick<Cluster, 'ca_cert_ref' | 'magnum_cert_ref' | 'etcd_ca_cert_ref' | 'front_proxy_ca_cert_ref'>>;

/** Magnum's client certificate for the conductor. */
export const MAGNUM_CLIENT = { commonName: 'admin', organization: 'system:masters', name: 'Magnum-Conductor' } as const;

/**
 * The ref a ca_cert_type selects: `etcd` → etcd CA, `front_proxy`/`front-proxy` → front-proxy CA,
 * anything else → the cluster CA. A cluster without the typed CA (made before it existed) uses its
 * cluster CA. Null when the cluster has no CA at all.
 */
export function selectCaRef(cluster: ClusterRefs, caCertType?: string | null): string | null {
  const typed =
    caCertType === 'etcd' ? cluster.etcd_ca_cert_ref : caCertType === 'front_proxy' || caCertType === 'front-proxy' ? cluster.front_proxy_ca_cert_ref : null;
  return typed || cluster.ca_cert_ref || null;
}

export class ClusterCertificates {
  readonly manager: CertManager;
  readonly settings: X509Settings;

  constructor(manager: CertManager, settings: X509Settings) {
    keyUsageMask(settings.allowedKeyUsage); // unknown names are a configuration error: say so at startup
    this.manager = manager;
    this.settings = settings;
  }

  static fromConfig(conf: Config, storage: KeyPairStore): ClusterCertificates {
    return new ClusterCertificates(CertManager.fromConfig(conf, storage), x509Settings(conf));
  }

  get #keyOpts() {
    return { keySize: this.settings.keySize, validityDays: this.settings.validityDays };
  }

  /** Fresh refs for createClusterCa, to record (e.g. in the cluster's ledger) before anything is stored. */
  planRefs(): ClusterCertRefs {
    return { ca_cert_ref: randomUUID(), etcd_ca_cert_ref: randomUUID(), front_proxy_ca_cert_ref: randomUUID(), magnum_cert_ref: randomUUID() };
  }

  /**
   * §6.1: the cluster CA, the etcd CA, the front-proxy CA (subject CN = cluster name, or uuid) and
   * the conductor's client certificate (CN=admin, O=system:masters) issued by the cluster CA; all
   * stored, under `refs` when given. Nothing is left stored when it fails.
   */
  async createClusterCa(cluster: ClusterIdentity, refs: ClusterCertRefs = this.planRefs()): Promise<ClusterCertRefs> {
    const cn = cluster.name || cluster.uuid;
    const [ca, etcd, frontProxy] = await Promise.all([0, 1, 2].map(() => generateCa(cn, this.#keyOpts)));
    const client = await issueCertificate(
      ca,
      { commonName: MAGNUM_CLIENT.commonName, organization: MAGNUM_CLIENT.organization, usage: 'client' },
      this.#keyOpts,
    );
    const stored: string[] = [];
    const store = async (kp: KeyPairPem, name: string, ref: string) => {
      await this.manager.storeKeyPair({ ...kp, projectId: cluster.project_id, userId: cluster.user_id, name, ref });
      stored.push(ref);
      return ref;
    };
    try {
      return {
        ca_cert_ref: await store(ca, cn, refs.ca_cert_ref),
        etcd_ca_cert_ref: await store(etcd, cn, refs.etcd_ca_cert_ref),
        front_proxy_ca_cert_ref: await store(frontProxy, cn, refs.front_proxy_ca_cert_ref),
        magnum_cert_ref: await store(client, MAGNUM_CLIENT.name, refs.magnum_cert_ref),
      };
    } catch (e) {
      await this.deleteAll(stored).catch(() => undefined);
      throw e;
    }
  }

  /** New CAs and client certificate for a CA rotation. The caller saves them, then deletes the old refs. */
  rotate(cluster: ClusterIdentity): Promise<ClusterCertRefs> {
    return this.createClusterCa(cluster);
  }

  #caRef(cluster: ClusterRefs, caCertType?: string | null): string {
    const ref = selectCaRef(cluster, caCertType);
    if (!ref) throw keyPairNotFound('None');
    return ref;
  }

  /** GET /v1/certificates: the PEM of the CA the type selects. */
  async getCa(cluster: ClusterRefs, caCertType?: string | null): Promise<string> {
    return this.manager.getCertificate(this.#caRef(cluster, caCertType));
  }

  /** POST /v1/certificates: sign a client's CSR (E.InvalidCsr / E.CertificateValidationError on bad input). */
  async sign(cluster: ClusterRefs, csr: unknown, caCertType?: string | null): Promise<string> {
    const ca = await this.manager.getKeyPair(this.#caRef(cluster, caCertType));
    return signCsr(ca, csr, this.settings);
  }

  /**
   * A server+client certificate for one node's engine (Docker TLS): SANs = ips, 127.0.0.1, name and
   * dnsNames. Not stored. Returns the CA PEM too.
   */
  async issueNodeCertificate(caRef: string, node: { name: string; ips: readonly string[]; dnsNames?: readonly string[] }): Promise<TlsMaterial> {
    const ca = await this.manager.getKeyPair(caRef);
    const kp = await issueCertificate(
      ca,
      {
        commonName: node.name,
        dnsNames: [node.name, ...(node.dnsNames ?? [])],
        ipAddresses: [...node.ips, '127.0.0.1'],
        usage: 'server+client',
      },
      this.#keyOpts,
    );
    return { caPem: ca.certificate, certificate: kp.certificate, privateKey: kp.privateKey };
  }

  /** A certificate and new key issued by the CA stored under caRef (not stored). Returns the CA PEM too. */
  async issue(caRef: string, req: CertificateSpec): Promise<TlsMaterial> {
    const ca = await this.manager.getKeyPair(caRef);
    const kp = await issueCertificate(ca, req, this.#keyOpts);
    return { caPem: ca.certificate, certificate: kp.certificate, privateKey: kp.privateKey };
  }

  /**
   * A cluster's service-account signing key (Kubernetes tokens), stored under `ref` as a key pair
   * whose certificate column holds the public key PEM (no certificate exists for it).
   */
  async createServiceAccountKey(cluster: ClusterIdentity, ref: string): Promise<void> {
    const { publicKey, privateKey } = await generateRsaPem(this.settings.keySize);
    await this.manager.storeKeyPair({ certificate: publicKey, privateKey, projectId: cluster.project_id, userId: cluster.user_id, name: 'service-account', ref });
  }

  async getServiceAccountKey(ref: string): Promise<{ publicKey: string; privateKey: string }> {
    const kp = await this.manager.getKeyPair(ref);
    return { publicKey: kp.certificate, privateKey: kp.privateKey };
  }

  /** The cluster CA and the conductor's client certificate and key, to talk to the cluster. */
  async getClientCredentials(cluster: ClusterRefs): Promise<TlsMaterial> {
    if (!cluster.ca_cert_ref) throw keyPairNotFound('None');
    if (!cluster.magnum_cert_ref) throw keyPairNotFound('None');
    const [caPem, client] = await Promise.all([
      this.manager.getCertificate(cluster.ca_cert_ref),
      this.manager.getKeyPair(cluster.magnum_cert_ref),
    ]);
    return { caPem, certificate: client.certificate, privateKey: client.privateKey };
  }

  /** Delete every ref given (a cluster's ref columns or a list); null/missing ones are skipped. */
  async deleteAll(refs: ClusterRefs | readonly (string | null | undefined)[]): Promise<void> {
    const isList = (r: typeof refs): r is readonly (string | null | undefined)[] => Array.isArray(r);
    const list = isList(refs) ? refs : [refs.ca_cert_ref, refs.magnum_cert_ref, refs.etcd_ca_cert_ref, refs.front_proxy_ca_cert_ref];
    for (const ref of new Set(list)) if (ref) await this.manager.delete(ref);
  }
}
