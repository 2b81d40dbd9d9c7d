// Where `coe` gets its credentials, in the OpenStack tools' order of precedence: command-line
// options, then OS_* environment variables, then the cloud named by --os-cloud / OS_CLOUD in
// clouds.yaml (merged with secure.yaml). The result says how to authenticate (Keystone v3
// password, application credential, token, or none) and where the API is.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { UsageError } from '../errors.ts';

export type AuthType = 'password' | 'application_credential' | 'token' | 'none';

export interface AuthSettings {
  authType: AuthType;
  authUrl?: string;
  username?: string;
  userId?: string;
  password?: string;
  userDomainName?: string;
  userDomainId?: string;
  projectName?: string;
  projectId?: string;
  projectDomainName?: string;
  projectDomainId?: string;
  domainName?: string;
  domainId?: string;
  token?: string;
  applicationCredentialId?: string;
  applicationCredentialName?: string;
  applicationCredentialSecret?: string;
  regionName?: string;
  /** public, internal or admin. */
  interface: string;
  /** The API endpoint (ending in /v1): set, it replaces the catalog lookup. */
  endpoint?: string;
  cacert?: string;
  insecure: boolean;
  /** The clouds.yaml entry used, if any. */
  cloud?: string;
}

/** Global command-line options (commander's camelCase names). */
export interface AuthOptions {
  osCloud?: string;
  osAuthType?: string;
  osAuthUrl?: string;
  osUsername?: string;
  osUserId?: string;
  osPassword?: string;
  osUserDomainName?: string;
  osUserDomainId?: string;
  osProjectName?: string;
  osProjectId?: string;
  osProjectDomainName?: string;
  osProjectDomainId?: string;
  osDomainName?: string;
  osDomainId?: string;
  osToken?: string;
  osApplicationCredentialId?: string;
  osApplicationCredentialName?: string;
  osApplicationCredentialSecret?: string;
  osRegionName?: string;
  osInterface?: string;
  osEndpoint?: string;
  osCacert?: string;
  insecure?: boolean;
}

type Flat = Partial<Record<keyof AuthSettings | 'authTypeName', string>>;

const ENV: [keyof Flat, string[]][] = [
  ['authTypeName', ['OS_AUTH_TYPE']],
  ['authUrl', ['OS_AUTH_URL']],
  ['username', ['OS_USERNAME']],
  ['userId', ['OS_USER_ID']],
  ['password', ['OS_PASSWORD']],
  ['userDomainName', ['OS_USER_DOMAIN_NAME']],
  ['userDomainId', ['OS_USER_DOMAIN_ID']],
  ['projectName', ['OS_PROJECT_NAME', 'OS_TENANT_NAME']],
  ['projectId', ['OS_PROJECT_ID', 'OS_TENANT_ID']],
  ['projectDomainName', ['OS_PROJECT_DOMAIN_NAME']],
  ['projectDomainId', ['OS_PROJECT_DOMAIN_ID']],
  ['domainName', ['OS_DOMAIN_NAME']],
  ['domainId', ['OS_DOMAIN_ID']],
  ['token', ['OS_TOKEN']],
  ['applicationCredentialId', ['OS_APPLICATION_CREDENTIAL_ID']],
  ['applicationCredentialName', ['OS_APPLICATION_CREDENTIAL_NAME']],
  ['applicationCredentialSecret', ['OS_APPLICATION_CREDENTIAL_SECRET']],
  ['regionName', ['OS_REGION_NAME']],
  ['interface', ['OS_INTERFACE', 'OS_ENDPOINT_TYPE']],
  ['endpoint', ['OS_ENDPOINT', 'OS_ENDPOINT_OVERRIDE']],
  ['cacert', ['OS_CACERT']],
];

const OPTION: [keyof Flat, keyof AuthOptions][] = [
  ['authTypeName', 'osAuthType'],
  ['authUrl', 'osAuthUrl'],
  ['username', 'osUsername'],
  ['userId', 'osUserId'],
  ['password', 'osPassword'],
  ['userDomainName', 'osUserDomainName'],
  ['userDomainId', 'osUserDomainId'],
  ['projectName', 'osProjectName'],
  ['projectId', 'osProjectId'],
  ['projectDomainName', 'osProjectDomainName'],
  ['projectDomainId', 'osProjectDomainId'],
  ['domainName', 'osDomainName'],
  ['domainId', 'osDomainId'],
  ['token', 'osToken'],
  ['applicationCredentialId', 'osApplicationCredentialId'],
  ['applicationCredentialName', 'osApplicationCredentialName'],
  ['applicationCredentialSecret', 'osApplicationCredentialSecret'],
  ['regionName', 'osRegionName'],
  ['interface', 'osInterface'],
  ['endpoint', 'osEndpoint'],
  ['cacert', 'osCacert'],
];

