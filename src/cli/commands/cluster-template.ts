// coe cluster template create|delete|list|show|update — `openstack coe cluster template …`,
// same arguments, request bodies and columns (reference client-calls.md §2.1).
import { Command } from 'commander';
import { query } from '../api-client.ts';
import type { CliContext } from '../context.ts';
import { CommandError, UsageError } from '../errors.ts';
import { outputOptions, printList, printOne, withOutputOptions } from '../output.ts';
import { buildPatch, parseLabels } from '../patch.ts';
import { collect, int, seg } from './common.ts';

export const CLUSTER_TEMPLATE_ATTRIBUTES = [
  'insecure_registry', 'labels', 'updated_at', 'floating_ip_enabled', 'fixed_subnet', 'master_flavor_id', 'uuid',
  'no_proxy', 'https_proxy', 'tls_disabled', 'keypair_id', 'public', 'http_proxy', 'docker_volume_size', 'server_type',
  'external_network_id', 'cluster_distro', 'image_id', 'volume_driver', 'registry_enabled', 'docker_storage_driver',
  'apiserver_port', 'name', 'created_at', 'network_driver', 'fixed_network', 'coe', 'flavor_id', 'master_lb_enabled',
  'dns_nameserver', 'hidden', 'tags',
] as const;

/** The OpenStack client's template view: every attribute, nulls shown as `-`, missing ones empty. */
export function templateView(t: Record<string, unknown>): unknown[] {
  return CLUSTER_TEMPLATE_ATTRIBUTES.map((k) => (k in t ? (t[k] === null ? '-' : t[k]) : ''));
}

const EXAMPLES = `
Examples:
  $ coe cluster template create swarm --coe swarm-mode --image magnum-node:bookworm \\
      --external-network public --flavor m1.small --master-flavor m1.small
  $ coe cluster template list --fields coe,image_id
  $ coe cluster template update swarm replace labels=auto_healing_enabled=true
`;

