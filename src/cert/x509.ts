// X.509 operations of Magnum's certificate authority: cluster CAs, certificates Magnum issues itself
// (the conductor's client certificate, Docker engine server certificates) and signing of clients'
// CSRs (POST /v1/certificates) with Magnum's extension filtering. Pure functions, no storage.
//
// Client input (a CSR) only ever fails with E.InvalidCsr or E.CertificateValidationError.
// Certificate PEMs are returned without a trailing newline (as the API serves them); private keys
// are unencrypted PKCS#8 PEM.
import type * as X509Library from '@peculiar/x509';
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  KeyObject,
  randomUUID,
  sign as nodeSign,
  verify as nodeVerify,
  webcrypto,
  X509Certificate as NodeX509Certificate,
} from 'node:crypto';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import { E, isMagnumError, pyRepr } from '../common/errors.ts';
import { Slots } from '../common/slots.ts';

/**
 * @peculiar/x509 parses and checks clients' CSRs (and makes the CLI's). It is loaded on first use
 * only: the certificates this CA makes itself are written below without it, so a conductor that
 * never signs a CSR never loads it (about 3 MB of heap and its ASN.1 modules).
 */
let csrLibrary: Promise<typeof X509Library> | undefined;
export function loadCsrLibrary(): Promise<typeof X509Library> {
  csrLibrary ??= (async () => {
    await import('reflect-metadata'); // @peculiar/x509 (tsyringe) needs it loaded first
    const lib = await import('@peculiar/x509');
    lib.cryptoProvider.set(webcrypto as unknown as Crypto);
    return lib;
  })();
  return csrLibrary;
}

export interface KeyPairPem {
  /** PEM, no trailing newline. */
  certificate: string;
  /** Unencrypted PKCS#8 PEM. */
  privateKey: string;
}

export interface KeyOptions {
  /** RSA modulus length ([x509] rsa_key_size). */
  keySize: number;
  /** notAfter = now + validityDays ([x509] term_of_validity). */
  validityDays: number;
}

export type CertUsage = 'client' | 'server' | 'server+client';

export interface CertificateRequest {
  commonName: string;
  organization?: string;
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
  usage: CertUsage;
}

export interface SignPolicy {
  /** [x509] allowed_extensions: extension names as Magnum (python cryptography) spells them. */
  allowedExtensions: readonly string[];
  /** [x509] allowed_key_usage: 'Digital Signature', 'Key Encipherment', … (camelCase names accepted too). */
  allowedKeyUsage: readonly string[];
  /** [x509] allow_ca */
  allowCa: boolean;
  /** [x509] term_of_validity */
  validityDays: number;
  /**
   * When the CSR does not request them, add basicConstraints CA:FALSE (critical), keyUsage
   * digitalSignature(+keyEncipherment for RSA keys) (critical) and extendedKeyUsage clientAuth, the
   * profile of Magnum's own client certificate. Default true. Magnum itself adds none; the CSRs
   * clients send (`openstack coe cluster config`) carry no extensions at all.
   */
  addDefaultExtensions?: boolean;
}

// ---- OIDs and names --------------------------------------------------------------------------

const OID = {
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extendedKeyUsage: '2.5.29.37',
  extensionRequest: '1.2.840.113549.1.9.14',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
} as const;