/** clouds.yaml `auth:` keys (openstacksdk names) onto ours. */
const CLOUD_AUTH: Record<string, keyof Flat> = {
  auth_url: 'authUrl',
  username: 'username',
  user_id: 'userId',
  password: 'password',
  user_domain_name: 'userDomainName',
  user_domain_id: 'userDomainId',
  project_name: 'projectName',
  tenant_name: 'projectName',
  project_id: 'projectId',
  tenant_id: 'projectId',
  project_domain_name: 'projectDomainName',
  project_domain_id: 'projectDomainId',
  domain_name: 'domainName',
  domain_id: 'domainId',
  token: 'token',
  application_credential_id: 'applicationCredentialId',
  application_credential_name: 'applicationCredentialName',
  application_credential_secret: 'applicationCredentialSecret',
  endpoint: 'endpoint',
};

/** The clouds.yaml / secure.yaml files openstacksdk reads, first found wins. */
export function configFileCandidates(name: 'clouds' | 'secure', env: NodeJS.ProcessEnv, cwd = process.cwd()): string[] {
  const home = env.HOME ?? homedir();
  const explicit = name === 'clouds' ? env.OS_CLIENT_CONFIG_FILE : undefined;
  const files = [join(cwd, `${name}.yaml`), join(cwd, `${name}.yml`),
    join(env.XDG_CONFIG_HOME ?? join(home, '.config'), 'openstack', `${name}.yaml`), join(home, '.config', 'openstack', `${name}.yml`),
    join('/etc/openstack', `${name}.yaml`), join('/etc/openstack', `${name}.yml`)];
  return explicit ? [explicit, ...files] : files;
}

function readYaml(file: string): Record<string, any> {
  try {
    const doc = parseYaml(readFileSync(file, 'utf8'));
    return doc && typeof doc === 'object' ? doc : {};
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
}

function deepMerge(a: Record<string, any>, b: Record<string, any>): Record<string, any> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && out[k] && typeof out[k] === 'object' ? deepMerge(out[k], v) : v;
  }
  return out;
}

/** The settings of one cloud of clouds.yaml (secure.yaml merged in), flattened to our names. */
export function loadCloud(name: string, env: NodeJS.ProcessEnv, cwd = process.cwd()): Flat {
  const cloudsFile = configFileCandidates('clouds', env, cwd).find((f) => existsSync(f));
  if (!cloudsFile) throw new UsageError(`--os-cloud ${name}: no clouds.yaml found (looked in ./, ~/.config/openstack/, /etc/openstack/ and $OS_CLIENT_CONFIG_FILE)`);
  let cloud = readYaml(cloudsFile).clouds?.[name];
  if (!cloud) throw new UsageError(`Cloud ${name} was not found in ${cloudsFile}`);
  const secureFile = configFileCandidates('secure', env, cwd).find((f) => existsSync(f));
  const secure = secureFile ? readYaml(secureFile).clouds?.[name] : undefined;
  if (secure) cloud = deepMerge(cloud, secure);
  const flat: Flat = {};
  for (const [k, v] of Object.entries(cloud.auth ?? {})) if (CLOUD_AUTH[k] && v !== null && v !== undefined) flat[CLOUD_AUTH[k]] = String(v);
  if (cloud.auth_type) flat.authTypeName = String(cloud.auth_type);
  if (cloud.region_name) flat.regionName = String(cloud.region_name);
  else if (Array.isArray(cloud.regions) && cloud.regions.length) flat.regionName = String(typeof cloud.regions[0] === 'object' ? cloud.regions[0].name : cloud.regions[0]);
  const iface = cloud.interface ?? cloud.endpoint_type;
  if (iface) flat.interface = String(iface);
  const override = cloud.container_infra_endpoint_override ?? cloud.container_infra_endpoint;
  if (override) flat.endpoint = String(override);
  if (cloud.cacert) flat.cacert = String(cloud.cacert);
  if (cloud.verify === false) (flat as Record<string, string>).insecure = 'true';
  else if (typeof cloud.verify === 'string') flat.cacert = cloud.verify;
  return flat;
}

