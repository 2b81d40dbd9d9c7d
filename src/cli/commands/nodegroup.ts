// coe nodegroup create|delete|list|show|update — `openstack coe nodegroup …` (reference
// client-calls.md §2.4), plus --wait on create and delete.
import { Command } from 'commander';
import { query, type ApiClient } from '../api-client.ts';
import type { CliContext } from '../context.ts';
import { ApiError, UsageError } from '../errors.ts';
import { outputOptions, printList, printOne, withOutputOptions } from '../output.ts';
import { buildPatch, parseLabels } from '../patch.ts';
import { lastEventId, waitFor } from '../wait.ts';
import { properties } from './cluster.ts';
import { collect, int, seg, withWait } from './common.ts';

export const NODEGROUP_ATTRIBUTES = [
  'uuid', 'name', 'cluster_id', 'project_id', 'docker_volume_size', 'labels', 'labels_overridden', 'labels_skipped',
  'labels_added', 'flavor_id', 'image_id', 'node_addresses', 'node_count', 'role', 'max_node_count', 'min_node_count',
  'is_default', 'stack_id', 'status', 'status_reason',
] as const;

export const NODEGROUP_LIST_COLUMNS = ['uuid', 'name', 'flavor_id', 'image_id', 'node_count', 'status', 'role'] as const;

