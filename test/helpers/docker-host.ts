// What Magnum has made on the test Docker host: containers, networks and volumes labelled
// magnum.cluster, each with the cluster it belongs to. Other tests (and other people's clusters)
// may share the host, so a comparison names the clusters it cares about.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { servicesEnv } from './env.ts';

const run = promisify(execFile);

export const DOCKER_HOST = process.env.DOCKER_HOST ?? servicesEnv().MAGNUM_TEST_DOCKER_HOST ?? 'unix:///var/run/docker.sock';

export interface LabelledResource {
  kind: 'container' | 'network' | 'volume';
  id: string;
  cluster: string;
}

async function list(kind: LabelledResource['kind'], args: string[]): Promise<LabelledResource[]> {
  let stdout: string;
  try {
    ({ stdout } = await run('docker', ['--host', DOCKER_HOST, ...args, '--filter', 'label=magnum.cluster', '--format', `{{${kind === 'volume' ? '.Name' : '.ID'}}} {{.Label "magnum.cluster"}}`], { timeout: 30_000 }));
  } catch (err) {
    throw new Error(`the Docker host ${DOCKER_HOST} does not answer (run scripts/setup-services.sh docker): ${(err as Error).message}`);
  }
  return stdout.split('\n').filter(Boolean).map((line) => {
    const [id, cluster = ''] = line.split(' ');
    return { kind, id, cluster };
  });
}

export async function labelledResources(): Promise<LabelledResource[]> {
  const [containers, networks, volumes] = await Promise.all([
    list('container', ['ps', '-a']),
    list('network', ['network', 'ls']),
    list('volume', ['volume', 'ls']),
  ]);
  return [...containers, ...networks, ...volumes];
}

export function countByKind(resources: readonly LabelledResource[]): Record<LabelledResource['kind'], number> {
  const out = { container: 0, network: 0, volume: 0 };
  for (const r of resources) out[r.kind]++;
  return out;
}

/** Resources present in `after` and not in `before`, or the reverse. */
export function resourceChanges(before: readonly LabelledResource[], after: readonly LabelledResource[]): { added: LabelledResource[]; removed: LabelledResource[] } {
  const key = (r: LabelledResource) => `${r.kind}:${r.id}`;
  const b = new Set(before.map(key));
  const a = new Set(after.map(key));
  return { added: after.filter((r) => !b.has(key(r))), removed: before.filter((r) => !a.has(key(r))) };
}
