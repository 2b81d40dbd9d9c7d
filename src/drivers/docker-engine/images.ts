// Images into nodes that run a Docker engine, without a registry: `docker load` of the archive
// (from the conductor's host, streamed by the CLI) into each node's engine over the cluster's TLS,
// and `docker image ls` to list them. The conductor (src/conductor/images.ts) checks the archive,
// records the load and runs it under a lease.
import { E } from '../../common/errors.ts';
import type { NodeImages, WorkloadAccess } from '../workloads.ts';
import { engineOf } from './containers.ts';
import { daemonMessage, ledgerEngineNodes } from './engine.ts';

export function engineImages(access: WorkloadAccess): NodeImages {
  const engine = engineOf(access);
  return {
    answering: 'Docker engine',
    async nodes() {
      const e = await engine();
      const nodes = ledgerEngineNodes(await access.resources());
      const up = await Promise.all(nodes.map((n) => e.answers(n.address)));
      return nodes.map((n, i) => ({ name: n.name, address: n.address, role: n.role, reachable: up[i] }));
    },
    async load(node, archivePath, opts) {
      const e = await engine();
      const r = await e.run(e.node(node.address), ['load', '--input', archivePath], { timeoutMs: opts.timeoutMs, raw: true, signal: opts.signal });
      if (r.exitCode !== 0) throw new Error(daemonMessage(r.stderr));
      return r.stdout.split('\n').map((l) => /^Loaded image(?: ID)?: (.+)$/.exec(l.trim())?.[1]).filter((x): x is string => Boolean(x));
    },
    async list(node) {
      const e = await engine();
      const r = await e.run(e.node(node.address), ['image', 'ls', '--format', '{{json .}}'], { timeoutMs: 15_000 });
      if (r.exitCode !== 0) throw E.ServiceUnavailable(`The Docker engine of node ${node.address} failed: ${daemonMessage(r.stderr)}`);
      return r.stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as { Repository: string; Tag: string; ID: string; Size: string })
        .map((i) => ({ name: i.Repository === '<none>' ? i.ID : `${i.Repository}:${i.Tag}`, id: i.ID, size: i.Size }));
    },
  };
}
