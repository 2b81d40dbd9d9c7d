// coe image load|list|show — images for clusters that reach no registry (our extension,
// POST /v1/clusters/{ident}/images): a `docker save` archive from the conductor host's image
// directory ([docker] image_dir) is loaded into every node of a swarm or kubernetes cluster.
import { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { ApiError } from '../errors.ts';
import { outputOptions, printList, printOne, withOutputOptions } from '../output.ts';
import { lastEventId, waitFor } from '../wait.ts';
import { seg, withWait } from './common.ts';

export function registerImage(program: Command, ctx: CliContext): void {
  const image = program.command('image').description('node images of swarm and kubernetes clusters: load archives, list what each node has')
    .addHelpText('after', `
Examples (the archive is a file in the conductor host's [docker] image_dir, e.g. made with docker save):
  $ coe image load demo busybox.tar --wait
  $ coe image list demo
`);

  withWait(image.command('load')
    .description('load an image archive into every node of a cluster')
    .argument('<cluster>', 'ID or name of the cluster')
    .argument('<file>', 'archive in the conductor\'s image directory (a relative path)'), 'every node has the image')
    .action(async (ident: string, file: string, o: Record<string, any>, cmd: Command) => {
      const api = ctx.api(cmd);
      const c = await api.get(`/v1/clusters/${seg(ident)}`);
      const after = o.wait ? await lastEventId(api, c.uuid) : 0;
      const load = await api.post(`/v1/clusters/${c.uuid}/images`, { file });
      ctx.io.stdout.write(`Request to load ${file} into cluster ${ident} accepted: ${load.uuid}\n`);
      if (!o.wait) return;
      await waitFor(api, {
        label: `image load ${file} into ${c.name ?? c.uuid}`, clusterUuid: c.uuid, eventsAfter: after, success: 'COMPLETE',
        fetch: async () => {
          try {
            return await api.get(`/v1/clusters/${c.uuid}/images/${load.uuid}`);
          } catch (err) {
            // The load's first event may not be written yet.
            if (err instanceof ApiError && err.status === 404) return { status: 'IN_PROGRESS' };
            throw err;
          }
        },
      }, ctx.waitSettings(o));
    });

  withOutputOptions(image.command('list')
    .description('list the images of every node of a cluster')
    .argument('<cluster>', 'ID or name of the cluster'), 'list')
    .action(async (ident: string, o: Record<string, any>, cmd: Command) => {
      const out = outputOptions(o, ctx.io.env);
      const res = await ctx.api(cmd).get(`/v1/clusters/${seg(ident)}/images`);
      const rows: unknown[][] = [];
      for (const n of res?.nodes ?? []) {
        if (!n.reachable) rows.push([n.address, n.role, null, null, null, false]);
        for (const i of n.images ?? []) rows.push([n.address, n.role, i.name, i.id, i.size, true]);
      }
      printList(ctx.io.stdout, ['node', 'role', 'image', 'id', 'size', 'reachable'], rows, out);
    });

  withOutputOptions(image.command('show')
    .description('show the outcome of an image load, node by node')
    .argument('<cluster>', 'ID or name of the cluster')
    .argument('<load>', 'the UUID `image load` printed'), 'one')
    .action(async (ident: string, load: string, o: Record<string, any>, cmd: Command) => {
      const out = outputOptions(o, ctx.io.env);
      const res = await ctx.api(cmd).get(`/v1/clusters/${seg(ident)}/images/${seg(load)}`);
      const cols = ['uuid', 'cluster_uuid', 'status', 'status_reason', 'nodes'];
      printOne(ctx.io.stdout, cols, cols.map((k) => res?.[k] ?? null), out);
    });
}