/** Extension names as python cryptography's _OID_NAMES has them (what [x509] allowed_extensions lists). */
const EXTENSION_NAMES: Record<string, string> = {
  '2.5.29.9': 'subjectDirectoryAttributes',
  '2.5.29.14': 'subjectKeyIdentifier',
  '2.5.29.15': 'keyUsage',
  '2.5.29.17': 'subjectAltName',
  '2.5.29.18': 'issuerAltName',
  '2.5.29.19': 'basicConstraints',
  '2.5.29.20': 'cRLNumber',
  '2.5.29.21': 'cRLReason',
  '2.5.29.24': 'invalidityDate',
  '2.5.29.27': 'deltaCRLIndicator',
  '2.5.29.28': 'issuingDistributionPoint',
  '2.5.29.29': 'certificateIssuer',
  '2.5.29.30': 'nameConstraints',
  '2.5.29.31': 'cRLDistributionPoints',
  '2.5.29.32': 'certificatePolicies',
  '2.5.29.33': 'policyMappings',
  '2.5.29.35': 'authorityKeyIdentifier',
  '2.5.29.36': 'policyConstraints',
  '2.5.29.37': 'extendedKeyUsage',
  '2.5.29.46': 'freshestCRL',
  '2.5.29.54': 'inhibitAnyPolicy',
  '1.3.6.1.5.5.7.1.1': 'authorityInfoAccess',
  '1.3.6.1.5.5.7.1.11': 'subjectInfoAccess',
  '1.3.6.1.5.5.7.1.24': 'TLSFeature',
  '1.3.6.1.5.5.7.48.1.2': 'OCSPNonce',
  '1.3.6.1.5.5.7.48.1.5': 'OCSPNoCheck',
  '1.3.6.1.4.1.11129.2.4.2': 'signedCertificateTimestampList',
  '1.3.6.1.4.1.11129.2.4.3': 'precertPoison',
};

/** Key usage bits as a mask: bit i is RFC 5280's KeyUsage bit i (@peculiar/x509's KeyUsageFlags). */
const KU = {
  digitalSignature: 1, nonRepudiation: 2, keyEncipherment: 4, dataEncipherment: 8, keyAgreement: 16,
  keyCertSign: 32, cRLSign: 64, encipherOnly: 128, decipherOnly: 256,
} as const;
const CA_KEY_USAGES = KU.keyCertSign | KU.cRLSign;

/** Key usage names: Magnum's ('Digital Signature', 'Non Repudiation', …) and the RFC 5280 / OpenSSL ones. */
const KEY_USAGE_NAMES: Record<string, number> = {
  digitalsignature: KU.digitalSignature,
  nonrepudiation: KU.nonRepudiation,
  contentcommitment: KU.nonRepudiation,
  keyencipherment: KU.keyEncipherment,
  dataencipherment: KU.dataEncipherment,
  keyagreement: KU.keyAgreement,
  certificatesign: KU.keyCertSign,
  keycertsign: KU.keyCertSign,
  crlsign: KU.cRLSign,
  encipheronly: KU.encipherOnly,
  decipheronly: KU.decipherOnly,
};

/** Bit mask of the named key usages; throws (a plain Error: it is configuration) on an unknown name. */
export function keyUsageMask(names: readonly string[]): number {
  let mask = 0;
  for (const name of names) {
    const bit = KEY_USAGE_NAMES[name.replace(/[\s_-]/g, '').toLowerCase()];
    if (bit === undefined) throw new Error(`[x509] allowed_key_usage: unknown key usage '${name}'`);
    mask |= bit;
  }
  return mask;
}

type Bytes = Uint8Array<ArrayBuffer>;

// ---- minimal DER reading (structure checks and raw field extraction) ----------------------------

interface Tlv {
  tag: number;
  start: number;
  contentStart: number;
  end: number;
}

class DerError extends Error {}

function readTlv(buf: Bytes, off: number, limit: number): Tlv {
  if (off + 2 > limit) throw new DerError('truncated');
  const tag = buf[off];
  if ((tag & 0x1f) === 0x1f) throw new DerError('unsupported tag');
  let len = buf[off + 1];
  let p = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new DerError('bad length');
    if (p + n > limit) throw new DerError('truncated');
    if (buf[p] === 0) throw new DerError('non-minimal length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p++];
    if (len < 0x80) throw new DerError('non-minimal length');
  }
  if (p + len > limit) throw new DerError('truncated');
  return { tag, start: off, contentStart: p, end: p + len };
}

function children(buf: Bytes, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let off = parent.contentStart;
  while (off < parent.end) {
    const t = readTlv(buf, off, parent.end);
    out.push(t);
    off = t.end;
  }
  return out;
}

function expectTag(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t || t.tag !== tag) throw new DerError(`expected ${what}`);
  return t;
}

