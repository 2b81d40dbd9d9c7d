// The `docker` infrastructure provider: every node is a container running its own Docker engine,
// on the Docker host named in [docker] host (the local socket by default; a remote engine over
// TLS works the same way). It drives the host engine with the docker CLI, which already speaks
// every transport (unix socket, TCP+TLS) and streams image copies (save | load). What a cluster
// create waits for (inspecting, creating and starting nodes, their files and volumes, commands in
// nodes without standard input) goes to the same engine through its HTTP API instead
// (src/common/docker-api.ts): one request rather than one CLI process each.
import { execFile, spawn } from 'node:child_process';
import { createReadStream, readFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { DockerApi, DockerApiError, DockerApiTimeout, DockerApiUnreachable, daemonError, tarFiles } from '../../common/docker-api.ts';
import { E } from '../../common/errors.ts';
import type { Config } from '../../conf/index.ts';
import { formatCidr, parseCidr } from '../../common/cidr.ts';
import { InfraUnavailable, SubnetOverlap, type ExecResult, type Flavor, type ImageInfo, type InfraProvider, type LabelledResource, type NetworkInfo, type NodeInfo, type NodeSpec } from '../provider.ts';

export class DockerUnavailable extends InfraUnavailable {}

/** A Docker image reference: [registry[:port]/]path[:tag][@digest], or an image id (sha256:...). */
const IMAGE_REFERENCE = /^(sha256:[a-f0-9]{64}|[a-zA-Z0-9][a-zA-Z0-9._-]*(:[0-9]+)?(\/[a-z0-9]+([._-]+[a-z0-9]+)*)*(:[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?)$/;

interface RunOpts {
  input?: string | Buffer;
  /** A file on this host streamed to the command's standard input. */
  inputFile?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  allowFail?: boolean;
  /** The command runs inside a node: its own "cannot connect" is about the node's engine, not the host. */
  inNode?: boolean;
}

/**
 * What a node container needs to run its own engine here (see ENVIRONMENT.md: --privileged
 * fails), as the API's HostConfig; the docker CLI's flags for the same are `--cap-add ALL
 * --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined --security-opt apparmor=unconfined
 * --security-opt systempaths=unconfined --cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup:rw
 * --tmpfs /run --tmpfs /tmp` (bench/cluster-create-floor.sh uses them; systempaths=unconfined is
 * the CLI's name for empty MaskedPaths and ReadonlyPaths).
 */
const NODE_HOST_CONFIG = {
  CapAdd: ['ALL'], CapDrop: ['SYS_RESOURCE'],
  SecurityOpt: ['seccomp=unconfined', 'apparmor=unconfined'], MaskedPaths: [] as string[], ReadonlyPaths: [] as string[],
  CgroupnsMode: 'host', Binds: ['/sys/fs/cgroup:/sys/fs/cgroup:rw'], Tmpfs: { '/run': '', '/tmp': '' } as Record<string, string>,
};

interface ContainerJson {
  Id: string; Config: { Image: string }; State: { Running: boolean };
  HostConfig: { RestartPolicy?: { Name?: string }; PortBindings?: Record<string, { HostPort?: string }[] | null> | null };
  NetworkSettings: { Networks: Record<string, { IPAddress: string }> | null; Ports: Record<string, { HostIp: string; HostPort: string }[] | null> | null };
}

/**
 * Nodes come back by themselves when the host's engine restarts (or the host reboots) and when
 * their engine process dies; a node stopped on purpose (docker stop, docker kill) stays stopped
 * until something starts it (auto-healing, or an operation that reconciles the nodegroup).
 * Everything the node's engine needs at start survives a restart: its certificates are in the
 * container's own file system, its state (Swarm membership included) on its volume, its address
 * is fixed on the cluster network and its API port is published on an explicit host port.
 */
const NODE_RESTART_POLICY = 'unless-stopped';

/** Where a published port is picked on a remote host: the Linux default ephemeral range, as local binds get. */
const REMOTE_PORT_RANGE = { first: 32768, last: 60999 };

export function parseFlavors(entries: readonly string[]): Map<string, Flavor> {
  const out = new Map<string, Flavor>();
  for (const e of entries) {
    const [name, vcpus, ram] = e.split(':');
    if (!name || !Number(vcpus) || !Number(ram)) throw new Error(`[docker] flavors: bad entry '${e}' (expected name:vcpus:ram_mb)`);
    out.set(name, { name, vcpus: Number(vcpus), ramMb: Number(ram) });
  }
  return out;
}

export class DockerProvider implements InfraProvider {
  readonly name = 'docker';
  readonly #global: string[];
  readonly #api: DockerApi;
  readonly #flavors: Map<string, Flavor>;
  readonly #externals: Map<string, string>;
  readonly subnetPool: { cidr: string; prefixLength: number };

  constructor(conf: Config) {
    const d = conf.docker;
    this.#global = ['--host', d.host];
    if (d.tls_ca_cert) this.#global.push('--tlsverify', '--tlscacert', d.tls_ca_cert, '--tlscert', String(d.tls_cert), '--tlskey', String(d.tls_key));
    this.#api = new DockerApi(d.host, d.tls_ca_cert
      ? { ca: readFileSync(d.tls_ca_cert), cert: readFileSync(String(d.tls_cert)), key: readFileSync(String(d.tls_key)) }
      : null);
    this.#flavors = parseFlavors(d.flavors);
    this.#externals = new Map(d.external_networks.map((e) => {
      const [name, addr] = e.split(':');
      return [name, addr || '127.0.0.1'];
    }));
    const pool = parseCidr(d.subnet_pool);
    if (!pool || pool.prefix > 24) throw new Error(`[docker] subnet_pool: '${d.subnet_pool}' is not an IPv4 CIDR of /24 or larger`);
    this.subnetPool = { cidr: formatCidr(pool), prefixLength: 24 };
  }

  async #docker(args: string[], opts: RunOpts = {}): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      const child = execFile('docker', [...this.#global, ...args], {
        timeout: opts.timeoutMs ?? 120_000,
        maxBuffer: 64 * 1024 * 1024,
        signal: opts.signal,
        encoding: 'utf8',
      }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        if (err && (err as { name?: string }).name === 'AbortError') return reject(err);
        if (code !== 0 && !opts.inNode && /Cannot connect to the Docker daemon|error during connect/.test(stderr)) {
          return reject(new DockerUnavailable(`the Docker host ${this.#global[1]} cannot be reached: ${stderr.trim()}`));
        }
        if (code !== 0 && !opts.allowFail) return reject(new Error(`docker ${args.slice(0, 3).join(' ')} failed (exit ${code}): ${stderr.trim() || stdout.trim()}`));
        resolve({ exitCode: code, stdout, stderr });
      });
      if (opts.input !== undefined) child.stdin?.end(opts.input);
      else if (opts.inputFile !== undefined && child.stdin) {
        const file = createReadStream(opts.inputFile);
        file.on('error', (err) => {
          child.kill();
          reject(err);
        });
        child.stdin.on('error', () => undefined); // the command ended before reading it all: its exit status says why
        file.pipe(child.stdin);
      }
    });
  }

  /** One Engine API call to the host; DockerUnavailable when the host does not answer. */
  async #call<T>(method: string, path: string, call: Parameters<DockerApi['json']>[2] = {}): Promise<T | null> {
    try {
      return await this.#api.json<T>(method, path, call);
    } catch (err) {
      if (err instanceof DockerApiUnreachable) throw new DockerUnavailable(`the Docker host ${this.#global[1]} cannot be reached: ${err.message}`);
      throw err;
    }
  }

  async image(name: string): Promise<ImageInfo | null> {
    // Only a Docker image reference can name an image; anything else (an option such as
    // "--help", spaces, control characters) is no image and never reaches the command line.
    if (!IMAGE_REFERENCE.test(name)) return null;
    let r: ExecResult;
    try {
      r = await this.#docker(['image', 'inspect', '--format', '{{json .}}', '--', name], { allowFail: true, timeoutMs: 15_000 });
    } catch (err) {
      if (err instanceof DockerUnavailable) throw E.ServiceUnavailable(`Images cannot be looked up: ${err.message}`);
      throw err;
    }
    if (r.exitCode !== 0) return null;
    const info = JSON.parse(r.stdout) as { Id: string; Config?: { Labels?: Record<string, string> | null } };
    return { name, id: info.Id, osDistro: info.Config?.Labels?.os_distro ?? null, labels: info.Config?.Labels ?? {} };
  }

  flavor(name: string): Flavor | null {
    return this.#flavors.get(name) ?? null;
  }

  externalNetworkAddress(name: string | null): string | null {
    if (name === null) return this.#externals.get('public') ?? '127.0.0.1';
    return this.#externals.get(name) ?? null;
  }

  async ensureNetwork(name: string, opts: { subnet: string | null; labels: Record<string, string> }): Promise<NetworkInfo> {
    const existing = await this.network(name);
    if (existing) return existing;
    const r = await this.#raw('POST', '/networks/create', {
      Name: name, Driver: 'bridge', CheckDuplicate: true, Labels: opts.labels,
      ...(opts.subnet ? { IPAM: { Driver: 'default', Config: [{ Subnet: opts.subnet }] } } : {}),
    });
    if (r.status < 300 || /already exists/.test(daemonError(r))) {
      const made = await this.network(name);
      if (made) return made;
    }
    if (opts.subnet && /overlap/i.test(daemonError(r))) throw new SubnetOverlap(opts.subnet, `creating network ${name}: ${daemonError(r)}`);
    throw new Error(`creating network ${name}: ${daemonError(r)}`);
  }

  async network(name: string): Promise<NetworkInfo | null> {
    const n = await this.#call<{ Id: string; Name: string; IPAM: { Config: { Subnet: string; Gateway?: string }[] | null } }>(
      'GET', `/networks/${encodeURIComponent(name)}`, { notFound: 'null' });
    // The engine also finds a network by an id prefix: only the name counts here (as inspect by name).
    if (!n || (n.Name !== name && !n.Id.startsWith(name))) return null;
    const cfg = n.IPAM.Config?.[0];
    return { name, id: n.Id, subnet: cfg?.Subnet ?? '', gateway: cfg?.Gateway ?? '' };
  }

  async usedSubnets(): Promise<string[]> {
    const nets = await this.#call<{ IPAM?: { Config?: { Subnet?: string }[] | null } }[]>('GET', '/networks') ?? [];
    return [...new Set(nets.flatMap((n) => (n.IPAM?.Config ?? []).map((c) => c.Subnet ?? '')).filter(Boolean))];
  }

  async removeNetwork(name: string): Promise<void> {
    const r = await this.#docker(['network', 'rm', name], { allowFail: true });
    if (r.exitCode !== 0 && !/not found|No such network/i.test(r.stderr)) throw new Error(`removing network ${name}: ${r.stderr.trim()}`);
  }

  async ensureVolume(name: string, labels: Record<string, string>): Promise<void> {
    // Idempotent as `docker volume create`: an existing volume of that name is returned as it is.
    await this.#call('POST', '/volumes/create', { json: { Name: name, Labels: labels } });
  }

  async removeVolume(name: string): Promise<void> {
    const r = await this.#docker(['volume', 'rm', '--force', name], { allowFail: true });
    if (r.exitCode !== 0 && !/no such volume/i.test(r.stderr)) throw new Error(`removing volume ${name}: ${r.stderr.trim()}`);
  }

  async #inspect(name: string): Promise<ContainerJson | null> {
    return this.#call<ContainerJson>('GET', `/containers/${encodeURIComponent(name)}/json`, { notFound: 'null' });
  }

  async inspectNode(name: string): Promise<NodeInfo | null> {
    const c = await this.#inspect(name);
    if (!c) return null;
    const published: Record<number, string> = {};
    for (const [k, v] of Object.entries(c.NetworkSettings.Ports ?? {})) {
      if (v?.length) published[Number(k.split('/')[0])] = `${v[0].HostIp || '127.0.0.1'}:${v[0].HostPort}`;
    }
    const nets = Object.values(c.NetworkSettings.Networks ?? {});
    return { name, id: c.Id, address: nets[0]?.IPAddress ?? '', running: c.State.Running, image: c.Config.Image, published };
  }

  async ensureNode(spec: NodeSpec): Promise<NodeInfo> {
    let c = await this.#inspect(spec.name);
    // Made just now: created, not running (no need to look again).
    if (!c && await this.#createNode(spec)) c = { State: { Running: false } } as ContainerJson;
    else if (!c) c = await this.#inspect(spec.name); // made meanwhile by someone else
    else if (c.HostConfig.RestartPolicy?.Name !== NODE_RESTART_POLICY) {
      // A node made before nodes had a restart policy gets it (works on a running container).
      await this.#call('POST', `/containers/${encodeURIComponent(spec.name)}/update`, { json: { RestartPolicy: { Name: NODE_RESTART_POLICY } } });
    }
    if (c && !c.State.Running) {
      // Files go in before every start, not only after a create: a create cut short (a conductor
      // killed between the create and the copy) leaves a node without them, and its engine cannot start.
      if (spec.files.length) await this.#copyFiles(spec.name, spec.files);
      // 304: already started (by a restart policy or a concurrent step).
      await this.#call('POST', `/containers/${encodeURIComponent(spec.name)}/start`);
    }
    const info = await this.inspectNode(spec.name);
    if (!info) throw new Error(`node ${spec.name} disappeared while starting`);
    return info;
  }

  /** `docker container create` of the node, through the API: true when made now, false when it already existed. */
  async #createNode(spec: NodeSpec): Promise<boolean> {
    const hostIp = this.externalNetworkAddress(spec.externalNetwork) ?? '127.0.0.1';
    const volumePath = spec.volumePath ?? '/var/lib/docker';
    const body = (devices: readonly string[]) => ({
      Hostname: spec.hostname,
      Image: spec.image,
      // The node image's entrypoint runs dockerd with these arguments (images made by bin/magnum-node-image).
      Cmd: spec.args,
      Labels: spec.labels,
      ExposedPorts: Object.fromEntries(spec.publish.map((p) => [`${p.port}/tcp`, {}])),
      HostConfig: {
        ...NODE_HOST_CONFIG,
        Binds: [...NODE_HOST_CONFIG.Binds, ...(spec.volume ? [`${spec.volume}:${volumePath}`] : [])],
        Tmpfs: { ...NODE_HOST_CONFIG.Tmpfs, ...(spec.volume ? {} : { [volumePath]: '' }) },
        RestartPolicy: { Name: NODE_RESTART_POLICY },
        NetworkMode: spec.network,
        Devices: devices.map((d) => ({ PathOnHost: d, PathInContainer: d, CgroupPermissions: 'rwm' })),
        ...(spec.flavor ? { NanoCpus: Math.round(spec.flavor.vcpus * 1e9), Memory: spec.flavor.ramMb * 1024 * 1024 } : {}),
        PortBindings: Object.fromEntries(spec.publish.map((p) => [`${p.port}/tcp`, [{ HostIp: hostIp, HostPort: p.hostPort ? String(p.hostPort) : '' }]])),
        Dns: spec.dns,
      },
      NetworkingConfig: { EndpointsConfig: { [spec.network]: { IPAMConfig: { IPv4Address: spec.address } } } },
    });
    const path = `/containers/create?name=${encodeURIComponent(spec.name)}`;
    const devices = spec.devices ?? [];
    let r = await this.#raw('POST', path, body(devices));
    // A device the Docker host lacks (e.g. /dev/kmsg in some sandboxes): the node goes without it.
    const missing = r.status >= 300 ? devices.filter((d) => daemonError(r).includes(d)) : [];
    if (missing.length) r = await this.#raw('POST', path, body(devices.filter((d) => !missing.includes(d))));
    if (r.status === 409 && /already in use/.test(daemonError(r))) return false;
    if (r.status >= 300) throw new Error(`creating node ${spec.name}: ${daemonError(r)}`);
    return true;
  }

  async #raw(method: string, path: string, json: unknown) {
    try {
      return await this.#api.request(method, path, { json });
    } catch (err) {
      if (err instanceof DockerApiUnreachable) throw new DockerUnavailable(`the Docker host ${this.#global[1]} cannot be reached: ${err.message}`);
      throw err;
    }
  }

  /** Writes files into a node (created or running): one tar archive extracted at its root. */
  async #copyFiles(node: string, files: NodeSpec['files']): Promise<void> {
    await this.#call('PUT', `/containers/${encodeURIComponent(node)}/archive?path=%2F`, { raw: { data: tarFiles(files), contentType: 'application/x-tar' } });
  }

  /** Replace files in a node (running or not), e.g. new certificates after a CA rotation. */
  async writeFiles(node: string, files: NodeSpec['files']): Promise<void> {
    await this.#copyFiles(node, files);
  }

  async restartNode(node: string): Promise<void> {
    await this.#docker(['container', 'restart', '--time', '5', node]);
  }

  async stopNode(node: string): Promise<void> {
    await this.#docker(['container', 'stop', '--time', '5', node], { allowFail: true });
  }

  async removeNode(name: string): Promise<void> {
    const r = await this.#docker(['container', 'rm', '--force', '--volumes', name], { allowFail: true });
    if (r.exitCode !== 0 && !/No such container/i.test(r.stderr)) throw new Error(`removing node ${name}: ${r.stderr.trim()}`);
  }

  async exec(node: string, cmd: string[], opts: { input?: string | Buffer; inputFile?: string; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<ExecResult> {
    const stdin = opts.input !== undefined || opts.inputFile !== undefined;
    if (stdin) return this.#docker(['exec', '-i', node, ...cmd], { ...opts, allowFail: true, inNode: true });
    // Without standard input: through the API. The CLI's answers are kept: exit 1 and the
    // daemon's words on stderr when the node is missing or stopped; 126/127 when the command cannot run.
    try {
      return await this.#api.exec(node, cmd, { timeoutMs: opts.timeoutMs ?? 120_000, signal: opts.signal });
    } catch (err) {
      if (err instanceof DockerApiUnreachable) throw new DockerUnavailable(`the Docker host ${this.#global[1]} cannot be reached: ${err.message}`);
      // As the CLI killed at its timeout: no exit status (the command may still run in the node).
      if (err instanceof DockerApiTimeout) return { exitCode: -1, stdout: '', stderr: err.message };
      if (err instanceof DockerApiError) {
        if (/executable file not found|no such file or directory/i.test(err.message)) return { exitCode: 127, stdout: '', stderr: `Error response from daemon: ${err.message}\n` };
        return { exitCode: 1, stdout: '', stderr: `Error response from daemon: ${err.message.replace(/^[A-Z]+ \S+: /, '')}\n` };
      }
      throw err;
    }
  }

  async loadImage(image: string, node: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const save = spawn('docker', [...this.#global, 'save', image], { stdio: ['ignore', 'pipe', 'pipe'], signal: opts.signal });
      const load = spawn('docker', [...this.#global, 'exec', '-i', node, 'docker', 'load'], { stdio: ['pipe', 'ignore', 'pipe'], signal: opts.signal });
      let err = '';
      save.stderr.on('data', (d) => (err += d));
      load.stderr.on('data', (d) => (err += d));
      save.stdout.pipe(load.stdin);
      let pending = 2;
      let failed = false;
      const done = (code: number | null) => {
        if (code !== 0 && !failed) {
          failed = true;
          reject(new Error(`copying image ${image} into ${node} failed: ${err.trim()}`));
        }
        if (--pending === 0 && !failed) resolve();
      };
      save.on('error', (e) => { failed = true; reject(e); });
      load.on('error', (e) => { failed = true; reject(e); });
      save.on('exit', done);
      load.on('exit', done);
    });
  }

  async freePort(externalNetwork: string | null): Promise<number | undefined> {
    const host = this.externalNetworkAddress(externalNetwork) ?? '127.0.0.1';
    // Ports bound by any container of the host, stopped ones too: a stopped node gets its port
    // back when it starts again, so nobody else may take it meanwhile.
    const reserved = await this.#reservedPorts();
    const local = this.#global[1].startsWith('unix://');
    for (let attempt = 0; attempt < 20; attempt++) {
      const port = local ? await this.#localFreePort(host) : REMOTE_PORT_RANGE.first + Math.floor(Math.random() * (REMOTE_PORT_RANGE.last - REMOTE_PORT_RANGE.first + 1));
      if (reserved.has(port)) continue;
      // On a remote host nothing can be bound from here: a port something already listens on is skipped.
      if (!local && await listening(host, port)) continue;
      return port;
    }
    return undefined;
  }

  async #localFreePort(host: string): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, host, () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
  }

  /** Host ports published by the host's containers, running or not (explicit and engine-picked ones). */
  async #reservedPorts(): Promise<Set<number>> {
    const used = new Set<number>();
    // Running containers' bindings are in the list; a stopped one's explicit bindings only in its inspect.
    const list = await this.#call<{ Id: string; State: string; Ports?: { PublicPort?: number }[] }[]>('GET', '/containers/json?all=1') ?? [];
    for (const c of list) for (const p of c.Ports ?? []) if (p.PublicPort) used.add(p.PublicPort);
    const stopped = list.filter((c) => c.State !== 'running');
    await Promise.all(stopped.map(async (c) => {
      // A container removed since the list is skipped.
      const j = await this.#inspect(c.Id);
      for (const v of [...Object.values(j?.HostConfig.PortBindings ?? {}), ...Object.values(j?.NetworkSettings.Ports ?? {})]) {
        for (const b of v ?? []) if (Number(b.HostPort)) used.add(Number(b.HostPort));
      }
    }));
    return used;
  }

  async listLabelled(label: string, value: string): Promise<LabelledResource[]> {
    const filter = `label=${label}=${value}`;
    const [c, n, v] = await Promise.all([
      this.#docker(['ps', '-a', '--filter', filter, '--format', '{{.Names}}']),
      this.#docker(['network', 'ls', '--filter', filter, '--format', '{{.Name}}']),
      this.#docker(['volume', 'ls', '--filter', filter, '--format', '{{.Name}}']),
    ]);
    const lines = (s: string) => s.split('\n').map((x) => x.trim()).filter(Boolean);
    return [
      ...lines(c.stdout).map((name) => ({ kind: 'container' as const, name })),
      ...lines(n.stdout).map((name) => ({ kind: 'network' as const, name })),
      ...lines(v.stdout).map((name) => ({ kind: 'volume' as const, name })),
    ];
  }
}

/** Whether something accepts TCP connections on host:port (a refusal or no answer within 2 s: no). */
function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(2_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
