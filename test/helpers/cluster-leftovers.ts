// What a cluster left on the local Docker host: containers, networks and volumes labelled
// magnum.cluster=<uuid>; and the last-resort removal of them after a failed test.
import { runCommand } from './processes.ts';

const ENV = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: process.env.HOME ?? '/root' };
const lines = (s: string) => s.split('\n').map((l) => l.trim()).filter(Boolean);

async function docker(args: string[]): Promise<string> {
  const r = await runCommand('docker', args, { env: ENV, timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** Containers, networks and volumes labelled for the cluster, as "kind name". */
export async function labelled(uuid: string): Promise<string[]> {
  const f = `label=magnum.cluster=${uuid}`;
  const [c, n, v] = await Promise.all([
    docker(['ps', '-a', '--filter', f, '--format', '{{.Names}}']),
    docker(['network', 'ls', '--filter', f, '--format', '{{.Name}}']),
    docker(['volume', 'ls', '--filter', f, '--format', '{{.Name}}']),
  ]);
  return [...lines(c).map((x) => `container ${x}`), ...lines(n).map((x) => `network ${x}`), ...lines(v).map((x) => `volume ${x}`)];
}

/** Last resort after a failed test: remove what is still labelled for one of our clusters. */
export async function removeLabelled(uuid: string): Promise<void> {
  const f = `label=magnum.cluster=${uuid}`;
  const ids = async (args: string[]) => lines(await docker([...args, '--filter', f]).catch(() => ''));
  const c = await ids(['ps', '-aq']);
  if (c.length) await docker(['rm', '--force', '--volumes', ...c]).catch(() => '');
  const v = await ids(['volume', 'ls', '-q']);
  if (v.length) await docker(['volume', 'rm', '--force', ...v]).catch(() => '');
  const n = await ids(['network', 'ls', '-q']);
  if (n.length) await docker(['network', 'rm', ...n]).catch(() => '');
}
