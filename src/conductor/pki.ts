// The conductor's side of cluster certificates: drivers get a ClusterPki per operation; the CA
// keys stay here (encrypted in the x509keypair table) and never reach a driver or the API.
//
// Every key pair is written to the cluster's ledger (kind "certificate", named by its ref) before
// it is stored, so a create or a rotation cut short by a crash leaves no key row that the
// cluster's delete would not find: a retry first discards what the cluster does not reference,
// and the delete removes everything the ledger or the cluster's ref columns name.
//
// A Kubernetes cluster's service-account key pair has no ref column: its ledger entry (role
// service_account) is what names it. It is kept across CA rotations (tokens stay valid) and removed
// with the cluster.
import { selectCaRef, type ClusterCertificates, type ClusterCertRefs, type ClusterRefs } from '../cert/cert-manager.ts';
import { randomUUID } from 'node:crypto';
import type { Storage } from '../db/api.ts';
import type { ClusterPki, TlsMaterial } from '../drivers/driver.ts';
import type { Cluster } from '../objects/models.ts';
import type { PkiFactory } from './operation-runner.ts';

type PkiStorage = Pick<Storage, 'getClusterByUuid' | 'updateCluster' | 'intendResource' | 'markResource' | 'listResources'>;

const SERVICE_ACCOUNT_ROLE = 'service_account';

const refsOf = (c: ClusterRefs): string[] =>
  [c.ca_cert_ref, c.magnum_cert_ref, c.etcd_ca_cert_ref, c.front_proxy_ca_cert_ref].filter((r): r is string => !!r);

export function pkiFactory(storage: PkiStorage, certs: ClusterCertificates, opts: { forgetCredentials?: (clusterUuid: string) => void } = {}): PkiFactory {
  return (cluster: Cluster): ClusterPki => {
    const uuid = cluster.uuid;
    const current = async () => (await storage.getClusterByUuid(uuid)) ?? cluster;
    const certRows = async () => (await storage.listResources(uuid)).filter((r) => r.kind === 'certificate');
    const recorded = async () => (await certRows()).map((r) => r.name);
    /** The service-account key's ref, when it was stored (present in the ledger). */
    const serviceAccountRef = async () =>
      (await certRows()).find((r) => r.details?.role === SERVICE_ACCOUNT_ROLE && r.state === 'present')?.name ?? null;

    const remove = async (refs: Iterable<string>) => {
      for (const ref of refs) {
        await certs.manager.delete(ref);
        await storage.markResource(uuid, 'certificate', ref, 'removed');
      }
    };
    /** Key pairs of an earlier attempt that the cluster does not reference. */
    const discardUnreferenced = async (c: Cluster) => {
      const sa = await serviceAccountRef();
      const referenced = new Set([...refsOf(c), ...(sa ? [sa] : [])]);
      await remove((await recorded()).filter((ref) => !referenced.has(ref)));
    };
    const make = async (c: Cluster): Promise<ClusterCertRefs> => {
      const refs = certs.planRefs();
      for (const [role, ref] of Object.entries(refs)) await storage.intendResource(uuid, 'certificate', ref, { role });
      await certs.createClusterCa(c, refs);
      for (const ref of Object.values(refs)) await storage.markResource(uuid, 'certificate', ref, 'present', ref);
      return refs;
    };

    let ensuring: Promise<Cluster> | null = null;
    let saKey: Promise<{ publicKey: string; privateKey: string }> | null = null;
    /** The cluster with its certificates, made once per operation however many callers ask at once. */
    const withCertificates = (): Promise<Cluster> => {
      ensuring ??= (async () => {
        const c = await current();
        if (c.ca_cert_ref && c.magnum_cert_ref) return c;
        await discardUnreferenced(c);
        const refs = await make(c);
        return (await storage.updateCluster(uuid, refs)) ?? { ...c, ...refs };
      })();
      ensuring.catch(() => { ensuring = null; });
      return ensuring;
    };

    return {
      ensure: async (): Promise<TlsMaterial> => certs.getClientCredentials(await withCertificates()),
      issueNode: async (name, ips, dnsNames) => {
        const c = await withCertificates();
        return certs.issueNodeCertificate(c.ca_cert_ref!, { name, ips, dnsNames });
      },
      issue: async (ca, req) => {
        const c = await withCertificates();
        const ref = selectCaRef(c, ca === 'etcd' ? 'etcd' : ca === 'front-proxy' ? 'front_proxy' : null);
        if (!ref) throw new Error(`cluster ${uuid} has no CA`);
        return certs.issue(ref, req);
      },
      serviceAccountKey: async () => {
        saKey ??= (async () => {
          const c = await withCertificates();
          let ref = await serviceAccountRef();
          if (!ref) {
            // A key of an earlier attempt that was recorded but never marked present is discarded first.
            await discardUnreferenced(c);
            ref = randomUUID();
            await storage.intendResource(uuid, 'certificate', ref, { role: SERVICE_ACCOUNT_ROLE });
            await certs.createServiceAccountKey(c, ref);
            await storage.markResource(uuid, 'certificate', ref, 'present', ref);
          }
          return certs.getServiceAccountKey(ref);
        })();
        saKey.catch(() => { saKey = null; });
        return saKey;
      },
      rotate: async () => {
        const c = await current();
        await discardUnreferenced(c);
        const fresh = await make(c);
        await storage.updateCluster(uuid, fresh);
        await remove(refsOf(c));
        opts.forgetCredentials?.(uuid);
        ensuring = null;
      },
      destroy: async () => {
        const c = await current();
        await remove(new Set([...refsOf(c), ...(await recorded())]));
        opts.forgetCredentials?.(uuid);
      },
    };
  };
}