function decodeOid(bytes: Bytes): string {
  if (bytes.length === 0) throw new DerError('empty OID');
  const parts: number[] = [];
  let v = 0;
  for (let i = 0; i < bytes.length; i++) {
    v = v * 128 + (bytes[i] & 0x7f);
    if (!(bytes[i] & 0x80)) {
      parts.push(v);
      v = 0;
    } else if (i === bytes.length - 1) throw new DerError('truncated OID');
  }
  const first = parts[0] < 40 ? 0 : parts[0] < 80 ? 1 : 2;
  return [first, parts[0] - first * 40, ...parts.slice(1)].join('.');
}

// ---- minimal DER writing (the certificates this CA makes) --------------------------------------
// The TBSCertificate is written here directly (DER: definite, minimal lengths) and signed with
// node:crypto: an order of magnitude less CPU than building it through an ASN.1 object model,
// which was most of a cluster create's CPU in the conductor.

function derLength(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  for (let x = n; x > 0; x = Math.floor(x / 256)) out.unshift(x & 0xff);
  return [0x80 | out.length, ...out];
}

function der(tag: number, ...parts: Uint8Array[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag, ...derLength(body.length)]), body]);
}

const derSeq = (...parts: Uint8Array[]) => der(0x30, ...parts);
const DER_TRUE = Buffer.from([0x01, 0x01, 0xff]);
const DER_NULL = Buffer.from([0x05, 0x00]);

function base128(v: number): number[] {
  const out = [v & 0x7f];
  for (let x = Math.floor(v / 128); x > 0; x = Math.floor(x / 128)) out.unshift((x & 0x7f) | 0x80);
  return out;
}

function derOid(oid: string): Buffer {
  const [a, b, ...rest] = oid.split('.').map(Number);
  return der(0x06, Buffer.from([...base128(a * 40 + b), ...rest.flatMap(base128)]));
}

/** A non-negative INTEGER from big-endian bytes: no leading zero byte unless the next has its top bit set. */
function derUnsigned(bytes: Uint8Array): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const v = bytes.subarray(i);
  return der(0x02, ...(v[0] & 0x80 ? [Buffer.from([0])] : []), v);
}

/** UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5); second precision, Z. */
function derTime(t: Date): Buffer {
  const iso = t.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  return t.getUTCFullYear() < 2050 ? der(0x17, Buffer.from(`${digits.slice(2)}Z`)) : der(0x18, Buffer.from(`${digits}Z`));
}

function derName(cn: string, o?: string): Buffer {
  const rdn = (oid: string, v: string) => der(0x31, derSeq(derOid(oid), der(0x0c, Buffer.from(v, 'utf8'))));
  return derSeq(rdn(OID.commonName, cn), ...(o ? [rdn(OID.organization, o)] : []));
}

function derExtension(oid: string, critical: boolean, value: Uint8Array): Buffer {
  return derSeq(derOid(oid), ...(critical ? [DER_TRUE] : []), der(0x04, value));
}

/** keyUsage's named BIT STRING: bit i of the mask is bit i of the string, trailing zero bits dropped. */
function derKeyUsage(mask: number): Buffer {
  const last = 31 - Math.clz32(mask);
  const bytes = Buffer.alloc((last >> 3) + 1);
  for (let i = 0; i <= last; i++) if (mask & (1 << i)) bytes[i >> 3] |= 0x80 >> (i & 7);
  return der(0x03, Buffer.from([7 - (last & 7)]), bytes);
}

