// The driver interface. A driver turns an operation into an ordered list of named steps. Each step
// is idempotent: it looks at the world first and does only what is missing, so a conductor that
// takes over an orphaned operation simply runs again from the saved step. Drivers never touch the
// database: they report changes through the StepContext and the conductor saves them.
import type { Cluster, ClusterTemplate, NodeGroup, Operation, OperationKind } from '../objects/models.ts';

export interface DriverTuple {
  server_type: string;
  os: string;
  coe: string;
}

export interface StepContext {
  readonly operation: Operation;
  readonly cluster: Cluster;
  readonly template: ClusterTemplate;
  readonly nodegroups: readonly NodeGroup[];
  /** The template an upgrade moves to. */
  readonly targetTemplate: ClusterTemplate | null;
  /** Aborted when the deadline passes or this conductor loses the operation's lease. */
  readonly signal: AbortSignal;
  /** Driver state carried between steps and across conductor restarts (saved after each step). */
  readonly state: Record<string, unknown>;
  setCluster(changes: Partial<Cluster>): void;
  setNodeGroup(uuid: string, changes: Partial<NodeGroup>): void;
  /** Adds an informational event to the cluster's timeline. */
  note(message: string): void;
}

export interface Step {
  name: string;
  run(ctx: StepContext): Promise<void>;
}

export interface HealthReport {
  status: 'HEALTHY' | 'UNHEALTHY' | 'UNKNOWN';
  reason: Record<string, string>;
}

export interface CertificateAuthority {
  getCa(cluster: Cluster, caType: string | null): Promise<string>;
  sign(cluster: Cluster, csr: string, caType: string | null): Promise<string>;
}

export interface Driver {
  readonly name: string;
  readonly provides: readonly DriverTuple[];
  steps(kind: OperationKind, operation: Operation): Step[];
  /** Health of a running cluster, polled periodically. */
  health?(cluster: Cluster, nodegroups: readonly NodeGroup[]): Promise<HealthReport>;
}
