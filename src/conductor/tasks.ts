// Task operations: what changes the things that run on a cluster (containers, services, pods) is
// an operation like a cluster's lifecycle (a row in `operation`, claimed under a lease, with a
// deadline, named idempotent steps, events in the cluster's timeline), so that another conductor
// resumes it when the one running it dies. The conductor module that owns a kind checks the request
// first (a 4xx then changes nothing), writes the operation (with the row of the object it makes,
// which is that object's ledger entry) and starts it here; the API waits for its end on the
// operation's row (ConductorAPI), whichever conductor finishes it. The outcome rules: a task never
// changes the cluster's status; its result, or its error with class and status, is kept in the
// operation's params; a cluster delete ends the tasks still running on the cluster.
import { randomUUID } from 'node:crypto';
import { E } from '../common/errors.ts';
import type { NewWorkload, Storage } from '../db/api.ts';
import type { Container, TaskKind } from '../objects/models.ts';
import type { OperationRunner, TaskHandler, TaskHandlers } from './operation-runner.ts';

/** What a task RPC method answers: the operation to wait for. */
export interface TaskStarted {
  operation: string;
}

export interface TaskRequest {
  /** The operation's uuid: the one the request named (see repeat), else a new one. */
  uuid?: string | null;
  kind: TaskKind;
  cluster: string;
  params: Record<string, unknown>;
  /** How long the operation may take, from now. */
  deadlineMs: number;
  requestId?: string | null;
  /** The row it makes, written with the operation (its ledger entry). */
  rows?: { container?: Partial<Container> & { uuid: string; cluster_id: string }; workload?: NewWorkload };
}

export class TaskOperations {
  readonly handlers: TaskHandlers = new Map();
  readonly #storage: Storage;
  #runner: OperationRunner | null = null;

  constructor(storage: Storage) {
    this.#storage = storage;
  }

  /** The runner that runs them (it is built with `handlers`). */
  attach(runner: OperationRunner): void {
    this.#runner = runner;
  }

  register(kind: TaskKind, handler: TaskHandler): void {
    this.handlers.set(kind, handler);
  }

  /**
   * The broker delivers a request at least once (again to another conductor when the first died
   * handling it): a request names its operation (`operation`, made by the API), and a repeat of one
   * whose operation is written answers that operation, without checking the request again (which
   * could now refuse it, e.g. a container that exists: it is the one this request made).
   */
  async repeat(args: Record<string, unknown>): Promise<TaskStarted | null> {
    const uuid = typeof args.operation === 'string' ? args.operation : null;
    return uuid && (await this.#storage.getOperation(uuid)) ? { operation: uuid } : null;
  }

  /**
   * Writes the operation and starts it on this conductor; answers at once. A cluster that is gone
   * or being deleted is a 409/404 and nothing is written; a row that exists throws its storage
   * error (UniqueViolation, DuplicateWorkload) for the caller to answer.
   */
  async start(req: TaskRequest): Promise<TaskStarted> {
    const uuid = req.uuid ?? randomUUID();
    const op = { uuid, cluster_id: req.cluster, nodegroup_id: null, kind: req.kind, params: req.params, deadline_at: new Date(Date.now() + req.deadlineMs), request_id: req.requestId ?? null };
    if (!(await this.#storage.startTaskOperation(op, req.rows))) {
      const cluster = await this.#storage.getClusterByUuid(req.cluster);
      if (!cluster) throw E.ClusterNotFound(req.cluster);
      throw E.Conflict(`Cluster ${cluster.name ?? cluster.uuid} is being deleted.`);
    }
    // Not awaited: the request waits on the row; a conductor that dies leaves it to another's sweep.
    void this.#runner?.run(uuid);
    return { operation: uuid };
  }
}
