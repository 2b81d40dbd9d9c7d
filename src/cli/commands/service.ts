// coe service … — two things share the name, as in Magnum's history:
//  - `coe service list` with no --cluster is `openstack coe service list`: Magnum's own services
//    (GET /v1/mservices, admins);
//  - with --cluster, and create/show/update/delete: Swarm services on a swarm-mode cluster
//    (/v1/services, Compose-style manifests: image, command, replicas, ports, environment, …).
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { query } from '../api-client.ts';
import type { CliContext } from '../context.ts';
import { UsageError } from '../errors.ts';
import { outputOptions, printList, printOne, withOutputOptions } from '../output.ts';
import { buildPatch } from '../patch.ts';
import { properties } from './cluster.ts';
import { int, seg } from './common.ts';

export const MSERVICE_COLUMNS = ['id', 'host', 'binary', 'state', 'disabled', 'disabled_reason', 'created_at', 'updated_at'] as const;
export const SERVICE_LIST_COLUMNS = ['uuid', 'name', 'cluster_uuid', 'image', 'replicas', 'endpoints'] as const;
export const SERVICE_LONG_COLUMNS = [...SERVICE_LIST_COLUMNS, 'status', 'running_replicas', 'update_status'] as const;
export const POD_LIST_COLUMNS = ['uuid', 'name', 'cluster_uuid', 'images', 'labels'] as const;
export const POD_LONG_COLUMNS = [...POD_LIST_COLUMNS, 'status', 'host'] as const;

function showView(s: Record<string, unknown>): [string[], unknown[]] {
  const keys = Object.keys(s).filter((k) => k !== 'links');
  return [keys, keys.map((k) => s[k])];
}

