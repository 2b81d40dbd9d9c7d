// coe quotas create|update|show|delete|list and coe stats list — `openstack coe quotas …` /
// `openstack coe stats list` (reference client-calls.md §2.5). The OpenStack client prints these
// as `Property | Value` tables and swallows errors (exit 0); `coe` prints the same table, adds
// -f json/yaml/value, and exits 1 when the server refuses.
import { Command } from 'commander';
import { query } from '../api-client.ts';
import type { CliContext } from '../context.ts';
import { ApiError, CommandError, UsageError } from '../errors.ts';
import { outputOptions, printDict, printList, withOutputOptions } from '../output.ts';
import { int, seg } from './common.ts';

export const QUOTA_LIST_COLUMNS = ['project_id', 'resource', 'hard_limit'] as const;

function failed(what: string, err: unknown): never {
  if (err instanceof ApiError) throw new CommandError(`${what} failed: ${err.describe()}`);
  throw err;
}

export function registerQuotas(program: Command, ctx: CliContext): void {
  const quotas = program.command('quotas').description('per-project limits on clusters (admins)')
    .addHelpText('after', `
Examples:
  $ coe quotas create --project-id 2ce1c9a3399940c4a1f133e1eb3aa080 --resource Cluster --hard-limit 5
  $ coe quotas list --all-tenants
`);
  const target = (c: Command) => c
    .requiredOption('--project-id <project-id>', 'project ID')
    .requiredOption('--resource <resource>', 'resource name (Cluster)');

  withOutputOptions(target(quotas.command('create').description('create a quota'))
    .option('--hard-limit <hard-limit>', 'max resource limit', int, 1), 'one')
    .action(async (o: Record<string, any>, cmd: Command) => {
      const out = outputOptions(o, ctx.io.env);
      const q = await ctx.api(cmd).post('/v1/quotas', { project_id: o.projectId, resource: o.resource, hard_limit: o.hardLimit })
        .catch((e) => failed(`Create quota for project_id ${o.projectId} resource ${o.resource}`, e));
      printDict(ctx.io.stdout, q, out);
    });

  withOutputOptions(target(quotas.command('update').description('update a quota'))
    .option('--hard-limit <hard-limit>', 'max resource limit', int, 1), 'one')
    .action(async (o: Record<string, any>, cmd: Command) => {
      const out = outputOptions(o, ctx.io.env);
      const q = await ctx.api(cmd).patch(`/v1/quotas/${seg(o.projectId)}/${seg(o.resource)}`, { project_id: o.projectId, resource: o.resource, hard_limit: o.hardLimit })
        .catch((e) => failed(`Update quota for project_id ${o.projectId} resource ${o.resource}`, e));
      printDict(ctx.io.stdout, q, out);
    });

  withOutputOptions(target(quotas.command('show').description('show a project\'s quota of a resource')), 'one')
    .action(async (o: Record<string, any>, cmd: Command) => {
      const out = outputOptions(o, ctx.io.env);
      printDict(ctx.io.stdout, await ctx.api(cmd).get(`/v1/quotas/${seg(o.projectId)}/${seg(o.resource)}`), out);
    });

  target(quotas.command('delete').description('delete a quota'))
    .action(async (o: Record<string, any>, cmd: Command) => {
      await ctx.api(cmd).delete(`/v1/quotas/${seg(o.projectId)}/${seg(o.resource)}`)
        .catch((e) => failed(`Quota delete for project id ${o.projectId} and resource ${o.resource}`, e));
      ctx.io.stdout.write(`Request to delete quota for project id ${o.projectId} and resource ${o.resource} has been accepted.\n`);
    });

  withOutputOptions(quotas.command('list')
    .description('list quotas')
    .option('--marker <marker>', 'the last quota ID of the previous page')
    .option('--limit <limit>', 'maximum number of quotas to return', int)
    .option('--sort-key <sort-key>', 'column to sort results by (server side)')
    .option('--sort-dir <sort-dir>', 'direction to sort: asc or desc')
    .option('--all-tenants', 'list the quotas of all projects'), 'list')
    .action(async (o: Record<string, any>, cmd: Command) => {
      const out = outputOptions(o, ctx.io.env);
      if (o.sortDir && !['asc', 'desc'].includes(o.sortDir)) throw new UsageError(`--sort-dir: invalid choice: '${o.sortDir}' (choose from 'desc', 'asc')`);
      const q = query([['limit', o.limit], ['marker', o.marker], ['sort_key', o.sortKey], ['sort_dir', o.sortDir], ['all_tenants', o.allTenants ? 'True' : undefined]]);
      const items = await ctx.api(cmd).list<Record<string, unknown>>(`/v1/quotas${q}`, 'quotas', o.limit);
      printList(ctx.io.stdout, QUOTA_LIST_COLUMNS, items.map((x) => QUOTA_LIST_COLUMNS.map((c) => x[c] ?? null)), out);
    });

  const stats = program.command('stats').description('cluster and node counts of a project');
  withOutputOptions(stats.command('list')
    .description('show the number of clusters and nodes of a project')
    .argument('<project>', 'project ID'), 'one')
    .action(async (project: string, o: Record<string, any>, cmd: Command) => {
      const out = outputOptions(o, ctx.io.env);
      printDict(ctx.io.stdout, await ctx.api(cmd).get(`/v1/stats${query([['project_id', project]])}`), out);
    });
}
