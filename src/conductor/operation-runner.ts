// Runs one operation under a lease: claim it, resume after the last finished step, renew the
// lease while working, save each step, end COMPLETE or FAILED with a reason that names the step.
// A conductor killed mid-operation leaves a lease that runs out; another conductor's sweep claims
// the operation and continues from the saved step (steps are idempotent).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Config } from '../conf/index.ts';
import type { Storage } from '../db/api.ts';
import type { DriverRegistry } from '../drivers/registry.ts';
import type { ClusterPki, Ledger, Step, StepContext } from '../drivers/driver.ts';
import { MagnumError } from '../common/errors.ts';
import { isTaskKind } from '../objects/fields.ts';
import { InfraUnavailable } from '../infra/provider.ts';
import type { Cluster, ClusterTemplate, NodeGroup, Operation } from '../objects/models.ts';
import { clusterAddresses } from './addresses.ts';
import { operationSteps } from './cluster-steps.ts';
import { isDatabaseUnavailable, unavailableReason } from '../db/errors.ts';
import { completion, failure, type Finish } from './outcome.ts';

/** Builds the certificate access of one cluster (null only for a runner without a certificate store). */
export type PkiFactory = (cluster: Cluster, template: ClusterTemplate) => ClusterPki | null;

type EventOutcome = 'started' | 'succeeded' | 'failed' | 'info';
type EventLine = { step: string; outcome: EventOutcome; message: string | null };

/**
 * The steps of one kind of task operation (containers, services: see TaskKind), given by the
 * conductor module that owns it. `undo` takes back what a failed operation made (a half-made
 * container, a service row): run once when the operation fails (with the steps' state as it was,
 * what the failing step set included), and by the sweep when it expires (with the state saved
 * after the last finished step); it must be idempotent.
 */
export interface TaskHandler {
  steps(op: Operation): Step[];
  undo?(op: Operation, state: Record<string, unknown>): Promise<void>;
}
export type TaskHandlers = Map<string, TaskHandler>;

class LeaseLost extends Error {}
class DeadlinePassed extends Error {}

const VERB: Record<string, string> = {
  cluster_create: 'Cluster create', cluster_update: 'Cluster update', cluster_resize: 'Cluster resize',
  cluster_upgrade: 'Cluster upgrade', cluster_delete: 'Cluster delete', nodegroup_create: 'Nodegroup create',
  nodegroup_update: 'Nodegroup update', nodegroup_delete: 'Nodegroup delete', rotate_ca: 'CA rotation',
  cluster_heal: 'Auto-healing',
  container_create: 'Container create', container_action: 'Container action', container_delete: 'Container delete',
  workload_create: 'Create', workload_update: 'Update', workload_delete: 'Delete',
};

function verb(op: Operation): string {
  const what = op.kind.startsWith('workload_') ? `${op.params.kind === 'pod' ? 'Pod' : 'Service'} ${VERB[op.kind].toLowerCase()}` : VERB[op.kind];
  return op.kind === 'container_action' ? `Container ${String(op.params.action)}` : what;
}

export class OperationRunner {
  readonly #storage: Storage;
  readonly #drivers: DriverRegistry;
  readonly #owner: string;
  readonly #leaseMs: number;
  readonly #log: Logger | undefined;
  readonly #running = new Map<string, Promise<void>>();
  readonly #pki: PkiFactory;
  readonly #onComplete: (clusterUuid: string) => void;
  readonly #tasks: TaskHandlers;
  /** Where leases are renewed: a connection of their own, so a renewal never queues behind work. */
  readonly #leases: Pick<Storage, 'renewLeases'>;
  /** The operations this runner holds, each with what aborts it when its lease is lost. */
  readonly #held = new Map<string, AbortController>();
  #renewTimer: NodeJS.Timeout | undefined;
  #renewing = false;

  constructor(opts: { storage: Storage; leases?: Pick<Storage, 'renewLeases'>; drivers: DriverRegistry; conf: Config; owner: string; logger?: Logger; pki?: PkiFactory; onComplete?: (clusterUuid: string) => void; tasks?: TaskHandlers }) {
    this.#tasks = opts.tasks ?? new Map();
    this.#pki = opts.pki ?? (() => null);
    this.#onComplete = opts.onComplete ?? (() => undefined);
    this.#storage = opts.storage;
    this.#leases = opts.leases ?? opts.storage;
    this.#drivers = opts.drivers;
    this.#owner = opts.owner;
    this.#leaseMs = opts.conf.conductor.operation_lease * 1000;
    this.#log = opts.logger;
  }

