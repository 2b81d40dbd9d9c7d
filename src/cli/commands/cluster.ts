// coe cluster create|delete|list|show|update|resize|upgrade — `openstack coe cluster …` with the
// same arguments, bodies and columns (reference client-calls.md §2.2), plus --wait on the
// operations and --force on delete (our admin extension).
import { Command } from 'commander';
import { query, type ApiClient } from '../api-client.ts';
import type { CliContext } from '../context.ts';
import { ApiError, UsageError } from '../errors.ts';
import { outputOptions, printList, printOne, withOutputOptions } from '../output.ts';
import { buildPatch, parseLabels } from '../patch.ts';
import { lastEventId, waitFor, type WaitTarget } from '../wait.ts';
import { collect, int, seg, withWait } from './common.ts';

export const CLUSTER_ATTRIBUTES = [
  'status', 'health_status', 'cluster_template_id', 'node_addresses', 'uuid', 'stack_id', 'status_reason', 'created_at',
  'updated_at', 'coe_version', 'labels', 'labels_overridden', 'labels_skipped', 'labels_added', 'fixed_network',
  'fixed_subnet', 'floating_ip_enabled', 'faults', 'keypair', 'api_address', 'master_addresses', 'master_lb_enabled',
  'create_timeout', 'node_count', 'discovery_url', 'docker_volume_size', 'master_count', 'container_version', 'name',
  'master_flavor_id', 'flavor_id', 'health_status_reason', 'project_id',
] as const;

export const CLUSTER_LIST_COLUMNS = ['uuid', 'name', 'keypair', 'node_count', 'master_count', 'status', 'health_status'] as const;

/** osc_lib's get_item_properties: the value, or '' when the API does not send the attribute. */
export function properties(obj: Record<string, unknown>, columns: readonly string[]): unknown[] {
  return columns.map((c) => (c in obj ? obj[c] : ''));
}

