// `coe`: a command-line client for the container-infra API. The commands of `openstack coe`, one
// to one (same arguments, request bodies, columns), plus containers, Swarm services, cluster
// events, image loads, --wait with live progress, and shell completion.
// main() runs one command line and returns the exit status; it never calls process.exit.
import { Command, CommanderError, Option } from 'commander';
import { registerCa } from './commands/ca.ts';
import { registerClusterConfig } from './commands/cluster-config.ts';
import { registerClusterEvents } from './commands/cluster-events.ts';
import { registerClusterTemplate } from './commands/cluster-template.ts';
import { registerCluster } from './commands/cluster.ts';
import { registerCompletion } from './commands/completion.ts';
import { registerContainer } from './commands/container.ts';
import { registerImage } from './commands/image.ts';
import { registerNodegroup } from './commands/nodegroup.ts';
import { registerQuotas } from './commands/quotas.ts';
import { registerPod, registerService } from './commands/service.ts';
import { CliContext, type Io } from './context.ts';
import { ApiError, CommandError, UsageError } from './errors.ts';

export const VERSION = '0.1.0';

const ROOT_HELP = `
Authentication, as with the OpenStack client (options > OS_* variables > clouds.yaml):
  $ coe --os-cloud mycloud cluster list                  # a cloud of clouds.yaml
  $ source demo-openrc.sh && coe cluster list            # OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, ...
  $ coe --os-endpoint http://127.0.0.1:9511/v1 cluster list   # no Keystone (an all-in-one with noauth)
Keystone tokens are cached in ~/.cache/coe/tokens.json (mode 0600) until they expire.

Getting started:
  $ coe cluster template create swarm --coe swarm-mode --image magnum-node:bookworm \\
      --external-network public --flavor m1.small --master-flavor m1.small
  $ coe cluster create demo --cluster-template swarm --node-count 2 --wait
  $ eval $(coe cluster config demo --dir ~/demo)
  $ docker node ls

Output of show and list commands: -f table|json|yaml|value|shell, -c COLUMN (repeatable), --fit-width.
Every command has --help. Exit status: 0 done, 1 refused or failed, 2 bad command line.
`;

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('coe')
    .description('Manage container infrastructure (OpenStack Magnum API): clusters, templates, nodegroups, certificates, containers and more.')
    .version(VERSION, '--version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .helpCommand('help [command...]', 'show help for a command')
    .showSuggestionAfterError(true)
    .configureHelp({ sortSubcommands: true })
    .configureOutput({
      writeOut: (s) => ctx.io.stdout.write(s),
      writeErr: (s) => ctx.io.stderr.write(s),
    })
    .addHelpText('after', ROOT_HELP);

  const env = (name: string) => `(env ${name})`;
  program
    .option('--os-cloud <name>', `cloud of clouds.yaml to use ${env('OS_CLOUD')}`)
    .option('--os-auth-type <type>', `password, v3applicationcredential, token or none ${env('OS_AUTH_TYPE')}`)
    .option('--os-auth-url <url>', `Keystone URL ${env('OS_AUTH_URL')}`)
    .option('--os-username <name>', `user name ${env('OS_USERNAME')}`)
    .option('--os-user-id <id>', `user ID, instead of the name ${env('OS_USER_ID')}`)
    .option('--os-password <password>', `password ${env('OS_PASSWORD')}`)
    .option('--os-user-domain-name <name>', `domain of the user; default: the default domain ${env('OS_USER_DOMAIN_NAME')}`)
    .option('--os-user-domain-id <id>', `domain ID of the user ${env('OS_USER_DOMAIN_ID')}`)
    .option('--os-project-name <name>', `project to work in ${env('OS_PROJECT_NAME')}`)
    .option('--os-project-id <id>', `project ID, instead of the name ${env('OS_PROJECT_ID')}`)
    .option('--os-project-domain-name <name>', `domain of the project; default: the default domain ${env('OS_PROJECT_DOMAIN_NAME')}`)
    .option('--os-project-domain-id <id>', `domain ID of the project ${env('OS_PROJECT_DOMAIN_ID')}`)
    .option('--os-domain-name <name>', `domain scope, or the default of user and project domains ${env('OS_DOMAIN_NAME')}`)
    .option('--os-domain-id <id>', `domain ID, as --os-domain-name ${env('OS_DOMAIN_ID')}`)
    .option('--os-application-credential-id <id>', `application credential ID ${env('OS_APPLICATION_CREDENTIAL_ID')}`)
    .option('--os-application-credential-name <name>', `application credential name (with --os-username) ${env('OS_APPLICATION_CREDENTIAL_NAME')}`)
    .option('--os-application-credential-secret <secret>', `application credential secret ${env('OS_APPLICATION_CREDENTIAL_SECRET')}`)
    .option('--os-token <token>', `a Keystone token: rescoped with --os-auth-url, or sent as is with --os-endpoint ${env('OS_TOKEN')}`)
    .option('--os-region-name <region>', `region of the catalog endpoint ${env('OS_REGION_NAME')}`)
    .option('--os-interface <interface>', `catalog interface: public, internal or admin ${env('OS_INTERFACE')}`)
    .option('--os-endpoint <url>', `API endpoint (…/v1), instead of the catalog's ${env('OS_ENDPOINT')}`)
    .option('--os-cacert <file>', `CA bundle to verify TLS servers with ${env('OS_CACERT')}`)
    .option('--insecure', `do not verify TLS certificates ${env('OS_INSECURE')}`)
    .option('--no-token-cache', `neither read nor write the token cache ${env('COE_TOKEN_CACHE=0')}`)
    .addOption(new Option('--http-timeout <seconds>', 'give up on an HTTP request after this many seconds').default('120'))
    .option('--debug', 'print every HTTP request (method, URL, status, time) on stderr');

  const cluster = registerCluster(program, ctx);
  registerClusterTemplate(cluster, ctx);
  registerClusterConfig(cluster, ctx);
  registerClusterEvents(cluster, ctx);
  registerNodegroup(program, ctx);
  registerCa(program, ctx);
  registerQuotas(program, ctx);
  registerService(program, ctx);
  registerPod(program, ctx);
  registerContainer(program, ctx);
  registerImage(program, ctx);
  registerCompletion(program, ctx);

  // Usage errors exit 2, like the OpenStack client; help and --version exit 0.
  const configure = (cmd: Command) => {
    cmd.exitOverride().configureOutput({
      writeOut: (s) => ctx.io.stdout.write(s),
      writeErr: (s) => ctx.io.stderr.write(s),
      outputError: (s, write) => write(s),
    }).showHelpAfterError('(add --help for usage)');
    for (const c of cmd.commands) configure(c);
  };
  configure(program);
  const hint = '\nGlobal options (--os-cloud, --os-endpoint, OS_* authentication, --debug, ...) may come anywhere: see coe --help.\n';
  const hints = (cmd: Command) => {
    for (const c of cmd.commands) {
      c.addHelpText('after', hint);
      hints(c);
    }
  };
  hints(program);
  // A group without a sub-command prints its help (and exits 2).
  const groups = (cmd: Command) => {
    for (const c of cmd.commands) {
      if (c.commands.length && !(c as unknown as { _actionHandler?: unknown })._actionHandler) {
        c.action(() => {
          c.outputHelp({ error: true });
          throw new UsageError('');
        });
      }
      groups(c);
    }
  };
  groups(program);
  return program;
}

export async function main(argv: string[], io?: Partial<Io>): Promise<number> {
  const ctx = new CliContext({
    stdout: io?.stdout ?? process.stdout,
    stderr: io?.stderr ?? process.stderr,
    env: io?.env ?? process.env,
    cwd: io?.cwd ?? process.cwd(),
  });
  const program = buildProgram(ctx);
  try {
    if (!argv.length) {
      program.outputHelp({ error: true });
      return 2;
    }
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof ApiError) {
      ctx.io.stderr.write(`${err.describe()}\n`);
      return err.exitCode;
    }
    if (err instanceof UsageError || err instanceof CommandError) {
      if (err.message) ctx.io.stderr.write(`${err instanceof UsageError ? 'coe: error: ' : ''}${err.message}\n`);
      return err.exitCode;
    }
    ctx.io.stderr.write(`coe: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    return 1;
  } finally {
    await ctx.close();
  }
}
