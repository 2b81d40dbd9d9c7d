// coe ca show|sign|rotate — `openstack coe ca …` (reference client-calls.md §2.3), plus --wait on
// rotate (every engine of the cluster gets a certificate from the new CA).
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { CliContext } from '../context.ts';
import { UsageError } from '../errors.ts';
import { lastEventId, waitFor } from '../wait.ts';
import { clusterTarget } from './cluster.ts';
import { seg, withWait } from './common.ts';

export function registerCa(program: Command, ctx: CliContext): void {
  const ca = program.command('ca').description('the certificate authority of a cluster')
    .addHelpText('after', `
Examples:
  $ coe ca show demo > ca.pem
  $ openssl req -new -newkey rsa:2048 -nodes -keyout me.key -subj /CN=me -out me.csr
  $ coe ca sign demo me.csr > me.pem
  $ coe ca rotate demo --wait       # certificates signed by the old CA stop working
`);

  ca.command('show')
    .description('print the CA certificate of a cluster (PEM)')
    .argument('<cluster>', 'ID or name of the cluster')
    .action(async (ident: string, _o: unknown, cmd: Command) => {
      const api = ctx.api(cmd);
      const c = await api.get(`/v1/clusters/${seg(ident)}`);
      const cert = await api.get(`/v1/certificates/${c.uuid}`);
      ctx.io.stdout.write(`${cert.pem}\n`);
    });

  ca.command('sign')
    .description('have the cluster\'s CA sign a certificate signing request; prints the certificate (PEM)')
    .argument('<cluster>', 'ID or name of the cluster')
    .argument('<csr>', 'file path of the CSR to send to Magnum to get signed')
    .action(async (ident: string, csrFile: string, _o: unknown, cmd: Command) => {
      let csr: string;
      try {
        csr = readFileSync(resolve(ctx.io.cwd, csrFile), 'utf8');
      } catch {
        throw new UsageError(`A CSR must be provided: cannot read ${csrFile}`);
      }
      const api = ctx.api(cmd);
      const c = await api.get(`/v1/clusters/${seg(ident)}`);
      const cert = await api.post('/v1/certificates', { cluster_uuid: c.uuid, csr });
      ctx.io.stdout.write(`${cert.pem}\n`);
    });

  withWait(ca.command('rotate')
    .description('rotate the CA certificate of a cluster to revoke access')
    .argument('<cluster>', 'ID or name of the cluster'), 'the rotation has finished')
    .action(async (ident: string, o: Record<string, any>, cmd: Command) => {
      const api = ctx.api(cmd);
      const c = await api.get(`/v1/clusters/${seg(ident)}`);
      const after = o.wait ? await lastEventId(api, c.uuid) : 0;
      await api.request('PATCH', `/v1/certificates/${c.uuid}`, { raw: true });
      ctx.io.stdout.write(`Request to rotate the CA certificate for cluster ${c.uuid} has been accepted.\n`);
      if (o.wait) await waitFor(api, clusterTarget(api, c, after), ctx.waitSettings(o));
    });
}