export function registerClusterTemplate(cluster: Command, ctx: CliContext): void {
  const tmpl = cluster.command('template').description('cluster templates: the shape of clusters (COE, image, flavors, network)')
    .addHelpText('after', EXAMPLES);

  withOutputOptions(tmpl.command('create')
    .description('create a cluster template')
    .argument('<name>', 'name of the cluster template to create')
    .requiredOption('--coe <coe>', 'container orchestration engine: swarm-mode, kubernetes, swarm')
    .requiredOption('--image <image>', 'name or UUID of the node image')
    .requiredOption('--external-network <external-network>', 'external network the cluster API is published on')
    .option('--keypair <keypair>', 'SSH keypair to load into the nodes')
    .option('--fixed-network <fixed-network>', 'private network to connect the nodes to')
    .option('--fixed-subnet <fixed-subnet>', 'private subnet (a CIDR here) for the nodes')
    .option('--network-driver <network-driver>', 'container network driver (swarm-mode: docker, flannel)')
    .option('--volume-driver <volume-driver>', 'container volume driver')
    .option('--dns-nameserver <dns-nameserver>', 'DNS nameserver of the nodes', '8.8.8.8')
    .option('--flavor <flavor>', 'flavor of the worker nodes', 'm1.medium')
    .option('--master-flavor <master-flavor>', 'flavor of the master nodes')
    .option('--docker-volume-size <docker-volume-size>', 'size in GB of each node\'s Docker volume', int)
    .option('--docker-storage-driver <docker-storage-driver>', 'Docker storage driver (devicemapper, overlay, overlay2)', 'overlay2')
    .option('--http-proxy <http-proxy>', 'http_proxy for the nodes')
    .option('--https-proxy <https-proxy>', 'https_proxy for the nodes')
    .option('--no-proxy <no-proxy>', 'no_proxy for the nodes')
    .option('--labels <KEY1=VALUE1,KEY2=VALUE2;KEY3=VALUE3...>', 'labels (repeatable, or one comma-separated list)', collect)
    .option('--tls-disabled', 'disable TLS in the clusters')
    .option('--public', 'make the cluster template public (admins)')
    .option('--registry-enabled', 'enable a docker registry in the clusters')
    .option('--server-type <server-type>', 'server type', 'vm')
    .option('--master-lb-enabled', 'give clusters a load balancer for the masters')
    .option('--floating-ip-enabled', 'clusters get floating IPs')
    .option('--floating-ip-disabled', 'clusters get no floating IPs')
    .option('--hidden', 'hide the cluster template (admins)')
    .option('--visible', 'make the cluster template visible')
    .option('--tags <--tags tag1 --tags tag2,tag3>', 'tags (repeatable, or comma-separated)', collect), 'one')
    .action(async (name: string, o: Record<string, any>, cmd: Command) => {
      const out = outputOptions(o, ctx.io.env);
      if (o.floatingIpEnabled && o.floatingIpDisabled) {
        throw new UsageError('--floating-ip-enabled and --floating-ip-disabled are mutually exclusive and should be specified only once.');
      }
      const body: Record<string, unknown> = {
        name,
        image_id: o.image,
        keypair_id: o.keypair ?? null,
        external_network_id: o.externalNetwork,
        coe: o.coe,
        fixed_network: o.fixedNetwork ?? null,
        fixed_subnet: o.fixedSubnet ?? null,
        network_driver: o.networkDriver ?? null,
        volume_driver: o.volumeDriver ?? null,
        dns_nameserver: o.dnsNameserver,
        flavor_id: o.flavor,
        master_flavor_id: o.masterFlavor ?? null,
        docker_volume_size: o.dockerVolumeSize ?? null,
        docker_storage_driver: o.dockerStorageDriver,
        http_proxy: o.httpProxy ?? null,
        https_proxy: o.httpsProxy ?? null,
        // commander turns --no-proxy into a negation unless it takes a value: read it by hand.
        no_proxy: typeof o.proxy === 'string' ? o.proxy : null,
        labels: parseLabels(o.labels),
        tls_disabled: Boolean(o.tlsDisabled),
        public: Boolean(o.public),
        registry_enabled: Boolean(o.registryEnabled),
        server_type: o.serverType,
        master_lb_enabled: Boolean(o.masterLbEnabled),
      };
      if (o.hidden && !o.visible) body.hidden = true;
      if (o.tags?.length) body.tags = [...new Set((o.tags as string[]).join(',').split(','))].join(',');
      if (o.floatingIpEnabled) body.floating_ip_enabled = true;
      if (o.floatingIpDisabled) body.floating_ip_enabled = false;
      if (['devicemapper', 'overlay'].includes(o.dockerStorageDriver)) {
        ctx.io.stderr.write("WARNING: Docker storage drivers ['devicemapper', 'overlay'] are deprecated and will be removed in a future release. Use overlay2 instead.\n");
      }
      const t = await ctx.api(cmd).post('/v1/clustertemplates', body);
      // The OpenStack client prints this line before the table; keep machine formats clean.
      (out.format === 'table' ? ctx.io.stdout : ctx.io.stderr).write(`Request to create cluster template ${name} accepted\n`);
      printOne(ctx.io.stdout, CLUSTER_TEMPLATE_ATTRIBUTES, templateView(t), out);
    });

  tmpl.command('delete')
    .description('delete cluster templates')
    .argument('<cluster-templates...>', 'ID or name of the cluster template(s) to delete')
    .action(async (idents: string[], _o: unknown, cmd: Command) => {
      const api = ctx.api(cmd);
      let failed = 0;
      for (const ident of idents) {
        try {
          await api.delete(`/v1/clustertemplates/${seg(ident)}`);
          ctx.io.stdout.write(`Request to delete cluster template ${ident} has been accepted.\n`);
        } catch (err) {
          if (!(err instanceof CommandError)) throw err;
          failed++;
          ctx.io.stderr.write(`Delete for cluster template ${ident} failed: ${'describe' in err ? (err as any).describe() : err.message}\n`);
        }
      }
      if (failed) throw new CommandError(`${failed} of ${idents.length} cluster template(s) could not be deleted.`);
    });

  withOutputOptions(tmpl.command('list')
    .description('list cluster templates')
    .option('--limit <limit>', 'maximum number of cluster templates to return', int)
    .option('--sort-key <sort-key>', 'column to sort results by (server side)')
    .option('--sort-dir <sort-dir>', 'direction to sort: asc or desc')
    .option('--fields <fields>', 'comma-separated extra fields to show: coe, image_id, public, server_type, tls_disabled, registry_enabled, …'), 'list')
    .action(async (o: Record<string, any>, cmd: Command) => {
      const out = outputOptions(o, ctx.io.env);
      if (o.sortDir && !['asc', 'desc'].includes(o.sortDir)) throw new UsageError(`--sort-dir: invalid choice: '${o.sortDir}' (choose from 'desc', 'asc')`);
      const columns = ['uuid', 'name', 'tags', ...(o.fields ? String(o.fields).split(',') : [])];
      const q = query([['limit', o.limit], ['sort_key', o.sortKey], ['sort_dir', o.sortDir]]);
      const items = await ctx.api(cmd).list<Record<string, unknown>>(q ? `/v1/clustertemplates/${q}` : '/v1/clustertemplates', 'clustertemplates', o.limit);
      printList(ctx.io.stdout, columns, items.map((t) => columns.map((c) => (c in t ? t[c] : ''))), out);
    });

  withOutputOptions(tmpl.command('show')
    .description('show a cluster template')
    .argument('<cluster-template>', 'ID or name of the cluster template to show'), 'one')
    .action(async (ident: string, o: Record<string, any>, cmd: Command) => {
      const out = outputOptions(o, ctx.io.env);
      const t = await ctx.api(cmd).get(`/v1/clustertemplates/${seg(ident)}`);
      printOne(ctx.io.stdout, CLUSTER_TEMPLATE_ATTRIBUTES, templateView(t), out);
    });

  withOutputOptions(tmpl.command('update')
    .description('update a cluster template with JSON-Patch operations')
    .argument('<cluster-template>', 'the name or UUID of cluster template to update')
    .argument('<op>', "operation: 'add', 'replace' or 'remove'")
    .argument('<path=value...>', 'attributes to add/replace or remove (only PATH is necessary on remove)'), 'one')
    .addHelpText('after', '\nExample:\n  $ coe cluster template update swarm replace labels=a=b,c=d docker_volume_size=5\n')
    .action(async (ident: string, op: string, attrs: string[], o: Record<string, any>, cmd: Command) => {
      const out = outputOptions(o, ctx.io.env);
      const t = await ctx.api(cmd).patch(`/v1/clustertemplates/${seg(ident)}`, buildPatch(op, attrs));
      printOne(ctx.io.stdout, CLUSTER_TEMPLATE_ATTRIBUTES, templateView(t), out);
    });
}
