// coe container … — containers on swarm and swarm-mode clusters (/v1/containers: Magnum 2015's
// containers API with our additions: CPU limits, published ports, restart policies, logs with
// tail/since, execute with the exit status). The OpenStack client has no such commands.
import { Command } from 'commander';
import { query } from '../api-client.ts';
import type { CliContext } from '../context.ts';
import { CommandError, UsageError } from '../errors.ts';
import { outputOptions, printList, printOne, withOutputOptions } from '../output.ts';
import { buildPatch } from '../patch.ts';
import { properties } from './cluster.ts';
import { collect, int, positiveNumber, seg } from './common.ts';

export const CONTAINER_LIST_COLUMNS = ['uuid', 'name', 'image', 'command', 'status', 'cluster_uuid'] as const;
export const CONTAINER_LONG_COLUMNS = [...CONTAINER_LIST_COLUMNS, 'host', 'ports', 'published_ports', 'memory', 'cpu', 'restart_policy'] as const;

function showView(c: Record<string, unknown>): [string[], unknown[]] {
  const keys = Object.keys(c).filter((k) => k !== 'links');
  return [keys, keys.map((k) => c[k])];
}

function parseEnv(items: string[] | undefined): Record<string, string> | undefined {
  if (!items?.length) return undefined;
  const env: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`--environment takes KEY=VALUE, not ${item}`);
    env[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return env;
}

