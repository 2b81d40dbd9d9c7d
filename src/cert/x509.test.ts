// The X.509 functions against the real `openssl` CLI and real TLS connections.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { isMagnumError, MagnumError } from '../common/errors.ts';
import { loadConfig } from '../conf/index.ts';
import {
  certificateFingerprint,
  generateCa,
  issueCertificate,
  KEY_POOL_SIZE,
  prepareKeys,
  busyKeyThreads,
  generateRsaPem,
  keyThreadLimit,
  setKeyThreads,
  readyKeys,
  signCsr,
  verifyChain,
  type KeyPairPem,
  type SignPolicy,
} from './x509.ts';

const conf = loadConfig({ env: {} });
/** The [x509] defaults of magnum.conf. */
const POLICY: SignPolicy = {
  allowedExtensions: conf.x509.allowed_extensions,
  allowedKeyUsage: conf.x509.allowed_key_usage,
  allowCa: conf.x509.allow_ca,
  validityDays: conf.x509.term_of_validity,
};
const KEY = { keySize: 2048, validityDays: 1825 };

const dir = mkdtempSync(join(tmpdir(), 'magnum-x509-'));
let n = 0;
const file = (name: string, text?: string) => {
  const p = join(dir, name);
  if (text !== undefined) writeFileSync(p, text);
  return p;
};

