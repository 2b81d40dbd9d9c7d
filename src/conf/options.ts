// The magnum.conf schema: one entry per section, option names as Magnum spells them where
// Magnum has the option. `etc/magnum.conf.sample` is generated from this table
// (bin/magnum-config-sample), so the description here is what operators read.

export type OptionType = 'string' | 'int' | 'float' | 'bool' | 'list';

export interface OptionSpec {
  type: OptionType;
  default: string | number | boolean | string[] | null;
  help: string;
  min?: number;
  max?: number;
  choices?: readonly string[];
  secret?: boolean;
}

export type SectionSpec = Record<string, OptionSpec>;

type Extra = Partial<Omit<OptionSpec, 'type' | 'default'>>;
function str(d: string, help: string, extra?: Extra): OptionSpec & { type: 'string'; default: string };
function str(d: null, help: string, extra?: Extra): OptionSpec & { type: 'string'; default: null };
function str(d: string | null, help: string, extra: Extra = {}): OptionSpec {
  return { type: 'string', default: d, help, ...extra };
}
const int = (d: number, help: string, extra: Extra = {}): OptionSpec & { type: 'int' } => ({ type: 'int', default: d, help, ...extra });
const bool = (d: boolean, help: string): OptionSpec & { type: 'bool' } => ({ type: 'bool', default: d, help });
const list = (d: string[], help: string): OptionSpec & { type: 'list' } => ({ type: 'list', default: d, help });