  get owner() {
    return this.#owner;
  }

  /**
   * Claim and run; resolves when done (or at once if another conductor holds it). Never rejects:
   * what cannot be done now (the database unavailable when claiming) is left to the sweep.
   */
  run(uuid: string): Promise<void> {
    const existing = this.#running.get(uuid);
    if (existing) return existing;
    const p = this.#run(uuid)
      .catch((err: unknown) => {
        if (isDatabaseUnavailable(err)) this.#log?.warn({ operation: uuid, reason: unavailableReason(err) }, 'database unavailable; the operation is left to the sweep');
        else this.#log?.error({ operation: uuid, err }, 'operation runner failed');
      })
      .finally(() => this.#running.delete(uuid));
    this.#running.set(uuid, p);
    return p;
  }

  async drain(): Promise<void> {
    await Promise.allSettled([...this.#running.values()]);
  }

  /**
   * A storage call of a running operation that waits out a database outage: tried again (0.5 s,
   * doubling up to 5 s) while the database is unavailable, until it works or the operation is
   * aborted (its deadline, its lease lost). Every such call is idempotent or guarded by the owner.
   */
  async #persist<T>(signal: AbortSignal, uuid: string, fn: () => Promise<T>): Promise<T> {
    let warned = false;
    for (let delay = 500; ; delay = Math.min(delay * 2, 5_000)) {
      try {
        const out = await fn();
        if (warned) this.#log?.info({ operation: uuid }, 'database available again; the operation goes on');
        return out;
      } catch (err) {
        if (!isDatabaseUnavailable(err) || signal.aborted) throw err;
        if (!warned) this.#log?.warn({ operation: uuid, reason: unavailableReason(err) }, 'database unavailable; the operation waits for it');
        warned = true;
        await sleep(delay, undefined, { signal }).catch(() => undefined);
        if (signal.aborted) throw signal.reason ?? err;
      }
    }
  }

  async #run(uuid: string): Promise<void> {
    const now = new Date();
    if (!(await this.#storage.claimOperation(uuid, this.#owner, new Date(now.getTime() + this.#leaseMs), now))) return;
    // From here the operation is ours: every exit below releases, finishes or fails it.
    const abort = new AbortController();
    const signal = abort.signal;
    let deadlineTimer: NodeJS.Timeout | undefined;
    let op: Operation | null | undefined;
    let currentStep = 'start';
    let ngs: NodeGroup[] = [];
    let liveCluster: Cluster | undefined;
    // The steps' state as it is now (what a failing step set before it threw included), for undo.
    let liveState: Record<string, unknown> | undefined;
    this.#hold(uuid, abort);
    try {
      op = await this.#persist(signal, uuid, () => this.#storage.getOperation(uuid));
      if (!op) return;
      const theOp = op;
      const msLeft = op.deadline_at.getTime() - Date.now();
      deadlineTimer = setTimeout(() => abort.abort(new DeadlinePassed()), Math.max(0, msLeft));
      currentStep = op.step ?? 'start';
      const cluster = await this.#persist(signal, uuid, () => this.#storage.getClusterByUuid(theOp.cluster_id));
      if (!cluster) {
        await this.#persist(signal, uuid, () => this.#storage.finishOperation({ uuid, owner: this.#owner, state: 'failed', error: 'The cluster no longer exists.' }));
        return;
      }
      liveCluster = cluster;
      const resumed = op.attempts > 1;
      ngs = await this.#persist(signal, uuid, () => this.#storage.listNodeGroupsOf([cluster.uuid]));
      const template = await this.#persist(signal, uuid, () => this.#storage.getClusterTemplateByUuid(cluster.cluster_template_id ?? ''));
      if (!template) throw new Error(`its cluster template ${cluster.cluster_template_id} no longer exists`);
      const target = op.kind === 'cluster_upgrade' ? await this.#persist(signal, uuid, () => this.#storage.getClusterTemplateByUuid(String(theOp.params.cluster_template))) : null;
      const kind = op.kind;
      let steps: Step[];
      if (isTaskKind(kind)) {
        const handler = this.#tasks.get(kind);
        if (!handler) throw new Error(`this conductor has no handler for ${kind} operations`);
        steps = handler.steps(op);
      } else {
        const driver = this.#drivers.forTemplate(template);
        if (kind === 'cluster_delete') await this.#waitForSuperseded(op, signal);
        steps = operationSteps(kind, driver.steps(kind, op));
      }
      const ledger = this.#ledger(cluster.uuid);
      const pki = this.#pki(cluster, template);
      const addresses = clusterAddresses(this.#storage, cluster.uuid);
      const done = op.step ? steps.findIndex((s) => s.name === theOp.step) + 1 : 0;
      const state = { ...((op.params.state as Record<string, unknown> | undefined) ?? {}) };
      liveState = state;
      // A step's "succeeded" line is written with the next line (the next step's "started", or
      // before the operation ends): one statement per step boundary instead of two.
      let succeeded: string | null = null;
      const pendingLine = (): EventLine[] => {
        const line = succeeded ? [{ step: succeeded, outcome: 'succeeded' as const, message: null }] : [];
        succeeded = null;
        return line;
      };
      const event = (step: string, outcome: EventOutcome, message: string | null) => {
        const lines = [...pendingLine(), { step, outcome, message }];
        return this.#persist(signal, uuid, () => this.#events(theOp, lines));
      };
      if (resumed) await event(currentStep, 'info', `Resumed by ${this.#owner} (attempt ${op.attempts}).`);
      const force = op.kind === 'cluster_delete' && op.params.force === true;
      const forceErrors: string[] = [];
      for (const step of steps.slice(done)) {
        if (signal.aborted) {
          // The last step did succeed (it is saved): its line is still true, whoever goes on.
          await this.#events(theOp, pendingLine()).catch(() => undefined);
          throw signal.reason;
        }
        currentStep = step.name;
        await event(step.name, 'started', null);
        const clusterChanges: Partial<Cluster> = {};
        const ngChanges: Record<string, Partial<NodeGroup>> = {};
        const ctx: StepContext = {
          operation: op, cluster: liveCluster, template, nodegroups: ngs, targetTemplate: target, signal, state,
          setCluster: (c) => Object.assign(clusterChanges, c),
          setNodeGroup: (id, c) => { ngChanges[id] = { ...ngChanges[id], ...c }; },
          note: (m) => void this.#event(theOp, step.name, 'info', m).catch((err: unknown) => this.#log?.warn({ operation: uuid, reason: unavailableReason(err) }, 'a note of the operation was not saved')),
          ledger,
          pki,
          addresses,
        };
        let hostDownSince = 0;
        for (let hostWait = 1_000; ; ) {
          try {
            await step.run(ctx);
            if (hostDownSince) await event(step.name, 'info', `The infrastructure answers again after ${Math.round((Date.now() - hostDownSince) / 1000)} s.`);
            break;
          } catch (err) {
            if (err instanceof InfraUnavailable && !signal.aborted) {
              // The host of the nodes does not answer (its engine restarting, a network blip):
              // nothing this step could repair; it waits under its lease, within the operation's
              // deadline (which ends the wait), and runs again (steps are idempotent).
              if (!hostDownSince) {
                hostDownSince = Date.now();
                this.#log?.warn({ operation: uuid, step: step.name, reason: err.message }, 'infrastructure unavailable during a step; waiting for it');
                await event(step.name, 'info', `Waiting for the infrastructure: ${err.message}`);
              }
              await sleep(hostWait, undefined, { signal }).catch(() => undefined);
              hostWait = Math.min(hostWait * 2, 10_000);
              if (signal.aborted) throw signal.reason;
              continue;
            }
            if (isDatabaseUnavailable(err) && !signal.aborted) {
              // The step's own bookkeeping (its ledger) met a database outage: wait for the database
              // under our lease, then run the step again (steps are idempotent).
              this.#log?.warn({ operation: uuid, step: step.name, reason: unavailableReason(err) }, 'database unavailable during a step; running it again once it is back');
              const held = await this.#persist(signal, uuid, () => this.#leases.renewLeases(this.#owner, [uuid], new Date(Date.now() + this.#leaseMs)));
              if (!held.length) throw new LeaseLost();
              continue;
            }
            if (!force || signal.aborted) throw err;
            // A forced delete goes on past a failed step; what remains is reported below.
            forceErrors.push(`${step.name}: ${(err as Error).message}`);
            await event(step.name, 'failed', `${(err as Error).message} (forced delete: going on)`);
            break;
          }
        }
        // The step, its params and what it changed commit together: a crash never keeps one without the other.
        const outcome = { uuid, owner: this.#owner, step: step.name, params: { ...theOp.params, state }, cluster: { uuid: cluster.uuid, changes: clusterChanges }, nodegroups: ngChanges };
        if (!(await this.#persist(signal, uuid, () => this.#storage.saveStepOutcome(outcome)))) throw new LeaseLost();
        if (Object.keys(clusterChanges).length) liveCluster = (await this.#persist(signal, uuid, () => this.#storage.getClusterByUuid(cluster.uuid))) ?? liveCluster;
        if (Object.keys(ngChanges).length) ngs = await this.#persist(signal, uuid, () => this.#storage.listNodeGroupsOf([cluster.uuid]));
        succeeded = step.name;
      }
      const last = pendingLine();
      await this.#persist(signal, uuid, () => this.#events(theOp, last));
      if (op.kind === 'cluster_delete') {
        const left = await this.#persist(signal, uuid, () => ledger.list());
        const what = left.map((r) => `${r.kind} ${r.name}`).join(', ');
        if (left.length && !force) throw new Error(`resources are left that could not be removed: ${what}`);
        if (force && (left.length || forceErrors.length)) {
          this.#log?.warn({ cluster: cluster.uuid, left: what, errors: forceErrors }, 'forced delete: the cluster is removed, these resources could not be');
        }
      }
      const finished = liveCluster;
      await this.#persist(signal, uuid, () => this.#finish(theOp, 'complete', null, completion(theOp, finished, ngs, target)));
      await this.#event(op, op.kind, 'succeeded', `${verb(op)} finished.`).catch(() => undefined);
      if (op.kind !== 'cluster_delete' && !isTaskKind(op.kind)) this.#onComplete(cluster.uuid);
    } catch (err) {
      if (err instanceof LeaseLost || signal.reason instanceof LeaseLost) {
        this.#log?.warn({ operation: uuid }, 'lost the lease of an operation; another conductor or a delete took it over');
        await this.#storage.releaseOperation(uuid, this.#owner).catch(() => undefined);
        return;
      }
      if (!op || !liveCluster || (isDatabaseUnavailable(err) && !signal.aborted)) {
        // Not the operation's fault: give it back (or let its lease run out) for the sweep to resume.
        this.#log?.warn({ operation: uuid, step: currentStep, reason: unavailableReason(err) }, 'operation interrupted; it is left to the sweep to resume');
        await this.#storage.releaseOperation(uuid, this.#owner).catch(() => undefined);
        return;
      }
      const overdue = signal.reason instanceof DeadlinePassed || err instanceof DeadlinePassed;
      const reason = overdue
        ? `${verb(op)} did not finish before its deadline (${op.deadline_at.toISOString()}); it stopped at step "${currentStep}".`
        : `${verb(op)} failed at step "${currentStep}": ${(err as Error).message ?? String(err)}`;
      this.#log?.warn({ operation: uuid, step: currentStep, err }, 'operation failed');
      // Recorded even past the deadline (the abort signal has fired then): a bounded wait for the database.
      const recording = AbortSignal.timeout(this.#leaseMs);
      const failed = op;
      const last = liveCluster;
      try {
        // A task keeps its error (class and status) for the request waiting on it, and takes back what it made.
        let params: Record<string, unknown> | undefined;
        if (isTaskKind(op.kind)) {
          const e = !overdue && err instanceof MagnumError ? { code: err.code, status: err.status, message: err.message } : { code: overdue ? 'MessagingTimeout' : 'ServiceUnavailable', status: overdue ? 504 : 503, message: reason };
          params = { ...op.params, error: e };
          await this.#undo(op, recording, liveState);
        }
        await this.#persist(recording, uuid, () => this.#finish(failed, 'failed', reason, { ...failure(failed, last, ngs, reason), params }));
        await this.#event(op, currentStep, 'failed', reason).catch(() => undefined);
      } catch (e) {
        this.#log?.error({ operation: uuid, err: e }, 'could not record a failure; the sweep will');
      }
    } finally {
      clearTimeout(deadlineTimer);
      this.#letGo(uuid, abort);
    }
  }

  /**
   * Leases are renewed together: one statement per lease/3 for all the operations this runner
   * holds (not one per operation), on the lease connection. An operation the statement no longer
   * finds ours (taken over, ended by a delete) is aborted.
   */
  #hold(uuid: string, abort: AbortController): void {
    this.#held.set(uuid, abort);
    this.#renewTimer ??= setInterval(() => void this.#renewAll(), this.#renewEvery);
  }

  #letGo(uuid: string, abort: AbortController): void {
    if (this.#held.get(uuid) === abort) this.#held.delete(uuid);
    if (!this.#held.size && this.#renewTimer) {
      clearInterval(this.#renewTimer);
      this.#renewTimer = undefined;
    }
  }

  get #renewEvery(): number {
    return Math.max(200, Math.floor(this.#leaseMs / 3));
  }

  async #renewAll(): Promise<void> {
    if (this.#renewing || !this.#held.size) return; // the last round has not answered yet
    this.#renewing = true;
    const held = [...this.#held];
    const started = Date.now();
    try {
      const kept = new Set(await this.#leases.renewLeases(this.#owner, held.map(([uuid]) => uuid), new Date(started + this.#leaseMs)));
      for (const [uuid, abort] of held) if (!kept.has(uuid)) abort.abort(new LeaseLost());
    } catch (err) {
      // The database unavailable: the next round tries again (the lease may run out meanwhile).
      this.#log?.warn({ operations: held.length, reason: unavailableReason(err) }, 'could not renew the leases of running operations');
    } finally {
      this.#renewing = false;
      const took = Date.now() - started;
      if (took > this.#renewEvery) this.#log?.warn({ operations: held.length, ms: took }, 'renewing leases took longer than the renewal interval');
    }
  }

  /** Takes back what a failed task operation made (its handler's undo), within the given bound; a failure is logged. */
  async #undo(op: Operation, signal: AbortSignal, live?: Record<string, unknown>): Promise<void> {
    const undo = this.#tasks.get(op.kind)?.undo;
    if (!undo) return;
    const state = live ?? (op.params.state as Record<string, unknown> | undefined) ?? {};
    const aborted = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    await Promise.race([undo.call(this.#tasks.get(op.kind), op, state), aborted])
      .catch((err: unknown) => this.#log?.warn({ operation: op.uuid, err }, 'taking back what a failed operation made failed'));
  }

  async #finish(op: Operation, state: 'complete' | 'failed', error: string | null, f: Finish) {
    const ok = await this.#storage.finishOperation({ uuid: op.uuid, owner: this.#owner, state, error, ...f });
    if (!ok) throw new LeaseLost();
  }

  #ledger(clusterUuid: string): Ledger {
    const st = this.#storage;
    return {
      intend: (kind, name, details) => st.intendResource(clusterUuid, kind, name, details),
      present: (kind, name, externalId, details) => st.markResource(clusterUuid, kind, name, 'present', externalId, details),
      removed: (kind, name) => st.markResource(clusterUuid, kind, name, 'removed'),
      list: () => st.listResources(clusterUuid),
    };
  }

  /** A delete waits until an operation it superseded has stopped touching the cluster. */
  async #waitForSuperseded(op: Operation, signal: AbortSignal): Promise<void> {
    const until = Date.now() + this.#leaseMs + 1000;
    while (Date.now() < until && !signal.aborted) {
      const others = (await this.#storage.listOperations(op.cluster_id)).filter(
        (o) => o.uuid !== op.uuid && o.owner !== null && o.lease_expires_at !== null && o.lease_expires_at.getTime() > Date.now(),
      );
      if (!others.length) return;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  #event(op: Operation, step: string, outcome: EventOutcome, message: string | null) {
    return this.#events(op, [{ step, outcome, message }]);
  }

  #events(op: Operation, lines: EventLine[]) {
    return this.#storage.appendEvents(lines.map((l) => ({ cluster_id: op.cluster_id, operation_id: op.uuid, ...l })));
  }

  /**
   * Fail an operation whose deadline passed while nobody (alive) held it. Used by the sweep.
   */
  async expire(op: Operation): Promise<boolean> {
    const cluster = await this.#storage.getClusterByUuid(op.cluster_id);
    const reason = `${verb(op)} did not finish before its deadline (${op.deadline_at.toISOString()}); the conductor running it stopped at step "${op.step ?? 'start'}" and no conductor could finish it in time.`;
    if (!cluster) return this.#storage.finishOperation({ uuid: op.uuid, owner: null, state: 'failed', error: reason });
    const ngs = await this.#storage.listNodeGroupsOf([cluster.uuid]);
    let params: Record<string, unknown> | undefined;
    if (isTaskKind(op.kind)) {
      params = { ...op.params, error: { code: 'MessagingTimeout', status: 504, message: reason } };
      await this.#undo(op, AbortSignal.timeout(this.#leaseMs));
    }
    const ok = await this.#storage.finishOperation({ uuid: op.uuid, owner: null, state: 'failed', error: reason, ...failure(op, cluster, ngs, reason), params });
    if (ok) await this.#event(op, op.step ?? op.kind, 'failed', reason);
    return ok;
  }
}