function openssl(args: string[], input?: string): string {
  return execFileSync('openssl', args, { cwd: dir, input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

/** `openssl verify`: [ok, output]. */
function osslVerify(caPem: string, certPem: string, extra: string[] = []): [boolean, string] {
  const ca = file(`ca-${++n}.pem`, caPem);
  const crt = file(`crt-${n}.pem`, certPem);
  const r = spawnSync('openssl', ['verify', ...extra, '-CAfile', ca, crt], { encoding: 'utf8' });
  return [r.status === 0, `${r.stdout}${r.stderr}`];
}

const text = (certPem: string) => openssl(['x509', '-noout', '-text'], certPem);

/** A key (traditional RSA PEM, as python-magnumclient writes it) and CSR made by openssl. */
function makeCsr(subj: string, opts: { config?: string; newkey?: string[] } = {}): { key: string; csr: string } {
  const i = ++n;
  const keyPath = file(`key-${i}.pem`);
  if (opts.newkey) openssl(['genpkey', ...opts.newkey, '-out', keyPath]);
  else openssl(['genrsa', '-traditional', '-out', keyPath, '2048']);
  const args = ['req', '-new', '-key', keyPath, '-subj', subj, '-utf8', '-sha256'];
  if (opts.config) args.push('-config', file(`req-${i}.cnf`, opts.config), '-reqexts', 'ext');
  const csr = openssl(args);
  return { key: readFileSync(keyPath, 'utf8'), csr };
}

/** An openssl config whose `[ext]` section holds the given CSR extension lines. */
const withExtensions = (...lines: string[]) =>
  `[req]\ndistinguished_name = dn\nutf8 = yes\n[dn]\n[ext]\n${lines.join('\n')}\n`;

async function rejects(p: Promise<unknown>, code: string, message?: string | RegExp): Promise<MagnumError> {
  try {
    await p;
  } catch (e) {
    assert.ok(isMagnumError(e), `expected a MagnumError ${code}, got ${(e as Error)?.stack ?? String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.equal(e.status, 400);
    if (typeof message === 'string') assert.equal(e.message, message);
    else if (message) assert.match(e.message, message);
    return e;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

let ca: KeyPairPem;
before(async () => {
  ca = await generateCa('k8s-cluster', KEY);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('generateCa', () => {
  it('makes a self-signed CA with the §6.1 profile', async () => {
    const t = text(ca.certificate);
    assert.match(t, /Signature Algorithm: sha256WithRSAEncryption/);
    assert.match(t, /Issuer: CN = k8s-cluster\n/);
    assert.match(t, /Subject: CN = k8s-cluster\n/);
    assert.match(t, /Public-Key: \(2048 bit\)/);
    assert.match(t, /X509v3 Basic Constraints: critical\n\s+CA:TRUE, pathlen:0/);
    assert.match(t, /X509v3 Key Usage: critical\n\s+Certificate Sign, CRL Sign\n/);
    assert.ok(osslVerify(ca.certificate, ca.certificate)[0], 'self-signed CA verifies against itself');
    assert.match(ca.privateKey, /^-----BEGIN PRIVATE KEY-----\n/); // PKCS#8
    assert.ok(!ca.certificate.endsWith('\n'));

    const dates = openssl(['x509', '-noout', '-startdate', '-enddate', '-serial'], ca.certificate);
    const notBefore = Date.parse(/notBefore=(.*)/.exec(dates)![1]);
    const notAfter = Date.parse(/notAfter=(.*)/.exec(dates)![1]);
    const day = 86_400_000;
    assert.ok(Math.abs(notBefore - (Date.now() - day)) < 60_000, 'notBefore = now - 1 day');
    assert.ok(Math.abs(notAfter - (Date.now() + 1825 * day)) < 60_000, 'notAfter = now + term_of_validity');
    const serial = /serial=(.*)/.exec(dates)![1];
    assert.match(serial, /^[0-9A-F]{30,32}$/, 'a positive 128-bit (UUID) serial');

    const other = await generateCa('k8s-cluster', { keySize: 2048, validityDays: 10 });
    assert.notEqual(openssl(['x509', '-noout', '-serial'], other.certificate), `serial=${serial}\n`);
    assert.notEqual(certificateFingerprint(other.certificate), certificateFingerprint(ca.certificate));
  });
});

describe('keys made ahead of time', () => {
  it('hands each key out once, keeps at most KEY_POOL_SIZE ready, and still makes keys when it is empty', async () => {
    const size = 1024; // a size no other test uses, so the pool starts empty
    const ca = await generateCa('pool-ca', { keySize: size, validityDays: 1 }); // made now (no pool yet), starts one
    prepareKeys(size);
    const until = Date.now() + 120_000;
    while (readyKeys(size) < KEY_POOL_SIZE && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    assert.equal(readyKeys(size), KEY_POOL_SIZE);
    // More than the pool holds, all at once: the pool's first, then keys made on demand.
    const certs = await Promise.all(Array.from({ length: KEY_POOL_SIZE + 3 }, (_, i) =>
      issueCertificate(ca, { commonName: `n${i}`, usage: 'server' }, { keySize: size, validityDays: 1 })));
    const keys = new Set([ca.privateKey, ...certs.map((c) => c.privateKey)]);
    assert.equal(keys.size, KEY_POOL_SIZE + 4, 'every key is a different key');
    for (const c of certs) assert.equal(verifyChain(c.certificate, ca.certificate).ok, true);
    assert.ok(readyKeys(size) <= KEY_POOL_SIZE);
  });
});

describe('key threads', () => {
  it('makes at most keyThreadLimit() keys at once (one fewer than the cores by default), the rest in turn, and so uses no more cores than that', async () => {
    const KEY_THREADS = keyThreadLimit();
    assert.equal(KEY_THREADS, Math.max(1, availableParallelism() - 1));
    const size = 2048 + 64; // a size no other test uses: no pool of it exists yet
    const jobs = 3 * KEY_THREADS + 3;
    let peak = 0;
    const watch = setInterval(() => (peak = Math.max(peak, busyKeyThreads())), 2);
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    const made = await Promise.all([
      ...Array.from({ length: jobs - 1 }, () => generateCa('threads-ca', { keySize: size, validityDays: 1 }).then((c) => c.privateKey)),
      generateRsaPem(size).then((k) => k.privateKey),
    ]);
    const wall = performance.now() - t0;
    clearInterval(watch);
    const used = process.cpuUsage(cpu);
    assert.equal(new Set(made).size, jobs, 'every key is a different key');
    assert.ok(peak >= 1 && peak <= KEY_THREADS, `at most ${KEY_THREADS} at once (seen ${peak})`);
    // Other load on the host can only lower this ratio; 4 unbounded pool threads raise it to the core count.
    const cores = (used.user + used.system) / 1000 / wall;
    assert.ok(cores < KEY_THREADS + 0.6, `${cores.toFixed(2)} cores busy on average while making ${jobs} keys`);
  });

  it('[x509] key_generation_threads sets the bound; 0 is the default', async () => {
    const dflt = keyThreadLimit();
    try {
      setKeyThreads(2);
      assert.equal(keyThreadLimit(), 2);
      let peak = 0;
      const watch = setInterval(() => (peak = Math.max(peak, busyKeyThreads())), 1);
      await Promise.all(Array.from({ length: 6 }, () => generateRsaPem(1024 + 128)));
      clearInterval(watch);
      assert.equal(peak, 2, 'two at once');
      setKeyThreads(0);
      assert.equal(keyThreadLimit(), dflt);
    } finally {
      setKeyThreads(0);
    }
  });
});

describe('signCsr', () => {
  it('signs the CSR `openstack coe cluster config` sends (CN=admin, O=system:masters)', async () => {
    const { csr } = makeCsr('/CN=admin/O=system:masters');
    const pem = await signCsr(ca, csr, POLICY);
    assert.match(pem, /^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----$/);
    assert.ok(!pem.endsWith('\n'), 'no trailing newline');
    const [ok, out] = osslVerify(ca.certificate, pem, ['-purpose', 'sslclient']);
    assert.ok(ok, out);
    const t = text(pem);
    assert.match(t, /Subject: CN = admin, O = system:masters\n/);
    assert.match(t, /Issuer: CN = k8s-cluster\n/);
    assert.match(t, /X509v3 Extended Key Usage: \n\s+TLS Web Client Authentication\n/);
    assert.match(t, /X509v3 Basic Constraints: critical\n\s+CA:FALSE/);
    assert.match(t, /X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment\n/);
    assert.match(t, /Signature Algorithm: sha256WithRSAEncryption/);
    // The public key is the CSR's.
    assert.equal(openssl(['x509', '-noout', '-pubkey'], pem), openssl(['req', '-noout', '-pubkey'], csr));
    assert.deepEqual(verifyChain(pem, ca.certificate), { ok: true });
    // Text and other PEM blocks around the request are ignored, as OpenSSL does.
    const wrapped = await signCsr(ca, `my request:\n${ca.certificate}\n${csr}\nthanks\n`, POLICY);
    assert.equal(openssl(['x509', '-noout', '-subject'], wrapped), 'subject=CN = admin, O = system:masters\n');
  });

  it('copies every RDN of the subject, string types included', async () => {
    const subj = '/C=DE/ST=Berlin/L=Kreuzberg/O=Org A/O=Org B/OU=ü-unit/CN=node-1+serialNumber=42/emailAddress=ops@example.org';
    const { csr } = makeCsr(subj);
    const pem = await signCsr(ca, csr, POLICY);
    const show = ['-noout', '-subject', '-nameopt', 'multiline,show_type,utf8'];
    const fromCsr = openssl(['req', ...show], csr);
    assert.match(fromCsr, /UTF8STRING:\\C3\\BC-unit/); // ü
    assert.equal(openssl(['x509', ...show], pem), fromCsr);
  });

  it('keeps allowed extensions: subjectAltName, extendedKeyUsage (as requested, no default added)', async () => {
    const { csr } = makeCsr('/CN=kubelet', {
      config: withExtensions('subjectAltName = DNS:node-1, IP:10.0.0.4', 'extendedKeyUsage = serverAuth'),
    });
    const t = text(await signCsr(ca, csr, POLICY));
    assert.match(t, /X509v3 Subject Alternative Name: \n\s+DNS:node-1, IP Address:10.0.0.4\n/);
    assert.match(t, /X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication\n/);
    assert.doesNotMatch(t, /Client Authentication/);
  });

  it('refuses a critical extension that is not allowed (unknown OID or known name)', async () => {
    const unknown = makeCsr('/CN=x', { config: withExtensions('1.2.3.4.5.6.7 = critical,ASN1:UTF8String:hello') });
    await rejects(signCsr(ca, unknown.csr, POLICY), 'CertificateValidationError', "Extension '1.2.3.4.5.6.7' not allowed");
    const known = makeCsr('/CN=x', { config: withExtensions('issuerAltName = critical,DNS:evil.example') });
    await rejects(signCsr(ca, known.csr, POLICY), 'CertificateValidationError', "Extension 'issuerAltName' not allowed");
  });

  it('drops a non-critical extension that is not allowed', async () => {
    const { csr } = makeCsr('/CN=x', {
      config: withExtensions('1.2.3.4.5.6.7 = ASN1:UTF8String:hello', 'nsComment = "hi"', 'subjectAltName = DNS:ok'),
    });
    const t = text(await signCsr(ca, csr, POLICY));
    assert.doesNotMatch(t, /1\.2\.3\.4\.5\.6\.7|hello|Netscape Comment/);
    assert.match(t, /DNS:ok/);
  });

  it('intersects a non-critical keyUsage with [x509] allowed_key_usage', async () => {
    const { csr } = makeCsr('/CN=x', {
      config: withExtensions('keyUsage = digitalSignature, nonRepudiation, dataEncipherment, keyAgreement, keyCertSign'),
    });
    const t = text(await signCsr(ca, csr, POLICY));
    assert.match(t, /X509v3 Key Usage: \n\s+Digital Signature, Non Repudiation\n/);
    // Only disallowed usages requested: the extension is dropped, and no default replaces it.
    const only = makeCsr('/CN=x', { config: withExtensions('keyUsage = dataEncipherment') });
    assert.doesNotMatch(text(await signCsr(ca, only.csr, POLICY)), /X509v3 Key Usage/);
  });

  it('refuses a critical keyUsage asking for a usage that is not allowed', async () => {
    const { csr } = makeCsr('/CN=x', { config: withExtensions('keyUsage = critical, digitalSignature, dataEncipherment') });
    await rejects(signCsr(ca, csr, POLICY), 'CertificateValidationError', "Extension 'keyUsage' not allowed");
    const ok = makeCsr('/CN=x', { config: withExtensions('keyUsage = critical, digitalSignature, keyEncipherment') });
    assert.match(text(await signCsr(ca, ok.csr, POLICY)), /X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment\n/);
  });

  it('refuses CA certificates unless [x509] allow_ca', async () => {
    const critical = makeCsr('/CN=sub-ca', { config: withExtensions('basicConstraints = critical, CA:TRUE', 'keyUsage = keyCertSign, cRLSign, digitalSignature') });
    await rejects(signCsr(ca, critical.csr, POLICY), 'CertificateValidationError', "Extension 'basicConstraints' not allowed");
    // Non-critical CA:TRUE is turned into CA:FALSE, and the CA key usages are removed.
    const soft = makeCsr('/CN=sub-ca', { config: withExtensions('basicConstraints = CA:TRUE', 'keyUsage = keyCertSign, cRLSign, digitalSignature') });
    const forced = await signCsr(ca, soft.csr, { ...POLICY, allowedKeyUsage: [...POLICY.allowedKeyUsage, 'Certificate Sign', 'CRL Sign'] });
    const t = text(forced);
    assert.match(t, /X509v3 Basic Constraints: \n\s+CA:FALSE/);
    assert.match(t, /X509v3 Key Usage: \n\s+Digital Signature\n/);
    // With allow_ca (and the CA usages allowed) the request is honoured.
    const allowCa = { ...POLICY, allowCa: true, allowedKeyUsage: [...POLICY.allowedKeyUsage, 'Certificate Sign', 'CRL Sign'] };
    const sub = await signCsr(ca, critical.csr, allowCa);
    const ts = text(sub);
    assert.match(ts, /X509v3 Basic Constraints: critical\n\s+CA:TRUE/);
    assert.match(ts, /Certificate Sign, CRL Sign/);
    assert.ok(osslVerify(ca.certificate, sub)[0]);
  });

  it('signs ECDSA, Ed25519 and RSA-PSS requests', async () => {
    const csrs = [
      makeCsr('/CN=ec', { newkey: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'] }).csr,
      makeCsr('/CN=ed', { newkey: ['-algorithm', 'ED25519'] }).csr,
    ];
    const pssKey = file(`pss-${++n}.pem`);
    openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', pssKey]);
    csrs.push(openssl(['req', '-new', '-key', pssKey, '-subj', '/CN=pss', '-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32']));
    for (const csr of csrs) {
      const pem = await signCsr(ca, csr, POLICY);
      const [ok, out] = osslVerify(ca.certificate, pem);
      assert.ok(ok, out);
      assert.equal(openssl(['x509', '-noout', '-pubkey'], pem), openssl(['req', '-noout', '-pubkey'], csr));
    }
    // An EC key gets digitalSignature only by default (keyEncipherment is an RSA usage).
    assert.match(text(await signCsr(ca, csrs[0], POLICY)), /X509v3 Key Usage: critical\n\s+Digital Signature\n/);
  });

  it('answers InvalidCsr for every malformed input, and never anything but a MagnumError', async () => {
    const { csr } = makeCsr('/CN=admin/O=system:masters');
    const der = Buffer.from(csr.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
    const armor = (b: Uint8Array, label = 'CERTIFICATE REQUEST') =>
      `-----BEGIN ${label}-----\n${Buffer.from(b).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END ${label}-----\n`;
    const flip = (i: number) => {
      const b = Buffer.from(der);
      b[i] ^= 0x01;
      return armor(b);
    };
    const bad: [string, unknown][] = [
      ['empty string', ''],
      ['whitespace', ' \n\t'],
      ['plain text', 'garbage'],
      ['empty armor', '-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n'],
      ['truncated PEM (no END line)', csr.slice(0, Math.floor(csr.length / 2))],
      ['truncated DER inside armor', armor(der.subarray(0, der.length - 40))],
      ['a certificate instead of a CSR', ca.certificate],
      ['a certificate relabelled as a CSR', ca.certificate.replace(/CERTIFICATE/g, 'CERTIFICATE REQUEST')],
      ['a private key', ca.privateKey],
      ['mismatched BEGIN/END labels', csr.replace('END CERTIFICATE REQUEST', 'END CERTIFICATE')],
      ['base64 garbage in armor', '-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgY3Ny\n-----END CERTIFICATE REQUEST-----'],
      ['invalid base64 characters', csr.replace(/\n([A-Za-z0-9+/]{10})/, '\n$1!*')],
      ['signature byte flipped (unverifiable)', flip(der.length - 5)],
      ['subject byte flipped (unverifiable)', flip(csr.indexOf('admin') >= 0 ? der.indexOf(Buffer.from('admin')) : 30)],
      ['trailing bytes after the DER', armor(Buffer.concat([der, Buffer.from([0, 0])]))],
      ['outer length too long', armor(Buffer.concat([Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), der.subarray(4)]))],
      ['raw DER as a string', der.toString('latin1')],
      ['base64 without armor', der.toString('base64')],
      ['random DER-like bytes', armor(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00]))],
      ['null', null],
      ['undefined', undefined],
      ['a number', 42],
      ['an object', { csr }],
      ['an array', [csr]],
      ['megabyte of junk', 'A'.repeat(1 << 20)],
    ];
    assert.ok(bad.length >= 10);
    for (const [what, input] of bad) {
      const e = await rejects(signCsr(ca, input, POLICY), 'InvalidCsr').catch((err: unknown) => {
        throw new Error(`${what}: ${(err as Error).message}`);
      });
      if (typeof input === 'string' && input.length < 1000) assert.equal(e.message, `Received invalid csr ${input}.`, what);
    }
  });

  it('survives random corruption of a CSR (fuzz): only InvalidCsr/CertificateValidationError or a valid certificate', async () => {
    const { csr } = makeCsr('/CN=fuzz/O=o', { config: withExtensions('subjectAltName = DNS:a, IP:1.2.3.4', 'keyUsage = digitalSignature') });
    const der = Buffer.from(csr.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
    let seed = 12345;
    const rnd = (m: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % m);
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const b = Buffer.from(der);
      const kind = rnd(3);
      if (kind === 0) b[rnd(b.length)] = rnd(256);
      else if (kind === 1) b[rnd(Math.min(b.length, 200))] ^= 1 << rnd(8);
      const mutated = kind === 2 ? b.subarray(0, rnd(b.length)) : b;
      const pem = `-----BEGIN CERTIFICATE REQUEST-----\n${mutated.toString('base64')}\n-----END CERTIFICATE REQUEST-----`;
      try {
        const out = await signCsr(ca, pem, POLICY);
        assert.ok(verifyChain(out, ca.certificate).ok);
        outcomes.set('signed', (outcomes.get('signed') ?? 0) + 1);
      } catch (e) {
        assert.ok(isMagnumError(e), `mutation ${i}: non-Magnum error ${(e as Error)?.stack ?? e}`);
        assert.ok(['InvalidCsr', 'CertificateValidationError'].includes(e.code), e.code);
        outcomes.set(e.code, (outcomes.get(e.code) ?? 0) + 1);
      }
    }
    assert.ok((outcomes.get('InvalidCsr') ?? 0) > 300, JSON.stringify([...outcomes]));
  });
});

describe('issueCertificate', () => {
  it('issues a Docker engine server certificate with the node SANs and serverAuth+clientAuth', async () => {
    const kp = await issueCertificate(
      ca,
      { commonName: 'node-0', dnsNames: ['node-0', 'node-0.cluster.local'], ipAddresses: ['10.0.0.7', '127.0.0.1', 'fd00::7'], usage: 'server+client' },
      KEY,
    );
    const [ok, out] = osslVerify(ca.certificate, kp.certificate, ['-purpose', 'sslserver']);
    assert.ok(ok, out);
    assert.ok(osslVerify(ca.certificate, kp.certificate, ['-purpose', 'sslclient'])[0]);
    const t = text(kp.certificate);
    assert.match(t, /Subject: CN = node-0\n/);
    assert.match(t, /DNS:node-0, DNS:node-0.cluster.local, IP Address:10.0.0.7, IP Address:127.0.0.1, IP Address:FD00:0:0:0:0:0:0:7/);
    assert.match(t, /TLS Web Server Authentication, TLS Web Client Authentication/);
    assert.match(t, /X509v3 Basic Constraints: critical\n\s+CA:FALSE/);
    // The key belongs to the certificate.
    assert.equal(openssl(['pkey', '-pubout'], kp.privateKey), openssl(['x509', '-noout', '-pubkey'], kp.certificate));
    await assert.rejects(issueCertificate(ca, { commonName: 'x', ipAddresses: ['not-an-ip'], usage: 'server' }, KEY));
  });

  it('issues the conductor client certificate profile (CN=admin, O=system:masters, clientAuth)', async () => {
    const kp = await issueCertificate(ca, { commonName: 'admin', organization: 'system:masters', usage: 'client' }, KEY);
    const t = text(kp.certificate);
    assert.match(t, /Subject: CN = admin, O = system:masters\n/);
    assert.match(t, /X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment\n/);
    assert.match(t, /X509v3 Extended Key Usage: \n\s+TLS Web Client Authentication\n/);
    assert.ok(osslVerify(ca.certificate, kp.certificate, ['-purpose', 'sslclient'])[0]);
    assert.ok(!osslVerify(ca.certificate, kp.certificate, ['-purpose', 'sslserver'])[0]);
  });
});

describe('helpers', () => {
  it('certificateFingerprint matches openssl', () => {
    const o = openssl(['x509', '-noout', '-fingerprint', '-sha256'], ca.certificate);
    assert.equal(`sha256 Fingerprint=${certificateFingerprint(ca.certificate)}\n`, o);
    const o1 = openssl(['x509', '-noout', '-fingerprint', '-sha1'], ca.certificate);
    assert.equal(`sha1 Fingerprint=${certificateFingerprint(ca.certificate, 'sha1')}\n`, o1);
  });

  it('verifyChain tells issued-by-this-CA from everything else', async () => {
    const other = await generateCa('k8s-cluster', KEY); // same name, different key (a rotated CA)
    const { csr } = makeCsr('/CN=admin/O=system:masters');
    const pem = await signCsr(ca, csr, POLICY);
    assert.deepEqual(verifyChain(pem, ca.certificate), { ok: true });
    assert.equal(verifyChain(pem, other.certificate).ok, false);
    assert.equal(verifyChain(pem, pem).ok, false, 'a leaf is no CA');
    assert.equal(verifyChain('junk', ca.certificate).ok, false);
    assert.equal(verifyChain(pem, ca.certificate, new Date(Date.now() + 1826 * 86_400_000)).reason, 'certificate expired');
  });
});

// ---- TLS end to end ----------------------------------------------------------------------------

interface Party {
  key: string;
  cert: string;
  ca: string;
}

/** A TLS server that requires a client certificate; one connection; did the client get the greeting? */
async function tlsAttempt(server: Party, client: Party): Promise<{ ok: boolean; detail: string }> {
  const srv = tls.createServer(
    { key: server.key, cert: server.cert, ca: [server.ca], requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' },
    (sock) => {
      const peer = sock.getPeerCertificate();
      sock.end(`hello ${peer.subject.CN}/${peer.subject.O}`);
    },
  );
  srv.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  try {
    return await new Promise((resolveAttempt) => {
      let data = '';
      let error = '';
      const sock = tls.connect({ host: '127.0.0.1', port, key: client.key, cert: client.cert, ca: [client.ca] });
      const timer = setTimeout(() => sock.destroy(new Error('timeout')), 5000);
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => (data += d));
      sock.on('error', (e) => (error ||= e.message));
      sock.on('close', () => {
        clearTimeout(timer);
        resolveAttempt({ ok: data.startsWith('hello '), detail: data || error });
      });
    });
  } finally {
    await new Promise((r) => srv.close(r));
  }
}

describe('TLS end to end (node:tls, client certificates required)', () => {
  it('accepts a client certificate signed from a CSR, refuses another CA, and refuses the old one after rotation', async () => {
    const server = await issueCertificate(ca, { commonName: 'node-0', dnsNames: ['node-0'], ipAddresses: ['127.0.0.1'], usage: 'server+client' }, KEY);
    const { key, csr } = makeCsr('/CN=admin/O=system:masters');
    assert.match(key, /^-----BEGIN RSA PRIVATE KEY-----/); // the client's traditional key, as docker reads it
    const clientCert = await signCsr(ca, csr, POLICY);
    const srv: Party = { key: server.privateKey, cert: server.certificate, ca: ca.certificate };

    const good = await tlsAttempt(srv, { key, cert: clientCert, ca: ca.certificate });
    assert.deepEqual(good, { ok: true, detail: 'hello admin/system:masters' });

    // A client certificate from another CA (even one with the same name) is refused.
    const otherCa = await generateCa('k8s-cluster', KEY);
    const foreign = await signCsr(otherCa, csr, POLICY);
    const refused = await tlsAttempt(srv, { key, cert: foreign, ca: ca.certificate });
    assert.equal(refused.ok, false, refused.detail);

    // Without a client certificate: refused.
    const anonymous = await tlsAttempt(srv, { key: '', cert: '', ca: ca.certificate } as Party).catch((e: Error) => ({ ok: false, detail: e.message }));
    assert.equal(anonymous.ok, false);

    // Rotation: a new CA for the same cluster; the node gets a new server certificate and trusts only it.
    const rotated = await generateCa('k8s-cluster', KEY);
    const server2 = await issueCertificate(rotated, { commonName: 'node-0', ipAddresses: ['127.0.0.1'], usage: 'server+client' }, KEY);
    const srv2: Party = { key: server2.privateKey, cert: server2.certificate, ca: rotated.certificate };
    const old = await tlsAttempt(srv2, { key, cert: clientCert, ca: rotated.certificate });
    assert.equal(old.ok, false, `the pre-rotation client certificate must be refused: ${old.detail}`);
    const renewed = await signCsr(rotated, csr, POLICY);
    assert.equal((await tlsAttempt(srv2, { key, cert: renewed, ca: rotated.certificate })).ok, true);
    // The client also refuses a server still presenting the old CA's certificate.
    assert.equal((await tlsAttempt(srv, { key, cert: renewed, ca: rotated.certificate })).ok, false);
  });
});

describe('timings (RSA 2048)', () => {
  it('measures key generation and CSR signing', async (t) => {
    const runs = 8;
    const keygen: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await generateCa(`t${i}`, KEY);
      keygen.push(performance.now() - t0);
    }
    const { csr } = makeCsr('/CN=admin/O=system:masters');
    const sign: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      await signCsr(ca, csr, POLICY);
      sign.push(performance.now() - t0);
    }
    const t0 = performance.now();
    await Promise.all([0, 1, 2, 3].map((i) => generateCa(`p${i}`, KEY)));
    const parallel4 = performance.now() - t0;
    const stats = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      return `median ${s[Math.floor(s.length / 2)].toFixed(1)} ms, min ${s[0].toFixed(1)}, max ${s[s.length - 1].toFixed(1)}`;
    };
    t.diagnostic(`generateCa (RSA-2048 keygen + self-sign) x${runs}: ${stats(keygen)}`);
    t.diagnostic(`signCsr x20: ${stats(sign)}`);
    t.diagnostic(`4 CAs in parallel: ${parallel4.toFixed(1)} ms`);
    assert.ok(Math.max(...sign) < 2000);
  });
});