function basicConstraints(ca: boolean, pathLen?: number): Buffer {
  return derExtension(OID.basicConstraints, true, derSeq(...(ca ? [DER_TRUE] : []), ...(pathLen !== undefined ? [derUnsigned(Buffer.from([pathLen]))] : [])));
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  // IPv6, with an embedded IPv4 tail as in ::ffff:192.0.2.1.
  let text = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4[1].split('.').map(Number);
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const groups = (x: string | undefined) => (x ? x.split(':') : []);
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** SHA-1 of the subjectPublicKey BIT STRING (RFC 5280 4.2.1.2 method 1). */
function keyIdentifier(spki: Bytes): string {
  const top = readTlv(spki, 0, spki.length);
  const bits = expectTag(children(spki, top)[1], 0x03, 'BIT STRING');
  return createHash('sha1').update(spki.subarray(bits.contentStart + 1, bits.end)).digest('hex');
}

interface CertParts {
  der: Bytes;
  subject: Bytes;
  spki: Bytes;
}

function certParts(der: Bytes): CertParts {
  const top = readTlv(der, 0, der.length);
  const tbs = expectTag(children(der, top)[0], 0x30, 'TBSCertificate');
  const f = children(der, tbs);
  const i = f[0]?.tag === 0xa0 ? 1 : 0; // [0] version
  const subject = expectTag(f[i + 4], 0x30, 'subject');
  const spki = expectTag(f[i + 5], 0x30, 'subjectPublicKeyInfo');
  return { der, subject: der.subarray(subject.start, subject.end), spki: der.subarray(spki.start, spki.end) };
}

// ---- PEM ---------------------------------------------------------------------------------------

/** The first PEM block with one of the labels (text around it is ignored, as OpenSSL does). */
function pemBlock(text: string, labels: readonly string[]): Bytes | null {
  for (const m of text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\s]*?)-----END \1-----/g)) {
    if (!labels.includes(m[1])) continue;
    const b64 = m[2].replace(/\s+/g, '');
    if (!b64 || b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return null;
    return new Uint8Array(Buffer.from(b64, 'base64'));
  }
  return null;
}