async function getNodegroup(api: ApiClient, cluster: string, ng: string): Promise<Record<string, any> | null> {
  try {
    return await api.get(`/v1/clusters/${seg(cluster)}/nodegroups/${seg(ng)}`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

export function registerNodegroup(program: Command, ctx: CliContext): void {
  const ng = program.command('nodegroup').description('nodegroups: sets of nodes of a cluster with their own flavor, image, labels and size')
    .addHelpText('after', `
Examples:
  $ coe nodegroup create demo batch --node-count 2 --labels tier=batch --wait
  $ coe nodegroup list demo
  $ coe nodegroup update demo batch replace max_node_count=5
  $ coe cluster resize demo 3 --nodegroup batch --wait
`);

  withWait(ng.command('create')
    .description('create a nodegroup')
    .argument('<cluster>', 'ID or name of the cluster')
    .argument('<name>', 'name of the nodegroup to create')
    .option('--docker-volume-size <docker-volume-size>', 'size in GB of each node\'s Docker volume', int)
    .option('--labels <KEY1=VALUE1,KEY2=VALUE2;KEY3=VALUE3...>', 'labels (repeatable, or one comma-separated list)', collect)
    .option('--node-count <node-count>', 'the nodegroup node count', int, 1)
    .option('--min-nodes <min-nodes>', 'the nodegroup minimum node count', int, 0)
    .option('--max-nodes <max-nodes>', 'the nodegroup maximum node count', int)
    .option('--role <role>', 'the role of the nodegroup', 'worker')
    .option('--image <image>', 'name or UUID of the node image')
    .option('--flavor <flavor>', 'flavor of the nodes')
    .option('--merge-labels', 'merge --labels with the cluster\'s labels'), 'the nodegroup is CREATE_COMPLETE')
    .action(async (cluster: string, name: string, o: Record<string, any>, cmd: Command) => {
      const body: Record<string, unknown> = {
        name,
        node_count: o.nodeCount,
        max_node_count: o.maxNodes ?? null,
        min_node_count: o.minNodes,
        role: o.role,
      };
      if (o.labels) body.labels = parseLabels(o.labels);
      if (o.dockerVolumeSize !== undefined) body.docker_volume_size = o.dockerVolumeSize;
      if (o.flavor !== undefined) body.flavor_id = o.flavor;
      if (o.image !== undefined) body.image_id = o.image;
      if (o.mergeLabels) body.merge_labels = true;
      const api = ctx.api(cmd);
      let c: Record<string, any> | undefined;
      let after = 0;
      if (o.wait) {
        c = await api.get(`/v1/clusters/${seg(cluster)}`);
        after = await lastEventId(api, c!.uuid);
      }
      const created = await api.post(`/v1/clusters/${seg(cluster)}/nodegroups/`, body);
      ctx.io.stdout.write(`Request to create nodegroup ${created.uuid} accepted\n`);
      if (o.wait && c) {
        await waitFor(api, {
          label: `nodegroup ${name} of ${c.name}`, clusterUuid: c.uuid, eventsAfter: after, success: 'CREATE_COMPLETE',
          fetch: () => getNodegroup(api, c!.uuid, created.uuid),
        }, ctx.waitSettings(o));
      }
    });

  withWait(ng.command('delete')
    .description('delete nodegroups')
    .argument('<cluster>', 'ID or name of the cluster where the nodegroup(s) belong(s)')
    .argument('<nodegroup...>', 'ID or name of the nodegroup(s) to delete'), 'the nodegroups are gone')
    .action(async (cluster: string, ngs: string[], o: Record<string, any>, cmd: Command) => {
      const api = ctx.api(cmd);
      const c = o.wait ? await api.get(`/v1/clusters/${seg(cluster)}`) : undefined;
      const waits: { name: string; uuid: string; after: number }[] = [];
      for (const n of ngs) {
        if (c) {
          const found = await getNodegroup(api, c.uuid, n);
          if (found) waits.push({ name: found.name, uuid: found.uuid, after: await lastEventId(api, c.uuid) });
        }
        await api.delete(`/v1/clusters/${seg(cluster)}/nodegroups/${seg(n)}`);
        ctx.io.stdout.write(`Request to delete nodegroup ${n} has been accepted.\n`);
      }
      for (const w of waits) {
        await waitFor(api, {
          label: `nodegroup ${w.name} of ${c!.name}`, clusterUuid: c!.uuid, eventsAfter: w.after, untilGone: true,
          fetch: () => getNodegroup(api, c!.uuid, w.uuid),
        }, ctx.waitSettings(o));
      }
    });

  withOutputOptions(ng.command('list')
    .description('list the nodegroups of a cluster')
    .argument('<cluster>', 'ID or name of the cluster')
    .option('--limit <limit>', 'maximum number of nodegroups to return', int)
    .option('--sort-key <sort-key>', 'column to sort results by (server side)')
    .option('--sort-dir <sort-dir>', 'direction to sort: asc or desc')
    .option('--role <role>', 'only the nodegroups with this role'), 'list')
    .action(async (cluster: string, o: Record<string, any>, cmd: Command) => {
      const out = outputOptions(o, ctx.io.env);
      if (o.sortDir && !['asc', 'desc'].includes(o.sortDir)) throw new UsageError(`--sort-dir: invalid choice: '${o.sortDir}' (choose from 'desc', 'asc')`);
      const q = query([['limit', o.limit], ['sort_key', o.sortKey], ['sort_dir', o.sortDir], ['role', o.role]]);
      const items = await ctx.api(cmd).list<Record<string, unknown>>(`/v1/clusters/${seg(cluster)}/nodegroups/${q}`, 'nodegroups', o.limit);
      printList(ctx.io.stdout, NODEGROUP_LIST_COLUMNS, items.map((n) => properties(n, NODEGROUP_LIST_COLUMNS)), out);
    });

  withOutputOptions(ng.command('show')
    .description('show a nodegroup')
    .argument('<cluster>', 'ID or name of the cluster')
    .argument('<nodegroup>', 'ID or name of the nodegroup to show'), 'one')
    .action(async (cluster: string, n: string, o: Record<string, any>, cmd: Command) => {
      const out = outputOptions(o, ctx.io.env);
      const found = await ctx.api(cmd).get(`/v1/clusters/${seg(cluster)}/nodegroups/${seg(n)}`);
      printOne(ctx.io.stdout, NODEGROUP_ATTRIBUTES, properties(found, NODEGROUP_ATTRIBUTES), out);
    });

  ng.command('update')
    .description('update a nodegroup with JSON-Patch operations (min_node_count, max_node_count)')
    .argument('<cluster>', 'ID or name of the cluster')
    .argument('<nodegroup>', 'the name or UUID of the nodegroup to update')
    .argument('<op>', "operation: 'add', 'replace' or 'remove'")
    .argument('<path=value...>', 'attributes to add/replace or remove (only PATH is necessary on remove)')
    .action(async (cluster: string, n: string, op: string, attrs: string[], _o: unknown, cmd: Command) => {
      await ctx.api(cmd).patch(`/v1/clusters/${seg(cluster)}/nodegroups/${seg(n)}`, buildPatch(op, attrs));
      ctx.io.stdout.write(`Request to update nodegroup ${n} has been accepted.\n`);
    });
}