function normalizeAuthType(name: string | undefined, flat: Flat): AuthType {
  switch ((name ?? '').toLowerCase().replace(/-/g, '_')) {
    case 'password': case 'v3password': return 'password';
    case 'v3applicationcredential': case 'applicationcredential': case 'application_credential': case 'v3_application_credential': return 'application_credential';
    case 'token': case 'v3token': case 'admin_token': case 'token_endpoint': return 'token';
    case 'none': case 'noauth': return 'none';
    case '':
      if (flat.applicationCredentialId || flat.applicationCredentialName) return 'application_credential';
      if (flat.token && !flat.password) return 'token';
      if (!flat.authUrl && flat.endpoint) return 'none';
      return 'password';
    default:
      throw new UsageError(`unsupported --os-auth-type ${name}: use password, v3applicationcredential, token or none`);
  }
}

function normalizeInterface(i: string | undefined): string {
  const v = (i ?? 'public').toLowerCase().replace(/url$/, '');
  if (!['public', 'internal', 'admin'].includes(v)) throw new UsageError(`--os-interface must be public, internal or admin, not ${i}`);
  return v;
}

const truthy = (v: string | undefined) => v !== undefined && /^(1|true|yes|on)$/i.test(v);

/** Merges clouds.yaml, the environment and the command line into one set of settings. */
export function resolveAuthSettings(opts: AuthOptions, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): AuthSettings {
  const cloud = opts.osCloud ?? env.OS_CLOUD;
  let flat: Flat = cloud ? loadCloud(cloud, env, cwd) : {};
  const fromEnv: Flat = {};
  for (const [k, names] of ENV) {
    const v = names.map((n) => env[n]).find((x) => x !== undefined && x !== '');
    if (v !== undefined) fromEnv[k] = v;
  }
  const fromCli: Flat = {};
  for (const [k, o] of OPTION) if (opts[o] !== undefined && opts[o] !== '') fromCli[k] = String(opts[o]);
  flat = { ...flat, ...fromEnv, ...fromCli };
  const insecure = Boolean(opts.insecure) || truthy(env.OS_INSECURE) || truthy((flat as Record<string, string>).insecure);
  const authType = normalizeAuthType(flat.authTypeName, flat);
  const s: AuthSettings = {
    authType,
    authUrl: flat.authUrl,
    username: flat.username,
    userId: flat.userId,
    password: flat.password,
    userDomainName: flat.userDomainName,
    userDomainId: flat.userDomainId,
    projectName: flat.projectName,
    projectId: flat.projectId,
    projectDomainName: flat.projectDomainName,
    projectDomainId: flat.projectDomainId,
    domainName: flat.domainName,
    domainId: flat.domainId,
    token: flat.token,
    applicationCredentialId: flat.applicationCredentialId,
    applicationCredentialName: flat.applicationCredentialName,
    applicationCredentialSecret: flat.applicationCredentialSecret,
    regionName: flat.regionName,
    interface: normalizeInterface(flat.interface),
    endpoint: flat.endpoint,
    cacert: flat.cacert,
    insecure,
    cloud,
  };
  validate(s);
  return s;
}

function validate(s: AuthSettings): void {
  const missing = (what: string) => new UsageError(`Missing value ${what} required for auth plugin ${s.authType} (set it with --os-${what.replace(/_/g, '-')}, OS_${what.toUpperCase()} or clouds.yaml)`);
  if (s.authType === 'none') {
    if (!s.endpoint) throw new UsageError('--os-auth-type none needs the API endpoint: --os-endpoint http://HOST:9511/v1 (or OS_ENDPOINT)');
    return;
  }
  if (s.authType === 'token' && !s.authUrl) {
    if (!s.token) throw missing('token');
    if (!s.endpoint) throw new UsageError('a token without --os-auth-url needs --os-endpoint');
    return;
  }
  if (!s.authUrl) throw missing('auth_url');
  if (s.authType === 'password') {
    if (!s.username && !s.userId) throw missing('username');
    if (!s.password) throw missing('password');
  } else if (s.authType === 'application_credential') {
    if (!s.applicationCredentialSecret) throw missing('application_credential_secret');
    if (!s.applicationCredentialId && !s.applicationCredentialName) throw missing('application_credential_id');
    if (!s.applicationCredentialId && !s.userId && !s.username) throw missing('username');
  } else if (s.authType === 'token' && !s.token) {
    throw missing('token');
  }
}
