// coe cluster config — `openstack coe cluster config`: a client key and certificate signed by the
// cluster's CA, then the native client's configuration: for swarm / swarm-mode, ca.pem, cert.pem
// and key.pem in the directory plus the DOCKER_* variables; for kubernetes, a kubeconfig. The
// variables are printed (source them with eval) and also written to <dir>/env.
// Unlike the OpenStack client, nothing is written unless every file can be: existing files are
// refused before anything is touched (unless --force), and private keys are always mode 0600.
import { Command } from 'commander';
import { closeSync, existsSync, fchmodSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CliContext } from '../context.ts';
import { CommandError } from '../errors.ts';
import { seg } from './common.ts';

/** Writes a file whole, truncating, and sets its mode even when it existed before. */
function writeFile(path: string, text: string, mode: number): void {
  const fd = openSync(path, 'w', mode);
  try {
    fchmodSync(fd, mode);
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

export function kubeconfig(c: { name: string; api_address: string | null }, certs: { ca: string; cert: string; key: string } | null, useKeystone: boolean): string {
  const name = c.name;
  const server = c.api_address ?? 'None';
  if (!certs) {
    return `apiVersion: v1\nclusters:\n- cluster:\n    server: ${server}\n  name: ${name}\ncontexts:\n- context:\n    cluster: ${name}\n    user: ${name}\n  name: ${name}\ncurrent-context: ${name}\nkind: Config\npreferences: {}\nusers:\n- name: ${name}\n`;
  }
  const head = `apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: ${b64(certs.ca)}\n    server: ${server}\n  name: ${name}\ncontexts:\n- context:\n    cluster: ${name}\n`;
  if (!useKeystone) {
    return `${head}    user: admin\n  name: default\ncurrent-context: default\nkind: Config\npreferences: {}\nusers:\n- name: admin\n  user:\n    client-certificate-data: ${b64(certs.cert)}\n    client-key-data: ${b64(certs.key)}\n`;
  }
  return `${head}    user: openstackuser\n  name: openstackuser@kubernetes\ncurrent-context: openstackuser@kubernetes\nkind: Config\npreferences: {}\nusers:\n- name: openstackuser\n  user:\n    exec:\n      command: /bin/bash\n      apiVersion: client.authentication.k8s.io/v1alpha1\n      args:\n      - -c\n      - >\n        if [ -z \${OS_TOKEN} ]; then\n            echo 'Error: Missing OpenStack credential from environment variable $OS_TOKEN' > /dev/stderr\n            exit 1\n        else\n            echo '{ "apiVersion": "client.authentication.k8s.io/v1alpha1", "kind": "ExecCredential", "status": { "token": "'"\${OS_TOKEN}"'"}}'\n        fi\n`;
}

function exports(vars: [string, string][], shell: string | undefined): string {
  const csh = (shell ?? '').includes('csh');
  return vars.map(([k, v]) => (csh ? `setenv ${k} ${v}\n` : `export ${k}=${v}\n`)).join('');
}

export function registerClusterConfig(cluster: Command, ctx: CliContext): void {
  cluster.command('config')
    .description('write the certificates and configuration of a cluster\'s native client (docker, kubectl)')
    .argument('<cluster>', 'the name or UUID of the cluster')
    .option('--dir <dir>', 'directory to save the certificate and config files in (made if missing)', '.')
    .option('--force', 'overwrite files that exist')
    .option('--output-certs', 'kubernetes: also write ca.pem, cert.pem and key.pem (swarm clusters always get them)')
    .option('--use-certificate', 'use a client certificate in the config (the default)')
    .option('--use-keystone', 'kubernetes: authenticate with the Keystone token in $OS_TOKEN instead of a certificate')
    .addHelpText('after', `
Prints the environment to use the cluster; eval it:
  $ eval $(coe cluster config demo --dir ~/clusters/demo)
  $ docker node ls
The same lines are written to <dir>/env. key.pem (and a kubeconfig, which embeds the key) are mode 0600.
`)
    .action(async (ident: string, o: Record<string, any>, cmd: Command) => {
      const useKeystone = Boolean(o.useKeystone);
      const dir = resolve(ctx.io.cwd, o.dir);
      const api = ctx.api(cmd);
      const c = await api.get(`/v1/clusters/${seg(ident)}`);
      if (c.api_address === null || c.api_address === undefined) ctx.io.stderr.write("WARNING: The cluster's api_address is not known yet.\n");
      const t = await api.get(`/v1/clustertemplates/${seg(c.cluster_template_id)}`);
      const coe = String(t.coe);
      if (!['kubernetes', 'swarm', 'swarm-mode'].includes(coe)) throw new CommandError(`cluster config knows kubernetes, swarm and swarm-mode clusters; ${c.name} is ${coe}.`);
      let certs: { ca: string; cert: string; key: string } | null = null;
      if (!t.tls_disabled) {
        const { generateCsrAndKey } = await import('../csr.ts');
        const { csr, key } = await generateCsrAndKey();
        const ca = (await api.get(`/v1/certificates/${c.uuid}`)).pem as string;
        const cert = (await api.post('/v1/certificates', { cluster_uuid: c.uuid, csr })).pem as string;
        certs = { ca, cert, key };
      }

      const files: [string, string, number][] = [];
      const pemFile = (s: string) => (s.endsWith('\n') ? s : `${s}\n`);
      const writeCerts = certs && (coe !== 'kubernetes' || o.outputCerts);
      if (certs && writeCerts) {
        files.push([join(dir, 'key.pem'), certs.key, 0o600], [join(dir, 'cert.pem'), pemFile(certs.cert), 0o644], [join(dir, 'ca.pem'), pemFile(certs.ca), 0o644]);
      }
      let vars: [string, string][];
      if (coe === 'kubernetes') {
        const config = join(dir, 'config');
        files.push([config, kubeconfig(c, certs, useKeystone), 0o600]);
        vars = [['KUBECONFIG', config]];
      } else {
        vars = [['DOCKER_HOST', String(c.api_address)], ['DOCKER_CERT_PATH', dir], ['DOCKER_TLS_VERIFY', t.tls_disabled ? '' : 'True']];
      }
      const env = exports(vars, ctx.io.env.SHELL);
      files.push([join(dir, 'env'), env, 0o644]);

      mkdirSync(dir, { recursive: true, mode: 0o700 });
      if (!o.force) {
        const existing = files.map(([f]) => f).filter((f) => existsSync(f));
        if (existing.length) throw new CommandError(`File ${existing[0]} exists, aborting (use --force to overwrite).`);
      }
      for (const [f, text, mode] of files) writeFile(f, text, mode);
      ctx.io.stdout.write(env);
    });
}
