// What the kubernetes side of image loads reads from a node's containerd (output seen on a node
// of magnum-kube-node:v1.34.4), and which archives it takes.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MagnumError } from '../../common/errors.ts';
import type { InfraProvider } from '../../infra/provider.ts';
import type { WorkloadAccess } from '../workloads.ts';
import { compression, importedImages, kubeNodeImages, ledgerNodes, listedImages } from './images.ts';

test('ctr images import: the references unpacked', () => {
  const out = 'unpacking docker.io/magnum-test/busybox:latest (sha256:2578a6214b75e48c4f5533351f50afeead7ec8d0b6c8e251698a298c2c08ab14)...done\n'
    + 'unpacking docker.io/magnum-kube/coredns:1.14.7 (sha256:b5d7c6c2afd1c39d4489237f829e3898cd599bbe175de0aed5d3cb8278657c85)...done\n';
  assert.deepEqual(importedImages(out), ['docker.io/magnum-test/busybox:latest', 'docker.io/magnum-kube/coredns:1.14.7']);
  assert.deepEqual(importedImages(''), []);
});

test('ctr images ls: named images with Docker\'s short names and image ids', () => {
  const pad = (ref: string, digest: string, size: string) => `${ref.padEnd(72)}application/vnd.docker.distribution.manifest.v2+json ${digest} ${size} linux/amd64 io.cri-containerd.image=managed `;
  const out = [
    'REF                                                                     TYPE                                                 DIGEST                                                                  SIZE    PLATFORMS   LABELS                          ',
    pad('docker.io/magnum-test/busybox:latest', 'sha256:2578a6214b75e48c4f5533351f50afeead7ec8d0b6c8e251698a298c2c08ab14', '2.0 MiB'),
    pad('docker.io/library/nginx:1', 'sha256:1111111111111111111111111111111111111111111111111111111111111111', '60.1 MiB'),
    pad('sha256:892f0bd31146fdf5e4a4f18c221320c41762ca3f54094011b89bac0a18c222ad', 'sha256:2578a6214b75e48c4f5533351f50afeead7ec8d0b6c8e251698a298c2c08ab14', '2.0 MiB'),
  ].join('\n');
  assert.deepEqual(listedImages(out), [
    { name: 'magnum-test/busybox:latest', id: '892f0bd31146', size: '2.0MiB' },
    { name: 'nginx:1', id: '111111111111', size: '60.1MiB' },
  ]);
});

test('the nodes of the ledger, masters first; archives: tar and gzip taken, xz refused with a 400', async () => {
  const res = (name: string, role: string, index: number, state = 'present') => ({ kind: 'container', name, state, details: { role, index, address: `10.0.0.${index + (role === 'master' ? 10 : 20)}` } });
  const resources = [res('w1', 'worker', 1), res('m0', 'master', 0), res('w0', 'worker', 0), res('gone', 'worker', 2, 'intended'), { kind: 'network', name: 'n', state: 'present', details: {} }];
  assert.deepEqual(ledgerNodes(resources as never).map((n) => n.name), ['m0', 'w0', 'w1']);
  const infra = { inspectNode: async (name: string) => ({ running: name !== 'w1' }) } as unknown as InfraProvider;
  const images = kubeNodeImages(infra, { resources: async () => resources } as unknown as WorkloadAccess);
  assert.deepEqual((await images.nodes()).map((n) => [n.name, n.role, n.reachable]), [['m0', 'master', true], ['w0', 'worker', true], ['w1', 'worker', false]]);

  const dir = mkdtempSync(join(tmpdir(), 'kube-images-test-'));
  try {
    const file = (name: string, bytes: number[]) => {
      writeFileSync(join(dir, name), Buffer.concat([Buffer.from(bytes), Buffer.alloc(600)]));
      return join(dir, name);
    };
    assert.equal(compression(file('a.tar', [0x61])), 'none');
    assert.equal(compression(file('a.tar.gz', [0x1f, 0x8b])), 'gzip');
    images.checkArchive!(join(dir, 'a.tar.gz'));
    for (const [name, bytes, kind] of [['a.xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 'xz'], ['a.bz2', [0x42, 0x5a, 0x68], 'bzip2'], ['a.zst', [0x28, 0xb5, 0x2f, 0xfd], 'zstd']] as const) {
      assert.throws(() => images.checkArchive!(file(name, [...bytes])), (e: unknown) => e instanceof MagnumError && e.status === 400 && e.message.startsWith(`The archive is ${kind}-compressed`));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