function toPem(label: string, der: Bytes): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.replace(/.{64}(?=.)/g, '$&\n')}\n-----END ${label}-----`;
}

function certificateDer(pem: string): Bytes {
  const der = pemBlock(pem, ['CERTIFICATE']);
  if (!der) throw new Error('not a PEM certificate');
  return der;
}

// ---- keys and building blocks ------------------------------------------------------------------

const RSA_SIGN = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;

type RsaKey = { keys: CryptoKeyPair; privateKeyPem: string; spki: Bytes };

/**
 * Threads that may make RSA keys at once in this process ([x509] key_generation_threads; 0, the
 * default: one fewer than the machine's cores, at least one). Key generation runs off the event
 * loop on libuv's pool (4 threads by default), so without a bound a burst of cluster creates has
 * the pool make 4 keys at once: it takes every core of a shared host from the API beside the
 * conductor, and holds up the pool's other work (file writes, DNS lookups) for as long. Waiting
 * keys are made in arrival order; the pool below only uses a thread nobody waits for.
 */
const keyThreads = new Slots(Math.max(1, availableParallelism() - 1));

/** Sets how many keys this process makes at once (0: one fewer than the cores, at least 1). */
export function setKeyThreads(threads: number): void {
  keyThreads.limit = threads > 0 ? threads : Math.max(1, availableParallelism() - 1);
}

/** How many keys this process makes at once now. */
export function keyThreadLimit(): number {
  return keyThreads.limit;
}

/**
 * Keys made ahead of time. RSA key generation is most of the time a cluster's certificates take
 * (7 keys for a swarm-mode cluster of three nodes, 50-500 ms each here), so once a process has
 * made a key of some size it keeps up to KEY_POOL_SIZE more of that size ready, made one at a
 * time in the background (WebCrypto runs it off the event loop, on one thread). Each key is
 * handed out once and never kept anywhere else: the pool is only an earlier start of the same
 * generation. A burst of creates that empties it gets keys made on demand, as before. A process
 * that never makes a key (the API: it signs CSRs with stored CA keys) never fills one.
 */
export const KEY_POOL_SIZE = 8;
const keyPools = new Map<number, { ready: RsaKey[]; filling: boolean }>();

async function makeRsa(keySize: number): Promise<RsaKey> {
  const keys = (await webcrypto.subtle.generateKey(
    { ...RSA_SIGN, modulusLength: keySize, publicExponent: new Uint8Array([1, 0, 1]) },
    true,
    ['sign', 'verify'],
  )) as CryptoKeyPair;
  const pkcs8 = new Uint8Array(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as webcrypto.CryptoKey));
  const spki = new Uint8Array(await webcrypto.subtle.exportKey('spki', keys.publicKey as webcrypto.CryptoKey));
  return { keys, privateKeyPem: `${toPem('PRIVATE KEY', pkcs8)}\n`, spki };
}

function refillKeys(keySize: number): void {
  const pool = keyPools.get(keySize)!;
  if (pool.filling || pool.ready.length >= KEY_POOL_SIZE) return;
  pool.filling = true;
  // Only on a free key thread: a key someone waits for is never queued behind the pool's.
  const started = keyThreads.tryRun(() => makeRsa(keySize).then(
    (k) => {
      pool.filling = false;
      pool.ready.push(k);
      setImmediate(() => refillKeys(keySize)); // after this slot is given back
    },
    () => {
      pool.filling = false; // taken on demand next time, which reports the error
    },
  ));
  if (!started) pool.filling = false; // tried again at the next key handed out
}

/** A new RSA key pair: one made ahead of time when the pool has one, else made now. */
async function generateRsa(keySize: number): Promise<RsaKey> {
  let pool = keyPools.get(keySize);
  if (!pool) keyPools.set(keySize, (pool = { ready: [], filling: false }));
  const ready = pool.ready.shift();
  if (ready) {
    refillKeys(keySize);
    return ready;
  }
  try {
    return await keyThreads.run(() => makeRsa(keySize));
  } finally {
    refillKeys(keySize);
  }
}

/**
 * An RSA key pair as PEM (PKCS#8 private, SPKI public) made on one of this process's key threads
 * (the Kubernetes service-account key; not pooled).
 */
export function generateRsaPem(keySize: number): Promise<{ publicKey: string; privateKey: string }> {
  return keyThreads.run(() => promisify(generateKeyPair)('rsa', {
    modulusLength: keySize,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  }));
}

/** Starts filling the pool of keys of this size (e.g. at a conductor's start). */
export function prepareKeys(keySize: number): void {
  if (!keyPools.has(keySize)) keyPools.set(keySize, { ready: [], filling: false });
  refillKeys(keySize);
}

/** Key threads at work now (tests). */
export function busyKeyThreads(): number {
  return keyThreads.held;
}

/** How many keys of this size are ready now (tests). */
export function readyKeys(keySize: number): number {
  return keyPools.get(keySize)?.ready.length ?? 0;
}

/** A random UUID as the serial number (Magnum: int(uuid.uuid4())), kept positive. */
function uuidSerial(): string {
  const hex = randomUUID().replace(/-/g, '');
  return /^[89a-f]/.test(hex) ? `00${hex}` : hex;
}

function validity(days: number): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  // X.509 times have second precision.
  const sec = (t: number) => new Date(Math.floor(t / 1000) * 1000);
  return { notBefore: sec(now - 86_400_000), notAfter: sec(now + days * 86_400_000) };
}

const SHA256_WITH_RSA = derSeq(derOid('1.2.840.113549.1.1.11'), DER_NULL);

/** A v3 certificate signed with sha256WithRSAEncryption; names, key and extensions as DER. */
function signTbs(p: {
  subject: Uint8Array;
  issuer: Uint8Array;
  spki: Uint8Array;
  signingKey: KeyObject;
  validityDays: number;
  extensions: Uint8Array[];
}): string {
  const { notBefore, notAfter } = validity(p.validityDays);
  const tbs = derSeq(
    der(0xa0, derUnsigned(Buffer.from([2]))),
    derUnsigned(Buffer.from(uuidSerial(), 'hex')),
    SHA256_WITH_RSA,
    p.issuer,
    derSeq(derTime(notBefore), derTime(notAfter)),
    p.subject,
    p.spki,
    der(0xa3, derSeq(...p.extensions)),
  );
  const signature = nodeSign('sha256', tbs, p.signingKey);
  return toPem('CERTIFICATE', new Uint8Array(derSeq(tbs, SHA256_WITH_RSA, der(0x03, Buffer.from([0]), signature))));
}

interface LoadedCa {
  parts: CertParts;
  keyId: string;
  signingKey: KeyObject;
}

function loadCa(ca: KeyPairPem): LoadedCa {
  const parts = certParts(certificateDer(ca.certificate));
  const signingKey = createPrivateKey(ca.privateKey);
  if (signingKey.asymmetricKeyType !== 'rsa') throw new Error(`CA key type ${signingKey.asymmetricKeyType} is not supported (RSA only)`);
  return { parts, keyId: keyIdentifier(parts.spki), signingKey };
}

// ---- public API --------------------------------------------------------------------------------

/** A self-signed CA (§6.1): CN=commonName, CA:true pathlen 0 and keyCertSign+cRLSign, both critical. */
export async function generateCa(commonName: string, opts: KeyOptions): Promise<KeyPairPem> {
  const { keys, privateKeyPem, spki } = await generateRsa(opts.keySize);
  const name = derName(commonName);
  const certificate = signTbs({
    subject: name,
    issuer: name,
    spki,
    signingKey: KeyObject.from(keys.privateKey as webcrypto.CryptoKey),
    validityDays: opts.validityDays,
    extensions: [
      basicConstraints(true, 0),
      derExtension(OID.keyUsage, true, derKeyUsage(KU.keyCertSign | KU.cRLSign)),
      derExtension(OID.subjectKeyIdentifier, false, der(0x04, Buffer.from(keyIdentifier(spki), 'hex'))),
    ],
  });
  return { certificate, privateKey: privateKeyPem };
}

/**
 * A new key and a certificate for it issued by `ca`: digitalSignature+keyEncipherment and
 * CA:false (critical), EKU per usage, SANs from dnsNames/ipAddresses.
 */
export async function issueCertificate(ca: KeyPairPem, req: CertificateRequest, opts: KeyOptions): Promise<KeyPairPem> {
  const issuer = loadCa(ca);
  const names: Buffer[] = [];
  for (const dns of new Set(req.dnsNames ?? [])) names.push(der(0x82, Buffer.from(dns, 'utf8')));
  for (const ip of new Set(req.ipAddresses ?? [])) {
    if (!isIP(ip)) throw new Error(`not an IP address: ${ip}`);
    names.push(der(0x87, ipBytes(ip)));
  }
  const { privateKeyPem, spki } = await generateRsa(opts.keySize);
  const eku =
    req.usage === 'client' ? [OID.clientAuth] : req.usage === 'server' ? [OID.serverAuth] : [OID.serverAuth, OID.clientAuth];
  const extensions = [
    derExtension(OID.keyUsage, true, derKeyUsage(KU.digitalSignature | KU.keyEncipherment)),
    derExtension(OID.extendedKeyUsage, false, derSeq(...eku.map(derOid))),
    basicConstraints(false),
    derExtension(OID.subjectKeyIdentifier, false, der(0x04, Buffer.from(keyIdentifier(spki), 'hex'))),
    derExtension(OID.authorityKeyIdentifier, false, derSeq(der(0x80, Buffer.from(issuer.keyId, 'hex')))),
  ];
  if (names.length) extensions.push(derExtension(OID.subjectAltName, false, derSeq(...names)));
  const certificate = signTbs({
    subject: derName(req.commonName, req.organization),
    issuer: issuer.parts.subject,
    spki,
    signingKey: issuer.signingKey,
    validityDays: opts.validityDays,
    extensions,
  });
  return { certificate, privateKey: privateKeyPem };
}

interface ParsedCsr {
  subject: Bytes;
  spki: Bytes;
  keyType: string | undefined;
  extensions: readonly X509Library.Extension[];
}

const SIGNATURE_HASHES: Record<string, string | null> = {
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.14': 'sha224',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.1': 'sha224',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.3.101.112': null, // Ed25519
  '1.3.101.113': null, // Ed448
};
const RSASSA_PSS = '1.2.840.113549.1.1.10';

/** Parse and verify a PEM CSR; throws anything on a bad one (the caller maps it to InvalidCsr). */
async function parseCsr(x509: typeof X509Library, csr: string): Promise<ParsedCsr> {
  const der = pemBlock(csr, ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST']);
  if (!der) throw new DerError('no PEM certificate request');
  // Strict structure: CertificationRequest ::= SEQUENCE { info, signatureAlgorithm, signature } and nothing after it.
  const top = readTlv(der, 0, der.length);
  if (top.tag !== 0x30 || top.end !== der.length) throw new DerError('not a single DER SEQUENCE');
  const [infoT, algT, sigT, ...rest] = children(der, top);
  if (rest.length) throw new DerError('trailing fields');
  expectTag(infoT, 0x30, 'certificationRequestInfo');
  const [versionT, subjectT, spkiT, attrsT, ...more] = children(der, infoT);
  if (more.length) throw new DerError('trailing fields');
  expectTag(versionT, 0x02, 'version');
  if (versionT.end - versionT.contentStart !== 1 || der[versionT.contentStart] !== 0) throw new DerError('version must be v1 (0)');
  expectTag(subjectT, 0x30, 'subject');
  expectTag(spkiT, 0x30, 'subjectPKInfo');
  expectTag(attrsT, 0xa0, 'attributes');
  const algOid = decodeOid((() => {
    const o = expectTag(children(der, expectTag(algT, 0x30, 'signatureAlgorithm'))[0], 0x06, 'OID');
    return der.subarray(o.contentStart, o.end);
  })());
  expectTag(sigT, 0x03, 'signature');
  if (der[sigT.contentStart] !== 0) throw new DerError('signature has unused bits');
  const signature = der.subarray(sigT.contentStart + 1, sigT.end);
  const info = der.subarray(infoT.start, infoT.end);
  const spki = der.subarray(spkiT.start, spkiT.end);
  const subject = der.subarray(subjectT.start, subjectT.end);

  // Full parse (attributes, extension values) by @peculiar/x509; throws on malformed content.
  const req = new x509.Pkcs10CertificateRequest(der);
  new x509.Name(subject).toString();
  if (req.getAttributes(OID.extensionRequest).length > 1) throw new DerError('more than one extensionRequest');
  const extensions = req.extensions;
  const seen = new Set<string>();
  for (const ext of extensions) {
    if (seen.has(ext.type)) throw new DerError(`duplicate extension ${ext.type}`);
    seen.add(ext.type);
  }

  // Proof of possession: the CSR's self-signature.
  const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  let ok: boolean;
  if (algOid === RSASSA_PSS) {
    ok = await req.verify();
  } else {
    const hash = SIGNATURE_HASHES[algOid];
    if (hash === undefined) throw new DerError(`unsupported signature algorithm ${algOid}`);
    ok = nodeVerify(hash, info, key, signature);
  }
  if (!ok) throw new DerError('signature does not verify');
  return { subject, spki, keyType: key.asymmetricKeyType, extensions };
}

/** Magnum's validator.filter_extensions (§6.2), over the CSR's requested extensions. */
function filterExtensions(x509: typeof X509Library, exts: readonly X509Library.Extension[], policy: SignPolicy): X509Library.Extension[] {
  const allowedNames = new Set(policy.allowedExtensions);
  let allowedKu = keyUsageMask(policy.allowedKeyUsage);
  if (!policy.allowCa) allowedKu &= ~CA_KEY_USAGES;
  const out: X509Library.Extension[] = [];
  for (const ext of exts) {
    const name = EXTENSION_NAMES[ext.type];
    if (!name || !allowedNames.has(name)) {
      if (ext.critical) throw E.CertificateValidationError(name ?? ext.type);
      continue; // non-critical and not allowed: dropped
    }
    if (ext.type === OID.keyUsage) {
      const usages = new x509.KeyUsagesExtension(ext.rawData).usages;
      if (usages & ~allowedKu && ext.critical) throw E.CertificateValidationError(name);
      const kept = usages & allowedKu;
      if (kept) out.push(new x509.KeyUsagesExtension(kept, ext.critical)); // an empty keyUsage is invalid: dropped
    } else if (ext.type === OID.basicConstraints) {
      const bc = new x509.BasicConstraintsExtension(ext.rawData);
      if (bc.ca && !policy.allowCa) {
        if (ext.critical) throw E.CertificateValidationError(name);
        out.push(new x509.BasicConstraintsExtension(false, undefined, false));
      } else out.push(ext);
    } else out.push(ext);
  }
  return out;
}

function csrText(csr: unknown): string {
  return typeof csr === 'string' ? csr : pyRepr(csr);
}

/**
 * Sign a client's PEM CSR with `ca` (POST /v1/certificates). Subject and public key come from the
 * CSR, issuer is the CA's subject, extensions are filtered per §6.2. Returns PEM, no trailing newline.
 * Client errors: E.InvalidCsr (unparseable, malformed or unverifiable CSR, not a string) and
 * E.CertificateValidationError (a critical extension that is not allowed).
 */
export async function signCsr(ca: KeyPairPem, csr: unknown, policy: SignPolicy): Promise<string> {
  const issuer = loadCa(ca); // our own data: its failures are not the client's
  const x509 = await loadCsrLibrary();
  const allowedKu = keyUsageMask(policy.allowedKeyUsage) & (policy.allowCa ? ~0 : ~CA_KEY_USAGES);
  let parsed: ParsedCsr;
  let extensions: X509Library.Extension[];
  try {
    if (typeof csr !== 'string' || csr.length === 0) throw new DerError('not a string');
    parsed = await parseCsr(x509, csr);
    extensions = filterExtensions(x509, parsed.extensions, policy);
  } catch (e) {
    if (isMagnumError(e)) throw e;
    throw E.InvalidCsr(csrText(csr));
  }
  const has = (oid: string) => extensions.some((e) => e.type === oid);
  // Defaults only for what the CSR did not ask for at all (a request filtered away stays away).
  const lacks = (oid: string) => !parsed.extensions.some((e) => e.type === oid);
  if (policy.addDefaultExtensions ?? true) {
    if (lacks(OID.basicConstraints)) extensions.push(new x509.BasicConstraintsExtension(false, undefined, true));
    const ku = (KU.digitalSignature | (parsed.keyType === 'rsa' ? KU.keyEncipherment : 0)) & allowedKu;
    if (lacks(OID.keyUsage) && ku) extensions.push(new x509.KeyUsagesExtension(ku, true));
    if (lacks(OID.extendedKeyUsage)) extensions.push(new x509.ExtendedKeyUsageExtension([OID.clientAuth], false));
  }
  try {
    if (!has(OID.subjectKeyIdentifier)) extensions.push(new x509.SubjectKeyIdentifierExtension(keyIdentifier(parsed.spki)));
  } catch {
    throw E.InvalidCsr(csrText(csr));
  }
  if (!has(OID.authorityKeyIdentifier)) extensions.push(new x509.AuthorityKeyIdentifierExtension(issuer.keyId));
  try {
    new x509.Name(parsed.subject).toString(); // a subject that does not parse is the CSR's fault
  } catch {
    throw E.InvalidCsr(csrText(csr));
  }
  return signTbs({
    subject: parsed.subject,
    issuer: issuer.parts.subject,
    spki: parsed.spki,
    signingKey: issuer.signingKey,
    validityDays: policy.validityDays,
    extensions: extensions.map((e) => new Uint8Array(e.rawData)),
  });
}

/** SHA-256 (or another hash) fingerprint of a PEM certificate, upper-case hex with colons like `openssl x509 -fingerprint`. */
export function certificateFingerprint(certPem: string, algorithm: 'sha256' | 'sha1' = 'sha256'): string {
  const hex = createHash(algorithm).update(certificateDer(certPem)).digest('hex').toUpperCase();
  return hex.replace(/(..)(?!$)/g, '$1:');
}

export interface ChainCheck {
  ok: boolean;
  reason?: string;
}

/**
 * Whether `certPem` was issued by the CA `caPem` and both are valid now: issuer name, signature,
 * validity dates, CA flag of the issuer. Never throws on bad PEM (ok false with a reason).
 */
export function verifyChain(certPem: string, caPem: string, at: Date = new Date()): ChainCheck {
  let cert: NodeX509Certificate;
  let ca: NodeX509Certificate;
  try {
    cert = new NodeX509Certificate(certPem);
    ca = new NodeX509Certificate(caPem);
  } catch (e) {
    return { ok: false, reason: `unparseable certificate: ${(e as Error).message}` };
  }
  if (!ca.ca) return { ok: false, reason: 'issuer is not a CA' };
  if (!cert.checkIssued(ca)) return { ok: false, reason: 'not issued by this CA (issuer name or key identifier differ)' };
  if (!cert.verify(ca.publicKey)) return { ok: false, reason: 'signature does not verify with the CA key' };
  for (const [what, c] of [['certificate', cert], ['CA', ca]] as const) {
    if (at < new Date(c.validFrom)) return { ok: false, reason: `${what} not yet valid` };
    if (at > new Date(c.validTo)) return { ok: false, reason: `${what} expired` };
  }
  return { ok: true };
}
