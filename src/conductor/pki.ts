// The conductor's side of cluster certificates: drivers get a ClusterPki per operation; the CA
// keys stay here (encrypted in the x509keypair table) and never reach a driver or the API.
import type { ClusterCertificates } from '../cert/cert-manager.ts';
import type { Storage } from '../db/api.ts';
import type { ClusterPki, TlsMaterial } from '../drivers/driver.ts';
import type { Cluster, ClusterTemplate } from '../objects/models.ts';
import type { PkiFactory } from './operation-runner.ts';

export function pkiFactory(storage: Storage, certs: ClusterCertificates): PkiFactory {
  return (cluster: Cluster, template: ClusterTemplate): ClusterPki | null => {
    if (template.tls_disabled) return null;
    const current = async () => (await storage.getClusterByUuid(cluster.uuid)) ?? cluster;
    return {
      ensure: async (): Promise<TlsMaterial> => {
        let c = await current();
        if (!c.ca_cert_ref || !c.magnum_cert_ref) {
          const refs = await certs.createClusterCa(c);
          c = (await storage.updateCluster(c.uuid, refs)) ?? { ...c, ...refs };
        }
        return certs.getClientCredentials(c);
      },
      issueNode: async (name, ips, dnsNames) => {
        const c = await current();
        if (!c.ca_cert_ref) throw new Error('the cluster has no CA yet');
        return certs.issueNodeCertificate(c.ca_cert_ref, { name, ips, dnsNames });
      },
      rotate: async () => {
        const c = await current();
        const fresh = await certs.rotate(c);
        await storage.updateCluster(c.uuid, fresh);
        await certs.deleteAll(c);
      },
      destroy: async () => {
        await certs.deleteAll(await current());
      },
    };
  };
}
