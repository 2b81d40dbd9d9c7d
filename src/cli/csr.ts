// The client key and CSR of `cluster config`, as python-magnumclient makes them: RSA 2048, the
// key as a traditional (PKCS#1) PEM, the CSR signed with SHA-256 for CN=admin, O=system:masters
// (Kubernetes maps that group to cluster-admin). @peculiar/x509 is loaded only here: it is heavy.
import { generateKeyPairSync, webcrypto } from 'node:crypto';
import { loadCsrLibrary } from '../cert/x509.ts';

export interface CsrAndKey {
  csr: string;
  key: string;
}

export async function generateCsrAndKey(subject = 'CN=admin, O=system:masters'): Promise<CsrAndKey> {
  const x509 = await loadCsrLibrary();
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
  const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const keys = {
    privateKey: await webcrypto.subtle.importKey('pkcs8', privateKey.export({ format: 'der', type: 'pkcs8' }), alg, false, ['sign']),
    publicKey: await webcrypto.subtle.importKey('spki', publicKey.export({ format: 'der', type: 'spki' }), alg, true, ['verify']),
  };
  const req = await x509.Pkcs10CertificateRequestGenerator.create({ name: subject, keys: keys as unknown as CryptoKeyPair, signingAlgorithm: alg });
  return { csr: `${req.toString('pem')}\n`, key: privateKey.export({ format: 'pem', type: 'pkcs1' }) as string };
}
