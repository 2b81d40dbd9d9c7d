// Every cluster gets its certificate authorities at create, made by the conductor whatever the
// driver (the fake driver has no certificate step of its own) or tls_disabled says, as Magnum's
// conductor does; so GET /v1/certificates/{cluster} and POST /v1/certificates answer for every
// cluster (Terraform's cluster resource reads the CA and signs a client certificate on every
// read). The key pairs are in the cluster's ledger: a create cut short leaves none that the
// delete would not find, the delete removes them all, and the conductor's cached client key
// files of the cluster go too.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPublicKey, randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ClusterCertificates, CertManager, x509Settings } from '../../src/cert/cert-manager.ts';
import { ClientCredentialFiles } from '../../src/conductor/credential-files.ts';
import { pkiFactory } from '../../src/conductor/pki.ts';
import type { Cluster } from '../../src/objects/models.ts';
import { as, startStack, waitFor, type TestStack } from '../helpers/stack.ts';

const dir = mkdtempSync(join(tmpdir(), 'magnum-certs-every-'));
const h = as('p1');
/** Where the conductor caches a cluster's client key and certificate (src/conductor/credential-files.ts). */
const cacheDirOf = (conf: TestStack['conf'], uuid: string) => join(ClientCredentialFiles.cacheDirFor(conf.database.connection), uuid);

