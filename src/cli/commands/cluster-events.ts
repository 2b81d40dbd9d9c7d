// coe cluster events — a cluster's timeline (GET /v1/clusters/{ident}/events, our extension):
// every step of every operation with its outcome, and health changes. --follow keeps printing
// new events as they come, until the cluster is gone or Ctrl-C.
import { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { ApiError } from '../errors.ts';
import { outputOptions, printList, withOutputOptions } from '../output.ts';
import { describeEvent, fetchEvents, type ClusterEvent } from '../wait.ts';
import { int, positiveNumber, seg } from './common.ts';

export const EVENT_COLUMNS = ['id', 'created_at', 'operation_id', 'step', 'outcome', 'message'] as const;

export function registerClusterEvents(cluster: Command, ctx: CliContext): void {
  withOutputOptions(cluster.command('events')
    .description('show the timeline of a cluster: the steps of its operations and health changes')
    .argument('<cluster>', 'ID or name of the cluster')
    .option('--limit <limit>', 'at most this many events (the first ones after --marker)', int)
    .option('--marker <id>', 'only events after this event id', int)
    .option('--follow', 'keep printing new events (one line each) until the cluster is gone or Ctrl-C')
    .option('--poll-interval <seconds>', 'with --follow: seconds between checks', positiveNumber, 2), 'list')
    .addHelpText('after', `
Examples:
  $ coe cluster events demo
  $ coe cluster events demo -f json | jq -r '.[] | select(.outcome == "failed") | .message'
  $ coe cluster events demo --follow
`)
    .action(async (ident: string, o: Record<string, any>, cmd: Command) => {
      const out = outputOptions(o, ctx.io.env);
      const api = ctx.api(cmd);
      if (!o.follow) {
        const params = [o.limit !== undefined ? `limit=${o.limit}` : '', o.marker !== undefined ? `marker=${o.marker}` : ''].filter(Boolean).join('&');
        const events = await api.list<ClusterEvent>(`/v1/clusters/${seg(ident)}/events${params ? `?${params}` : ''}`, 'events', o.limit);
        printList(ctx.io.stdout, EVENT_COLUMNS, events.map((e) => EVENT_COLUMNS.map((c) => e[c] ?? null)), out);
        return;
      }
      const c = await api.get(`/v1/clusters/${seg(ident)}`);
      let after = o.marker ?? 0;
      const started = new Map<string, string>();
      let stop = false;
      const onSigint = () => {
        stop = true;
      };
      process.once('SIGINT', onSigint);
      try {
        while (!stop) {
          let events: ClusterEvent[];
          try {
            events = await fetchEvents(api, c.uuid, after);
          } catch (err) {
            if (err instanceof ApiError && err.status === 404) {
              ctx.io.stderr.write(`Cluster ${c.name ?? c.uuid} is gone.\n`);
              return;
            }
            throw err;
          }
          for (const e of events) {
            after = Math.max(after, e.id);
            if (e.outcome === 'started') started.set(e.step, e.created_at);
            if (out.format === 'json') ctx.io.stdout.write(`${JSON.stringify(e)}\n`);
            else ctx.io.stdout.write(`${e.created_at}  ${describeEvent(e, started.get(e.step))}\n`);
          }
          for (let waited = 0; waited < o.pollInterval * 1000 && !stop; waited += 100) await new Promise((r) => setTimeout(r, 100));
        }
      } finally {
        process.removeListener('SIGINT', onSigint);
      }
    });
}