export const SCHEMA = {
  DEFAULT: {
    transport_url: str('inprocess://', 'Where RPC messages go: rabbit://user:pass@host:port/vhost for RabbitMQ, or inprocess:// when API and conductor share one process (magnum-all-in-one).'),
    auth_strategy: str('keystone', 'How API requests are authenticated: keystone (validate X-Auth-Token) or noauth (trust the X-User-Id, X-Project-Id and X-Roles headers; for the all-in-one and tests only).', { choices: ['keystone', 'noauth'] }),
    host: str(null, 'Name of this host as recorded in the magnum_service table (default: the machine hostname).'),
    periodic_enable: bool(true, 'Run the conductor periodic tasks (status sweep, health polling, service heartbeat).'),
    periodic_interval_max: int(60, 'Seconds between service heartbeats.', { min: 1 }),
    service_down_time: int(180, 'Seconds without a heartbeat after which a service is reported down.', { min: 1 }),
    rpc_response_timeout: int(60, 'Seconds to wait for the reply to a synchronous RPC call before answering 504.', { min: 1 }),
    debug: bool(false, 'Log at debug level.'),
  },
  api: {
    host: str('127.0.0.1', 'Address the API listens on.'),
    port: int(9511, 'Port the API listens on.', { min: 0 }),
    workers: int(1, 'Number of API worker processes.', { min: 1 }),
    max_limit: int(1000, 'Largest page a list request returns.', { min: 1 }),
    read_cache_sync: bool(true, 'On PostgreSQL the API answers cluster shows and cluster and template lists from memory while nothing they show changed (every change is announced by the database to every API process). True: before such an answer, one round trip on the listening connection makes sure no change committed before the request came is missed. False: answered at once; a change made through another process is seen once its announcement arrives (well under a millisecond on one host), faster answers.'),
    read_cache_sync_window: int(1, 'Milliseconds (with read_cache_sync = true). 0: before a cached answer the API waits for a round trip to the database sent after the request came. N > 0: a round trip sent less than N ms before the request came will do (far fewer round trips under load), and the answer to a request that committed a change leaves no sooner than N ms after its last commit; so a cached answer shows every change acknowledged by any API process before the request came, and every change committed more than N ms before it (a change made by the conductor or by hand, within N ms). Give every API process on one database the same value.', { min: 0 }),
    fast_reads: bool(true, 'Serve GETs of a cluster, the cluster lists and the template lists without a query string straight from the HTTP server, ahead of the framework\'s routing and hooks: the same answers, headers and errors, less CPU each. False: every request goes through the framework.'),
  },
  oslo_middleware: {
    max_request_body_size: int(114688, 'Largest request body in bytes; larger bodies get 413.', { min: 1 }),
  },
  database: {
    connection: str('sqlite:///var/magnum.sqlite', 'Database URL: sqlite:///path, postgresql://user:pass@host/db, mysql+pymysql://user:pass@host/db.'),
    max_pool_size: int(10, 'Connections per process (PostgreSQL and MariaDB).', { min: 1 }),
    pool_timeout: int(5, 'Seconds a statement may wait for a database connection (a free one of the pool, or a new one being opened) before it fails: the API then answers 503, the conductor retries later. 0 waits without bound.', { min: 0 }),
    statement_timeout: int(10, 'Seconds one SQL statement may run (PostgreSQL and MariaDB). The server cancels it then; a server that has not answered 2 s later (stalled, or the network gone) has the connection closed under it, which rolls back its open transaction. The API answers 503. 0: no bound (magnum-db-manage never has one).', { min: 0 }),
    connection_recycle_time: int(3600, 'Seconds a database connection is used before it is replaced by a new one. 0: never.', { min: 0 }),
    max_retries: int(10, 'Attempts to reach the database when a process starts, retry_interval apart, before it gives up and exits; -1 tries for ever. (Once running, a process never exits because the database is unavailable.)', { min: -1 }),
    retry_interval: int(10, 'Seconds between the attempts to reach the database when a process starts.', { min: 0 }),
  },
  keystone_authtoken: {
    www_authenticate_uri: str('http://127.0.0.1:5000/v3', 'Keystone URL given to clients in the WWW-Authenticate header of a 401.'),
    auth_url: str('http://127.0.0.1:5000/v3', 'Keystone v3 URL the API validates tokens against.'),
    username: str('magnum', 'Service user that validates tokens.'),
    password: str(null, 'Password of the service user.', { secret: true }),
    project_name: str('service', 'Project of the service user.'),
    user_domain_name: str('Default', 'Domain of the service user.'),
    project_domain_name: str('Default', 'Domain of the service project.'),
    token_cache_time: int(300, 'Seconds a validated token is cached in memory (bounded by the token expiry).', { min: 0 }),
    token_cache_size: int(10000, 'Most tokens kept in the validation cache.', { min: 1 }),
    check_revocations_for_cached: bool(false,
      'Re-validate a cached token with Keystone on every request, so a revoked token or a disabled user is refused at once; ' +
      'off (as in keystonemiddleware and Magnum), a revoked token is accepted until its cache entry expires (token_cache_time), ' +
      'and each request costs no Keystone round trip.'),
    http_request_max_retries: int(3, 'Retries of a Keystone request that failed to connect.', { min: 0 }),
    http_connect_timeout: int(10, 'Seconds a Keystone request (connecting included) may take before the API answers 503.', { min: 1 }),
  },
  noauth: {
    default_project_id: str('admin', 'Project of a request that carries no identity headers at all, under auth_strategy=noauth (how `openstack --os-auth-type none` reaches the all-in-one).'),
    default_user_id: str('admin', 'User of a request that carries no identity headers at all, under auth_strategy=noauth.'),
    default_roles: list(['admin'], 'Roles of a request that carries no identity headers at all, under auth_strategy=noauth.'),
  },
  conductor: {
    topic: str('magnum-conductor', 'RPC topic the conductors consume.'),
    max_concurrent_operations: int(32, 'Operations one conductor runs at once.', { min: 1 }),
    nice: int(10, 'CPU priority (nice value, 0-19) the magnum-conductor process takes at start, every thread of it: on a host it shares with an API, under a burst of creates the API\'s answers come first and the conductor works off its queue with what is left (each operation keeps its deadline). 0 leaves it as started. It is only ever raised (a process started at a higher value keeps that). Not used by magnum-all-in-one, whose conductor shares the API\'s process.', { min: 0, max: 19 }),
    operation_lease: int(30, 'Seconds a conductor holds an operation without renewing its lease; a dead conductor\'s operations are taken over after this.', { min: 1 }),
    sweep_interval: int(10, 'Seconds between sweeps that take over orphaned operations and fail those past their deadline.', { min: 1 }),
    default_operation_timeout: int(60, 'Minutes an update, resize, upgrade, delete or nodegroup operation may take.', { min: 1 }),
    health_poll_concurrency: int(8, 'Clusters one conductor health-polls at once ([kubernetes] health_polling_interval): a poll reads the clusters in pages of 500 (their templates, nodegroups and resources in one query each a page) and asks the drivers this many at a time.', { min: 1 }),
    auto_healing_grace_period: int(60, 'Seconds a cluster with auto_healing_enabled=true stays UNHEALTHY (on every health poll) before auto-healing starts an operation, so that nodes which come back by themselves (the Docker host\'s engine restarting, a host reboot) are not healed. While the host of the nodes does not answer, no auto-healing starts.', { min: 0 }),
  },
  cluster_heat: {
    create_timeout: int(60, 'Minutes a cluster create may take when the cluster gives no create_timeout.', { min: 1 }),
  },
  cluster_template: {
    kubernetes_allowed_network_drivers: list(['all'], 'Network drivers allowed for kubernetes templates.'),
    kubernetes_default_network_driver: str('flannel', 'Network driver of kubernetes templates that name none.'),
    swarm_allowed_network_drivers: list(['all'], 'Network drivers allowed for swarm and swarm-mode templates.'),
    swarm_default_network_driver: str('docker', 'Network driver of swarm templates that name none.'),
  },
  quotas: {
    max_clusters_per_project: int(20, 'Clusters a project may have when no quota row says otherwise.', { min: 0 }),
  },
  drivers: {
    disabled_drivers: list([], 'Drivers not to load.'),
    test_drivers: list([], 'Drivers used only by tests (fake). Never set this in production: a fake driver creates no real nodes.'),
    swarm_mode_os_distros: list(['debian'], 'Image os_distro values the swarm-mode driver (Docker-engine nodes) accepts.'),
  },
  fake_driver: {
    step_delay_ms: int(50, 'Milliseconds each step of the fake driver takes.', { min: 0 }),
    fail_on_label: str('fake_fail_step', 'A cluster label naming a step at which the fake driver fails (tests of failure paths).'),
  },
  infra: {
    images: list([], 'Images the static infrastructure provider knows, as name:os_distro pairs (until the docker provider validates images for real).'),
  },
  docker: {
    host: str('unix:///var/run/docker.sock', 'The Docker host that runs node containers (unix:///path or tcp://host:port).'),
    tls_ca_cert: str(null, 'CA certificate of a remote Docker host served over TLS.'),
    tls_cert: str(null, 'Client certificate for a remote Docker host served over TLS.'),
    tls_key: str(null, 'Client key for a remote Docker host served over TLS.'),
    flavors: list(['m1.tiny:1:512', 'm1.small:1:1024', 'm1.medium:2:2048', 'm1.large:2:4096', 'ds1G:1:1024', 'ds2G:2:2048'], 'Flavors as name:vcpus:ram_mb; a node gets those CPU and memory limits.'),
    external_networks: list(['public:127.0.0.1'], 'External networks as name:host_address; cluster endpoints are published on that address of the Docker host.'),
    subnet_pool: str('10.213.0.0/16', 'A /16 from which each cluster network without fixed_subnet gets its own /24.'),
    image_dir: str('var/images', 'Directory on the conductor hosts holding image tarballs (docker save output) that POST /v1/clusters/{ident}/images may load into a cluster\'s nodes. Requests name a file in it (a relative path that stays inside it); nothing outside it can be loaded. A relative path is taken from the working directory.'),
  },
  kubernetes: {
    health_polling_interval: int(60, 'Seconds between health polls of each running cluster.', { min: 1 }),
  },
  certificates: {
    cert_manager_type: str('x509keypair', 'Where certificates are stored: x509keypair (database table).', { choices: ['x509keypair'] }),
    encryption_key_file: str('var/magnum-cert.key', 'File holding the 32-byte master key that encrypts the private keys stored in the x509keypair table (AES-256-GCM): 32 raw bytes, or their base64 text (openssl rand -base64 32). Created with random bytes (mode 0600) on first use when missing. Only conductors use it, and every conductor of a deployment must read the same key (copy the file to each conductor host before starting a second one: a conductor that finds no file makes its own key, and cannot read what the others stored); losing it loses every cluster\'s CA key. A relative path is taken from the working directory.'),
  },
  x509: {
    term_of_validity: int(1825, 'Days a generated certificate is valid.', { min: 1 }),
    rsa_key_size: int(2048, 'RSA key size of generated keys.', { min: 1024 }),
    key_generation_threads: int(0, 'RSA keys a conductor makes at once, each on a thread of its own (libuv\'s pool, 4 threads unless UV_THREADPOOL_SIZE says otherwise). 0: one fewer than the host\'s cores, at least 1, so that a conductor never takes every core from an API beside it. Raise it on a host that runs only conductors.', { min: 0 }),
    allow_ca: bool(false, 'Allow signing CSRs that ask for CA usage.'),
    allowed_extensions: list(['keyUsage', 'extendedKeyUsage', 'subjectAltName', 'basicConstraints', 'subjectKeyIdentifier'], 'CSR extensions copied into signed certificates.'),
    allowed_key_usage: list(['Digital Signature', 'Key Encipherment', 'Non Repudiation'], 'Key usages allowed in signed certificates.'),
  },
  dashboard: {
    enabled: bool(false, 'Serve the web dashboard at /dashboard/ (static files built from src/dashboard/ with esbuild when missing or stale; it calls this API with the user\'s own identity). On by default in magnum-all-in-one. Under auth_strategy=keystone the API also passes POST /v3/auth/tokens and GET /v3/auth/projects through to [keystone_authtoken] auth_url for the dashboard\'s login (at /dashboard/keystone/v3/...), and nothing else of Keystone.'),
  },
  oslo_policy: {
    policy_file: str('policy.yaml', 'Policy override file (oslo.policy YAML or JSON); missing file means the defaults.'),
  },
} as const satisfies Record<string, SectionSpec>;

type Schema = typeof SCHEMA;
type ValueOf<O extends OptionSpec> = O['type'] extends 'int' | 'float' ? number : O['type'] extends 'bool' ? boolean : O['type'] extends 'list' ? string[] : O['default'] extends null ? string | null : string;
export type Config = { readonly [S in keyof Schema]: { readonly [K in keyof Schema[S]]: Schema[S][K] extends OptionSpec ? ValueOf<Schema[S][K]> : never } };
