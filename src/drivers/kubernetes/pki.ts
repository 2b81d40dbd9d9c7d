// The certificates and keys one Kubernetes node gets as files in /etc/kubernetes/pki (the layout
// the node image's entrypoint, scripts/kube-node/magnum-kube-node, reads). Every certificate is
// issued by one of the cluster's CAs, which the conductor keeps (ClusterPki): the CA keys never
// reach a node, so the controller-manager signs no CSRs (kubelets do not rotate their
// certificates; the driver issues them). Leaf keys are not stored: a node that is made again
// gets new ones.
import { availableParallelism } from 'node:os';
import type { NodeFile } from '../../infra/provider.ts';
import type { CertificateSpec, ClusterCa, ClusterPki, TlsMaterial } from '../driver.ts';

export const PKI_DIR = '/etc/kubernetes/pki';

export interface PkiNode {
  name: string;
  address: string;
  role: 'master' | 'worker';
}

export interface PkiPlan {
  /** The first address of the Services' range (the `kubernetes` Service). */
  serviceIp: string;
  clusterDomain: string;
  /** Addresses the API is reached on from outside (the published address), for the serving certificate. */
  externalAddresses: string[];
}

/**
 * Issuing is CPU-bound (a new RSA key each): at most one per CPU at a time, and a master's before
 * any worker's that still waits. The master is a create's critical path (nothing is Ready before
 * its API server answers), but issued all at once its ten keys shared the CPUs with the workers'
 * and were done last: with 1 master + 2 workers the master's container was created ~5 s after the
 * workers' (bench/cluster-create --coe kubernetes, load average 14).
 */
const SLOTS = Math.max(2, availableParallelism());
let busy = 0;
const queue: { master: boolean; go: () => void }[] = [];

async function inTurn<T>(master: boolean, job: () => Promise<T>): Promise<T> {
  if (busy < SLOTS) busy++;
  else {
    await new Promise<void>((go) => {
      const firstWorker = master ? queue.findIndex((q) => !q.master) : -1;
      queue.splice(firstWorker < 0 ? queue.length : firstWorker, 0, { master, go });
    });
  }
  try {
    return await job();
  } finally {
    // The slot passes to the next in the queue as it is (busy unchanged), or is freed.
    const next = queue.shift();
    if (next) next.go();
    else busy--;
  }
}

/** The files of one node: the certificates its role needs (see magnum-kube-node --help). */
export async function nodePkiFiles(pki: ClusterPki, node: PkiNode, plan: PkiPlan): Promise<NodeFile[]> {
  const files: NodeFile[] = [];
  const put = (name: string, m: TlsMaterial) => {
    files.push({ path: `${PKI_DIR}/${name}.crt`, content: `${m.certificate.trim()}\n`, mode: 0o644 });
    files.push({ path: `${PKI_DIR}/${name}.key`, content: `${m.privateKey.trim()}\n`, mode: 0o600 });
  };
  const caFile = (name: string, m: TlsMaterial) => files.push({ path: `${PKI_DIR}/${name}`, content: `${m.caPem.trim()}\n`, mode: 0o644 });
  const jobs: [string, ClusterCa, CertificateSpec][] = [
    ['kubelet', 'cluster', {
      commonName: `system:node:${node.name}`, organization: 'system:nodes', usage: 'server+client',
      dnsNames: [node.name], ipAddresses: [node.address],
    }],
    ['kube-proxy', 'cluster', { commonName: 'system:kube-proxy', usage: 'client' }],
  ];
  if (node.role === 'master') {
    const d = plan.clusterDomain;
    jobs.push(
      ['apiserver', 'cluster', {
        commonName: 'kube-apiserver', usage: 'server',
        dnsNames: ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', `kubernetes.default.svc.${d}`, 'localhost', node.name],
        ipAddresses: [...new Set(['127.0.0.1', plan.serviceIp, node.address, ...plan.externalAddresses])],
      }],
      ['apiserver-kubelet-client', 'cluster', { commonName: 'kube-apiserver-kubelet-client', organization: 'system:masters', usage: 'client' }],
      // As Magnum's controller-manager, which runs with the admin's rights (no ServiceAccount per controller).
      ['controller-manager', 'cluster', { commonName: 'system:kube-controller-manager', organization: 'system:masters', usage: 'client' }],
      ['scheduler', 'cluster', { commonName: 'system:kube-scheduler', usage: 'client' }],
      // For `magnum-kube-node kubectl` on the master (what the driver's health and CoreDNS steps use).
      ['admin', 'cluster', { commonName: 'admin', organization: 'system:masters', usage: 'client' }],
      ['etcd/server', 'etcd', {
        commonName: node.name, usage: 'server+client', dnsNames: [node.name, 'localhost'], ipAddresses: ['127.0.0.1', node.address],
      }],
      ['apiserver-etcd-client', 'etcd', { commonName: 'kube-apiserver-etcd-client', usage: 'client' }],
      ['front-proxy-client', 'front-proxy', { commonName: 'front-proxy-client', usage: 'client' }],
    );
  }
  const issued = await Promise.all(jobs.map(([, ca, spec]) => inTurn(node.role === 'master', () => pki.issue(ca, spec))));
  jobs.forEach(([name], i) => put(name, issued[i]));
  caFile('ca.crt', issued[0]);
  if (node.role === 'master') {
    caFile('etcd/ca.crt', issued[jobs.findIndex(([n]) => n === 'etcd/server')]);
    caFile('front-proxy-ca.crt', issued[jobs.findIndex(([n]) => n === 'front-proxy-client')]);
    const sa = await pki.serviceAccountKey();
    files.push({ path: `${PKI_DIR}/sa.key`, content: `${sa.privateKey.trim()}\n`, mode: 0o600 });
    files.push({ path: `${PKI_DIR}/sa.pub`, content: `${sa.publicKey.trim()}\n`, mode: 0o644 });
  }
  return files;
}