function openssl(args: string[], input?: string): string {
  return execFileSync('openssl', args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

/** A CSR and its key, made by openssl as a user would. */
function makeCsr(cn: string): string {
  const key = join(dir, `${cn}.key`);
  return openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}/O=users`, '-keyout', key]);
}

describe('certificates of every cluster', () => {
  let s: TestStack;

  before(async () => {
    s = await startStack('sqlite', { certificates: { encryption_key_file: join(dir, 'cert.key') }, x509: { rsa_key_size: '2048' } });
  });
  after(async () => {
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = async (url: string) => s.app.inject({ method: 'GET', url, headers: h });
  const clusterStatus = async (uuid: string) => (await get(`/v1/clusters/${uuid}`)).json().status as string;

  async function createCluster(template: string, name: string, labels: Record<string, string> = {}): Promise<string> {
    const r = await s.app.inject({ method: 'POST', url: '/v1/clusters', headers: h, payload: { name, cluster_template_id: template, node_count: 1, labels } });
    assert.equal(r.statusCode, 202, r.body);
    return r.json().uuid as string;
  }

  async function deleteCluster(uuid: string): Promise<void> {
    const r = await s.app.inject({ method: 'DELETE', url: `/v1/clusters/${uuid}`, headers: h });
    assert.equal(r.statusCode, 204, r.body);
    await waitFor(`cluster ${uuid} deleted`, async () => ((await get(`/v1/clusters/${uuid}`)).statusCode === 404 ? true : undefined));
  }

  async function keyPairRows(refs: string[]): Promise<number> {
    if (!refs.length) return 0;
    const r = await s.storage.conn.db.selectFrom('x509keypair').select((eb) => eb.fn.countAll().as('n')).where('uuid', 'in', refs).executeTakeFirstOrThrow();
    return Number(r.n);
  }

  const refsOf = (c: Cluster) => [c.ca_cert_ref, c.magnum_cert_ref, c.etcd_ca_cert_ref, c.front_proxy_ca_cert_ref].filter((x): x is string => !!x);

  for (const tlsDisabled of [true, false]) {
    test(`fake driver, tls_disabled=${tlsDisabled}: CA at create, GET and POST answer, delete removes every key pair, ledger entry and cached key file`, async () => {
      const tname = `t-${tlsDisabled}`;
      let r = await s.app.inject({ method: 'POST', url: '/v1/clustertemplates', headers: h, payload: { name: tname, coe: 'swarm-mode', image_id: 'fake-image', tls_disabled: tlsDisabled } });
      assert.equal(r.statusCode, 201, r.body);
      const uuid = await createCluster(tname, `c-${tlsDisabled}`);
      await waitFor('CREATE_COMPLETE', async () => ((await clusterStatus(uuid)) === 'CREATE_COMPLETE' ? true : undefined));

      // The conductor's step ran first, before the driver's.
      const events = (await get(`/v1/clusters/${uuid}/events?limit=100`)).json().events as { step: string; outcome: string }[];
      assert.deepEqual(events.filter((e) => e.outcome === 'started').map((e) => e.step).slice(0, 2), ['create certificates', 'create network']);

      const cluster = (await s.storage.getClusterByUuid(uuid))!;
      const refs = refsOf(cluster);
      assert.equal(refs.length, 4, 'cluster, etcd and front-proxy CAs and the conductor\'s client certificate');
      const ledger = (await s.storage.listResources(uuid)).filter((x) => x.kind === 'certificate');
      assert.deepEqual(ledger.map((x) => x.name).sort(), [...refs].sort(), 'every key pair is in the ledger');
      assert.ok(ledger.every((x) => x.state === 'present'));

      // GET: the cluster CA (and the typed ones), a CA certificate.
      r = await get(`/v1/certificates/${uuid}`);
      assert.equal(r.statusCode, 200, r.body);
      const ca = r.json().pem as string;
      assert.match(ca, /^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----$/);
      const text = openssl(['x509', '-noout', '-text'], ca);
      assert.match(text, /CA:TRUE/);
      assert.match(text, /Public-Key: \(2048 bit\)/);
      const etcd = (await get(`/v1/certificates/${uuid}?ca_cert_type=etcd`)).json().pem as string;
      assert.notEqual(etcd, ca, 'the etcd CA is its own');

      // POST: a CSR signed by that CA, as Terraform does for its kubeconfig.
      r = await s.app.inject({ method: 'POST', url: '/v1/certificates', headers: h, payload: { cluster_uuid: uuid, csr: makeCsr(`user-${tlsDisabled}`) } });
      assert.equal(r.statusCode, 201, r.body);
      const signed = r.json().pem as string;
      writeFileSync(join(dir, 'ca.pem'), ca);
      writeFileSync(join(dir, 'signed.pem'), signed);
      assert.match(openssl(['verify', '-CAfile', join(dir, 'ca.pem'), join(dir, 'signed.pem')]), /signed\.pem: OK/);
      assert.match(openssl(['x509', '-noout', '-subject'], signed), /CN ?= ?user-/);

      // PATCH (CA rotation) keeps Magnum's answer for a non-TLS cluster; with TLS, the fake
      // driver's rotation replaces the key pairs (and their ledger entries) with new ones.
      r = await s.app.inject({ method: 'PATCH', url: `/v1/certificates/${uuid}`, headers: h, payload: {} });
      let current = refs;
      if (tlsDisabled) {
        assert.equal(r.statusCode, 400, r.body);
        assert.match(r.json().errors[0].detail, /Rotating the CA certificate on a non-TLS cluster is not supported/);
      } else {
        assert.equal(r.statusCode, 202, r.body);
        await waitFor('UPDATE_COMPLETE', async () => ((await clusterStatus(uuid)) === 'UPDATE_COMPLETE' ? true : undefined));
        current = refsOf((await s.storage.getClusterByUuid(uuid))!);
        assert.equal(current.length, 4);
        assert.equal(current.filter((x) => refs.includes(x)).length, 0, 'all four replaced');
        assert.equal(await keyPairRows(refs), 0, 'the old key pairs are deleted');
        assert.equal(await keyPairRows(current), 4);
        assert.deepEqual((await s.storage.listResources(uuid)).filter((x) => x.kind === 'certificate').map((x) => x.name).sort(), [...current].sort());
        assert.notEqual((await get(`/v1/certificates/${uuid}`)).json().pem, ca);
      }

      // A cached client key of this cluster (as containers and services calls leave) goes with it.
      const cache = cacheDirOf(s.conf, uuid);
      mkdirSync(cache, { recursive: true, mode: 0o700 });
      writeFileSync(join(cache, 'key.pem'), 'cached key', { mode: 0o600 });

      await deleteCluster(uuid);
      assert.equal(await keyPairRows([...refs, ...current]), 0, 'no x509keypair row of the cluster is left');
      assert.deepEqual(await s.storage.listResources(uuid, { includeRemoved: true }), []);
      assert.equal(existsSync(cache), false, 'the cached key files are removed');
    });
  }

  test('a create cut short after storing key pairs: the retry and the delete leave no key row without its cluster', async () => {
    let r = await s.app.inject({ method: 'POST', url: '/v1/clustertemplates', headers: h, payload: { name: 't-crash', coe: 'swarm-mode', image_id: 'fake-image' } });
    assert.equal(r.statusCode, 201, r.body);
    // The driver fails at its first step: the certificates were made, the create ends CREATE_FAILED.
    const uuid = await createCluster('t-crash', 'c-crash', { fake_fail_step: 'create network' });
    await waitFor('CREATE_FAILED', async () => ((await clusterStatus(uuid)) === 'CREATE_FAILED' ? true : undefined));
    const made = refsOf((await s.storage.getClusterByUuid(uuid))!);
    assert.equal(made.length, 4);
    // What a conductor killed inside "create certificates" leaves: rows in the ledger, stored, not yet on the cluster.
    const certs = new ClusterCertificates(new CertManager(s.storage, { keyFile: join(dir, 'cert.key') }), x509Settings(s.conf));
    const orphanRefs = certs.planRefs();
    for (const ref of Object.values(orphanRefs)) await s.storage.intendResource(uuid, 'certificate', ref, {});
    await certs.createClusterCa({ uuid, name: 'c-crash', project_id: 'p1', user_id: 'u' }, orphanRefs);
    const orphans = Object.values(orphanRefs);
    assert.equal(await keyPairRows(orphans), 4);

    await deleteCluster(uuid);
    assert.equal(await keyPairRows([...made, ...orphans]), 0);
  });

  test('the certificate step is idempotent: run again, or after an attempt cut short, the cluster has one set of four key pairs', async () => {
    const r = await s.app.inject({ method: 'POST', url: '/v1/clustertemplates', headers: h, payload: { name: 't-idem', coe: 'swarm-mode', image_id: 'fake-image', tls_disabled: true } });
    assert.equal(r.statusCode, 201, r.body);
    const uuid = await createCluster('t-idem', 'c-idem', { fake_fail_step: 'create network' });
    await waitFor('CREATE_FAILED', async () => ((await clusterStatus(uuid)) === 'CREATE_FAILED' ? true : undefined));
    const certs = new ClusterCertificates(new CertManager(s.storage, { keyFile: join(dir, 'cert.key') }), x509Settings(s.conf));
    const pki = pkiFactory(s.storage, certs);
    const cluster = (await s.storage.getClusterByUuid(uuid))!;
    const first = refsOf(cluster);
    await pki(cluster, null as never)!.ensure();
    assert.deepEqual(refsOf((await s.storage.getClusterByUuid(uuid))!), first, 'the same refs: nothing made twice');

    // An attempt cut short: the cluster lost its refs (never saved), the stored pairs are in the ledger.
    await s.storage.updateCluster(uuid, { ca_cert_ref: null, magnum_cert_ref: null, etcd_ca_cert_ref: null, front_proxy_ca_cert_ref: null });
    const fresh = (await s.storage.getClusterByUuid(uuid))!;
    const tls = await pki(fresh, null as never)!.ensure();
    assert.match(tls.caPem, /BEGIN CERTIFICATE/);
    const now = refsOf((await s.storage.getClusterByUuid(uuid))!);
    assert.equal(now.length, 4);
    assert.equal(await keyPairRows(first), 0, 'the unreferenced pairs of the earlier attempt are discarded');
    assert.equal(await keyPairRows(now), 4);
    assert.deepEqual((await s.storage.listResources(uuid)).filter((x) => x.kind === 'certificate').map((x) => x.name).sort(), [...now].sort());
    await deleteCluster(uuid);
    assert.equal(await keyPairRows(now), 0);
  });

  test('Kubernetes certificates: issued by each of the three CAs; the service-account key is stored once, kept across a CA rotation, deleted with the cluster', async () => {
    const r = await s.app.inject({ method: 'POST', url: '/v1/clustertemplates', headers: h, payload: { name: 't-k8s-pki', coe: 'kubernetes', image_id: 'fake-image' } });
    assert.equal(r.statusCode, 201, r.body);
    const uuid = await createCluster('t-k8s-pki', 'c-k8s-pki');
    await waitFor('CREATE_COMPLETE', async () => ((await clusterStatus(uuid)) === 'CREATE_COMPLETE' ? true : undefined));
    const certs = new ClusterCertificates(new CertManager(s.storage, { keyFile: join(dir, 'cert.key') }), x509Settings(s.conf));
    const cluster = (await s.storage.getClusterByUuid(uuid))!;
    const pki = pkiFactory(s.storage, certs)(cluster, null as never)!;
    const caOf = async (ref: string | null) => new X509Certificate(await certs.manager.getCertificate(ref!));
    for (const [ca, ref] of [['cluster', cluster.ca_cert_ref], ['etcd', cluster.etcd_ca_cert_ref], ['front-proxy', cluster.front_proxy_ca_cert_ref]] as const) {
      const m = await pki.issue(ca, { commonName: 'system:node:n1', organization: 'system:nodes', usage: 'server+client', ipAddresses: ['10.0.0.5'], dnsNames: ['n1'] });
      const cert = new X509Certificate(m.certificate);
      const issuer = await caOf(ref);
      assert.ok(cert.verify(issuer.publicKey), `${ca}: signed by its CA`);
      assert.equal(m.caPem.trim(), issuer.toString().trim());
      assert.match(cert.subject, /CN=system:node:n1/);
      assert.match(cert.subject, /O=system:nodes/);
      assert.match(cert.subjectAltName ?? '', /IP Address:10\.0\.0\.5/);
      assert.equal(createPublicKey(m.privateKey).export({ format: 'pem', type: 'spki' }), cert.publicKey.export({ format: 'pem', type: 'spki' }));
    }
    const sa = await pki.serviceAccountKey();
    assert.equal(createPublicKey(sa.privateKey).export({ format: 'pem', type: 'spki' }), sa.publicKey);
    const saRows = async () => (await s.storage.listResources(uuid)).filter((x) => x.kind === 'certificate' && x.details?.role === 'service_account');
    assert.equal((await saRows()).length, 1);
    // Another operation (a fresh ClusterPki) gets the same key; a CA rotation keeps it.
    const again = pkiFactory(s.storage, certs)(cluster, null as never)!;
    assert.deepEqual(await again.serviceAccountKey(), sa);
    await again.rotate();
    const rotated = (await s.storage.getClusterByUuid(uuid))!;
    assert.notEqual(rotated.ca_cert_ref, cluster.ca_cert_ref);
    assert.deepEqual(await pkiFactory(s.storage, certs)(rotated, null as never)!.serviceAccountKey(), sa);
    const saRef = (await saRows())[0].name;
    assert.equal(await keyPairRows([saRef]), 1);
    await deleteCluster(uuid);
    assert.equal(await keyPairRows([saRef, ...refsOf(rotated)]), 0, 'the service-account key goes with the cluster');
  });

  test('cached key files of clusters that no longer exist are pruned; those of existing clusters stay', async () => {
    const cacheDir = join(dir, 'cache');
    const engines = new ClientCredentialFiles({ storage: s.storage, certs: ClusterCertificates.fromConfig(s.conf, s.storage), cacheDir });
    const r = await s.app.inject({ method: 'POST', url: '/v1/clustertemplates', headers: h, payload: { name: 't-prune', coe: 'swarm-mode', image_id: 'fake-image' } });
    assert.equal(r.statusCode, 201, r.body);
    const alive = await createCluster('t-prune', 'c-prune');
    await waitFor('CREATE_COMPLETE', async () => ((await clusterStatus(alive)) === 'CREATE_COMPLETE' ? true : undefined));
    const gone = randomUUID();
    for (const id of [alive, gone]) {
      mkdirSync(join(cacheDir, id), { recursive: true });
      writeFileSync(join(cacheDir, id, 'key.pem'), randomBytes(8).toString('hex'));
    }
    writeFileSync(join(cacheDir, 'not-a-cluster'), 'x');
    await engines.prune();
    assert.equal(existsSync(join(cacheDir, gone)), false);
    assert.ok(readFileSync(join(cacheDir, alive, 'key.pem'), 'utf8'));
    assert.ok(existsSync(join(cacheDir, 'not-a-cluster')), 'only cluster directories are touched');
    await deleteCluster(alive);
  });
});
