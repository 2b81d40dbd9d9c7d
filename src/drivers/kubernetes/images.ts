// Images into a Kubernetes cluster's nodes without a registry: the archive (what `docker save`
// writes) is streamed from the conductor's host into each node's containerd, namespace k8s.io (the
// kubelet's), by the node image's entrypoint (`magnum-kube-node load-image`, which runs
// `ctr images import -`). A pod whose image a node has then starts without pulling (its pull
// policy is IfNotPresent unless its manifest says otherwise: src/drivers/kubernetes-objects.ts).
import { closeSync, openSync, readSync } from 'node:fs';
import { E } from '../../common/errors.ts';
import type { InfraProvider } from '../../infra/provider.ts';
import type { ClusterResource } from '../../objects/models.ts';
import type { ImageNode, NodeImage, NodeImages, WorkloadAccess } from '../workloads.ts';

/** containerd's socket in a node (scripts/kube-node/magnum-kube-node: RUNDIR/containerd). */
export const NODE_CONTAINERD_SOCKET = '/run/magnum-kube/containerd/containerd.sock';
const LIST_TIMEOUT_MS = 15_000;

/** The nodes the ledger records as running (node containers with an address): masters first, then by index. */
export function ledgerNodes(resources: readonly ClusterResource[]): Omit<ImageNode, 'reachable'>[] {
  return resources
    .filter((r) => r.kind === 'container' && r.state === 'present' && typeof r.details.address === 'string')
    .map((r) => ({ name: r.name, address: String(r.details.address), role: r.details.role === 'master' ? 'master' as const : 'worker' as const, index: Number(r.details.index ?? 0) }))
    .sort((a, b) => (a.role === b.role ? a.index - b.index || a.name.localeCompare(b.name) : a.role === 'master' ? -1 : 1))
    .map(({ index: _index, ...n }) => n);
}

/** The image references `ctr images import` printed ("unpacking REF (sha256:...)...done"). */
export function importedImages(stdout: string): string[] {
  const out: string[] = [];
  for (const line of stdout.split('\n')) {
    const ref = /^unpacking (\S+) \(sha256:[0-9a-f]+\)/.exec(line.trim())?.[1];
    if (ref && !out.includes(ref)) out.push(ref);
  }
  return out;
}

/**
 * `ctr images ls` rows (REF TYPE DIGEST SIZE PLATFORMS LABELS) as Docker shows images: named
 * references only (the kubelet also keeps one per image id, a sha256: reference), short names
 * (docker.io/library/x is x), the image id's first 12 hex digits.
 */
export function listedImages(stdout: string): NodeImage[] {
  const rows = stdout.split('\n').slice(1).map((line) => /^(\S+)\s+\S+\s+(sha256:[0-9a-f]+)\s+(\S+ \S+)/.exec(line.trim())).filter((m) => m !== null);
  const imageId = new Map(rows.filter((m) => m[1].startsWith('sha256:')).map((m) => [m[2], m[1]]));
  return rows.filter((m) => !m[1].startsWith('sha256:')).map((m) => ({
    name: m[1].replace(/^docker\.io\/(library\/)?/, ''),
    id: (imageId.get(m[2]) ?? m[2]).slice('sha256:'.length, 'sha256:'.length + 12),
    size: m[3].replace(/ /g, ''),
  }));
}

/** How an image archive is compressed, from its first bytes. */
export function compression(path: string): 'none' | 'gzip' | 'bzip2' | 'xz' | 'zstd' {
  const head = Buffer.alloc(6);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, head, 0, 6, 0);
  } finally {
    closeSync(fd);
  }
  const starts = (...bytes: number[]) => bytes.every((b, i) => head[i] === b);
  if (starts(0x1f, 0x8b)) return 'gzip';
  if (starts(0x42, 0x5a, 0x68)) return 'bzip2';
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'xz';
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return 'zstd';
  return 'none';
}

/** The last lines the node printed, without the entrypoint's log prefix. */
const why = (stderr: string, stdout: string) =>
  (stderr.trim() ? stderr : stdout).split('\n').map((l) => l.replace(/^\[magnum-kube-node [^\]]*\]\s*/, '').trim()).filter(Boolean).slice(-3).join('; ').slice(0, 500) || 'no reason given';

export function kubeNodeImages(infra: InfraProvider, access: WorkloadAccess): NodeImages {
  return {
    async nodes() {
      const nodes = ledgerNodes(await access.resources());
      const running = await Promise.all(nodes.map(async (n) => (await infra.inspectNode(n.name).catch(() => null))?.running === true));
      return nodes.map((n, i) => ({ ...n, reachable: running[i] }));
    },
    checkArchive(archivePath) {
      const c = compression(archivePath);
      if (c !== 'none' && c !== 'gzip') {
        throw E.InvalidParameterValue(`The archive is ${c}-compressed: the nodes of a Kubernetes cluster take a tar archive as docker save writes it, or one compressed with gzip.`);
      }
    },
    async load(node, archivePath, opts) {
      // containerd's import reads tar only; the nodes have gzip (checkArchive refused the rest).
      const cmd = compression(archivePath) === 'gzip'
        ? ['bash', '-o', 'pipefail', '-c', 'gzip -dc | magnum-kube-node load-image']
        : ['magnum-kube-node', 'load-image'];
      const r = await infra.exec(node.name, cmd, { inputFile: archivePath, timeoutMs: opts.timeoutMs, signal: opts.signal });
      if (r.exitCode !== 0) throw new Error(`The containerd of node ${node.name} did not import the archive: ${why(r.stderr, r.stdout)}`);
      return importedImages(r.stdout);
    },
    async list(node) {
      const r = await infra.exec(node.name, ['ctr', '--address', NODE_CONTAINERD_SOCKET, '--namespace', 'k8s.io', 'images', 'ls'], { timeoutMs: LIST_TIMEOUT_MS });
      if (r.exitCode !== 0) throw E.ServiceUnavailable(`The containerd of node ${node.name} did not list its images: ${why(r.stderr, r.stdout)}`);
      return listedImages(r.stdout);
    },
  };
}