/** A cluster by name or UUID, or null when the API says 404. */
export async function getCluster(api: ApiClient, ident: string): Promise<Record<string, any> | null> {
  try {
    return await api.get(`/v1/clusters/${seg(ident)}`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

export function clusterTarget(api: ApiClient, c: { uuid: string; name?: string | null }, eventsAfter: number, extra: Partial<WaitTarget> = {}): WaitTarget {
  return {
    label: `cluster ${c.name ?? c.uuid}`,
    clusterUuid: c.uuid,
    eventsAfter,
    fetch: () => getCluster(api, c.uuid),
    ...extra,
  };
}

const EXAMPLES = `
Examples:
  $ coe cluster create demo --cluster-template swarm --master-count 1 --node-count 2 --wait
  $ coe cluster list
  $ coe cluster show demo -c status -c api_address -f value
  $ coe cluster resize demo 3 --wait
  $ coe cluster delete demo --wait
`;

export function registerCluster(program: Command, ctx: CliContext): Command {
  const cluster = program.command('cluster').description('clusters, and their templates, configuration and timeline')
    .addHelpText('after', EXAMPLES);

  withWait(cluster.command('create')
    .description('create a cluster')
    .argument('<name>', 'name of the cluster to create')
    .requiredOption('--cluster-template <cluster-template>', 'ID or name of the cluster template')
    .option('--discovery-url <discovery-url>', 'custom discovery URL for node discovery')
    .option('--docker-volume-size <docker-volume-size>', 'size in GB of each node\'s Docker volume', int)
    .option('--labels <KEY1=VALUE1,KEY2=VALUE2;KEY3=VALUE3...>', 'labels (repeatable, or one comma-separated list)', collect)
    .option('--keypair <keypair>', 'UUID or name of the keypair to use')
    .option('--master-count <master-count>', 'number of master nodes', int, 1)
    .option('--node-count <node-count>', 'number of worker nodes', int, 1)
    .option('--timeout <timeout>', 'timeout for the creation, in minutes', int, 60)
    .option('--master-flavor <master-flavor>', 'flavor of the master nodes')
    .option('--flavor <flavor>', 'flavor of the worker nodes')
    .option('--fixed-network <fixed-network>', 'private network of the cluster')
    .option('--fixed-subnet <fixed-subnet>', 'private subnet of the cluster')
    .option('--floating-ip-enabled', 'the cluster gets floating IPs')
    .option('--floating-ip-disabled', 'the cluster gets no floating IPs')
    .option('--merge-labels', 'merge --labels with the cluster template\'s labels')
    .option('--master-lb-enabled', 'put a load balancer in front of the masters')
    .option('--master-lb-disabled', 'no load balancer for the masters'), 'the cluster is CREATE_COMPLETE')
    .action(async (name: string, o: Record<string, any>, cmd: Command) => {
      if (o.floatingIpEnabled && o.floatingIpDisabled) {
        throw new UsageError('--floating-ip-enabled and --floating-ip-disabled are mutually exclusive and should be specified only once.');
      }
      if (o.masterLbEnabled && o.masterLbDisabled) {
        throw new UsageError('--master-lb-enabled and --master-lb-disabled are mutually exclusive and should be specified only once.');
      }
      if (o.masterLbDisabled && o.masterCount > 1) throw new UsageError('Master node count can only be one if master loadbalancer is disabled.');
      const body: Record<string, unknown> = {
        cluster_template_id: o.clusterTemplate,
        create_timeout: o.timeout,
        discovery_url: o.discoveryUrl ?? null,
        keypair: o.keypair ?? null,
        master_count: o.masterCount,
        name,
        node_count: o.nodeCount,
      };
      if (o.floatingIpEnabled) body.floating_ip_enabled = true;
      if (o.floatingIpDisabled) body.floating_ip_enabled = false;
      if (o.labels) body.labels = parseLabels(o.labels);
      if (o.dockerVolumeSize !== undefined) body.docker_volume_size = o.dockerVolumeSize;
      if (o.masterFlavor !== undefined) body.master_flavor_id = o.masterFlavor;
      if (o.flavor !== undefined) body.flavor_id = o.flavor;
      if (o.fixedNetwork !== undefined) body.fixed_network = o.fixedNetwork;
      if (o.fixedSubnet !== undefined) body.fixed_subnet = o.fixedSubnet;
      if (o.mergeLabels) body.merge_labels = true;
      if (o.masterLbEnabled) body.master_lb_enabled = true;
      if (o.masterLbDisabled) body.master_lb_enabled = false;
      const api = ctx.api(cmd);
      const { uuid } = await api.post<{ uuid: string }>('/v1/clusters', body);
      ctx.io.stdout.write(`Request to create cluster ${uuid} accepted\n`);
      if (o.wait) await waitFor(api, clusterTarget(api, { uuid, name }, 0, { success: 'CREATE_COMPLETE' }), ctx.waitSettings(o));
    });

  withWait(cluster.command('delete')
    .description('delete clusters')
    .argument('<cluster...>', 'ID or name of the cluster(s) to delete')
    .option('--force', 'admins: go on past failing steps and remove the cluster anyway (DELETE ?force=true)'), 'the clusters are gone')
    .action(async (idents: string[], o: Record<string, any>, cmd: Command) => {
      const api = ctx.api(cmd);
      const targets: WaitTarget[] = [];
      for (const ident of idents) {
        let target: WaitTarget | undefined;
        if (o.wait) {
          const c = await getCluster(api, ident);
          if (c) target = clusterTarget(api, c as { uuid: string; name: string }, await lastEventId(api, c.uuid), { untilGone: true });
        }
        await api.delete(`/v1/clusters/${seg(ident)}${o.force ? '?force=true' : ''}`);
        ctx.io.stdout.write(`Request to delete cluster ${ident} has been accepted.\n`);
        if (target) targets.push(target);
      }
      for (const t of targets) await waitFor(api, t, ctx.waitSettings(o));
    });

  withOutputOptions(cluster.command('list')
    .description('list clusters')
    .option('--limit <limit>', 'maximum number of clusters to return', int)
    .option('--sort-key <sort-key>', 'column to sort results by (server side)')
    .option('--sort-dir <sort-dir>', 'direction to sort: asc or desc'), 'list')
    .action(async (o: Record<string, any>, cmd: Command) => {
      const out = outputOptions(o, ctx.io.env);
      if (o.sortDir && !['asc', 'desc'].includes(o.sortDir)) throw new UsageError(`--sort-dir: invalid choice: '${o.sortDir}' (choose from 'desc', 'asc')`);
      const q = query([['limit', o.limit], ['sort_key', o.sortKey], ['sort_dir', o.sortDir]]);
      const items = await ctx.api(cmd).list<Record<string, unknown>>(q ? `/v1/clusters/${q}` : '/v1/clusters', 'clusters', o.limit);
      printList(ctx.io.stdout, CLUSTER_LIST_COLUMNS, items.map((c) => properties(c, CLUSTER_LIST_COLUMNS)), out);
    });

  withOutputOptions(cluster.command('show')
    .description('show a cluster')
    .argument('<cluster>', 'ID or name of the cluster to show'), 'one')
    .action(async (ident: string, o: Record<string, any>, cmd: Command) => {
      const out = outputOptions(o, ctx.io.env);
      const c = await ctx.api(cmd).get(`/v1/clusters/${seg(ident)}`);
      printOne(ctx.io.stdout, CLUSTER_ATTRIBUTES, properties(c, CLUSTER_ATTRIBUTES), out);
    });

  withWait(cluster.command('update')
    .description('update a cluster with JSON-Patch operations (node_count, health_status)')
    .argument('<cluster>', 'the name or UUID of cluster to update')
    .argument('<op>', "operation: 'add', 'replace' or 'remove'")
    .argument('<path=value...>', 'attributes to add/replace or remove (only PATH is necessary on remove)')
    .option('--rollback', 'roll the cluster back if the update fails'), 'the update has finished')
    .addHelpText('after', '\nExample:\n  $ coe cluster update demo replace node_count=3 --wait\n')
    .action(async (ident: string, op: string, attrs: string[], o: Record<string, any>, cmd: Command) => {
      const patch = buildPatch(op, attrs);
      const api = ctx.api(cmd);
      const after = o.wait ? await lastEventId(api, ident) : 0;
      const res = await api.patch<{ uuid: string }>(`/v1/clusters/${seg(ident)}${o.rollback ? '/?rollback=True' : ''}`, patch);
      ctx.io.stdout.write(`Request to update cluster ${ident} has been accepted.\n`);
      if (o.wait) await waitFor(api, clusterTarget(api, { uuid: res?.uuid ?? ident, name: ident }, after), ctx.waitSettings(o));
    });

  withWait(cluster.command('resize')
    .description('resize a cluster (a nodegroup of it)')
    .argument('<cluster>', 'the name or UUID of cluster to resize')
    .argument('<node_count>', 'desired node count of the cluster (of the nodegroup)', int)
    .option('--nodes-to-remove <Server UUID>', 'server ID of a node to remove (repeatable)', collect)
    .option('--nodegroup <nodegroup>', 'the name or UUID of the nodegroup (default: the default worker nodegroup)'), 'the resize has finished')
    .action(async (ident: string, nodeCount: number, o: Record<string, any>, cmd: Command) => {
      const api = ctx.api(cmd);
      const c = await api.get(`/v1/clusters/${seg(ident)}`);
      const after = o.wait ? await lastEventId(api, c.uuid) : 0;
      const body: Record<string, unknown> = { node_count: nodeCount };
      if (o.nodesToRemove) body.nodes_to_remove = o.nodesToRemove;
      if (o.nodegroup) body.nodegroup = o.nodegroup;
      await api.post(`/v1/clusters/${c.uuid}/actions/resize`, body);
      ctx.io.stdout.write(`Request to resize cluster ${ident} has been accepted.\n`);
      if (o.wait) await waitFor(api, clusterTarget(api, c, after), ctx.waitSettings(o));
    });

  withWait(cluster.command('upgrade')
    .description('upgrade a cluster to another cluster template')
    .argument('<cluster>', 'the name or UUID of cluster to upgrade')
    .argument('<cluster_template>', 'the cluster template to upgrade to')
    .option('--max-batch-size <max_batch_size>', 'how many nodes to upgrade at a time', int, 1)
    .option('--nodegroup <nodegroup>', 'the name or UUID of the nodegroup to upgrade'), 'the upgrade has finished')
    .action(async (ident: string, template: string, o: Record<string, any>, cmd: Command) => {
      const api = ctx.api(cmd);
      const c = await api.get(`/v1/clusters/${seg(ident)}`);
      const after = o.wait ? await lastEventId(api, c.uuid) : 0;
      const body: Record<string, unknown> = { cluster_template: template };
      if (o.maxBatchSize) body.max_batch_size = o.maxBatchSize;
      if (o.nodegroup) body.nodegroup = o.nodegroup;
      await api.post(`/v1/clusters/${c.uuid}/actions/upgrade`, body);
      ctx.io.stdout.write(`Request to upgrade cluster ${ident} has been accepted.\n`);
      if (o.wait) await waitFor(api, clusterTarget(api, c, after), ctx.waitSettings(o));
    });

  return cluster;
}
