// The access bundle of a cluster, as `openstack coe cluster config` makes it, built in the browser:
// an RSA key made with WebCrypto (it never leaves the browser but in the downloaded file), a CSR
// for CN=admin, O=system:masters signed by POST /v1/certificates, the cluster's CA; then for
// swarm-mode a tar of ca.pem, cert.pem, key.pem and env (DOCKER_HOST, DOCKER_CERT_PATH,
// DOCKER_TLS_VERIFY), for kubernetes a kubeconfig.
import { api } from './api.ts';
import { download } from './ui.tsx';

interface Certs { ca: string; cert: string; key: string }

function pem(label: string, der: ArrayBuffer): string {
  const bytes = new Uint8Array(der);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  const body = btoa(bin).replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

async function keyAndCsr(): Promise<{ key: string; csr: string }> {
  const alg = { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
  const keys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  // @peculiar/x509 is loaded only when a bundle is made (it is most of the dashboard's weight).
  await import('reflect-metadata');
  const x509 = await import('@peculiar/x509');
  const req = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=admin, O=system:masters', keys, signingAlgorithm: alg });
  return { key: pem('PRIVATE KEY', await crypto.subtle.exportKey('pkcs8', keys.privateKey)), csr: req.toString('pem') };
}

const withNewline = (s: string) => (s.endsWith('\n') ? s : `${s}\n`);

// ---- tar (ustar) --------------------------------------------------------------------------------

function tar(files: { name: string; text: string; mode: number }[], dir: string): Uint8Array<ArrayBuffer> {
  const enc = new TextEncoder();
  const blocks: Uint8Array[] = [];
  const mtime = Math.floor(Date.now() / 1000);
  const header = (name: string, size: number, mode: number, type: '0' | '5') => {
    const h = new Uint8Array(512);
    const put = (offset: number, len: number, value: string) => h.set(enc.encode(value).subarray(0, len), offset);
    const octal = (n: number, len: number) => `${n.toString(8).padStart(len - 1, '0')}\0`;
    put(0, 100, name);
    put(100, 8, octal(mode, 8));
    put(108, 8, octal(0, 8));
    put(116, 8, octal(0, 8));
    put(124, 12, octal(size, 12));
    put(136, 12, octal(mtime, 12));
    put(148, 8, '        ');
    put(156, 1, type);
    put(257, 6, 'ustar\0');
    put(263, 2, '00');
    let sum = 0;
    for (const b of h) sum += b;
    put(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
    return h;
  };
  blocks.push(header(`${dir}/`, 0, 0o700, '5'));
  for (const f of files) {
    const data = enc.encode(f.text);
    blocks.push(header(`${dir}/${f.name}`, data.length, f.mode, '0'));
    const padded = new Uint8Array(Math.ceil(data.length / 512) * 512);
    padded.set(data);
    blocks.push(padded);
  }
  blocks.push(new Uint8Array(1024));
  const out = new Uint8Array(new ArrayBuffer(blocks.reduce((n, b) => n + b.length, 0)));
  let at = 0;
  for (const b of blocks) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

function b64(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

function kubeconfig(name: string, server: string, certs: Certs | null): string {
  const user = certs ? 'admin' : name;
  const lines = [
    'apiVersion: v1', 'clusters:', '- cluster:',
    ...(certs ? [`    certificate-authority-data: ${b64(certs.ca)}`] : []),
    `    server: ${server}`, `  name: ${name}`, 'contexts:', '- context:', `    cluster: ${name}`, `    user: ${user}`, '  name: default',
    'current-context: default', 'kind: Config', 'preferences: {}', 'users:', `- name: ${user}`,
    ...(certs ? ['  user:', `    client-certificate-data: ${b64(certs.cert)}`, `    client-key-data: ${b64(certs.key)}`] : []),
    '',
  ];
  return lines.join('\n');
}

/** Makes and downloads the bundle; returns the file name. */
export async function downloadAccessBundle(clusterIdent: string): Promise<string> {
  const c = await api('GET', `/v1/clusters/${encodeURIComponent(clusterIdent)}`);
  if (!c.api_address) throw new Error(`The cluster ${c.name} has no API address yet.`);
  const t = await api('GET', `/v1/clustertemplates/${encodeURIComponent(c.cluster_template_id)}`);
  const coe = String(t.coe);
  if (!['kubernetes', 'swarm', 'swarm-mode'].includes(coe)) throw new Error(`Access bundles exist for kubernetes, swarm and swarm-mode clusters; ${c.name} is ${coe}.`);
  let certs: Certs | null = null;
  if (!t.tls_disabled) {
    const { key, csr } = await keyAndCsr();
    const ca = (await api('GET', `/v1/certificates/${c.uuid}`)).pem as string;
    const cert = (await api('POST', '/v1/certificates', { cluster_uuid: c.uuid, csr })).pem as string;
    certs = { ca: withNewline(ca), cert: withNewline(cert), key };
  }
  const name = String(c.name ?? c.uuid).replace(/[^\w.-]/g, '_');
  if (coe === 'kubernetes') {
    const file = `${name}.kubeconfig`;
    download(file, kubeconfig(name, c.api_address, certs), 'application/yaml');
    return file;
  }
  const env = [
    '# Use the cluster with the docker CLI: . ./env (from this directory)',
    `export DOCKER_HOST=${c.api_address}`,
    'export DOCKER_CERT_PATH="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)"',
    `export DOCKER_TLS_VERIFY=${t.tls_disabled ? '' : '1'}`,
    '',
  ].join('\n');
  const files = [{ name: 'env', text: env, mode: 0o644 }];
  if (certs) files.push({ name: 'ca.pem', text: certs.ca, mode: 0o644 }, { name: 'cert.pem', text: certs.cert, mode: 0o644 }, { name: 'key.pem', text: certs.key, mode: 0o600 });
  const file = `${name}.tar`;
  download(file, tar(files, name), 'application/x-tar');
  return file;
}