function readManifest(ctx: CliContext, file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : resolve(ctx.io.cwd, file), 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the manifest ${file}: ${(err as Error).message}`);
  }
}

const MANIFEST_HELP = `
A manifest is a Compose-style service definition (YAML or JSON), for example:
  image: nginx:1.25
  replicas: 2
  ports: ["8080:80"]
  environment: {TZ: UTC}
  constraints: ["node.role==worker"]
A Compose file with exactly one service is accepted too (the service's key is its name).
`;

export function registerService(program: Command, ctx: CliContext): void {
  const service = program.command('service').description('Magnum services (service list), and Swarm services on swarm-mode clusters')
    .addHelpText('after', `
Examples:
  $ coe service list                                   # Magnum's conductors (openstack coe service list)
  $ coe service create --cluster demo --manifest web.yaml --name web
  $ coe service list --cluster demo
  $ coe service update web --manifest web-v2.yaml
  $ coe service delete web
${MANIFEST_HELP}`);

  withOutputOptions(service.command('list')
    .description('without --cluster: list Magnum services (conductors); with it: the Swarm services of a cluster')
    .option('--cluster <cluster>', 'list the Swarm services of this cluster')
    .option('--long', 'Swarm services: also their live status and replicas (asks the cluster)')
    .option('--limit <limit>', 'Swarm services: maximum number to return', int)
    .option('--marker <uuid>', 'Swarm services: the last UUID of the previous page'), 'list')
    .action(async (o: Record<string, any>, cmd: Command) => {
      const out = outputOptions(o, ctx.io.env);
      const api = ctx.api(cmd);
      if (!o.cluster) {
        const items = await api.list<Record<string, unknown>>('/v1/mservices', 'mservices');
        printList(ctx.io.stdout, MSERVICE_COLUMNS, items.map((s) => properties(s, MSERVICE_COLUMNS)), out);
        return;
      }
      const q = query([['limit', o.limit], ['marker', o.marker], ['cluster_ident', o.cluster]]);
      const columns = o.long ? SERVICE_LONG_COLUMNS : SERVICE_LIST_COLUMNS;
      const items = await api.list<Record<string, unknown>>(`/v1/services${o.long ? '/detail' : ''}${q}`, 'services', o.limit);
      printList(ctx.io.stdout, columns, items.map((s) => properties(s, columns)), out);
    });

  withOutputOptions(service.command('create')
    .description('create a Swarm service on a swarm-mode cluster')
    .requiredOption('--cluster <cluster>', 'ID or name of the cluster')
    .requiredOption('--manifest <file>', 'the service definition (Compose-style YAML or JSON; - for stdin)')
    .option('--name <name>', 'name of the service (default: the manifest\'s)'), 'one')
    .addHelpText('after', MANIFEST_HELP)
    .action(async (o: Record<string, any>, cmd: Command) => {
      const out = outputOptions(o, ctx.io.env);
      const body: Record<string, unknown> = { cluster_uuid: o.cluster, manifest: readManifest(ctx, o.manifest) };
      if (o.name !== undefined) body.name = o.name;
      printOne(ctx.io.stdout, ...showView(await ctx.api(cmd).post('/v1/services', body)), out);
    });

  withOutputOptions(service.command('show')
    .description('show a Swarm service (replicas and tasks are read from the cluster)')
    .argument('<service>', 'ID or name of the service')
    .option('--cluster <cluster>', 'the cluster, when the name is used in several'), 'one')
    .action(async (ident: string, o: Record<string, any>, cmd: Command) => {
      const out = outputOptions(o, ctx.io.env);
      printOne(ctx.io.stdout, ...showView(await ctx.api(cmd).get(`/v1/services/${seg(ident)}${query([['cluster_ident', o.cluster]])}`)), out);
    });

  withOutputOptions(service.command('update')
    .description('update a Swarm service: a new manifest, or JSON-Patch operations on it')
    .argument('<service>', 'ID or name of the service')
    .argument('[op]', "with PATH=VALUE arguments: 'add', 'replace' or 'remove'")
    .argument('[path=value...]', 'e.g. manifest/replicas=3')
    .option('--manifest <file>', 'replace the whole definition (Compose-style YAML or JSON; - for stdin)')
    .option('--cluster <cluster>', 'the cluster, when the name is used in several'), 'one')
    .action(async (ident: string, op: string | undefined, attrs: string[], o: Record<string, any>, cmd: Command) => {
      const out = outputOptions(o, ctx.io.env);
      if (o.manifest && op) throw new UsageError('give either --manifest or JSON-Patch operations, not both');
      if (!o.manifest && (!op || !attrs.length)) throw new UsageError('give --manifest FILE, or an operation and PATH=VALUE arguments');
      const patch = o.manifest ? [{ op: 'replace', path: '/manifest', value: readManifest(ctx, o.manifest) }] : buildPatch(op!, attrs);
      printOne(ctx.io.stdout, ...showView(await ctx.api(cmd).patch(`/v1/services/${seg(ident)}${query([['cluster_ident', o.cluster]])}`, patch)), out);
    });

  service.command('delete')
    .description('delete Swarm services')
    .argument('<service...>', 'ID or name of the service(s)')
    .option('--cluster <cluster>', 'the cluster, when a name is used in several')
    .action(async (idents: string[], o: Record<string, any>, cmd: Command) => {
      const api = ctx.api(cmd);
      for (const ident of idents) {
        await api.delete(`/v1/services/${seg(ident)}${query([['cluster_ident', o.cluster]])}`);
        ctx.io.stdout.write(`Request to delete service ${ident} has been accepted.\n`);
      }
    });
}

/** coe pod … — Kubernetes pods on kubernetes clusters (/v1/pods, Magnum 2015's pods). */
export function registerPod(program: Command, ctx: CliContext): void {
  const pod = program.command('pod').description('Kubernetes pods on kubernetes clusters')
    .addHelpText('after', `
Examples:
  $ coe pod create --cluster k8s --manifest pod.yaml
  $ coe pod list --cluster k8s
  $ coe pod delete web
`);

  withOutputOptions(pod.command('list')
    .description('list pods')
    .option('--cluster <cluster>', 'only the pods of this cluster')
    .option('--long', 'also their live status and node (asks the cluster)')
    .option('--limit <limit>', 'maximum number to return', int)
    .option('--marker <uuid>', 'the last UUID of the previous page'), 'list')
    .action(async (o: Record<string, any>, cmd: Command) => {
      const out = outputOptions(o, ctx.io.env);
      const q = query([['limit', o.limit], ['marker', o.marker], ['cluster_ident', o.cluster]]);
      const columns = o.long ? POD_LONG_COLUMNS : POD_LIST_COLUMNS;
      const items = await ctx.api(cmd).list<Record<string, unknown>>(`/v1/pods${o.long ? '/detail' : ''}${q}`, 'pods', o.limit);
      printList(ctx.io.stdout, columns, items.map((p) => properties(p, columns)), out);
    });

  withOutputOptions(pod.command('create')
    .description('create a pod from a Kubernetes manifest')
    .requiredOption('--cluster <cluster>', 'ID or name of the cluster')
    .requiredOption('--manifest <file>', 'the Pod manifest (YAML or JSON; - for stdin)'), 'one')
    .action(async (o: Record<string, any>, cmd: Command) => {
      const out = outputOptions(o, ctx.io.env);
      printOne(ctx.io.stdout, ...showView(await ctx.api(cmd).post('/v1/pods', { cluster_uuid: o.cluster, manifest: readManifest(ctx, o.manifest) })), out);
    });

  withOutputOptions(pod.command('show')
    .description('show a pod')
    .argument('<pod>', 'ID or name of the pod')
    .option('--cluster <cluster>', 'the cluster, when the name is used in several'), 'one')
    .action(async (ident: string, o: Record<string, any>, cmd: Command) => {
      const out = outputOptions(o, ctx.io.env);
      printOne(ctx.io.stdout, ...showView(await ctx.api(cmd).get(`/v1/pods/${seg(ident)}${query([['cluster_ident', o.cluster]])}`)), out);
    });

  withOutputOptions(pod.command('update')
    .description('update a pod with JSON-Patch operations on its manifest')
    .argument('<pod>', 'ID or name of the pod')
    .argument('<op>', "operation: 'add', 'replace' or 'remove'")
    .argument('<path=value...>', 'e.g. manifest/metadata/labels/tier=web')
    .option('--cluster <cluster>', 'the cluster, when the name is used in several'), 'one')
    .action(async (ident: string, op: string, attrs: string[], o: Record<string, any>, cmd: Command) => {
      const out = outputOptions(o, ctx.io.env);
      printOne(ctx.io.stdout, ...showView(await ctx.api(cmd).patch(`/v1/pods/${seg(ident)}${query([['cluster_ident', o.cluster]])}`, buildPatch(op, attrs))), out);
    });

  pod.command('delete')
    .description('delete pods')
    .argument('<pod...>', 'ID or name of the pod(s)')
    .option('--cluster <cluster>', 'the cluster, when a name is used in several')
    .action(async (idents: string[], o: Record<string, any>, cmd: Command) => {
      const api = ctx.api(cmd);
      for (const ident of idents) {
        await api.delete(`/v1/pods/${seg(ident)}${query([['cluster_ident', o.cluster]])}`);
        ctx.io.stdout.write(`Request to delete pod ${ident} has been accepted.\n`);
      }
    });
}
