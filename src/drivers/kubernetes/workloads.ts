// What the kubernetes driver gives the conductor for a running cluster (Driver.workloads): pods and
// services through the cluster's Kubernetes API (src/drivers/kubernetes-objects.ts over
// KubeClient), and image archives into its nodes' containerd (./images.ts). Containers
// (/v1/containers) are not offered: as in Magnum 2015 they run on swarm clusters only, and the API
// tells Kubernetes users to run a pod.
import { E } from '../../common/errors.ts';
import type { InfraProvider } from '../../infra/provider.ts';
import { kubernetesWorkloads, type KubernetesClient } from '../kubernetes-objects.ts';
import type { WorkloadAccess, Workloads } from '../workloads.ts';
// ./client.ts (and @kubernetes/client-node, ~49 MB resident) is imported on first use only: the API
// and conductors of deployments without kubernetes clusters never load it.
import type { KubeClient } from './client.ts';
import { kubeNodeImages } from './images.ts';

/** A KubeClient made on first use (the credentials are read from the certificate store then). */
export function clusterClient(access: WorkloadAccess): KubernetesClient {
  let made: Promise<KubeClient> | null = null;
  const client = () => (made ??= (async () => {
    const server = access.cluster.api_address;
    const label = access.cluster.name ?? access.cluster.uuid;
    if (!server) throw E.ClusterAPIAddressUnavailable();
    const tls = await access.credentials();
    if (!tls && server.startsWith('https:')) {
      throw E.ServiceUnavailable(`The Kubernetes API of cluster ${label} cannot be reached: the cluster has no client certificate for the conductor (${server}).`);
    }
    const { KubeClient: Client } = await import('./client.ts');
    return new Client({ server, clusterLabel: label, tls });
  })().catch((err) => {
    made = null;
    throw err;
  }));
  return {
    createPod: async (ns, m) => (await client()).createPod(ns, m),
    readPod: async (ns, n) => (await client()).readPod(ns, n),
    replacePod: async (ns, n, m) => (await client()).replacePod(ns, n, m),
    deletePod: async (ns, n, uid) => (await client()).deletePod(ns, n, uid),
    createService: async (ns, m) => (await client()).createService(ns, m),
    readService: async (ns, n) => (await client()).readService(ns, n),
    replaceService: async (ns, n, m) => (await client()).replaceService(ns, n, m),
    deleteService: async (ns, n, uid) => (await client()).deleteService(ns, n, uid),
  };
}

export function kubernetesClusterWorkloads(provider: InfraProvider, access: WorkloadAccess): Workloads {
  return { ...kubernetesWorkloads(clusterClient(access)), images: kubeNodeImages(provider, access) };
}