export function registerContainer(program: Command, ctx: CliContext): void {
  const container = program.command('container').description('containers on swarm and swarm-mode clusters')
    .addHelpText('after', `
Examples:
  $ coe container create --cluster demo --image nginx:1.25 --name web --port 8080:80 --start
  $ coe container list --cluster demo
  $ coe container logs web --tail 20
  $ coe container exec web -- nginx -v
  $ coe container stop web && coe container delete web
Images must be on the cluster's nodes or pullable by them; see \`coe image load\`.
`);

  withOutputOptions(container.command('create')
    .description('create a container on a cluster (stopped, unless --start)')
    .requiredOption('--cluster <cluster>', 'ID or name of the (swarm or swarm-mode) cluster')
    .requiredOption('--image <image>', 'Docker image, repository[:tag]')
    .option('--name <name>', 'name of the container')
    .option('--command <command>', 'command to run (split like a shell does)')
    .option('--memory <memory>', 'memory limit, <number>[b|k|m|g]')
    .option('--cpu <cpus>', 'CPU limit, in CPUs (0.5, 2)', positiveNumber)
    .option('--environment <KEY=VALUE>', 'environment variable (repeatable)', collect)
    .option('-p, --port <[host_port:]container_port[/protocol]>', 'port to publish (repeatable)', collect)
    .option('--restart-policy <policy>', 'no, always, unless-stopped or on-failure[:max-retries]')
    .option('--start', 'start the container once it is created'), 'one')
    .action(async (o: Record<string, any>, cmd: Command) => {
      const out = outputOptions(o, ctx.io.env);
      const body: Record<string, unknown> = { image: o.image, cluster_uuid: o.cluster };
      if (o.name !== undefined) body.name = o.name;
      if (o.command !== undefined) body.command = o.command;
      if (o.memory !== undefined) body.memory = o.memory;
      if (o.cpu !== undefined) body.cpu = o.cpu;
      const env = parseEnv(o.environment);
      if (env) body.environment = env;
      if (o.port) body.ports = o.port;
      if (o.restartPolicy !== undefined) body.restart_policy = o.restartPolicy;
      const api = ctx.api(cmd);
      let c = await api.post('/v1/containers', body);
      if (o.start) c = await api.put(`/v1/containers/${c.uuid}/start`);
      printOne(ctx.io.stdout, ...showView(c), out);
    });

  withOutputOptions(container.command('list')
    .description('list containers')
    .option('--cluster <cluster>', 'only the containers of this cluster')
    .option('--long', 'more columns: host, ports, limits, restart policy')
    .option('--limit <limit>', 'maximum number of containers to return', int)
    .option('--marker <uuid>', 'the last container UUID of the previous page')
    .option('--sort-key <sort-key>', 'column to sort results by (server side)')
    .option('--sort-dir <sort-dir>', 'direction to sort: asc or desc'), 'list')
    .action(async (o: Record<string, any>, cmd: Command) => {
      const out = outputOptions(o, ctx.io.env);
      const q = query([['limit', o.limit], ['marker', o.marker], ['sort_key', o.sortKey], ['sort_dir', o.sortDir], ['cluster_ident', o.cluster]]);
      const columns = o.long ? CONTAINER_LONG_COLUMNS : CONTAINER_LIST_COLUMNS;
      const items = await ctx.api(cmd).list<Record<string, unknown>>(`/v1/containers${o.long ? '/detail' : ''}${q}`, 'containers', o.limit);
      printList(ctx.io.stdout, columns, items.map((c) => properties(c, columns)), out);
    });

  withOutputOptions(container.command('show')
    .description('show a container (its status is read from the node)')
    .argument('<container>', 'ID or name of the container'), 'one')
    .action(async (ident: string, o: Record<string, any>, cmd: Command) => {
      const out = outputOptions(o, ctx.io.env);
      printOne(ctx.io.stdout, ...showView(await ctx.api(cmd).get(`/v1/containers/${seg(ident)}`)), out);
    });

  withOutputOptions(container.command('update')
    .description('update a container with JSON-Patch operations (name, memory, cpu, restart_policy)')
    .argument('<container>', 'ID or name of the container')
    .argument('<op>', "operation: 'add', 'replace' or 'remove'")
    .argument('<path=value...>', 'attributes to add/replace or remove'), 'one')
    .action(async (ident: string, op: string, attrs: string[], o: Record<string, any>, cmd: Command) => {
      const out = outputOptions(o, ctx.io.env);
      printOne(ctx.io.stdout, ...showView(await ctx.api(cmd).patch(`/v1/containers/${seg(ident)}`, buildPatch(op, attrs))), out);
    });

  container.command('delete')
    .description('delete containers')
    .argument('<container...>', 'ID or name of the container(s)')
    .option('--force', 'also delete running containers')
    .action(async (idents: string[], o: Record<string, any>, cmd: Command) => {
      const api = ctx.api(cmd);
      for (const ident of idents) {
        await api.delete(`/v1/containers/${seg(ident)}${o.force ? '?force=true' : ''}`);
        ctx.io.stdout.write(`Request to delete container ${ident} has been accepted.\n`);
      }
    });

  for (const [action, what] of [['start', 'start'], ['stop', 'stop'], ['reboot', 'restart'], ['pause', 'pause'], ['unpause', 'unpause']] as const) {
    const c = container.command(action).description(`${what} containers`).argument('<container...>', 'ID or name of the container(s)');
    if (action === 'stop' || action === 'reboot') c.option('--timeout <seconds>', 'seconds to wait for the container to stop before killing it', int);
    c.action(async (idents: string[], o: Record<string, any>, cmd: Command) => {
      const api = ctx.api(cmd);
      for (const ident of idents) {
        const res = await api.put(`/v1/containers/${seg(ident)}/${action}${query([['timeout', o.timeout]])}`);
        ctx.io.stdout.write(`Container ${ident}: ${res?.status ?? 'done'}\n`);
      }
    });
  }

  container.command('logs')
    .description('print the output of a container')
    .argument('<container>', 'ID or name of the container')
    .option('--tail <n>', 'only the last n lines (or all)')
    .option('--since <when>', 'only output since a duration ago (10m, 1h30m), a Unix time or an RFC 3339 date')
    .option('--timestamps', 'prefix every line with its time')
    .action(async (ident: string, o: Record<string, any>, cmd: Command) => {
      const q = query([['tail', o.tail], ['since', o.since], ['timestamps', o.timestamps ? 'true' : undefined]]);
      const res = await ctx.api(cmd).get(`/v1/containers/${seg(ident)}/logs${q}`);
      ctx.io.stdout.write(String(res?.output ?? ''));
    });

  container.command('exec')
    .description('run a command in a running container; exits with the command\'s exit status')
    .argument('<container>', 'ID or name of the container')
    .argument('<command...>', 'the command and its arguments (put -- before options of the command)')
    .option('--timeout <seconds>', 'give up after this many seconds', int)
    .action(async (ident: string, argv: string[], o: Record<string, any>, cmd: Command) => {
      const body: Record<string, unknown> = { command: argv };
      if (o.timeout !== undefined) body.timeout = o.timeout;
      const res = await ctx.api(cmd).post(`/v1/containers/${seg(ident)}/execute`, body);
      if (typeof res?.stdout === 'string' || typeof res?.stderr === 'string') {
        ctx.io.stdout.write(res.stdout ?? '');
        ctx.io.stderr.write(res.stderr ?? '');
      } else {
        ctx.io.stdout.write(String(res?.output ?? ''));
      }
      const code = Number(res?.exit_code ?? 0);
      if (code !== 0) throw new CommandError('', code > 0 && code < 256 ? code : 1);
    });
}
