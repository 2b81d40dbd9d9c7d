// Where nodes come from. A provider makes networks, volumes and node machines; drivers use it and
// never know whether nodes are local containers (the `docker` provider) or, later, OpenStack
// servers. Every call is idempotent by name, so a step that runs twice does no harm.

export interface Flavor {
  name: string;
  vcpus: number;
  ramMb: number;
}

export interface ImageInfo {
  name: string;
  id: string;
  /** The image's os_distro label (a Glance property in OpenStack). */
  osDistro: string | null;
  /** The image's labels (kube_tag, ...; Glance properties in OpenStack). */
  labels?: Record<string, string>;
}

export interface NetworkInfo {
  name: string;
  id: string;
  subnet: string;
  gateway: string;
}

export interface NodeFile {
  path: string;
  content: string;
  mode: number;
}

export interface NodeSpec {
  name: string;
  hostname: string;
  image: string;
  network: string;
  /** Fixed address in the network's subnet. */
  address: string;
  flavor: Flavor | null;
  /** Volume holding the node engine's storage (/var/lib/docker), or null for a tmpfs. */
  volume: string | null;
  /** Where the volume (or tmpfs) is mounted in the node; default /var/lib/docker. */
  volumePath?: string;
  /** Host devices the node needs, when the host has them (e.g. /dev/kmsg for a kubelet). */
  devices?: string[];
  labels: Record<string, string>;
  files: NodeFile[];
  /** Arguments of the node's container engine daemon. */
  args: string[];
  /** Container ports to publish on the external network's host address, on a given host port or any. */
  publish: { port: number; hostPort?: number }[];
  externalNetwork: string | null;
  dns: string[];
}

export interface NodeInfo {
  name: string;
  id: string;
  address: string;
  running: boolean;
  image: string;
  /** Container port → published host "ip:port". */
  published: Record<number, string>;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface LabelledResource {
  kind: 'container' | 'network' | 'volume';
  name: string;
}

/**
 * The infrastructure itself did not answer (the Docker host's engine is down or unreachable): what
 * it runs cannot be looked at now, and nothing an operation does could repair it.
 */
export class InfraUnavailable extends Error {
  override name = 'InfraUnavailable';
}

/** The subnet asked for overlaps one a network on the host already uses. */
export class SubnetOverlap extends Error {
  override name = 'SubnetOverlap';
  constructor(readonly subnet: string, message: string) {
    super(message);
  }
}

export interface InfraProvider {
  readonly name: string;
  image(name: string): Promise<ImageInfo | null>;
  flavor(name: string): Flavor | null;
  /** The host address endpoints are published on, or null when no such external network exists. */
  externalNetworkAddress(name: string | null): string | null;
  /** Where cluster networks take their subnets from (allocated by the conductor), and the size of one. */
  readonly subnetPool: { cidr: string; prefixLength: number };
  /** The subnets the host's networks use now, whoever made them (CIDRs). */
  usedSubnets(): Promise<string[]>;
  network(name: string): Promise<NetworkInfo | null>;
  /** Makes the network with this subnet (null: the host picks one), or returns it when it exists; SubnetOverlap when the subnet is taken on the host. */
  ensureNetwork(name: string, opts: { subnet: string | null; labels: Record<string, string> }): Promise<NetworkInfo>;
  removeNetwork(name: string): Promise<void>;
  ensureVolume(name: string, labels: Record<string, string>): Promise<void>;
  removeVolume(name: string): Promise<void>;
  /**
   * Makes the node (or returns it) and starts it when it is not running. A node comes back by
   * itself when the host restarts (or its process dies), unless it was stopped on purpose.
   */
  ensureNode(spec: NodeSpec): Promise<NodeInfo>;
  inspectNode(name: string): Promise<NodeInfo | null>;
  removeNode(name: string): Promise<void>;
  /** Replace files in a node (running or not), e.g. new certificates after a CA rotation. */
  writeFiles(node: string, files: NodeSpec['files']): Promise<void>;
  restartNode(node: string): Promise<void>;
  /** Stops a node on purpose: it stays stopped, across host restarts too. */
  stopNode(node: string): Promise<void>;
  /** Runs a command in a node; its standard input is `input`, or the contents of the file `inputFile` on this host (streamed). */
  exec(node: string, cmd: string[], opts?: { input?: string | Buffer; inputFile?: string; timeoutMs?: number; signal?: AbortSignal }): Promise<ExecResult>;
  /** Copy an image from the provider's image store into a node's engine. */
  loadImage(image: string, node: string, opts?: { signal?: AbortSignal }): Promise<void>;
  listLabelled(label: string, value: string): Promise<LabelledResource[]>;
  /**
   * A free port on the external network's host address, to publish on explicitly so that it stays
   * the same when the node restarts (and when it is re-created); undefined when the provider
   * cannot find one (the engine then picks, and the port may change at the node's next start).
   */
  freePort(externalNetwork: string | null): Promise<number | undefined>;
}
