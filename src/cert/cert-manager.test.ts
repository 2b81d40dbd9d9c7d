// The x509keypair cert manager (private keys encrypted at rest) and the per-cluster certificates.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isMagnumError } from '../common/errors.ts';
import { loadConfig } from '../conf/index.ts';
import { SqlStorage } from '../db/sql/storage.ts';
import type { X509KeyPair } from '../objects/models.ts';
import {
  CertificateStoreError,
  CertManager,
  ClusterCertificates,
  loadMasterKey,
  selectCaRef,
  x509Settings,
  type ClusterCertRefs,
  type KeyPairStore,
} from './cert-manager.ts';
import { generateCa, verifyChain } from './x509.ts';

const dir = mkdtempSync(join(tmpdir(), 'magnum-certmgr-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** The three storage methods over a Map; rows kept as the database would keep them. */
class FakeStore implements KeyPairStore {
  readonly rows = new Map<string, X509KeyPair>();
  failOnCreate = 0; // fail the Nth create (1-based), 0 = never
  creates = 0;
  async createX509KeyPair(values: Partial<X509KeyPair>): Promise<X509KeyPair> {
    if (this.failOnCreate && ++this.creates === this.failOnCreate) throw new Error('database is gone');
    const row: X509KeyPair = {
      id: this.rows.size + 1, uuid: values.uuid!, certificate: values.certificate ?? null, private_key: values.private_key ?? null,
      private_key_passphrase: values.private_key_passphrase ?? null, intermediates: values.intermediates ?? null,
      project_id: values.project_id ?? null, user_id: values.user_id ?? null, created_at: new Date(), updated_at: null,
    };
    this.rows.set(row.uuid, row);
    return row;
  }
  async getX509KeyPair(uuid: string): Promise<X509KeyPair | null> {
    return this.rows.get(uuid) ?? null;
  }
  async deleteX509KeyPair(uuid: string): Promise<void> {
    this.rows.delete(uuid);
  }
}

function openssl(args: string[], input?: string): string {
  return execFileSync('openssl', args, { cwd: dir, input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}
function osslVerify(caPem: string, certPem: string): boolean {
  const ca = join(dir, `ca-${++n}.pem`);
  const crt = join(dir, `crt-${n}.pem`);
  writeFileSync(ca, caPem);
  writeFileSync(crt, certPem);
  return spawnSync('openssl', ['verify', '-CAfile', ca, crt]).status === 0;
}

/** What must never be found in a stored row: the PEM armour or any line of the key's base64. */
function assertNoKeyText(stored: string, privateKey: string) {
  assert.doesNotMatch(stored, /PRIVATE KEY/);
  for (const line of privateKey.split('\n').filter((l) => l.length >= 40)) assert.ok(!stored.includes(line), 'key material in the row');
}

const conf = loadConfig({ env: {} });
const settings = x509Settings(conf);
const cluster = { uuid: '5d12f6fd-a196-4bf0-ae4c-1f639a523a52', name: 'k8s-prod', project_id: 'p1', user_id: 'u1' };

describe('CertManager', () => {
  it('stores key pairs with the private key encrypted (AES-256-GCM) and reads them back', async () => {
    const store = new FakeStore();
    const mgr = new CertManager(store, { masterKey: randomBytes(32) });
    const kp = await generateCa('c', { keySize: 2048, validityDays: 10 });
    const ref = await mgr.storeKeyPair({ ...kp, projectId: 'p1', userId: 'u1', name: 'c' });
    assert.match(ref, /^[0-9a-f-]{36}$/);
    const row = store.rows.get(ref)!;
    assert.equal(row.certificate, kp.certificate);
    assert.equal(row.private_key_passphrase, null);
    assert.equal(row.project_id, 'p1');
    assert.equal(row.user_id, 'u1');
    assert.match(row.private_key!, /^v1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    assertNoKeyText(row.private_key!, kp.privateKey);
    assert.equal(await mgr.getCertificate(ref), kp.certificate);
    assert.deepEqual(await mgr.getKeyPair(ref), { certificate: kp.certificate, privateKey: kp.privateKey, intermediates: null });
    // Same key twice: different ciphertexts (random IV).
    const ref2 = await mgr.storeKeyPair({ ...kp, projectId: null, userId: null });
    assert.notEqual(store.rows.get(ref2)!.private_key, row.private_key);

    await mgr.delete(ref);
    await mgr.delete(ref); // deleting again is fine
    for (const get of [() => mgr.getCertificate(ref), () => mgr.getKeyPair(ref)]) {
      await assert.rejects(get(), (e: unknown) => isMagnumError(e) && e.code === 'X509KeyPairNotFound' && e.status === 404 && e.message === `A key pair ${ref} could not be found.`);
    }
  });

  it('refuses to decrypt with the wrong master key, or a ciphertext moved to another row, with a clear error', async () => {
    const store = new FakeStore();
    const mgr = new CertManager(store, { masterKey: randomBytes(32) });
    const ref = await mgr.storeKeyPair({ certificate: 'C', privateKey: 'secret key', projectId: null, userId: null });
    const other = new CertManager(store, { masterKey: randomBytes(32) });
    assert.equal(await other.getCertificate(ref), 'C', 'the certificate needs no key');
    await assert.rejects(other.getKeyPair(ref), (e: unknown) =>
      e instanceof CertificateStoreError && /cannot decrypt the private key of x509keypair .*: the master key is not the key it was encrypted with/.test(e.message));
    // Copying one row's ciphertext into another row does not work either (the uuid is authenticated).
    const ref2 = await mgr.storeKeyPair({ certificate: 'D', privateKey: 'other key', projectId: null, userId: null });
    store.rows.get(ref2)!.private_key = store.rows.get(ref)!.private_key;
    await assert.rejects(mgr.getKeyPair(ref2), CertificateStoreError);
    store.rows.get(ref2)!.private_key = 'v2:nonsense';
    await assert.rejects(mgr.getKeyPair(ref2), /unknown format/);
    assert.throws(() => new CertManager(store, { masterKey: randomBytes(16) }), CertificateStoreError);
  });

  it('reads rows written by upstream Magnum (PEM key encrypted with the passphrase column)', async () => {
    const store = new FakeStore();
    const mgr = new CertManager(store, { masterKey: randomBytes(32) });
    const { privateKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'Kx9vQ2' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    await store.createX509KeyPair({ uuid: 'legacy', certificate: 'C', private_key: privateKey, private_key_passphrase: 'Kx9vQ2' });
    const kp = await mgr.getKeyPair('legacy');
    assert.match(kp.privateKey, /^-----BEGIN PRIVATE KEY-----/);
    assert.equal(openssl(['pkey', '-pubout'], kp.privateKey), openssl(['pkey', '-pubout', '-passin', 'pass:Kx9vQ2'], privateKey));
    store.rows.get('legacy')!.private_key_passphrase = 'wrong';
    await assert.rejects(mgr.getKeyPair('legacy'), CertificateStoreError);
  });
});

describe('master key file ([certificates] encryption_key_file)', () => {
  it('is created 0600 with 32 random bytes on first use, then reused', async () => {
    const file = join(dir, 'nested', 'deeper', 'magnum-cert.key');
    const store = new FakeStore();
    const ref = await new CertManager(store, { keyFile: file }).storeKeyPair({ certificate: 'C', privateKey: 'K', projectId: null, userId: null });
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readFileSync(file).length, 32);
    assert.equal(readdirSync(join(dir, 'nested', 'deeper')).length, 1, 'no temp files left');
    const before = readFileSync(file);
    assert.equal((await new CertManager(store, { keyFile: file }).getKeyPair(ref)).privateKey, 'K');
    assert.deepEqual(readFileSync(file), before, 'an existing key is never replaced');
  });

  it('resolves a relative path against the working directory', () => {
    const cwd = process.cwd();
    const work = join(dir, 'cwd');
    mkdirSync(work);
    process.chdir(work);
    try {
      const key = loadMasterKey('var/magnum-cert.key');
      assert.deepEqual(readFileSync(join(work, 'var', 'magnum-cert.key')), key);
    } finally {
      process.chdir(cwd);
    }
  });

  it('takes base64 text too, and says clearly what is wrong with a bad file', async () => {
    const b64 = join(dir, 'b64.key');
    const raw = randomBytes(32);
    writeFileSync(b64, `${raw.toString('base64')}\n`);
    assert.deepEqual(loadMasterKey(b64), raw);

    const short = join(dir, 'short.key');
    writeFileSync(short, 'hello');
    assert.throws(() => loadMasterKey(short), {
      name: 'CertificateStoreError',
      message: `[certificates] encryption_key_file ${short}: must hold a 32-byte key (raw, or base64 of 32 bytes); it holds 5 bytes`,
    });
    writeFileSync(short, '');
    assert.throws(() => loadMasterKey(short), /it holds 0 bytes/);
    // A directory where the file should be: unreadable.
    assert.throws(() => loadMasterKey(dir), (e: unknown) => e instanceof CertificateStoreError && e.message.startsWith(`[certificates] encryption_key_file ${dir}: cannot read it (EISDIR`));
    // A path through a regular file: unreadable.
    const ro = join(dir, 'ro');
    mkdirSync(ro);
    writeFileSync(join(ro, 'blocker'), '');
    assert.throws(() => loadMasterKey(join(ro, 'blocker', 'x.key')), /cannot read it \(ENOTDIR: not a directory/);
    // A missing file in a place where nothing can be created (procfs; tests run as root, so no EACCES).
    assert.throws(() => loadMasterKey('/proc/magnum-cert-test.key'), {
      name: 'CertificateStoreError',
      message: /^\[certificates\] encryption_key_file \/proc\/magnum-cert-test.key: the file does not exist and cannot be created \(ENOENT/,
    });
    assert.throws(() => loadMasterKey(join(dir, 'missing.key'), { create: false }), /cannot read it \(ENOENT/);
    // Through the manager: the error surfaces on use, and a fixed file works without a restart.
    const store = new FakeStore();
    const mgr = new CertManager(store, { keyFile: short });
    await assert.rejects(mgr.storeKeyPair({ certificate: 'C', privateKey: 'K', projectId: null, userId: null }), CertificateStoreError);
    assert.equal(store.rows.size, 0);
    writeFileSync(short, randomBytes(32));
    chmodSync(short, 0o600);
    await mgr.storeKeyPair({ certificate: 'C', privateKey: 'K', projectId: null, userId: null });
  });

  it('a different key file is a wrong master key: clear error naming the file', async () => {
    const store = new FakeStore();
    const a = join(dir, 'a.key');
    const b = join(dir, 'b.key');
    const ref = await new CertManager(store, { keyFile: a }).storeKeyPair({ certificate: 'C', privateKey: 'K', projectId: null, userId: null });
    await assert.rejects(new CertManager(store, { keyFile: b }).getKeyPair(ref), {
      name: 'CertificateStoreError',
      message: `cannot decrypt the private key of x509keypair ${ref}: the master key in ${b} ([certificates] encryption_key_file) is not the key it was encrypted with, or the row was altered`,
    });
  });
});

describe('ClusterCertificates', () => {
  const make = (store = new FakeStore()) => ({ store, certs: new ClusterCertificates(new CertManager(store, { masterKey: randomBytes(32) }), settings) });

  it('creates the three CAs and the conductor client certificate of a cluster (§6.1)', async () => {
    const { store, certs } = make();
    const refs = await certs.createClusterCa(cluster);
    assert.deepEqual(Object.keys(refs).sort(), ['ca_cert_ref', 'etcd_ca_cert_ref', 'front_proxy_ca_cert_ref', 'magnum_cert_ref']);
    assert.equal(new Set(Object.values(refs)).size, 4);
    assert.equal(store.rows.size, 4);
    for (const row of store.rows.values()) {
      assert.equal(row.project_id, 'p1');
      assert.equal(row.user_id, 'u1');
      assertNoKeyText(row.private_key!, '');
    }
    const ca = await certs.getCa(refs);
    const etcd = await certs.getCa(refs, 'etcd');
    const fp = await certs.getCa(refs, 'front_proxy');
    assert.equal(await certs.getCa(refs, 'front-proxy'), fp);
    assert.equal(await certs.getCa(refs, 'kubernetes'), ca);
    assert.equal(new Set([ca, etcd, fp]).size, 3, 'three independent CAs');
    for (const pem of [ca, etcd, fp]) {
      assert.match(openssl(['x509', '-noout', '-subject', '-issuer'], pem), /^subject=CN = k8s-prod\nissuer=CN = k8s-prod\n$/);
      assert.ok(!pem.endsWith('\n'));
    }

    const client = await certs.getClientCredentials(refs);
    assert.equal(client.caPem, ca);
    assert.ok(osslVerify(ca, client.certificate));
    const t = openssl(['x509', '-noout', '-text'], client.certificate);
    assert.match(t, /Subject: CN = admin, O = system:masters\n/);
    assert.match(t, /X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment\n/);
    assert.match(t, /TLS Web Client Authentication/);
    assert.match(t, /X509v3 Basic Constraints: critical\n\s+CA:FALSE/);
    assert.equal(openssl(['pkey', '-pubout'], client.privateKey), openssl(['x509', '-noout', '-pubkey'], client.certificate));
    // The CA key never leaves through getCa.
    assert.doesNotMatch(ca, /PRIVATE/);
  });

  it('names the CA after the cluster uuid when it has no name', async () => {
    const { certs } = make();
    const refs = await certs.createClusterCa({ ...cluster, name: null });
    assert.match(openssl(['x509', '-noout', '-subject'], await certs.getCa(refs)), new RegExp(`CN = ${cluster.uuid}`));
  });

  it('signs CSRs with the CA the ca_cert_type selects', async () => {
    const { certs } = make();
    const refs = await certs.createClusterCa(cluster);
    const key = join(dir, `k-${++n}.pem`);
    openssl(['genrsa', '-traditional', '-out', key, '2048']);
    const csr = openssl(['req', '-new', '-key', key, '-subj', '/CN=admin/O=system:masters']);
    const viaCluster = await certs.sign(refs, csr);
    const viaEtcd = await certs.sign(refs, csr, 'etcd');
    assert.ok(osslVerify(await certs.getCa(refs), viaCluster));
    assert.ok(!osslVerify(await certs.getCa(refs), viaEtcd));
    assert.ok(osslVerify(await certs.getCa(refs, 'etcd'), viaEtcd));
    await assert.rejects(certs.sign(refs, 'junk'), (e: unknown) => isMagnumError(e) && e.code === 'InvalidCsr');
    // A cluster made before etcd/front-proxy CAs existed: its cluster CA serves.
    assert.equal(selectCaRef({ ca_cert_ref: 'a', etcd_ca_cert_ref: null }, 'etcd'), 'a');
    assert.equal(selectCaRef({ ca_cert_ref: null }), null);
    await assert.rejects(certs.getCa({ ca_cert_ref: null }), (e: unknown) => isMagnumError(e) && e.status === 404);
  });

  it('issues node server certificates (not stored) with the node IPs, 127.0.0.1 and hostname', async () => {
    const { store, certs } = make();
    const refs = await certs.createClusterCa(cluster);
    const node = await certs.issueNodeCertificate(refs.ca_cert_ref, { name: 'k8s-prod-node-0', ips: ['10.0.0.9', '172.24.4.10'], dnsNames: ['node-0.local'] });
    assert.equal(store.rows.size, 4, 'nothing stored');
    assert.equal(node.caPem, await certs.getCa(refs));
    assert.ok(osslVerify(node.caPem, node.certificate));
    assert.match(
      openssl(['x509', '-noout', '-ext', 'subjectAltName,extendedKeyUsage'], node.certificate),
      /TLS Web Server Authentication, TLS Web Client Authentication[\s\S]*DNS:k8s-prod-node-0, DNS:node-0.local, IP Address:10.0.0.9, IP Address:172.24.4.10, IP Address:127.0.0.1/,
    );
  });

  it('rotates: new CAs and client certificate; the old ones verify no more; deleteAll removes the old refs', async () => {
    const { store, certs } = make();
    const old = await certs.createClusterCa(cluster);
    const oldClient = await certs.getClientCredentials(old);
    const fresh = await certs.rotate(cluster);
    assert.equal(store.rows.size, 8, 'old refs are kept until the caller deletes them');
    for (const k of Object.keys(old) as (keyof ClusterCertRefs)[]) assert.notEqual(fresh[k], old[k]);
    const newCa = await certs.getCa(fresh);
    assert.equal(verifyChain(oldClient.certificate, newCa).ok, false);
    assert.ok(!osslVerify(newCa, oldClient.certificate));
    assert.ok(osslVerify(newCa, (await certs.getClientCredentials(fresh)).certificate));
    await certs.deleteAll(old);
    assert.deepEqual([...store.rows.keys()].sort(), Object.values(fresh).sort());
    await certs.deleteAll([fresh.ca_cert_ref, null, undefined, fresh.ca_cert_ref]);
    assert.equal(store.rows.size, 3);
  });

  it('leaves nothing stored when creation fails half way', async () => {
    const store = new FakeStore();
    store.failOnCreate = 3;
    const { certs } = make(store);
    await assert.rejects(certs.createClusterCa(cluster), /database is gone/);
    assert.equal(store.rows.size, 0);
  });

  it('refuses unknown key usage names in [x509] allowed_key_usage at construction', () => {
    const mgr = new CertManager(new FakeStore(), { masterKey: randomBytes(32) });
    assert.throws(() => new ClusterCertificates(mgr, { ...settings, allowedKeyUsage: ['Digital Signature', 'Teleport'] }), /unknown key usage 'Teleport'/);
    const fromConf = ClusterCertificates.fromConfig(
      loadConfig({ env: {}, overrides: { certificates: { encryption_key_file: join(dir, 'conf.key') } } }),
      new FakeStore(),
    );
    assert.equal(fromConf.settings.keySize, 2048);
    assert.equal(fromConf.settings.validityDays, 1825);
  });
});

describe('encryption at rest in a real database (SQLite)', () => {
  it('the x509keypair row and the database files hold no private key text', async () => {
    const dbDir = join(dir, 'sqlite');
    mkdirSync(dbDir);
    const storage = SqlStorage.open(`sqlite:///${dbDir}/db`);
    try {
      await storage.migrate();
      const certs = new ClusterCertificates(CertManager.fromConfig(
        loadConfig({ env: {}, overrides: { certificates: { encryption_key_file: join(dbDir, 'master.key') } } }), storage), settings);
      const refs = await certs.createClusterCa(cluster);
      const client = await certs.getClientCredentials(refs);
      const caPair = await certs.manager.getKeyPair(refs.ca_cert_ref);
      for (const ref of Object.values(refs)) {
        const row = (await storage.getX509KeyPair(ref))!;
        assert.match(row.private_key!, /^v1:/);
        assert.equal(row.private_key_passphrase, null);
        assertNoKeyText(row.private_key!, ref === refs.magnum_cert_ref ? client.privateKey : '');
      }
      assertNoKeyText((await storage.getX509KeyPair(refs.ca_cert_ref))!.private_key!, caPair.privateKey);
      // The raw database files (main file and any journal) contain no key either.
      const files = readdirSync(dbDir).filter((f) => f.startsWith('db'));
      assert.ok(files.length >= 1);
      for (const f of files) {
        const bytes = readFileSync(join(dbDir, f)).toString('latin1');
        assertNoKeyText(bytes, client.privateKey);
        assertNoKeyText(bytes, caPair.privateKey);
        assert.ok(!bytes.includes('PRIVATE KEY'));
      }
      assert.ok(existsSync(join(dbDir, 'master.key')));
      // Decrypts back through a second manager that reads the same key file.
      const again = CertManager.fromConfig(loadConfig({ env: {}, overrides: { certificates: { encryption_key_file: join(dbDir, 'master.key') } } }), storage);
      assert.equal((await again.getKeyPair(refs.magnum_cert_ref)).privateKey, client.privateKey);
      await certs.deleteAll(refs);
      assert.equal(await storage.getX509KeyPair(refs.ca_cert_ref), null);
    } finally {
      await storage.close();
    }
  });
});
